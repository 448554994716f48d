//! Scale check (ignored by default; run with
//! `cargo test --release -p sliceplane --test policy_scale -- --ignored --nocapture`):
//! 10,000 identities × 1,000 policies, one incremental identity, lookups.

use std::time::Instant;

use serde_json::json;
use sliceplane::labels::{Label, LabelSet};
use sliceplane::policy::{Flow, NamedPort, Peer, PolicyEndpoint, PolicyEngine, Protocol};

const NAMESPACES: usize = 100;
const PER_NS: usize = 100;

fn labels(ns: usize, i: usize) -> LabelSet {
    LabelSet::from_labels([
        Label::k8s("app", &format!("app{}", i % 20)),
        Label::k8s("instance", &format!("i{i}")),
        Label::k8s("io.kubernetes.pod.namespace", &format!("ns{ns}")),
        Label::k8s(
            "io.cilium.k8s.namespace.labels.team",
            &format!("team{}", ns % 10),
        ),
        Label::k8s("io.cilium.k8s.policy.cluster", "default"),
    ])
}

fn policy(ns: usize, k: usize) -> serde_json::Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": format!("p{k}"), "namespace": format!("ns{ns}")},
           "spec": {"podSelector": {"matchLabels": {"app": format!("app{}", k % 20)}},
                    "ingress": [{"from": [
                        {"podSelector": {"matchLabels": {"app": format!("app{}", (k + 1) % 20)}}},
                        {"namespaceSelector": {"matchLabels": {"team": format!("team{}", k % 10)}}}],
                        "ports": [{"port": 80}, {"port": 8000, "endPort": 8100}]}]}})
}

#[test]
#[ignore]
fn ten_thousand_identities_thousand_policies() {
    let mut e = PolicyEngine::default();
    let t = Instant::now();
    for ns in 0..NAMESPACES {
        for i in 0..PER_NS {
            let id = 256 + (ns * PER_NS + i) as u32;
            e.upsert_identity(id, labels(ns, i));
            e.upsert_endpoint(PolicyEndpoint {
                namespace: format!("ns{ns}"),
                name: format!("pod{i}"),
                identity: id,
                ips: vec![
                    format!("10.{}.{}.{}", ns / 250, ns % 250, i + 1)
                        .parse()
                        .unwrap(),
                ],
                named_ports: vec![NamedPort {
                    name: "http".into(),
                    port: 80,
                    protocol: Protocol::Tcp,
                }],
                node: Some(format!("node{}", i % 10)),
            });
        }
    }
    for k in 0..1000 {
        e.upsert_policy(&policy(k % NAMESPACES, k)).unwrap();
    }
    let build = t.elapsed();
    let stats = e.stats();
    println!("build: {build:?} {stats:?}");

    let t = Instant::now();
    e.upsert_identity(100_000, labels(5, 3));
    let add = t.elapsed();
    println!("add one identity: {add:?}");

    // pod3 (app3) is isolated by p3, p103, ...; pod4 (app4) is allowed in.
    let flow = Flow::new(
        Peer::endpoint("ns3", "pod4"),
        Peer::endpoint("ns3", "pod3"),
        80,
        Protocol::Tcp,
    );
    let denied = Flow::new(
        Peer::endpoint("ns4", "pod5"),
        Peer::endpoint("ns3", "pod3"),
        80,
        Protocol::Tcp,
    );
    assert_eq!(
        e.decide(&denied).unwrap(),
        sliceplane::policy::Decision::Deny
    );
    let n = 1_000_000;
    let t = Instant::now();
    let mut allowed = 0;
    for _ in 0..n {
        if e.decide(std::hint::black_box(&flow)).unwrap() == sliceplane::policy::Decision::Allow {
            allowed += 1;
        }
    }
    let per = t.elapsed() / n;
    println!("decide: {per:?} per lookup ({allowed} allowed)");
    let t = Instant::now();
    for _ in 0..n {
        let _ = std::hint::black_box(e.decide(std::hint::black_box(&denied)));
    }
    println!(
        "decide (denied, scans every rule): {:?} per lookup",
        t.elapsed() / n
    );
    let v = e.evaluate(&flow).unwrap();
    assert_eq!(v.decision, sliceplane::policy::Decision::Allow);
    assert_eq!(allowed, n);
    println!("verdict: {v:?}");

    // Policies first, identities after.
    let t = Instant::now();
    let mut e = PolicyEngine::default();
    for k in 0..1000 {
        e.upsert_policy(&policy(k % NAMESPACES, k)).unwrap();
    }
    for ns in 0..NAMESPACES {
        for i in 0..PER_NS {
            e.upsert_identity(256 + (ns * PER_NS + i) as u32, labels(ns, i));
        }
    }
    println!("build, policies first: {:?}", t.elapsed());
}
