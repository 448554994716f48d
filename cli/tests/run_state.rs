//! `sliceplane run` keeps the server state and the valid events at the
//! edges (issue 13, items 1 and 2), in file mode and on a live pipe:
//!
//! - the CiliumEndpointSlices and CiliumIdentities in the input are what the
//!   in-memory server holds, so the printed ops apply cleanly, in order, to
//!   a [`Mirror`] seeded with the input's server state (replayed here from
//!   the printed JSON, independently of the binary);
//! - a cut-off value or a garbage line never swallows the valid events
//!   around it, and each is reported once, at its own line.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::{Value, json};
use sliceplane::WatchEvent;
use sliceplane::mirror::Mirror;
use sliceplane::model::{CiliumEndpointSlice, CiliumIdentity};
use sliceplane::plan::{Outcome, Preconditions, WriteOp};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sliceplane")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tmp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("sliceplane-run-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// A config whose slices are written as soon as they change.
fn no_delay() -> String {
    tmp("no-delay.yaml", "write:\n  syncDelayMs: 0\n")
}

// ------------------------------------------------------------------ inputs

const NODE: &str = "192.168.0.1";

fn ip(i: usize) -> String {
    format!("10.0.{}.{}", i / 250, i % 250 + 1)
}

fn entry(i: usize, id: i64) -> Value {
    json!({"name": format!("p{i}"), "id": id,
           "networking": {"addressing": [{"ipv4": ip(i)}], "node": NODE}})
}

fn slice(name: &str, ns: &str, rv: &str, entries: Vec<Value>) -> Value {
    json!({"apiVersion": "cilium.io/v2alpha1", "kind": "CiliumEndpointSlice",
           "metadata": {"name": name, "resourceVersion": rv, "uid": format!("uid-{name}")},
           "namespace": ns, "endpoints": entries})
}

fn cep(ns: &str, i: usize, id: i64) -> Value {
    json!({"apiVersion": "cilium.io/v2", "kind": "CiliumEndpoint",
           "metadata": {"name": format!("p{i}"), "namespace": ns},
           "status": {"identity": {"id": id},
                      "networking": {"addressing": [{"ipv4": ip(i)}], "node": NODE}}})
}

fn event(ty: &str, object: Value) -> String {
    json!({"type": ty, "object": object}).to_string()
}

fn lines(events: &[String]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// The issue's restart: the server holds one slice of 100 endpoints, 95 of
/// which are gone; the 5 survivors arrive as CiliumEndpoints.
fn restart_input() -> Vec<String> {
    let held = slice(
        "ces-restart-a",
        "shop",
        "500",
        (0..100).map(|i| entry(i, 1000)).collect(),
    );
    let mut v = vec![event("ADDED", held)];
    v.extend((0..5).map(|i| event("ADDED", cep("shop", i, 1000))));
    v
}

/// One endpoint (p9) sits in two slices; all 15 endpoints are live.
fn two_slices_input() -> Vec<String> {
    let a = slice(
        "ces-two-a",
        "shop",
        "600",
        (0..10).map(|i| entry(i, 1000)).collect(),
    );
    let b = slice(
        "ces-two-b",
        "shop",
        "601",
        (9..15).map(|i| entry(i, 1000)).collect(),
    );
    let mut v = vec![event("ADDED", a), event("ADDED", b)];
    v.extend((0..15).map(|i| event("ADDED", cep("shop", i, 1000))));
    v
}

// ------------------------------------------------------------------ replay

/// A printed op line as the write it stands for.
fn op_of(line: &str) -> WriteOp {
    let v: Value = serde_json::from_str(line).unwrap();
    let obj = &v["object"];
    let kind = obj["kind"].as_str().unwrap();
    match (v["op"].as_str().unwrap(), kind) {
        ("create", "CiliumEndpointSlice") => {
            WriteOp::CreateSlice(serde_json::from_value(obj.clone()).unwrap())
        }
        ("update", "CiliumEndpointSlice") => {
            WriteOp::UpdateSlice(serde_json::from_value(obj.clone()).unwrap())
        }
        ("create", "CiliumIdentity") => {
            WriteOp::CreateIdentity(serde_json::from_value(obj.clone()).unwrap())
        }
        ("delete", _) => {
            let meta = &obj["metadata"];
            let name = meta["name"].as_str().unwrap().to_string();
            let preconditions = Preconditions {
                uid: meta["uid"].as_str().map(String::from),
                resource_version: meta["resourceVersion"].as_str().map(String::from),
            };
            if kind == "CiliumEndpointSlice" {
                WriteOp::DeleteSlice {
                    name,
                    preconditions,
                }
            } else {
                WriteOp::DeleteIdentity {
                    name,
                    preconditions,
                }
            }
        }
        other => panic!("unexpected op {other:?} in {line}"),
    }
}

/// The events of an input text: JSON lines, or Lists (their items, as ADDED).
fn events_of(text: &str) -> Vec<WatchEvent> {
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let v = v.unwrap();
        match v["items"].as_array() {
            Some(items) if v["kind"] == "List" => {
                out.extend(items.iter().map(|i| WatchEvent::from_value(i).unwrap()))
            }
            _ => out.push(WatchEvent::from_value(&v).unwrap()),
        }
    }
    out
}

/// A Mirror holding what the input's slices and identities say the server
/// holds. Checked against the input objects themselves.
fn seeded(text: &str) -> Mirror {
    let mut m = Mirror::new();
    for ev in events_of(text) {
        m.observe(&ev);
    }
    m
}

/// Applies the printed ops in order; every one must succeed.
fn replay(mirror: &mut Mirror, ops: &[String]) {
    for (i, line) in ops.iter().enumerate() {
        let outcome = mirror.apply(&op_of(line));
        assert!(
            matches!(outcome, Outcome::Success { .. }),
            "op {i} does not apply to the server state: {outcome:?}\n{line}"
        );
    }
}

/// (op, name, resourceVersion, endpoint names) of a printed op.
type Summary = (String, String, Option<String>, Vec<String>);

/// The [`Summary`] of a printed op.
fn summary(line: &str) -> Summary {
    let v: Value = serde_json::from_str(line).unwrap();
    let meta = &v["object"]["metadata"];
    let eps = v["object"]["endpoints"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    (
        v["op"].as_str().unwrap().to_string(),
        meta["name"].as_str().unwrap().to_string(),
        meta["resourceVersion"].as_str().map(String::from),
        eps,
    )
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("p{i}")).collect()
}

// ------------------------------------------------------------------ running

struct Ran {
    ops: Vec<String>,
    stderr: String,
    code: Option<i32>,
    stdout: String,
}

/// File mode.
fn run_file(args: &[&str], name: &str, text: &str) -> Ran {
    let f = tmp(name, text);
    let o = Command::new(bin())
        .arg("run")
        .args(args)
        .arg(&f)
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    Ran {
        ops: stdout.lines().map(String::from).collect(),
        stderr: String::from_utf8(o.stderr).unwrap(),
        code: o.status.code(),
        stdout,
    }
}

/// `sliceplane run -` on a pipe the test writes to as it goes.
struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    ops: Receiver<String>,
}

/// A bound for a wait that should take about a second; only a hang hits it.
const HANG: Duration = Duration::from_secs(120);

impl Live {
    fn start(args: &[&str]) -> Live {
        let mut child = Command::new(bin())
            .args(["run", "-"])
            .args(args)
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, ops) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Live { child, stdin, ops }
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next op printed while stdin is still open: it was planned live.
    fn next_op(&self) -> String {
        self.ops
            .recv_timeout(HANG)
            .expect("no op printed while the pipe is open")
    }

    /// Closes stdin; the ops printed after, stderr and the exit code.
    fn close(mut self) -> (Vec<String>, String, Option<i32>) {
        drop(self.stdin.take());
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = self.child.wait().unwrap();
        let rest: Vec<String> = self.ops.iter().collect();
        (rest, stderr, status.code())
    }
}

// ------------------------------------------------------------------ item 1

#[test]
fn restart_repair_is_one_update_in_file_mode() {
    let input = lines(&restart_input());
    let r = run_file(&["--source", "ciliumendpoints"], "restart.jsonl", &input);
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""));
    let got: Vec<_> = r.ops.iter().map(|l| summary(l)).collect();
    assert_eq!(
        got,
        [(
            "update".to_string(),
            "ces-restart-a".to_string(),
            Some("500".to_string()),
            names(0..5)
        )]
    );
    let mut server = seeded(&input);
    replay(&mut server, &r.ops);
    // The server now holds the 5 survivors, under the same uid.
    let held = &server.slices["ces-restart-a"];
    assert_eq!(held.metadata.uid.as_deref(), Some("uid-ces-restart-a"));
    assert_eq!(held.endpoints.len(), 5);
}

#[test]
fn restart_repair_is_one_update_on_a_live_pipe() {
    let input = lines(&restart_input());
    let mut live = Live::start(&["--source", "ciliumendpoints", "--config", &no_delay()]);
    live.send(&input);
    let op = live.next_op();
    assert_eq!(
        summary(&op),
        (
            "update".into(),
            "ces-restart-a".into(),
            Some("500".into()),
            names(0..5)
        )
    );
    let (rest, stderr, code) = live.close();
    assert_eq!((rest, stderr.as_str(), code), (vec![], "", Some(0)));
    replay(&mut seeded(&input), &[op]);
}

#[test]
fn endpoint_in_two_slices_is_one_update_in_file_and_live_mode() {
    let input = lines(&two_slices_input());
    let want = (
        "update".to_string(),
        "ces-two-b".to_string(),
        Some("601".to_string()),
        names(10..15),
    );
    let r = run_file(&["--source", "ciliumendpoints"], "two.jsonl", &input);
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""));
    assert_eq!(
        r.ops.iter().map(|l| summary(l)).collect::<Vec<_>>(),
        std::slice::from_ref(&want)
    );
    replay(&mut seeded(&input), &r.ops);

    let mut live = Live::start(&["--source", "ciliumendpoints", "--config", &no_delay()]);
    live.send(&input);
    let op = live.next_op();
    assert_eq!(summary(&op), want);
    let (rest, stderr, code) = live.close();
    assert_eq!((rest, stderr.as_str(), code), (vec![], "", Some(0)));
    replay(&mut seeded(&input), &[op]);
}

#[test]
fn list_outputs_are_the_repaired_state() {
    let input = lines(&restart_input());
    for output in ["list-json", "list-yaml"] {
        let r = run_file(
            &["--source", "ciliumendpoints", "--output", output],
            "restart-list.jsonl",
            &input,
        );
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""));
        let v: Value = if output == "list-json" {
            serde_json::from_str(&r.stdout).unwrap()
        } else {
            serde_yaml_ng::from_str(&r.stdout).unwrap()
        };
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{output}");
        let s: CiliumEndpointSlice = serde_json::from_value(items[0].clone()).unwrap();
        assert_eq!(s.metadata.name, "ces-restart-a");
        let eps: Vec<String> = s.endpoints.iter().map(|e| e.name.to_string()).collect();
        assert_eq!(eps, names(0..5), "{output}");
    }
}

#[test]
fn the_live_server_state_follows_watch_events() {
    let initial = lines(&restart_input());
    let mut server = seeded(&initial);
    let mut live = Live::start(&["--source", "ciliumendpoints", "--config", &no_delay()]);
    live.send(&initial);
    let mut ops = Vec::new();
    let step = |live: &Live, server: &mut Mirror, ops: &mut Vec<Summary>| {
        let op = live.next_op();
        replay(server, std::slice::from_ref(&op));
        ops.push(summary(&op));
    };
    step(&live, &mut server, &mut ops);
    // Someone else puts all 100 entries back (a newer version): repaired
    // again, with the version the server now holds.
    let restored = slice(
        "ces-restart-a",
        "shop",
        "900",
        (0..100).map(|i| entry(i, 1000)).collect(),
    );
    let ev = event("MODIFIED", restored);
    live.send(&format!("{ev}\n"));
    for e in events_of(&ev) {
        server.observe(&e);
    }
    step(&live, &mut server, &mut ops);
    // Deleted on the server: created again, with the same name.
    let gone = event(
        "DELETED",
        slice("ces-restart-a", "shop", "901", vec![entry(0, 1000)]),
    );
    live.send(&format!("{gone}\n"));
    for e in events_of(&gone) {
        server.observe(&e);
    }
    step(&live, &mut server, &mut ops);
    // A slice another writer made: deleted, with its own uid as precondition.
    let foreign = event(
        "ADDED",
        slice("ces-foreign", "shop", "950", vec![entry(99, 1000)]),
    );
    live.send(&format!("{foreign}\n"));
    for e in events_of(&foreign) {
        server.observe(&e);
    }
    let op = live.next_op();
    assert_eq!(
        op_of(&op),
        WriteOp::DeleteSlice {
            name: "ces-foreign".into(),
            preconditions: Preconditions {
                uid: Some("uid-ces-foreign".into()),
                resource_version: Some("950".into()),
            }
        }
    );
    replay(&mut server, &[op]);
    let (rest, stderr, code) = live.close();
    assert_eq!((rest, stderr.as_str(), code), (vec![], "", Some(0)));
    let name = "ces-restart-a".to_string();
    assert_eq!(
        ops,
        [
            (
                "update".into(),
                name.clone(),
                Some("500".into()),
                names(0..5)
            ),
            (
                "update".into(),
                name.clone(),
                Some("900".into()),
                names(0..5)
            ),
            ("create".into(), name, None, names(0..5)),
        ]
    );
    assert_eq!(server.slices.len(), 1);
}

#[test]
fn identities_in_the_input_are_server_state() {
    // The example cluster, then what the server holds: its own desired
    // objects with versions and uids, one slice missing an entry, and an
    // identity nothing uses.
    let example = std::fs::read_to_string(root().join("examples/cluster-watch.jsonl")).unwrap();
    let args = ["--seed", "1", "--source", "pods"];
    let mut list_args = args.to_vec();
    list_args.extend(["--output", "list-json"]);
    let desired = run_file(&list_args, "example.jsonl", &example);
    assert_eq!(desired.code, Some(0));
    let mut state: Value = serde_json::from_str(&desired.stdout).unwrap();
    let items = state["items"].as_array_mut().unwrap();
    for (n, item) in items.iter_mut().enumerate() {
        item["metadata"]["resourceVersion"] = json!(format!("{}", 2000 + n));
        item["metadata"]["uid"] = json!(format!("uid-{n}"));
    }
    let ids = items
        .iter()
        .filter(|i| i["kind"] == "CiliumIdentity")
        .count();
    assert!(ids > 0);
    let first_slice = items
        .iter_mut()
        .find(|i| i["kind"] == "CiliumEndpointSlice")
        .unwrap();
    first_slice["endpoints"].as_array_mut().unwrap().pop();
    let first_slice_name = first_slice["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let mut unused = items
        .iter()
        .find(|i| i["kind"] == "CiliumIdentity")
        .unwrap()
        .clone();
    unused["metadata"] = json!({"name": "99999", "resourceVersion": "5000", "uid": "uid-unused"});
    unused["security-labels"] =
        json!({"k8s:app": "gone", "k8s:io.kubernetes.pod.namespace": "core-0"});
    items.push(unused);
    let input = format!("{example}{state}\n");
    let r = run_file(&args, "example-state.jsonl", &input);
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""));
    let mut server = seeded(&input);
    assert_eq!(server.identities.len(), ids + 1);
    assert_eq!(
        server.identities["99999"].metadata.uid.as_deref(),
        Some("uid-unused")
    );
    let got: Vec<_> = r.ops.iter().map(|l| summary(l)).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains(&("delete".into(), "99999".into(), Some("5000".into()), vec![])));
    assert!(
        got.iter()
            .any(|(op, name, _, _)| op == "update" && *name == first_slice_name)
    );
    replay(&mut server, &r.ops);
    // What the server holds now is the desired state.
    let want = events_of(&desired.stdout);
    let want_ids: Vec<CiliumIdentity> = want
        .iter()
        .filter_map(|e| match &e.object {
            sliceplane::model::Object::CiliumIdentity(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(server.identities_without_meta(), want_ids);
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random restart: slices on the server with stale, duplicated,
/// misplaced and outdated entries; live endpoints, some changing or going.
fn random_input(seed: u64) -> String {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let nss = ["shop", "web"];
    let ns_of = |i: usize| nss[i % 2];
    let mut events = Vec::new();
    for s in 0..6 {
        let ns = nss[rng.below(2)];
        let entries = (0..rng.below(25))
            .map(|_| entry(rng.below(80), 1000 + rng.below(3) as i64))
            .collect();
        events.push(event(
            "ADDED",
            slice(
                &format!("ces-old-{s}"),
                ns,
                &format!("{}", 300 + s),
                entries,
            ),
        ));
    }
    let live: Vec<usize> = (0..80).filter(|_| rng.below(10) < 7).collect();
    for &i in &live {
        events.push(event("ADDED", cep(ns_of(i), i, 1000 + (i % 3) as i64)));
    }
    for _ in 0..20 {
        let i = live[rng.below(live.len())];
        let ev = match rng.below(3) {
            0 => event("DELETED", cep(ns_of(i), i, 1000)),
            _ => event("MODIFIED", cep(ns_of(i), i, 1000 + rng.below(3) as i64)),
        };
        events.push(ev);
    }
    lines(&events)
}

#[test]
fn random_restarts_apply_cleanly_and_reach_the_desired_state() {
    for seed in 1..=4 {
        let input = random_input(seed);
        let r = run_file(&["--source", "ciliumendpoints"], "random.jsonl", &input);
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "seed {seed}");
        assert!(!r.ops.is_empty());
        let mut server = seeded(&input);
        replay(&mut server, &r.ops);
        let list = run_file(
            &["--source", "ciliumendpoints", "--output", "list-json"],
            "random.jsonl",
            &input,
        );
        let want: Vec<CiliumEndpointSlice> = events_of(&list.stdout)
            .into_iter()
            .filter_map(|e| match e.object {
                sliceplane::model::Object::CiliumEndpointSlice(mut s) => {
                    s.metadata.resource_version = None;
                    s.metadata.uid = None;
                    Some(s)
                }
                _ => None,
            })
            .collect();
        let mut held = server.slices_without_meta();
        let mut want = want;
        held.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        want.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        assert_eq!(held, want, "seed {seed}");
    }
}

// ------------------------------------------------------------------ item 2

/// The issue's cut-off value.
const CUT: &str = r#"{"type": "ADDED", "object": {"kind": "CiliumEndpoint", "metadata": "#;

/// The restart input with a cut-off value and a garbage line before each
/// of the CiliumEndpoints p1 and p3; their line numbers.
fn junk_input() -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut junk = Vec::new();
    for (i, l) in restart_input().iter().enumerate() {
        if i == 2 || i == 4 {
            let n = text.lines().count();
            junk.extend([n + 1, n + 2]);
            text.push_str(&format!("{CUT}\nW1202 10:00:00 watch closed, retrying\n"));
        }
        text.push_str(l);
        text.push('\n');
    }
    (text, junk)
}

fn error_lines(stderr: &str, source: &str) -> Vec<usize> {
    stderr
        .lines()
        .map(|l| {
            let rest = l
                .strip_prefix(&format!("error: {source}:"))
                .unwrap_or_else(|| panic!("unexpected stderr line {l}"));
            assert!(rest.contains("[malformed_input]"), "{l}");
            rest.split(':').next().unwrap().parse().unwrap()
        })
        .collect()
}

#[test]
fn cut_off_values_and_garbage_lose_no_event_in_file_mode() {
    let (text, junk) = junk_input();
    let f = tmp("junk.jsonl", &text);
    let o = Command::new(bin())
        .args(["run", "--source", "ciliumendpoints", &f])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert_eq!(error_lines(&stderr, &f), junk, "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.contains("truncated")).count(),
        2
    );
    // The same plan as without the junk: one update with all 5 survivors.
    let clean = run_file(
        &["--source", "ciliumendpoints"],
        "clean.jsonl",
        &lines(&restart_input()),
    );
    assert_eq!(String::from_utf8(o.stdout).unwrap(), clean.stdout);
    assert_eq!(clean.ops.len(), 1);
}

#[test]
fn cut_off_values_and_garbage_lose_no_event_on_a_live_pipe() {
    let (text, mut junk) = junk_input();
    let mut live = Live::start(&["--source", "ciliumendpoints", "--config", &no_delay()]);
    live.send(&text);
    let first = live.next_op();
    assert_eq!(
        summary(&first),
        (
            "update".into(),
            "ces-restart-a".into(),
            Some("500".into()),
            names(0..5)
        )
    );
    // Live: a cut-off value right before a new endpoint, then a garbage
    // line before another; each endpoint still arrives.
    let n = text.lines().count();
    live.send(&format!(
        "{CUT}\n{}\n",
        event("ADDED", cep("shop", 5, 1000))
    ));
    let second = live.next_op();
    assert_eq!(summary(&second).3, names(0..6));
    live.send(&format!(
        "Unable to connect to the server\n{}\n",
        event("ADDED", cep("shop", 6, 1000))
    ));
    let third = live.next_op();
    assert_eq!(summary(&third).3, names(0..7));
    junk.extend([n + 1, n + 3]);
    let (rest, stderr, code) = live.close();
    assert_eq!(rest, Vec::<String>::new());
    assert_eq!(code, Some(1));
    assert_eq!(error_lines(&stderr, "<stdin>"), junk, "{stderr}");
    let mut server = seeded(&lines(&restart_input()));
    replay(&mut server, &[first]);
    for e in events_of(&format!(
        "{}\n{}\n",
        event("ADDED", cep("shop", 5, 1000)),
        event("ADDED", cep("shop", 6, 1000))
    )) {
        server.observe(&e);
    }
    replay(&mut server, &[second, third]);
}
