//! Property: `Engine::apply_json` (which reads Pod and CiliumEndpoint
//! events borrowed, `model/event/borrowed.rs`) gives the same result, the
//! same error, the same counters, stats, events, desired slices and
//! identities as the owned path (`WatchEvent::from_json`, then
//! `Engine::apply`; unreadable input counted), for random events — valid,
//! rejected by validation, of the wrong JSON type, with duplicate or
//! unsorted keys, escapes, `null`s, other kinds and event types — and for
//! random byte mutations of them; and the same lines as one batch
//! (`wire::apply_engine_batch`) against the stream reader's events applied
//! the owned way.

mod common;

use common::*;
use proptest::prelude::*;
use sliceplane::config::{Shard, SliceMode, Source};
use sliceplane::wire::{EventReader, Rejected};
use sliceplane::{Engine, WatchEvent};

/// A JSON fragment from a list of alternatives: mostly the first (valid)
/// one, so that many events are valid and take the borrowed
/// path.
fn one(alts: &[&'static str]) -> BoxedStrategy<String> {
    let first = alts[0].to_string();
    prop_oneof![
        12 => Just(first),
        1 => prop::sample::select(alts.to_vec()).prop_map(str::to_string),
    ]
    .boxed()
}

/// An object of most of `fields` (`"key":value`), in any order; now and
/// then a field comes twice, or one the engine does not read, or one it
/// reads for another kind, is added.
fn object(fields: Vec<BoxedStrategy<String>>) -> BoxedStrategy<String> {
    let n = fields.len();
    (
        fields,
        prop::collection::vec(0..24u8, n),
        any::<prop::sample::Index>(),
        0..64u8,
    )
        .prop_map(|(fields, keep, dup, extra)| {
            let mut parts: Vec<String> = fields
                .into_iter()
                .zip(keep)
                .filter(|(_, k)| *k != 0)
                .map(|(f, _)| f)
                .collect();
            if extra == 0 && !parts.is_empty() {
                let i = dup.index(parts.len());
                parts.push(parts[i].clone());
            }
            if extra == 9 {
                parts.push(r#""namespace":"a""#.into());
            }
            if extra < 8 {
                parts.push(r#""unknown":{"a":[1,2.5e3,true,null,"x\"y"]}"#.into());
            }
            parts
        })
        .prop_shuffle()
        .prop_map(|parts| format!("{{{}}}", parts.join(",")))
        .boxed()
}

fn field(key: &'static str, value: BoxedStrategy<String>) -> BoxedStrategy<String> {
    value.prop_map(move |v| format!("\"{key}\":{v}")).boxed()
}

fn array(item: BoxedStrategy<String>, max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(item, 0..=max)
        .prop_map(|v| format!("[{}]", v.join(",")))
        .boxed()
}

fn labels() -> BoxedStrategy<String> {
    // Any keys and values, in any order, duplicates too.
    let pair = (
        one(&[
            "app",
            "tier",
            "zone",
            "k8s.io/name",
            "bad key",
            "-x",
            "app\\u0062",
        ]),
        one(&["\"web\"", "\"db\"", "\"\"", "\"bad value!\"", "1", "null"]),
    )
        .prop_map(|(k, v)| format!("\"{k}\":{v}"));
    let any_pairs = prop::collection::vec(pair, 0..4).prop_map(|v| v.join(","));
    // Valid labels, sorted by key (as the API server writes them).
    let sorted = prop::collection::btree_map(
        prop::sample::select(vec!["app", "k8s.io/name", "tier", "version", "z"]),
        prop::sample::select(vec!["web", "db", "", "v1"]),
        0..5,
    )
    .prop_map(|m| {
        m.iter()
            .map(|(k, v)| format!("\"{k}\":\"{v}\""))
            .collect::<Vec<_>>()
            .join(",")
    });
    prop_oneof![4 => sorted, 1 => any_pairs]
        .prop_map(|v| format!("{{{v}}}"))
        .boxed()
}

fn metadata() -> BoxedStrategy<String> {
    object(vec![
        field(
            "name",
            one(&[
                "\"p0\"",
                "\"n1\"",
                "\"p1\"",
                "\"p2\"",
                "\"Bad_Name\"",
                "\"\"",
                "null",
                "7",
            ]),
        ),
        field(
            "namespace",
            one(&[
                "\"a\"",
                "\"b\"",
                "\"a\"",
                "\"\"",
                "null",
                "\"A-\"",
                "\"\\u0061\"",
            ]),
        ),
        field("labels", labels()),
        field("annotations", labels()),
        field("uid", one(&["\"u-1\"", "1", "null"])),
        field("resourceVersion", one(&["\"5\"", "5"])),
        field(
            "deletionTimestamp",
            one(&["\"2026-01-01T00:00:00Z\"", "null", "{}"]),
        ),
        field(
            "ownerReferences",
            one(&[
                r#"[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u"}]"#,
                r#"[{"name":1}]"#,
                "[]",
                "{}",
            ]),
        ),
    ])
}

fn port() -> BoxedStrategy<String> {
    object(vec![
        field(
            "name",
            one(&[
                "\"http\"",
                "\"\"",
                "\"HTTP\"",
                "\"a--b\"",
                "null",
                "\"metrics\"",
            ]),
        ),
        field(
            "containerPort",
            one(&["80", "0", "70000", "8080.0", "\"80\"", "-1", "9090", "1e2"]),
        ),
        field(
            "protocol",
            one(&[
                "\"TCP\"", "\"UDP\"", "\"tcp\"", "null", "\"SCTP\"", "\"ICMP\"",
            ]),
        ),
    ])
}

fn pod_spec() -> BoxedStrategy<String> {
    let container = object(vec![
        field("name", one(&["\"app\"", "1"])),
        field("ports", array(port(), 2)),
    ]);
    object(vec![
        field(
            "nodeName",
            one(&["\"n1\"", "\"n2\"", "\"\"", "\"N_1\"", "null"]),
        ),
        field(
            "serviceAccountName",
            one(&["\"sa\"", "\"\"", "\"Bad SA\"", "null"]),
        ),
        field("hostNetwork", one(&["true", "false", "\"yes\""])),
        field(
            "addresses",
            one(&[
                r#"[{"type":"InternalIP","ip":"10.1.0.1"}]"#,
                "[]",
                r#"[{"type":"InternalIP","ip":"bad"}]"#,
                r#"[{"type":1}]"#,
            ]),
        ),
        field(
            "encryption",
            one(&["{\"key\":1}", "{\"key\":300}", "null", "{\"key\":0}"]),
        ),
        field("containers", array(container, 2)),
    ])
}

fn ip() -> BoxedStrategy<String> {
    one(&[
        "\"10.0.0.1\"",
        "\"10.0.0.2\"",
        "\"fd00::1\"",
        "\"bad\"",
        "\"\"",
        "\"010.0.0.1\"",
        "null",
    ])
}

fn pod_status() -> BoxedStrategy<String> {
    let pod_ip = object(vec![field("ip", ip())]);
    object(vec![
        field(
            "phase",
            one(&["\"Running\"", "\"Succeeded\"", "\"Failed\"", "null"]),
        ),
        field("podIP", ip()),
        field("podIPs", array(pod_ip, 3)),
        field("hostIP", ip()),
        field(
            "addresses",
            one(&[
                r#"[{"type":"InternalIP","address":"10.1.0.2"}]"#,
                r#"[{"type":"ExternalIP","address":"x"}]"#,
                r#"[{"type":"InternalIP","address":"bad"}]"#,
                "[1]",
            ]),
        ),
    ])
}

fn cep_status() -> BoxedStrategy<String> {
    let identity = object(vec![
        field(
            "id",
            one(&["1000", "1001", "0", "5000000000", "\"1\"", "-1"]),
        ),
        field(
            "labels",
            one(&[
                "[]",
                "[\"k8s:app=web\"]",
                "[1]",
                "[\"k8s:app=db\",\"k8s:x=y\"]",
            ]),
        ),
    ]);
    let pair = object(vec![field("ipv4", ip()), field("ipv6", ip())]);
    let networking = object(vec![
        field("addressing", array(pair, 2)),
        field("node", ip()),
    ]);
    let named = object(vec![
        field("name", one(&["\"http\"", "\"\"", "\"x\"", "1"])),
        field("port", one(&["80", "0", "70000", "\"80\""])),
        field(
            "protocol",
            one(&["\"TCP\"", "\"\"", "\"ICMP\"", "\"tcp\"", "null"]),
        ),
    ]);
    object(vec![
        field("identity", identity),
        field("networking", networking),
        field(
            "encryption",
            one(&[
                "{\"key\":0}",
                "{\"key\":1}",
                "{\"key\":300}",
                "{\"key\":\"1\"}",
                "null",
            ]),
        ),
        field("named-ports", array(named, 2)),
        field(
            "service-account",
            one(&["\"sa\"", "\"\"", "\"Bad SA\"", "null"]),
        ),
    ])
}

fn kubernetes_object(pods: bool) -> BoxedStrategy<String> {
    // `kind` and `apiVersion`, mostly a pair that goes together.
    let kind_api = |kind: &'static str, api: &'static str| {
        Just(format!("\"kind\":\"{kind}\",\"apiVersion\":\"{api}\""))
    };
    let (endpoint, status) = if pods {
        (
            kind_api("Pod", "v1"),
            prop_oneof![4 => pod_status(), 1 => cep_status()].boxed(),
        )
    } else {
        (
            kind_api("CiliumEndpoint", "cilium.io/v2"),
            prop_oneof![4 => cep_status(), 1 => pod_status()].boxed(),
        )
    };
    let any_kind = (
        field(
            "kind",
            one(&[
                "\"Pod\"",
                "\"CiliumEndpoint\"",
                "\"Service\"",
                "\"Node\"",
                "null",
                "1",
            ]),
        ),
        field("apiVersion", one(&["\"v1\"", "\"cilium.io/v2\"", "\"v2\""])),
    )
        .prop_map(|(k, a)| format!("{k},{a}"));
    let kind = prop_oneof![
        12 => endpoint,
        1 => kind_api("Namespace", "v1"),
        1 => kind_api("Node", "v1"),
        1 => kind_api("CiliumNode", "cilium.io/v2"),
        2 => any_kind,
    ]
    .boxed();
    object(vec![
        kind,
        field("metadata", metadata()),
        field("spec", pod_spec()),
        field("status", status),
    ])
}

fn event(pods: bool) -> BoxedStrategy<String> {
    let typ = one(&[
        "\"ADDED\"",
        "\"MODIFIED\"",
        "\"ADDED\"",
        "\"DELETED\"",
        "\"BOOKMARK\"",
        "null",
    ]);
    prop_oneof![
        8 => object(vec![
            field("type", typ.clone()),
            field("object", kubernetes_object(pods)),
        ]),
        1 => kubernetes_object(pods),
        1 => (typ, kubernetes_object(pods)).prop_map(|(t, o)| format!(" {{ \"type\" : {t} ,\n\"object\":{o} }} ")),
    ]
    .boxed()
}

/// A byte mutation: delete, insert or replace at a position.
fn mutate(mut bytes: Vec<u8>, at: prop::sample::Index, op: u8, with: u8) -> Vec<u8> {
    const CHARS: &[u8] = b"\"\\{}[],:0-.en \x01\xc3\xa9\xffa";
    let c = CHARS[usize::from(with) % CHARS.len()];
    if bytes.is_empty() {
        return vec![c];
    }
    let i = at.index(bytes.len());
    match op % 3 {
        0 => {
            bytes.remove(i);
        }
        1 => bytes.insert(i, c),
        _ => bytes[i] = c,
    }
    bytes
}

fn line(pods: bool) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => event(pods).prop_map(String::into_bytes),
        1 => (event(pods), any::<prop::sample::Index>(), any::<u8>(), any::<u8>())
            .prop_map(|(e, at, op, with)| mutate(e.into_bytes(), at, op, with)),
    ]
    .boxed()
}

/// The owned path, as `apply_json` was before the borrowed reading.
fn apply_owned(e: &mut Engine, bytes: &[u8], now: u64) -> sliceplane::Result<()> {
    let ev = WatchEvent::from_json(bytes).inspect_err(|_| e.count_unreadable_input())?;
    e.apply(&ev, now)
}

fn check(source: Source, mode: SliceMode, sync_at: usize, shards: bool, lines: &[Vec<u8>]) {
    let mut c = config(source, mode, 2);
    if shards {
        c.shard = Shard { index: 1, count: 2 };
    }
    let mut ours = Engine::new(c.clone()).unwrap();
    let mut theirs = Engine::new(c).unwrap();
    for (i, l) in lines.iter().enumerate() {
        let now = i as u64 * 10;
        if i == sync_at {
            ours.initial_sync_done(now);
            theirs.initial_sync_done(now);
        }
        let a = ours.apply_json(l, now);
        let b = apply_owned(&mut theirs, l, now);
        let text = String::from_utf8_lossy(l);
        assert_eq!(a, b, "{text}");
        assert_eq!(ours.counters(), theirs.counters(), "{text}");
        assert_eq!(ours.stats(), theirs.stats(), "{text}");
    }
    assert_eq!(ours.desired_slices(), theirs.desired_slices());
    assert_eq!(ours.desired_identities(), theirs.desired_identities());
    assert_eq!(ours.drain_events(), theirs.drain_events());
    let now = lines.len() as u64 * 10 + 5000;
    assert_eq!(ours.flush(now), theirs.flush(now));
}

/// The lines as one batch (`wire::apply_engine_batch`, which applies a
/// whole-line event through the borrowed reading) against every event the
/// stream reader reads, applied the owned way, one by one.
fn check_batch(source: Source, mode: SliceMode, lines: &[Vec<u8>]) {
    let c = config(source, mode, 2);
    let mut ours = Engine::new(c.clone()).unwrap();
    let mut theirs = Engine::new(c).unwrap();
    ours.initial_sync_done(0);
    theirs.initial_sync_done(0);
    let batch: Vec<u8> = lines.join(&b'\n');
    let got = sliceplane::wire::apply_engine_batch(&mut ours, &batch, 5);
    let mut want = Vec::new();
    for ev in EventReader::read_all(&batch) {
        let r = match &ev.event {
            Ok(text) => apply_owned(&mut theirs, text.as_bytes(), 5),
            Err(e) => {
                theirs.count_unreadable_input();
                Err(e.clone())
            }
        };
        if let Err(e) = r {
            want.push(Rejected::of(&ev, &e));
        }
    }
    let text = String::from_utf8_lossy(&batch);
    assert_eq!(got, want, "{text}");
    assert_eq!(ours.counters(), theirs.counters(), "{text}");
    assert_eq!(ours.stats(), theirs.stats(), "{text}");
    assert_eq!(ours.desired_slices(), theirs.desired_slices());
    assert_eq!(ours.drain_events(), theirs.drain_events());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn borrowed_and_owned_ingest_agree(
        (pods, lines) in any::<bool>().prop_flat_map(|pods| {
            (Just(pods), prop::collection::vec(line(pods), 1..10))
        }),
        identity_mode in any::<bool>(),
        shards in any::<bool>(),
        sync_at in 0..6usize,
    ) {
        let source = if pods { Source::Pods } else { Source::Ciliumendpoints };
        let mode = if identity_mode { SliceMode::Identity } else { SliceMode::Fcfs };
        check(source, mode, sync_at, shards, &lines);
        check_batch(source, mode, &lines);
    }
}

/// The usual events (sorted keys, `object` before `type`, as the bench's
/// lines are) do take the borrowed path, and agree.
#[test]
fn usual_events_agree() {
    let pod = r#"{"object":{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web","tier":"db"},"name":"p0","namespace":"a","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u"}],"resourceVersion":"1","uid":"u1"},"spec":{"containers":[{"name":"app","ports":[{"containerPort":8080,"name":"http","protocol":"TCP"}]}],"nodeName":"n1","serviceAccountName":"sa"},"status":{"hostIP":"172.16.0.1","phase":"Running","podIP":"10.0.0.1","podIPs":[{"ip":"10.0.0.1"}]}},"type":"ADDED"}"#;
    let cep = r#"{"object":{"apiVersion":"cilium.io/v2","kind":"CiliumEndpoint","metadata":{"labels":{"app":"api"},"name":"c0","namespace":"a","resourceVersion":"1"},"status":{"encryption":{"key":1},"identity":{"id":263,"labels":["k8s:app=api"]},"named-ports":[{"name":"http","port":8080,"protocol":"TCP"}],"networking":{"addressing":[{"ipv4":"10.0.0.145"}],"node":"172.16.0.145"},"service-account":"api-sa"}},"type":"ADDED"}"#;
    for (source, line) in [(Source::Pods, pod), (Source::Ciliumendpoints, cep)] {
        for mode in [SliceMode::Fcfs, SliceMode::Identity] {
            check(source, mode, 0, false, &[line.as_bytes().to_vec()]);
            check(source, mode, 1, false, &[line.as_bytes().to_vec()]);
        }
    }
}
