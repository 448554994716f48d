//! `sliceplane simulate`: what would sliceplane do to my cluster, against
//! Cilium's controller? (DESIGN.md §11, §12)
//!
//! One run: load the cluster ([`workload`]), replay the same churn under
//! each configuration side by side ([`setups`], [`replay`], measuring
//! propagation delays with [`propagation`]), collect the figures
//! ([`results`]) and print them as text ([`text`]) or JSON ([`json`]),
//! with the plotted series ([`plot`]) for the HTML report
//! (`crate::report`).
//!
//! This file holds the command's arguments and the run from start to end.

mod json;
mod plot;
mod propagation;
mod replay;
mod results;
mod setups;
mod text;
mod workload;

use std::io::IsTerminal;
use std::time::Instant;

use clap::{Args as ClapArgs, ValueEnum};
use sliceplane::Config;
use sliceplane::config::Source;
use sliceplane_workload::Trace;

// What the HTML report (`crate::report`) draws on.
pub use plot::{PlotData, plot_data};
pub use results::{ConfigResult, Summary, percentile};
pub use text::{conclusions, config_rows, fmt_bytes, fmt_ms, group};

use json::summary_json;
use replay::run_config;
use setups::setups;
use text::summary_text;
use workload::{load_cluster, pacing_json_text, pacing_of, wsource};

/// PRD NFR1: slice updates within 100 ms of a pod change.
pub const NFR1_MS: u64 = 100;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SourceArg {
    Pods,
    Ciliumendpoints,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PacingArg {
    /// Rolling updates paced by maxSurge/maxUnavailable and readiness,
    /// drains by the eviction rate (as a cluster's controllers would).
    Realistic,
    /// Every event back to back at --flood-rate events/s: a stress trace.
    Flood,
}

#[derive(ClapArgs)]
pub struct Args {
    /// Named scale: S (5,000 pods / 500 nodes), M (100,000 / 2,000), L (1,000,000 / 20,000).
    #[arg(long, default_value = "S")]
    pub scale: String,
    /// Custom pod count (with --nodes).
    #[arg(long, requires = "nodes")]
    pub pods: Option<u32>,
    /// Custom node count (with --pods).
    #[arg(long, requires = "pods")]
    pub nodes: Option<u32>,
    /// Simulate on a real cluster's shape: a List from
    /// `kubectl get pods,namespaces,nodes -A -o json` (or of CiliumEndpoints).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["pods", "nodes"])]
    pub from: Option<String>,
    /// rolling-update, label-change, node-drain, scale-down-up or all.
    #[arg(long, default_value = "all")]
    pub trace: String,
    /// Where the engine reads endpoints from.
    #[arg(long, value_enum, default_value = "pods")]
    pub source: SourceArg,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Your engine config (YAML or JSON): replayed as a fourth configuration.
    #[arg(long)]
    pub config: Option<String>,
    /// How churn events are spread over time.
    #[arg(long, value_enum, default_value = "realistic")]
    pub pacing: PacingArg,
    /// Events per second of --pacing flood.
    #[arg(long, default_value_t = 1000)]
    pub flood_rate: u64,
    /// Deployments' maxSurge, percent of replicas.
    #[arg(long, default_value_t = 25)]
    pub max_surge: u32,
    /// Deployments' maxUnavailable, percent of replicas.
    #[arg(long, default_value_t = 25)]
    pub max_unavailable: u32,
    /// Milliseconds from a new pod running to ready.
    #[arg(long, default_value_t = 5000)]
    pub ready_ms: u64,
    /// Pod evictions per second while draining a node.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub eviction_rate: u32,
    /// Pods relabelled per second (label-change trace).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub relabel_rate: u32,
    /// Write a self-contained HTML report.
    #[arg(long)]
    pub report: Option<String>,
    /// Print every figure as JSON instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

pub fn main(args: Args) -> anyhow::Result<u8> {
    let summary = simulate(&args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary_json(&summary))?);
    } else {
        print!("{}", summary_text(&summary));
    }
    if let Some(path) = &args.report {
        std::fs::write(path, crate::report::html(&summary))
            .map_err(|e| anyhow::anyhow!("cannot write {path}: {e}"))?;
    }
    Ok(0)
}

pub fn simulate(args: &Args) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let traces: Vec<Trace> = if args.trace == "all" {
        Trace::ALL.to_vec()
    } else {
        vec![
            args.trace
                .parse::<Trace>()
                .map_err(|e| anyhow::anyhow!("{}", e.0))?,
        ]
    };
    let yours = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
            Some((
                path.clone(),
                Config::from_yaml(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))?,
            ))
        }
        None => None,
    };
    let (cluster, info) = load_cluster(args)?;
    let mut setups = setups(yours);
    for s in &mut setups {
        s.config.source = match args.source {
            SourceArg::Pods => Source::Pods,
            SourceArg::Ciliumendpoints => Source::Ciliumendpoints,
        };
        if let Some(seed) = args.seed {
            s.config.seed = seed;
        }
    }
    let progress = if std::io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new((setups.len() as u64) * (info.pods as u64));
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>28} [{bar:30}] {pos}/{len} events {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    let pacing = pacing_of(args);
    let max_per_slice = setups[0].config.slicing.max_endpoints_per_slice as usize;
    let mut base = Some(cluster);
    let mut results = Vec::new();
    let mut trace_list = Vec::new();
    let n = setups.len();
    for (i, setup) in setups.into_iter().enumerate() {
        let cluster = if i + 1 == n {
            base.take()
        } else {
            base.clone()
        }
        .ok_or_else(|| anyhow::anyhow!("no cluster"))?;
        let (res, list) = run_config(
            setup,
            cluster,
            &traces,
            wsource(args.source),
            pacing,
            info.seed,
            progress.as_ref(),
        )?;
        trace_list = list;
        results.push(res);
    }
    if let Some(pb) = &progress {
        pb.finish_and_clear();
    }
    let (pacing_json, pacing_text) = pacing_json_text(args);
    Ok(Summary {
        cluster: info,
        source: format!("{:?}", args.source).to_lowercase(),
        pacing_json,
        pacing_text,
        traces: trace_list,
        configs: results,
        peak_rss_kb: peak_rss_kb(),
        max_per_slice,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
