//! Incremental work: which identities get recomputed, selector sharing.

use serde_json::json;
use sliceplane::labels::{Label, LabelSet};
use sliceplane::policy::{
    Decision, Flow, Peer, PolicyEndpoint, PolicyEngine, PolicyKey, PolicyKind, Protocol,
};

fn pod(ns: &str, app: &str) -> LabelSet {
    LabelSet::from_labels([
        Label::k8s("app", app),
        Label::k8s("io.kubernetes.pod.namespace", ns),
    ])
}

fn endpoint(ns: &str, name: &str, identity: u32, ip: &str) -> PolicyEndpoint {
    PolicyEndpoint {
        namespace: ns.into(),
        name: name.into(),
        identity,
        ips: vec![ip.parse().unwrap()],
        named_ports: vec![],
        node: None,
    }
}

fn policy(ns: &str, name: &str, app: &str) -> serde_json::Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"podSelector": {"matchLabels": {"app": app}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}]}})
}

#[test]
fn only_touched_identities_are_recomputed() {
    let mut e = PolicyEngine::default();
    for (i, (ns, app)) in [("a", "web"), ("a", "client"), ("b", "web"), ("b", "db")]
        .iter()
        .enumerate()
    {
        e.upsert_identity(300 + i as u32, pod(ns, app));
    }
    let base = e.stats().recomputations;
    // Selects one identity (a/web): one recomputation.
    e.upsert_policy(&policy("a", "p1", "web")).unwrap();
    assert_eq!(e.stats().recomputations, base + 1);
    // Same selectors again in another policy: shared cache entries.
    let selectors = e.stats().selectors;
    e.upsert_policy(&policy("a", "p2", "web")).unwrap();
    assert_eq!(e.stats().selectors, selectors);
    assert_eq!(e.stats().recomputations, base + 2);
    // A new identity: only itself.
    let before = e.stats().recomputations;
    e.upsert_identity(400, pod("a", "client"));
    assert_eq!(e.stats().recomputations, before + 1);
    // The same labels again: nothing.
    e.upsert_identity(400, pod("a", "client"));
    assert_eq!(e.stats().recomputations, before + 1);
    // A policy selecting nobody: nothing.
    e.upsert_policy(&policy("c", "p3", "web")).unwrap();
    assert_eq!(e.stats().recomputations, before + 1);
    // Removing p1 and p2 recomputes a/web twice; the cache shrinks back.
    let key = |n: &str| PolicyKey::new(PolicyKind::NetworkPolicy, "a", n);
    assert!(e.remove_policy(&key("p1")));
    assert!(e.remove_policy(&key("p2")));
    assert_eq!(e.stats().recomputations, before + 3);
    assert_eq!(
        e.selected_identities(&PolicyKey::new(PolicyKind::NetworkPolicy, "c", "p3")),
        Vec::<u32>::new()
    );
}

#[test]
fn a_new_peer_identity_is_allowed_without_recomputing_the_subject() {
    let mut e = PolicyEngine::default();
    e.upsert_identity(300, pod("a", "web"));
    e.upsert_endpoint(endpoint("a", "web-1", 300, "10.0.0.1"));
    e.upsert_policy(&policy("a", "p1", "web")).unwrap();
    let before = e.stats().recomputations;
    e.upsert_identity(301, pod("a", "client"));
    e.upsert_endpoint(endpoint("a", "client-1", 301, "10.0.0.2"));
    assert_eq!(
        e.stats().recomputations,
        before + 1,
        "only the new identity"
    );
    let flow = Flow::new(
        Peer::endpoint("a", "client-1"),
        Peer::endpoint("a", "web-1"),
        80,
        Protocol::Tcp,
    );
    assert_eq!(e.decide(&flow).unwrap(), Decision::Allow);
    // Relabel the client: no longer allowed.
    e.upsert_identity(301, pod("a", "other"));
    assert_eq!(e.decide(&flow).unwrap(), Decision::Deny);
    // An endpoint may move to another identity.
    e.upsert_identity(302, pod("a", "client"));
    e.upsert_endpoint(endpoint("a", "client-1", 302, "10.0.0.2"));
    assert_eq!(e.decide(&flow).unwrap(), Decision::Allow);
    let by_ip = Flow::new(
        Peer::Ip("10.0.0.2".parse().unwrap()),
        Peer::Ip("10.0.0.1".parse().unwrap()),
        80,
        Protocol::Tcp,
    );
    assert_eq!(e.decide(&by_ip).unwrap(), Decision::Allow);
}

#[test]
fn decide_fails_as_evaluate_does_and_follows_selector_changes() {
    let mut e = PolicyEngine::default();
    e.upsert_identity(300, pod("a", "web"));
    let mut web = endpoint("a", "web-1", 300, "10.0.0.1");
    web.named_ports = vec![sliceplane::policy::NamedPort::new(
        "http",
        8080,
        Protocol::Tcp,
    )];
    e.upsert_endpoint(web);
    e.upsert_identity(301, pod("a", "client"));
    e.upsert_endpoint(endpoint("a", "client-1", 301, "10.0.0.2"));
    // An endpoint whose identity the engine does not know.
    e.upsert_endpoint(endpoint("a", "ghost", 999, "10.0.0.9"));
    e.upsert_policy(&policy("a", "p1", "web")).unwrap();
    let flow = |from: &str, to: &str, port: sliceplane::policy::PortRef| Flow {
        from: Peer::endpoint("a", from),
        to: Peer::endpoint("a", to),
        port,
        protocol: Protocol::Tcp,
    };
    let cases = [
        flow("client-1", "web-1", 80.into()),
        flow("client-1", "web-1", "http".into()),
        flow("client-1", "web-1", "grpc".into()),
        flow("nobody", "web-1", 80.into()),
        flow("client-1", "nobody", 80.into()),
        flow("ghost", "web-1", 80.into()),
        flow("client-1", "ghost", 80.into()),
        flow("web-1", "web-1", 80.into()),
    ];
    let outcomes: Vec<_> = cases
        .iter()
        .map(|f| e.decide(f).map_err(|err| err.to_string()))
        .collect();
    let expected: Vec<_> = cases
        .iter()
        .map(|f| {
            e.evaluate(f)
                .map(|v| v.decision)
                .map_err(|err| err.to_string())
        })
        .collect();
    assert_eq!(outcomes, expected);
    assert_eq!(outcomes[0], Ok(Decision::Allow));
    assert_eq!(outcomes[1], Ok(Decision::Allow));
    assert!(outcomes[2..7].iter().all(Result::is_err), "{outcomes:?}");
    assert_eq!(outcomes[7], Ok(Decision::Allow));

    // A new selector (a new policy) selecting the existing client, and its
    // removal: decide reads the client's selectors as they are now.
    let only_db = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "p1", "namespace": "a"},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]}});
    e.upsert_policy(&only_db).unwrap();
    assert_eq!(e.decide(&cases[0]).unwrap(), Decision::Deny);
    e.upsert_policy(&policy("a", "p1", "web")).unwrap();
    assert_eq!(e.decide(&cases[0]).unwrap(), Decision::Allow);
    e.remove_identity(301);
    e.upsert_identity(301, pod("a", "client"));
    assert_eq!(e.decide(&cases[0]).unwrap(), Decision::Allow);
}
