//! Consumer scenarios from Cilium's agent-side tests
//! (cilium_endpoint_slice_subscriber_test.go, cilium-ces.md §5/§6).

use std::net::IpAddr;

use sliceplane::consumer::{Consumer, EndpointChange};
use sliceplane::model::*;
use sliceplane::{ErrorCode, WatchEvent};

fn entry(name: &str, id: i64, ip: &str) -> CoreCiliumEndpoint {
    CoreCiliumEndpoint {
        name: name.into(),
        id,
        networking: EndpointNetworking {
            addressing: vec![AddressPair {
                ipv4: Some(ip.into()),
                ipv6: None,
            }]
            .into(),
            node: Some("192.168.0.1".into()),
        },
        ..Default::default()
    }
}

fn ces(name: &str, ns: &str, eps: Vec<CoreCiliumEndpoint>) -> Object {
    let mut s = CiliumEndpointSlice::new(name, ns);
    s.endpoints = eps;
    Object::CiliumEndpointSlice(s)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn kinds(ch: &[EndpointChange]) -> Vec<(&'static str, String, String)> {
    ch.iter()
        .map(|c| match c {
            EndpointChange::Upsert { old, new } => (
                if old.is_some() { "update" } else { "add" },
                new.name.to_string(),
                new.slice.to_string(),
            ),
            EndpointChange::Delete { old } => {
                ("delete", old.name.to_string(), old.slice.to_string())
            }
        })
        .collect()
}

fn k(v: &str, n: &str, s: &str) -> (&'static str, String, String) {
    let v: &'static str = match v {
        "add" => "add",
        "update" => "update",
        _ => "delete",
    };
    (v, n.into(), s.into())
}

#[test]
fn add_update_delete_diff() {
    let mut c = Consumer::new();
    let ch = c
        .apply(&WatchEvent::added(ces(
            "ces-1",
            "ns",
            vec![entry("a", 1000, "10.0.0.1"), entry("b", 1000, "10.0.0.2")],
        )))
        .unwrap();
    assert_eq!(
        kinds(&ch),
        vec![k("add", "a", "ces-1"), k("add", "b", "ces-1")]
    );
    // b changes identity, a leaves, c arrives.
    let ch = c
        .apply(&WatchEvent::modified(ces(
            "ces-1",
            "ns",
            vec![entry("b", 1001, "10.0.0.2"), entry("c", 1000, "10.0.0.3")],
        )))
        .unwrap();
    // Cilium's OnUpdate order: names gone, new names, changed entries.
    assert_eq!(
        kinds(&ch),
        vec![
            k("delete", "a", "ces-1"),
            k("add", "c", "ces-1"),
            k("update", "b", "ces-1")
        ]
    );
    let EndpointChange::Upsert { old, new } = &ch[2] else {
        panic!()
    };
    assert_eq!(old.as_ref().unwrap().identity, 1000);
    assert_eq!(new.identity, 1001);
    // Same content again: nothing.
    let ch = c
        .apply(&WatchEvent::modified(ces(
            "ces-1",
            "ns",
            vec![entry("b", 1001, "10.0.0.2"), entry("c", 1000, "10.0.0.3")],
        )))
        .unwrap();
    assert!(ch.is_empty());
    assert_eq!(c.lookup_ip(&ip("10.0.0.2")).unwrap().identity, 1001);
    assert!(c.lookup_ip(&ip("10.0.0.1")).is_none());
    let ch = c
        .apply(&WatchEvent::deleted(ces("ces-1", "ns", vec![])))
        .unwrap();
    assert_eq!(
        kinds(&ch),
        vec![k("delete", "b", "ces-1"), k("delete", "c", "ces-1")]
    );
    assert_eq!(c.counters().ip_cache_size, 0);
    assert_eq!(c.counters().endpoints, 0);
    assert_eq!(c.counters().upserts, 4);
    assert_eq!(c.counters().deletes, 3);
}

/// CEPTransferOnStartup: both slices arrive at start-up holding the same
/// endpoint; the newest insert is current; the old slice's delete is a no-op.
#[test]
fn cep_transfer_on_startup() {
    let mut c = Consumer::new();
    c.apply(&WatchEvent::added(ces(
        "ces-1",
        "ns",
        vec![entry("a", 1000, "10.0.0.1")],
    )))
    .unwrap();
    let ch = c
        .apply(&WatchEvent::added(ces(
            "ces-2",
            "ns",
            vec![entry("a", 1000, "10.0.0.1")],
        )))
        .unwrap();
    assert_eq!(kinds(&ch), vec![k("update", "a", "ces-2")]);
    assert_eq!(&*c.endpoint("ns", "a").unwrap().slice, "ces-2");
    // ces-1 drops it (non-current): nothing changes.
    let ch = c
        .apply(&WatchEvent::modified(ces("ces-1", "ns", vec![])))
        .unwrap();
    assert!(ch.is_empty());
    assert_eq!(c.counters().stale_deletes, 1);
    assert_eq!(
        c.lookup_ip(&ip("10.0.0.1")).unwrap().slice.as_ref(),
        "ces-2"
    );
}

/// CEPTransferViaUpdate: the endpoint moves from ces-1 to ces-2 by updates
/// in either order; it is never lost.
#[test]
fn cep_transfer_via_update_both_orders() {
    for remove_first in [false, true] {
        let mut c = Consumer::new();
        c.apply(&WatchEvent::added(ces(
            "ces-1",
            "ns",
            vec![entry("a", 1000, "10.0.0.1")],
        )))
        .unwrap();
        c.apply(&WatchEvent::added(ces(
            "ces-2",
            "ns",
            vec![entry("b", 1000, "10.0.0.2")],
        )))
        .unwrap();
        let add = WatchEvent::modified(ces(
            "ces-2",
            "ns",
            vec![entry("a", 1000, "10.0.0.1"), entry("b", 1000, "10.0.0.2")],
        ));
        let remove = WatchEvent::modified(ces("ces-1", "ns", vec![]));
        if remove_first {
            let ch = c.apply(&remove).unwrap();
            assert_eq!(kinds(&ch), vec![k("delete", "a", "ces-1")]);
            let ch = c.apply(&add).unwrap();
            assert_eq!(kinds(&ch), vec![k("add", "a", "ces-2")]);
        } else {
            let ch = c.apply(&add).unwrap();
            assert_eq!(kinds(&ch), vec![k("update", "a", "ces-2")]);
            let ch = c.apply(&remove).unwrap();
            assert!(ch.is_empty());
        }
        let a = c.endpoint("ns", "a").unwrap();
        assert_eq!(&*a.slice, "ces-2");
        assert_eq!(c.lookup_ip(&ip("10.0.0.1")).unwrap().name.as_ref(), "a");
        let snap = c.publish();
        assert_eq!(snap.slice("ces-2").unwrap().endpoints.len(), 2);
        assert!(snap.slice("ces-1").is_none());
        assert_eq!(snap.endpoint_count(), 2);
    }
}

/// deleteCEPfromCES: delete from the current copy switches to the remaining
/// one (update with the other copy's content); then deleting the last copy
/// deletes the endpoint.
#[test]
fn delete_current_switches_then_deletes() {
    let mut c = Consumer::new();
    c.apply(&WatchEvent::added(ces(
        "ces-1",
        "ns",
        vec![entry("a", 1000, "10.0.0.1")],
    )))
    .unwrap();
    // ces-2 holds a copy with another identity (mid-move).
    c.apply(&WatchEvent::added(ces(
        "ces-2",
        "ns",
        vec![entry("a", 1001, "10.0.0.1")],
    )))
    .unwrap();
    assert_eq!(c.endpoint("ns", "a").unwrap().identity, 1001);
    let ch = c
        .apply(&WatchEvent::deleted(ces("ces-2", "ns", vec![])))
        .unwrap();
    assert_eq!(kinds(&ch), vec![k("update", "a", "ces-1")]);
    let EndpointChange::Upsert { old, new } = &ch[0] else {
        panic!()
    };
    assert_eq!(old.as_ref().unwrap().identity, 1001);
    assert_eq!(new.identity, 1000);
    assert_eq!(c.lookup_ip(&ip("10.0.0.1")).unwrap().identity, 1000);
    let ch = c
        .apply(&WatchEvent::modified(ces("ces-1", "ns", vec![])))
        .unwrap();
    assert_eq!(kinds(&ch), vec![k("delete", "a", "ces-1")]);
    assert!(c.endpoint("ns", "a").is_none());
    assert!(c.lookup_ip(&ip("10.0.0.1")).is_none());
    // Deleting something unknown: nothing.
    let ch = c
        .apply(&WatchEvent::deleted(ces(
            "ces-9",
            "ns",
            vec![entry("z", 1, "10.9.9.9")],
        )))
        .unwrap();
    assert!(ch.is_empty());
}

/// cepToCESmap insert cases: new endpoint; same slice again (update); a
/// second slice (becomes current, the first copy kept).
#[test]
fn cep_to_ces_map_insert_cases() {
    let mut c = Consumer::new();
    c.apply(&WatchEvent::added(ces(
        "ces-1",
        "ns",
        vec![entry("a", 1000, "10.0.0.1")],
    )))
    .unwrap();
    assert_eq!(
        c.copies("ns", "a"),
        Some((vec!["ces-1".into()], "ces-1".into()))
    );
    c.apply(&WatchEvent::modified(ces(
        "ces-1",
        "ns",
        vec![entry("a", 1002, "10.0.0.1")],
    )))
    .unwrap();
    assert_eq!(
        c.copies("ns", "a"),
        Some((vec!["ces-1".into()], "ces-1".into()))
    );
    assert_eq!(c.endpoint("ns", "a").unwrap().identity, 1002);
    c.apply(&WatchEvent::added(ces(
        "ces-2",
        "ns",
        vec![entry("a", 1002, "10.0.0.1")],
    )))
    .unwrap();
    assert_eq!(
        c.copies("ns", "a"),
        Some((vec!["ces-1".into(), "ces-2".into()], "ces-2".into()))
    );
    // An update of the older copy makes it current again (newest insert wins).
    c.apply(&WatchEvent::modified(ces(
        "ces-1",
        "ns",
        vec![entry("a", 1003, "10.0.0.1")],
    )))
    .unwrap();
    assert_eq!(
        c.copies("ns", "a"),
        Some((vec!["ces-2".into(), "ces-1".into()], "ces-1".into()))
    );
    assert_eq!(c.endpoint("ns", "a").unwrap().identity, 1003);
}

/// cepToCESmap delete cases: unknown endpoint; unknown slice for a known
/// endpoint; non-current copy; current with and without another copy.
#[test]
fn cep_to_ces_map_delete_cases() {
    let mut c = Consumer::new();
    // Unknown endpoint in a known slice's delete: nothing.
    c.apply(&WatchEvent::added(ces(
        "ces-1",
        "ns",
        vec![entry("a", 1000, "10.0.0.1")],
    )))
    .unwrap();
    c.apply(&WatchEvent::added(ces(
        "ces-2",
        "ns",
        vec![entry("a", 1000, "10.0.0.1")],
    )))
    .unwrap();
    c.apply(&WatchEvent::added(ces(
        "ces-3",
        "ns",
        vec![entry("a", 1000, "10.0.0.1")],
    )))
    .unwrap();
    // Non-current (ces-1): nothing.
    let ch = c
        .apply(&WatchEvent::deleted(ces("ces-1", "ns", vec![])))
        .unwrap();
    assert!(ch.is_empty());
    assert_eq!(
        c.copies("ns", "a"),
        Some((vec!["ces-2".into(), "ces-3".into()], "ces-3".into()))
    );
    // Current (ces-3) with another copy: switches to ces-2 (same content: the view's slice changes).
    let ch = c
        .apply(&WatchEvent::deleted(ces("ces-3", "ns", vec![])))
        .unwrap();
    assert_eq!(kinds(&ch), vec![k("update", "a", "ces-2")]);
    // Current without another copy: delete.
    let ch = c
        .apply(&WatchEvent::deleted(ces("ces-2", "ns", vec![])))
        .unwrap();
    assert_eq!(kinds(&ch), vec![k("delete", "a", "ces-2")]);
    assert_eq!(c.copies("ns", "a"), None);
}

/// Endpoint A's IP moves to endpoint B; then A is deleted: B's entry stays.
#[test]
fn ip_owned_by_another_endpoint_is_not_deleted() {
    let mut c = Consumer::new();
    c.apply(&WatchEvent::added(ces(
        "ces-1",
        "ns",
        vec![entry("a", 1000, "10.0.0.1")],
    )))
    .unwrap();
    c.apply(&WatchEvent::added(ces(
        "ces-2",
        "ns",
        vec![entry("b", 2000, "10.0.0.1")],
    )))
    .unwrap();
    assert_eq!(c.lookup_ip(&ip("10.0.0.1")).unwrap().name.as_ref(), "b");
    let ch = c
        .apply(&WatchEvent::modified(ces("ces-1", "ns", vec![])))
        .unwrap();
    assert_eq!(kinds(&ch), vec![k("delete", "a", "ces-1")]);
    let owner = c.lookup_ip(&ip("10.0.0.1")).unwrap();
    assert_eq!((owner.name.as_ref(), owner.identity), ("b", 2000));
    // The other order: B is deleted while A still claims the IP → A takes over.
    let mut c = Consumer::new();
    c.apply(&WatchEvent::added(ces(
        "ces-1",
        "ns",
        vec![entry("a", 1000, "10.0.0.1")],
    )))
    .unwrap();
    c.apply(&WatchEvent::added(ces(
        "ces-2",
        "ns",
        vec![entry("b", 2000, "10.0.0.1")],
    )))
    .unwrap();
    c.apply(&WatchEvent::deleted(ces("ces-2", "ns", vec![])))
        .unwrap();
    assert_eq!(c.lookup_ip(&ip("10.0.0.1")).unwrap().name.as_ref(), "a");
    // A changes IP: the old one goes.
    c.apply(&WatchEvent::modified(ces(
        "ces-1",
        "ns",
        vec![entry("a", 1000, "10.0.0.7")],
    )))
    .unwrap();
    assert!(c.lookup_ip(&ip("10.0.0.1")).is_none());
    assert_eq!(c.snapshot_reader().load().version(), 0);
    let snap = c.publish();
    assert_eq!(snap.identity_of_ip(&ip("10.0.0.7")), Some(1000));
    assert_eq!(
        c.snapshot_reader().identity_of_ip(&ip("10.0.0.7")),
        Some(1000)
    );
    assert_eq!(snap.ip_count(), 1);
}

/// What rejects a whole event: another kind, a slice without a valid name
/// or namespace, JSON that is not an event. Nothing changes. (A malformed
/// entry is skipped instead: tests/consumer_cilium.rs.)
#[test]
fn rejects_other_kinds_and_bad_slices_without_change() {
    let mut c = Consumer::new();
    c.apply(&WatchEvent::added(ces(
        "ces-1",
        "ns",
        vec![entry("a", 1000, "10.0.0.1")],
    )))
    .unwrap();
    let before = c.publish();
    let ns = Namespace {
        metadata: ObjectMeta::named("ns"),
    };
    let e = c
        .apply(&WatchEvent::added(Object::Namespace(ns)))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownKind);
    let good = || vec![entry("a", 1001, "10.0.0.9")];
    let bad = [
        (
            ces("", "ns", good()),
            ErrorCode::MissingField,
            "metadata.name",
            true,
        ),
        (
            ces("Ces_1", "ns", good()),
            ErrorCode::InvalidName,
            "metadata.name",
            true,
        ),
        // A delete reads the name only: this one would delete ces-1.
        (
            ces("ces-1", "Bad NS", good()),
            ErrorCode::InvalidName,
            "namespace",
            false,
        ),
    ];
    for (obj, code, field, also_delete) in bad {
        let mut events = vec![WatchEvent::modified(obj.clone())];
        if also_delete {
            events.push(WatchEvent::deleted(obj));
        }
        for ev in events {
            let e = c.apply(&ev).unwrap_err();
            assert_eq!((e.code, e.field.as_str()), (code, field), "{e}");
        }
    }
    for json in [
        &b"{\"type\":\"ADDED\",\"object\":"[..],
        br#"{"type":"MODIFIED","object":{"kind":"CiliumEndpointSlice","metadata":{"name":"ces-1"},"namespace":"ns","endpoints":{"a":1}}}"#,
        br#"{"type":"BOOM","object":{"kind":"CiliumEndpointSlice","metadata":{"name":"ces-1"}}}"#,
    ] {
        assert!(c.apply_json(json).is_err());
    }
    let after = c.publish();
    assert!(before.same_content(&after));
    assert_eq!(after.endpoint("ns", "a").unwrap().identity, 1000);
    assert_eq!(c.counters().events_rejected, 9);
    assert_eq!(c.counters().entries_skipped, 0);
    assert!(c.drain_events().iter().any(|e| e.kind == "event-rejected"));
}

#[test]
fn json_events_and_snapshot_views() {
    let mut c = Consumer::with_max_per_slice(2);
    let j = br#"{"type":"ADDED","object":{"apiVersion":"cilium.io/v2alpha1","kind":"CiliumEndpointSlice","metadata":{"name":"ces-x"},"namespace":"web","endpoints":[{"name":"p1","id":5000,"networking":{"addressing":[{"ipv4":"10.1.0.1","ipv6":"fd00::1"}],"node":"192.168.1.1"},"encryption":{"key":3}}]}}"#;
    let ch = c.apply_json(j).unwrap();
    assert_eq!(ch.len(), 1);
    let s = c.publish();
    assert_eq!(s.version(), 1);
    let v = s.lookup_ip(&ip("fd00::1")).unwrap();
    assert_eq!(
        (
            v.identity,
            v.node_ip(),
            v.encryption_key(),
            v.namespace.as_ref()
        ),
        (5000, Some(ip("192.168.1.1")), 3, "web")
    );
    assert_eq!(s.slices_in_namespace("web").count(), 1);
    assert_eq!(s.namespace_fragmentation("web").ideal, 1);
    assert_eq!(s.identity_count(), 1);
    assert_eq!(s.namespace_count(), 1);
}
