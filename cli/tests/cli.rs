//! End-to-end tests of the `sliceplane` binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sliceplane")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example() -> String {
    std::fs::read_to_string(root().join("examples/cluster-watch.jsonl")).unwrap()
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn tmp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("sliceplane-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn example_plan_is_byte_for_byte() {
    let o = run(
        &[
            "run",
            "--seed",
            "1",
            "--source",
            "pods",
            "examples/cluster-watch.jsonl",
        ],
        "",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expected = std::fs::read_to_string(root().join("examples/expected-plan.jsonl")).unwrap();
    assert_eq!(stdout(&o), expected);
    assert!(!expected.is_empty());
}

/// The plan in the wire shape holds exactly the ops and objects the CLI
/// printed as `{"op", "object"}` lines before the wire layer (same ops,
/// same order, same objects), and every field of the shape.
#[test]
fn example_plan_keeps_the_ops_and_objects_of_before() {
    let plan = std::fs::read_to_string(root().join("examples/expected-plan.jsonl")).unwrap();
    let before =
        std::fs::read_to_string(root().join("cli/tests/fixtures/expected-plan-ops.jsonl")).unwrap();
    let fields = [
        "id",
        "op",
        "group",
        "version",
        "plural",
        "kind",
        "name",
        "object",
        "preconditions",
    ];
    let mut projected = String::new();
    for (i, line) in plan.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = fields.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want, "line {}", i + 1);
        assert_eq!(v["id"], i as u64 + 1);
        assert_eq!(v["kind"], v["object"]["kind"]);
        assert_eq!(v["name"], v["object"]["metadata"]["name"]);
        projected.push_str(&serde_json::json!({"op": v["op"], "object": v["object"]}).to_string());
        projected.push('\n');
    }
    assert_eq!(projected, before);
    assert_eq!(plan.lines().count(), 9);
}

#[test]
fn stdin_until_eof_equals_file_mode() {
    let o = run(&["run", "--seed", "1", "--source", "pods", "-"], &example());
    assert!(o.status.success());
    let expected = std::fs::read_to_string(root().join("examples/expected-plan.jsonl")).unwrap();
    assert_eq!(stdout(&o), expected);
}

#[test]
fn bad_event_is_reported_and_the_rest_applies() {
    let stream = example();
    let lines: Vec<&str> = stream.lines().collect();
    let bad = r#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad","namespace":"x"},"spec":{"nodeName":"n"},"status":{"phase":"Running","podIPs":[{"ip":"not-an-ip"}]}}}"#;
    let mut text = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i == 2 {
            text.push_str(bad);
            text.push('\n');
        }
        text.push_str(l);
        text.push('\n');
    }
    let f = tmp("mixed.jsonl", &text);
    let o = run(&["run", "--seed", "1", "--source", "pods", &f], "");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("error: {f}:3: [invalid_ip]")),
        "{err}"
    );
    // Everything else applied: the same plan as without the bad line.
    let expected = std::fs::read_to_string(root().join("examples/expected-plan.jsonl")).unwrap();
    assert_eq!(stdout(&o), expected);
    // A line that is not JSON at all.
    let o = run(
        &["run", "--source", "pods", "-"],
        &format!("{{nope\n{}", example()),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("<stdin>:1: [malformed_input]"));
    assert_eq!(stdout(&o).lines().count(), expected.lines().count());
}

#[test]
fn pretty_stream_and_list_give_the_same_plan() {
    let expected = std::fs::read_to_string(root().join("examples/expected-plan.jsonl")).unwrap();
    let values: Vec<serde_json::Value> = example()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pretty: String = values
        .iter()
        .map(|v| serde_json::to_string_pretty(v).unwrap() + "\n")
        .collect();
    let o = run(&["run", "--seed", "1", "--source", "pods", "-"], &pretty);
    assert!(o.status.success());
    assert_eq!(stdout(&o), expected);
    // A kubectl List of the final objects: the final state, all ADDED.
    let list = run(
        &[
            "run",
            "--seed",
            "1",
            "--source",
            "pods",
            "--output",
            "list-json",
            "examples/cluster-watch.jsonl",
        ],
        "",
    );
    assert!(list.status.success());
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v["kind"], "List");
    assert!(!v["items"].as_array().unwrap().is_empty());
    // A List of the initial objects is read like the events.
    let items: Vec<serde_json::Value> = values
        .iter()
        .filter(|e| e["type"] == "ADDED")
        .take(51)
        .map(|e| e["object"].clone())
        .collect();
    let initial_list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let a = run(
        &["run", "--seed", "1", "--source", "pods", "-"],
        &serde_json::to_string_pretty(&initial_list).unwrap(),
    );
    let events: String = example()
        .lines()
        .take(51)
        .map(|l| format!("{l}\n"))
        .collect();
    let b = run(&["run", "--seed", "1", "--source", "pods", "-"], &events);
    assert!(a.status.success() && b.status.success());
    assert_eq!(stdout(&a), stdout(&b));
    assert!(!stdout(&a).is_empty());
}

#[test]
fn list_yaml_parses_with_all_items() {
    let o = run(
        &[
            "run",
            "--seed",
            "1",
            "--source",
            "pods",
            "--output",
            "list-yaml",
            "examples/cluster-watch.jsonl",
        ],
        "",
    );
    assert!(o.status.success());
    let v: serde_json::Value = serde_yaml_ng::from_slice(&o.stdout).unwrap();
    let items = v["items"].as_array().unwrap();
    let plan = std::fs::read_to_string(root().join("examples/expected-plan.jsonl")).unwrap();
    // Every object of the plan is created once, nothing deleted: one item each.
    assert_eq!(items.len(), plan.lines().count());
    assert!(items.iter().any(|i| i["kind"] == "CiliumEndpointSlice"));
    assert!(items.iter().any(|i| i["kind"] == "CiliumIdentity"));
}

#[test]
fn adoption_round_trip_plans_nothing() {
    let list = run(
        &[
            "run",
            "--seed",
            "1",
            "--source",
            "pods",
            "--output",
            "list-json",
            "examples/cluster-watch.jsonl",
        ],
        "",
    );
    assert!(list.status.success());
    let input = format!("{}{}", example(), stdout(&list));
    let o = run(&["run", "--seed", "1", "--source", "pods", "-"], &input);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o), "");
}

#[test]
fn simulate_small_with_report() {
    let html = std::env::temp_dir().join(format!("sliceplane-report-{}.html", std::process::id()));
    let html_s = html.to_string_lossy().into_owned();
    let o = run(
        &[
            "simulate", "--pods", "500", "--nodes", "20", "--report", &html_s,
        ],
        "",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    for want in [
        "phase",
        "rolling-update",
        "label-change",
        "node-drain",
        "scale-down-up",
        "slices vs ideal",
        "peak memory",
        "cold build",
        "apply (wall):",
        "snapshot publish:",
        "IP -> identity:",
    ] {
        assert!(out.contains(want), "missing {want} in\n{out}");
    }
    assert!(
        page_has_summary_lines(&html_s),
        "the report carries the engine figures"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    for id in [
        "<svg id=\"fill\"",
        "<svg id=\"writes\"",
        "<svg id=\"delay\"",
    ] {
        assert!(page.contains(id), "missing {id}");
    }
    assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
    assert!(!page.contains("src="));
    assert!(!page.contains("href=\"http") && !page.contains("href=http"));
    assert!(!page.contains("<script"));
    // --json
    let o = run(
        &[
            "simulate",
            "--pods",
            "200",
            "--nodes",
            "10",
            "--trace",
            "node-drain",
            "--json",
        ],
        "",
    );
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["traces"].as_array().unwrap().len(), 1);
    assert!(v["slices"].as_u64().unwrap() >= v["ideal_slices"].as_u64().unwrap());
    // Every endpoint IP was looked up (200 pods, single stack) and every trace event applied and timed.
    assert_eq!(v["ip_lookups"].as_u64(), Some(400));
    assert_eq!(
        v["apply_ns"]["count"].as_u64(),
        v["traces"][0]["events"].as_u64()
    );
    assert!(v["publish_ns"]["count"].as_u64().unwrap() >= 1);
}

fn page_has_summary_lines(path: &str) -> bool {
    let page = std::fs::read_to_string(path).unwrap_or_default();
    ["apply (wall):", "snapshot publish:", "IP -&gt; identity:"]
        .iter()
        .all(|l| page.contains(l))
}

#[test]
fn inspect_reports_duplicates() {
    let list = run(
        &[
            "run",
            "--seed",
            "1",
            "--source",
            "pods",
            "--output",
            "list-json",
            "examples/cluster-watch.jsonl",
        ],
        "",
    );
    let mut v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let items = v["items"].as_array_mut().unwrap();
    items.retain(|i| i["kind"] == "CiliumEndpointSlice");
    let mut dup = items[0].clone();
    dup["metadata"]["name"] = "ces-duplicate".into();
    dup["endpoints"] = serde_json::json!([items[0]["endpoints"][0].clone()]);
    let dup_name = format!(
        "{}/{}",
        items[0]["namespace"].as_str().unwrap(),
        items[0]["endpoints"][0]["name"].as_str().unwrap()
    );
    let first = items[0]["metadata"]["name"].as_str().unwrap().to_string();
    items.push(dup);
    let f = tmp("dups.json", &serde_json::to_string_pretty(&v).unwrap());
    let o = run(&["inspect", &f], "");
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("duplicate endpoints: 1"), "{out}");
    assert!(
        out.contains(&dup_name) && out.contains("ces-duplicate") && out.contains(&first),
        "{out}"
    );
    let o = run(&["inspect", "--json", &f], "");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["duplicates"].as_array().unwrap().len(), 1);
    assert_eq!(r["slices"].as_u64().unwrap() as usize, items_len(&v));
}

fn items_len(v: &serde_json::Value) -> usize {
    v["items"].as_array().unwrap().len()
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(run(&["run", "--bogus"], "").status.code(), Some(2));
    assert_eq!(run(&["frobnicate"], "").status.code(), Some(2));
    assert_eq!(
        run(&["run", "/nonexistent/file"], "").status.code(),
        Some(2)
    );
    let cfg = tmp("bad.yaml", "slicing:\n  maxEndpointsPerSlice: 0\n");
    let o = run(
        &["run", "--config", &cfg, "examples/cluster-watch.jsonl"],
        "",
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        run(&["simulate", "--scale", "XL"], "").status.code(),
        Some(2)
    );
}

/// A line that is not UTF-8 is one rejected event (`malformed_input`, at
/// its line), as in every binding's batch apply; the rest still applies.
#[test]
fn a_line_that_is_not_utf8_is_reported_and_the_rest_applies() {
    let mut bytes = Vec::new();
    for (i, l) in example().lines().enumerate() {
        if i == 3 {
            bytes.extend_from_slice(b"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"\xff\"}}}\n");
        }
        bytes.extend_from_slice(l.as_bytes());
        bytes.push(b'\n');
    }
    let dir = std::env::temp_dir().join(format!("sliceplane-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("not-utf8.jsonl");
    std::fs::write(&f, &bytes).unwrap();
    let f = f.to_string_lossy().into_owned();
    let o = run(&["run", "--seed", "1", "--source", "pods", &f], "");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("error: {f}:4: [malformed_input]")) && err.contains("UTF-8"),
        "{err}"
    );
    let expected = std::fs::read_to_string(root().join("examples/expected-plan.jsonl")).unwrap();
    assert_eq!(stdout(&o), expected);
}
