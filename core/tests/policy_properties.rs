//! Properties of the verdict engine: monotonicity of allow and deny rules,
//! independence from arrival order, incremental = from scratch, and a
//! Cilium peer chosen by namespace name or by a namespace label only that
//! namespace carries selects the same pods.

use std::collections::BTreeMap;
use std::net::IpAddr;

use proptest::prelude::*;
use serde_json::{Value, json};
use sliceplane::labels::{Label, LabelSet};
use sliceplane::policy::{
    Decision, Flow, NamedPort, Peer, PolicyConfig, PolicyEndpoint, PolicyEngine, PolicyKey,
    PolicyOptions, Protocol, Verdict,
};

const NS: [&str; 2] = ["x", "y"];
const POD: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum PeerG {
    Pod(usize),
    Ns(usize),
    Both(usize, usize),
    Cidr(usize),
    Entity(usize),
}

#[derive(Debug, Clone)]
enum PortG {
    Num(u16),
    Range,
    Named(u16),
    Udp(u16),
}

#[derive(Debug, Clone)]
struct RuleG {
    peers: Vec<PeerG>,
    ports: Vec<PortG>,
}

#[derive(Debug, Clone)]
struct PolicyG {
    ns: usize,
    subject: Option<usize>,
    cilium: bool,
    ingress: Vec<RuleG>,
    egress: Vec<RuleG>,
    types: (bool, bool),
}

fn peer_g() -> impl Strategy<Value = PeerG> {
    prop_oneof![
        (0..3usize).prop_map(PeerG::Pod),
        (0..2usize).prop_map(PeerG::Ns),
        (0..2usize, 0..3usize).prop_map(|(n, p)| PeerG::Both(n, p)),
        (0..6usize).prop_map(PeerG::Cidr),
        (0..3usize).prop_map(PeerG::Entity),
    ]
}

fn port_g() -> impl Strategy<Value = PortG> {
    prop_oneof![
        (80u16..82).prop_map(PortG::Num),
        Just(PortG::Range),
        (80u16..82).prop_map(PortG::Named),
        (80u16..82).prop_map(PortG::Udp),
    ]
}

fn rule_g() -> impl Strategy<Value = RuleG> {
    (
        prop::collection::vec(peer_g(), 0..3),
        prop::collection::vec(port_g(), 0..2),
    )
        .prop_map(|(peers, ports)| RuleG { peers, ports })
}

fn policy_g() -> impl Strategy<Value = PolicyG> {
    (
        0..2usize,
        prop::option::of(0..3usize),
        any::<bool>(),
        prop::collection::vec(rule_g(), 0..3),
        prop::collection::vec(rule_g(), 0..3),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(|(ns, subject, cilium, ingress, egress, types)| PolicyG {
            ns,
            subject,
            cilium,
            ingress,
            egress,
            types,
        })
}

fn ep_ip(ns: usize, pod: usize) -> String {
    format!("10.{}.0.{}", ns + 1, pod + 1)
}

fn np_peer(p: &PeerG) -> Value {
    match p {
        PeerG::Pod(i) => json!({"podSelector": {"matchLabels": {"pod": POD[*i]}}}),
        PeerG::Ns(i) => json!({"namespaceSelector": {"matchLabels": {"ns": NS[*i]}}}),
        PeerG::Both(n, i) => json!({"namespaceSelector": {"matchLabels": {"ns": NS[*n]}},
                                    "podSelector": {"matchLabels": {"pod": POD[*i]}}}),
        PeerG::Cidr(i) => {
            json!({"ipBlock": {"cidr": "10.0.0.0/8", "except": [format!("{}/32", ep_ip(i % 2, i % 3))]}})
        }
        PeerG::Entity(_) => json!({"ipBlock": {"cidr": "0.0.0.0/0"}}),
    }
}

fn np_port(p: &PortG) -> Value {
    match p {
        PortG::Num(n) => json!({"port": n}),
        PortG::Range => json!({"port": 80, "endPort": 81}),
        PortG::Named(n) => json!({"port": format!("serve-{n}-tcp")}),
        PortG::Udp(n) => json!({"port": n, "protocol": "UDP"}),
    }
}

fn cnp_ports(ports: &[PortG]) -> Value {
    let list: Vec<Value> = ports
        .iter()
        .map(|p| match p {
            PortG::Num(n) => json!({"port": n.to_string(), "protocol": "TCP"}),
            PortG::Range => json!({"port": "80", "endPort": 81}),
            PortG::Named(n) => json!({"port": format!("serve-{n}-tcp")}),
            PortG::Udp(n) => json!({"port": n.to_string(), "protocol": "UDP"}),
        })
        .collect();
    json!([{"ports": list}])
}

fn cnp_rule(r: &RuleG, dir: &str) -> Value {
    let mut m = serde_json::Map::new();
    let mut eps = Vec::new();
    let mut cidrs = Vec::new();
    let mut ents = Vec::new();
    for p in &r.peers {
        match p {
            PeerG::Pod(i) => eps.push(json!({"matchLabels": {"pod": POD[*i]}})),
            PeerG::Ns(i) => {
                eps.push(json!({"matchLabels": {"k8s:io.kubernetes.pod.namespace": NS[*i]}}))
            }
            PeerG::Both(n, i) => eps.push(json!({"matchLabels": {"pod": POD[*i],
                "io.kubernetes.pod.namespace": NS[*n]}})),
            PeerG::Cidr(i) => cidrs.push(
                json!({"cidr": "10.0.0.0/8", "except": [format!("{}/32", ep_ip(i % 2, i % 3))]}),
            ),
            PeerG::Entity(i) => ents.push(json!(["world", "cluster", "all"][*i])),
        }
    }
    if !eps.is_empty() {
        m.insert(format!("{dir}Endpoints"), json!(eps));
    }
    if !cidrs.is_empty() {
        m.insert(format!("{dir}CIDRSet"), json!(cidrs));
    }
    if !ents.is_empty() {
        m.insert(format!("{dir}Entities"), json!(ents));
    }
    if !r.ports.is_empty() {
        m.insert("toPorts".into(), cnp_ports(&r.ports));
    }
    Value::Object(m)
}

fn policy_json(p: &PolicyG, name: &str) -> Value {
    let ns = NS[p.ns];
    let subject = match p.subject {
        Some(i) => json!({"matchLabels": {"pod": POD[i]}}),
        None => json!({}),
    };
    if p.cilium {
        let ing: Vec<Value> = p.ingress.iter().map(|r| cnp_rule(r, "from")).collect();
        let eg: Vec<Value> = p.egress.iter().map(|r| cnp_rule(r, "to")).collect();
        json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
               "metadata": {"name": name, "namespace": ns},
               "spec": {"endpointSelector": subject, "ingress": ing, "egress": eg}})
    } else {
        let rule = |r: &RuleG, peer_key: &str| {
            json!({peer_key: r.peers.iter().map(np_peer).collect::<Vec<_>>(),
                   "ports": r.ports.iter().map(np_port).collect::<Vec<_>>()})
        };
        let mut types = Vec::new();
        if p.types.0 {
            types.push("Ingress");
        }
        if p.types.1 {
            types.push("Egress");
        }
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": name, "namespace": ns},
               "spec": {"podSelector": subject, "policyTypes": types,
                        "ingress": p.ingress.iter().map(|r| rule(r, "from")).collect::<Vec<_>>(),
                        "egress": p.egress.iter().map(|r| rule(r, "to")).collect::<Vec<_>>()}})
    }
}

/// A deny-only Cilium policy.
fn deny_json(p: &PolicyG, name: &str) -> Value {
    let ing: Vec<Value> = p.ingress.iter().map(|r| cnp_rule(r, "from")).collect();
    let eg: Vec<Value> = p.egress.iter().map(|r| cnp_rule(r, "to")).collect();
    let subject = match p.subject {
        Some(i) => json!({"matchLabels": {"pod": POD[i]}}),
        None => json!({}),
    };
    json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
           "metadata": {"name": name, "namespace": NS[p.ns]},
           "spec": {"endpointSelector": subject, "ingressDeny": ing, "egressDeny": eg}})
}

/// An endpoint of the world: namespace, name, pod label.
#[derive(Debug, Clone)]
struct EpG {
    ns: usize,
    idx: usize,
    pod_label: usize,
}

fn labels_of(e: &EpG) -> LabelSet {
    LabelSet::from_labels([
        Label::k8s("pod", POD[e.pod_label]),
        Label::k8s("io.kubernetes.pod.namespace", NS[e.ns]),
        Label::k8s("io.cilium.k8s.namespace.labels.ns", NS[e.ns]),
    ])
}

fn identity_of(e: &EpG) -> u32 {
    256 + (e.ns * 3 + e.pod_label) as u32
}

fn endpoint_of(e: &EpG) -> PolicyEndpoint {
    let mut named_ports = Vec::new();
    for port in [80u16, 81] {
        named_ports.push(NamedPort {
            name: format!("serve-{port}-tcp"),
            port,
            protocol: Protocol::Tcp,
        });
    }
    PolicyEndpoint {
        namespace: NS[e.ns].to_string(),
        name: POD[e.idx].to_string(),
        identity: identity_of(e),
        ips: vec![ep_ip(e.ns, e.idx).parse().unwrap()],
        named_ports,
        node: Some(format!("node-{}", e.idx % 2)),
    }
}

fn world_g() -> impl Strategy<Value = Vec<EpG>> {
    prop::collection::vec(0..3usize, 6).prop_map(|labels| {
        labels
            .into_iter()
            .enumerate()
            .map(|(i, l)| EpG {
                ns: i / 3,
                idx: i % 3,
                pod_label: l,
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Input {
    Identity(u32, LabelSet),
    Endpoint(PolicyEndpoint),
    Node(String, Vec<IpAddr>),
    Policy(Value),
}

fn inputs(world: &[EpG], policies: &[Value]) -> Vec<Input> {
    let mut out = Vec::new();
    let mut ids = BTreeMap::new();
    for e in world {
        ids.insert(identity_of(e), labels_of(e));
        out.push(Input::Endpoint(endpoint_of(e)));
    }
    for (id, l) in ids {
        out.push(Input::Identity(id, l));
    }
    out.push(Input::Node(
        "node-0".into(),
        vec!["192.168.0.1".parse().unwrap()],
    ));
    out.push(Input::Node(
        "node-1".into(),
        vec!["192.168.0.2".parse().unwrap()],
    ));
    for p in policies {
        out.push(Input::Policy(p.clone()));
    }
    out
}

fn build(inputs: &[Input], config: &PolicyConfig) -> PolicyEngine {
    let mut e = PolicyEngine::new(config.clone());
    for i in inputs {
        match i {
            Input::Identity(id, l) => e.upsert_identity(*id, l.clone()),
            Input::Endpoint(ep) => e.upsert_endpoint(ep.clone()),
            Input::Node(n, ips) => e.upsert_node(n, ips.clone()),
            Input::Policy(p) => {
                e.upsert_policy(p).unwrap();
            }
        }
    }
    e
}

fn peers() -> Vec<Peer> {
    let mut v = Vec::new();
    for ns in NS {
        for p in POD {
            v.push(Peer::endpoint(ns, p));
        }
    }
    v.push(Peer::Ip("8.8.8.8".parse().unwrap()));
    v.push(Peer::Ip("192.168.0.2".parse().unwrap()));
    v
}

fn grid(e: &PolicyEngine) -> Vec<Verdict> {
    let mut out = Vec::new();
    let ps = peers();
    for f in &ps {
        for t in &ps {
            for port in [80u16, 81] {
                for proto in [Protocol::Tcp, Protocol::Udp] {
                    let flow = Flow::new(f.clone(), t.clone(), port, proto);
                    let v = e.evaluate(&flow).unwrap();
                    // The fast path agrees with the full evaluation.
                    assert_eq!(e.decide(&flow).unwrap(), v.decision);
                    out.push(v);
                }
            }
        }
    }
    out
}

fn decisions(e: &PolicyEngine) -> Vec<Decision> {
    grid(e).into_iter().map(|v| v.decision).collect()
}

fn config_g() -> impl Strategy<Value = PolicyConfig> {
    any::<bool>().prop_map(|b| PolicyConfig {
        ip_block_selects_cluster_ips: b,
        ..PolicyConfig::default()
    })
}

/// Makes every port entry of a Cilium policy apply to any protocol.
fn any_protocol(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "protocol" {
                    *x = json!("ANY");
                } else {
                    any_protocol(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(any_protocol),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn decide_agrees_with_evaluate_under_audit_and_any_protocol(
        world in world_g(),
        policies in prop::collection::vec((policy_g(), any::<bool>(), any::<bool>()), 0..4),
        denies in prop::collection::vec((policy_g(), any::<bool>(), any::<bool>()), 0..3),
        audit_mode in any::<bool>(),
        ip_block_selects_cluster_ips in any::<bool>(),
    ) {
        // `decide` reads an index of the rules by port with the peers of
        // rules sharing a port merged; `evaluate` scans every rule. They
        // must agree with audit policies, global audit, deny rules and
        // port entries for any protocol, on ports in and out of the rules.
        let config = PolicyConfig {
            audit_mode,
            ip_block_selects_cluster_ips,
            ..PolicyConfig::default()
        };
        let mut e = build(&inputs(&world, &[]), &config);
        let allows = policies.iter().map(|(p, audit, any)| (policy_json(p, "p"), *audit, *any && p.cilium));
        let denies = denies.iter().map(|(p, audit, any)| (deny_json(p, "d"), *audit, *any));
        for (i, (mut v, audit, any)) in allows.chain(denies).enumerate() {
            if any {
                any_protocol(&mut v);
            }
            v["metadata"]["name"] = json!(format!("p{i}"));
            e.upsert_policy_with(&v, PolicyOptions { audit }).unwrap();
        }
        let ps = peers();
        for f in &ps {
            for t in &ps {
                for port in [80u16, 81, 82] {
                    for proto in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
                        let flow = Flow::new(f.clone(), t.clone(), port, proto);
                        let v = e.evaluate(&flow).unwrap();
                        prop_assert_eq!(e.decide(&flow).unwrap(), v.decision, "{}", flow.from);
                    }
                }
            }
        }
    }

    #[test]
    fn adding_an_allow_rule_never_removes_a_permitted_flow(
        world in world_g(),
        mut policies in prop::collection::vec(policy_g(), 1..4),
        extra in rule_g(),
        egress in any::<bool>(),
        config in config_g(),
    ) {
        // Explicit policy types: adding a rule never changes isolation.
        for p in &mut policies {
            p.types = (true, true);
        }
        let named: Vec<Value> = policies.iter().enumerate().map(|(i, p)| policy_json(p, &format!("p{i}"))).collect();
        let before = decisions(&build(&inputs(&world, &named), &config));
        let mut more = policies.clone();
        if let Some(first) = more.first_mut() {
            let list = if egress { &mut first.egress } else { &mut first.ingress };
            // In Cilium a section's presence isolates: add to an existing one.
            prop_assume!(!first.cilium || !list.is_empty());
            list.push(extra);
        }
        let named: Vec<Value> = more.iter().enumerate().map(|(i, p)| policy_json(p, &format!("p{i}"))).collect();
        let after = decisions(&build(&inputs(&world, &named), &config));
        for (b, a) in before.iter().zip(&after) {
            if *b == Decision::Allow {
                prop_assert_eq!(*a, Decision::Allow);
            }
        }
    }

    #[test]
    fn adding_a_deny_never_adds_a_permitted_flow(
        world in world_g(),
        policies in prop::collection::vec(policy_g(), 0..4),
        deny in policy_g(),
        config in config_g(),
    ) {
        let mut named: Vec<Value> = policies.iter().enumerate().map(|(i, p)| policy_json(p, &format!("p{i}"))).collect();
        let before = decisions(&build(&inputs(&world, &named), &config));
        named.push(deny_json(&deny, "deny"));
        let after = decisions(&build(&inputs(&world, &named), &config));
        for (b, a) in before.iter().zip(&after) {
            if *a == Decision::Allow {
                prop_assert_eq!(*b, Decision::Allow);
            }
        }
    }

    #[test]
    fn cnp_peers_by_namespace_name_or_namespace_label_agree(
        world in world_g(),
        policies in prop::collection::vec(policy_g(), 0..4),
        denies in prop::collection::vec(policy_g(), 0..2),
        config in config_g(),
    ) {
        // As Cilium: naming a namespace label lifts the pin to the policy's
        // namespace just as naming the namespace does, for allow and deny.
        let mut named: Vec<Value> = policies.iter().enumerate().map(|(i, p)| policy_json(p, &format!("p{i}"))).collect();
        named.extend(denies.iter().enumerate().map(|(i, p)| deny_json(p, &format!("d{i}"))));
        let relabelled: Vec<Value> = named.iter().map(by_namespace_label).collect();
        prop_assert_eq!(
            decisions(&build(&inputs(&world, &named), &config)),
            decisions(&build(&inputs(&world, &relabelled), &config))
        );
    }

    #[test]
    fn arrival_order_never_changes_a_verdict(
        world in world_g(),
        policies in prop::collection::vec(policy_g(), 0..5),
        perm in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        config in config_g(),
    ) {
        let named: Vec<Value> = policies.iter().enumerate().map(|(i, p)| policy_json(p, &format!("p{i}"))).collect();
        let ins = inputs(&world, &named);
        let mut shuffled = ins.clone();
        // Fisher-Yates with a tiny LCG seeded by the case.
        let mut s = perm | 1;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = (s >> 33) as usize % (i + 1);
            shuffled.swap(i, j);
        }
        prop_assert_eq!(grid(&build(&ins, &config)), grid(&build(&shuffled, &config)));
    }

    #[test]
    fn incremental_equals_from_scratch(
        world in world_g(),
        relabel in world_g(),
        first in prop::collection::vec(policy_g(), 0..5),
        second in prop::collection::vec(policy_g(), 0..5),
        removals in prop::collection::vec(0..5usize, 0..3),
        config in config_g(),
    ) {
        // Start from one world and policy set...
        let named: Vec<Value> = first.iter().enumerate().map(|(i, p)| policy_json(p, &format!("p{i}"))).collect();
        let mut engine = build(&inputs(&world, &named), &config);
        // ...then change policies, remove some, relabel endpoints.
        let mut final_policies: BTreeMap<String, Value> =
            named.iter().enumerate().map(|(i, p)| (format!("p{i}"), p.clone())).collect();
        for (i, p) in second.iter().enumerate() {
            let v = policy_json(p, &format!("p{i}"));
            let key = engine.upsert_policy(&v).unwrap();
            // The old version may have lived in the other kind or namespace.
            if let Some(old) = final_policies.get(&format!("p{i}")) {
                let old_key = policy_key(old);
                if old_key != key {
                    engine.remove_policy(&old_key);
                }
            }
            final_policies.insert(format!("p{i}"), v);
        }
        for r in removals {
            if let Some(v) = final_policies.remove(&format!("p{r}")) {
                prop_assert!(engine.remove_policy(&policy_key(&v)));
            }
        }
        for (old, new) in world.iter().zip(&relabel) {
            let new = EpG { ns: old.ns, idx: old.idx, pod_label: new.pod_label };
            engine.upsert_identity(identity_of(&new), labels_of(&new));
            engine.upsert_endpoint(endpoint_of(&new));
        }
        // Identities no endpoint uses any more.
        let used: Vec<u32> = world.iter().zip(&relabel)
            .map(|(o, n)| identity_of(&EpG { ns: o.ns, idx: o.idx, pod_label: n.pod_label }))
            .collect();
        for e in &world {
            let id = identity_of(e);
            if !used.contains(&id) {
                engine.remove_identity(id);
            }
        }
        let final_world: Vec<EpG> = world.iter().zip(&relabel)
            .map(|(o, n)| EpG { ns: o.ns, idx: o.idx, pod_label: n.pod_label })
            .collect();
        let final_list: Vec<Value> = final_policies.into_values().collect();
        let scratch = build(&inputs(&final_world, &final_list), &config);
        prop_assert_eq!(grid(&engine), grid(&scratch));
        prop_assert_eq!(engine.stats().selectors, scratch.stats().selectors);
    }
}

/// Rewrites every namespace-name key of a Cilium peer selector
/// (`[k8s:]io.kubernetes.pod.namespace`) into the namespace label `ns`,
/// which in this world each namespace carries with its own name.
fn by_namespace_label(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let k = match k.as_str() {
                        "k8s:io.kubernetes.pod.namespace" => {
                            "k8s:io.cilium.k8s.namespace.labels.ns".to_string()
                        }
                        "io.kubernetes.pod.namespace" => {
                            "io.cilium.k8s.namespace.labels.ns".to_string()
                        }
                        _ => k.clone(),
                    };
                    (k, by_namespace_label(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(by_namespace_label).collect()),
        other => other.clone(),
    }
}

fn policy_key(v: &Value) -> PolicyKey {
    let kind = match v["kind"].as_str() {
        Some("CiliumNetworkPolicy") => sliceplane::policy::PolicyKind::CiliumNetworkPolicy,
        _ => sliceplane::policy::PolicyKind::NetworkPolicy,
    };
    PolicyKey::new(
        kind,
        v["metadata"]["namespace"].as_str().unwrap_or(""),
        v["metadata"]["name"].as_str().unwrap_or(""),
    )
}
