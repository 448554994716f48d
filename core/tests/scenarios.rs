//! Scenario tests: Cilium's CES behaviour (reference/cilium-ces.md §2, §6)
//! and the rules of DESIGN.md §3–§5, each case spelled out.

mod common;

use common::*;
use sliceplane::config::{SliceMode, Source};
use sliceplane::mirror::Mirror;
use sliceplane::model::Object;
use sliceplane::plan::{Outcome, Verb, WriteOp};
use sliceplane::{Engine, ErrorCode};

fn synced(c: sliceplane::Config) -> Engine {
    let mut e = Engine::new(c).unwrap();
    e.initial_sync_done(0);
    e
}

fn slice_count(m: &Mirror) -> usize {
    m.slices.len()
}

#[test]
fn one_endpoint_one_slice() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    assert_eq!(m.settle(&mut e, 0, 5).unwrap(), 1);
    assert_eq!(slice_count(&m), 1);
    let s = m.slices.values().next().unwrap();
    assert_eq!(s.namespace, "ns");
    assert_eq!(s.endpoints.len(), 1);
    assert_eq!(s.endpoints[0].name, "a");
    assert_eq!(s.endpoints[0].id, 300);
}

#[test]
fn five_endpoints_max_two_make_three_slices() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 2));
    let mut m = Mirror::new();
    for i in 0..5 {
        e.apply(
            &add(Object::CiliumEndpoint(cep(
                "ns",
                &format!("p{i}"),
                300,
                &ip(i),
            ))),
            0,
        )
        .unwrap();
    }
    m.settle(&mut e, 0, 5).unwrap();
    assert_eq!(slice_count(&m), 3);
    let mut sizes: Vec<usize> = m.slices.values().map(|s| s.endpoints.len()).collect();
    sizes.sort();
    assert_eq!(sizes, vec![1, 2, 2]);
}

#[test]
fn five_namespaces_five_slices() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 5));
    let mut m = Mirror::new();
    for i in 0..5 {
        e.apply(
            &add(Object::CiliumEndpoint(cep(
                &format!("ns{i}"),
                "p",
                300,
                &ip(i),
            ))),
            0,
        )
        .unwrap();
    }
    m.settle(&mut e, 0, 5).unwrap();
    assert_eq!(slice_count(&m), 5);
    for s in m.slices.values() {
        assert!(s.endpoints.iter().all(|_| true) && s.endpoints.len() == 1);
    }
}

#[test]
fn identity_change_keeps_slice_in_fcfs() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let before = e.endpoint("ns", "a").unwrap().0.unwrap().to_string();
    e.apply(
        &modify(Object::CiliumEndpoint(cep("ns", "a", 305, "10.0.0.1"))),
        1,
    )
    .unwrap();
    let plan = e.flush(1);
    assert_eq!(plan.len(), 1);
    assert_eq!(plan.writes[0].op.verb(), Verb::Update);
    m.apply_plan(&mut e, &plan, 1).unwrap();
    assert_eq!(e.endpoint("ns", "a").unwrap().0.unwrap(), before);
    assert_eq!(slice_count(&m), 1);
    assert_eq!(m.slices[&before].endpoints[0].id, 305);
}

#[test]
fn identity_change_moves_endpoint_in_identity_mode() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Identity, 100));
    let mut m = Mirror::new();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "b", 300, "10.0.0.2"))),
        0,
    )
    .unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    assert_eq!(slice_count(&m), 1);
    e.apply(
        &modify(Object::CiliumEndpoint(cep("ns", "a", 305, "10.0.0.1"))),
        1,
    )
    .unwrap();
    m.settle(&mut e, 1, 5).unwrap();
    assert_eq!(slice_count(&m), 2);
    for s in m.slices.values() {
        assert_eq!(s.endpoints.len(), 1);
        let ids: Vec<i64> = s.endpoints.iter().map(|x| x.id).collect();
        assert!(ids == vec![300] || ids == vec![305]);
    }
}

#[test]
fn identity_mode_groups_by_identity() {
    // Cilium era-B TestIdentityManager: ids 1,2,3,4,4 with max 2 -> 4 slices.
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Identity, 2));
    let mut m = Mirror::new();
    for (i, id) in [301, 302, 303, 304, 304].into_iter().enumerate() {
        e.apply(
            &add(Object::CiliumEndpoint(cep(
                "ns",
                &format!("p{i}"),
                id,
                &ip(i as u32),
            ))),
            0,
        )
        .unwrap();
    }
    m.settle(&mut e, 0, 5).unwrap();
    assert_eq!(slice_count(&m), 4);
}

#[test]
fn interleaved_adds_and_removes_reuse_one_slice() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    let a = cep("ns", "a", 300, "10.0.0.1");
    let b = cep("ns", "b", 300, "10.0.0.2");
    let c = cep("ns", "c", 300, "10.0.0.3");
    e.apply(&add(Object::CiliumEndpoint(a.clone())), 0).unwrap();
    e.apply(&add(Object::CiliumEndpoint(b)), 0).unwrap();
    e.apply(&delete(Object::CiliumEndpoint(a)), 0).unwrap();
    e.apply(&add(Object::CiliumEndpoint(c)), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    assert_eq!(slice_count(&m), 1);
    assert_eq!(m.slices.values().next().unwrap().endpoints.len(), 2);
}

#[test]
fn add_then_remove_before_flush_costs_nothing() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let a = cep("ns", "a", 300, "10.0.0.1");
    e.apply(&add(Object::CiliumEndpoint(a.clone())), 0).unwrap();
    e.apply(&delete(Object::CiliumEndpoint(a)), 0).unwrap();
    assert!(e.flush(0).is_empty());
    assert_eq!(e.stats().slices, 0);
}

#[test]
fn change_undone_before_flush_costs_nothing() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "b", 300, "10.0.0.2"))),
        0,
    )
    .unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    // b leaves and comes back unchanged; a flips and flips back.
    let b = cep("ns", "b", 300, "10.0.0.2");
    e.apply(&delete(Object::CiliumEndpoint(b.clone())), 1)
        .unwrap();
    e.apply(&add(Object::CiliumEndpoint(b)), 1).unwrap();
    e.apply(
        &modify(Object::CiliumEndpoint(cep("ns", "a", 301, "10.0.0.1"))),
        1,
    )
    .unwrap();
    e.apply(
        &modify(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        1,
    )
    .unwrap();
    assert!(
        e.flush(1).is_empty(),
        "equal to what the server holds: no write"
    );
    assert!(e.counters().no_op_skips >= 1);
}

#[test]
fn repeated_identical_event_is_a_no_op() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    let a = cep("ns", "a", 300, "10.0.0.1");
    e.apply(&add(Object::CiliumEndpoint(a.clone())), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    e.apply(&modify(Object::CiliumEndpoint(a)), 1).unwrap();
    assert_eq!(e.stats().dirty_slices, 0);
    assert!(e.flush(10).is_empty());
}

#[test]
fn emptied_slice_is_deleted_with_preconditions() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    let a = cep("ns", "a", 300, "10.0.0.1");
    e.apply(&add(Object::CiliumEndpoint(a.clone())), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let stored = m.slices.values().next().unwrap().clone();
    e.apply(&delete(Object::CiliumEndpoint(a)), 1).unwrap();
    let plan = e.flush(1);
    assert_eq!(plan.len(), 1);
    match &plan.writes[0].op {
        WriteOp::DeleteSlice {
            name,
            preconditions,
        } => {
            assert_eq!(name, &stored.metadata.name);
            assert_eq!(preconditions.uid, stored.metadata.uid);
            assert_eq!(
                preconditions.resource_version,
                stored.metadata.resource_version
            );
        }
        op => panic!("expected a delete, got {op:?}"),
    }
    m.apply_plan(&mut e, &plan, 1).unwrap();
    assert!(m.slices.is_empty());
    assert_eq!(e.stats().slices, 0);
}

#[test]
fn sync_delay_coalesces() {
    let mut c = config(Source::Ciliumendpoints, SliceMode::Fcfs, 100);
    c.write.sync_delay_ms = 500;
    let mut e = synced(c);
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        1000,
    )
    .unwrap();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "b", 300, "10.0.0.2"))),
        1200,
    )
    .unwrap();
    assert!(e.flush(1499).is_empty());
    assert_eq!(e.next_due(), Some(1500));
    let plan = e.flush(1500);
    assert_eq!(plan.len(), 1);
    let WriteOp::CreateSlice(s) = &plan.writes[0].op else {
        panic!()
    };
    assert_eq!(s.endpoints.len(), 2, "both changes in one write");
}

#[test]
fn nothing_is_planned_before_initial_sync() {
    let mut e = Engine::new(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100)).unwrap();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    assert!(e.flush(10_000).is_empty());
    e.initial_sync_done(10_000);
    assert_eq!(e.flush(10_000).len(), 1);
}

#[test]
fn failed_write_stays_dirty_and_is_retried() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    let plan = e.flush(0);
    assert_eq!(plan.len(), 1);
    e.report(
        plan.writes[0].id,
        &Outcome::Error {
            message: "timeout".into(),
        },
        0,
    )
    .unwrap();
    // Backoff: base 1 s.
    assert!(e.flush(999).is_empty());
    let plan2 = e.flush(1000);
    assert_eq!(plan2.len(), 1);
    assert_eq!(plan2.writes[0].op, plan.writes[0].op);
    // Reporting twice, or an unknown op, is an error with a code.
    e.report(plan2.writes[0].id, &Outcome::success("1", "u"), 1000)
        .unwrap();
    let err = e
        .report(plan2.writes[0].id, &Outcome::success("1", "u"), 1000)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownOp);
}

#[test]
fn restart_with_unchanged_cluster_costs_zero_writes() {
    for mode in [SliceMode::Fcfs, SliceMode::Identity] {
        let c = config(Source::Ciliumendpoints, mode, 3);
        let mut e = synced(c.clone());
        let mut m = Mirror::new();
        let ceps: Vec<_> = (0..10)
            .map(|i| {
                cep(
                    &format!("ns{}", i % 2),
                    &format!("p{i}"),
                    300 + (i % 3) as i64,
                    &ip(i),
                )
            })
            .collect();
        for c in &ceps {
            e.apply(&add(Object::CiliumEndpoint(c.clone())), 0).unwrap();
        }
        m.settle(&mut e, 0, 5).unwrap();
        // Restart: a fresh engine sees the same cluster and the slices the server holds.
        let mut e2 = Engine::new(c).unwrap();
        for s in m.slices.values() {
            e2.apply(&add(Object::CiliumEndpointSlice(s.clone())), 0)
                .unwrap();
        }
        for c in &ceps {
            e2.apply(&add(Object::CiliumEndpoint(c.clone())), 0)
                .unwrap();
        }
        e2.initial_sync_done(0);
        assert!(e2.flush(1_000_000).is_empty(), "mode {mode:?}");
        assert_eq!(e2.desired_slices(), m.slices_without_meta());
    }
}

#[test]
fn adoption_drops_stale_entries_and_duplicates() {
    // A 100-entry slice whose pods shrank to 5 while the engine was down (cilium#47102).
    let c = config(Source::Ciliumendpoints, SliceMode::Fcfs, 100);
    let mut e = synced(c.clone());
    let mut m = Mirror::new();
    let ceps: Vec<_> = (0..100)
        .map(|i| cep("ns", &format!("p{i}"), 300, &ip(i)))
        .collect();
    for c in &ceps {
        e.apply(&add(Object::CiliumEndpoint(c.clone())), 0).unwrap();
    }
    m.settle(&mut e, 0, 5).unwrap();
    let name = m.slices.keys().next().unwrap().clone();
    // A duplicate of p0 in a second slice.
    let mut dup = m.slices[&name].clone();
    dup.metadata.name = "ces-dupdupdup-dupdd".into();
    dup.endpoints.truncate(1);
    let mut e2 = Engine::new(c).unwrap();
    e2.apply(
        &add(Object::CiliumEndpointSlice(m.slices[&name].clone())),
        0,
    )
    .unwrap();
    e2.apply(&add(Object::CiliumEndpointSlice(dup)), 0).unwrap();
    for c in &ceps[..5] {
        e2.apply(&add(Object::CiliumEndpoint(c.clone())), 0)
            .unwrap();
    }
    e2.initial_sync_done(0);
    let plan = e2.flush(0);
    let verbs: Vec<(Verb, String)> = plan
        .iter()
        .map(|w| (w.op.verb(), w.op.name().to_string()))
        .collect();
    assert_eq!(verbs.len(), 2, "{verbs:?}");
    assert!(
        verbs.contains(&(Verb::Update, name.clone())),
        "kept its name, stale entries dropped"
    );
    assert!(
        verbs.contains(&(Verb::Delete, "ces-dupdupdup-dupdd".into())),
        "duplicate slice removed"
    );
    let WriteOp::UpdateSlice(s) = &plan
        .iter()
        .find(|w| w.op.verb() == Verb::Update)
        .unwrap()
        .op
    else {
        panic!()
    };
    assert_eq!(s.endpoints.len(), 5);
}

#[test]
fn foreign_edit_and_delete_are_repaired() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let name = m.slices.keys().next().unwrap().clone();
    // Echo of our own write: nothing.
    e.apply(
        &modify(Object::CiliumEndpointSlice(m.slices[&name].clone())),
        1,
    )
    .unwrap();
    assert!(e.flush(1).is_empty());
    // Another writer empties it.
    let mut edited = m.slices[&name].clone();
    edited.endpoints.clear();
    edited.metadata.resource_version = Some("999".into());
    m.slices.insert(name.clone(), edited.clone());
    e.apply(&modify(Object::CiliumEndpointSlice(edited.clone())), 2)
        .unwrap();
    let plan = e.flush(2);
    assert_eq!(plan.len(), 1);
    let WriteOp::UpdateSlice(s) = &plan.writes[0].op else {
        panic!()
    };
    assert_eq!(s.metadata.resource_version.as_deref(), Some("999"));
    m.apply_plan(&mut e, &plan, 2).unwrap();
    assert_eq!(m.slices[&name].endpoints.len(), 1);
    // Another writer deletes it.
    let gone = m.slices.remove(&name).unwrap();
    e.apply(&delete(Object::CiliumEndpointSlice(gone)), 3)
        .unwrap();
    let plan = e.flush(3);
    assert_eq!(plan.writes[0].op.verb(), Verb::Create);
    assert_eq!(plan.writes[0].op.name(), name);
    // A slice nobody owns is removed.
    let mut foreign = m
        .slices
        .values()
        .next()
        .cloned()
        .unwrap_or_else(|| sliceplane::model::CiliumEndpointSlice::new("x", "ns"));
    foreign.metadata.name = "ces-zzzzzzzzz-zzzzz".into();
    e.apply(&add(Object::CiliumEndpointSlice(foreign)), 4)
        .unwrap();
    let plan = e.flush(4);
    assert!(
        plan.iter()
            .any(|w| w.op.verb() == Verb::Delete && w.op.name() == "ces-zzzzzzzzz-zzzzz")
    );
}

#[test]
fn pods_mode_assigns_identities_and_plans_them_first() {
    let mut e = synced(config(Source::Pods, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    e.apply(
        &add(Object::Namespace(namespace("shop", &[("team", "a")]))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::CiliumNode(cilium_node("n1", "192.168.1.1", 3))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::Pod(pod("shop", "web-1", "web", "n1", "10.0.0.1"))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::Pod(pod("shop", "web-2", "web", "n1", "10.0.0.2"))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::Pod(pod("shop", "db-1", "db", "n1", "10.0.0.3"))),
        0,
    )
    .unwrap();
    let plan = e.flush(0);
    let kinds: Vec<(&str, Verb)> = plan
        .iter()
        .map(|w| (w.op.kind().as_str(), w.op.verb()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("CiliumIdentity", Verb::Create),
            ("CiliumIdentity", Verb::Create),
            ("CiliumEndpointSlice", Verb::Create)
        ]
    );
    m.apply_plan(&mut e, &plan, 0).unwrap();
    let s = m.slices.values().next().unwrap();
    let web1 = s.endpoints.iter().find(|x| x.name == "web-1").unwrap();
    let web2 = s.endpoints.iter().find(|x| x.name == "web-2").unwrap();
    let db = s.endpoints.iter().find(|x| x.name == "db-1").unwrap();
    assert_eq!(web1.id, web2.id);
    assert_ne!(web1.id, db.id);
    assert_eq!(web1.networking.node.as_deref(), Some("192.168.1.1"));
    assert_eq!(web1.encryption.key, 3);
    assert_eq!(web1.named_ports[0].name, "http");
    assert_eq!(web1.service_account.as_deref(), Some("default"));
    let cid = &m.identities[&web1.id.to_string()];
    assert_eq!(cid.security_labels["k8s:app"], "web");
    assert_eq!(
        cid.security_labels["k8s:io.cilium.k8s.namespace.labels.team"],
        "a"
    );
    assert_eq!(
        cid.security_labels["k8s:io.kubernetes.pod.namespace"],
        "shop"
    );
    assert_eq!(
        cid.security_labels["k8s:io.cilium.k8s.policy.cluster"],
        "default"
    );
    assert_eq!(
        cid.security_labels["k8s:io.cilium.k8s.policy.serviceaccount"],
        "default"
    );
    assert_eq!(cid.metadata.labels["app"], "web");
}

#[test]
fn pods_that_are_not_endpoints() {
    let mut e = synced(config(Source::Pods, SliceMode::Fcfs, 100));
    let mut host = pod("ns", "h", "x", "n1", "10.0.0.1");
    host.spec.host_network = true;
    let mut done = pod("ns", "d", "x", "n1", "10.0.0.2");
    done.status.phase = Some("Succeeded".into());
    let mut unscheduled = pod("ns", "u", "x", "n1", "10.0.0.3");
    unscheduled.spec.node_name = None;
    let mut no_ip = pod("ns", "n", "x", "n1", "10.0.0.4");
    no_ip.status.pod_ips.clear();
    no_ip.status.pod_ip = None;
    for p in [host, done, unscheduled, no_ip] {
        e.apply(&add(Object::Pod(p)), 0).unwrap();
    }
    assert_eq!(e.stats().endpoints, 0);
    assert!(e.flush(0).is_empty());
    // A running pod that fails leaves.
    e.apply(&add(Object::Pod(pod("ns", "r", "x", "n1", "10.0.0.5"))), 0)
        .unwrap();
    assert_eq!(e.stats().endpoints, 1);
    let mut failed = pod("ns", "r", "x", "n1", "10.0.0.5");
    failed.status.phase = Some("Failed".into());
    e.apply(&modify(Object::Pod(failed)), 0).unwrap();
    assert_eq!(e.stats().endpoints, 0);
}

#[test]
fn identity_gc_grace_and_return() {
    let mut c = config(Source::Pods, SliceMode::Fcfs, 100);
    c.identity.gc_grace_ms = 1000;
    let mut e = synced(c);
    let mut m = Mirror::new();
    let p = pod("ns", "a", "web", "n1", "10.0.0.1");
    e.apply(&add(Object::Pod(p.clone())), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let (_, id) = e.endpoint("ns", "a").unwrap();
    let id = id.unwrap();
    e.apply(&delete(Object::Pod(p.clone())), 10).unwrap();
    m.settle(&mut e, 10, 5).unwrap();
    assert!(
        m.identities.contains_key(&id.to_string()),
        "kept during grace"
    );
    // Comes back within grace: same number, no identity write.
    e.apply(&add(Object::Pod(p.clone())), 500).unwrap();
    assert_eq!(e.endpoint("ns", "a").unwrap().1, Some(id));
    m.settle(&mut e, 500, 5).unwrap();
    e.apply(&delete(Object::Pod(p)), 600).unwrap();
    m.settle(&mut e, 600, 5).unwrap();
    assert!(
        e.flush(1599)
            .iter()
            .all(|w| w.op.kind().as_str() != "CiliumIdentity")
    );
    let plan = e.flush(1600);
    assert!(
        plan.iter().any(
            |w| matches!(&w.op, WriteOp::DeleteIdentity { name, .. } if *name == id.to_string())
        )
    );
    m.apply_plan(&mut e, &plan, 1600).unwrap();
    assert!(m.identities.is_empty());
}

#[test]
fn identity_exhaustion_waits_then_places() {
    let mut c = config(Source::Pods, SliceMode::Fcfs, 100);
    c.identity.range = Some(sliceplane::config::IdentityRange {
        min: 1000,
        max: 1000,
    });
    c.identity.gc_grace_ms = 0;
    let mut e = synced(c);
    let mut m = Mirror::new();
    let a = pod("ns", "a", "one", "n1", "10.0.0.1");
    e.apply(&add(Object::Pod(a.clone())), 0).unwrap();
    e.apply(
        &add(Object::Pod(pod("ns", "b", "two", "n1", "10.0.0.2"))),
        0,
    )
    .unwrap();
    assert_eq!(e.stats().endpoints_waiting, 1);
    assert_eq!(e.counters().identity_exhausted, 1);
    assert!(
        e.drain_events()
            .iter()
            .any(|ev| ev.kind == "identity-exhausted")
    );
    m.settle(&mut e, 0, 5).unwrap();
    assert_eq!(
        m.slices.values().map(|s| s.endpoints.len()).sum::<usize>(),
        1
    );
    // a leaves: its number frees after the (zero) grace, b gets it.
    e.apply(&delete(Object::Pod(a)), 1).unwrap();
    m.settle(&mut e, 1, 10).unwrap();
    assert_eq!(e.stats().endpoints_waiting, 0);
    assert_eq!(e.endpoint("ns", "b").unwrap().1, Some(1000));
    let s = m.slices.values().next().unwrap();
    assert_eq!(s.endpoints.len(), 1);
    assert_eq!(s.endpoints[0].name, "b");
}

#[test]
fn namespace_label_change_changes_identity() {
    let mut e = synced(config(Source::Pods, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    e.apply(
        &add(Object::Namespace(namespace("ns", &[("env", "dev")]))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::Pod(pod("ns", "a", "web", "n1", "10.0.0.1"))),
        0,
    )
    .unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let id1 = e.endpoint("ns", "a").unwrap().1.unwrap();
    e.apply(
        &modify(Object::Namespace(namespace("ns", &[("env", "prod")]))),
        1,
    )
    .unwrap();
    let id2 = e.endpoint("ns", "a").unwrap().1.unwrap();
    assert_ne!(id1, id2);
    m.settle(&mut e, 1, 5).unwrap();
    assert_eq!(
        m.slices.values().next().unwrap().endpoints[0].id,
        i64::from(id2)
    );
}

#[test]
fn restored_identities_keep_their_numbers() {
    let c = config(Source::Pods, SliceMode::Fcfs, 100);
    let mut e = synced(c.clone());
    let mut m = Mirror::new();
    let pods: Vec<_> = (0..6)
        .map(|i| {
            pod(
                "ns",
                &format!("p{i}"),
                &format!("app{}", i % 3),
                "n1",
                &ip(i),
            )
        })
        .collect();
    e.apply(&add(Object::Namespace(namespace("ns", &[]))), 0)
        .unwrap();
    for p in &pods {
        e.apply(&add(Object::Pod(p.clone())), 0).unwrap();
    }
    m.settle(&mut e, 0, 5).unwrap();
    assert_eq!(m.identities.len(), 3);
    let mut c2 = c;
    c2.seed = 99; // another seed: numbers must still come from the server
    let mut e2 = Engine::new(c2).unwrap();
    for i in m.identities.values() {
        e2.apply(&add(Object::CiliumIdentity(i.clone())), 0)
            .unwrap();
    }
    for s in m.slices.values() {
        e2.apply(&add(Object::CiliumEndpointSlice(s.clone())), 0)
            .unwrap();
    }
    e2.apply(&add(Object::Namespace(namespace("ns", &[]))), 0)
        .unwrap();
    for p in &pods {
        e2.apply(&add(Object::Pod(p.clone())), 0).unwrap();
    }
    e2.initial_sync_done(0);
    assert!(
        e2.flush(10_000_000).is_empty(),
        "restart of an unchanged cluster: zero writes"
    );
}

#[test]
fn rejected_inputs_change_nothing() {
    let mut e = synced(config(Source::Pods, SliceMode::Fcfs, 100));
    e.apply(
        &add(Object::Pod(pod("ns", "ok", "web", "n1", "10.0.0.1"))),
        0,
    )
    .unwrap();
    let before = (e.stats(), e.desired_slices(), e.desired_identities());
    let mut bad_ip = pod("ns", "x", "web", "n1", "10.0.0.300");
    bad_ip.status.pod_ip = None;
    let mut bad_port = pod("ns", "x", "web", "n1", "10.0.0.9");
    bad_port.spec.containers[0].ports[0].container_port = 70000;
    let mut bad_proto = pod("ns", "x", "web", "n1", "10.0.0.9");
    bad_proto.spec.containers[0].ports[0].protocol = Some("tcp".into());
    let mut bad_label = pod("ns", "x", "web", "n1", "10.0.0.9");
    bad_label
        .metadata
        .labels
        .insert("bad key".into(), "v".into());
    let mut bad_value = pod("ns", "x", "web", "n1", "10.0.0.9");
    bad_value.metadata.labels.insert("k".into(), "-v".into());
    let bad_name = pod("ns", "Bad_Name", "web", "n1", "10.0.0.9");
    let mut no_ns = pod("ns", "x", "web", "n1", "10.0.0.9");
    no_ns.metadata.namespace = None;
    let mut many = pod("ns", "x", "web", "n1", "10.0.0.9");
    many.status.pod_ips = (0..20)
        .map(|i| sliceplane::model::PodIp { ip: ip(i) })
        .collect();
    // Even a modification of an existing endpoint with a bad field changes nothing.
    let mut bad_existing = pod("ns", "ok", "web", "n1", "10.0.0.1");
    bad_existing.status.host_ip = Some("nope".into());
    let cases = [
        (bad_ip, ErrorCode::InvalidIp, "status.podIPs[0].ip"),
        (
            bad_port,
            ErrorCode::InvalidPort,
            "spec.containers[0].ports[0].containerPort",
        ),
        (
            bad_proto,
            ErrorCode::InvalidProtocol,
            "spec.containers[0].ports[0].protocol",
        ),
        (
            bad_label,
            ErrorCode::InvalidLabelKey,
            "metadata.labels[\"bad key\"]",
        ),
        (
            bad_value,
            ErrorCode::InvalidLabelValue,
            "metadata.labels[\"k\"]",
        ),
        (bad_name, ErrorCode::InvalidName, "metadata.name"),
        (no_ns, ErrorCode::MissingField, "metadata.namespace"),
        (many, ErrorCode::TooLarge, "status.podIPs"),
        (bad_existing, ErrorCode::InvalidIp, "status.hostIP"),
    ];
    for (p, code, field) in cases {
        let err = e.apply(&modify(Object::Pod(p)), 1).unwrap_err();
        assert_eq!((err.code, err.field.as_str()), (code, field), "{err}");
        assert!(err.object.starts_with("Pod"), "{err}");
        assert_eq!(
            (e.stats(), e.desired_slices(), e.desired_identities()),
            before
        );
    }
    // Other kinds.
    let mut bad_node = cilium_node("n1", "x.y", 0);
    let err = e
        .apply(&add(Object::CiliumNode(bad_node.clone())), 1)
        .unwrap_err();
    assert_eq!(
        (err.code, err.field.as_str()),
        (ErrorCode::InvalidIp, "spec.addresses[0]")
    );
    bad_node.spec.addresses[0].ip = "192.168.0.1".into();
    bad_node.spec.encryption = Some(sliceplane::model::EncryptionSpec { key: 256 });
    let err = e.apply(&add(Object::CiliumNode(bad_node)), 1).unwrap_err();
    assert_eq!(
        (err.code, err.field.as_str()),
        (ErrorCode::InvalidValue, "spec.encryption.key")
    );
    let err = e
        .apply(&add(Object::Namespace(namespace("Bad", &[]))), 1)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidName);
    let mut cid = sliceplane::model::CiliumIdentity::new("12");
    cid.security_labels.insert("k8s:a".into(), "b".into());
    let err = e.apply(&add(Object::CiliumIdentity(cid)), 1).unwrap_err();
    assert_eq!(
        (err.code, err.field.as_str()),
        (ErrorCode::InvalidName, "metadata.name")
    );
    assert_eq!(
        (e.stats(), e.desired_slices(), e.desired_identities()),
        before
    );
    assert_eq!(e.counters().events_rejected, 13);
}

#[test]
fn rejected_cilium_endpoints_change_nothing() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "ok", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    let before = (e.stats(), e.desired_slices());
    let mut v6_in_v4 = cep("ns", "ok", 300, "10.0.0.1");
    v6_in_v4.status.networking.as_mut().unwrap().addressing[0].ipv4 = Some("fd00::1".into());
    let mut bad_id = cep("ns", "ok", 300, "10.0.0.1");
    bad_id.status.identity.as_mut().unwrap().id = -4;
    let mut bad_named = cep("ns", "ok", 300, "10.0.0.1");
    bad_named
        .status
        .named_ports
        .push(sliceplane::model::NamedPort {
            name: "http".into(),
            port: 80,
            protocol: "HTTP".into(),
        });
    let mut bad_node = cep("ns", "ok", 300, "10.0.0.1");
    bad_node.status.networking.as_mut().unwrap().node = Some("node-1".into());
    for (c, code, field) in [
        (
            v6_in_v4,
            ErrorCode::InvalidIp,
            "status.networking.addressing[0].ipv4",
        ),
        (bad_id, ErrorCode::InvalidValue, "status.identity.id"),
        (
            bad_named,
            ErrorCode::InvalidProtocol,
            "status.named-ports[0].protocol",
        ),
        (bad_node, ErrorCode::InvalidIp, "status.networking.node"),
    ] {
        let err = e.apply(&modify(Object::CiliumEndpoint(c)), 1).unwrap_err();
        assert_eq!((err.code, err.field.as_str()), (code, field), "{err}");
        assert_eq!((e.stats(), e.desired_slices()), before);
    }
    // JSON that is not an event at all.
    let err = e
        .apply_json(b"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\"}}", 1)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownKind);
    assert_eq!((e.stats(), e.desired_slices()), before);
}

#[test]
fn same_inputs_same_seed_same_bytes() {
    let run = |seed: u64| {
        let mut c = config(Source::Pods, SliceMode::Fcfs, 3);
        c.seed = seed;
        let mut e = synced(c);
        for i in 0..20 {
            e.apply(
                &add(Object::Pod(pod(
                    &format!("ns{}", i % 3),
                    &format!("p{i}"),
                    &format!("a{}", i % 4),
                    "n1",
                    &ip(i),
                ))),
                0,
            )
            .unwrap();
        }
        e.flush(0).to_json_lines()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn priority_namespaces_go_first() {
    let mut c = config(Source::Ciliumendpoints, SliceMode::Fcfs, 100);
    c.write.sync_delay_ms = 0;
    let mut e = synced(c);
    let mut prio = namespace("urgent", &[]);
    prio.metadata
        .annotations
        .insert("cilium.io/ces-namespace".into(), "priority".into());
    e.apply(&add(Object::Namespace(prio)), 0).unwrap();
    e.apply(
        &add(Object::CiliumEndpoint(cep("slow", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::CiliumEndpoint(cep("urgent", "b", 300, "10.0.0.2"))),
        5,
    )
    .unwrap();
    let plan = e.flush(10);
    let order: Vec<&str> = plan
        .iter()
        .map(|w| match &w.op {
            WriteOp::CreateSlice(s) => s.namespace.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(order, vec!["urgent", "slow"]);
}

#[test]
fn compaction_reduces_slices_within_budget() {
    let mut c = config(Source::Ciliumendpoints, SliceMode::Fcfs, 10);
    c.slicing.compaction.enabled = true;
    c.slicing.compaction.move_budget = 5;
    c.slicing.compaction.min_fragmentation = 1.0;
    let mut e = synced(c);
    let mut m = Mirror::new();
    let ceps: Vec<_> = (0..40)
        .map(|i| cep("ns", &format!("p{i}"), 300, &ip(i)))
        .collect();
    for c in &ceps {
        e.apply(&add(Object::CiliumEndpoint(c.clone())), 0).unwrap();
    }
    m.settle(&mut e, 0, 5).unwrap();
    assert_eq!(m.slices.len(), 4);
    // Remove 6 of each slice's 10: 4 slices of 4, ideal 2.
    for s in m.slices.values().cloned().collect::<Vec<_>>() {
        for ep in s.endpoints.iter().take(6) {
            let c = ceps.iter().find(|c| c.metadata.name == ep.name).unwrap();
            e.apply(&delete(Object::CiliumEndpoint(c.clone())), 1)
                .unwrap();
        }
    }
    let mut flushes = 0;
    for t in 1..20 {
        let plan = e.flush(t);
        if plan.is_empty() {
            break;
        }
        flushes += 1;
        m.apply_plan(&mut e, &plan, t).unwrap();
    }
    assert!(flushes >= 2, "budget spreads the moves over flushes");
    assert_eq!(m.slices.len(), 2);
    assert!(e.counters().compaction_moves <= 8);
    assert_eq!(e.desired_slices(), m.slices_without_meta());
}
