//! The shared conformance fixtures (`tests/conformance/`, see its README),
//! run against the wire layer. The C, Go, Python and Node suites run the
//! same fixtures through their bindings.
//!
//! `SLICEPLANE_BLESS=1 cargo test -p sliceplane --test conformance`
//! rewrites the expected outputs (review the diff before committing).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sliceplane::consumer::Consumer;
use sliceplane::policy::PolicyConfig;
use sliceplane::snapshot::Snapshot;
use sliceplane::wire::{self, Write};
use sliceplane::{Config, Engine, OpId, Outcome};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no {kind} cases");
    dirs
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares `got` (compact JSON and a newline) with `dir/expected/name`;
/// with `SLICEPLANE_BLESS` set, writes it instead.
fn check(dir: &Path, name: &str, got: &impl Serialize, failures: &mut Vec<String>) {
    let got = serde_json::to_string(got).unwrap() + "\n";
    let path = dir.join("expected").join(name);
    if std::env::var_os("SLICEPLANE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != got {
        failures.push(format!(
            "{}:\n  want {}\n  got  {}",
            path.display(),
            want.trim_end(),
            got.trim_end()
        ));
    }
}

fn finish(failures: Vec<String>) {
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The outcome every fixture reports for write `id`.
fn success(id: u64) -> Outcome {
    Outcome::success(format!("rv-{id}"), format!("uid-{id}"))
}

/// The snapshot's endpoint and slice views against the case's files.
fn check_views(dir: &Path, snap: &Snapshot, failures: &mut Vec<String>) {
    check(
        dir,
        "endpoints.json",
        &wire::endpoint_views(snap, None),
        failures,
    );
    check(dir, "slices.json", &wire::slice_views(snap, None), failures);
}

#[test]
fn engine_cases() {
    let mut failures = Vec::new();
    for dir in cases("engine") {
        let case = read_json(&dir.join("case.json"));
        let config = Config::from_json(&case["config"].to_string()).unwrap();
        let mut engine = Engine::new(config).unwrap();
        let input = std::fs::read(dir.join("input.jsonl")).unwrap();
        let rejected = wire::apply_engine_batch(&mut engine, &input, 0);
        check(&dir, "rejected.json", &rejected, &mut failures);
        engine.initial_sync_done(0);
        let mut writes: Vec<Write> = Vec::new();
        for t in case["flushAt"].as_array().unwrap() {
            let now = t.as_u64().unwrap();
            for w in engine.flush(now).iter() {
                writes.push(Write::from(w));
                engine.report(OpId(w.id.0), &success(w.id.0), now).unwrap();
            }
        }
        check(&dir, "writes.json", &writes, &mut failures);
        check_views(&dir, &engine.publish(), &mut failures);
    }
    finish(failures);
}

#[test]
fn consumer_cases() {
    let mut failures = Vec::new();
    for dir in cases("consumer") {
        let case = read_json(&dir.join("case.json"));
        let mut consumer = Consumer::new();
        consumer.set_now(case["now"].as_u64().unwrap());
        let input = std::fs::read(dir.join("input.jsonl")).unwrap();
        let (changes, rejected) = wire::apply_consumer_batch(&mut consumer, &input);
        check(&dir, "changes.json", &changes, &mut failures);
        check(&dir, "rejected.json", &rejected, &mut failures);
        check_views(&dir, &consumer.publish(), &mut failures);
    }
    finish(failures);
}

#[test]
fn policy_cases() {
    let mut failures = Vec::new();
    for dir in cases("policy") {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        let mut cluster = wire::policy_cluster(
            &read("cluster.json"),
            &read("policies.json"),
            PolicyConfig::default(),
        )
        .unwrap();
        let probes = std::fs::read(dir.join("probes.jsonl")).unwrap();
        let answers = wire::answer_probes(&mut cluster, &probes);
        check(&dir, "answers.json", &answers, &mut failures);
    }
    finish(failures);
}

/// The fixtures cover what the README promises: blank lines, truncated
/// values, garbage, invalid UTF-8 and a List in the streams; deletes with
/// preconditions in the plans; named ports and service accounts in the
/// views; bad probes of every kind.
#[test]
fn fixtures_cover_the_promised_cases() {
    if std::env::var_os("SLICEPLANE_BLESS").is_some() {
        return;
    }
    let all = |kind: &str, file: &str| -> String {
        cases(kind)
            .iter()
            .map(|d| std::fs::read_to_string(d.join("expected").join(file)).unwrap())
            .collect()
    };
    for kind in ["engine", "consumer"] {
        let rejected = all(kind, "rejected.json");
        for what in ["truncated JSON", "not valid JSON", "not valid UTF-8"] {
            assert!(rejected.contains(what), "{kind}: no {what} rejection");
        }
        let inputs: Vec<u8> = cases(kind)
            .iter()
            .flat_map(|d| std::fs::read(d.join("input.jsonl")).unwrap())
            .collect();
        assert!(
            inputs.windows(2).any(|w| w == b"\n\n"),
            "{kind}: no blank line"
        );
        assert!(String::from_utf8_lossy(&inputs).contains("\"kind\":\"List\""));
    }
    let writes = all("engine", "writes.json");
    assert!(writes.contains("\"preconditions\":{\"uid\":"));
    assert!(writes.contains("\"op\":\"update\"") && writes.contains("\"op\":\"create\""));
    let views = all("engine", "endpoints.json") + &all("consumer", "endpoints.json");
    assert!(views.contains("\"namedPorts\":[{") && views.contains("\"serviceAccount\":\""));
    let changes = all("consumer", "changes.json");
    assert!(changes.contains("\"op\":\"delete\"") && changes.contains("\"op\":\"upsert\""));
    let answers = all("policy", "answers.json");
    for what in [
        "\"verdict\":\"allow\"",
        "\"verdict\":\"deny\"",
        "invalid_probe",
        "malformed_input",
    ] {
        assert!(answers.contains(what), "policy: no {what}");
    }
}
