//! A CiliumNetworkPolicy peer selected by namespace labels spans
//! namespaces (DESIGN.md §13). Cilium's `getEndpointSelector`
//! (`pkg/k8s/apis/cilium.io/utils/utils.go`) adds the policy's namespace to
//! a `fromEndpoints`/`toEndpoints` selector only when it names neither
//! `io.kubernetes.pod.namespace` nor an `io.cilium.k8s.namespace.labels.*`
//! key (source `k8s:`, `any:` or none; matchLabels or matchExpressions),
//! for allow and deny rules alike. Clusterwide policies are never pinned.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sliceplane::model::{Namespace, Pod};
use sliceplane::policy::{Decision, PolicyCluster, PolicyConfig, Protocol};

const TCP: Protocol = Protocol::Tcp;

/// alpha {env: dev}: p1, p2; beta {team: web}: p3, p4; gamma {env: prod,
/// team: web}: p5. Every pod labelled `app: <name>`.
const PODS: [(&str, &str); 5] = [
    ("alpha", "p1"),
    ("alpha", "p2"),
    ("beta", "p3"),
    ("beta", "p4"),
    ("gamma", "p5"),
];

fn world() -> PolicyCluster {
    let namespaces: Vec<Namespace> = [
        ("alpha", json!({"env": "dev"})),
        ("beta", json!({"team": "web"})),
        ("gamma", json!({"env": "prod", "team": "web"})),
    ]
    .into_iter()
    .map(|(name, labels)| {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels}}))
        .unwrap()
    })
    .collect();
    let pods: Vec<Pod> = PODS
        .iter()
        .enumerate()
        .map(|(i, (ns, name))| {
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
                "spec": {"nodeName": "node-1", "containers": [{"name": "c"}]},
                "status": {"podIP": format!("10.0.0.{}", i + 1), "hostIP": "192.168.0.1"}}))
            .unwrap()
        })
        .collect();
    PolicyCluster::new(&namespaces, &pods, PolicyConfig::default()).unwrap()
}

fn cnp(ns: &str, spec: Value) -> Value {
    json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
           "metadata": {"name": "p", "namespace": ns}, "spec": spec})
}

fn ccnp(spec: Value) -> Value {
    json!({"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
           "metadata": {"name": "p"}, "spec": spec})
}

/// Every flow between two different pods on 443/TCP that is not allowed.
fn denied(c: &mut PolicyCluster) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (fns, f) in PODS {
        for (tns, t) in PODS {
            let (from, to) = (format!("{fns}/{f}"), format!("{tns}/{t}"));
            if from == to {
                continue;
            }
            let v = c.probe(&from, &to, 443, TCP).unwrap();
            if v.decision != Decision::Allow {
                out.insert((from, to));
            }
        }
    }
    out
}

/// The flows into (`ingress`) or out of every pod of `ns` from or to pods
/// outside `allowed`.
fn isolated(ns: &str, ingress: bool, allowed: &[&str]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (sns, s) in PODS.iter().filter(|(n, _)| *n == ns) {
        for (pns, p) in PODS {
            let (subject, peer) = (format!("{sns}/{s}"), format!("{pns}/{p}"));
            if subject == peer || allowed.contains(&peer.as_str()) {
                continue;
            }
            out.insert(if ingress {
                (peer, subject)
            } else {
                (subject, peer)
            });
        }
    }
    out
}

fn with(policy: Value) -> PolicyCluster {
    let mut c = world();
    c.upsert_policy(&policy).unwrap();
    c
}

/// The minimal case: a CNP in beta allowing from namespaces
/// labelled env=dev lets alpha/p2 reach beta/p3 on 443/TCP, and only pods
/// of env=dev namespaces (not beta's own).
#[test]
fn ingress_from_namespace_labels_spans_namespaces() {
    for key in [
        "k8s:io.cilium.k8s.namespace.labels.env",
        "any:io.cilium.k8s.namespace.labels.env",
        "io.cilium.k8s.namespace.labels.env",
    ] {
        let mut c = with(cnp(
            "beta",
            json!({"endpointSelector": {},
                   "ingress": [{"fromEndpoints": [{"matchLabels": {key: "dev"}}]}]}),
        ));
        let v = c.probe("alpha/p2", "beta/p3", 443, TCP).unwrap();
        assert_eq!(v.decision, Decision::Allow, "{key}");
        assert_eq!(
            denied(&mut c),
            isolated("beta", true, &["alpha/p1", "alpha/p2"]),
            "{key}"
        );
    }
}

#[test]
fn match_expressions_on_namespace_labels_span_namespaces() {
    let cases = [
        (
            json!({"operator": "In", "values": ["dev"]}),
            vec!["alpha/p1", "alpha/p2"],
        ),
        (
            json!({"operator": "Exists"}),
            vec!["alpha/p1", "alpha/p2", "gamma/p5"],
        ),
        // NotIn and DoesNotExist also match namespaces without the label,
        // beta's own among them: still not confined to beta.
        (
            json!({"operator": "NotIn", "values": ["prod"]}),
            vec!["alpha/p1", "alpha/p2", "beta/p3", "beta/p4"],
        ),
        (
            json!({"operator": "DoesNotExist"}),
            vec!["beta/p3", "beta/p4"],
        ),
    ];
    for (op, allowed) in cases {
        let mut expr = op.clone();
        expr["key"] = json!("k8s:io.cilium.k8s.namespace.labels.env");
        let mut c = with(cnp(
            "beta",
            json!({"endpointSelector": {},
                   "ingress": [{"fromEndpoints": [{"matchExpressions": [expr]}]}]}),
        ));
        assert_eq!(denied(&mut c), isolated("beta", true, &allowed), "{op}");
    }
    // Combined with a pod label: that pod in every matching namespace.
    let mut c = with(cnp(
        "beta",
        json!({"endpointSelector": {},
               "ingress": [{"fromEndpoints": [{
                   "matchLabels": {"app": "p5"},
                   "matchExpressions": [{"key": "io.cilium.k8s.namespace.labels.team",
                                         "operator": "Exists"}]}]}]}),
    ));
    assert_eq!(denied(&mut c), isolated("beta", true, &["gamma/p5"]));
}

/// With `ingressDeny` the old pinning allowed traffic Cilium denies.
#[test]
fn ingress_deny_by_namespace_labels_denies_other_namespaces() {
    let mut c = with(cnp(
        "beta",
        json!({"endpointSelector": {},
               "ingress": [{"fromEntities": ["all"]}],
               "ingressDeny": [{"fromEndpoints": [
                   {"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.env": "dev"}}]}]}),
    ));
    let v = c.probe("alpha/p2", "beta/p3", 443, TCP).unwrap();
    assert_eq!(v.decision, Decision::Deny);
    assert_eq!(v.deciding[0].path, "spec.ingressDeny[0]");
    let mut want = BTreeSet::new();
    for from in ["alpha/p1", "alpha/p2"] {
        for to in ["beta/p3", "beta/p4"] {
            want.insert((from.to_string(), to.to_string()));
        }
    }
    assert_eq!(denied(&mut c), want);
}

#[test]
fn egress_to_namespace_labels_spans_namespaces() {
    let mut c = with(cnp(
        "alpha",
        json!({"endpointSelector": {"matchLabels": {"app": "p2"}},
               "egress": [{"toEndpoints": [
                   {"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.team": "web"}}]}]}),
    ));
    assert_eq!(
        c.probe("alpha/p2", "beta/p3", 443, TCP).unwrap().decision,
        Decision::Allow
    );
    let mut want = isolated("alpha", false, &["beta/p3", "beta/p4", "gamma/p5"]);
    want.retain(|(from, _)| from == "alpha/p2");
    assert_eq!(denied(&mut c), want);
}

#[test]
fn egress_deny_by_namespace_labels_denies_other_namespaces() {
    let mut c = with(cnp(
        "alpha",
        json!({"endpointSelector": {},
               "egress": [{"toEntities": ["all"]}],
               "egressDeny": [{"toEndpoints": [{"matchExpressions": [
                   {"key": "any:io.cilium.k8s.namespace.labels.env",
                    "operator": "In", "values": ["prod"]}]}]}]}),
    ));
    let v = c.probe("alpha/p2", "gamma/p5", 443, TCP).unwrap();
    assert_eq!(v.decision, Decision::Deny);
    assert_eq!(v.deciding[0].path, "spec.egressDeny[0]");
    let want: BTreeSet<(String, String)> = ["alpha/p1", "alpha/p2"]
        .iter()
        .map(|f| (f.to_string(), "gamma/p5".to_string()))
        .collect();
    assert_eq!(denied(&mut c), want);
}

/// A selector naming neither the namespace nor a namespace label stays in
/// the policy's namespace; a source other than `k8s`/`any` does not count
/// as naming one.
#[test]
fn other_peer_selectors_stay_in_the_policy_namespace() {
    let mut c = with(cnp(
        "beta",
        json!({"endpointSelector": {},
               "ingress": [{"fromEndpoints": [
                   {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                   {"matchLabels": {"container:io.cilium.k8s.namespace.labels.env": "dev"}}]}]}),
    ));
    assert_eq!(
        denied(&mut c),
        isolated("beta", true, &["beta/p3", "beta/p4"])
    );
}

/// Clusterwide policies are unchanged: their peers span namespaces with
/// or without a namespace-label key.
#[test]
fn clusterwide_policy_is_unchanged() {
    let mut c = with(ccnp(
        json!({"endpointSelector": {"matchLabels": {"app": "p3"}},
               "ingress": [{"fromEndpoints": [
                   {"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.env": "dev"}},
                   {"matchLabels": {"app": "p5"}}]}]}),
    ));
    let mut want = isolated("beta", true, &["alpha/p1", "alpha/p2", "gamma/p5"]);
    want.retain(|(_, to)| to == "beta/p3");
    assert_eq!(denied(&mut c), want);
}
