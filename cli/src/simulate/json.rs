//! `simulate --json`: every figure of the text and the report.

use serde_json::{Value, json};

use super::NFR1_MS;
use super::plot::plot_data;
use super::results::{ConfigResult, PhaseResult, Summary, WriteCounts, percentile};
use super::setups::active_step;
use super::text::conclusions;

fn writes_json(w: &WriteCounts) -> Value {
    json!({"total": w.total, "slice_writes": w.slice_writes(), "bytes": w.bytes, "by": w.by})
}

fn dist(v: &[u64]) -> Value {
    json!({"p50": percentile(v, 50.0), "p90": percentile(v, 90.0), "p99": percentile(v, 99.0),
           "max": percentile(v, 100.0), "count": v.len()})
}

fn phase_json(p: &PhaseResult) -> Value {
    json!({
        "phase": p.name,
        "events": p.events,
        "events_per_sec": p.events as f64 / p.wall_s.max(1e-9),
        "writes": writes_json(&p.writes),
        "slices": p.slices,
        "ideal_slices": p.ideal,
        "delay_ms": dist(&p.delays),
        "within_nfr1": if p.delays.is_empty() { 1.0 } else {
            p.delays.partition_point(|&d| d <= NFR1_MS) as f64 / p.delays.len() as f64 },
        "unwritten_events": p.unwritten,
        "span_ms": p.span_ms,
    })
}

fn engine_json(c: &ConfigResult) -> Value {
    json!({
        "cold_build_ms": c.cold_build_ms,
        "apply_ns": dist(&c.apply_ns),
        "publish_ns": dist(&c.publish_ns),
        "ip_lookup_ns": c.ip_lookup_ns,
        "ip_lookups": c.ip_lookups,
    })
}

/// Every figure of the text and the report.
pub fn summary_json(s: &Summary) -> Value {
    let pd = plot_data(s);
    let c = &s.cluster;
    let configs: Vec<Value> = s
        .configs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (limit, burst) = active_step(&r.setup.config, c.nodes);
            json!({
                "key": r.setup.key,
                "label": r.setup.label,
                "description": r.setup.description,
                "config": serde_json::from_str::<Value>(&r.setup.config.to_json()).unwrap_or(Value::Null),
                "active_rate_limit": {"limit": limit, "burst": burst},
                "writes": writes_json(&r.churn_writes),
                "slices": r.slices,
                "ideal_slices": r.ideal,
                "delay_ms": dist(&r.delays),
                "within_nfr1": r.within_nfr1(),
                "nfr1_holds": r.nfr1_holds(),
                "unwritten_events": r.unwritten(),
                "phases": r.phases.iter().map(phase_json).collect::<Vec<_>>(),
                "engine": engine_json(r),
                "plots": {
                    "fill_before": pd.fill[i].0,
                    "fill_after": pd.fill[i].1,
                    "writes_over_time": pd.writes[i],
                    "delay_cdf": pd.cdf[i].iter().map(|&(d, q)| json!([d, q])).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    let h = s.headline();
    json!({
        "cluster": {
            "origin": c.origin,
            "pods": c.pods,
            "nodes": c.nodes,
            "namespaces": c.namespaces,
            "controllers": c.controllers,
            "label_sets": c.label_sets,
            "seed": c.seed,
            "import": c.import.as_ref().map(|i| json!({
                "endpoints_from": i.endpoints_from,
                "pods": i.pods,
                "skipped_pods": i.skipped_pods,
                "namespaces": i.namespaces,
                "nodes": i.nodes,
                "controllers": i.controllers,
                "other_objects": i.other_objects,
            })),
        },
        "pods": c.pods,
        "nodes": c.nodes,
        "source": s.source,
        "pacing": s.pacing_json,
        "traces": s.traces.iter().map(|(t, n)| json!({"trace": t, "events": n})).collect::<Vec<_>>(),
        "nfr1_ms": NFR1_MS,
        "conclusions": conclusions(s),
        "configurations": configs,
        "plots": {"fill_bucket_endpoints": pd.fill_bucket, "writes_bucket_ms": pd.writes_bucket_ms},
        // The headline (recommended) configuration's figures.
        "headline": h.setup.key,
        "slices": h.slices,
        "ideal_slices": h.ideal,
        "delay_ms": dist(&h.delays),
        "cold_build_ms": h.cold_build_ms,
        "apply_ns": dist(&h.apply_ns),
        "publish_ns": dist(&h.publish_ns),
        "ip_lookup_ns": h.ip_lookup_ns,
        "ip_lookups": h.ip_lookups,
        "peak_rss_kb": s.peak_rss_kb,
        "wall_s": s.wall_s,
    })
}
