//! End-to-end tests of `sliceplane policy eval` and `sliceplane policy matrix`.
//!
//! The cluster (`fixtures/policy/cluster.json`) is the Kubernetes e2e
//! netpol layout: namespaces x, y, z; pods a, b, c in each, labelled
//! `pod=a|b|c`, each with the named port `serve-80-tcp` (80/TCP); pod IPs
//! `10.0.N.M` (N = 1, 2, 3 for x, y, z; M = 1, 2, 3 for a, b, c).
//! The policies: default deny ingress in x, plus allow from namespace y
//! to the named port.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sliceplane")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy")
}

fn fixture(name: &str) -> String {
    fixtures().join(name).to_string_lossy().into_owned()
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin())
        .args(args)
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

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn tmp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("sliceplane-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn eval(policies: &[&str], probes: &str, extra: &[&str]) -> Output {
    let cluster = fixture("cluster.json");
    let mut args = vec!["policy", "eval", "--cluster", &cluster, "--probes", "-"];
    for p in policies {
        args.extend(["--policies", p]);
    }
    args.extend(extra);
    run(&args, probes)
}

fn verdicts(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            match v.get("verdict") {
                Some(d) => d.as_str().unwrap().to_string(),
                None => format!("error:{}", v["error"]["field"].as_str().unwrap()),
            }
        })
        .collect()
}

const MATRIX_80: &str = "\
-\tx/a\tx/b\tx/c\ty/a\ty/b\ty/c\tz/a\tz/b\tz/c
x/a\t.\tX\tX\t.\t.\t.\t.\t.\t.
x/b\tX\t.\tX\t.\t.\t.\t.\t.\t.
x/c\tX\tX\t.\t.\t.\t.\t.\t.\t.
y/a\t.\t.\t.\t.\t.\t.\t.\t.\t.
y/b\t.\t.\t.\t.\t.\t.\t.\t.\t.
y/c\t.\t.\t.\t.\t.\t.\t.\t.\t.
z/a\tX\tX\tX\t.\t.\t.\t.\t.\t.
z/b\tX\tX\tX\t.\t.\t.\t.\t.\t.
z/c\tX\tX\tX\t.\t.\t.\t.\t.\t.
";

#[test]
fn eval_prints_one_exact_line_per_probe_in_order() {
    let o = run(
        &[
            "policy",
            "eval",
            "--cluster",
            &fixture("cluster.json"),
            "--policies",
            &fixture("policies.yaml"),
            "--probes",
            &fixture("probes.jsonl"),
        ],
        "",
    );
    let expected = std::fs::read_to_string(fixtures().join("expected-eval.jsonl")).unwrap();
    assert_eq!(stdout(&o), expected);
    // Three probes cannot be evaluated: exit 1, nothing on stderr.
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "");
    assert_eq!(
        verdicts(&o),
        [
            "allow",      // y/a -> x/a: allowed from y
            "deny",       // z/a -> x/a: default deny
            "deny",       // x/b -> x/a: default deny
            "allow",      // x/a -> y/b: y not isolated
            "allow",      // named port
            "deny",       // port 81 is not serve-80-tcp
            "allow",      // by IP: y/a -> x/a
            "deny",       // outside address -> x/c
            "error:from", // no such pod
            "error:port", // no such named port on the destination
            "error:port", // out of range
            "allow",      // a pod to itself
        ]
    );
}

#[test]
fn all_probes_evaluated_exits_zero() {
    let probes = "\
{\"from\":\"y/b\",\"to\":\"x/c\",\"port\":\"serve-80-tcp\",\"protocol\":\"TCP\"}
{\"from\":\"10.0.3.1\",\"to\":\"x/a\",\"port\":80}
{\"from\":\"y/a\",\"to\":\"10.0.1.2\",\"port\":\"80\",\"protocol\":\"tcp\"}
{\"from\":\"y/a\",\"to\":\"x/a\",\"port\":80,\"protocol\":\"UDP\"}
";
    let o = eval(&[&fixture("policies.yaml")], probes, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(verdicts(&o), ["allow", "deny", "allow", "deny"]);
    let first: Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["port"], "serve-80-tcp");
    assert_eq!(first["deciding"][0]["name"], "allow-from-y");
    // The protocol is echoed normalized.
    let third: Value = serde_json::from_str(stdout(&o).lines().nth(2).unwrap()).unwrap();
    assert_eq!(third["protocol"], "TCP");
}

#[test]
fn bad_probe_lines_print_errors_and_the_rest_still_print() {
    let probes = "{oops\n{\"from\":\"y/a\",\"to\":\"x/a\",\"port\":80,\"protocol\":\"ICMP\"}\n[1]\n{\"from\":\"y/a\",\"to\":\"x/a\",\"port\":80}\n";
    let o = eval(&[&fixture("policies.yaml")], probes, &[]);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["error"]["code"], "malformed_input");
    assert_eq!(lines[1]["error"]["field"], "protocol");
    assert_eq!(lines[2]["error"]["code"], "invalid_probe");
    assert_eq!(lines[3]["verdict"], "allow");
}

#[test]
fn yaml_documents_and_json_list_give_the_same_answers() {
    let cluster = fixture("cluster.json");
    let table = |p: &str| {
        let o = run(
            &["policy", "matrix", "--cluster", &cluster, "--policies", p],
            "",
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(table(&fixture("policies.yaml")), MATRIX_80);
    assert_eq!(table(&fixture("policies.json")), MATRIX_80);
    // The same on stdin.
    let yaml = std::fs::read_to_string(fixtures().join("policies.yaml")).unwrap();
    let o = run(
        &["policy", "matrix", "--cluster", &cluster, "--policies", "-"],
        &yaml,
    );
    assert_eq!(stdout(&o), MATRIX_80);
}

#[test]
fn matrix_named_port_and_json() {
    let cluster = fixture("cluster.json");
    let policies = fixture("policies.yaml");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "policy",
            "matrix",
            "--cluster",
            &cluster,
            "--policies",
            &policies,
        ];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let go = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&a, "")
    };
    let o = go(&["--port", "serve-80-tcp"]);
    assert_eq!(stdout(&o), MATRIX_80);
    // Port 81: nothing from y is allowed into x any more.
    let o = go(&["--port", "81"]);
    let t = stdout(&o);
    assert!(
        t.lines().nth(4).unwrap().starts_with("y/a\tX\tX\tX\t."),
        "{t}"
    );
    // UDP on the named TCP port: every cell cannot be evaluated.
    let o = go(&["--port", "serve-80-tcp", "--protocol", "UDP"]);
    assert!(stdout(&o).lines().nth(1).unwrap().contains('?'));
    let o = go(&["--json"]);
    assert_eq!(o.status.code(), Some(0));
    let m: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(m["port"], 80);
    assert_eq!(m["protocol"], "TCP");
    assert_eq!(m["peers"].as_array().unwrap().len(), 9);
    assert_eq!(m["cells"][6][0], "deny"); // z/a -> x/a
    assert_eq!(m["cells"][3][0], "allow"); // y/a -> x/a
    let o = go(&["--protocol", "ICMP"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn layer7_policy_is_reported_unsupported_and_the_rest_applies() {
    let cluster = fixture("cluster.json");
    let o = run(
        &[
            "policy",
            "matrix",
            "--cluster",
            &cluster,
            "--policies",
            &fixture("policies.yaml"),
            "--policies",
            &fixture("l7.yaml"),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("[unsupported_policy]"), "{err}");
    assert!(err.contains("CiliumNetworkPolicy z/l7-http"), "{err}");
    assert!(err.contains("spec.ingress[0].toPorts[0].rules"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // The List in the second document applied: z/b may not send anywhere
    // but to itself.
    let row = stdout(&o).lines().nth(8).unwrap().to_string();
    assert_eq!(row, "z/b\tX\tX\tX\tX\tX\tX\tX\t.\tX");
    // eval reports it too, and still answers.
    let o = eval(
        &[&fixture("l7.yaml")],
        "{\"from\":\"x/a\",\"to\":\"z/a\",\"port\":80}\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unsupported_policy"));
    assert_eq!(verdicts(&o), ["allow"]);
}

#[test]
fn invalid_policy_is_named_skipped_and_exits_one() {
    let bad = tmp(
        "bad.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: broken, namespace: y}\n\
         spec:\n  podSelector: {}\n  ingress:\n    - ports:\n        - port: 99999\n",
    );
    let o = eval(
        &[&bad, &fixture("policies.yaml")],
        "{\"from\":\"z/a\",\"to\":\"y/a\",\"port\":80}\n{\"from\":\"y/a\",\"to\":\"x/a\",\"port\":80}\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("[invalid_policy]"), "{err}");
    assert!(err.contains("y/broken"), "{err}");
    assert!(err.contains("spec.ingress[0].ports[0]"), "{err}");
    assert_eq!(verdicts(&o), ["allow", "allow"]);
}

#[test]
fn audit_and_ip_block_switch() {
    let probes = "{\"from\":\"z/a\",\"to\":\"x/a\",\"port\":80}\n";
    let o = eval(&[&fixture("policies.yaml")], probes, &["--audit"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(verdicts(&o), ["audit"]);

    let ip_block = tmp(
        "ipblock.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: from-y-cidr, namespace: z}\n\
         spec:\n  podSelector: {}\n  ingress:\n    - from:\n        - ipBlock: {cidr: 10.0.2.0/24}\n",
    );
    let probes = "{\"from\":\"y/a\",\"to\":\"z/a\",\"port\":80}\n{\"from\":\"x/a\",\"to\":\"z/a\",\"port\":80}\n";
    let o = eval(&[&ip_block], probes, &[]);
    assert_eq!(verdicts(&o), ["allow", "deny"]);
    let o = eval(&[&ip_block], probes, &["--no-ip-block-cluster-ips"]);
    assert_eq!(verdicts(&o), ["deny", "deny"]);
}

#[test]
fn watch_streams_apply_deletes() {
    let cluster = fixture("cluster.json");
    let yaml = std::fs::read_to_string(fixtures().join("policies.json")).unwrap();
    let list: Value = serde_json::from_str(&yaml).unwrap();
    let deny = &list["items"][0];
    let stream = format!(
        "{}\n{}\n",
        serde_json::json!({"type": "ADDED", "object": deny}),
        serde_json::json!({"type": "DELETED", "object": deny}),
    );
    let policies = tmp("watch.jsonl", &stream);
    // Cluster as a watch stream too: z/c deleted.
    let mut events = String::new();
    let c: Value = serde_json::from_str(&std::fs::read_to_string(&cluster).unwrap()).unwrap();
    for item in c["items"].as_array().unwrap() {
        events.push_str(&serde_json::json!({"type": "ADDED", "object": item}).to_string());
        events.push('\n');
    }
    let zc = &c["items"].as_array().unwrap().last().unwrap();
    events.push_str(&serde_json::json!({"type": "DELETED", "object": zc}).to_string());
    events.push('\n');
    let o = run(
        &[
            "policy",
            "eval",
            "--cluster",
            "-",
            "--policies",
            &policies,
            "--probes",
            &tmp(
                "p.jsonl",
                "{\"from\":\"z/a\",\"to\":\"x/a\",\"port\":80}\n{\"from\":\"z/c\",\"to\":\"x/a\",\"port\":80}\n",
            ),
        ],
        &events,
    );
    assert_eq!(verdicts(&o), ["allow", "error:from"]);
}

#[test]
fn two_stdin_inputs_is_a_usage_error() {
    let o = run(
        &[
            "policy",
            "eval",
            "--cluster",
            "-",
            "--policies",
            &fixture("policies.yaml"),
            "--probes",
            "-",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("stdin"));
    let o = run(&["policy"], "");
    assert_eq!(o.status.code(), Some(2));
}

/// `policy eval` answers the shared conformance probes exactly as the wire
/// layer (and so every binding) does; only the position prefix of an
/// unreadable line's message differs (`FILE:N:` here, `line N:` there).
#[test]
fn eval_answers_the_conformance_probes_like_every_binding() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/policy");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    for case in cases {
        let f = |n: &str| case.join(n).to_string_lossy().into_owned();
        let o = run(
            &[
                "policy",
                "eval",
                "--cluster",
                &f("cluster.json"),
                "--policies",
                &f("policies.json"),
                "--probes",
                &f("probes.jsonl"),
            ],
            "",
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let want: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(case.join("expected/answers.json")).unwrap(),
        )
        .unwrap();
        let got: Vec<Value> = stdout(&o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got.len(), want.len());
        for (mut g, mut w) in got.into_iter().zip(want) {
            if w["error"]["code"] == "malformed_input" {
                let (gm, wm) = (&g["error"]["message"], &w["error"]["message"]);
                let strip = |m: &Value, sep: &str| {
                    m.as_str().unwrap().split_once(sep).unwrap().1.to_string()
                };
                // `line N: msg` against `FILE:N: msg`.
                let (wl, wrest) = strip(wm, "line ")
                    .split_once(": ")
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .unwrap();
                let gs = gm.as_str().unwrap().to_string();
                assert!(gs.ends_with(&format!(":{wl}: {wrest}")), "{gs} vs {wm}");
                g["error"]["message"] = Value::Null;
                w["error"]["message"] = Value::Null;
            }
            assert_eq!(g, w);
        }
    }
}
