//! The consumer against Cilium v1.20's agent (issue 13 item 5, item 3's
//! consumer half): no IP-cache entries without a node IP, one malformed
//! entry skipped (not the slice), Cilium's OnAdd/OnUpdate order for an IP two
//! endpoints claim, the shared-IP release option, and DELETED by name.
//! Every step checks the exact endpoint set and IP cache.

use std::collections::BTreeMap;

use sliceplane::consumer::{Consumer, ConsumerOptions, EndpointChange, SharedIpRelease};
use sliceplane::model::*;
use sliceplane::{ErrorCode, WatchEvent};

const NODE: &str = "192.168.0.1";

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
            node: Some(NODE.into()),
        },
        ..Default::default()
    }
}

fn no_node(mut e: CoreCiliumEndpoint) -> CoreCiliumEndpoint {
    e.networking.node = None;
    e
}

fn ces(name: &str, ns: &str, eps: Vec<CoreCiliumEndpoint>) -> Object {
    let mut s = CiliumEndpointSlice::new(name, ns);
    s.endpoints = eps;
    Object::CiliumEndpointSlice(s)
}

fn cilium_consumer() -> Consumer {
    Consumer::with_options(ConsumerOptions {
        shared_ip_release: SharedIpRelease::Cilium,
        ..ConsumerOptions::default()
    })
}

/// The endpoint set: namespace/name → (slice, identity).
fn endpoints(c: &mut Consumer) -> BTreeMap<String, (String, u32)> {
    c.publish()
        .endpoints()
        .map(|v| {
            (
                format!("{}/{}", v.namespace, v.name),
                (v.slice.to_string(), v.identity),
            )
        })
        .collect()
}

fn eps(list: &[(&str, &str, u32)]) -> BTreeMap<String, (String, u32)> {
    list.iter()
        .map(|(k, s, id)| (k.to_string(), (s.to_string(), *id)))
        .collect()
}

/// The IP cache: IP → (namespace/name, identity, node IP).
fn ip_cache(c: &mut Consumer) -> BTreeMap<String, (String, u32, Option<String>)> {
    let snap = c.publish();
    let out: BTreeMap<_, _> = snap
        .ip_cache()
        .map(|(ip, v)| {
            (
                ip.to_string(),
                (
                    format!("{}/{}", v.namespace, v.name),
                    v.identity,
                    v.node_ip().map(|n| n.to_string()),
                ),
            )
        })
        .collect();
    // The live lookup agrees with the published snapshot.
    for (ip, (owner, _, _)) in &out {
        let v = c.lookup_ip(&ip.parse().unwrap()).expect("live lookup");
        assert_eq!(&format!("{}/{}", v.namespace, v.name), owner);
    }
    assert_eq!(c.counters().ip_cache_size, out.len());
    out
}

fn ips(list: &[(&str, &str, u32)]) -> BTreeMap<String, (String, u32, Option<String>)> {
    list.iter()
        .map(|(ip, k, id)| (ip.to_string(), (k.to_string(), *id, Some(NODE.to_string()))))
        .collect()
}

fn kinds(ch: &[EndpointChange]) -> Vec<String> {
    ch.iter()
        .map(|c| match c {
            EndpointChange::Upsert { old: None, new } => format!("add {}", new.name),
            EndpointChange::Upsert { old: Some(_), new } => format!("update {}", new.name),
            EndpointChange::Delete { old } => format!("delete {}", old.name),
        })
        .collect()
}

// ------------------------------------------------------------ node IP

/// No node IP: live, no IP-cache entries; the node IP arrives: entries;
/// it goes again: the entries go, the endpoint stays.
#[test]
fn no_node_ip_means_live_without_ip_cache_entries() {
    let mut c = Consumer::new();
    let mut empty_node = entry("c", 1002, "10.0.0.3");
    empty_node.networking.node = Some("".into());
    let ch = c
        .apply(&WatchEvent::added(ces(
            "ces-1",
            "ns",
            vec![
                entry("a", 1000, "10.0.0.1"),
                no_node(entry("b", 1001, "10.0.0.2")),
                empty_node,
            ],
        )))
        .unwrap();
    assert_eq!(kinds(&ch), ["add a", "add b", "add c"]);
    let EndpointChange::Upsert { new, .. } = &ch[1] else {
        panic!()
    };
    // The view keeps its addresses; only the cache leaves it out.
    assert_eq!(
        new.ips().map(|i| i.to_string()).collect::<Vec<_>>(),
        ["10.0.0.2"]
    );
    assert_eq!(new.node_ip(), None);
    assert_eq!(
        endpoints(&mut c),
        eps(&[
            ("ns/a", "ces-1", 1000),
            ("ns/b", "ces-1", 1001),
            ("ns/c", "ces-1", 1002)
        ])
    );
    assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.1", "ns/a", 1000)]));
    assert_eq!(c.counters().entries_skipped, 0);

    // b's node IP arrives; a's goes.
    let ch = c
        .apply(&WatchEvent::modified(ces(
            "ces-1",
            "ns",
            vec![
                no_node(entry("a", 1000, "10.0.0.1")),
                entry("b", 1001, "10.0.0.2"),
                no_node(entry("c", 1002, "10.0.0.3")),
            ],
        )))
        .unwrap();
    // c: "" and absent are the same entry.
    assert_eq!(kinds(&ch), ["update a", "update b"]);
    assert_eq!(
        endpoints(&mut c),
        eps(&[
            ("ns/a", "ces-1", 1000),
            ("ns/b", "ces-1", 1001),
            ("ns/c", "ces-1", 1002)
        ])
    );
    assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.2", "ns/b", 1001)]));

    // Deleting an endpoint without entries: nothing else changes.
    c.apply(&WatchEvent::modified(ces(
        "ces-1",
        "ns",
        vec![entry("b", 1001, "10.0.0.2")],
    )))
    .unwrap();
    assert_eq!(endpoints(&mut c), eps(&[("ns/b", "ces-1", 1001)]));
    assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.2", "ns/b", 1001)]));
}

/// An endpoint without a node IP claims nothing: it neither takes an IP
/// from its owner nor inherits it when the owner goes.
#[test]
fn no_node_ip_claims_nothing_even_when_shared() {
    for release in [SharedIpRelease::Handover, SharedIpRelease::Cilium] {
        let mut c = Consumer::with_options(ConsumerOptions {
            shared_ip_release: release,
            ..ConsumerOptions::default()
        });
        c.apply(&WatchEvent::added(ces(
            "ces-1",
            "ns",
            vec![entry("a", 1000, "10.0.0.1")],
        )))
        .unwrap();
        c.apply(&WatchEvent::added(ces(
            "ces-2",
            "ns",
            vec![no_node(entry("b", 2000, "10.0.0.1"))],
        )))
        .unwrap();
        assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.1", "ns/a", 1000)]));
        c.apply(&WatchEvent::deleted(ces("ces-1", "ns", vec![])))
            .unwrap();
        assert_eq!(endpoints(&mut c), eps(&[("ns/b", "ces-2", 2000)]));
        assert_eq!(ip_cache(&mut c), ips(&[]), "{release:?}");
        // Its node IP arrives: now it claims.
        c.apply(&WatchEvent::modified(ces(
            "ces-2",
            "ns",
            vec![entry("b", 2000, "10.0.0.1")],
        )))
        .unwrap();
        assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.1", "ns/b", 2000)]));
    }
}

// ------------------------------------------------------------ malformed entries

fn with(mut e: CoreCiliumEndpoint, f: impl FnOnce(&mut CoreCiliumEndpoint)) -> CoreCiliumEndpoint {
    f(&mut e);
    e
}

fn port(name: &str, port: i64, protocol: &str) -> NamedPort {
    NamedPort {
        name: name.into(),
        port,
        protocol: protocol.into(),
    }
}

/// Each kind of malformed entry, as entry 1 of 3, with its code and field.
fn bad_entries() -> Vec<(CoreCiliumEndpoint, ErrorCode, &'static str)> {
    let b = || entry("b", 1001, "10.0.0.2");
    vec![
        (
            with(b(), |e| e.encryption.key = 256),
            ErrorCode::InvalidValue,
            "endpoints[1].encryption.key",
        ),
        (
            with(b(), |e| e.id = -1),
            ErrorCode::InvalidValue,
            "endpoints[1].id",
        ),
        (
            with(b(), |e| e.id = 1 << 32),
            ErrorCode::InvalidValue,
            "endpoints[1].id",
        ),
        (
            entry("b", 1001, "10.0.0.300"),
            ErrorCode::InvalidIp,
            "endpoints[1].networking.addressing[0].ipv4",
        ),
        (
            with(b(), |e| e.networking.node = Some("not-an-ip".into())),
            ErrorCode::InvalidIp,
            "endpoints[1].networking.node",
        ),
        (
            entry("", 1001, "10.0.0.2"),
            ErrorCode::MissingField,
            "endpoints[1].name",
        ),
        (
            with(b(), |e| e.named_ports.push(port("http", 80, "tcp"))),
            ErrorCode::InvalidProtocol,
            "endpoints[1].named-ports[0].protocol",
        ),
        (
            with(b(), |e| e.named_ports.push(port("http", 0, "TCP"))),
            ErrorCode::InvalidPort,
            "endpoints[1].named-ports[0].port",
        ),
    ]
}

/// ADDED [a, bad b, c]: a and c apply, b is skipped and reported.
#[test]
fn a_malformed_entry_is_skipped_and_its_neighbours_apply() {
    let cases = bad_entries();
    assert_eq!(cases.len(), 8);
    for (i, (bad, code, field)) in cases.into_iter().enumerate() {
        let mut c = Consumer::new();
        c.set_now(77);
        let ch = c
            .apply(&WatchEvent::added(ces(
                "ces-1",
                "ns",
                vec![
                    entry("a", 1000, "10.0.0.1"),
                    bad,
                    entry("c", 1002, "10.0.0.3"),
                ],
            )))
            .unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(kinds(&ch), ["add a", "add c"], "case {i}");
        assert_eq!(
            endpoints(&mut c),
            eps(&[("ns/a", "ces-1", 1000), ("ns/c", "ces-1", 1002)]),
            "case {i}"
        );
        assert_eq!(
            ip_cache(&mut c),
            ips(&[("10.0.0.1", "ns/a", 1000), ("10.0.0.3", "ns/c", 1002)]),
            "case {i}"
        );
        let n = c.counters().clone();
        assert_eq!(
            (n.entries_skipped, n.events_applied, n.events_rejected),
            (1, 1, 0),
            "case {i}"
        );
        let events = c.drain_events();
        let skipped: Vec<_> = events
            .iter()
            .filter(|e| e.kind == "entry-skipped")
            .collect();
        assert_eq!(skipped.len(), 1, "case {i}: {events:?}");
        let e = skipped[0];
        assert_eq!(e.subject, "CiliumEndpointSlice ces-1");
        assert_eq!(e.time, 77);
        assert_eq!(
            serde_json::to_value(e.severity).unwrap(),
            serde_json::json!("warning")
        );
        assert_eq!(
            serde_json::to_value(e.category).unwrap(),
            serde_json::json!("input")
        );
        assert!(
            e.message.starts_with(&format!(
                "[{}] CiliumEndpointSlice ces-1 field {field}:",
                code.as_str()
            )),
            "case {i}: {}",
            e.message
        );
        assert!(!events.iter().any(|e| e.kind == "event-rejected"));
    }
}

/// MODIFIED [a', bad b, c, d] over [a, b, c]: a updates, b (now malformed)
/// leaves the slice, c is unchanged, d is added. b comes back once valid.
#[test]
fn a_modified_with_a_bad_entry_applies_its_good_entries() {
    for (bad, _, field) in bad_entries() {
        let mut c = Consumer::new();
        c.apply(&WatchEvent::added(ces(
            "ces-1",
            "ns",
            vec![
                entry("a", 1000, "10.0.0.1"),
                entry("b", 1001, "10.0.0.2"),
                entry("c", 1002, "10.0.0.3"),
            ],
        )))
        .unwrap();
        let ch = c
            .apply(&WatchEvent::modified(ces(
                "ces-1",
                "ns",
                vec![
                    entry("a", 1100, "10.0.0.1"),
                    bad,
                    entry("c", 1002, "10.0.0.3"),
                    entry("d", 1003, "10.0.0.4"),
                ],
            )))
            .unwrap();
        // (An entry with an empty name names no endpoint: b is gone too.)
        assert_eq!(kinds(&ch), ["delete b", "add d", "update a"], "{field}");
        assert_eq!(
            endpoints(&mut c),
            eps(&[
                ("ns/a", "ces-1", 1100),
                ("ns/c", "ces-1", 1002),
                ("ns/d", "ces-1", 1003)
            ]),
            "{field}"
        );
        assert_eq!(
            ip_cache(&mut c),
            ips(&[
                ("10.0.0.1", "ns/a", 1100),
                ("10.0.0.3", "ns/c", 1002),
                ("10.0.0.4", "ns/d", 1003)
            ]),
            "{field}"
        );
        assert_eq!(c.counters().entries_skipped, 1);
        let snap = c.publish();
        let names: Vec<&str> = snap
            .slice("ces-1")
            .unwrap()
            .endpoints
            .iter()
            .map(|n| &**n)
            .collect();
        assert_eq!(names, ["a", "c", "d"]);
        // b valid again: an add.
        let ch = c
            .apply(&WatchEvent::modified(ces(
                "ces-1",
                "ns",
                vec![
                    entry("a", 1100, "10.0.0.1"),
                    entry("b", 1001, "10.0.0.2"),
                    entry("c", 1002, "10.0.0.3"),
                    entry("d", 1003, "10.0.0.4"),
                ],
            )))
            .unwrap();
        assert_eq!(kinds(&ch), ["add b"]);
        assert_eq!(ip_cache(&mut c).len(), 4);
    }
}

/// An entry turning malformed in the endpoint's current slice switches it
/// to its copy in another slice (the malformed version is not a copy).
#[test]
fn a_malformed_current_copy_falls_back_to_the_other_copy() {
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
        vec![entry("a", 1001, "10.0.0.1")],
    )))
    .unwrap();
    assert_eq!(endpoints(&mut c), eps(&[("ns/a", "ces-2", 1001)]));
    let ch = c
        .apply(&WatchEvent::modified(ces(
            "ces-2",
            "ns",
            vec![with(entry("a", 1001, "10.0.0.1"), |e| {
                e.encryption.key = 999
            })],
        )))
        .unwrap();
    assert_eq!(kinds(&ch), ["update a"]);
    assert_eq!(endpoints(&mut c), eps(&[("ns/a", "ces-1", 1000)]));
    assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.1", "ns/a", 1000)]));
    assert_eq!(
        c.copies("ns", "a"),
        Some((vec!["ces-1".into()], "ces-1".into()))
    );
}

/// Entries the typed reader cannot decode at all (a string identity, an
/// identity beyond i64, a port that is not a number) cost only themselves
/// through `apply_json`.
#[test]
fn undecodable_entries_in_json_are_skipped() {
    let mut c = Consumer::new();
    let ev = |t: &str, eps: &str| {
        format!(
            r#"{{"type":"{t}","object":{{"apiVersion":"cilium.io/v2alpha1","kind":"CiliumEndpointSlice","metadata":{{"name":"ces-1"}},"namespace":"shop","endpoints":[{eps}]}}}}"#
        )
    };
    let good = |n: &str, ip: &str| {
        format!(
            r#"{{"name":"{n}","id":1000,"networking":{{"addressing":[{{"ipv4":"{ip}"}}],"node":"{NODE}"}}}}"#
        )
    };
    let bad = [
        r#"{"name":"x","id":"three hundred","networking":{"addressing":[{"ipv4":"10.1.0.9"}],"node":"192.168.0.1"}}"#,
        r#"{"name":"y","id":18446744073709551616,"networking":{"addressing":[{"ipv4":"10.1.0.8"}],"node":"192.168.0.1"}}"#,
        r#"{"name":"z","id":1,"named-ports":[{"name":"http","port":"eighty","protocol":"TCP"}]}"#,
        r#"7"#,
    ];
    let body = format!(
        "{},{},{},{},{},{}",
        good("a", "10.1.0.1"),
        bad[0],
        bad[1],
        good("b", "10.1.0.2"),
        bad[2],
        bad[3]
    );
    let ch = c.apply_json(ev("ADDED", &body).as_bytes()).unwrap();
    assert_eq!(kinds(&ch), ["add a", "add b"]);
    assert_eq!(
        endpoints(&mut c),
        eps(&[("shop/a", "ces-1", 1000), ("shop/b", "ces-1", 1000)])
    );
    assert_eq!(
        ip_cache(&mut c),
        ips(&[("10.1.0.1", "shop/a", 1000), ("10.1.0.2", "shop/b", 1000)])
    );
    assert_eq!(c.counters().entries_skipped, 4);
    let fields: Vec<String> = c
        .drain_events()
        .into_iter()
        .filter(|e| e.kind == "entry-skipped")
        .map(|e| e.message.split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        [1, 2, 4, 5]
            .map(|i| format!("[malformed_input] CiliumEndpointSlice ces-1 field endpoints[{i}]"))
    );
    // The same slice through the typed path gives the same state.
    let mut typed = Consumer::new();
    typed
        .apply(&WatchEvent::added(ces(
            "ces-1",
            "shop",
            vec![entry("a", 1000, "10.1.0.1"), entry("b", 1000, "10.1.0.2")],
        )))
        .unwrap();
    assert!(typed.publish().same_content(&c.publish()));
    // A MODIFIED whose only valid entry is b: a leaves.
    let ch = c
        .apply_json(ev("MODIFIED", &format!("{},{}", bad[0], good("b", "10.1.0.2"))).as_bytes())
        .unwrap();
    assert_eq!(kinds(&ch), ["delete a"]);
    assert_eq!(c.counters().entries_skipped, 5);
    assert_eq!(c.counters().events_rejected, 0);
}

// ------------------------------------------------------------ order

/// ADDED: the last entry in array order owns an IP two entries claim (not
/// the last in name order).
#[test]
fn added_last_entry_in_array_order_wins() {
    for (order, owner) in [(["b", "a"], "ns/a"), (["a", "b"], "ns/b")] {
        let mut c = Consumer::new();
        let ch = c
            .apply(&WatchEvent::added(ces(
                "ces-1",
                "ns",
                order
                    .iter()
                    .map(|n| entry(n, if *n == "a" { 1000 } else { 2000 }, "10.0.0.1"))
                    .collect(),
            )))
            .unwrap();
        assert_eq!(kinds(&ch), order.map(|n| format!("add {n}")));
        let id = if owner == "ns/a" { 1000 } else { 2000 };
        assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.1", owner, id)]));
        assert_eq!(endpoints(&mut c).len(), 2);
        // A repeated name counts once, at its last position.
        let mut c = Consumer::new();
        c.apply(&WatchEvent::added(ces(
            "ces-1",
            "ns",
            vec![
                entry(order[1], 3000, "10.0.0.1"),
                entry(order[0], 1000, "10.0.0.1"),
                entry(order[1], 2000, "10.0.0.1"),
            ],
        )))
        .unwrap();
        assert_eq!(
            ip_cache(&mut c),
            ips(&[("10.0.0.1", &format!("ns/{}", order[1]), 2000)])
        );
    }
}

/// MODIFIED: names gone first, then added entries, then changed ones
/// (Cilium's OnUpdate), each pass in array order: a changed entry owns an
/// IP it shares with an added one, wherever it sits in the array.
#[test]
fn modified_changed_entries_apply_after_added_ones() {
    for array in [["a", "b"], ["b", "a"]] {
        let mut c = Consumer::new();
        c.apply(&WatchEvent::added(ces(
            "ces-1",
            "ns",
            vec![entry("a", 1000, "10.0.0.9"), entry("z", 3000, "10.0.0.5")],
        )))
        .unwrap();
        // a changes to 10.0.0.1, b arrives on 10.0.0.1, z leaves.
        let ch = c
            .apply(&WatchEvent::modified(ces(
                "ces-1",
                "ns",
                array
                    .iter()
                    .map(|n| match *n {
                        "a" => entry("a", 1000, "10.0.0.1"),
                        _ => entry("b", 2000, "10.0.0.1"),
                    })
                    .collect(),
            )))
            .unwrap();
        assert_eq!(kinds(&ch), ["delete z", "add b", "update a"]);
        assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.1", "ns/a", 1000)]));
        assert_eq!(
            endpoints(&mut c),
            eps(&[("ns/a", "ces-1", 1000), ("ns/b", "ces-1", 2000)])
        );
    }
    // Within the added pass, array order: the last added entry wins.
    let mut c = Consumer::new();
    c.apply(&WatchEvent::added(ces(
        "ces-1",
        "ns",
        vec![entry("m", 1, "10.0.0.7")],
    )))
    .unwrap();
    let ch = c
        .apply(&WatchEvent::modified(ces(
            "ces-1",
            "ns",
            vec![
                entry("m", 1, "10.0.0.7"),
                entry("y", 2000, "10.0.0.1"),
                entry("x", 1000, "10.0.0.1"),
            ],
        )))
        .unwrap();
    assert_eq!(kinds(&ch), ["add y", "add x"]);
    assert_eq!(
        ip_cache(&mut c),
        ips(&[("10.0.0.1", "ns/x", 1000), ("10.0.0.7", "ns/m", 1)])
    );
}

// ------------------------------------------------------------ shared IPs

/// a (ces-1) and b (ces-2, upserted last) claim one IP; b, its owner, is
/// deleted. Handover: a takes the entry. Cilium: the entry goes, a stays
/// live, and a's next upsert claims the IP again.
#[test]
fn shared_ip_release_handover_and_cilium() {
    for release in [SharedIpRelease::Handover, SharedIpRelease::Cilium] {
        let mut c = Consumer::with_options(ConsumerOptions {
            shared_ip_release: release,
            ..ConsumerOptions::default()
        });
        assert_eq!(c.options().shared_ip_release, release);
        c.apply(&WatchEvent::added(ces(
            "ces-1",
            "ns",
            vec![entry("a", 1000, "10.0.0.1"), entry("p", 1, "10.0.0.8")],
        )))
        .unwrap();
        c.apply(&WatchEvent::added(ces(
            "ces-2",
            "ns",
            vec![entry("b", 2000, "10.0.0.1")],
        )))
        .unwrap();
        assert_eq!(
            ip_cache(&mut c),
            ips(&[("10.0.0.1", "ns/b", 2000), ("10.0.0.8", "ns/p", 1)])
        );
        let ch = c
            .apply(&WatchEvent::deleted(ces("ces-2", "ns", vec![])))
            .unwrap();
        assert_eq!(kinds(&ch), ["delete b"]);
        assert_eq!(
            endpoints(&mut c),
            eps(&[("ns/a", "ces-1", 1000), ("ns/p", "ces-1", 1)])
        );
        let want = match release {
            SharedIpRelease::Handover => {
                ips(&[("10.0.0.1", "ns/a", 1000), ("10.0.0.8", "ns/p", 1)])
            }
            SharedIpRelease::Cilium => ips(&[("10.0.0.8", "ns/p", 1)]),
        };
        assert_eq!(ip_cache(&mut c), want, "{release:?}");
        // a changes: its upsert claims the IP in both modes.
        c.apply(&WatchEvent::modified(ces(
            "ces-1",
            "ns",
            vec![entry("a", 1001, "10.0.0.1"), entry("p", 1, "10.0.0.8")],
        )))
        .unwrap();
        assert_eq!(
            ip_cache(&mut c),
            ips(&[("10.0.0.1", "ns/a", 1001), ("10.0.0.8", "ns/p", 1)])
        );
        // Deleting a non-owner claimant never touches the entry (both modes).
        c.apply(&WatchEvent::added(ces(
            "ces-3",
            "ns",
            vec![entry("q", 5, "10.0.0.8")],
        )))
        .unwrap();
        c.apply(&WatchEvent::modified(ces(
            "ces-1",
            "ns",
            vec![entry("a", 1001, "10.0.0.1"), entry("p", 2, "10.0.0.8")],
        )))
        .unwrap();
        assert_eq!(
            ip_cache(&mut c),
            ips(&[("10.0.0.1", "ns/a", 1001), ("10.0.0.8", "ns/p", 2)])
        );
        c.apply(&WatchEvent::deleted(ces("ces-3", "ns", vec![])))
            .unwrap();
        assert_eq!(
            ip_cache(&mut c),
            ips(&[("10.0.0.1", "ns/a", 1001), ("10.0.0.8", "ns/p", 2)])
        );
    }
}

/// In Cilium mode the forgotten claimant does not come back by itself when
/// a third endpoint takes the IP and goes.
#[test]
fn cilium_release_forgets_the_other_claimants() {
    let mut c = cilium_consumer();
    for (slice, name, id) in [
        ("ces-1", "a", 1000),
        ("ces-2", "b", 2000),
        ("ces-3", "d", 4000),
    ] {
        c.apply(&WatchEvent::added(ces(
            slice,
            "ns",
            vec![entry(name, id, "10.0.0.1")],
        )))
        .unwrap();
    }
    assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.1", "ns/d", 4000)]));
    c.apply(&WatchEvent::deleted(ces("ces-3", "ns", vec![])))
        .unwrap();
    assert_eq!(ip_cache(&mut c), ips(&[]));
    c.apply(&WatchEvent::deleted(ces("ces-2", "ns", vec![])))
        .unwrap();
    assert_eq!(ip_cache(&mut c), ips(&[]));
    assert_eq!(endpoints(&mut c), eps(&[("ns/a", "ces-1", 1000)]));
    // Handover walks back through the claimants instead.
    let mut h = Consumer::new();
    for (slice, name, id) in [
        ("ces-1", "a", 1000),
        ("ces-2", "b", 2000),
        ("ces-3", "d", 4000),
    ] {
        h.apply(&WatchEvent::added(ces(
            slice,
            "ns",
            vec![entry(name, id, "10.0.0.1")],
        )))
        .unwrap();
    }
    h.apply(&WatchEvent::deleted(ces("ces-3", "ns", vec![])))
        .unwrap();
    assert_eq!(ip_cache(&mut h), ips(&[("10.0.0.1", "ns/b", 2000)]));
    h.apply(&WatchEvent::deleted(ces("ces-2", "ns", vec![])))
        .unwrap();
    assert_eq!(ip_cache(&mut h), ips(&[("10.0.0.1", "ns/a", 1000)]));
}

#[test]
fn shared_ip_release_names() {
    assert_eq!(SharedIpRelease::default(), SharedIpRelease::Handover);
    assert_eq!(ConsumerOptions::default().max_per_slice, 100);
    for r in [SharedIpRelease::Handover, SharedIpRelease::Cilium] {
        assert_eq!(SharedIpRelease::parse(r.as_str()).unwrap(), r);
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            serde_json::json!(r.as_str())
        );
    }
    let e = SharedIpRelease::parse("Cilium").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidValue);
}

// ------------------------------------------------------------ DELETED

/// A DELETED removes what the consumer's copy of the slice held, whatever
/// its body says: other entries, invalid ones, another namespace, none.
#[test]
fn deleted_slice_removes_the_stored_endpoints_whatever_the_body() {
    let setup = |c: &mut Consumer| {
        c.apply(&WatchEvent::added(ces(
            "ces-1",
            "ns",
            vec![
                entry("a", 1000, "10.0.0.1"),
                no_node(entry("b", 1001, "10.0.0.2")),
            ],
        )))
        .unwrap();
        c.apply(&WatchEvent::added(ces(
            "ces-2",
            "ns",
            vec![entry("c", 1002, "10.0.0.3")],
        )))
        .unwrap();
    };
    let typed_bodies = [
        ces("ces-1", "ns", vec![]),
        ces("ces-1", "other", vec![entry("c", 1002, "10.0.0.3")]),
        ces(
            "ces-1",
            "Not A Namespace",
            vec![
                entry("", -5, "nope"),
                with(entry("a", 1, "x"), |e| e.encryption.key = 300),
            ],
        ),
    ];
    for body in typed_bodies {
        let mut c = Consumer::new();
        setup(&mut c);
        let ch = c.apply(&WatchEvent::deleted(body.clone())).unwrap();
        assert_eq!(kinds(&ch), ["delete a", "delete b"], "{body:?}");
        assert_eq!(endpoints(&mut c), eps(&[("ns/c", "ces-2", 1002)]));
        assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.3", "ns/c", 1002)]));
        let snap = c.publish();
        assert!(snap.slice("ces-1").is_none());
        assert_eq!(c.counters().slices, 1);
        assert_eq!(c.counters().entries_skipped, 0);
    }
    let json_bodies = [
        r#"{"type":"DELETED","object":{"kind":"CiliumEndpointSlice","metadata":{"name":"ces-1"}}}"#,
        r#"{"type":"DELETED","object":{"apiVersion":"cilium.io/v2alpha1","kind":"CiliumEndpointSlice","metadata":{"name":"ces-1","resourceVersion":"9"},"namespace":7,"endpoints":"garbage"}}"#,
        r#"{"type":"DELETED","object":{"kind":"CiliumEndpointSlice","metadata":{"name":"ces-1"},"namespace":"ns","endpoints":[{"name":"a","id":"x"},{"name":"zz","id":1}]}}"#,
    ];
    for body in json_bodies {
        let mut c = Consumer::new();
        setup(&mut c);
        let ch = c
            .apply_json(body.as_bytes())
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(kinds(&ch), ["delete a", "delete b"], "{body}");
        assert_eq!(endpoints(&mut c), eps(&[("ns/c", "ces-2", 1002)]));
        assert_eq!(ip_cache(&mut c), ips(&[("10.0.0.3", "ns/c", 1002)]));
        assert_eq!(c.counters().events_rejected, 0);
        // Deleting it again, or a slice never seen: nothing.
        assert!(c.apply_json(body.as_bytes()).unwrap().is_empty());
    }
    // A DELETED still needs a name.
    let mut c = Consumer::new();
    setup(&mut c);
    let e = c
        .apply_json(br#"{"type":"DELETED","object":{"kind":"CiliumEndpointSlice","metadata":{}}}"#)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingField);
    assert_eq!(endpoints(&mut c).len(), 3);
}
