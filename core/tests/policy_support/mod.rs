//! The Kubernetes e2e netpol model: namespaces x, y, z; pods a, b, c in
//! each (label `pod: <name>`), serving 80 and 81 over TCP, UDP and SCTP
//! with named ports `serve-<port>-<proto>`. Plus a Reachability helper
//! shaped like the e2e suite's.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sliceplane::model::{Namespace, Pod};
use sliceplane::policy::{Decision, Matrix, Peer, PolicyCluster, PolicyConfig, Protocol};

pub const NAMESPACES: [&str; 3] = ["x", "y", "z"];
pub const PODS: [&str; 3] = ["a", "b", "c"];

/// Pod IP: 10.<ns index + 1>.0.<pod index + 1>.
pub fn pod_ip(ns: &str, pod: &str) -> String {
    let n = NAMESPACES.iter().position(|x| *x == ns).unwrap_or(0) + 1;
    let p = PODS.iter().position(|x| *x == pod).unwrap_or(0) + 1;
    format!("10.{n}.0.{p}")
}

/// Node of a pod: pods a and b on node-1, c on node-2.
pub fn pod_node(pod: &str) -> (&'static str, &'static str) {
    if pod == "c" {
        ("node-2", "192.168.0.2")
    } else {
        ("node-1", "192.168.0.1")
    }
}

pub fn namespaces() -> Vec<Namespace> {
    NAMESPACES
        .iter()
        .map(|ns| {
            serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns, "ns": ns}}
            }))
            .unwrap()
        })
        .collect()
}

pub fn pods() -> Vec<Pod> {
    let mut out = Vec::new();
    for ns in NAMESPACES {
        for pod in PODS {
            let mut ports = Vec::new();
            for port in [80, 81] {
                for proto in ["TCP", "UDP", "SCTP"] {
                    ports.push(json!({
                        "name": format!("serve-{port}-{}", proto.to_lowercase()),
                        "containerPort": port, "protocol": proto
                    }));
                }
            }
            let (node, host_ip) = pod_node(pod);
            out.push(
                serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod, "namespace": ns, "labels": {"pod": pod}},
                    "spec": {"nodeName": node, "containers": [{"name": "c", "ports": ports}]},
                    "status": {"podIP": pod_ip(ns, pod), "hostIP": host_ip}
                }))
                .unwrap(),
            );
        }
    }
    out
}

pub fn cluster() -> PolicyCluster {
    cluster_with(PolicyConfig::default())
}

pub fn cluster_with(config: PolicyConfig) -> PolicyCluster {
    PolicyCluster::new(&namespaces(), &pods(), config).unwrap()
}

pub fn all_pods() -> Vec<String> {
    let mut v = Vec::new();
    for ns in NAMESPACES {
        for p in PODS {
            v.push(format!("{ns}/{p}"));
        }
    }
    v
}

/// Expected reachability, as the e2e suite builds it.
pub struct Reachability {
    pub expected: BTreeMap<(String, String), Decision>,
}

impl Reachability {
    pub fn new(allowed: bool) -> Self {
        let d = if allowed {
            Decision::Allow
        } else {
            Decision::Deny
        };
        let mut expected = BTreeMap::new();
        for f in all_pods() {
            for t in all_pods() {
                expected.insert((f.clone(), t), d);
            }
        }
        Reachability { expected }
    }
    fn set(&mut self, f: &str, t: &str, d: Decision) {
        self.expected.insert((f.to_string(), t.to_string()), d);
    }
    pub fn expect(&mut self, from: &str, to: &str, allowed: bool) -> &mut Self {
        self.set(
            from,
            to,
            if allowed {
                Decision::Allow
            } else {
                Decision::Deny
            },
        );
        self
    }
    pub fn expect_decision(&mut self, from: &str, to: &str, d: Decision) -> &mut Self {
        self.set(from, to, d);
        self
    }
    pub fn expect_all_ingress(&mut self, to: &str, allowed: bool) -> &mut Self {
        for f in all_pods() {
            self.expect(&f, to, allowed);
        }
        self
    }
    pub fn expect_all_egress(&mut self, from: &str, allowed: bool) -> &mut Self {
        for t in all_pods() {
            self.expect(from, &t, allowed);
        }
        self
    }
    /// Traffic from a pod to itself is always allowed.
    pub fn allow_loopback(&mut self) -> &mut Self {
        for p in all_pods() {
            self.expect(&p, &p, true);
        }
        self
    }
    pub fn to_matrix(&self) -> Matrix {
        let peers: Vec<Peer> = all_pods().iter().map(|p| Peer::parse(p).unwrap()).collect();
        let all = all_pods();
        let cells = all
            .iter()
            .map(|f| {
                all.iter()
                    .map(|t| self.expected.get(&(f.clone(), t.clone())).copied())
                    .collect()
            })
            .collect();
        Matrix {
            peers,
            port: 80.into(),
            protocol: Protocol::Tcp,
            cells,
        }
    }
}

/// Compares the cluster's matrix for `port`/`protocol` with `expected`,
/// printing both truth tables on a mismatch.
#[track_caller]
pub fn check(c: &mut PolicyCluster, port: u16, protocol: Protocol, expected: &mut Reachability) {
    expected.allow_loopback();
    let got = c.matrix(port, protocol);
    let want = expected.to_matrix();
    assert_eq!(
        got.to_truth_table(),
        want.to_truth_table(),
        "\nport {port}/{protocol}\ngot:\n{}\nwant:\n{}",
        got.to_truth_table(),
        want.to_truth_table()
    );
}

pub fn np(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

pub fn cnp(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

pub fn ccnp(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
           "metadata": {"name": name}, "spec": spec})
}
