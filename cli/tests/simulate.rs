//! `sliceplane simulate`: the side-by-side comparison, its text, JSON and
//! HTML report, and `--from` a kubectl List.
//!
//! The report is checked with an XML parser (well-formed page, one SVG per
//! plot, no scripts or external resources). One test loads it in headless
//! Chromium and takes a screenshot; it runs only with
//! `SLICEPLANE_BROWSER_TESTS=1` (and `chromium` on the PATH).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sliceplane")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Not a terminal: no progress bar on stderr.
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json_of(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(&a)).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sliceplane-sim-{}-{name}", std::process::id()))
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{:.1} s", ms as f64 / 1e3)
    } else {
        format!("{:.1} min", ms as f64 / 60e3)
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

const SMALL: &[&str] = &["simulate", "--pods", "600", "--nodes", "60", "--seed", "3"];

#[test]
fn text_fits_100_columns_and_leads_with_conclusions() {
    let out = ok(SMALL);
    for l in out.lines() {
        assert!(l.chars().count() <= 100, "{} columns: {l}", l.len());
    }
    let conclusions = out.find("\nConclusions\n").expect("conclusions");
    let table = out.find("\nconfiguration ").expect("side-by-side table");
    assert!(conclusions < table, "conclusions come first");
    let rows: Vec<&str> = out[table + 1..]
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    let keys: Vec<&str> = rows
        .iter()
        .map(|r| r.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(keys, ["cilium-code", "cilium-helm", "sliceplane"]);
    assert!(out.contains("NFR1"));
    // Every configuration says what it is.
    assert!(out.contains("cilium-code: Cilium v1.20.2's controller (fcfs model)"));
    assert!(out.contains("ciliumEndpointSlice.rateLimits"));
}

#[test]
fn json_text_and_report_carry_the_same_figures() {
    let html = tmp("figures.html");
    let html_s = html.to_string_lossy().into_owned();
    let mut a = SMALL.to_vec();
    a.extend(["--report", &html_s]);
    let text = ok(&a);
    let page = std::fs::read_to_string(&html).unwrap();
    let v = json_of(SMALL);
    let configs = v["configurations"].as_array().unwrap();
    let keys: Vec<&str> = configs.iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["cilium-code", "cilium-helm", "sliceplane"]);
    // Cilium's defaults as the engine models them.
    assert_eq!(configs[0]["config"]["write"]["syncDelayMs"], 500);
    assert_eq!(
        configs[0]["config"]["write"]["rateLimits"],
        json!([{"nodes": 0, "limit": 10.0, "burst": 20}])
    );
    assert_eq!(configs[0]["config"]["slicing"]["mode"], "fcfs");
    assert_eq!(
        configs[1]["config"]["write"]["rateLimits"],
        json!([{"nodes": 0, "limit": 10.0, "burst": 20}, {"nodes": 100, "limit": 50.0, "burst": 100}])
    );
    assert_eq!(configs[2]["config"]["write"]["syncDelayMs"], 50);
    assert_eq!(
        configs[2]["config"]["slicing"]["compaction"]["enabled"],
        true
    );
    let traces = v["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 4);
    let squashed_text = squash(&text);
    for c in &v["conclusions"].as_array().unwrap()[..] {
        let c = c.as_str().unwrap();
        assert!(squashed_text.contains(c), "text lacks conclusion {c}");
        let escaped = c
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        assert!(page.contains(&escaped), "report lacks conclusion {c}");
    }
    for c in configs {
        let key = c["key"].as_str().unwrap();
        let d = &c["delay_ms"];
        let holds = c["nfr1_holds"].as_bool().unwrap();
        assert_eq!(holds, u(&d["max"]) <= 100);
        // The text row holds the JSON's figures.
        let row = text
            .lines()
            .find(|l| {
                let mut t = l.split_whitespace();
                t.next() == Some(key)
                    && t.next()
                        .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit() || c == ','))
            })
            .unwrap();
        let row_sq = squash(row);
        let prefix = format!("{key} {} ", group(u(&c["writes"]["total"])));
        let middle = format!(
            " {} / {} {} {} {} ",
            group(u(&c["slices"])),
            group(u(&c["ideal_slices"])),
            fmt_ms(u(&d["p50"])),
            fmt_ms(u(&d["p99"])),
            fmt_ms(u(&d["max"])),
        );
        assert!(row_sq.starts_with(&prefix), "{row_sq} vs {prefix}");
        assert!(row_sq.contains(&middle), "{row_sq} vs {middle}");
        assert!(
            row_sq.ends_with(if holds { "holds" } else { "%)" }),
            "{row_sq}"
        );
        // Phases add up: writes, and every endpoint event either propagated
        // (a delay) or needed no write.
        let phases = c["phases"].as_array().unwrap();
        assert_eq!(phases[0]["phase"], "initial build");
        let initial = &phases[0];
        assert!(u(&initial["slices"]) >= u(&initial["ideal_slices"]));
        // 600 pods in 6 namespaces of 100: six full slices.
        assert_eq!(u(&initial["ideal_slices"]), 6);
        assert_eq!(u(&initial["slices"]), 6);
        let mut writes = 0;
        let mut delays = 0;
        for p in &phases[1..] {
            writes += u(&p["writes"]["total"]);
            delays += u(&p["delay_ms"]["count"]);
            if p["phase"] != "identity gc" {
                assert_eq!(
                    u(&p["delay_ms"]["count"]) + u(&p["unwritten_events"]),
                    u(&p["events"]),
                    "{key} {}",
                    p["phase"]
                );
            }
        }
        assert_eq!(writes, u(&c["writes"]["total"]));
        assert_eq!(delays, u(&d["count"]));
        // Plot data: the histograms count the slices, the writes series the
        // churn's writes, the CDF ends at the max with everything.
        let plots = &c["plots"];
        let sum = |x: &Value| x.as_array().unwrap().iter().map(u).sum::<u64>();
        assert_eq!(sum(&plots["fill_before"]), u(&initial["slices"]));
        assert_eq!(sum(&plots["fill_after"]), u(&c["slices"]));
        let gc = phases
            .iter()
            .filter(|p| p["phase"] == "identity gc")
            .map(|p| u(&p["writes"]["total"]))
            .sum::<u64>();
        assert_eq!(sum(&plots["writes_over_time"]), writes - gc);
        let cdf = plots["delay_cdf"].as_array().unwrap();
        let last = cdf.last().unwrap();
        assert_eq!(u(&last[0]), u(&d["max"]));
        assert_eq!(last[1].as_f64().unwrap(), 1.0);
        // The report's per-phase table shows the initial build's real slices and ideal.
        let initial_row = format!(
            "<td>initial build</td><td>{}</td>",
            group(u(&initial["events"]))
        );
        assert!(page.contains(&initial_row));
    }
    // Headline figures (the recommended configuration's engine).
    assert_eq!(v["headline"], "sliceplane");
    assert_eq!(v["slices"], configs[2]["slices"]);
    assert_eq!(u(&v["ip_lookups"]), 1_200);
    let trace_events: u64 = traces.iter().map(|t| u(&t["events"])).sum();
    assert_eq!(u(&v["apply_ns"]["count"]), trace_events);
    let _ = std::fs::remove_file(html);
}

/// Text of every `<text>` in `svg`, with its y position.
fn svg_texts(svg: roxmltree::Node) -> Vec<(String, String)> {
    svg.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            (
                n.attribute("y").unwrap_or("").to_string(),
                n.text().unwrap_or("").trim().to_string(),
            )
        })
        .collect()
}

#[test]
fn report_is_well_formed_with_one_library_svg_per_plot() {
    let html = tmp("report.html");
    let html_s = html.to_string_lossy().into_owned();
    let mut a = SMALL.to_vec();
    a.extend(["--report", &html_s]);
    let text = ok(&a);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&page, opts).expect("well-formed page");
    let root = doc.root_element();
    assert!(root.has_tag_name("html"));
    // Self-contained: no scripts, no external resources.
    for n in root.descendants() {
        assert!(!n.has_tag_name("script") && !n.has_tag_name("link") && !n.has_tag_name("img"));
        assert!(!n.has_tag_name("pre"), "no text table under the HTML table");
        for at in n.attributes() {
            assert!(
                !(at.name() == "src" || at.name() == "href") || !at.value().contains(':'),
                "external resource {}={}",
                at.name(),
                at.value()
            );
        }
    }
    let svgs: Vec<roxmltree::Node> = root
        .descendants()
        .filter(|n| n.has_tag_name("svg"))
        .collect();
    let ids: Vec<&str> = svgs.iter().map(|s| s.attribute("id").unwrap()).collect();
    assert_eq!(ids, ["delay", "writes", "fill"]);
    for svg in &svgs {
        // Drawn by plotters: many shapes, axis labels, a legend.
        let shapes = svg
            .descendants()
            .filter(|n| {
                ["polyline", "rect", "line", "path", "circle"]
                    .iter()
                    .any(|t| n.has_tag_name(*t))
            })
            .count();
        assert!(shapes > 20, "{:?}: {shapes} shapes", svg.attribute("id"));
        let texts = svg_texts(*svg);
        assert!(texts.len() > 8);
        // Tick labels on one axis row never repeat ("0s 0s 1s 1s").
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        for t in texts.iter().filter(|t| !t.1.is_empty()) {
            *seen.entry(t.clone()).or_default() += 1;
        }
        for ((y, label), n) in seen {
            assert_eq!(
                n,
                1,
                "label {label:?} repeated {n} times at y={y} in {:?}",
                svg.attribute("id")
            );
        }
    }
    let delay_texts: BTreeSet<String> = svg_texts(svgs[0]).into_iter().map(|t| t.1).collect();
    assert!(delay_texts.contains("NFR1: 100 ms"));
    assert!(
        delay_texts
            .iter()
            .any(|t| t.starts_with("cilium-code (p99"))
    );
    assert!(delay_texts.iter().any(|t| t.starts_with("sliceplane (p99")));
    let writes_texts: BTreeSet<String> = svg_texts(svgs[1]).into_iter().map(|t| t.1).collect();
    for key in ["cilium-code", "cilium-helm", "sliceplane"] {
        assert!(
            writes_texts
                .iter()
                .any(|t| t.starts_with(&format!("{key} (")))
        );
    }
    let fill_texts: BTreeSet<String> = svg_texts(svgs[2]).into_iter().map(|t| t.1).collect();
    assert!(fill_texts.contains("before the churn (all)"));
    assert!(fill_texts.contains("sliceplane after"));
    // The side-by-side table: one row per configuration; the engine table
    // has the summary lines of the text.
    let tables: Vec<roxmltree::Node> = root
        .descendants()
        .filter(|n| n.has_tag_name("table"))
        .collect();
    let side = tables
        .iter()
        .find(|t| t.attribute("class") == Some("side"))
        .unwrap();
    assert_eq!(side.children().filter(|n| n.has_tag_name("tr")).count(), 4);
    let engine = tables
        .iter()
        .find(|t| t.attribute("class") == Some("engine"))
        .unwrap();
    let cells: Vec<&str> = engine.descendants().filter_map(|n| n.text()).collect();
    for label in [
        "cold build:",
        "apply (wall):",
        "snapshot publish:",
        "IP -> identity:",
        "peak memory:",
    ] {
        assert!(cells.contains(&label), "engine table lacks {label}");
        assert!(text.contains(label));
    }
    let _ = std::fs::remove_file(html);
}

/// A List as `kubectl get pods,namespaces,nodes -A -o json` prints it,
/// with the fields kubectl adds that the engine ignores.
fn kubectl_list() -> Value {
    let mut items = Vec::new();
    for ns in ["shop", "web", "kube-system"] {
        items.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "uid": format!("uid-{ns}"), "resourceVersion": "10",
                "labels": {"kubernetes.io/metadata.name": ns},
                "managedFields": [{"manager": "kube-apiserver", "operation": "Update"}]},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
    }
    for n in 0..4 {
        items.push(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("aks-pool-{n}"), "uid": format!("node-{n}"), "resourceVersion": "20",
                "labels": {"kubernetes.io/hostname": format!("aks-pool-{n}")}},
            "spec": {"podCIDR": format!("10.244.{n}.0/24")},
            "status": {"addresses": [{"type": "InternalIP", "address": format!("10.224.0.{}", n + 4)},
                                      {"type": "Hostname", "address": format!("aks-pool-{n}")}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}));
    }
    let mut k = 0u32;
    let mut pod = |ns: &str, app: &str, rs: &str, ip: Option<String>, host: bool, phase: &str| {
        let node = k % 4;
        k += 1;
        let mut status = json!({"phase": phase, "hostIP": format!("10.224.0.{}", node + 4),
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0}]});
        if let Some(ip) = ip {
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
        let hash = rs.rsplit('-').next().unwrap();
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{rs}-{k:05}"), "namespace": ns, "uid": format!("pod-{k}"),
                "resourceVersion": format!("{}", 100 + k), "generateName": format!("{rs}-"),
                "labels": {"app": app, "pod-template-hash": hash, "version": "v1"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                    "uid": format!("rs-{rs}"), "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"nodeName": format!("aks-pool-{node}"), "serviceAccountName": app,
                "hostNetwork": host, "restartPolicy": "Always",
                "containers": [{"name": "app", "image": "registry.example/app:1",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
            "status": status})
    };
    let ip = |i: u32| Some(format!("10.244.{}.{}", i / 200, i % 200 + 2));
    let mut n = 0u32;
    for _ in 0..30 {
        items.push(pod(
            "shop",
            "cart",
            "cart-7d9f8c6b5d",
            ip(n),
            false,
            "Running",
        ));
        n += 1;
    }
    for _ in 0..12 {
        items.push(pod(
            "shop",
            "pay",
            "pay-5c4b7f9d88",
            ip(n),
            false,
            "Running",
        ));
        n += 1;
    }
    for _ in 0..150 {
        items.push(pod(
            "web",
            "front",
            "front-6f8d9c7b4",
            ip(n),
            false,
            "Running",
        ));
        n += 1;
    }
    // No endpoint: host network, pending without an IP, finished.
    for i in 0..4 {
        items.push(pod(
            "kube-system",
            "proxy",
            "proxy-abcde",
            Some(format!("10.224.0.{}", i + 4)),
            true,
            "Running",
        ));
    }
    items.push(pod(
        "shop",
        "cart",
        "cart-7d9f8c6b5d",
        None,
        false,
        "Pending",
    ));
    items.push(pod("shop", "job", "job-x7k2p", ip(n), false, "Succeeded"));
    items.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "front", "namespace": "web"},
        "spec": {"clusterIP": "10.0.0.10"}}));
    json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})
}

#[test]
fn from_a_kubectl_list_simulates_that_cluster() {
    let file = tmp("cluster.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&kubectl_list()).unwrap(),
    )
    .unwrap();
    let f = file.to_string_lossy().into_owned();
    let v = json_of(&["simulate", "--from", &f]);
    let c = &v["cluster"];
    assert_eq!(c["origin"], format!("--from {f}"));
    assert_eq!(
        (u(&c["pods"]), u(&c["nodes"]), u(&c["namespaces"])),
        (192, 4, 3)
    );
    assert_eq!((u(&c["controllers"]), u(&c["label_sets"])), (3, 3));
    let imp = &c["import"];
    assert_eq!(imp["endpoints_from"], "pods");
    assert_eq!((u(&imp["skipped_pods"]), u(&imp["other_objects"])), (6, 1));
    for cfg in v["configurations"].as_array().unwrap() {
        let initial = &cfg["phases"][0];
        // shop: 42 endpoints (1 slice), web: 150 (2 slices).
        assert_eq!((u(&initial["slices"]), u(&initial["ideal_slices"])), (3, 3));
        assert_eq!(u(&initial["writes"]["slice_writes"]), 3);
        assert_eq!(u(&initial["writes"]["total"]), 6); // + 3 identities
    }
    // The traces ran on this cluster's shape: one node of four drained
    // (48 pods: delete + re-create), one controller of three relabelled.
    let traces: HashMap<String, u64> = v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["trace"].as_str().unwrap().to_string(), u(&t["events"])))
        .collect();
    assert_eq!(traces["node-drain"], 96);
    assert!([30, 12, 150].contains(&traces["label-change"]));
    assert!([60, 24, 300].contains(&traces["rolling-update"]));
    // The text names the file.
    let text = ok(&["simulate", "--from", &f]);
    assert!(squash(&text).contains(&format!("--from {f}")));
    assert!(text.contains("192 pods on 4 nodes, 3 namespaces, 3 label sets"));
    // --from excludes a generated size.
    let o = run(&["simulate", "--from", &f, "--pods", "10", "--nodes", "2"]);
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_file(file);
}

#[test]
fn from_a_list_of_ciliumendpoints() {
    let mut items = Vec::new();
    for i in 0..250u32 {
        let ns = if i < 120 { "a" } else { "b" };
        let app = if i % 2 == 0 { "x" } else { "y" };
        items.push(json!({"apiVersion": "cilium.io/v2", "kind": "CiliumEndpoint",
            "metadata": {"name": format!("{app}-{i}"), "namespace": ns, "resourceVersion": "5"},
            "status": {"identity": {"id": 1000 + (i % 2), "labels": [format!("k8s:app={app}"),
                           format!("k8s:io.kubernetes.pod.namespace={ns}")]},
                       "networking": {"addressing": [{"ipv4": format!("10.1.{}.{}", i / 250, i % 250 + 1)}],
                                      "node": format!("192.168.1.{}", i % 5 + 1)},
                       "named-ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}));
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    let file = tmp("ceps.json");
    std::fs::write(&file, list.to_string()).unwrap();
    let f = file.to_string_lossy().into_owned();
    let v = json_of(&["simulate", "--from", &f, "--source", "ciliumendpoints"]);
    let c = &v["cluster"];
    assert_eq!(c["import"]["endpoints_from"], "ciliumendpoints");
    assert_eq!(
        (u(&c["pods"]), u(&c["nodes"]), u(&c["namespaces"])),
        (250, 5, 2)
    );
    assert_eq!(u(&c["controllers"]), 4); // (namespace, identity)
    for cfg in v["configurations"].as_array().unwrap() {
        // a: 120 endpoints → 2 slices, b: 130 → 2.
        assert_eq!(u(&cfg["phases"][0]["ideal_slices"]), 4);
    }
    let _ = std::fs::remove_file(file);
}

#[test]
fn pacing_flags_change_the_timeline_not_the_changes() {
    let base = [
        "simulate",
        "--pods",
        "1000",
        "--nodes",
        "50",
        "--trace",
        "rolling-update",
    ];
    let realistic = json_of(&base);
    let mut a = base.to_vec();
    a.extend(["--pacing", "flood", "--flood-rate", "1000"]);
    let flood = json_of(&a);
    // The same deployments are rolled either way.
    assert_eq!(realistic["traces"], flood["traces"]);
    assert_eq!(realistic["pacing"]["kind"], "realistic");
    assert_eq!(
        flood["pacing"],
        json!({"kind": "flood", "events_per_sec": 1000})
    );
    let mut a = base.to_vec();
    a.extend([
        "--max-surge",
        "100",
        "--max-unavailable",
        "0",
        "--ready-ms",
        "2000",
        "--eviction-rate",
        "3",
        "--relabel-rate",
        "7",
    ]);
    let fast = json_of(&a);
    let p = &fast["pacing"];
    assert_eq!(
        (u(&p["max_surge_percent"]), u(&p["max_unavailable_percent"])),
        (100, 0)
    );
    assert_eq!(
        (
            u(&p["ready_ms"]),
            u(&p["evictions_per_sec"]),
            u(&p["relabels_per_sec"])
        ),
        (2000, 3, 7)
    );
    // Surge 100%: every new pod at once, then every old one after ready:
    // the rollout spans one readiness period plus the start jitter.
    let span = |v: &Value| u(&v["configurations"][2]["phases"][1]["span_ms"]);
    assert!(
        span(&fast) < span(&realistic),
        "{} vs {}",
        span(&fast),
        span(&realistic)
    );
    assert_eq!(
        run(&["simulate", "--pacing", "slow"]).status.code(),
        Some(2)
    );
    assert_eq!(
        run(&["simulate", "--eviction-rate", "0"]).status.code(),
        Some(2)
    );
}

#[test]
fn yours_is_a_fourth_configuration_and_runs_are_deterministic() {
    let cfg = tmp("yours.yaml");
    std::fs::write(
        &cfg,
        "write:\n  syncDelayMs: 0\n  rateLimits: [{nodes: 0, limit: 1000, burst: 1000}]\n",
    )
    .unwrap();
    let c = cfg.to_string_lossy().into_owned();
    let mut a = SMALL.to_vec();
    a.extend(["--config", &c]);
    let one = json_of(&a);
    let two = json_of(&a);
    let figures = |v: &Value| -> Vec<Value> {
        v["configurations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                json!([
                    c["key"],
                    c["writes"],
                    c["delay_ms"],
                    c["slices"],
                    c["plots"]
                ])
            })
            .collect()
    };
    assert_eq!(figures(&one), figures(&two));
    let configs = one["configurations"].as_array().unwrap();
    assert_eq!(configs.len(), 4);
    assert_eq!(configs[3]["key"], "yours");
    assert_eq!(configs[3]["description"], format!("--config {c}"));
    assert_eq!(configs[3]["config"]["write"]["syncDelayMs"], 0);
    let _ = std::fs::remove_file(cfg);
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(cmd))
            .find(|f| f.is_file())
    })
}

fn screenshot(chromium: &Path, page: &Path, png: &Path) -> Output {
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,2400",
            "--enable-logging=stderr",
            "--v=0",
            "--log-level=0",
            &format!("--screenshot={}", png.display()),
            &format!("file://{}", page.display()),
        ])
        .output()
        .unwrap()
}

/// Loads the report in headless Chromium: no console errors, and the
/// screenshot carries far more than a blank page's.
/// `SLICEPLANE_BROWSER_TESTS=1 cargo test -p sliceplane-cli --test simulate`
#[test]
fn report_renders_in_headless_chromium() {
    if std::env::var("SLICEPLANE_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set SLICEPLANE_BROWSER_TESTS=1 to load the report in Chromium");
        return;
    }
    let chromium = which("chromium")
        .or_else(|| which("chromium-browser"))
        .expect("SLICEPLANE_BROWSER_TESTS=1 needs chromium on the PATH");
    let html = tmp("browser.html");
    let html_s = html.to_string_lossy().into_owned();
    let mut a = SMALL.to_vec();
    a.extend(["--report", &html_s]);
    ok(&a);
    let blank = tmp("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let (png, blank_png) = (tmp("report.png"), tmp("blank.png"));
    let o = screenshot(&chromium, &html, &png);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    assert!(!log.contains("CONSOLE"), "console output: {log}");
    assert!(!log.contains("Uncaught"), "{log}");
    screenshot(&chromium, &blank, &blank_png);
    let size = std::fs::metadata(&png).unwrap().len();
    let blank_size = std::fs::metadata(&blank_png).unwrap().len();
    assert!(
        size > 20 * blank_size.max(1),
        "{size} vs blank {blank_size} bytes"
    );
    for f in [html, blank, png, blank_png] {
        let _ = std::fs::remove_file(f);
    }
}
