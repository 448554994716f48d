//! Kubernetes NetworkPolicy semantics, case by case, on the e2e model.

mod policy_support;

use policy_support::*;
use serde_json::json;
use sliceplane::ErrorCode;
use sliceplane::policy::{
    Decision, DecisionReason, PolicyConfig, PolicyKey, PolicyKind, Protocol, RuleEffect,
};

const TCP: Protocol = Protocol::Tcp;
const UDP: Protocol = Protocol::Udp;
const SCTP: Protocol = Protocol::Sctp;

#[test]
fn no_policy_allows_everything() {
    let mut c = cluster();
    for proto in [TCP, UDP, SCTP] {
        check(&mut c, 80, proto, &mut Reachability::new(true));
    }
}

#[test]
fn default_deny_ingress() {
    let mut c = cluster();
    c.upsert_policy(&np("x", "deny-ingress", json!({"podSelector": {}})))
        .unwrap();
    let mut r = Reachability::new(true);
    for p in ["x/a", "x/b", "x/c"] {
        r.expect_all_ingress(p, false);
    }
    check(&mut c, 80, TCP, &mut r);
    check(&mut c, 81, UDP, &mut r);
    let v = c.probe("y/a", "x/a", 80, TCP).unwrap();
    assert_eq!(v.ingress.reason, DecisionReason::DefaultDeny);
    assert_eq!(v.deciding.len(), 1);
    assert_eq!(v.deciding[0].effect, RuleEffect::DefaultDeny);
    assert_eq!(v.deciding[0].name, "deny-ingress");
}

#[test]
fn default_deny_egress() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "deny-egress",
        json!({"podSelector": {}, "policyTypes": ["Egress"]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    for p in ["x/a", "x/b", "x/c"] {
        r.expect_all_egress(p, false);
    }
    check(&mut c, 80, TCP, &mut r);
    let v = c.probe("x/a", "y/a", 80, TCP).unwrap();
    assert_eq!(v.egress.reason, DecisionReason::DefaultDeny);
    assert_eq!(v.ingress.reason, DecisionReason::NotIsolated);
}

#[test]
fn allow_all_ingress_after_deny() {
    let mut c = cluster();
    c.upsert_policy(&np("x", "deny", json!({"podSelector": {}})))
        .unwrap();
    c.upsert_policy(&np(
        "x",
        "allow-all",
        json!({"podSelector": {}, "ingress": [{}]}),
    ))
    .unwrap();
    check(&mut c, 80, TCP, &mut Reachability::new(true));
    check(&mut c, 81, SCTP, &mut Reachability::new(true));
}

#[test]
fn pod_selector_only_is_the_policy_namespace() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "from-b",
        json!({"podSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/a", false)
        .expect("x/b", "x/a", true);
    check(&mut c, 80, TCP, &mut r);
}

#[test]
fn namespace_selector_only_is_every_pod_in_matching_namespaces() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "from-y",
        json!({"podSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/a", false);
    for p in ["y/a", "y/b", "y/c"] {
        r.expect(p, "x/a", true);
    }
    check(&mut c, 80, TCP, &mut r);

    // `kubernetes.io/metadata.name` and matchExpressions work too.
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "not-y",
        json!({"podSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [
                   {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["y"]}]}}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    for p in ["y/a", "y/b", "y/c"] {
        r.expect(p, "x/a", false);
    }
    check(&mut c, 80, TCP, &mut r);
}

#[test]
fn empty_namespace_selector_is_all_pods_everywhere() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "all-ns",
        json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}),
    ))
    .unwrap();
    check(&mut c, 80, TCP, &mut Reachability::new(true));
    // But not outside addresses.
    let v = c.probe("8.8.8.8", "x/a", 80, TCP).unwrap();
    assert_eq!(v.decision, Decision::Deny);
}

#[test]
fn pod_and_namespace_selector_in_one_peer_are_anded() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "and",
        json!({"podSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"from": [{
                   "namespaceSelector": {"matchLabels": {"ns": "y"}},
                   "podSelector": {"matchLabels": {"pod": "b"}}}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/a", false)
        .expect("y/b", "x/a", true);
    check(&mut c, 80, TCP, &mut r);
}

#[test]
fn pod_and_namespace_selector_as_two_peers_are_ored() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "or",
        json!({"podSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"from": [
                   {"namespaceSelector": {"matchLabels": {"ns": "y"}}},
                   {"podSelector": {"matchLabels": {"pod": "b"}}}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/a", false)
        .expect("x/b", "x/a", true);
    for p in ["y/a", "y/b", "y/c"] {
        r.expect(p, "x/a", true);
    }
    check(&mut c, 80, TCP, &mut r);
}

#[test]
fn stacked_policies_are_a_union() {
    let mut c = cluster();
    let from = |name: &str, pod: &str| {
        np(
            "x",
            name,
            json!({"podSelector": {"matchLabels": {"pod": "a"}},
                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": pod}}}]}]}),
        )
    };
    c.upsert_policy(&from("from-b", "b")).unwrap();
    c.upsert_policy(&from("from-c", "c")).unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/a", false)
        .expect("x/b", "x/a", true)
        .expect("x/c", "x/a", true);
    check(&mut c, 80, TCP, &mut r);
}

#[test]
fn named_ports_resolve_on_the_destination() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "named",
        json!({"podSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"ports": [{"port": "serve-81-tcp"}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    check(&mut c, 81, TCP, &mut r);
    r.expect_all_ingress("x/a", false);
    check(&mut c, 80, TCP, &mut r);
    // serve-81-tcp is TCP: UDP 81 stays closed.
    check(&mut c, 81, UDP, &mut r);
    // A probe may name the port too.
    let v = c.probe("y/b", "x/a", "serve-81-tcp", TCP).unwrap();
    assert_eq!(v.decision, Decision::Allow);
    let e = c.probe("y/b", "x/a", "no-such-port", TCP).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidProbe);

    // Egress named ports also resolve on the destination pod.
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "egress-named",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"],
               "egress": [{"ports": [{"port": "serve-80-udp", "protocol": "UDP"}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    check(&mut c, 80, UDP, &mut r);
    r.expect_all_egress("x/a", false);
    check(&mut c, 80, TCP, &mut r);
    check(&mut c, 81, UDP, &mut r);
}

#[test]
fn end_port_ranges() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "range",
        json!({"podSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"ports": [{"port": 81, "endPort": 90}]}]}),
    ))
    .unwrap();
    let mut open = Reachability::new(true);
    check(&mut c, 81, TCP, &mut open);
    check(&mut c, 90, TCP, &mut open);
    let mut closed = Reachability::new(true);
    closed.expect_all_ingress("x/a", false);
    check(&mut c, 80, TCP, &mut closed);
    check(&mut c, 91, TCP, &mut closed);
}

#[test]
fn ip_block_with_except_covers_pod_ips() {
    let policy = np(
        "x",
        "egress-cidr",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"],
               "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": [format!("{}/32", pod_ip("y", "b"))]}}]}]}),
    );
    let mut c = cluster();
    c.upsert_policy(&policy).unwrap();
    let mut r = Reachability::new(true);
    r.expect("x/a", "y/b", false);
    check(&mut c, 80, TCP, &mut r);
    // Outside the block.
    assert_eq!(
        c.probe("x/a", "8.8.8.8", 80, TCP).unwrap().decision,
        Decision::Deny
    );
    // By IP as well as by name.
    assert_eq!(
        c.probe("x/a", &pod_ip("y", "c"), 80, TCP).unwrap().decision,
        Decision::Allow
    );

    // Cilium/Azure behaviour: CIDR rules never match cluster addresses.
    let mut c = cluster_with(PolicyConfig {
        ip_block_selects_cluster_ips: false,
        ..PolicyConfig::default()
    });
    c.upsert_policy(&policy).unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_egress("x/a", false);
    check(&mut c, 80, TCP, &mut r);
    assert_eq!(
        c.probe("x/a", "10.200.0.1", 80, TCP).unwrap().decision,
        Decision::Allow
    );
}

#[test]
fn ip_block_covering_node_ips_selects_nodes() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "from-nodes",
        json!({"podSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"from": [{"ipBlock": {"cidr": "192.168.0.2/32"}}]}]}),
    ))
    .unwrap();
    // node-2 is not x/a's node: only the ipBlock lets it in.
    assert_eq!(
        c.probe("192.168.0.2", "x/a", 80, TCP).unwrap().decision,
        Decision::Allow
    );
    // x/a's own node is always allowed.
    let v = c.probe("192.168.0.1", "x/a", 80, TCP).unwrap();
    assert_eq!(v.decision, Decision::Allow);
    assert_eq!(v.ingress.reason, DecisionReason::LocalNode);
    assert_eq!(
        c.probe("192.168.0.3", "x/a", 80, TCP).unwrap().decision,
        Decision::Deny
    );
}

#[test]
fn protocols_are_isolated() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "tcp-80",
        json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}]}]}),
    ))
    .unwrap();
    check(&mut c, 80, TCP, &mut Reachability::new(true));
    let mut r = Reachability::new(true);
    for p in ["x/a", "x/b", "x/c"] {
        r.expect_all_ingress(p, false);
    }
    check(&mut c, 80, UDP, &mut r);
    check(&mut c, 80, SCTP, &mut r);
    check(&mut c, 81, TCP, &mut r);
}

#[test]
fn deleting_a_policy_restores_reachability() {
    let mut c = cluster();
    let key = c
        .upsert_policy(&np("x", "deny", json!({"podSelector": {}})))
        .unwrap();
    assert_eq!(key, PolicyKey::new(PolicyKind::NetworkPolicy, "x", "deny"));
    assert!(c.engine_mut().remove_policy(&key));
    assert!(!c.engine_mut().remove_policy(&key));
    check(&mut c, 80, TCP, &mut Reachability::new(true));
    assert_eq!(c.engine().stats().selectors, 0);
}

#[test]
fn updating_a_policy_replaces_it() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "p",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}}),
    ))
    .unwrap();
    c.upsert_policy(&np(
        "x",
        "p",
        json!({"podSelector": {"matchLabels": {"pod": "b"}}}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/b", false);
    check(&mut c, 80, TCP, &mut r);
}

#[test]
fn egress_and_ingress_must_both_allow() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "a-egress",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"]}),
    ))
    .unwrap();
    c.upsert_policy(&np(
        "y",
        "b-in",
        json!({"podSelector": {"matchLabels": {"pod": "b"}}, "ingress": [{}]}),
    ))
    .unwrap();
    let v = c.probe("x/a", "y/b", 80, TCP).unwrap();
    assert_eq!(v.decision, Decision::Deny);
    assert_eq!(v.egress.decision, Decision::Deny);
    assert_eq!(v.ingress.decision, Decision::Allow);
    // Open x/a's egress to y: now both sides allow.
    c.upsert_policy(&np(
        "x",
        "a-egress",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"],
               "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}),
    ))
    .unwrap();
    let v = c.probe("x/a", "y/b", 80, TCP).unwrap();
    assert_eq!(v.decision, Decision::Allow);
    assert_eq!(v.deciding.len(), 2, "{:?}", v.deciding);
    // ... but y/b's ingress must allow too.
    c.upsert_policy(&np(
        "y",
        "b-in",
        json!({"podSelector": {"matchLabels": {"pod": "b"}}}),
    ))
    .unwrap();
    let v = c.probe("x/a", "y/b", 80, TCP).unwrap();
    assert_eq!(v.decision, Decision::Deny);
    assert_eq!(v.egress.decision, Decision::Allow);
}

#[test]
fn policy_types_ingress_with_egress_rules_ignores_them() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "p",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
               "ingress": [{}], "egress": [{"ports": [{"port": 9}]}]}),
    ))
    .unwrap();
    check(&mut c, 80, TCP, &mut Reachability::new(true));
}

#[test]
fn invalid_values_are_rejected_with_field_paths() {
    let mut c = cluster();
    let cases = [
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80}, {"port": 90, "endPort": 85}]}]}),
            "spec.ingress[0].ports[1].endPort",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}),
            "spec.ingress[0].ports[0].port",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]}),
            "spec.ingress[0].ports[0].protocol",
        ),
        (
            json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]}),
            "spec.egress[0].to[0].ipBlock.cidr",
        ),
        (
            json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}]}]}),
            "spec.egress[0].to[0].ipBlock.except[0]",
        ),
        (
            json!({"podSelector": {"matchExpressions": [{"key": "pod", "operator": "Near", "values": ["a"]}]}}),
            "spec.podSelector.matchExpressions[0].operator",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchExpressions": [{"key": "pod", "operator": "In"}]}}]}]}),
            "spec.ingress[0].from[0].podSelector.matchExpressions[0].values",
        ),
        (
            json!({"podSelector": {}, "policyTypes": ["Sideways"]}),
            "spec.policyTypes[0]",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"from": [{}]}]}),
            "spec.ingress[0].from[0]",
        ),
    ];
    for (spec, field) in cases {
        let e = c.upsert_policy(&np("x", "bad", spec)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidPolicy, "{e}");
        assert_eq!(e.field, field, "{e}");
        assert_eq!(e.object, "NetworkPolicy x/bad");
    }
    assert_eq!(c.engine().stats().network_policies, 0);
    check(&mut c, 80, TCP, &mut Reachability::new(true));
}

#[test]
fn outside_addresses_meet_only_the_endpoint_side() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "in-from-world",
        json!({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}),
    ))
    .unwrap();
    let v = c.probe("1.2.3.4", "x/a", 80, TCP).unwrap();
    assert_eq!(v.decision, Decision::Allow);
    assert_eq!(v.egress.reason, DecisionReason::NotAnEndpoint);
    // Two outside addresses: nothing applies.
    let v = c.probe("1.2.3.4", "5.6.7.8", 80, TCP).unwrap();
    assert_eq!(v.decision, Decision::Allow);
    let e = c.probe("x/nope", "x/a", 80, TCP).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidProbe);
}

#[test]
fn empty_policy_types_count_as_absent() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "p",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": [],
               "egress": [{"ports": [{"port": 81}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/a", false)
        .expect_all_egress("x/a", false);
    check(&mut c, 80, TCP, &mut r);
}
