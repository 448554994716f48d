//! `sliceplane simulate`: generate a cluster and churn (DESIGN.md §12),
//! replay them through the engine and a [`Mirror`], and report the figures.
//!
//! Replay: the initial events are applied at the cluster clock,
//! `initial_sync_done`, and the initial build is settled through the Mirror
//! (cold build = apply + initial sync + first full plan, wall clock). Each
//! churn trace is then replayed on its timestamps: before each event,
//! `flush(t)` runs at every `next_due()` and at least every 100 ms of
//! simulated time up to the event's `at_ms`; plans go to the Mirror, which
//! reports success. After the last event, time runs on until nothing is due.
//!
//! **Propagation delay** (simulated ms): each endpoint event waits in its
//! namespace's queue; when a flush at time `t` plans a slice write for that
//! namespace, every waiting event of the namespace gets the delay
//! `t - at_ms` and leaves the queue. (Upper bound on a per-slice measure;
//! events whose change needed no write are dropped at the end of the trace.)
//!
//! **Engine figures** (wall clock, this process): every trace event's
//! `apply` is timed; after every flush that planned writes the engine
//! publishes a snapshot, as an operator serving readers would, and the
//! publish is timed; at the end every endpoint IP is looked up on the final
//! snapshot (IP → identity). Apply and publish durations also go into the
//! engine's own metrics (`observe_apply_seconds`, `observe_publish_seconds`).

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::time::Instant;

use clap::Args as ClapArgs;
use serde_json::{Value, json};
use sliceplane::mirror::Mirror;
use sliceplane::model::Object;
use sliceplane::plan::Verb;
use sliceplane::{Engine, WriteOp, WritePlan};
use sliceplane_workload::{Cluster, Scale, Source as WSource, TimedEvent, Trace, WorkloadSpec};

use crate::run::{self, SourceArg};

#[derive(ClapArgs)]
pub struct Args {
    /// Named scale: S (5,000 pods / 500 nodes), M, L.
    #[arg(long, default_value = "S")]
    pub scale: String,
    /// Custom pod count (with --nodes).
    #[arg(long, requires = "nodes")]
    pub pods: Option<u32>,
    /// Custom node count (with --pods).
    #[arg(long, requires = "pods")]
    pub nodes: Option<u32>,
    /// rolling-update, label-change, node-drain, scale-down-up or all.
    #[arg(long, default_value = "all")]
    pub trace: String,
    #[arg(long, value_enum, default_value = "pods")]
    pub source: SourceArg,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Engine config (YAML or JSON).
    #[arg(long)]
    pub config: Option<String>,
    /// Write a self-contained HTML report.
    #[arg(long)]
    pub report: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Writes counted by (verb, kind).
#[derive(Default, Clone)]
pub struct WriteCounts {
    pub by: BTreeMap<String, u64>,
    pub bytes: u64,
    pub total: u64,
}

impl WriteCounts {
    fn add(&mut self, op: &WriteOp) {
        let kind = match op {
            WriteOp::CreateSlice(_) | WriteOp::UpdateSlice(_) | WriteOp::DeleteSlice { .. } => {
                "slice"
            }
            _ => "identity",
        };
        *self
            .by
            .entry(format!("{} {kind}", op.verb().as_str()))
            .or_default() += 1;
        self.bytes += op.body_len() as u64;
        self.total += 1;
    }
    fn json(&self) -> Value {
        json!({"total": self.total, "bytes": self.bytes, "by": self.by})
    }
}

pub struct TraceResult {
    pub name: String,
    pub events: u64,
    pub wall_s: f64,
    pub writes: WriteCounts,
    pub slices: usize,
    pub ideal: usize,
    pub delays: Vec<u64>,
}

pub struct Summary {
    pub pods: u32,
    pub nodes: u32,
    pub source: String,
    pub cold_build_ms: f64,
    pub initial_events: u64,
    pub initial_writes: WriteCounts,
    pub traces: Vec<TraceResult>,
    pub slices: usize,
    pub ideal: usize,
    pub delays: Vec<u64>,
    pub peak_rss_kb: Option<u64>,
    /// Endpoints per final slice.
    pub fill: Vec<usize>,
    pub max_per_slice: usize,
    /// (simulated ms since start of churn, writes) per flush.
    pub writes_over_time: Vec<(u64, u64)>,
    /// Sorted nanoseconds per trace event's apply.
    pub apply_ns: Vec<u64>,
    /// Sorted nanoseconds per snapshot publish.
    pub publish_ns: Vec<u64>,
    /// Mean nanoseconds per IP -> identity lookup on the final snapshot.
    pub ip_lookup_ns: f64,
    pub ip_lookups: usize,
}

pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// (slices, ideal = sum over namespaces of ceil(endpoints / max), fill).
fn slices_vs_ideal(engine: &Engine) -> (usize, usize, Vec<usize>) {
    let max = engine.config().slicing.max_endpoints_per_slice.max(1) as usize;
    let mut per_ns: HashMap<String, usize> = HashMap::new();
    let slices = engine.desired_slices();
    let mut fill = Vec::with_capacity(slices.len());
    for s in &slices {
        *per_ns.entry(s.namespace.clone()).or_default() += s.endpoints.len();
        fill.push(s.endpoints.len());
    }
    let ideal = per_ns.values().map(|&n| n.div_ceil(max)).sum();
    (slices.len(), ideal, fill)
}

struct Replay {
    engine: Engine,
    mirror: Mirror,
    last_flush: u64,
    /// Namespace → at_ms of endpoint events waiting for a write.
    waiting: HashMap<String, Vec<u64>>,
    slice_ns: HashMap<String, String>,
    writes_over_time: Vec<(u64, u64)>,
    t0: u64,
    /// Nanoseconds per trace event's `apply`.
    apply_ns: Vec<u64>,
    /// Nanoseconds per snapshot publish.
    publish_ns: Vec<u64>,
}

impl Replay {
    fn flush(&mut self, now: u64, counts: &mut WriteCounts, delays: &mut Vec<u64>) {
        let plan: WritePlan = self.engine.flush(now);
        self.last_flush = now;
        if plan.is_empty() {
            return;
        }
        for w in &plan.writes {
            counts.add(&w.op);
            let ns = match &w.op {
                WriteOp::CreateSlice(s) | WriteOp::UpdateSlice(s) => {
                    self.slice_ns
                        .insert(s.metadata.name.clone(), s.namespace.clone());
                    Some(s.namespace.clone())
                }
                WriteOp::DeleteSlice { name, .. } => self.slice_ns.remove(name),
                _ => None,
            };
            if let Some(ns) = ns
                && let Some(q) = self.waiting.remove(&ns)
            {
                delays.extend(q.into_iter().map(|at| now.saturating_sub(at)));
            }
        }
        self.writes_over_time
            .push((now.saturating_sub(self.t0), plan.len() as u64));
        // The Mirror accepts every write (reports cannot fail for its outcomes).
        let _ = self.mirror.apply_plan(&mut self.engine, &plan, now);
        let start = Instant::now();
        let _ = self.engine.publish();
        let took = start.elapsed();
        self.publish_ns.push(took.as_nanos() as u64);
        let _ = self.engine.observe_publish_seconds(took.as_secs_f64());
    }

    /// Flushes at every due time and every 100 ms up to `target`.
    fn advance(&mut self, target: u64, counts: &mut WriteCounts, delays: &mut Vec<u64>) {
        loop {
            let tick = self.last_flush + 100;
            let next = self
                .engine
                .next_due()
                .map_or(tick, |d| d.min(tick))
                .max(self.last_flush + 1);
            if next > target {
                break;
            }
            self.flush(next, counts, delays);
        }
    }

    fn apply(&mut self, ev: &TimedEvent) {
        let ns = match &ev.event.object {
            Object::Pod(p) => p.metadata.namespace.clone(),
            Object::CiliumEndpoint(c) => c.metadata.namespace.clone(),
            _ => None,
        };
        if let Some(ns) = ns {
            self.waiting.entry(ns).or_default().push(ev.at_ms);
        }
        let start = Instant::now();
        let _ = self.engine.apply(&ev.event, ev.at_ms);
        let took = start.elapsed();
        self.apply_ns.push(took.as_nanos() as u64);
        let _ = self.engine.observe_apply_seconds(took.as_secs_f64());
    }
}

pub fn main(args: Args) -> anyhow::Result<u8> {
    let summary = simulate(&args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary_json(&summary))?);
    } else {
        print!("{}", summary_table(&summary));
    }
    if let Some(path) = &args.report {
        std::fs::write(path, crate::report::html(&summary))
            .map_err(|e| anyhow::anyhow!("cannot write {path}: {e}"))?;
    }
    Ok(0)
}

pub fn simulate(args: &Args) -> anyhow::Result<Summary> {
    let mut spec = match (args.pods, args.nodes) {
        (Some(p), Some(n)) => WorkloadSpec::custom(p, n).map_err(|e| anyhow::anyhow!("{}", e.0))?,
        _ => WorkloadSpec::scale(
            args.scale
                .parse::<Scale>()
                .map_err(|e| anyhow::anyhow!("{}", e.0))?,
        ),
    };
    if let Some(seed) = args.seed {
        spec = spec.with_seed(seed);
    }
    let traces: Vec<Trace> = if args.trace == "all" {
        Trace::ALL.to_vec()
    } else {
        vec![
            args.trace
                .parse::<Trace>()
                .map_err(|e| anyhow::anyhow!("{}", e.0))?,
        ]
    };
    let wsource = match args.source {
        SourceArg::Pods => WSource::Pods,
        SourceArg::Ciliumendpoints => WSource::CiliumEndpoints,
    };
    let engine = run::engine(args.config.as_deref(), args.seed, Some(args.source))?;
    let mut cluster = Cluster::generate(&spec).map_err(|e| anyhow::anyhow!("{}", e.0))?;
    let progress = if std::io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new(spec.pods as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{msg:>16} [{bar:40}] {pos}/{len} events")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    // Cold build.
    let start_ms = cluster.now_ms();
    let mut r = Replay {
        engine,
        mirror: Mirror::new(),
        last_flush: start_ms,
        waiting: HashMap::new(),
        slice_ns: HashMap::new(),
        writes_over_time: Vec::new(),
        t0: start_ms,
        apply_ns: Vec::new(),
        publish_ns: Vec::new(),
    };
    if let Some(pb) = &progress {
        pb.set_message("initial build");
    }
    let mut initial_events = 0u64;
    let cold = Instant::now();
    for ev in cluster.initial_events_iter(wsource) {
        let _ = r.engine.apply(&ev.event, ev.at_ms);
        initial_events += 1;
    }
    r.engine.initial_sync_done(start_ms);
    let t = start_ms + r.engine.config().write.sync_delay_ms;
    let first = r.engine.flush(t);
    let cold_build_ms = cold.elapsed().as_secs_f64() * 1e3;
    let mut initial_writes = WriteCounts::default();
    for w in &first.writes {
        initial_writes.add(&w.op);
    }
    let _ = r.mirror.apply_plan(&mut r.engine, &first, t);
    let mut tail = WriteCounts::default();
    run::drain(&mut r.engine, &mut r.mirror, t, &mut |w| tail.add(&w.op))?;
    for (k, v) in tail.by {
        *initial_writes.by.entry(k).or_default() += v;
    }
    initial_writes.bytes += tail.bytes;
    initial_writes.total += tail.total;
    if let Some(pb) = &progress {
        pb.inc(spec.pods as u64);
    }
    r.last_flush = r.last_flush.max(t);
    r.t0 = r.last_flush;

    let mut results = Vec::new();
    for (i, trace) in traces.iter().enumerate() {
        if let Some(pb) = &progress {
            pb.set_message(trace.as_str());
        }
        let events = cluster.churn(*trace, wsource, spec.seed.wrapping_add(i as u64 + 1));
        if let Some(pb) = &progress {
            pb.inc_length(events.len() as u64);
        }
        let mut counts = WriteCounts::default();
        let mut delays = Vec::new();
        r.waiting.clear();
        let wall = Instant::now();
        for ev in &events {
            r.advance(ev.at_ms, &mut counts, &mut delays);
            r.apply(ev);
            if let Some(pb) = &progress {
                pb.inc(1);
            }
        }
        // Past the last event: until nothing is due.
        let mut guard = 0;
        while let Some(due) = r.engine.next_due() {
            let next = due.max(r.last_flush + 1);
            r.flush(next, &mut counts, &mut delays);
            guard += 1;
            if guard > 10_000 {
                break;
            }
            if r.engine.stats().dirty_slices == 0 {
                break;
            }
        }
        let wall_s = wall.elapsed().as_secs_f64();
        r.waiting.clear();
        let (slices, ideal, _) = slices_vs_ideal(&r.engine);
        delays.sort_unstable();
        results.push(TraceResult {
            name: trace.as_str().to_string(),
            events: events.len() as u64,
            wall_s,
            writes: counts,
            slices,
            ideal,
            delays,
        });
    }
    if let Some(pb) = &progress {
        pb.finish_and_clear();
    }
    let (slices, ideal, fill) = slices_vs_ideal(&r.engine);
    let mut delays: Vec<u64> = results.iter().flat_map(|t| t.delays.clone()).collect();
    delays.sort_unstable();
    // IP -> identity on the final snapshot: every endpoint IP, twice.
    let snap = r.engine.publish();
    let ips: Vec<std::net::IpAddr> = snap.ip_cache().map(|(ip, _)| *ip).collect();
    let lookups = ips.len() * 2;
    let start = Instant::now();
    let mut found = 0usize;
    for ip in ips.iter().chain(ips.iter()) {
        found += usize::from(std::hint::black_box(snap.identity_of_ip(ip)).is_some());
    }
    let ip_lookup_ns = if lookups == 0 {
        0.0
    } else {
        start.elapsed().as_nanos() as f64 / lookups as f64
    };
    anyhow::ensure!(
        found == lookups,
        "IP cache lookups missed: {found} of {lookups}"
    );
    let mut apply_ns = std::mem::take(&mut r.apply_ns);
    apply_ns.sort_unstable();
    let mut publish_ns = std::mem::take(&mut r.publish_ns);
    publish_ns.sort_unstable();
    Ok(Summary {
        pods: spec.pods,
        nodes: spec.nodes,
        source: format!("{:?}", args.source).to_lowercase(),
        cold_build_ms,
        initial_events,
        initial_writes,
        traces: results,
        slices,
        ideal,
        delays,
        peak_rss_kb: peak_rss_kb(),
        fill,
        max_per_slice: r.engine.config().slicing.max_endpoints_per_slice as usize,
        writes_over_time: r.writes_over_time,
        apply_ns,
        publish_ns,
        ip_lookup_ns,
        ip_lookups: lookups,
    })
}

fn verb_cols() -> Vec<String> {
    let mut v = Vec::new();
    for verb in [Verb::Create, Verb::Update, Verb::Delete] {
        for kind in ["slice", "identity"] {
            v.push(format!("{} {kind}", verb.as_str()));
        }
    }
    v
}

/// Rows of the summary table: header then one row per phase.
pub fn table_rows(s: &Summary) -> Vec<Vec<String>> {
    let cols = verb_cols();
    let mut header: Vec<String> = ["phase", "events", "events/s"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(cols.iter().cloned());
    header.extend(
        [
            "bytes", "slices", "ideal", "p50 ms", "p90 ms", "p99 ms", "max ms",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let mut rows = vec![header];
    let row = |name: &str,
               events: u64,
               eps: String,
               w: &WriteCounts,
               slices: usize,
               ideal: usize,
               d: &[u64]| {
        let mut r = vec![name.to_string(), events.to_string(), eps];
        for c in &cols {
            r.push(w.by.get(c).copied().unwrap_or(0).to_string());
        }
        r.push(w.bytes.to_string());
        r.push(slices.to_string());
        r.push(ideal.to_string());
        for p in [50.0, 90.0, 99.0, 100.0] {
            r.push(if d.is_empty() {
                "-".into()
            } else {
                percentile(d, p).to_string()
            });
        }
        r
    };
    rows.push(row(
        "initial build",
        s.initial_events,
        format!(
            "{:.0}",
            s.initial_events as f64 / (s.cold_build_ms / 1e3).max(1e-9)
        ),
        &s.initial_writes,
        0,
        0,
        &[],
    ));
    for t in &s.traces {
        rows.push(row(
            &t.name,
            t.events,
            format!("{:.0}", t.events as f64 / t.wall_s.max(1e-9)),
            &t.writes,
            t.slices,
            t.ideal,
            &t.delays,
        ));
    }
    rows
}

pub fn summary_table(s: &Summary) -> String {
    let rows = table_rows(s);
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "sliceplane simulate: {} pods, {} nodes, source {}\n\n",
        s.pods, s.nodes, s.source
    );
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&format!("cold build:        {:.1} ms\n", s.cold_build_ms));
    out.push_str(&format!(
        "slices vs ideal:   {} / {} ({:.3}x)\n",
        s.slices,
        s.ideal,
        s.slices as f64 / s.ideal.max(1) as f64
    ));
    out.push_str(&format!(
        "delay (sim ms):    p50 {}  p90 {}  p99 {}  max {}  (n={})\n",
        percentile(&s.delays, 50.0),
        percentile(&s.delays, 90.0),
        percentile(&s.delays, 99.0),
        percentile(&s.delays, 100.0),
        s.delays.len()
    ));
    out.push_str(&format!(
        "apply (wall):      p50 {:.1} us  p99 {:.1} us  max {:.1} us  (n={})\n",
        percentile(&s.apply_ns, 50.0) as f64 / 1e3,
        percentile(&s.apply_ns, 99.0) as f64 / 1e3,
        percentile(&s.apply_ns, 100.0) as f64 / 1e3,
        s.apply_ns.len()
    ));
    out.push_str(&format!(
        "snapshot publish:  p50 {:.1} us  p99 {:.1} us  max {:.1} us  (n={}, after each flush with writes)\n",
        percentile(&s.publish_ns, 50.0) as f64 / 1e3,
        percentile(&s.publish_ns, 99.0) as f64 / 1e3,
        percentile(&s.publish_ns, 100.0) as f64 / 1e3,
        s.publish_ns.len()
    ));
    out.push_str(&format!(
        "IP -> identity:    {:.0} ns per lookup  ({} lookups on the final snapshot)\n",
        s.ip_lookup_ns, s.ip_lookups
    ));
    out.push_str(&format!(
        "peak memory:       {}\n",
        s.peak_rss_kb.map_or("unknown".to_string(), |k| format!(
            "{:.1} MiB (VmHWM)",
            k as f64 / 1024.0
        ))
    ));
    out
}

pub fn summary_json(s: &Summary) -> Value {
    let d = |v: &[u64]| json!({"p50": percentile(v, 50.0), "p90": percentile(v, 90.0), "p99": percentile(v, 99.0), "max": percentile(v, 100.0), "count": v.len()});
    json!({
        "pods": s.pods,
        "nodes": s.nodes,
        "source": s.source,
        "cold_build_ms": s.cold_build_ms,
        "initial": {"events": s.initial_events, "writes": s.initial_writes.json()},
        "traces": s.traces.iter().map(|t| json!({
            "trace": t.name,
            "events": t.events,
            "events_per_sec": t.events as f64 / t.wall_s.max(1e-9),
            "writes": t.writes.json(),
            "slices": t.slices,
            "ideal_slices": t.ideal,
            "delay_ms": d(&t.delays),
        })).collect::<Vec<_>>(),
        "slices": s.slices,
        "ideal_slices": s.ideal,
        "delay_ms": d(&s.delays),
        "peak_rss_kb": s.peak_rss_kb,
        "apply_ns": d(&s.apply_ns),
        "publish_ns": d(&s.publish_ns),
        "ip_lookup_ns": s.ip_lookup_ns,
        "ip_lookups": s.ip_lookups,
    })
}
