//! Deletes (issue 13 item 3, DESIGN.md §2): a DELETED event needs the kind,
//! the namespace and the name only; the rest of its body is ignored, so a
//! delete applies even when the last state it carries was rejected — for
//! every kind, through JSON and through the typed API. And (item 8): a value
//! of the wrong JSON type names its object and its field.

mod common;

use common::*;
use serde_json::{Value, json};
use sliceplane::config::{SliceMode, Source};
use sliceplane::mirror::Mirror;
use sliceplane::model::{
    CiliumEndpoint, CiliumEndpointSlice, CiliumIdentity, Node, NodeAddress, NodeStatus, Object,
    ObjectMeta, Pod,
};
use sliceplane::plan::{WriteOp, WritePlan};
use sliceplane::{Engine, ErrorCode, WatchEvent};

fn synced(c: sliceplane::Config) -> Engine {
    let mut e = Engine::new(c).unwrap();
    e.initial_sync_done(0);
    e
}

/// Sets the value at a JSON pointer, creating missing object members.
fn set(v: &mut Value, pointer: &str, value: Value) {
    let mut cur = v;
    for part in pointer.split('/').skip(1) {
        cur = match cur {
            Value::Array(a) => &mut a[part.parse::<usize>().unwrap()],
            Value::Object(o) => o.entry(part.to_string()).or_insert(json!({})),
            other => panic!("{pointer}: cannot descend into {other}"),
        };
    }
    *cur = value;
}

/// `{"type": t, "object": <o as JSON, with the edits>}` as bytes, `type`
/// first as the API server writes it.
fn event(t: &str, o: &Object, edits: &[(&str, Value)]) -> Vec<u8> {
    let mut v = o.to_json_value();
    for (pointer, value) in edits {
        set(&mut v, pointer, value.clone());
    }
    format!(r#"{{"type":"{t}","object":{v}}}"#).into_bytes()
}

/// The same event with `object` before `type` (read once the type is known).
fn object_first(bytes: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(bytes).unwrap();
    format!(r#"{{"object":{},"type":{}}}"#, v["object"], v["type"]).into_bytes()
}

/// JSON edits (pointer, value) that make a body invalid.
type Edits = Vec<(&'static str, Value)>;
/// Edits, and the code and field of the error they cause.
type Case = (Edits, ErrorCode, &'static str);

/// The ways in: JSON bytes with `type` first, with `object` first, a decoded
/// JSON value, and the typed API.
const ROUTES: [&str; 4] = ["json", "object-first", "value", "typed"];

/// Applies a DELETED of `o` whose body carries `edits`, by `route`. False
/// when the typed API cannot carry that body (a value of the wrong type).
fn apply_delete(
    e: &mut Engine,
    o: &Object,
    edits: &[(&str, Value)],
    route: &str,
    now: u64,
) -> bool {
    let bytes = event("DELETED", o, edits);
    match route {
        "json" => e.apply_json(&bytes, now).unwrap(),
        "object-first" => e.apply_json(&object_first(&bytes), now).unwrap(),
        "value" => {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            e.apply(&WatchEvent::from_value(&v).unwrap(), now).unwrap()
        }
        _ => match WatchEvent::from_json(&event("ADDED", o, edits)) {
            Ok(full) => e.apply(&WatchEvent::deleted(full.object), now).unwrap(),
            Err(_) => return false,
        },
    }
    true
}

fn entry_names(s: &CiliumEndpointSlice) -> Vec<&str> {
    s.endpoints.iter().map(|e| e.name.as_str()).collect()
}

/// The only write of `plan`.
fn only_write(plan: &WritePlan) -> &WriteOp {
    assert_eq!(plan.len(), 1, "expected one write, got {:?}", plan.writes);
    &plan.writes[0].op
}

/// A rejected event: the code, the field, and nothing changed.
fn assert_rejected(e: &mut Engine, bytes: &[u8], now: u64, code: ErrorCode, field: &str) {
    let slices = e.desired_slices();
    let identities = e.desired_identities();
    let stats = e.stats();
    let err = e.apply_json(bytes, now).unwrap_err();
    assert_eq!((err.code, err.field.as_str()), (code, field), "{err}");
    assert_eq!(e.desired_slices(), slices);
    assert_eq!(e.desired_identities(), identities);
    assert_eq!(e.stats(), stats);
    assert!(e.flush(now).is_empty());
}

// ------------------------------------------------------------ CiliumEndpoint

/// Bodies a MODIFIED of `shop/x` is rejected for, with the code and field.
fn invalid_cep_bodies() -> Vec<Case> {
    vec![
        (
            vec![("/status/networking/addressing/0/ipv4", json!("not-an-ip"))],
            ErrorCode::InvalidIp,
            "status.networking.addressing[0].ipv4",
        ),
        (
            vec![("/status/identity/id", json!("three hundred"))],
            ErrorCode::MalformedInput,
            "status.identity.id",
        ),
        (
            vec![("/status/identity/id", json!(0))],
            ErrorCode::InvalidValue,
            "status.identity.id",
        ),
        (
            vec![("/status/encryption/key", json!(256))],
            ErrorCode::InvalidValue,
            "status.encryption.key",
        ),
        (
            vec![(
                "/status/named-ports",
                json!([{"name": "http", "port": 0, "protocol": "TCP"}]),
            )],
            ErrorCode::InvalidPort,
            "status.named-ports[0].port",
        ),
        (
            vec![("/status/networking/node", json!("node-one"))],
            ErrorCode::InvalidIp,
            "status.networking.node",
        ),
    ]
}

#[test]
fn cep_delete_carrying_a_rejected_state_takes_the_endpoint_out() {
    for (edits, code, field) in invalid_cep_bodies() {
        for route in ROUTES {
            let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
            let mut m = Mirror::new();
            let x = Object::CiliumEndpoint(cep("shop", "x", 300, "10.0.0.1"));
            let y = Object::CiliumEndpoint(cep("shop", "y", 300, "10.0.0.2"));
            e.apply(&add(x.clone()), 0).unwrap();
            e.apply(&add(y), 0).unwrap();
            m.settle(&mut e, 0, 5).unwrap();
            let name = m.slices.keys().next().unwrap().clone();
            assert_eq!(entry_names(&m.slices[&name]), ["x", "y"]);

            assert_rejected(&mut e, &event("MODIFIED", &x, &edits), 1, code, field);
            assert_eq!(
                e.endpoint("shop", "x"),
                Some((Some(name.as_str()), Some(300)))
            );

            if !apply_delete(&mut e, &x, &edits, route, 2) {
                continue;
            }
            assert_eq!(e.endpoint("shop", "x"), None, "{field}");
            let plan = e.flush(2);
            match only_write(&plan) {
                WriteOp::UpdateSlice(s) => {
                    assert_eq!(s.metadata.name, name);
                    assert_eq!(entry_names(s), ["y"]);
                }
                op => panic!("expected an update, got {op:?}"),
            }
            m.apply_plan(&mut e, &plan, 2).unwrap();
            assert_eq!(entry_names(&m.slices[&name]), ["y"]);
            let snap = e.publish();
            assert!(snap.endpoint("shop", "x").is_none());
            assert_eq!(snap.endpoint_count(), 1);
        }
    }
}

#[test]
fn cep_delete_with_a_minimal_body() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    e.apply(
        &add(Object::CiliumEndpoint(cep("shop", "x", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let stored = m.slices.values().next().unwrap().clone();
    e.apply_json(
        br#"{"type":"DELETED","object":{"apiVersion":"cilium.io/v2","kind":"CiliumEndpoint","metadata":{"namespace":"shop","name":"x"}}}"#,
        1,
    )
    .unwrap();
    assert_eq!(e.endpoint("shop", "x"), None);
    let plan = e.flush(1);
    match only_write(&plan) {
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
    assert_eq!(e.publish().endpoint_count(), 0);
}

#[test]
fn a_deleted_object_is_read_leniently_and_keeps_only_its_key() {
    // Everything beyond kind, namespace and name is garbage of the wrong types.
    let garbage = br#"{"type":"DELETED","object":{"kind":"CiliumEndpoint","apiVersion":7,
        "metadata":{"namespace":"shop","name":"x","uid":5,"resourceVersion":[1],"labels":"nope",
        "annotations":{"a":{"b":1}},"deletionTimestamp":false,"ownerReferences":3},
        "status":"garbage","spec":[1,2,{"x":null}]}}"#;
    let ev = WatchEvent::from_json(garbage).unwrap();
    let expected = CiliumEndpoint {
        metadata: ObjectMeta {
            name: "x".into(),
            namespace: Some("shop".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(ev, WatchEvent::deleted(Object::CiliumEndpoint(expected)));

    // uid and resourceVersion are kept when they are strings; a slice keeps
    // its top-level namespace; nothing else of the body is kept.
    let ces = br#"{"type":"DELETED","object":{"apiVersion":"cilium.io/v2alpha1","kind":"CiliumEndpointSlice",
        "metadata":{"name":"ces-abc","uid":"u-1","resourceVersion":"42","labels":{"a":"b"}},
        "namespace":"shop","endpoints":[{"name":"x","id":"three hundred"}]}}"#;
    let mut expected = CiliumEndpointSlice::new("ces-abc", "shop");
    expected.metadata.uid = Some("u-1".into());
    expected.metadata.resource_version = Some("42".into());
    assert_eq!(
        WatchEvent::from_json(ces).unwrap(),
        WatchEvent::deleted(Object::CiliumEndpointSlice(expected))
    );

    // The object may come before the type: it is read once the type is known.
    let reordered = br#"{"object":{"kind":"Pod","apiVersion":"v1","metadata":{"namespace":"shop","name":"p","uid":"u-9","labels":{"-bad-":1}},"spec":{"containers":7}},"type":"DELETED"}"#;
    let expected = Pod {
        metadata: ObjectMeta {
            name: "p".into(),
            namespace: Some("shop".into()),
            uid: Some("u-9".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        WatchEvent::from_json(reordered).unwrap(),
        WatchEvent::deleted(Object::Pod(expected))
    );

    // The kind still decides the type, and must be one the engine takes.
    let e = WatchEvent::from_json(
        br#"{"type":"DELETED","object":{"kind":"Service","metadata":{"name":"x"}}}"#,
    )
    .unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (ErrorCode::UnknownKind, "kind"));
    let e = WatchEvent::from_json(
        br#"{"type":"DELETED","object":{"kind":"Pod","apiVersion":"v2","metadata":{"name":"x"}}}"#,
    )
    .unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (ErrorCode::UnknownKind, "apiVersion")
    );
}

#[test]
fn a_delete_still_needs_a_valid_key() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    e.apply(
        &add(Object::CiliumEndpoint(cep("shop", "x", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let cases: [(&[u8], ErrorCode, &str); 5] = [
        (
            br#"{"type":"DELETED","object":{"kind":"CiliumEndpoint","metadata":{"namespace":"shop","name":""}}}"#,
            ErrorCode::MissingField,
            "metadata.name",
        ),
        (
            br#"{"type":"DELETED","object":{"kind":"CiliumEndpoint","metadata":{"namespace":"shop"}}}"#,
            ErrorCode::MissingField,
            "metadata.name",
        ),
        (
            br#"{"type":"DELETED","object":{"kind":"CiliumEndpoint","metadata":{"name":"x"}}}"#,
            ErrorCode::MissingField,
            "metadata.namespace",
        ),
        (
            br#"{"type":"DELETED","object":{"kind":"CiliumEndpoint","metadata":{"namespace":"Shop","name":"x"}}}"#,
            ErrorCode::InvalidName,
            "metadata.namespace",
        ),
        (
            br#"{"type":"DELETED","object":{"kind":"CiliumEndpoint","metadata":{"namespace":"shop","name":5}}}"#,
            ErrorCode::MalformedInput,
            "metadata.name",
        ),
    ];
    for (bytes, code, field) in cases {
        assert_rejected(&mut e, bytes, 1, code, field);
        assert!(e.endpoint("shop", "x").is_some());
    }
    // Every kind: an empty name is a typed error, and nothing changes.
    for kind in [
        "Namespace",
        "Node",
        "CiliumNode",
        "CiliumEndpointSlice",
        "CiliumIdentity",
    ] {
        let bytes = format!(r#"{{"type":"DELETED","object":{{"kind":"{kind}","metadata":{{}}}}}}"#);
        assert_rejected(
            &mut e,
            bytes.as_bytes(),
            1,
            ErrorCode::MissingField,
            "metadata.name",
        );
    }
    // Deletes of objects the engine does not hold change nothing, and leave
    // no trace.
    let stats = e.stats();
    for bytes in [
        &br#"{"type":"DELETED","object":{"kind":"CiliumEndpoint","metadata":{"namespace":"shop","name":"other"}}}"#[..],
        br#"{"type":"DELETED","object":{"kind":"CiliumEndpoint","metadata":{"namespace":"elsewhere","name":"x"}}}"#,
        br#"{"type":"DELETED","object":{"kind":"Namespace","metadata":{"name":"elsewhere"}}}"#,
        br#"{"type":"DELETED","object":{"kind":"Node","metadata":{"name":"n9"}}}"#,
        br#"{"type":"DELETED","object":{"kind":"CiliumNode","metadata":{"name":"n9"}}}"#,
        br#"{"type":"DELETED","object":{"kind":"CiliumEndpointSlice","metadata":{"name":"ces-none"}}}"#,
        br#"{"type":"DELETED","object":{"kind":"CiliumIdentity","metadata":{"name":"4242"}}}"#,
    ] {
        e.apply_json(bytes, 1).unwrap();
    }
    assert_eq!(e.stats(), stats);
    assert_eq!(e.node_count(), 0);
    assert!(e.flush(1).is_empty());
}

// ------------------------------------------------------------ pods source

fn pods_engine(grace_ms: u64) -> Engine {
    let mut c = config(Source::Pods, SliceMode::Fcfs, 100);
    c.identity.gc_grace_ms = grace_ms;
    synced(c)
}

fn node(name: &str, ip: &str) -> Node {
    Node {
        metadata: ObjectMeta::named(name),
        status: NodeStatus {
            addresses: vec![NodeAddress {
                kind: "InternalIP".into(),
                address: ip.into(),
            }],
        },
    }
}

#[test]
fn pod_delete_carrying_a_rejected_state_takes_the_endpoint_out_and_frees_its_identity() {
    let cases: Vec<Case> = vec![
        (
            vec![("/metadata/labels/app", json!("-bad-"))],
            ErrorCode::InvalidLabelValue,
            "metadata.labels[\"app\"]",
        ),
        (
            vec![("/status/podIPs/0/ip", json!("not-an-ip"))],
            ErrorCode::InvalidIp,
            "status.podIPs[0].ip",
        ),
        (
            vec![("/spec/containers/0/ports/0/containerPort", json!("eighty"))],
            ErrorCode::MalformedInput,
            "spec.containers[0].ports[0].containerPort",
        ),
    ];
    for (edits, code, field) in cases {
        for route in ROUTES {
            let mut e = pods_engine(1000);
            let mut m = Mirror::new();
            let mut x = pod("shop", "x", "web", "n1", "10.0.0.1");
            x.metadata.uid = Some("uid-x".into());
            let x = Object::Pod(x);
            let y = Object::Pod(pod("shop", "y", "web", "n1", "10.0.0.2"));
            e.apply(&add(x.clone()), 0).unwrap();
            e.apply(&add(y.clone()), 0).unwrap();
            m.settle(&mut e, 0, 5).unwrap();
            let id = e.endpoint("shop", "x").unwrap().1.unwrap();
            let name = m.slices.keys().next().unwrap().clone();
            assert_eq!(entry_names(&m.slices[&name]), ["x", "y"]);

            assert_rejected(&mut e, &event("MODIFIED", &x, &edits), 1, code, field);

            if !apply_delete(&mut e, &x, &edits, route, 2) {
                continue;
            }
            assert_eq!(e.endpoint("shop", "x"), None);
            let plan = e.flush(2);
            match only_write(&plan) {
                WriteOp::UpdateSlice(s) => assert_eq!(entry_names(s), ["y"]),
                op => panic!("expected an update, got {op:?}"),
            }
            m.apply_plan(&mut e, &plan, 2).unwrap();

            // The last user leaves with a garbage body too: the slice goes,
            // and the identity after its grace period.
            let garbage = [("/status", json!(17)), ("/spec", json!("?"))];
            let route = if route == "typed" { "json" } else { route };
            assert!(apply_delete(&mut e, &y, &garbage, route, 3));
            m.settle(&mut e, 3, 5).unwrap();
            assert!(m.slices.is_empty());
            assert_eq!(e.stats().endpoints, 0);
            assert!(
                m.identities.contains_key(&id.to_string()),
                "kept during grace"
            );
            m.settle(&mut e, 1003, 5).unwrap();
            assert!(m.identities.is_empty());
            assert!(e.desired_identities().is_empty());
            assert_eq!(e.publish().endpoint_count(), 0);
        }
    }
}

#[test]
fn pod_delete_is_matched_by_namespace_and_name_and_keeps_the_uid() {
    // The engine keys pods by namespace and name, as Cilium keys endpoints;
    // the uid is carried on the parsed delete but not used to match.
    let mut e = pods_engine(0);
    let mut m = Mirror::new();
    let mut x = pod("shop", "x", "web", "n1", "10.0.0.1");
    x.metadata.uid = Some("uid-1".into());
    e.apply(&add(Object::Pod(x)), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let minimal = br#"{"type":"DELETED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"shop","name":"x","uid":"uid-1"}}}"#;
    let ev = WatchEvent::from_json(minimal).unwrap();
    assert_eq!(ev.object.metadata().uid.as_deref(), Some("uid-1"));
    e.apply(&ev, 1).unwrap();
    assert_eq!(e.endpoint("shop", "x"), None);
    m.settle(&mut e, 1, 5).unwrap();
    assert!(m.slices.is_empty());
    assert!(m.identities.is_empty());
    assert!(e.desired_identities().is_empty());
}

#[test]
fn pod_delete_in_the_ciliumendpoints_source_is_ignored_whatever_its_body() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let before = e.counters().events_ignored_other_source;
    e.apply_json(
        br#"{"type":"DELETED","object":{"kind":"Pod","metadata":{"namespace":"shop","name":"x"},"status":5}}"#,
        0,
    )
    .unwrap();
    assert_eq!(e.counters().events_ignored_other_source, before + 1);
}

#[test]
fn namespace_delete_carrying_a_rejected_state_clears_its_labels() {
    for route in ROUTES {
        let mut e = pods_engine(0);
        let mut m = Mirror::new();
        let ns = Object::Namespace(namespace("shop", &[("env", "dev")]));
        e.apply(&add(ns.clone()), 0).unwrap();
        e.apply(
            &add(Object::Pod(pod("shop", "x", "web", "n1", "10.0.0.1"))),
            0,
        )
        .unwrap();
        m.settle(&mut e, 0, 5).unwrap();
        let old = e.endpoint("shop", "x").unwrap().1.unwrap();
        assert!(
            e.identity_labels(old)
                .unwrap()
                .canonical_key()
                .contains("io.cilium.k8s.namespace.labels.env=dev")
        );
        let edits = [("/metadata/labels/bad key!", json!("v"))];
        assert_rejected(
            &mut e,
            &event("MODIFIED", &ns, &edits),
            1,
            ErrorCode::InvalidLabelKey,
            "metadata.labels[\"bad key!\"]",
        );
        assert!(apply_delete(&mut e, &ns, &edits, route, 2));
        let new = e.endpoint("shop", "x").unwrap().1.unwrap();
        assert_ne!(new, old);
        assert!(
            !e.identity_labels(new)
                .unwrap()
                .canonical_key()
                .contains("namespace.labels")
        );
        let plan = e.flush(2);
        assert!(plan.iter().any(
            |w| matches!(&w.op, WriteOp::CreateIdentity(i) if i.metadata.name == new.to_string())
        ));
        assert!(plan.iter().any(|w| matches!(&w.op,
            WriteOp::UpdateSlice(s) if s.endpoints.len() == 1 && s.endpoints[0].id == i64::from(new))));
    }
}

#[test]
fn node_delete_carrying_a_rejected_state_removes_its_address() {
    for route in ROUTES {
        let mut e = pods_engine(0);
        let mut m = Mirror::new();
        let n = Object::Node(node("n1", "192.168.1.1"));
        e.apply(&add(n.clone()), 0).unwrap();
        e.apply(
            &add(Object::Pod(pod("shop", "x", "web", "n1", "10.0.0.1"))),
            0,
        )
        .unwrap();
        m.settle(&mut e, 0, 5).unwrap();
        let s = m.slices.values().next().unwrap();
        assert_eq!(
            s.endpoints[0].networking.node.as_deref(),
            Some("192.168.1.1")
        );
        let edits = [("/status/addresses/0/address", json!("not-an-ip"))];
        assert_rejected(
            &mut e,
            &event("MODIFIED", &n, &edits),
            1,
            ErrorCode::InvalidIp,
            "status.addresses[0]",
        );
        assert!(apply_delete(&mut e, &n, &edits, route, 2));
        let snap = e.publish();
        assert_eq!(snap.endpoint("shop", "x").unwrap().node_ip(), None);
        let plan = e.flush(2);
        match only_write(&plan) {
            WriteOp::UpdateSlice(s) => assert_eq!(s.endpoints[0].networking.node, None),
            op => panic!("expected an update, got {op:?}"),
        }
    }
}

#[test]
fn cilium_node_delete_carrying_a_rejected_state_removes_its_address_and_key() {
    let cases: [Case; 3] = [
        (
            vec![("/spec/encryption/key", json!(300))],
            ErrorCode::InvalidValue,
            "spec.encryption.key",
        ),
        (
            vec![("/spec/addresses/0/ip", json!("not-an-ip"))],
            ErrorCode::InvalidIp,
            "spec.addresses[0]",
        ),
        (
            vec![("/spec/encryption/key", json!("three"))],
            ErrorCode::MalformedInput,
            "spec.encryption.key",
        ),
    ];
    for ((edits, code, field), route) in cases.iter().flat_map(|c| ROUTES.map(|r| (c, r))) {
        let mut e = pods_engine(0);
        let mut m = Mirror::new();
        let n = Object::CiliumNode(cilium_node("n1", "192.168.2.1", 3));
        e.apply(&add(n.clone()), 0).unwrap();
        e.apply(
            &add(Object::Pod(pod("shop", "x", "web", "n1", "10.0.0.1"))),
            0,
        )
        .unwrap();
        m.settle(&mut e, 0, 5).unwrap();
        assert_eq!(e.node_count(), 1);
        let s = m.slices.values().next().unwrap();
        assert_eq!(s.endpoints[0].encryption.key, 3);
        assert_rejected(&mut e, &event("MODIFIED", &n, edits), 1, *code, field);
        if !apply_delete(&mut e, &n, edits, route, 2) {
            continue;
        }
        assert_eq!(e.node_count(), 0);
        let view = e.publish().endpoint("shop", "x").unwrap().clone();
        assert_eq!((view.node_ip(), view.encryption_key()), (None, 0));
        let plan = e.flush(2);
        match only_write(&plan) {
            WriteOp::UpdateSlice(s) => {
                assert_eq!(s.endpoints[0].networking.node, None);
                assert_eq!(s.endpoints[0].encryption.key, 0);
            }
            op => panic!("expected an update, got {op:?}"),
        }
    }
}

#[test]
fn slice_delete_carrying_a_rejected_state_is_taken_as_deleted() {
    // Rejected as a MODIFIED; the DELETED also carries a value that does not
    // even parse as a slice (the typed route gets the first edit only).
    let edits = [("/namespace", json!("Bad_NS"))];
    let garbage = [
        ("/namespace", json!("Bad_NS")),
        ("/endpoints/0/id", json!("three hundred")),
    ];
    for route in ROUTES {
        let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
        let mut m = Mirror::new();
        e.apply(
            &add(Object::CiliumEndpoint(cep("shop", "x", 300, "10.0.0.1"))),
            0,
        )
        .unwrap();
        m.settle(&mut e, 0, 5).unwrap();
        let held = m.slices.values().next().unwrap().clone();
        let name = held.metadata.name.clone();
        // The watch echo of our own write changes nothing.
        e.apply(&add(Object::CiliumEndpointSlice(held.clone())), 1)
            .unwrap();
        assert!(e.flush(1).is_empty());
        let obj = Object::CiliumEndpointSlice(held);
        assert_rejected(
            &mut e,
            &event("MODIFIED", &obj, &edits),
            2,
            ErrorCode::InvalidName,
            "namespace",
        );
        let body: &[(&str, Value)] = if route == "typed" { &edits } else { &garbage };
        assert!(apply_delete(&mut e, &obj, body, route, 3));
        // Deleted on the server: the engine makes it again.
        m.slices.remove(&name);
        let plan = e.flush(3);
        match only_write(&plan) {
            WriteOp::CreateSlice(s) => {
                assert_eq!(s.metadata.name, name);
                assert_eq!(entry_names(s), ["x"]);
            }
            op => panic!("expected the slice re-created, got {op:?}"),
        }
        m.apply_plan(&mut e, &plan, 3).unwrap();
        assert!(e.flush(4).is_empty());
        // A slice the engine does not hold: nothing to do.
        let mut other = CiliumEndpointSlice::new("ces-other", "Bad_NS");
        other.endpoints = vec![Default::default(); 3];
        assert!(apply_delete(
            &mut e,
            &Object::CiliumEndpointSlice(other),
            &[],
            route,
            5
        ));
        assert!(e.flush(5).is_empty());
    }
}

#[test]
fn identity_delete_carrying_a_rejected_state_is_taken_as_deleted() {
    for route in ["json", "object-first", "value"] {
        let mut e = pods_engine(0);
        let mut m = Mirror::new();
        e.apply(
            &add(Object::Pod(pod("shop", "x", "web", "n1", "10.0.0.1"))),
            0,
        )
        .unwrap();
        m.settle(&mut e, 0, 5).unwrap();
        let id = e.endpoint("shop", "x").unwrap().1.unwrap();
        let held: CiliumIdentity = m.identities[&id.to_string()].clone();
        let obj = Object::CiliumIdentity(held);
        e.apply(&add(obj.clone()), 1).unwrap();
        assert!(e.flush(1).is_empty());
        let edits = [("/security-labels/k8s:app", json!(5))];
        assert_rejected(
            &mut e,
            &event("MODIFIED", &obj, &edits),
            2,
            ErrorCode::MalformedInput,
            "security-labels.k8s:app",
        );
        // Gone from the server while a pod uses it: it is created again.
        assert!(apply_delete(&mut e, &obj, &edits, route, 3));
        m.identities.remove(&id.to_string());
        let plan = e.flush(3);
        match only_write(&plan) {
            WriteOp::CreateIdentity(i) => assert_eq!(i.metadata.name, id.to_string()),
            op => panic!("expected the identity re-created, got {op:?}"),
        }
        // Not a number: an ADDED is refused, a DELETED of it is nothing to do.
        let not_an_identity = Object::CiliumIdentity(CiliumIdentity::new("web"));
        assert_rejected(
            &mut e,
            &event("ADDED", &not_an_identity, &[]),
            4,
            ErrorCode::InvalidName,
            "metadata.name",
        );
        assert!(apply_delete(&mut e, &not_an_identity, &[], route, 4));
        assert!(e.flush(4).is_empty());
    }
}

// ------------------------------------------------------------ item 8

#[test]
fn a_value_of_the_wrong_type_names_the_object_and_the_field() {
    let mut e = synced(config(Source::Ciliumendpoints, SliceMode::Fcfs, 100));
    let x = Object::CiliumEndpoint(cep("shop", "x", 300, "10.0.0.1"));
    let bytes = event(
        "ADDED",
        &x,
        &[("/status/identity/id", json!("three hundred"))],
    );
    let stats = e.stats();
    let err = e.apply_json(&bytes, 0).unwrap_err();
    assert_eq!(err.code, ErrorCode::MalformedInput);
    assert_eq!(err.object, "CiliumEndpoint shop/x");
    assert_eq!(err.field, "status.identity.id");
    assert!(
        err.message
            .starts_with(r#"invalid type: string "three hundred", expected i64 at line 1 column "#),
        "{}",
        err.message
    );
    assert!(
        err.to_string().starts_with(
            r#"[malformed_input] CiliumEndpoint shop/x field status.identity.id: invalid type: string "three hundred", expected i64"#
        ),
        "{err}"
    );
    assert_eq!(e.stats(), stats);
    assert_eq!(e.counters().events_rejected, 1);
    assert_eq!(e.endpoint("shop", "x"), None);
}

#[test]
fn wrong_types_anywhere_are_located() {
    let p = Object::Pod(pod("shop", "p", "web", "n1", "10.0.0.1"));
    let cases: Vec<(Vec<u8>, &str, &str, &str)> = vec![
        // In an array element.
        (
            event(
                "ADDED",
                &p,
                &[("/status/podIPs", json!([{"ip": "10.0.0.1"}, {"ip": 7}]))],
            ),
            "Pod shop/p",
            "status.podIPs[1].ip",
            "invalid type: integer `7`, expected a string",
        ),
        // In a label map.
        (
            event("MODIFIED", &p, &[("/metadata/labels/app", json!(true))]),
            "Pod shop/p",
            "metadata.labels.app",
            "invalid type: boolean `true`, expected a string",
        ),
        // A whole field of the wrong shape.
        (
            event("ADDED", &p, &[("/spec/containers", json!({"a": 1}))]),
            "Pod shop/p",
            "spec.containers",
            "invalid type: map, expected a sequence",
        ),
        // The object before the type.
        (
            br#"{"object":{"kind":"Pod","metadata":{"namespace":"shop","name":"p"},"status":{"podIPs":[{"ip":7}]}},"type":"ADDED"}"#.to_vec(),
            "Pod shop/p",
            "status.podIPs[0].ip",
            "invalid type: integer `7`, expected a string",
        ),
        // The event's own fields.
        (
            br#"{"type":5,"object":{"kind":"Pod","metadata":{"namespace":"shop","name":"p"}}}"#.to_vec(),
            "Pod shop/p",
            "type",
            "invalid type: integer `5`, expected a string",
        ),
        (
            br#"{"type":"ADDED","object":[1]}"#.to_vec(),
            "",
            "object",
            "invalid type: sequence, expected a Kubernetes object",
        ),
        // The name itself: the object is named by its kind alone.
        (
            br#"{"type":"DELETED","object":{"kind":"CiliumEndpoint","metadata":{"namespace":"shop","name":["x"]}}}"#.to_vec(),
            "CiliumEndpoint",
            "metadata.name",
            "invalid type: sequence, expected a string",
        ),
        // A bare object (no type): read as ADDED.
        (
            br#"{"kind":"Node","metadata":{"name":"n1"},"status":{"addresses":"x"}}"#.to_vec(),
            "Node n1",
            "status.addresses",
            "invalid type: string \"x\", expected a sequence",
        ),
    ];
    for (bytes, object, field, message) in cases {
        let err = WatchEvent::from_json(&bytes).unwrap_err();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(err.code, ErrorCode::MalformedInput, "{text}");
        assert_eq!(
            (err.object.as_str(), err.field.as_str()),
            (object, field),
            "{text}"
        );
        assert!(err.message.starts_with(message), "{text}: {}", err.message);
    }
    // Object::from_json (a bare object) locates the same way.
    let err = Object::from_json(
        br#"{"kind":"CiliumIdentity","metadata":{"name":"1000"},"security-labels":{"k8s:a":1}}"#,
    )
    .unwrap_err();
    assert_eq!(
        (err.code, err.object.as_str(), err.field.as_str()),
        (
            ErrorCode::MalformedInput,
            "CiliumIdentity 1000",
            "security-labels.k8s:a"
        )
    );
    // Not JSON at all: no object, no field, the position.
    let err = WatchEvent::from_json(br#"{"type":"ADDED","object":{"kind":"Pod","#).unwrap_err();
    assert_eq!(
        (err.code, err.object.as_str(), err.field.as_str()),
        (ErrorCode::MalformedInput, "", "")
    );
    assert!(err.message.contains("line 1 column"), "{}", err.message);
}
