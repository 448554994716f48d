//! **The cluster**: generated (`--scale`, or `--pods`/`--nodes`) by the
//! shared workload generator, or a real cluster's shape (`--from` a List of
//! `kubectl get pods,namespaces,nodes -A -o json`, or of CiliumEndpoints);
//! and how its churn is paced (`--pacing` and its flags), as the workload
//! generator takes it and as the summary describes it.

use serde_json::{Value, json};
use sliceplane::model::Object;
use sliceplane_workload::{
    ChurnRate, Cluster, Pacing, RealisticPacing, Scale, Source as WSource, WorkloadSpec,
};

use super::results::ClusterInfo;
use super::text::{fmt_ms, group};
use super::{Args, PacingArg, SourceArg};

pub(super) fn wsource(s: SourceArg) -> WSource {
    match s {
        SourceArg::Pods => WSource::Pods,
        SourceArg::Ciliumendpoints => WSource::CiliumEndpoints,
    }
}

pub(super) fn pacing_of(args: &Args) -> Pacing {
    match args.pacing {
        PacingArg::Flood => Pacing::Flood(ChurnRate {
            events_per_sec: args.flood_rate,
        }),
        PacingArg::Realistic => Pacing::Realistic(RealisticPacing {
            max_surge_percent: args.max_surge,
            max_unavailable_percent: args.max_unavailable,
            ready_ms: args.ready_ms,
            evictions_per_sec: args.eviction_rate,
            relabels_per_sec: args.relabel_rate,
            ..RealisticPacing::default()
        }),
    }
}

/// Reads `--from`: a List (or a single object, or a stream of them) as
/// `kubectl get ... -o json` prints it.
pub(super) fn read_objects(path: &str) -> anyhow::Result<(Vec<Object>, usize)> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
    let mut objects = Vec::new();
    let mut refused = 0usize;
    let mut push = |v: &Value, objects: &mut Vec<Object>| match serde_json::to_vec(v)
        .ok()
        .and_then(|b| Object::from_json(&b).ok())
    {
        Some(o) => objects.push(o),
        None => refused += 1,
    };
    for doc in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
        let doc = doc.map_err(|e| anyhow::anyhow!("{path}: not JSON: {e}"))?;
        match doc.get("items").and_then(Value::as_array) {
            Some(items) => items.iter().for_each(|i| push(i, &mut objects)),
            None => push(&doc, &mut objects),
        }
    }
    Ok((objects, refused))
}

pub(super) fn load_cluster(args: &Args) -> anyhow::Result<(Cluster, ClusterInfo)> {
    let seed = args.seed.unwrap_or(WorkloadSpec::DEFAULT_SEED);
    if let Some(path) = &args.from {
        let (objects, refused) = read_objects(path)?;
        let (cluster, mut import) =
            Cluster::from_objects(objects, seed).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        import.other_objects += refused;
        let spec = cluster.spec().clone();
        let info = ClusterInfo {
            origin: format!("--from {path}"),
            pods: spec.pods,
            nodes: spec.nodes,
            namespaces: spec.namespaces,
            controllers: spec.deployments,
            label_sets: cluster.identities().len(),
            seed,
            import: Some(import),
        };
        return Ok((cluster, info));
    }
    let spec = match (args.pods, args.nodes) {
        (Some(p), Some(n)) => WorkloadSpec::custom(p, n).map_err(|e| anyhow::anyhow!("{}", e.0))?,
        _ => WorkloadSpec::scale(
            args.scale
                .parse::<Scale>()
                .map_err(|e| anyhow::anyhow!("{}", e.0))?,
        ),
    }
    .with_seed(seed);
    let cluster = Cluster::generate(&spec).map_err(|e| anyhow::anyhow!("{}", e.0))?;
    let origin = match (args.pods, args.nodes) {
        (Some(_), Some(_)) => "generated".to_string(),
        _ => format!("generated, scale {}", args.scale.to_uppercase()),
    };
    let info = ClusterInfo {
        origin,
        pods: spec.pods,
        nodes: spec.nodes,
        namespaces: spec.namespaces,
        controllers: spec.deployments,
        label_sets: cluster.identities().len(),
        seed,
        import: None,
    };
    Ok((cluster, info))
}

pub(super) fn pacing_json_text(args: &Args) -> (Value, String) {
    match args.pacing {
        PacingArg::Flood => (
            json!({"kind": "flood", "events_per_sec": args.flood_rate}),
            format!(
                "flood pacing (stress trace): every event back to back, {} events/s",
                group(args.flood_rate)
            ),
        ),
        PacingArg::Realistic => {
            let p = RealisticPacing::default();
            (
                json!({
                    "kind": "realistic",
                    "max_surge_percent": args.max_surge,
                    "max_unavailable_percent": args.max_unavailable,
                    "ready_ms": args.ready_ms,
                    "start_jitter_ms": p.start_jitter_ms,
                    "evictions_per_sec": args.eviction_rate,
                    "relabels_per_sec": args.relabel_rate,
                    "scale_up_after_ms": p.scale_up_after_ms,
                }),
                format!(
                    "realistic pacing: maxSurge {}%, maxUnavailable {}%, ready {}, \
                     {} evictions/s, {} relabels/s",
                    args.max_surge,
                    args.max_unavailable,
                    fmt_ms(args.ready_ms),
                    args.eviction_rate,
                    args.relabel_rate
                ),
            )
        }
    }
}
