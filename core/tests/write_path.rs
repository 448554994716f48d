//! Living with the API server (DESIGN.md §5, §8): backoff on caller time,
//! dropped slices picked up again, rate-limit steps, empty-before-delete,
//! conflicts, health, metrics text and events.

mod common;

use common::*;
use sliceplane::config::{RateLimitStep, SliceMode, Source};
use sliceplane::health::Health;
use sliceplane::mirror::Mirror;
use sliceplane::model::Object;
use sliceplane::plan::{Outcome, Verb, WriteOp};
use sliceplane::{Config, Engine};

fn synced(c: Config) -> Engine {
    let mut e = Engine::new(c).unwrap();
    e.initial_sync_done(0);
    e
}

fn cep_config() -> Config {
    config(Source::Ciliumendpoints, SliceMode::Fcfs, 100)
}

fn fail(e: &mut Engine, now: u64) -> usize {
    let plan = e.flush(now);
    for w in &plan.writes {
        e.report(
            w.id,
            &Outcome::Error {
                message: "etcd timeout".into(),
            },
            now,
        )
        .unwrap();
    }
    plan.len()
}

#[test]
fn backoff_doubles_up_to_the_cap_then_drops_and_is_picked_up_again() {
    let mut c = cep_config();
    c.write.retry.base_ms = 1000;
    c.write.retry.cap_ms = 4000;
    c.write.retry.max_retries = 4;
    let mut e = synced(c);
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    // Failure n waits base * 2^(n-1), capped: 1 s, 2 s, 4 s, 4 s.
    let mut t = 0;
    assert_eq!(fail(&mut e, t), 1);
    for wait in [1000u64, 2000, 4000, 4000] {
        assert_eq!(e.flush(t + wait - 1).len(), 0, "not before {wait} ms");
        assert_eq!(e.next_due(), Some(t + wait), "due when the backoff ends");
        t += wait;
        assert_eq!(fail(&mut e, t), 1, "retried after {wait} ms");
    }
    // Fifth failure passed max_retries (4): dropped with an error event.
    let events = e.drain_events();
    assert!(
        events
            .iter()
            .any(|ev| ev.kind == "slice-dropped"
                && ev.severity == sliceplane::events::Severity::Error)
    );
    assert_eq!(e.stats().dirty_slices, 0);
    assert!(e.flush(t + 1_000_000).is_empty(), "dropped from the queue");
    assert!(
        e.metrics_text()
            .contains("cilium_operator_ces_sync_total{outcome=\"fail\",failure_type=\"fatal\"} 1")
    );
    // The next change picks it up again.
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "b", 300, "10.0.0.2"))),
        t + 10,
    )
    .unwrap();
    let plan = e.flush(t + 10);
    assert_eq!(plan.len(), 1);
    let WriteOp::CreateSlice(s) = &plan.writes[0].op else {
        panic!("{:?}", plan.writes[0].op)
    };
    assert_eq!(s.endpoints.len(), 2);
}

#[test]
fn resync_picks_up_a_dropped_slice() {
    let mut c = cep_config();
    c.write.retry.max_retries = 0;
    let mut e = synced(c);
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    assert_eq!(fail(&mut e, 0), 1);
    assert!(e.flush(10_000_000).is_empty());
    e.resync(10_000_000);
    assert_eq!(e.flush(10_000_000).len(), 1);
}

#[test]
fn rate_limit_step_follows_node_count() {
    let mut c = cep_config();
    c.write.rate_limits = vec![
        RateLimitStep {
            nodes: 0,
            limit: 1.0,
            burst: 2,
        },
        RateLimitStep {
            nodes: 3,
            limit: 10.0,
            burst: 5,
        },
    ];
    let mut e = synced(c);
    for ns in 0..8 {
        e.apply(
            &add(Object::CiliumEndpoint(cep(
                &format!("ns{ns}"),
                "p",
                300,
                &ip(ns),
            ))),
            0,
        )
        .unwrap();
    }
    // 0 nodes: burst 2, then 1 per second.
    assert_eq!(e.flush(0).len(), 2);
    assert_eq!(e.flush(500).len(), 0);
    assert_eq!(e.next_due(), Some(1000));
    assert_eq!(e.flush(1000).len(), 1);
    // Crossing 3 nodes switches to 10/s burst 5 (tokens refill from there).
    for n in 0..3 {
        e.apply(
            &add(Object::CiliumNode(cilium_node(
                &format!("node-{n}"),
                &format!("192.168.0.{n}"),
                0,
            ))),
            1000,
        )
        .unwrap();
    }
    assert_eq!(e.node_count(), 3);
    assert!(
        e.drain_events()
            .iter()
            .any(|ev| ev.kind == "rate-limit-changed")
    );
    assert_eq!(e.flush(1100).len(), 1, "100 ms at 10/s");
    assert_eq!(
        e.flush(1600).len(),
        4,
        "5 more tokens by now, 4 slices left"
    );
    assert!(
        e.metrics_text()
            .contains("sliceplane_rate_limit_writes_per_second 10")
    );
    // Going back under the step restores the slow rate.
    e.apply(
        &delete(Object::CiliumNode(cilium_node("node-0", "192.168.0.0", 0))),
        2000,
    )
    .unwrap();
    assert!(
        e.metrics_text()
            .contains("sliceplane_rate_limit_writes_per_second 1\n")
    );
}

#[test]
fn priority_namespaces_win_when_rate_limited() {
    let mut c = cep_config();
    c.write.rate_limits = vec![RateLimitStep {
        nodes: 0,
        limit: 1.0,
        burst: 1,
    }];
    let mut e = synced(c);
    let mut prio = namespace("urgent", &[]);
    prio.metadata
        .annotations
        .insert("cilium.io/ces-namespace".into(), "priority".into());
    e.apply(&add(Object::Namespace(prio)), 0).unwrap();
    e.apply(
        &add(Object::CiliumEndpoint(cep("old", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::CiliumEndpoint(cep("urgent", "b", 300, "10.0.0.2"))),
        100,
    )
    .unwrap();
    let plan = e.flush(100);
    assert_eq!(plan.len(), 1);
    let WriteOp::CreateSlice(s) = &plan.writes[0].op else {
        panic!()
    };
    assert_eq!(s.namespace, "urgent", "priority beats older");
    let text = e.metrics_text();
    assert!(
        text.contains("cilium_operator_ces_queueing_delay_seconds_count{queue=\"fast\"} 1"),
        "{text}"
    );
}

#[test]
fn empty_before_delete_above_threshold() {
    let mut c = cep_config();
    c.write.empty_before_delete_threshold = 2;
    let mut e = synced(c);
    let mut m = Mirror::new();
    let ceps: Vec<_> = (0..3)
        .map(|i| cep("ns", &format!("p{i}"), 300, &ip(i)))
        .collect();
    for x in &ceps {
        e.apply(&add(Object::CiliumEndpoint(x.clone())), 0).unwrap();
    }
    m.settle(&mut e, 0, 5).unwrap();
    for x in &ceps {
        e.apply(&delete(Object::CiliumEndpoint(x.clone())), 1)
            .unwrap();
    }
    let plan = e.flush(1);
    assert_eq!(plan.len(), 1);
    let WriteOp::UpdateSlice(s) = &plan.writes[0].op else {
        panic!("first empty it: {:?}", plan.writes[0].op)
    };
    assert!(s.endpoints.is_empty());
    let v = serde_json::to_value(s).unwrap();
    assert_eq!(
        v["endpoints"],
        serde_json::json!([]),
        "endpoints present and empty"
    );
    m.apply_plan(&mut e, &plan, 1).unwrap();
    let stored = m.slices.values().next().unwrap().clone();
    let plan = e.flush(1);
    assert_eq!(plan.len(), 1);
    match &plan.writes[0].op {
        WriteOp::DeleteSlice { preconditions, .. } => {
            assert_eq!(preconditions.uid, stored.metadata.uid);
            assert_eq!(
                preconditions.resource_version,
                stored.metadata.resource_version
            );
        }
        op => panic!("then delete it: {op:?}"),
    }
    m.apply_plan(&mut e, &plan, 1).unwrap();
    assert!(m.slices.is_empty());
}

#[test]
fn small_slices_are_deleted_directly_and_failed_emptying_issues_no_delete() {
    let mut c = cep_config();
    c.write.empty_before_delete_threshold = 2;
    let mut e = synced(c);
    let mut m = Mirror::new();
    let a = cep("ns", "a", 300, "10.0.0.1");
    e.apply(&add(Object::CiliumEndpoint(a.clone())), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    e.apply(&delete(Object::CiliumEndpoint(a)), 1).unwrap();
    assert_eq!(
        e.flush(1).writes[0].op.verb(),
        Verb::Delete,
        "below the threshold"
    );

    let mut e = synced({
        let mut c = cep_config();
        c.write.empty_before_delete_threshold = 1;
        c
    });
    let mut m = Mirror::new();
    let a = cep("ns", "a", 300, "10.0.0.1");
    e.apply(&add(Object::CiliumEndpoint(a.clone())), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    e.apply(&delete(Object::CiliumEndpoint(a)), 1).unwrap();
    let plan = e.flush(1);
    assert_eq!(plan.writes[0].op.verb(), Verb::Update);
    e.report(plan.writes[0].id, &Outcome::Conflict, 1).unwrap();
    assert!(e.flush(1).is_empty(), "no delete after a failed emptying");
}

#[test]
fn conflict_replans_against_the_observed_object() {
    let mut e = synced(cep_config());
    let mut m = Mirror::new();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let name = m.slices.keys().next().unwrap().clone();
    // Someone else writes the slice; we have not seen it yet.
    let mut theirs = m.slices[&name].clone();
    theirs.endpoints[0].id = 999;
    assert!(m.apply(&WriteOp::UpdateSlice(theirs)).is_success());
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "b", 300, "10.0.0.2"))),
        1,
    )
    .unwrap();
    let plan = e.flush(1);
    let outcome = m.apply(&plan.writes[0].op);
    assert_eq!(outcome, Outcome::Conflict, "our resourceVersion is stale");
    e.report(plan.writes[0].id, &outcome, 1).unwrap();
    assert!(
        e.flush(2).is_empty(),
        "no hot loop: wait for news or the backoff"
    );
    // The watch delivers the newest object: re-plan at once against it.
    e.apply(
        &modify(Object::CiliumEndpointSlice(m.slices[&name].clone())),
        3,
    )
    .unwrap();
    let plan = e.flush(3);
    assert_eq!(plan.len(), 1);
    m.apply_plan(&mut e, &plan, 3).unwrap();
    let s = &m.slices[&name];
    assert_eq!(s.endpoints.len(), 2);
    assert!(
        s.endpoints.iter().all(|x| x.id == 300),
        "foreign edit repaired"
    );
    assert_eq!(e.desired_slices(), m.slices_without_meta());
}

#[test]
fn a_late_echo_of_an_older_write_changes_nothing() {
    let mut e = synced(cep_config());
    let mut m = Mirror::new();
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let name = m.slices.keys().next().unwrap().clone();
    let first = m.slices[&name].clone();
    // A second write succeeds before the watch delivers the first one's echo.
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "b", 300, "10.0.0.2"))),
        1,
    )
    .unwrap();
    m.settle(&mut e, 1, 5).unwrap();
    e.apply(&modify(Object::CiliumEndpointSlice(first)), 2)
        .unwrap();
    assert_eq!(e.stats().dirty_slices, 0, "the old echo is not news");
    // The next change updates against the newest version: no conflict.
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "c", 300, "10.0.0.3"))),
        3,
    )
    .unwrap();
    let plan = e.flush(3);
    assert_eq!(plan.len(), 1);
    assert!(
        m.apply(&plan.writes[0].op).is_success(),
        "updated against the newest resourceVersion"
    );
    // The newest echo, and a foreign newer version, are still taken in.
    let mut foreign = m.slices[&name].clone();
    foreign.endpoints.clear();
    foreign.metadata.resource_version = Some("1000".into());
    e.report(plan.writes[0].id, &Outcome::success("999", "u"), 3)
        .unwrap();
    e.apply(&modify(Object::CiliumEndpointSlice(foreign)), 4)
        .unwrap();
    assert_eq!(
        e.stats().dirty_slices,
        1,
        "a newer foreign edit is repaired"
    );
}

#[test]
fn degraded_and_recovery() {
    let mut c = cep_config();
    c.write.error_threshold.consecutive_failures = 3;
    c.write.error_threshold.failure_ratio = 0.0;
    c.write.retry.base_ms = 1;
    c.write.retry.cap_ms = 1;
    let mut e = synced(c);
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    for t in 0..3 {
        assert_eq!(e.health(), &Health::Healthy);
        assert_eq!(fail(&mut e, t * 10), 1);
    }
    let Health::Degraded { reason } = e.health().clone() else {
        panic!("degraded after 3 failures")
    };
    assert!(reason.contains("3 consecutive"), "{reason}");
    assert!(e.metrics_text().contains("sliceplane_degraded 1"));
    let plan = e.flush(100);
    e.report(plan.writes[0].id, &Outcome::success("7", "u"), 100)
        .unwrap();
    assert_eq!(e.health(), &Health::Healthy);
    let kinds: Vec<String> = e
        .drain_events()
        .into_iter()
        .filter(|ev| ev.category == sliceplane::events::Category::Health)
        .map(|ev| ev.kind)
        .collect();
    assert_eq!(kinds, vec!["degraded", "healthy"]);
}

#[test]
fn event_categories_can_be_switched_off() {
    let mut c = cep_config();
    c.events.slices = false;
    c.write.retry.max_retries = 0;
    let mut e = synced(c);
    e.apply(
        &add(Object::CiliumEndpoint(cep("ns", "a", 300, "10.0.0.1"))),
        0,
    )
    .unwrap();
    fail(&mut e, 0);
    assert!(
        e.drain_events()
            .iter()
            .all(|ev| ev.category != sliceplane::events::Category::Slices)
    );
}

/// Every line is a comment, blank, or `name{labels} value` with a finite or ±Inf value;
/// every sample's family has HELP and TYPE before it; histograms are cumulative and
/// end with +Inf equal to _count.
fn check_exposition(text: &str) {
    use std::collections::HashMap;
    let sample = regex::Regex::new(r#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$"#).unwrap();
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    let mut last_bucket: HashMap<String, f64> = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (n, t) = (it.next().unwrap(), it.next().unwrap());
            assert!(["counter", "gauge", "histogram"].contains(&t), "{line}");
            assert!(
                typed.insert(n.to_string(), t.to_string()).is_none(),
                "TYPE twice: {line}"
            );
            continue;
        }
        let caps = sample
            .captures(line)
            .unwrap_or_else(|| panic!("bad sample line: {line:?}"));
        let name = &caps[1];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(
            typed.contains_key(family) && helped.contains(family),
            "no HELP/TYPE before {line}"
        );
        let v: f64 = caps[caps.len() - 1].parse().unwrap();
        if name.ends_with("_bucket") {
            let series = line.split("le=").next().unwrap().to_string();
            let prev = last_bucket.insert(series, v).unwrap_or(0.0);
            assert!(v >= prev, "buckets must be cumulative: {line}");
        }
    }
}

#[test]
fn metrics_text_parses_and_counts_agree_with_the_plan() {
    let mut e = synced(config(Source::Pods, SliceMode::Fcfs, 2));
    let mut m = Mirror::new();
    for i in 0..5 {
        e.apply(
            &add(Object::Pod(pod(
                "ns",
                &format!("p{i}"),
                &format!("app{}", i % 2),
                "n1",
                &ip(i),
            ))),
            0,
        )
        .unwrap();
    }
    let mut planned = std::collections::BTreeMap::<(String, String), u64>::new();
    let plan = e.flush(0);
    for w in plan.iter() {
        *planned
            .entry((
                w.op.kind().as_str().to_string(),
                w.op.verb().as_str().to_string(),
            ))
            .or_default() += 1;
    }
    m.apply_plan(&mut e, &plan, 0).unwrap();
    e.observe_apply_seconds(0.000_2).unwrap();
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let err = e.observe_apply_seconds(bad).unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (sliceplane::ErrorCode::InvalidValue, "seconds")
        );
    }
    let text = e.metrics_text();
    check_exposition(&text);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let get = |metric: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                other => panic!("{metric}: {other:?}"),
            })
            .unwrap_or_else(|| panic!("no sample {metric} {labels:?}\n{text}"))
    };
    assert_eq!(
        get(
            "sliceplane_writes_planned_total",
            &[("kind", "slice"), ("verb", "create")]
        ),
        planned[&("CiliumEndpointSlice".to_string(), "create".to_string())] as f64
    );
    assert_eq!(
        get(
            "sliceplane_writes_planned_total",
            &[("kind", "identity"), ("verb", "create")]
        ),
        planned[&("CiliumIdentity".to_string(), "create".to_string())] as f64
    );
    assert_eq!(
        get("cilium_operator_ces_sync_total", &[("outcome", "success")]),
        3.0,
        "3 slices for 5 pods, max 2"
    );
    assert_eq!(get("sliceplane_endpoints", &[]), 5.0);
    assert_eq!(get("sliceplane_slices", &[]), 3.0);
    assert_eq!(get("sliceplane_identities", &[]), 2.0);
    assert_eq!(get("sliceplane_pending_writes", &[]), 0.0);
    let ceps = scrape
        .samples
        .iter()
        .find(|s| s.metric == "cilium_operator_number_of_ceps_per_ces")
        .unwrap();
    let prometheus_parse::Value::Histogram(buckets) = &ceps.value else {
        panic!()
    };
    assert_eq!(
        buckets.iter().find(|b| b.less_than == 1.0).unwrap().count,
        1.0,
        "one slice of 1"
    );
    assert_eq!(
        buckets.iter().find(|b| b.less_than == 10.0).unwrap().count,
        3.0
    );
    let apply = scrape
        .samples
        .iter()
        .find(|s| s.metric == "sliceplane_apply_duration_seconds")
        .unwrap();
    let prometheus_parse::Value::Histogram(b) = &apply.value else {
        panic!()
    };
    assert_eq!(b.last().unwrap().count, 1.0);
}

/// The namespace and endpoint count of each slice write in `plan`.
fn slice_writes(plan: &sliceplane::plan::WritePlan) -> Vec<(String, usize)> {
    plan.writes
        .iter()
        .filter_map(|w| match &w.op {
            WriteOp::CreateSlice(s) | WriteOp::UpdateSlice(s) => {
                Some((s.namespace.clone(), s.endpoints.len()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn flush_at_most_plans_the_oldest_and_later_changes_join_the_slices_left_dirty() {
    let mut e = synced(cep_config());
    for (t, ns) in ["a", "b", "c"].into_iter().enumerate() {
        let ep = cep(ns, "one", 300, &ip(t as u32 + 1));
        e.apply(&add(Object::CiliumEndpoint(ep)), t as u64).unwrap();
    }
    // One idle writer: the oldest dirty slice only; b and c stay dirty.
    let first = e.flush_at_most(3, 1);
    assert_eq!(slice_writes(&first), vec![("a".to_string(), 1)]);
    assert_eq!(
        e.next_due(),
        Some(1),
        "b, left out, was due since it changed"
    );
    // A change to b while the writer is busy joins b's one write.
    let ep = cep("b", "two", 300, &ip(10));
    e.apply(&add(Object::CiliumEndpoint(ep)), 4).unwrap();
    // Zero: nothing for slices.
    assert!(slice_writes(&e.flush_at_most(5, 0)).is_empty());
    let rest = e.flush_at_most(5, 5);
    assert_eq!(
        slice_writes(&rest),
        vec![("b".to_string(), 2), ("c".to_string(), 1)],
        "oldest first, b with both of its endpoints"
    );
    // Everything planned is in flight: an unlimited flush adds nothing.
    assert!(e.flush(6).is_empty());
    // The same as one unlimited flush would have planned, in total.
    let mut whole = synced(cep_config());
    for (t, ns) in ["a", "b", "c"].into_iter().enumerate() {
        let ep = cep(ns, "one", 300, &ip(t as u32 + 1));
        whole
            .apply(&add(Object::CiliumEndpoint(ep)), t as u64)
            .unwrap();
    }
    let ep = cep("b", "two", 300, &ip(10));
    whole.apply(&add(Object::CiliumEndpoint(ep)), 4).unwrap();
    let mut all = slice_writes(&whole.flush(5));
    all.sort();
    let mut parts = slice_writes(&first);
    parts.extend(slice_writes(&rest));
    parts.sort();
    assert_eq!(parts, all);
}
