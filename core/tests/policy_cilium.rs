//! Cilium additions: deny rules, enableDefaultDeny, entities, CIDR rules,
//! cluster-wide policies, audit mode, unsupported features, verdict events.

mod policy_support;

use policy_support::*;
use serde_json::json;
use sliceplane::ErrorCode;
use sliceplane::policy::{
    Decision, DecisionReason, PolicyConfig, PolicyOptions, Protocol, RuleEffect, VerdictEventFilter,
};

const TCP: Protocol = Protocol::Tcp;
const UDP: Protocol = Protocol::Udp;

#[test]
fn deny_beats_allow() {
    let mut c = cluster();
    c.upsert_policy(&cnp(
        "x",
        "deny-b",
        json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"fromEntities": ["all"]}],
               "ingressDeny": [{"fromEndpoints": [{"matchLabels": {"pod": "b"}}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect("x/b", "x/a", false);
    check(&mut c, 80, TCP, &mut r);
    let v = c.probe("x/b", "x/a", 80, TCP).unwrap();
    assert_eq!(v.ingress.reason, DecisionReason::Denied);
    assert_eq!(v.deciding[0].effect, RuleEffect::Deny);
    assert_eq!(v.deciding[0].path, "spec.ingressDeny[0]");

    // A deny in one policy beats an allow in a Kubernetes policy.
    c.upsert_policy(&np(
        "x",
        "allow-all",
        json!({"podSelector": {}, "ingress": [{}]}),
    ))
    .unwrap();
    check(&mut c, 80, TCP, &mut r);
}

#[test]
fn egress_deny_with_ports() {
    let mut c = cluster();
    c.upsert_policy(&cnp(
        "x",
        "no-81",
        json!({"endpointSelector": {},
               "egress": [{"toEntities": ["all"]}],
               "egressDeny": [{"toPorts": [{"ports": [{"port": "81", "protocol": "TCP"}]}]}]}),
    ))
    .unwrap();
    check(&mut c, 80, TCP, &mut Reachability::new(true));
    check(&mut c, 81, UDP, &mut Reachability::new(true));
    let mut r = Reachability::new(true);
    for p in ["x/a", "x/b", "x/c"] {
        r.expect_all_egress(p, false);
    }
    check(&mut c, 81, TCP, &mut r);
}

#[test]
fn enable_default_deny_false_does_not_isolate() {
    let mut c = cluster();
    c.upsert_policy(&cnp(
        "x",
        "soft",
        json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
               "enableDefaultDeny": {"ingress": false},
               "ingress": [{"fromEndpoints": [{"matchLabels": {"pod": "b"}}]}]}),
    ))
    .unwrap();
    check(&mut c, 80, TCP, &mut Reachability::new(true));
    // A policy that wants default deny wins.
    c.upsert_policy(&cnp(
        "x",
        "hard",
        json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"fromEndpoints": [{"matchLabels": {"pod": "c"}}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/a", false)
        .expect("x/b", "x/a", true)
        .expect("x/c", "x/a", true);
    check(&mut c, 80, TCP, &mut r);
}

#[test]
fn entities_world_cluster_all() {
    let egress_to = |entity: &str| {
        cnp(
            "x",
            "e",
            json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
                   "egress": [{"toEntities": [entity]}]}),
        )
    };
    let mut c = cluster();
    c.upsert_policy(&egress_to("world")).unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_egress("x/a", false);
    check(&mut c, 80, TCP, &mut r);
    assert_eq!(
        c.probe("x/a", "8.8.8.8", 443, TCP).unwrap().decision,
        Decision::Allow
    );

    c.upsert_policy(&egress_to("cluster")).unwrap();
    check(&mut c, 80, TCP, &mut Reachability::new(true));
    assert_eq!(
        c.probe("x/a", "8.8.8.8", 443, TCP).unwrap().decision,
        Decision::Deny
    );
    // Nodes are in the cluster.
    assert_eq!(
        c.probe("x/a", "192.168.0.2", 443, TCP).unwrap().decision,
        Decision::Allow
    );

    c.upsert_policy(&egress_to("all")).unwrap();
    check(&mut c, 80, TCP, &mut Reachability::new(true));
    assert_eq!(
        c.probe("x/a", "8.8.8.8", 443, TCP).unwrap().decision,
        Decision::Allow
    );

    c.upsert_policy(&egress_to("remote-node")).unwrap();
    assert_eq!(
        c.probe("x/a", "192.168.0.2", 443, TCP).unwrap().decision,
        Decision::Allow
    );
    let mut r = Reachability::new(true);
    r.expect_all_egress("x/a", false);
    check(&mut c, 80, TCP, &mut r);

    let e = c.upsert_policy(&egress_to("galaxy")).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidPolicy);
    assert_eq!(e.field, "spec.egress[0].toEntities[0]");
}

#[test]
fn cidr_rules_and_cidr_sets() {
    let mut c = cluster();
    c.upsert_policy(&cnp(
        "x",
        "cidr",
        json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
               "egress": [{"toCIDR": ["8.8.8.8/32"]},
                          {"toCIDRSet": [{"cidr": "1.0.0.0/8", "except": ["1.1.0.0/16"]}],
                           "toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}]}]}]}),
    ))
    .unwrap();
    assert_eq!(
        c.probe("x/a", "8.8.8.8", 443, TCP).unwrap().decision,
        Decision::Allow
    );
    assert_eq!(
        c.probe("x/a", "1.2.3.4", 53, UDP).unwrap().decision,
        Decision::Allow
    );
    assert_eq!(
        c.probe("x/a", "1.2.3.4", 53, TCP).unwrap().decision,
        Decision::Deny
    );
    assert_eq!(
        c.probe("x/a", "1.1.3.4", 53, UDP).unwrap().decision,
        Decision::Deny
    );
}

#[test]
fn cnp_selectors_are_namespaced_unless_they_name_the_namespace() {
    let mut c = cluster();
    c.upsert_policy(&cnp(
        "x",
        "p",
        json!({"endpointSelector": {"matchLabels": {"k8s:pod": "a"}},
               "ingress": [{"fromEndpoints": [
                   {"matchLabels": {"any:pod": "b"}},
                   {"matchLabels": {"pod": "c", "k8s:io.kubernetes.pod.namespace": "z"}}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/a", false)
        .expect("x/b", "x/a", true)
        .expect("z/c", "x/a", true);
    check(&mut c, 80, TCP, &mut r);
}

#[test]
fn clusterwide_policy_spans_namespaces() {
    let mut c = cluster();
    c.upsert_policy(&ccnp(
        "a-from-b",
        json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"fromEndpoints": [{"matchLabels": {"pod": "b"}}],
                            "toPorts": [{"ports": [{"port": "80"}]}]}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    for ns in NAMESPACES {
        let a = format!("{ns}/a");
        r.expect_all_ingress(&a, false);
        for src in NAMESPACES {
            r.expect(&format!("{src}/b"), &a, true);
        }
    }
    check(&mut c, 80, TCP, &mut r);
    check(&mut c, 80, UDP, &mut r);
    let mut closed = Reachability::new(true);
    for ns in NAMESPACES {
        closed.expect_all_ingress(&format!("{ns}/a"), false);
    }
    check(&mut c, 81, TCP, &mut closed);
    assert_eq!(c.engine().stats().cilium_clusterwide_network_policies, 1);
}

#[test]
fn named_ports_and_ranges_in_to_ports() {
    let mut c = cluster();
    c.upsert_policy(&cnp(
        "x",
        "ports",
        json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"toPorts": [{"ports": [{"port": "serve-81-udp"},
                                                   {"port": "1000", "endPort": 2000, "protocol": "TCP"}]}]}]}),
    ))
    .unwrap();
    check(&mut c, 81, UDP, &mut Reachability::new(true));
    check(&mut c, 1500, TCP, &mut Reachability::new(true));
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/a", false);
    check(&mut c, 81, TCP, &mut r);
    check(&mut c, 2001, TCP, &mut r);
}

#[test]
fn audit_mode_per_policy() {
    let mut c = cluster();
    c.upsert_policy_with(
        &np("x", "deny", json!({"podSelector": {}})),
        PolicyOptions { audit: true },
    )
    .unwrap();
    let mut r = Reachability::new(true);
    for p in ["x/a", "x/b", "x/c"] {
        for f in all_pods() {
            r.expect_decision(&f, p, Decision::Audit);
        }
    }
    check(&mut c, 80, TCP, &mut r);
    // An enforcing policy next to it turns audit into deny.
    c.upsert_policy(&np(
        "x",
        "enforce-a",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}}),
    ))
    .unwrap();
    for f in all_pods() {
        r.expect_decision(&f, "x/a", Decision::Deny);
    }
    check(&mut c, 80, TCP, &mut r);
    // Audited deny rules.
    let mut c = cluster();
    c.upsert_policy_with(
        &cnp(
            "x",
            "deny-b",
            json!({"endpointSelector": {},
                   "ingressDeny": [{"fromEndpoints": [{"matchLabels": {"pod": "b"}}]}],
                   "ingress": [{"fromEntities": ["all"]}]}),
        ),
        PolicyOptions { audit: true },
    )
    .unwrap();
    let v = c.probe("x/b", "x/c", 80, TCP).unwrap();
    assert_eq!(v.decision, Decision::Audit);
    assert_eq!(v.ingress.reason, DecisionReason::Denied);
}

#[test]
fn audit_mode_global_and_events() {
    let mut c = cluster_with(PolicyConfig {
        audit_mode: true,
        verdict_events: VerdictEventFilter::DeniedAndAudit,
        ..PolicyConfig::default()
    });
    c.upsert_policy(&np(
        "x",
        "deny",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}}),
    ))
    .unwrap();
    let v = c.probe("y/a", "x/a", 80, TCP).unwrap();
    assert_eq!(v.decision, Decision::Audit);
    let v = c.probe("y/a", "x/b", 80, TCP).unwrap();
    assert_eq!(v.decision, Decision::Allow);
    let events = c.engine_mut().drain_verdict_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].decision, Decision::Audit);
    assert_eq!(events[0].flow.to.to_string(), "x/a");
    assert!(c.engine_mut().drain_verdict_events().is_empty());
    let s = c.engine().stats();
    assert_eq!(
        (s.verdicts_allow, s.verdicts_audit, s.verdicts_deny),
        (1, 1, 0)
    );

    let mut c = cluster_with(PolicyConfig {
        verdict_events: VerdictEventFilter::All,
        max_verdict_events: 2,
        ..PolicyConfig::default()
    });
    for _ in 0..3 {
        c.probe("x/a", "x/b", 80, TCP).unwrap();
    }
    let events = c.engine_mut().drain_verdict_events();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(c.engine().stats().verdict_events_dropped, 1);
}

#[test]
fn layer_7_and_other_unsupported_fields_are_errors_and_change_nothing() {
    let mut c = cluster();
    let good = cnp(
        "x",
        "web",
        json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"fromEndpoints": [{"matchLabels": {"pod": "b"}}]}]}),
    );
    c.upsert_policy(&good).unwrap();
    let mut before = Reachability::new(true);
    before
        .expect_all_ingress("x/a", false)
        .expect("x/b", "x/a", true);
    check(&mut c, 80, TCP, &mut before);

    let cases = [
        (
            json!({"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "80"}],
                    "rules": {"http": [{"method": "GET"}]}}]}]}),
            "spec.ingress[0].toPorts[0].rules",
        ),
        (
            json!({"endpointSelector": {}, "egress": [{"toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}],
                    "rules": {"dns": [{"matchPattern": "*"}]}}]}]}),
            "spec.egress[0].toPorts[0].rules",
        ),
        (
            json!({"endpointSelector": {}, "egress": [{"toFQDNs": [{"matchName": "example.com"}]}]}),
            "spec.egress[0].toFQDNs",
        ),
        (
            json!({"endpointSelector": {}, "egress": [{"toServices": [{"k8sService": {"serviceName": "s"}}]}]}),
            "spec.egress[0].toServices",
        ),
        (
            json!({"endpointSelector": {}, "ingress": [{"fromRequires": [{}]}]}),
            "spec.ingress[0].fromRequires",
        ),
        (
            json!({"endpointSelector": {}, "ingress": [{"icmps": [{"fields": [{"type": 8}]}]}]}),
            "spec.ingress[0].icmps",
        ),
        (
            json!({"nodeSelector": {}, "ingress": [{}]}),
            "spec.nodeSelector",
        ),
    ];
    for (spec, field) in cases {
        let e = c.upsert_policy(&cnp("x", "web", spec)).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedPolicy, "{e}");
        assert_eq!(e.field, field, "{e}");
        assert_eq!(e.object, "CiliumNetworkPolicy x/web");
    }
    let e = c
        .upsert_policy(&cnp(
            "x",
            "web",
            json!({"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "80", "endPort": 79}]}]}]}),
        ))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidPolicy);
    assert_eq!(e.field, "spec.ingress[0].toPorts[0].ports[0].endPort");
    check(&mut c, 80, TCP, &mut before);
}

#[test]
fn verdict_serializes_with_lower_case_decision() {
    let mut c = cluster();
    c.upsert_policy(&np("x", "deny", json!({"podSelector": {}})))
        .unwrap();
    let v = c.probe("y/a", "x/a", 80, TCP).unwrap();
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(j["verdict"], "deny");
    assert_eq!(j["ingress"]["decision"], "deny");
    assert_eq!(j["ingress"]["reason"], "default-deny");
    assert_eq!(j["deciding"][0]["kind"], "NetworkPolicy");
    assert_eq!(j["deciding"][0]["namespace"], "x");
    assert_eq!(j["deciding"][0]["name"], "deny");
    assert_eq!(j["deciding"][0]["direction"], "ingress");
    assert_eq!(j["deciding"][0]["effect"], "default-deny");
    let back: sliceplane::policy::Verdict = serde_json::from_value(j).unwrap();
    assert_eq!(back, v);
}

#[test]
fn truth_table_rendering() {
    let mut c = cluster();
    c.upsert_policy(&np(
        "x",
        "deny",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}}),
    ))
    .unwrap();
    let t = c.matrix(80, TCP).to_truth_table();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "-\tx/a\tx/b\tx/c\ty/a\ty/b\ty/c\tz/a\tz/b\tz/c");
    assert_eq!(lines[1], "x/a\t.\t.\t.\t.\t.\t.\t.\t.\t.");
    assert_eq!(lines[2], "x/b\tX\t.\t.\t.\t.\t.\t.\t.\t.");
}

#[test]
fn cnp_subject_always_lives_in_the_policy_namespace() {
    let mut c = cluster();
    c.upsert_policy(&cnp(
        "x",
        "reach-out",
        json!({"endpointSelector": {"matchLabels": {"pod": "a", "k8s:io.kubernetes.pod.namespace": "y"}},
               "ingress": [{}]}),
    ))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/a", false);
    check(&mut c, 80, TCP, &mut r);
    // Reserved-label peers are not pinned.
    c.upsert_policy(&cnp(
        "x",
        "reach-out",
        json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"fromEndpoints": [{"matchLabels": {"reserved:world": ""}}]}]}),
    ))
    .unwrap();
    assert_eq!(
        c.probe("9.9.9.9", "x/a", 80, TCP).unwrap().decision,
        Decision::Allow
    );
    check(&mut c, 80, TCP, &mut r);
}

/// As Cilium's `getEndpointSelector` for a clusterwide policy: a peer
/// selector that names neither the namespace nor a reserved label selects
/// pods only (identities with a namespace label), so `{}` is every pod in
/// every namespace, not the world or other nodes.
#[test]
fn clusterwide_empty_peer_selects_every_pod_but_no_reserved_identity() {
    let mut c = cluster();
    c.upsert_policy(&ccnp(
        "pods-only",
        json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"fromEndpoints": [{}]}],
               "egress": [{"toEndpoints": [{}]}]}),
    ))
    .unwrap();
    check(&mut c, 80, TCP, &mut Reachability::new(true));
    for outside in ["1.1.1.1", "192.168.0.2"] {
        let v = c.probe(outside, "x/a", 80, TCP).unwrap();
        assert_eq!(v.decision, Decision::Deny, "{outside} -> x/a");
        let v = c.probe("x/a", outside, 80, TCP).unwrap();
        assert_eq!(v.decision, Decision::Deny, "x/a -> {outside}");
    }
    // The node of x/a is always allowed.
    assert_eq!(
        c.probe("192.168.0.1", "x/a", 80, TCP).unwrap().decision,
        Decision::Allow
    );

    // A peer naming a reserved label is taken as written.
    c.upsert_policy(&ccnp(
        "pods-only",
        json!({"endpointSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"fromEndpoints": [{}, {"matchLabels": {"reserved:world": ""}}]}]}),
    ))
    .unwrap();
    assert_eq!(
        c.probe("1.1.1.1", "y/a", 80, TCP).unwrap().decision,
        Decision::Allow
    );
    assert_eq!(
        c.probe("192.168.0.2", "y/a", 80, TCP).unwrap().decision,
        Decision::Deny
    );
}
