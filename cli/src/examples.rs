//! Hidden `gen-example`: regenerates `examples/cluster-watch.jsonl`
//! (deterministic): a 40-pod cluster on 4 nodes in 3 namespaces, its
//! initial events (pods source), then a rolling update and a label change.

use std::io::Write;

use clap::Args as ClapArgs;
use sliceplane_workload::{Cluster, Source, Trace, WorkloadSpec};

#[derive(ClapArgs)]
pub struct Args {
    /// Output file for the watch stream.
    #[arg(long, default_value = "examples/cluster-watch.jsonl")]
    pub out: String,
}

pub fn stream() -> anyhow::Result<String> {
    let mut spec = WorkloadSpec::custom(40, 4).map_err(|e| anyhow::anyhow!("{}", e.0))?;
    spec.namespaces = 3;
    spec.deployments = 6;
    let mut cluster = Cluster::generate(&spec).map_err(|e| anyhow::anyhow!("{}", e.0))?;
    let mut events = cluster.initial_events(Source::Pods);
    events.extend(cluster.churn(Trace::RollingUpdate, Source::Pods, 1));
    events.extend(cluster.churn(Trace::LabelChange, Source::Pods, 2));
    let mut out = String::new();
    for e in &events {
        let v = serde_json::json!({
            "type": e.event.event_type.as_str(),
            "object": e.event.object.to_json_value(),
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    Ok(out)
}

pub fn main(args: Args) -> anyhow::Result<u8> {
    let text = stream()?;
    std::fs::File::create(&args.out)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.out))?;
    Ok(0)
}
