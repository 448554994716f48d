//! Snapshot properties over random event sequences:
//! - incremental publishes equal a from-scratch rebuild after every step;
//! - the engine's own write plan, replayed onto a Mirror and fed to a
//!   Consumer as CiliumEndpointSlice watch events, reproduces the engine's
//!   endpoint view and IP cache (less the entries of endpoints without a
//!   node IP, as in the agent) after each settle.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use common::*;
use proptest::prelude::*;
use sliceplane::config::{SliceMode, Source};
use sliceplane::consumer::Consumer;
use sliceplane::mirror::Mirror;
use sliceplane::model::*;
use sliceplane::snapshot::Snapshot;
use sliceplane::{Engine, WatchEvent, WriteOp};

#[derive(Debug, Clone)]
enum Op {
    Upsert { pod: u32, app: u8, node: u8, id: u8 },
    Delete { pod: u32 },
    NsLabel { ns: u8, v: u8 },
    Node { node: u8, ip: u8, key: u8 },
    Settle,
}

fn op_g() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..40, 0u8..3, 0u8..3, 0u8..4).prop_map(|(pod, app, node, id)| Op::Upsert { pod, app, node, id }),
        3 => (0u32..40).prop_map(|pod| Op::Delete { pod }),
        1 => (0u8..3, 0u8..2).prop_map(|(ns, v)| Op::NsLabel { ns, v }),
        1 => (0u8..3, 0u8..3, 0u8..2).prop_map(|(node, ip, key)| Op::Node { node, ip, key }),
        2 => Just(Op::Settle),
    ]
}

fn ns_of(pod: u32) -> String {
    format!("ns{}", pod % 3)
}

fn event(op: &Op, source: Source) -> Option<WatchEvent> {
    Some(match *op {
        Op::Upsert {
            pod: p,
            app,
            node,
            id,
        } => {
            let (ns, name) = (ns_of(p), format!("p{p}"));
            match source {
                Source::Pods => add(Object::Pod(pod(
                    &ns,
                    &name,
                    &format!("app{app}"),
                    &format!("node{node}"),
                    &ip(p),
                ))),
                Source::Ciliumendpoints => {
                    let mut c = cep(&ns, &name, 1000 + i64::from(id), &ip(p));
                    if let Some(n) = c.status.networking.as_mut() {
                        n.node = Some(format!("192.168.0.{node}").into());
                    }
                    add(Object::CiliumEndpoint(c))
                }
            }
        }
        Op::Delete { pod: p } => {
            let (ns, name) = (ns_of(p), format!("p{p}"));
            match source {
                Source::Pods => delete(Object::Pod(pod(&ns, &name, "x", "node0", &ip(p)))),
                Source::Ciliumendpoints => {
                    delete(Object::CiliumEndpoint(cep(&ns, &name, 1000, &ip(p))))
                }
            }
        }
        Op::NsLabel { ns, v } => modify(Object::Namespace(namespace(
            &format!("ns{ns}"),
            &[("team", &format!("t{v}"))],
        ))),
        Op::Node { node, ip, key } => modify(Object::CiliumNode(cilium_node(
            &format!("node{node}"),
            &format!("192.168.1.{ip}"),
            i64::from(key),
        ))),
        Op::Settle => return None,
    })
}

/// Flush until quiet; every successful slice write goes to the consumer
/// as the watch event the agent would see.
fn settle(e: &mut Engine, m: &mut Mirror, c: &mut Consumer, now: u64) {
    for _ in 0..20 {
        let plan = e.flush(now);
        if plan.is_empty() {
            return;
        }
        for w in &plan.writes {
            let before = match &w.op {
                WriteOp::DeleteSlice { name, .. } => m.slices.get(name).cloned(),
                _ => None,
            };
            let out = m.apply(&w.op);
            e.report(w.id, &out, now).expect("known op");
            if !out.is_success() {
                continue;
            }
            let ev = match &w.op {
                WriteOp::CreateSlice(s) => Some(WatchEvent::added(Object::CiliumEndpointSlice(
                    m.slices[&s.metadata.name].clone(),
                ))),
                WriteOp::UpdateSlice(s) => Some(WatchEvent::modified(Object::CiliumEndpointSlice(
                    m.slices[&s.metadata.name].clone(),
                ))),
                WriteOp::DeleteSlice { .. } => {
                    before.map(|b| WatchEvent::deleted(Object::CiliumEndpointSlice(b)))
                }
                _ => None,
            };
            if let Some(ev) = ev {
                c.apply(&ev).expect("the engine writes valid slices");
            }
        }
    }
    panic!("did not settle");
}

type EpRow = (String, u32, Vec<IpAddr>, Option<IpAddr>, u8);

fn endpoints(s: &Snapshot) -> BTreeMap<(String, String), EpRow> {
    s.endpoints()
        .map(|v| {
            (
                (v.namespace.to_string(), v.name.to_string()),
                (
                    v.slice.to_string(),
                    v.identity,
                    v.ips().collect(),
                    v.node_ip(),
                    v.encryption_key(),
                ),
            )
        })
        .collect()
}

fn ip_cache(s: &Snapshot) -> BTreeMap<IpAddr, (String, String, u32, Option<IpAddr>, u8)> {
    s.ip_cache()
        .map(|(ip, v)| {
            (
                *ip,
                (
                    v.namespace.to_string(),
                    v.name.to_string(),
                    v.identity,
                    v.node_ip(),
                    v.encryption_key(),
                ),
            )
        })
        .collect()
}

fn slices(s: &Snapshot) -> BTreeMap<String, (String, Vec<String>)> {
    s.slices()
        .map(|v| {
            (
                v.name.to_string(),
                (
                    v.namespace.to_string(),
                    v.endpoints.iter().map(|n| n.to_string()).collect(),
                ),
            )
        })
        .collect()
}

/// The snapshot agrees with `desired_slices()`.
fn check_against_desired(e: &Engine, s: &Snapshot) {
    let desired = e.desired_slices();
    let want: BTreeMap<String, (String, Vec<String>)> = desired
        .iter()
        .map(|d| {
            let mut names: Vec<String> = d.endpoints.iter().map(|x| x.name.to_string()).collect();
            names.sort();
            (d.metadata.name.clone(), (d.namespace.clone(), names))
        })
        .collect();
    assert_eq!(slices(s), want);
    let n: usize = desired.iter().map(|d| d.endpoints.len()).sum();
    assert_eq!(s.endpoint_count(), n);
    for d in &desired {
        for entry in &d.endpoints {
            let v = s.endpoint(&d.namespace, &entry.name).expect("in snapshot");
            assert_eq!(&*v.slice, d.metadata.name.as_str());
            assert_eq!(i64::from(v.identity), entry.id);
            assert!(
                s.identity_labels(v.identity).is_some() || e.identity_labels(v.identity).is_none()
            );
        }
    }
}

fn run(ops: &[Op], source: Source, mode: SliceMode, max: u32, compaction: bool) {
    let mut cfg = config(source, mode, max);
    cfg.slicing.compaction.enabled = compaction;
    let mut e = Engine::new(cfg).unwrap();
    e.initial_sync_done(0);
    let reader = e.snapshot_reader();
    let mut m = Mirror::new();
    let mut c = Consumer::with_max_per_slice(max);
    let mut last_version = 0;
    for (i, op) in ops.iter().enumerate() {
        let now = i as u64 + 1;
        match event(op, source) {
            Some(ev) => {
                let _ = e.apply(&ev, now);
            }
            None => {
                settle(&mut e, &mut m, &mut c, now);
                let es = e.publish();
                let cs = c.publish();
                assert_eq!(endpoints(&cs), endpoints(&es), "consumer endpoints");
                // The agent's IP cache (Cilium's): endpoints without a node
                // IP are live but have no entries (consumer.rs module docs).
                let mut want_ips = ip_cache(&es);
                want_ips.retain(|_, v| v.3.is_some());
                assert_eq!(ip_cache(&cs), want_ips, "consumer IP cache");
                assert_eq!(
                    c.counters().entries_skipped,
                    0,
                    "the engine writes valid entries"
                );
                assert_eq!(slices(&cs), slices(&es), "consumer slices");
                assert_eq!(cs.identity_count(), es.identity_count());
                assert_eq!(cs.fragmentation(), es.fragmentation());
            }
        }
        let s = e.publish();
        assert!(s.version() > last_version);
        last_version = s.version();
        assert_eq!(reader.load().version(), s.version());
        let full = e.rebuild_snapshot();
        assert!(s.same_content(&full), "incremental != rebuild after {op:?}");
        check_against_desired(&e, &s);
    }
}

fn source_g() -> impl Strategy<Value = Source> {
    prop_oneof![Just(Source::Pods), Just(Source::Ciliumendpoints)]
}

fn mode_g() -> impl Strategy<Value = SliceMode> {
    prop_oneof![Just(SliceMode::Fcfs), Just(SliceMode::Identity)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn snapshots_and_consumer_track_the_engine(
        mut ops in prop::collection::vec(op_g(), 1..60),
        source in source_g(),
        mode in mode_g(),
        max in 1u32..5,
        compaction in any::<bool>(),
    ) {
        ops.push(Op::Settle);
        run(&ops, source, mode, max, compaction);
    }
}

/// Publishing before any change, then with nothing changed, keeps the content.
#[test]
fn publish_without_changes_is_stable() {
    let mut e = Engine::new(config(Source::Ciliumendpoints, SliceMode::Fcfs, 2)).unwrap();
    let ev: Vec<WatchEvent> = (0..5)
        .map(|i| {
            add(Object::CiliumEndpoint(cep(
                "a",
                &format!("p{i}"),
                1000,
                &ip(i),
            )))
        })
        .collect();
    for ev in &ev {
        e.apply(ev, 0).unwrap();
    }
    e.initial_sync_done(0);
    let a = e.publish();
    let b = e.publish();
    assert_eq!((a.version(), b.version()), (1, 2));
    assert!(a.same_content(&b));
    assert_eq!(a.endpoint_count(), 5);
    assert_eq!(a.slice_count(), 3);
    assert_eq!(a.fragmentation().ideal, 3);
    assert_eq!(a.identity_of_ip(&ip(3).parse().unwrap()), Some(1000));
    // A snapshot held across later publishes does not change.
    e.apply(
        &delete(Object::CiliumEndpoint(cep("a", "p3", 1000, &ip(3)))),
        1,
    )
    .unwrap();
    let c = e.publish();
    assert_eq!(a.endpoint_count(), 5);
    assert_eq!(c.endpoint_count(), 4);
    assert!(c.identity_of_ip(&ip(3).parse().unwrap()).is_none());
}
