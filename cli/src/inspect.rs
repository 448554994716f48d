//! `sliceplane inspect`: counts, fill and fragmentation of existing
//! CiliumEndpointSlices, duplicates, wrong-namespace entries, empty slices,
//! and what adopting them would rewrite.
//!
//! Adoption is computed by feeding every event read (slices, and any
//! CiliumEndpoints, CiliumNodes, Namespaces) into an engine with source
//! ciliumendpoints, `initial_sync_done`, and flushing as if all time had
//! passed; the planned ops are counted. Without CiliumEndpoints in the input
//! every entry is stale, so adoption would empty and delete every slice.

use std::collections::{BTreeMap, BTreeSet};

use clap::Args as ClapArgs;
use serde_json::{Value, json};
use sliceplane::EventType;
use sliceplane::mirror::Mirror;
use sliceplane::model::{CiliumEndpointSlice, Object};

use crate::input;
use crate::run::{self, SourceArg};

#[derive(ClapArgs)]
pub struct Args {
    /// Files with CiliumEndpointSlices (List, watch stream, JSON lines); `-` for stdin.
    pub files: Vec<String>,
    /// Engine config for the adoption estimate (YAML or JSON).
    #[arg(long)]
    pub config: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn main(args: Args) -> anyhow::Result<u8> {
    let files = if args.files.is_empty() {
        vec!["-".to_string()]
    } else {
        args.files.clone()
    };
    let mut engine = run::engine(
        args.config.as_deref(),
        None,
        Some(SourceArg::Ciliumendpoints),
    )?;
    let mut slices: BTreeMap<String, CiliumEndpointSlice> = BTreeMap::new();
    // CiliumEndpoint name → namespaces holding it.
    let mut ceps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut rejected = 0;
    for f in &files {
        let items = input::read_all(f)?;
        for item in &items {
            if let Ok(ev) = &item.event {
                match &ev.object {
                    Object::CiliumEndpointSlice(s) => {
                        if ev.event_type == EventType::Deleted {
                            slices.remove(&s.metadata.name);
                        } else {
                            slices.insert(s.metadata.name.clone(), s.clone());
                        }
                    }
                    Object::CiliumEndpoint(c) => {
                        let ns = c.metadata.namespace.clone().unwrap_or_default();
                        let set = ceps.entry(c.metadata.name.clone()).or_default();
                        if ev.event_type == EventType::Deleted {
                            set.remove(&ns);
                        } else {
                            set.insert(ns);
                        }
                    }
                    _ => {}
                }
            }
        }
        rejected += run::apply_items(&mut engine, &items, 0);
    }
    let max = engine.config().slicing.max_endpoints_per_slice.max(1) as usize;
    // Per namespace: (slices, endpoints, min, max).
    let mut per_ns: BTreeMap<String, (usize, usize, usize, usize)> = BTreeMap::new();
    let mut holders: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut wrong_ns = Vec::new();
    let mut empty = Vec::new();
    let mut endpoints = 0;
    for s in slices.values() {
        let n = s.endpoints.len();
        endpoints += n;
        let e = per_ns
            .entry(s.namespace.clone())
            .or_insert((0, 0, usize::MAX, 0));
        e.0 += 1;
        e.1 += n;
        e.2 = e.2.min(n);
        e.3 = e.3.max(n);
        if n == 0 {
            empty.push(s.metadata.name.clone());
        }
        for ep in &s.endpoints {
            holders
                .entry((s.namespace.clone(), ep.name.to_string()))
                .or_default()
                .push(s.metadata.name.clone());
            if let Some(nss) = ceps.get(ep.name.as_str())
                && !nss.is_empty()
                && !nss.contains(&s.namespace)
            {
                {
                    wrong_ns.push(json!({"slice": s.metadata.name, "namespace": s.namespace, "endpoint": ep.name, "found_in": nss}));
                }
            }
        }
    }
    let duplicates: Vec<Value> = holders
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|((ns, name), v)| json!({"endpoint": format!("{ns}/{name}"), "slices": v}))
        .collect();
    let ideal: usize = per_ns.values().map(|e| e.1.div_ceil(max)).sum();
    // Adoption.
    engine.initial_sync_done(0);
    let mut ops: BTreeMap<String, u64> = BTreeMap::new();
    let mut mirror = Mirror::new();
    run::drain(&mut engine, &mut mirror, 0, &mut |w| {
        *ops.entry(format!("{} {}", w.op.verb().as_str(), w.op.kind().as_str()))
            .or_default() += 1;
    })?;
    let report = json!({
        "slices": slices.len(),
        "endpoints": endpoints,
        "ideal_slices": ideal,
        "fragmentation": if ideal == 0 { 0.0 } else { slices.len() as f64 / ideal as f64 },
        "namespaces": per_ns.iter().map(|(ns, e)| json!({
            "namespace": ns, "slices": e.0, "endpoints": e.1,
            "avg": if e.0 == 0 { 0.0 } else { e.1 as f64 / e.0 as f64 },
            "min": if e.0 == 0 { 0 } else { e.2 }, "max": e.3,
            "ideal": e.1.div_ceil(max),
        })).collect::<Vec<_>>(),
        "duplicates": duplicates,
        "wrong_namespace": wrong_ns,
        "empty_slices": empty,
        "adoption_ops": ops,
        "ciliumendpoints_given": !ceps.is_empty(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(if rejected > 0 { 1 } else { 0 })
}

fn text(r: &Value) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "slices: {}  endpoints: {}  ideal slices: {}  fragmentation: {:.3}\n\n",
        r["slices"],
        r["endpoints"],
        r["ideal_slices"],
        r["fragmentation"].as_f64().unwrap_or(0.0)
    ));
    o.push_str(&format!(
        "{:<32} {:>7} {:>9} {:>7} {:>5} {:>5} {:>6}\n",
        "namespace", "slices", "endpoints", "avg", "min", "max", "ideal"
    ));
    for ns in r["namespaces"].as_array().into_iter().flatten() {
        o.push_str(&format!(
            "{:<32} {:>7} {:>9} {:>7.1} {:>5} {:>5} {:>6}\n",
            ns["namespace"].as_str().unwrap_or(""),
            ns["slices"].as_u64().unwrap_or(0),
            ns["endpoints"].as_u64().unwrap_or(0),
            ns["avg"].as_f64().unwrap_or(0.0),
            ns["min"].as_u64().unwrap_or(0),
            ns["max"].as_u64().unwrap_or(0),
            ns["ideal"].as_u64().unwrap_or(0)
        ));
    }
    let dups = r["duplicates"].as_array().cloned().unwrap_or_default();
    o.push_str(&format!("\nduplicate endpoints: {}\n", dups.len()));
    for d in &dups {
        let slices: Vec<&str> = d["slices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        o.push_str(&format!(
            "  {} in {}\n",
            d["endpoint"].as_str().unwrap_or(""),
            slices.join(", ")
        ));
    }
    let wrong = r["wrong_namespace"].as_array().cloned().unwrap_or_default();
    o.push_str(&format!(
        "entries of the wrong namespace: {}\n",
        wrong.len()
    ));
    for w in &wrong {
        o.push_str(&format!(
            "  {} in slice {} (namespace {})\n",
            w["endpoint"].as_str().unwrap_or(""),
            w["slice"].as_str().unwrap_or(""),
            w["namespace"].as_str().unwrap_or("")
        ));
    }
    let empty = r["empty_slices"].as_array().cloned().unwrap_or_default();
    o.push_str(&format!("empty slices: {}\n", empty.len()));
    o.push_str("adoption would write:");
    let ops = r["adoption_ops"].as_object().cloned().unwrap_or_default();
    if ops.is_empty() {
        o.push_str(" nothing");
    }
    for (k, v) in &ops {
        o.push_str(&format!(" {k}={v}"));
    }
    o.push('\n');
    if r["ciliumendpoints_given"] == Value::Bool(false) {
        o.push_str("  (no CiliumEndpoints in the input: every entry counts as stale)\n");
    }
    o
}
