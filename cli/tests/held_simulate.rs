//! Held figures of `sliceplane simulate --seed 1 --json`: every figure that
//! is not a timing (writes, bytes, slices vs ideal, simulated propagation,
//! conclusions, plot series) compared with `tests/held/simulate-seed1.json`.
//!
//! Structural changes of the engine (the redesign, the performance work) must
//! keep these byte for byte, as `core/tests/held_plans.rs` keeps the plans.
//! Timings (wall clock, apply and publish nanoseconds, cold build, memory)
//! are removed before comparing. When a change of behaviour or of the report
//! is intended, regenerate with
//! `SLICEPLANE_BLESS=1 cargo test -p sliceplane-cli --test held_simulate`
//! and say why in the commit.

use std::process::Command;

use serde_json::Value;

/// Keys whose values are measured, not computed: removed before comparing.
fn is_timing(key: &str) -> bool {
    key.ends_with("_ns")
        || matches!(
            key,
            "cold_build_ms" | "events_per_sec" | "engine" | "ip_lookups" | "peak_rss_kb" | "wall_s"
        )
}

fn strip_timings(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !is_timing(k))
                .map(|(k, v)| (k, strip_timings(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_timings).collect()),
        other => other,
    }
}

fn simulate(source: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_sliceplane"))
        .args([
            "simulate", "--seed", "1", "--json", "--pods", "500", "--nodes", "50",
        ])
        .args(["--source", source])
        .output()
        .expect("run sliceplane");
    assert!(
        out.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    strip_timings(serde_json::from_slice(&out.stdout).expect("simulate --json prints JSON"))
}

#[test]
fn simulate_figures_are_held() {
    let now = serde_json::json!({
        "pods": simulate("pods"),
        "ciliumendpoints": simulate("ciliumendpoints"),
    });
    let text = serde_json::to_string_pretty(&now).unwrap() + "\n";
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/held/simulate-seed1.json");
    if std::env::var_os("SLICEPLANE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let held = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (generate it with SLICEPLANE_BLESS=1)",
            path.display()
        )
    });
    if held != text {
        let first = held
            .lines()
            .zip(text.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("line {}:\n  held: {a}\n  now:  {b}", i + 1))
            .unwrap_or_else(|| "lengths differ".to_string());
        panic!("simulate's figures changed; {first}");
    }
}

#[test]
fn timings_are_the_only_keys_removed() {
    let v = serde_json::json!({"wall_s": 1.0, "writes": {"total": 3, "apply_ns": {"p50": 1}}, "engine": {}, "slices": 2});
    assert_eq!(
        strip_timings(v),
        serde_json::json!({"writes": {"total": 3}, "slices": 2})
    );
}
