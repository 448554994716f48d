//! Identity labels as Cilium v1.20.2 derives them (DESIGN.md §3): the
//! default label filter drops `topology.kubernetes.io` (Kubernetes 1.35
//! copies a node's zone and region onto its pods), so pods that differ
//! only by zone share one identity; `io.cilium.k8s.policy.serviceaccount`
//! stays once the user adds includes of their own.

mod common;

use common::*;
use sliceplane::config::{SliceMode, Source};
use sliceplane::mirror::Mirror;
use sliceplane::model::{CiliumIdentity, Object, Pod};
use sliceplane::{Config, Engine};

fn synced(c: Config) -> Engine {
    let mut e = Engine::new(c).unwrap();
    e.initial_sync_done(0);
    e
}

fn zoned(name: &str, ip: &str, zone: &str) -> Pod {
    let mut p = pod("shop", name, "web", "n1", ip);
    p.metadata
        .labels
        .insert("topology.kubernetes.io/zone".into(), zone.into());
    p.metadata
        .labels
        .insert("topology.kubernetes.io/region".into(), "eu-west-1".into());
    p
}

fn identity_of(e: &Engine, m: &Mirror, pod: &str) -> CiliumIdentity {
    let id = e.endpoint("shop", pod).unwrap().1.expect("an identity");
    m.identities[&id.to_string()].clone()
}

#[test]
fn pods_differing_only_by_zone_get_one_identity() {
    let mut e = synced(config(Source::Pods, SliceMode::Fcfs, 100));
    let mut m = Mirror::new();
    e.apply(&add(Object::Namespace(namespace("shop", &[]))), 0)
        .unwrap();
    e.apply(&add(Object::Pod(zoned("a", "10.0.0.1", "eu-west-1a"))), 0)
        .unwrap();
    e.apply(&add(Object::Pod(zoned("b", "10.0.0.2", "eu-west-1b"))), 0)
        .unwrap();
    m.settle(&mut e, 0, 5).unwrap();

    let a = identity_of(&e, &m, "a");
    let b = identity_of(&e, &m, "b");
    assert_eq!(a.metadata.name, b.metadata.name);
    assert_eq!(m.identities.len(), 1);
    let keys: Vec<&str> = a.security_labels.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "k8s:app",
            "k8s:io.cilium.k8s.policy.cluster",
            "k8s:io.cilium.k8s.policy.serviceaccount",
            "k8s:io.kubernetes.pod.namespace",
        ]
    );

    // A zone label arriving later (as Kubernetes 1.35 adds it after the pod
    // is created) does not change the identity either.
    let mut c = pod("shop", "c", "web", "n1", "10.0.0.3");
    e.apply(&add(Object::Pod(c.clone())), 1).unwrap();
    let before = e.endpoint("shop", "c").unwrap().1;
    c.metadata
        .labels
        .insert("topology.kubernetes.io/zone".into(), "eu-west-1c".into());
    e.apply(&modify(Object::Pod(c)), 2).unwrap();
    assert_eq!(e.endpoint("shop", "c").unwrap().1, before);
    assert_eq!(before.map(|id| id.to_string()), Some(a.metadata.name));
}

#[test]
fn user_includes_keep_the_service_account() {
    let mut c = config(Source::Pods, SliceMode::Fcfs, 100);
    c.identity.label_filter.include = vec!["k8s:app".into()];
    let mut e = synced(c);
    let mut m = Mirror::new();
    e.apply(
        &add(Object::Namespace(namespace("shop", &[("team", "a")]))),
        0,
    )
    .unwrap();
    let mut p = pod("shop", "a", "web", "n1", "10.0.0.1");
    p.metadata.labels.insert("tier".into(), "front".into());
    e.apply(&add(Object::Pod(p)), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let keys: Vec<String> = identity_of(&e, &m, "a")
        .security_labels
        .into_keys()
        .collect();
    assert_eq!(
        keys,
        [
            "k8s:app",
            "k8s:io.cilium.k8s.namespace.labels.team",
            "k8s:io.cilium.k8s.policy.cluster",
            "k8s:io.cilium.k8s.policy.serviceaccount",
            "k8s:io.kubernetes.pod.namespace",
        ]
    );
}
