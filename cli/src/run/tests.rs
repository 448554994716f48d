//! `run`'s sessions on lines given in the test: ops, diagnostics and the
//! server state, against the item path and the whole-slice mirror.

use super::*;
use crate::input::Item;
use proptest::prelude::*;
use sliceplane::Config;
use sliceplane::model::CiliumEndpointSlice;
use sliceplane::wire::Write as WireWrite;
use sliceplane::wire::test_support::{Junk, junk_lines, lines_of};

/// Everything a session reports.
#[derive(Default)]
struct Collect {
    ops: Vec<String>,
    diags: Vec<String>,
    encoder: LineEncoder,
}

impl Report for Collect {
    fn op(&mut self, write: &PlannedWrite) {
        let line = WireWrite::from(write).to_json_line();
        // What `run` prints is that line, byte for byte.
        assert_eq!(
            std::str::from_utf8(self.encoder.line(write)),
            Ok(line.as_str())
        );
        self.ops.push(line);
    }
    fn diag(&mut self, line: String) {
        self.diags.push(line);
    }
}

fn session() -> Session {
    let cfg = Config {
        source: Source::Ciliumendpoints,
        seed: 7,
        ..Config::default()
    };
    Session::new(Engine::new(cfg).unwrap())
}

/// File mode over `lines`: the ops and reports, and the session.
fn run_lines(lines: &[String]) -> (Collect, Session) {
    run_lines_in(session(), lines)
}

fn run_lines_in(mut s: Session, lines: &[String]) -> (Collect, Session) {
    let mut c = Collect::default();
    s.read_lines("t", lines.iter().map(|l| Ok(l.clone())), &mut c)
        .unwrap();
    s.finish_initial(&mut c).unwrap();
    (c, s)
}

/// A Node or CiliumEndpoint line the engine applies from its text
/// (`Parser::push_line_applying`) is reported and counted as the same
/// event read into an item is: the same diagnostic, the same count.
#[test]
fn events_applied_from_text_report_as_items_do() {
    let bad_node = json!({"type": "ADDED", "object": {"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "Bad_Node"}}});
    let good_cep = json!({"type": "ADDED", "object": {"apiVersion": "cilium.io/v2",
        "kind": "CiliumEndpoint", "metadata": {"namespace": "shop", "name": "p1"},
        "status": {"identity": {"id": 1001},
                   "networking": {"addressing": [{"ipv4": "10.0.0.2"}], "node": "192.168.0.1"}}}});
    let lines = [bad_node.to_string(), good_cep.to_string()];
    let (c, s) = run_lines(&lines);
    // The same events read into items and applied one by one.
    let mut want = Collect::default();
    let mut owned = session();
    let items: Vec<Item> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| Item {
            at: format!("t:{}", i + 1),
            event: sliceplane::WatchEvent::from_json(l.as_bytes()),
        })
        .collect();
    owned.apply(&items, 0, &mut want);
    owned.finish_initial(&mut want).unwrap();
    assert_eq!(c.diags.len(), 1, "{:?}", c.diags);
    assert_eq!(c.diags, want.diags);
    assert_eq!((s.rejected, c.ops.len()), (1, 1));
    assert_eq!(c.ops, want.ops);
    assert_eq!(s.engine.counters(), owned.engine.counters());
}

const NAMESPACES: [&str; 2] = ["shop", "web"];

fn entry(name: usize) -> Value {
    json!({"name": format!("p{name}"), "id": 1000 + (name % 3) as i64,
           "networking": {"addressing": [{"ipv4": format!("10.0.0.{}", name + 1)}], "node": "192.168.0.1"}})
}

/// One valid event of the generated streams.
#[derive(Debug, Clone)]
enum Ev {
    /// A CiliumEndpoint: namespace, name, identity offset, event type.
    Cep(usize, usize, i64, &'static str),
    /// A slice the server holds: index, namespace, members, event type.
    Slice(usize, usize, Vec<usize>, &'static str),
}

impl Ev {
    fn to_value(&self) -> Value {
        match self {
            Ev::Cep(ns, name, id, ty) => json!({"type": ty, "object": {
                "apiVersion": "cilium.io/v2", "kind": "CiliumEndpoint",
                "metadata": {"name": format!("p{name}"), "namespace": NAMESPACES[*ns]},
                "status": {"identity": {"id": 1000 + id},
                           "networking": {"addressing": [{"ipv4": format!("10.0.0.{}", name + 1)}],
                                          "node": "192.168.0.1"}}}}),
            Ev::Slice(i, ns, members, ty) => json!({"type": ty, "object": {
                "apiVersion": "cilium.io/v2alpha1", "kind": "CiliumEndpointSlice",
                "metadata": {"name": format!("ces-old-{i}"), "resourceVersion": format!("{}", 100 + i),
                             "uid": format!("uid-{i}")},
                "namespace": NAMESPACES[*ns],
                "endpoints": members.iter().map(|&m| entry(m)).collect::<Vec<_>>()}}),
        }
    }
}

fn ev() -> impl Strategy<Value = Ev> {
    let ty = prop_oneof![Just("ADDED"), Just("MODIFIED"), Just("DELETED")];
    prop_oneof![
        4 => (0..2usize, 0..30usize, 0..3i64, ty.clone()).prop_map(|(ns, n, id, t)| Ev::Cep(ns, n, id, t)),
        1 => (0..4usize, 0..2usize, proptest::collection::vec(0..30usize, 0..12), ty)
            .prop_map(|(i, ns, m, t)| Ev::Slice(i, ns, m, t)),
    ]
}

/// A line that is not part of any valid event: an event cut off, or
/// not JSON (the generator shared with the stream reader's tests).
fn junk() -> impl Strategy<Value = Junk> {
    sliceplane::wire::test_support::junk(ev().prop_map(|e| e.to_value()))
}

/// The mirror holds exactly the slices and identities the input says
/// the server holds: as given, newest version, deleted ones gone.
#[test]
fn the_mirror_holds_the_input_server_state() {
    let held = Ev::Slice(0, 0, vec![1, 2], "ADDED").to_value();
    let other = Ev::Slice(1, 1, vec![3], "ADDED").to_value();
    let newer = Ev::Slice(1, 1, vec![3, 4], "MODIFIED").to_value();
    let mut newer_obj = newer["object"].clone();
    newer_obj["metadata"]["resourceVersion"] = json!("900");
    let gone = Ev::Slice(2, 0, vec![], "ADDED").to_value();
    let identity = json!({"apiVersion": "cilium.io/v2", "kind": "CiliumIdentity",
        "metadata": {"name": "1000", "resourceVersion": "77", "uid": "uid-id"},
        "security-labels": {"k8s:app": "a"}});
    // The live endpoints of both slices.
    let ceps: Vec<Value> = [(0, 1), (0, 2), (1, 3), (1, 4)]
        .map(|(ns, n)| Ev::Cep(ns, n, (n % 3) as i64, "ADDED").to_value())
        .to_vec();
    let lines: Vec<String> = [
        held.clone(),
        other,
        json!({"type": "MODIFIED", "object": newer_obj}),
        gone.clone(),
        json!({"type": "DELETED", "object": gone["object"]}),
        json!({"type": "ADDED", "object": identity}),
    ]
    .iter()
    .chain(&ceps)
    .map(Value::to_string)
    .collect();
    let mut s = session();
    let mut c = Collect::default();
    s.read_lines("t", lines.iter().map(|l| Ok(l.clone())), &mut c)
        .unwrap();
    assert!(c.diags.is_empty(), "{:?}", c.diags);
    let slice = |v: &Value| -> CiliumEndpointSlice { serde_json::from_value(v.clone()).unwrap() };
    let want: Vec<(String, CiliumEndpointSlice)> = vec![
        ("ces-old-0".into(), slice(&held["object"])),
        ("ces-old-1".into(), slice(&newer_obj)),
    ];
    assert_eq!(
        s.mirror.slices.clone().into_iter().collect::<Vec<_>>(),
        want
    );
    let ids: Vec<_> = s.mirror.identities.values().collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].metadata.resource_version.as_deref(), Some("77"));
    assert_eq!(ids[0].metadata.uid.as_deref(), Some("uid-id"));
    // Once synced (and written), a late echo of an older version
    // changes nothing, in the engine as in the mirror.
    s.finish_initial(&mut c).unwrap();
    assert_eq!((s.refused, c.diags.len()), (0, 0));
    let written = s.mirror.clone();
    let stale = Ev::Slice(1, 1, vec![], "MODIFIED").to_value().to_string();
    s.read_lines("t", [Ok(stale)], &mut c).unwrap();
    assert_eq!(s.mirror, written);
    assert_eq!(s.flush(1_000_000, &mut c).unwrap(), 0);
    // Before the initial sync the last observation wins, whatever its
    // version, as in the engine: the repair applies without a conflict.
    let mut s = session();
    let mut c = Collect::default();
    let lines = [
        json!({"type": "ADDED", "object": newer_obj}),
        Ev::Slice(1, 1, vec![3], "MODIFIED").to_value(),
    ];
    let lines = lines.iter().chain(&ceps[2..]).map(|v| Ok(v.to_string()));
    s.read_lines("t", lines, &mut c).unwrap();
    assert_eq!(
        s.mirror.slices["ces-old-1"]
            .metadata
            .resource_version
            .as_deref(),
        Some("101")
    );
    s.finish_initial(&mut c).unwrap();
    assert_eq!(
        (s.refused, c.diags.len(), c.ops.len()),
        (0, 0, 1),
        "{:?}",
        c.diags
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Valid events interleaved with cut-off values and garbage lines
    /// plan exactly what the valid events alone plan; each junk line is
    /// reported once (JSON lines), at its own line.
    #[test]
    fn junk_between_events_changes_nothing(
        valid in proptest::collection::vec(ev(), 1..40),
        junks in proptest::collection::vec((0..40usize, junk()), 0..8),
        pretty in any::<bool>(),
    ) {
        let clean: Vec<String> = valid.iter().flat_map(|e| lines_of(&e.to_value(), pretty)).collect();
        let mut mixed = Vec::new();
        let mut junk_at = Vec::new();
        for (i, e) in valid.iter().enumerate() {
            for (_, j) in junks.iter().filter(|(at, _)| at % valid.len() == i) {
                junk_at.push(mixed.len() + 1);
                mixed.extend(junk_lines(j, pretty));
            }
            mixed.extend(lines_of(&e.to_value(), pretty));
        }
        let (want, want_session) = run_lines(&clean);
        let (got, got_session) = run_lines(&mixed);
        prop_assert_eq!(&got.ops, &want.ops);
        // `run`'s light server answers as the full one: same ops, same
        // diagnostics.
        let light = Session::light(session().engine);
        let (got_light, light_session) = run_lines_in(light, &mixed);
        prop_assert_eq!(&got_light.ops, &got.ops);
        prop_assert_eq!(&got_light.diags, &got.diags);
        prop_assert_eq!(light_session.refused, 0);
        prop_assert_eq!(got_session.engine.desired_slices(), want_session.engine.desired_slices());
        prop_assert_eq!(got_session.refused, 0);
        prop_assert_eq!(&got_session.mirror, &want_session.mirror);
        // The valid events alone are all accepted; each junk line or
        // block is reported once, at its own first line, in order.
        prop_assert!(want.diags.is_empty(), "{:?}", want.diags);
        prop_assert!(got.diags.iter().all(|d| d.contains(": [malformed_input]: ")), "{:?}", got.diags);
        let lines: Vec<usize> = got
            .diags
            .iter()
            .filter_map(|d| d.strip_prefix("error: t:")?.split(':').next()?.parse().ok())
            .collect();
        prop_assert_eq!(lines, junk_at, "{:?}", got.diags);
        prop_assert_eq!(got_session.rejected, junks.len());
    }
}
