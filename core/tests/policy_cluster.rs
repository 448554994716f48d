//! PolicyCluster (the CLI's world), typed and YAML input, Cilium `specs`,
//! and robustness of validation against arbitrary JSON.

mod policy_support;

use policy_support::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use sliceplane::ErrorCode;
use sliceplane::model::{Namespace, Pod};
use sliceplane::policy::model::{
    LabelSelector, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicySpec,
};
use sliceplane::policy::{
    Decision, DecisionReason, PolicyCluster, PolicyConfig, PolicyEngine, PolicyObject,
    PolicyOptions, Protocol,
};

const TCP: Protocol = Protocol::Tcp;

#[test]
fn identities_are_numbered_by_sorted_canonical_key_and_shared() {
    let mut pods = pods();
    // A second pod with x/a's labels shares its identity.
    let mut twin = pods[0].clone();
    twin.metadata.name = "a2".into();
    twin.status.pod_ip = Some("10.1.0.99".into());
    pods.push(twin);
    let c = PolicyCluster::new(&namespaces(), &pods, PolicyConfig::default()).unwrap();
    let ids: Vec<u32> = all_pods()
        .iter()
        .map(|p| {
            let (ns, name) = p.split_once('/').unwrap();
            c.identity_of(ns, name).unwrap()
        })
        .collect();
    // Canonical keys sort by pod label then namespace label values.
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, (256..265).collect::<Vec<u32>>());
    assert_eq!(c.identity_of("x", "a2"), c.identity_of("x", "a"));
    let s = c.engine().stats();
    assert_eq!(s.identities, 9 + 8, "9 pod identities + 8 reserved");
    assert_eq!(s.endpoints, 10);
    assert_eq!(s.nodes, 2);
    // Same inputs, same numbers.
    let again = PolicyCluster::new(&namespaces(), &pods, PolicyConfig::default()).unwrap();
    assert_eq!(again.identity_of("y", "c"), c.identity_of("y", "c"));
}

#[test]
fn probes_take_pods_and_ips() {
    let mut c = cluster();
    c.upsert_policy(&np("x", "deny", json!({"podSelector": {}})))
        .unwrap();
    let by_ip = c
        .probe(&pod_ip("y", "a"), &pod_ip("x", "a"), 80, TCP)
        .unwrap();
    let by_name = c.probe("y/a", "x/a", 80, TCP).unwrap();
    assert_eq!(by_ip.decision, Decision::Deny);
    assert_eq!(by_ip.decision, by_name.decision);
    assert_eq!(
        c.probe("y/a", "x/a", "81", TCP).unwrap().decision,
        Decision::Deny
    );
    for bad in ["x/zz", "nope", "x/a/b", ""] {
        let e = c.probe(bad, "x/a", 80, TCP).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidProbe, "{bad}");
    }
}

#[test]
fn host_network_pods_are_their_node() {
    let mut pods = pods();
    pods.push(
        serde_json::from_value::<Pod>(json!({
            "metadata": {"name": "agent", "namespace": "z", "labels": {"pod": "agent"}},
            "spec": {"nodeName": "node-1", "hostNetwork": true},
            "status": {"podIP": "192.168.0.1", "hostIP": "192.168.0.1"}
        }))
        .unwrap(),
    );
    let mut c = PolicyCluster::new(&namespaces(), &pods, PolicyConfig::default()).unwrap();
    c.upsert_policy(&np("x", "deny", json!({"podSelector": {}})))
        .unwrap();
    // node-1 runs x/a: always allowed; node-1 does not run x/c.
    let v = c.probe("z/agent", "x/a", 80, TCP).unwrap();
    assert_eq!(v.ingress.reason, DecisionReason::LocalNode);
    assert_eq!(
        c.probe("z/agent", "x/c", 80, TCP).unwrap().decision,
        Decision::Deny
    );
    assert!(c.identity_of("z", "agent").is_none());
    // The host entity is the endpoint's own node, remote-node the others.
    c.upsert_policy(&cnp(
        "y",
        "to-host",
        json!({"endpointSelector": {}, "egress": [{"toEntities": ["host"]}]}),
    ))
    .unwrap();
    assert_eq!(
        c.probe("y/a", "192.168.0.1", 10250, TCP).unwrap().decision,
        Decision::Allow
    );
    assert_eq!(
        c.probe("y/a", "192.168.0.2", 10250, TCP).unwrap().decision,
        Decision::Deny
    );
    assert_eq!(
        c.probe("y/c", "192.168.0.2", 10250, TCP).unwrap().decision,
        Decision::Allow
    );
}

#[test]
fn bad_pods_are_errors() {
    let bad: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "x"},
        "status": {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "banana"}]}
    }))
    .unwrap();
    let e = PolicyCluster::new(&namespaces(), &[bad], PolicyConfig::default()).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidIp);
    assert_eq!(e.field, "status.podIPs[1].ip");
    assert_eq!(e.object, "Pod x/p");
    let bad: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "x"},
        "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 0}]}]}
    }))
    .unwrap();
    let e = PolicyCluster::new(&namespaces(), &[bad], PolicyConfig::default()).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidPort);
}

#[test]
fn typed_and_yaml_policies() {
    let mut c = cluster();
    let typed = PolicyObject::NetworkPolicy(NetworkPolicy {
        metadata: sliceplane::model::ObjectMeta {
            name: "typed".into(),
            namespace: Some("x".into()),
            ..Default::default()
        },
        spec: NetworkPolicySpec {
            pod_selector: LabelSelector {
                match_labels: [("pod".to_string(), "a".to_string())].into(),
                ..Default::default()
            },
            ingress: vec![NetworkPolicyIngressRule::default()],
            ..Default::default()
        },
        ..Default::default()
    });
    c.engine_mut()
        .upsert_policy_object(&typed, PolicyOptions::default())
        .unwrap();
    check(&mut c, 80, TCP, &mut Reachability::new(true));

    let yaml = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-yaml, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress]
"#;
    let v: Value = serde_yaml_ng::from_str(yaml).unwrap();
    c.upsert_policy(&v).unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("x/b", false);
    check(&mut c, 80, TCP, &mut r);

    let e = c
        .upsert_policy(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownKind);
    let e = c
        .upsert_policy(&np("x", "", json!({"podSelector": {}})))
        .unwrap_err();
    assert_eq!(e.field, "metadata.name");
    let e = c
        .upsert_policy(&np("x", "t", json!({"podSelector": "everything"})))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidPolicy);
}

#[test]
fn cilium_specs_each_have_a_subject() {
    let mut c = cluster();
    c.upsert_policy(&json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "multi", "namespace": "y"},
        "specs": [
            {"endpointSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{}]},
            {"endpointSelector": {"matchLabels": {"pod": "b"}},
             "egress": [{"toEndpoints": [{"matchLabels": {"pod": "c"}}]}]}
        ]
    }))
    .unwrap();
    let mut r = Reachability::new(true);
    r.expect_all_ingress("y/a", false)
        .expect_all_egress("y/b", false)
        .expect("y/b", "y/c", true);
    check(&mut c, 80, TCP, &mut r);
    let v = c.probe("y/b", "x/a", 80, TCP).unwrap();
    assert_eq!(v.deciding[0].path, "specs[1].egress");
}

#[test]
fn removing_identities_and_endpoints() {
    let mut e = PolicyEngine::default();
    let mut c = cluster();
    let ep = c.engine().endpoint("x", "a").unwrap().clone();
    let id = ep.identity;
    c.engine_mut().remove_identity(id);
    let err = c.probe("x/a", "x/b", 80, TCP).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidProbe);
    assert!(c.engine_mut().remove_endpoint("x", "a").is_some());
    // Its address is now outside the cluster.
    let v = c.probe(&pod_ip("x", "a"), "x/b", 80, TCP).unwrap();
    assert_eq!(v.egress.reason, DecisionReason::NotAnEndpoint);
    e.remove_node("nothing");
    assert!(e.remove_endpoint("x", "a").is_none());
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just("TCP"),
            Just("In"),
            Just("10.0.0.0/8"),
            Just("all"),
            Just("x"),
            Just("http"),
            Just("80"),
            Just(""),
            Just("Ingress"),
            Just("NotIn"),
            Just("world"),
            Just("::/0")
        ]
        .prop_map(Value::from),
    ];
    let keys = prop_oneof![
        Just("podSelector"),
        Just("namespaceSelector"),
        Just("ipBlock"),
        Just("cidr"),
        Just("except"),
        Just("ingress"),
        Just("egress"),
        Just("from"),
        Just("to"),
        Just("ports"),
        Just("port"),
        Just("endPort"),
        Just("protocol"),
        Just("matchLabels"),
        Just("matchExpressions"),
        Just("key"),
        Just("operator"),
        Just("values"),
        Just("policyTypes"),
        Just("endpointSelector"),
        Just("fromEndpoints"),
        Just("toEndpoints"),
        Just("toPorts"),
        Just("fromCIDRSet"),
        Just("toCIDR"),
        Just("fromEntities"),
        Just("ingressDeny"),
        Just("egressDeny"),
        Just("enableDefaultDeny"),
        Just("rules"),
        Just("pod")
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(keys.clone(), inner, 0..5).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any JSON spec either installs or is rejected with a policy error;
    /// nothing panics, and a rejection leaves the engine as it was.
    #[test]
    fn arbitrary_specs_never_panic(spec in arb_json(), kind in 0..3usize) {
        let mut c = cluster();
        let before = c.matrix(80, TCP);
        let policy = match kind {
            0 => np("x", "fuzz", spec),
            1 => cnp("x", "fuzz", spec),
            _ => ccnp("fuzz", spec),
        };
        match c.upsert_policy(&policy) {
            Ok(_) => {
                let _ = c.matrix(80, TCP);
                let _ = c.matrix("http", TCP);
            }
            Err(e) => {
                prop_assert!(matches!(e.code, ErrorCode::InvalidPolicy | ErrorCode::UnsupportedPolicy), "{e}");
                prop_assert_eq!(c.matrix(80, TCP), before);
            }
        }
    }
}

#[test]
fn namespaces_without_objects_still_get_their_name_label() {
    let ns: Vec<Namespace> = Vec::new();
    let mut c = PolicyCluster::new(&ns, &pods(), PolicyConfig::default()).unwrap();
    c.upsert_policy(&np(
        "x",
        "from-y",
        json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector":
            {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}]}]}),
    ))
    .unwrap();
    assert_eq!(
        c.probe("y/a", "x/a", 80, TCP).unwrap().decision,
        Decision::Allow
    );
    assert_eq!(
        c.probe("z/a", "x/a", 80, TCP).unwrap().decision,
        Decision::Deny
    );
}

#[test]
fn policy_lists_and_watch_events() {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        np("x", "one", json!({"podSelector": {}})),
        cnp("y", "two", json!({"endpointSelector": {}, "ingress": [{}]})),
    ]});
    let got = PolicyObject::list_from_value(&list).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].1.metadata().name, "two");
    let ev = json!({"type": "DELETED", "object": np("x", "one", json!({"podSelector": {}}))});
    let got = PolicyObject::list_from_value(&ev).unwrap();
    assert_eq!(got[0].0.as_deref(), Some("DELETED"));
    let bad = json!({"kind": "NetworkPolicyList", "items": [{"kind": "Pod"}]});
    let e = PolicyObject::list_from_value(&bad).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownKind);
    assert_eq!(e.field, "items[0].kind");
}
