//! Size bounds (DESIGN.md §2): an object Kubernetes would store is never
//! refused — any number of labels, container ports or named ports within
//! the API server's object size — while input larger than any object the
//! API server accepts is refused with `too_large` and changes nothing.

mod common;

use std::collections::BTreeMap;

use common::*;
use sliceplane::MAX_OBJECT_BYTES;
use sliceplane::config::{SliceMode, Source};
use sliceplane::mirror::Mirror;
use sliceplane::model::{ContainerPort, NamedPort, Object};
use sliceplane::{Engine, ErrorCode};

fn synced(source: Source) -> Engine {
    let mut e = Engine::new(config(source, SliceMode::Fcfs, 100)).unwrap();
    e.initial_sync_done(0);
    e
}

fn labels(n: usize, prefix: &str) -> BTreeMap<String, String> {
    (0..n)
        .map(|i| (format!("{prefix}-{i}"), format!("value-{i}")))
        .collect()
}

/// Labels with the longest keys and values Kubernetes allows (253-character
/// prefix, 63-character name and value) taking at least `bytes` bytes.
fn labels_of_size(bytes: usize) -> BTreeMap<String, String> {
    let prefix = format!("{a}.{a}.{a}.{b}", a = "a".repeat(63), b = "b".repeat(61));
    let per_label = 253 + 1 + 63 + 63;
    (0..bytes.div_ceil(per_label))
        .map(|i| (format!("{prefix}/n{i:062}"), "v".repeat(63)))
        .collect()
}

type Snapshot = (
    sliceplane::engine::Stats,
    Vec<sliceplane::model::CiliumEndpointSlice>,
    Vec<sliceplane::model::CiliumIdentity>,
);

fn snapshot(e: &Engine) -> Snapshot {
    (e.stats(), e.desired_slices(), e.desired_identities())
}

/// The case and beyond: a Namespace and a Pod with 1,000 labels
/// each. Both are accepted; the pod's identity carries every one of them.
#[test]
fn namespace_and_pod_with_a_thousand_labels_get_an_identity() {
    let mut e = synced(Source::Pods);
    let mut m = Mirror::new();
    let mut ns = namespace("wide", &[]);
    ns.metadata.labels = labels(1000, "team");
    e.apply(&add(Object::Namespace(ns)), 0).unwrap();
    let mut p = pod("wide", "a", "web", "n1", "10.0.0.1");
    p.metadata.labels.extend(labels(999, "feature"));
    assert_eq!(p.metadata.labels.len(), 1000);
    e.apply(&add(Object::Pod(p)), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();

    let id = e.endpoint("wide", "a").unwrap().1.expect("an identity");
    let cid = &m.identities[&id.to_string()];
    // 1,000 pod labels, 1,000 namespace labels, namespace, service
    // account, cluster.
    assert_eq!(cid.security_labels.len(), 2003);
    assert_eq!(cid.security_labels["k8s:feature-998"], "value-998");
    assert_eq!(
        cid.security_labels["k8s:io.cilium.k8s.namespace.labels.team-999"],
        "value-999"
    );
    let slice = m.slices.values().next().unwrap();
    assert_eq!(slice.endpoints[0].id, i64::from(id));
}

/// Labels just under the etcd default (1.5 MiB) — an object any cluster
/// stores — are accepted on a Namespace and on a Pod.
#[test]
fn labels_near_the_etcd_object_limit_are_accepted() {
    let big = labels_of_size(3 * 1024 * 1024 / 2 - 64 * 1024);
    let n = big.len();
    assert_eq!(n, 3967);
    let mut e = synced(Source::Pods);
    let mut ns = namespace("big", &[]);
    ns.metadata.labels = big.clone();
    e.apply(&add(Object::Namespace(ns)), 0).unwrap();
    let mut p = pod("big", "a", "web", "n1", "10.0.0.1");
    p.metadata.labels.extend(big);
    e.apply(&add(Object::Pod(p)), 0).unwrap();
    let id = e.endpoint("big", "a").unwrap().1.expect("an identity");
    let cid = e
        .desired_identities()
        .into_iter()
        .find(|c| c.metadata.name == id.to_string())
        .unwrap();
    // Pod labels (with `app`), namespace labels, namespace, service
    // account, cluster.
    assert_eq!(cid.security_labels.len(), (n + 1) + n + 3);
}

/// Labels larger than any object the API server accepts (10 MB, or just
/// over its 3 MiB limit) are refused with `too_large`, naming the object
/// and the field, and change nothing — on a new object and on a
/// modification of one the engine holds.
#[test]
fn labels_larger_than_any_object_are_refused_and_change_nothing() {
    let mut e = synced(Source::Pods);
    e.apply(
        &add(Object::Namespace(namespace("ns", &[("env", "dev")]))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::Pod(pod("ns", "a", "web", "n1", "10.0.0.1"))),
        0,
    )
    .unwrap();
    let before = snapshot(&e);
    let rejected_before = e.counters().events_rejected;

    for bytes in [10_000_000, MAX_OBJECT_BYTES + 1] {
        let hostile = labels_of_size(bytes);

        let mut ns = namespace("ns", &[("env", "dev")]);
        ns.metadata.labels.extend(hostile.clone());
        let err = e.apply(&modify(Object::Namespace(ns)), 1).unwrap_err();
        assert_eq!(
            (err.code, err.object.as_str(), err.field.as_str()),
            (ErrorCode::TooLarge, "Namespace ns", "metadata.labels"),
            "{err}"
        );
        assert_eq!(snapshot(&e), before);

        let mut new_ns = namespace("other", &[]);
        new_ns.metadata.labels = hostile.clone();
        let err = e.apply(&add(Object::Namespace(new_ns)), 1).unwrap_err();
        assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
        assert_eq!(snapshot(&e), before);

        let mut p = pod("ns", "a", "web", "n1", "10.0.0.1");
        p.metadata.labels.extend(hostile);
        let err = e.apply(&modify(Object::Pod(p)), 1).unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (ErrorCode::TooLarge, "metadata.labels"),
            "{err}"
        );
        assert!(err.object.starts_with("Pod"), "{err}");
        assert_eq!(snapshot(&e), before);
    }
    assert_eq!(e.counters().events_rejected, rejected_before + 6);
}

/// A pod exposing a port range as 1,000 named container ports (the
/// API server accepts it: names unique, each a valid IANA service name).
#[test]
fn pod_with_a_thousand_named_ports_is_an_endpoint() {
    let mut e = synced(Source::Pods);
    let mut m = Mirror::new();
    e.apply(&add(Object::Namespace(namespace("media", &[]))), 0)
        .unwrap();
    let mut p = pod("media", "rtp", "rtp", "n1", "10.0.0.1");
    p.spec.containers[0].ports = (0..1000)
        .map(|i| ContainerPort {
            name: Some(format!("rtp-{i}")),
            container_port: 20_000 + i,
            protocol: Some("UDP".into()),
        })
        .collect();
    e.apply(&add(Object::Pod(p)), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let slice = m.slices.values().next().unwrap();
    let ports = &slice.endpoints[0].named_ports;
    assert_eq!(ports.len(), 1000);
    assert!(
        ports
            .iter()
            .any(|p| p.name == "rtp-999" && p.port == 20_999 && p.protocol == "UDP")
    );
}

/// The same from a CiliumEndpoint: 1,000 named ports.
#[test]
fn cilium_endpoint_with_a_thousand_named_ports_is_placed() {
    let mut e = synced(Source::Ciliumendpoints);
    let mut m = Mirror::new();
    let mut c = cep("media", "rtp", 300, "10.0.0.1");
    c.status.named_ports = (0..1000)
        .map(|i| NamedPort {
            name: format!("rtp-{i}"),
            port: 20_000 + i,
            protocol: "UDP".into(),
        })
        .collect();
    e.apply(&add(Object::CiliumEndpoint(c)), 0).unwrap();
    m.settle(&mut e, 0, 5).unwrap();
    let slice = m.slices.values().next().unwrap();
    assert_eq!(slice.endpoints[0].named_ports.len(), 1000);
}

/// A node with many interfaces reports dozens of addresses; Kubernetes sets
/// no count, so 40 are accepted (the InternalIP is found among them). A
/// pod's `status.podIPs` keeps Kubernetes' own bound: one IP per family.
#[test]
fn node_with_forty_addresses_is_accepted_pod_with_three_ips_is_not() {
    let mut e = synced(Source::Pods);
    let mut cn = cilium_node("n1", "10.1.0.1", 3);
    for i in 2..41 {
        cn.spec
            .addresses
            .push(sliceplane::model::CiliumNodeAddress {
                kind: "ExternalIP".into(),
                ip: format!("192.0.2.{i}"),
            });
    }
    e.apply(&add(Object::CiliumNode(cn)), 0).unwrap();
    let mut node = sliceplane::model::Node {
        metadata: sliceplane::model::ObjectMeta::named("n2"),
        ..Default::default()
    };
    node.status.addresses = (1..41)
        .map(|i| sliceplane::model::NodeAddress {
            kind: if i == 40 { "InternalIP" } else { "ExternalIP" }.into(),
            address: format!("198.51.100.{i}"),
        })
        .collect();
    e.apply(&add(Object::Node(node)), 0).unwrap();
    assert_eq!(e.node_count(), 1, "one CiliumNode");
    e.apply(&add(Object::Namespace(namespace("ns", &[]))), 0)
        .unwrap();
    e.apply(
        &add(Object::Pod(pod("ns", "on-n1", "web", "n1", "10.0.0.7"))),
        0,
    )
    .unwrap();
    e.apply(
        &add(Object::Pod(pod("ns", "on-n2", "web", "n2", "10.0.0.8"))),
        0,
    )
    .unwrap();
    let nodes: BTreeMap<String, Option<String>> = e
        .desired_slices()
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .map(|ep| {
            (
                ep.name.to_string(),
                ep.networking.node.as_deref().map(String::from),
            )
        })
        .collect();
    assert_eq!(
        nodes,
        BTreeMap::from([
            ("on-n1".to_string(), Some("10.1.0.1".to_string())),
            ("on-n2".to_string(), Some("198.51.100.40".to_string())),
        ])
    );

    let before = snapshot(&e);
    let mut p = pod("ns", "x", "web", "n1", "10.0.0.1");
    p.status.pod_ips = ["10.0.0.1", "fd00::1", "10.0.0.2"]
        .iter()
        .map(|ip| sliceplane::model::PodIp { ip: ip.to_string() })
        .collect();
    let err = e.apply(&add(Object::Pod(p)), 0).unwrap_err();
    assert_eq!(
        (err.code, err.field.as_str()),
        (ErrorCode::TooLarge, "status.podIPs"),
        "{err}"
    );
    assert_eq!(snapshot(&e), before);
}

/// A CiliumIdentity's `security-labels` and a CiliumEndpoint's
/// `status.identity.labels` are bounded by the object size, not a count.
#[test]
fn identity_labels_larger_than_any_object_are_refused() {
    let mut e = synced(Source::Pods);
    let before = snapshot(&e);
    let mut cid = sliceplane::model::CiliumIdentity::new("70000");
    cid.security_labels = labels_of_size(MAX_OBJECT_BYTES + 1)
        .into_iter()
        .map(|(k, v)| (format!("k8s:{k}"), v))
        .collect();
    let err = e.apply(&add(Object::CiliumIdentity(cid)), 0).unwrap_err();
    assert_eq!(
        (err.code, err.field.as_str()),
        (ErrorCode::TooLarge, "security-labels"),
        "{err}"
    );
    assert_eq!(snapshot(&e), before);

    let mut e = synced(Source::Ciliumendpoints);
    let before = snapshot(&e);
    let mut c = cep("ns", "x", 1000, "10.0.0.1");
    c.status.identity.as_mut().unwrap().labels = labels_of_size(MAX_OBJECT_BYTES + 1)
        .into_iter()
        .map(|(k, v)| format!("k8s:{k}={v}"))
        .collect();
    let err = e.apply(&add(Object::CiliumEndpoint(c)), 0).unwrap_err();
    assert_eq!(
        (err.code, err.field.as_str()),
        (ErrorCode::TooLarge, "status.identity.labels"),
        "{err}"
    );
    assert_eq!(snapshot(&e), before);
}
