use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use sliceplane::model::{EventType, Kind};

use super::*;

// ---------------------------------------------------------------- validators

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns_label)
}

fn label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

fn label_key(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => dns_subdomain(prefix) && label_name(name),
        None => label_name(k),
    }
}

fn label_value(v: &str) -> bool {
    v.is_empty() || label_name(v)
}

fn labels_ok(labels: &BTreeMap<String, String>) -> bool {
    labels.iter().all(|(k, v)| label_key(k) && label_value(v))
}

fn ip_ok(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

fn check_object(o: &Object) {
    let m = o.metadata();
    assert!(dns_subdomain(&m.name), "bad name {}", o.describe());
    if let Some(ns) = &m.namespace {
        assert!(dns_label(ns), "bad namespace {}", o.describe());
    }
    assert!(labels_ok(&m.labels), "bad labels {}", o.describe());
    match o {
        Object::Pod(p) => {
            assert_eq!(p.status.phase.as_deref(), Some("Running"));
            assert!(!p.status.pod_ips.is_empty());
            assert_eq!(
                p.status.pod_ip.as_deref(),
                Some(p.status.pod_ips[0].ip.as_str())
            );
            assert!(p.status.pod_ips.iter().all(|i| ip_ok(&i.ip)));
            assert!(ip_ok(p.status.host_ip.as_deref().unwrap()));
            assert!(dns_subdomain(p.spec.node_name.as_deref().unwrap()));
            assert!(dns_subdomain(
                p.spec.service_account_name.as_deref().unwrap()
            ));
            for c in &p.spec.containers {
                for port in &c.ports {
                    assert!((1..=65535).contains(&port.container_port));
                    assert_eq!(port.protocol.as_deref(), Some("TCP"));
                    assert!(port.name.as_deref().is_some_and(dns_label));
                }
            }
        }
        Object::CiliumEndpoint(c) => {
            let id = c.status.identity.as_ref().unwrap().id;
            assert!((FIRST_IDENTITY..=65535).contains(&id));
            let net = c.status.networking.as_ref().unwrap();
            assert_eq!(net.addressing.len(), 1);
            assert!(net.addressing[0].ipv4.as_deref().is_some_and(ip_ok));
            assert!(ip_ok(net.node.as_deref().unwrap()));
            assert!(!c.status.named_ports.is_empty());
        }
        Object::Node(n) => assert!(
            n.status
                .addresses
                .iter()
                .all(|a| a.kind == "Hostname" || ip_ok(&a.address))
        ),
        Object::CiliumNode(n) => assert!(n.spec.addresses.iter().all(|a| ip_ok(&a.ip))),
        _ => {}
    }
}

/// Serialises and parses `ev` back. A DELETED event is read for its key
/// only (core `model`: kind, namespace, name, uid, resourceVersion), so that
/// is what must survive; any other event survives whole.
fn roundtrip(ev: &WatchEvent) {
    let bytes = serde_json::to_vec(&ev.to_json_value()).unwrap();
    let back = WatchEvent::from_json(&bytes).unwrap();
    if ev.event_type == EventType::Deleted {
        assert_eq!(back.event_type, EventType::Deleted);
        assert_eq!(back.object.kind(), ev.object.kind());
        let (a, b) = (back.object.metadata(), ev.object.metadata());
        assert_eq!(
            (&a.namespace, &a.name, &a.uid, &a.resource_version),
            (&b.namespace, &b.name, &b.uid, &b.resource_version),
            "round trip changed the key of {}",
            ev.object.describe()
        );
    } else {
        assert_eq!(&back, ev, "round trip changed {}", ev.object.describe());
    }
}

/// Live-pod invariants: valid objects, unique names/uids/IPs, node IPs
/// disjoint from pod IPs.
fn check_cluster(c: &Cluster) {
    let mut names = HashSet::new();
    let mut uids = HashSet::new();
    let mut ips = HashSet::new();
    for p in c.pods() {
        check_object(&Object::Pod(p.clone()));
        assert!(names.insert((p.metadata.namespace.clone(), p.metadata.name.clone())));
        assert!(uids.insert(p.metadata.uid.clone().unwrap()));
        for ip in &p.status.pod_ips {
            assert!(ips.insert(ip.ip.clone()), "duplicate pod IP {}", ip.ip);
        }
    }
    for n in c.nodes() {
        check_object(&Object::Node(n.clone()));
        for a in &n.status.addresses {
            assert!(
                !ips.contains(&a.address),
                "node IP {} is a pod IP",
                a.address
            );
        }
    }
    for n in c.cilium_nodes() {
        check_object(&Object::CiliumNode(n.clone()));
    }
    for n in c.namespaces() {
        check_object(&Object::Namespace(n.clone()));
    }
    for cep in c.ciliumendpoints() {
        check_object(&Object::CiliumEndpoint(cep));
    }
}

fn spread(counts: impl IntoIterator<Item = usize>) -> usize {
    let v: Vec<usize> = counts.into_iter().collect();
    v.iter().max().unwrap() - v.iter().min().unwrap()
}

fn per_node(c: &Cluster) -> Vec<usize> {
    let mut m: HashMap<&str, usize> = c
        .nodes()
        .iter()
        .map(|n| (n.metadata.name.as_str(), 0))
        .collect();
    for p in c.pods() {
        *m.get_mut(p.spec.node_name.as_deref().unwrap()).unwrap() += 1;
    }
    m.into_values().collect()
}

fn per_deployment(c: &Cluster) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for p in c.pods() {
        *m.entry(p.metadata.labels["app"].clone()).or_insert(0) += 1;
    }
    m
}

fn small(dual: bool) -> Cluster {
    let spec = WorkloadSpec::custom(1_003, 37)
        .unwrap()
        .with_dual_stack(dual)
        .with_seed(42);
    Cluster::generate(&spec).unwrap()
}

fn events_json(events: &[TimedEvent]) -> String {
    let mut s = String::new();
    for e in events {
        s.push_str(&e.at_ms.to_string());
        s.push(' ');
        s.push_str(&serde_json::to_string(&e.event.to_json_value()).unwrap());
        s.push('\n');
    }
    s
}

// ---------------------------------------------------------------- tests

#[test]
fn scales_have_design_sizes() {
    let s = WorkloadSpec::scale(Scale::S);
    assert_eq!(
        (s.pods, s.nodes, s.namespaces, s.deployments),
        (5_000, 500, 50, 250)
    );
    let m = WorkloadSpec::scale(Scale::M);
    assert_eq!(
        (m.pods, m.nodes, m.namespaces, m.deployments),
        (100_000, 2_000, 1_000, 5_000)
    );
    let l = WorkloadSpec::scale(Scale::L);
    assert_eq!(
        (l.pods, l.nodes, l.namespaces, l.deployments),
        (1_000_000, 20_000, 10_000, 50_000)
    );
    for sc in Scale::ALL {
        WorkloadSpec::scale(sc).validate().unwrap();
    }
    let c = Cluster::generate(&s).unwrap();
    assert_eq!(c.pods().len(), 5_000);
    assert_eq!(c.nodes().len(), 500);
    assert_eq!(c.cilium_nodes().len(), 500);
    assert_eq!(c.namespaces().len(), 50);
    assert_eq!(c.deployment_count(), 250);
    assert_eq!(per_deployment(&c).len(), 250);
    assert_eq!(spread(per_node(&c)), 0);
    assert_eq!(spread(per_deployment(&c).into_values()), 0);
    assert_eq!(c.ciliumendpoints().len(), 5_000);
    assert_eq!(c.identities().len(), 250);
    let prio = c
        .namespaces()
        .iter()
        .filter(|n| {
            n.metadata
                .annotations
                .get("cilium.io/ces-namespace")
                .map(String::as_str)
                == Some("priority")
        })
        .count();
    assert_eq!(prio, 3); // namespaces 0, 20, 40
    check_cluster(&c);
}

#[test]
fn custom_sizes_and_validation() {
    let s = WorkloadSpec::custom(10, 3).unwrap();
    assert_eq!((s.namespaces, s.deployments), (1, 1));
    assert!(WorkloadSpec::custom(0, 3).is_err());
    assert!(WorkloadSpec::custom(10, 0).is_err());
    assert!(WorkloadSpec::custom(MAX_PODS + 1, 3).is_err());
    let mut bad = WorkloadSpec::custom(100, 3).unwrap();
    bad.deployments = 101;
    assert!(Cluster::generate(&bad).is_err());
    bad.deployments = 5;
    bad.namespaces = 6;
    assert!(
        Cluster::generate(&bad)
            .unwrap_err()
            .to_string()
            .contains("namespaces")
    );
    bad.namespaces = 0;
    assert!(bad.validate().is_err());
    let one = Cluster::generate(&WorkloadSpec::custom(1, 1).unwrap()).unwrap();
    assert_eq!(one.pods().len(), 1);
}

#[test]
fn spreads_evenly_with_remainders() {
    let c = small(false);
    assert_eq!(c.pods().len(), 1_003);
    assert_eq!(c.deployment_count(), 50);
    assert!(spread(per_node(&c)) <= 1);
    assert!(spread(per_deployment(&c).into_values()) <= 1);
    let mut per_ns: HashMap<&str, HashSet<&str>> = HashMap::new();
    for p in c.pods() {
        per_ns
            .entry(p.metadata.namespace.as_deref().unwrap())
            .or_default()
            .insert(p.metadata.labels["app"].as_str());
    }
    assert_eq!(per_ns.len(), 10);
    assert!(spread(per_ns.values().map(HashSet::len)) <= 1);
    check_cluster(&c);
}

#[test]
fn pods_look_like_replicaset_pods() {
    let c = small(true);
    for p in c.pods() {
        let app = &p.metadata.labels["app"];
        let hash = &p.metadata.labels["pod-template-hash"];
        let rest = p
            .metadata
            .name
            .strip_prefix(&format!("{app}-{hash}-"))
            .unwrap();
        assert_eq!(rest.len(), 5);
        assert_eq!(p.metadata.owner_references[0].name, format!("{app}-{hash}"));
        assert_eq!(p.status.pod_ips.len(), 2);
        assert!(p.status.pod_ips[1].ip.contains(':'));
        assert!(p.metadata.uid.as_ref().unwrap().len() == 36);
        assert_eq!(p.spec.containers[0].ports[0].name.as_deref(), Some("http"));
    }
    for n in c.nodes() {
        let internal = n
            .status
            .addresses
            .iter()
            .filter(|a| a.kind == "InternalIP")
            .count();
        assert_eq!(internal, 2);
    }
    let ceps = c.ciliumendpoints();
    for (p, cep) in c.pods().iter().zip(&ceps) {
        let net = cep.status.networking.as_ref().unwrap();
        assert_eq!(
            net.addressing[0].ipv4.as_deref(),
            Some(p.status.pod_ips[0].ip.as_str())
        );
        assert_eq!(
            net.addressing[0].ipv6.as_deref(),
            Some(p.status.pod_ips[1].ip.as_str())
        );
        assert_eq!(net.node.as_deref(), p.status.host_ip.as_deref());
        assert_eq!(cep.status.service_account, p.spec.service_account_name);
    }
    // Identity per label set: same deployment → same id, ids from 256, dense.
    let mut by_app: HashMap<&str, i64> = HashMap::new();
    for (p, cep) in c.pods().iter().zip(&ceps) {
        let id = cep.status.identity.as_ref().unwrap().id;
        assert_eq!(
            *by_app
                .entry(p.metadata.labels["app"].as_str())
                .or_insert(id),
            id
        );
    }
    let ids: HashSet<i64> = by_app.values().copied().collect();
    assert_eq!(ids.len(), 50);
    assert_eq!(*ids.iter().min().unwrap(), FIRST_IDENTITY);
    let cids = c.identities();
    assert_eq!(cids.len(), 50);
    assert!(cids.iter().all(|i| {
        i.security_labels
            .contains_key("k8s:io.kubernetes.pod.namespace")
    }));
    // Some nodes carry an encryption key and their endpoints inherit it.
    assert!(c.cilium_nodes().iter().any(|n| n.spec.encryption.is_some()));
    check_cluster(&c);
}

#[test]
fn all_events_round_trip() {
    for dual in [false, true] {
        let mut c = small(dual);
        for source in [Source::Pods, Source::CiliumEndpoints] {
            for e in c.initial_events(source) {
                roundtrip(&e.event);
                check_object(&e.event.object);
            }
        }
        for cid in c.identities() {
            roundtrip(&WatchEvent::added(Object::CiliumIdentity(cid)));
        }
        for (i, trace) in Trace::ALL.into_iter().enumerate() {
            let source = if i % 2 == 0 {
                Source::Pods
            } else {
                Source::CiliumEndpoints
            };
            for e in c.churn(trace, source, i as u64) {
                roundtrip(&e.event);
                check_object(&e.event.object);
            }
        }
    }
}

#[test]
fn initial_event_kinds() {
    let c = small(false);
    let kinds = |src| {
        let mut m: BTreeMap<Kind, usize> = BTreeMap::new();
        for e in c.initial_events(src) {
            assert_eq!(e.event.event_type, EventType::Added);
            assert_eq!(e.at_ms, 0);
            *m.entry(e.event.object.kind()).or_insert(0) += 1;
        }
        m
    };
    let pods = kinds(Source::Pods);
    assert_eq!(
        pods.into_iter().collect::<Vec<_>>(),
        vec![
            (Kind::Namespace, 10),
            (Kind::Node, 37),
            (Kind::CiliumNode, 37),
            (Kind::Pod, 1003)
        ]
    );
    let ceps = kinds(Source::CiliumEndpoints);
    assert_eq!(
        ceps.into_iter().collect::<Vec<_>>(),
        vec![
            (Kind::Namespace, 10),
            (Kind::CiliumNode, 37),
            (Kind::CiliumEndpoint, 1003)
        ]
    );
}

#[test]
fn deterministic() {
    let run = |seed: u64| {
        let spec = WorkloadSpec::custom(500, 20)
            .unwrap()
            .with_seed(seed)
            .with_dual_stack(true);
        let mut c = Cluster::generate(&spec).unwrap();
        let mut out = events_json(&c.initial_events(Source::Pods));
        out += &events_json(&c.initial_events(Source::CiliumEndpoints));
        for t in Trace::ALL {
            out += &events_json(&c.churn(t, Source::Pods, 9));
            out += &events_json(&c.churn(t, Source::CiliumEndpoints, 10));
        }
        out
    };
    let a = run(1);
    assert_eq!(a, run(1));
    assert_ne!(a, run(2));
}

fn count(events: &[TimedEvent], t: EventType) -> usize {
    events.iter().filter(|e| e.event.event_type == t).count()
}

fn apps(events: &[TimedEvent]) -> HashSet<String> {
    events
        .iter()
        .map(|e| e.event.object.metadata().labels["app"].clone())
        .collect()
}

fn check_timestamps(events: &[TimedEvent], start: u64, per_sec: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.at_ms, start + i as u64 * 1000 / per_sec);
    }
}

#[test]
fn rolling_update_replaces_ten_percent() {
    let mut c = small(false);
    let before: HashSet<String> = c.pods().iter().map(|p| p.metadata.name.clone()).collect();
    let ev = c.churn(Trace::RollingUpdate, Source::Pods, 3);
    let deps = apps(&ev);
    assert_eq!(deps.len(), share(50, 10)); // 5
    let replaced: usize = per_deployment(&c)
        .iter()
        .filter(|(a, _)| deps.contains(*a))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(count(&ev, EventType::Added), replaced);
    assert_eq!(count(&ev, EventType::Deleted), replaced);
    assert_eq!(ev.len(), 2 * replaced);
    // Surge of one: add, then delete.
    for pair in ev.chunks(2) {
        assert_eq!(pair[0].event.event_type, EventType::Added);
        assert_eq!(pair[1].event.event_type, EventType::Deleted);
        assert!(before.contains(&pair[1].event.object.metadata().name));
        assert!(!before.contains(&pair[0].event.object.metadata().name));
        assert_ne!(
            pair[0].event.object.metadata().labels["pod-template-hash"],
            pair[1].event.object.metadata().labels["pod-template-hash"]
        );
    }
    check_timestamps(&ev, 0, 1000);
    assert_eq!(c.now_ms(), ev.len() as u64);
    assert_eq!(c.pods().len(), 1_003);
    assert!(spread(per_node(&c)) <= 1);
    check_cluster(&c);
}

#[test]
fn label_change_modifies_one_percent_and_changes_identity() {
    let spec = WorkloadSpec::custom(4_000, 50).unwrap();
    let mut c = Cluster::generate(&spec).unwrap();
    let ids_before: HashMap<String, i64> = c
        .ciliumendpoints()
        .into_iter()
        .map(|e| (e.metadata.name, e.status.identity.unwrap().id))
        .collect();
    let ev = c.churn(Trace::LabelChange, Source::CiliumEndpoints, 5);
    assert_eq!(apps(&ev).len(), share(200, 1)); // 2
    assert_eq!(count(&ev, EventType::Modified), ev.len());
    assert_eq!(ev.len(), 40);
    for e in &ev {
        let Object::CiliumEndpoint(cep) = &e.event.object else {
            panic!()
        };
        assert_eq!(cep.metadata.labels["version"], "v2");
        let id = cep.status.identity.as_ref().unwrap().id;
        assert_ne!(id, ids_before[&cep.metadata.name]);
        assert!(id >= FIRST_IDENTITY + 200);
    }
    assert_eq!(c.pods().len(), 4_000);
    assert_eq!(c.identities().len(), 200);
    // Pod mode: same pods, MODIFIED with v3.
    let ev = c.churn(Trace::LabelChange, Source::Pods, 6);
    assert!(ev.iter().all(|e| e.event.object.kind() == Kind::Pod
        && e.event.object.metadata().labels["version"].starts_with('v')));
    check_cluster(&c);
}

#[test]
fn node_drain_moves_pods_off_one_percent_of_nodes() {
    let spec = WorkloadSpec::custom(2_000, 200).unwrap();
    let mut c = Cluster::generate(&spec).unwrap();
    let ev = c.churn_with_rate(
        Trace::NodeDrain,
        Source::Pods,
        8,
        ChurnRate {
            events_per_sec: 500,
        },
    );
    let drained: HashSet<&str> = ev
        .iter()
        .filter(|e| e.event.event_type == EventType::Deleted)
        .map(|e| {
            let Object::Pod(p) = &e.event.object else {
                panic!()
            };
            p.spec.node_name.as_deref().unwrap()
        })
        .collect();
    assert_eq!(drained.len(), share(200, 1)); // 2
    assert_eq!(count(&ev, EventType::Deleted), 20);
    assert_eq!(count(&ev, EventType::Added), 20);
    for e in ev.iter().filter(|e| e.event.event_type == EventType::Added) {
        let Object::Pod(p) = &e.event.object else {
            panic!()
        };
        assert!(!drained.contains(p.spec.node_name.as_deref().unwrap()));
    }
    check_timestamps(&ev, 0, 500);
    let counts = per_node(&c);
    assert_eq!(counts.iter().filter(|&&n| n == 0).count(), 2);
    assert_eq!(c.pods().len(), 2_000);
    assert!(spread(per_deployment(&c).into_values()) == 0);
    check_cluster(&c);
}

#[test]
fn scale_down_up_halves_then_restores() {
    let mut c = small(false);
    let sizes = per_deployment(&c);
    let ev = c.churn(Trace::ScaleDownUp, Source::CiliumEndpoints, 11);
    let deps = apps(&ev);
    assert_eq!(deps.len(), share(50, 10));
    let expected: usize = deps.iter().map(|a| sizes[a] - sizes[a] / 2).sum();
    assert_eq!(count(&ev, EventType::Deleted), expected);
    assert_eq!(count(&ev, EventType::Added), expected);
    // All scale-downs come before the scale-ups.
    assert!(
        ev[..expected]
            .iter()
            .all(|e| e.event.event_type == EventType::Deleted)
    );
    assert_eq!(per_deployment(&c), sizes);
    assert!(spread(per_node(&c)) <= 1);
    check_cluster(&c);
}

#[test]
fn traces_chain_and_rate_zero_is_instant() {
    let mut c = small(true);
    let mut last = 0;
    for t in Trace::ALL {
        let ev = c.churn(t, Source::Pods, 1);
        assert!(ev[0].at_ms >= last);
        last = c.now_ms();
        check_cluster(&c);
    }
    let ev = c.churn_with_rate(
        Trace::RollingUpdate,
        Source::Pods,
        2,
        ChurnRate { events_per_sec: 0 },
    );
    assert!(ev.iter().all(|e| e.at_ms == last));
    check_cluster(&c);
}

#[test]
fn names_parse_and_print() {
    for t in Trace::ALL {
        assert_eq!(t.to_string().parse::<Trace>().unwrap(), t);
    }
    assert_eq!("node-drain".parse::<Trace>().unwrap(), Trace::NodeDrain);
    assert!("drain".parse::<Trace>().is_err());
    for s in Scale::ALL {
        assert_eq!(s.to_string().parse::<Scale>().unwrap(), s);
        assert_eq!(s.to_string().to_lowercase().parse::<Scale>().unwrap(), s);
    }
    assert!("XL".parse::<Scale>().is_err());
    assert_eq!(share(250, 10), 25);
    assert_eq!(share(50, 1), 1);
    assert_eq!(share(250, 1), 3);
    assert_eq!(share(0, 10), 0);
}

// ---------------------------------------------------------------- pacing

fn pace() -> RealisticPacing {
    RealisticPacing::default()
}

#[test]
fn flood_pacing_is_churn_with_rate() {
    let rate = ChurnRate {
        events_per_sec: 700,
    };
    for t in Trace::ALL {
        let mut a = small(true);
        let mut b = a.clone();
        let x = a.churn_with_rate(t, Source::Pods, 5, rate);
        let y = b.churn_paced(t, Source::Pods, 5, Pacing::Flood(rate));
        assert_eq!(events_json(&x), events_json(&y));
        assert_eq!(a.now_ms(), b.now_ms());
    }
}

#[test]
fn realistic_pacing_is_deterministic_and_sorted() {
    let run = |seed: u64| {
        let mut c = small(false);
        let mut out = String::new();
        for (i, t) in Trace::ALL.into_iter().enumerate() {
            let ev = c.churn_paced(
                t,
                Source::Pods,
                seed * 10 + i as u64,
                Pacing::Realistic(pace()),
            );
            assert!(
                ev.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
                "{t} not sorted"
            );
            out += &events_json(&ev);
            check_cluster(&c);
        }
        out
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

/// Replays one deployment's rolling update: at every instant at most
/// `r + surge` pods live and at least `r - unavailable` of the old ones plus
/// new ones that are ready (readiness comes `ready_ms` after ADDED).
#[test]
fn realistic_rolling_update_keeps_surge_and_unavailable() {
    let spec = WorkloadSpec::custom(2_000, 50).unwrap(); // 100 deployments of 20
    let mut c = Cluster::generate(&spec).unwrap();
    let p = RealisticPacing {
        max_surge_percent: 25,
        max_unavailable_percent: 10,
        ready_ms: 4_000,
        start_jitter_ms: 500,
        ..pace()
    };
    let sizes = per_deployment(&c);
    let ev = c.churn_paced(Trace::RollingUpdate, Source::Pods, 9, Pacing::Realistic(p));
    let deps = apps(&ev);
    assert_eq!(deps.len(), share(100, 10));
    let replaced: usize = deps.iter().map(|a| sizes[a]).sum();
    assert_eq!(count(&ev, EventType::Added), replaced);
    assert_eq!(count(&ev, EventType::Deleted), replaced);
    for app in &deps {
        let r = sizes[app];
        let surge = (r * 25).div_ceil(100);
        let unavailable = r * 10 / 100;
        let mine: Vec<&TimedEvent> = ev
            .iter()
            .filter(|e| &e.event.object.metadata().labels["app"] == app)
            .collect();
        let (mut old, mut new_added) = (r, Vec::new());
        for e in &mine {
            match e.event.event_type {
                EventType::Added => new_added.push(e.at_ms),
                EventType::Deleted => old -= 1,
                _ => panic!("rolling update only adds and deletes"),
            }
            assert!(old + new_added.len() <= r + surge, "{app}: surge exceeded");
            // A delete only once enough new pods are ready.
            let ready = new_added.iter().filter(|&&t| t + 4_000 <= e.at_ms).count();
            assert!(
                old + ready >= r - unavailable,
                "{app}: {old} old + {ready} ready < {} at {}",
                r - unavailable,
                e.at_ms
            );
        }
        assert_eq!(old, 0);
        // Waves: the rollout takes at least (r / (surge + unavailable) - 1) readiness periods.
        let span = mine.last().unwrap().at_ms - mine[0].at_ms;
        assert!(span >= (r as u64 / (surge + unavailable) as u64 - 1) * 4_000);
    }
    // Every pod of the chosen deployments now carries the new hash.
    for pod in c.pods() {
        if deps.contains(&pod.metadata.labels["app"]) {
            assert!(ev.iter().any(|e| e.event.event_type == EventType::Added
                && e.event.object.metadata().name == pod.metadata.name));
        }
    }
    check_cluster(&c);
}

#[test]
fn realistic_drain_follows_the_eviction_rate_node_by_node() {
    let spec = WorkloadSpec::custom(2_000, 200).unwrap();
    let mut c = Cluster::generate(&spec).unwrap();
    let p = RealisticPacing {
        evictions_per_sec: 4,
        start_jitter_ms: 300,
        ..pace()
    };
    let start = c.now_ms();
    let ev = c.churn_paced(Trace::NodeDrain, Source::Pods, 8, Pacing::Realistic(p));
    let deletes: Vec<(u64, String)> = ev
        .iter()
        .filter(|e| e.event.event_type == EventType::Deleted)
        .map(|e| {
            let Object::Pod(p) = &e.event.object else {
                panic!()
            };
            (e.at_ms, p.spec.node_name.clone().unwrap())
        })
        .collect();
    assert_eq!(deletes.len(), 20);
    for (i, (at, _)) in deletes.iter().enumerate() {
        assert_eq!(*at, start + i as u64 * 250);
    }
    // Node by node: the first node's pods all go before the second's.
    let first = &deletes[0].1;
    let n_first = deletes.iter().filter(|d| &d.1 == first).count();
    assert!(deletes[..n_first].iter().all(|d| &d.1 == first));
    // Replacements appear within the jitter after their eviction, elsewhere.
    let adds: Vec<&TimedEvent> = ev
        .iter()
        .filter(|e| e.event.event_type == EventType::Added)
        .collect();
    assert_eq!(adds.len(), 20);
    let drained: HashSet<&String> = deletes.iter().map(|d| &d.1).collect();
    for e in adds {
        let Object::Pod(p) = &e.event.object else {
            panic!()
        };
        assert!(!drained.contains(p.spec.node_name.as_ref().unwrap()));
        assert!(e.at_ms <= start + 19 * 250 + 300);
    }
    check_cluster(&c);
}

#[test]
fn realistic_relabel_and_scale_pacing() {
    let mut c = small(false);
    let start = c.now_ms();
    let p = RealisticPacing {
        relabels_per_sec: 20,
        scale_up_after_ms: 7_000,
        start_jitter_ms: 100,
        ..pace()
    };
    let ev = c.churn_paced(Trace::LabelChange, Source::Pods, 1, Pacing::Realistic(p));
    for (i, e) in ev.iter().enumerate() {
        assert_eq!(e.at_ms, start + i as u64 * 50);
        assert_eq!(e.event.event_type, EventType::Modified);
    }
    let start = c.now_ms();
    let ev = c.churn_paced(Trace::ScaleDownUp, Source::Pods, 1, Pacing::Realistic(p));
    for e in &ev {
        match e.event.event_type {
            EventType::Deleted => assert_eq!(e.at_ms, start),
            EventType::Added => assert!((start + 7_000..=start + 7_100).contains(&e.at_ms)),
            _ => panic!(),
        }
    }
    check_cluster(&c);
}

// ---------------------------------------------------------------- import

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

fn exported(c: &Cluster) -> Vec<Object> {
    let mut v: Vec<Object> = c
        .namespaces()
        .iter()
        .cloned()
        .map(Object::Namespace)
        .collect();
    v.extend(c.nodes().iter().cloned().map(Object::Node));
    v.extend(c.pods().iter().cloned().map(Object::Pod));
    v
}

#[test]
fn import_keeps_the_cluster_shape() {
    let generated = small(true);
    let (mut c, s) = Cluster::from_objects(exported(&generated), 1).unwrap();
    assert_eq!(s.endpoints_from, "pods");
    assert_eq!((s.pods, s.skipped_pods, s.other_objects), (1_003, 0, 0));
    assert_eq!((s.namespaces, s.nodes), (generated.namespaces().len(), 37));
    assert_eq!(s.controllers, generated.deployment_count());
    assert_eq!(c.identities().len(), generated.identities().len());
    assert_eq!(sorted(per_node(&c)), sorted(per_node(&generated)));
    assert_eq!(c.pods(), generated.pods());
    assert!(c.spec().dual_stack);
    // The imported label sets are the generated ones.
    let sets = |c: &Cluster| -> BTreeSet<BTreeMap<String, String>> {
        c.identities()
            .into_iter()
            .map(|i| i.security_labels)
            .collect()
    };
    assert_eq!(sets(&c), sets(&generated));
    for (i, t) in Trace::ALL.into_iter().enumerate() {
        let ev = c.churn_paced(
            t,
            Source::CiliumEndpoints,
            3 + i as u64,
            Pacing::Realistic(pace()),
        );
        assert!(!ev.is_empty());
        check_cluster(&c);
    }
}

#[test]
fn import_skips_pods_without_endpoints_and_avoids_their_ips() {
    let mut objects = Vec::new();
    objects.push(Object::Namespace(Namespace {
        metadata: ObjectMeta::named("shop"),
    }));
    let mut node = Node::default();
    node.metadata.name = "n1".into();
    node.status.addresses = vec![NodeAddress {
        kind: "InternalIP".into(),
        address: "192.168.0.1".into(),
    }];
    objects.push(Object::Node(node));
    let pod = |name: &str, ip: Option<&str>, host: bool| {
        let mut p = Pod::default();
        p.metadata.name = name.into();
        p.metadata.namespace = Some("shop".into());
        p.metadata.labels.insert("app".into(), "cart".into());
        p.metadata
            .labels
            .insert("pod-template-hash".into(), "abc12".into());
        p.metadata.owner_references = vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "cart-abc12".into(),
            uid: "u".into(),
        }];
        p.spec.node_name = Some("n1".into());
        p.spec.service_account_name = Some("cart".into());
        p.spec.containers = vec![Container {
            name: "app".into(),
            ports: vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                protocol: Some("TCP".into()),
            }],
        }];
        p.spec.host_network = host;
        p.status.phase = Some("Running".into());
        p.status.pod_ips = ip.iter().map(|i| PodIp { ip: i.to_string() }).collect();
        p.status.pod_ip = ip.map(str::to_string);
        Object::Pod(p)
    };
    objects.push(pod("cart-abc12-aaaaa", Some("10.0.0.1"), false));
    objects.push(pod("cart-abc12-bbbbb", Some("10.0.0.2"), false));
    objects.push(pod("cart-abc12-ccccc", None, false)); // pending
    objects.push(pod("cart-abc12-ddddd", Some("192.168.0.1"), true)); // host network
    objects.push(Object::CiliumIdentity(CiliumIdentity::new("300")));
    let (mut c, s) = Cluster::from_objects(objects, 1).unwrap();
    assert_eq!((s.pods, s.skipped_pods, s.other_objects), (2, 2, 1));
    assert_eq!((s.controllers, s.nodes, s.namespaces), (1, 1, 1));
    let ev = c.churn_paced(
        Trace::RollingUpdate,
        Source::Pods,
        1,
        Pacing::Realistic(pace()),
    );
    let added: Vec<&Pod> = ev
        .iter()
        .filter_map(|e| match (&e.event.event_type, &e.event.object) {
            (EventType::Added, Object::Pod(p)) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(added.len(), 2);
    for p in added {
        assert!(p.metadata.name.starts_with("cart-"));
        assert_eq!(p.metadata.labels["app"], "cart");
        assert_ne!(p.metadata.labels["pod-template-hash"], "abc12");
        let ip = &p.status.pod_ips[0].ip;
        assert!(ip != "10.0.0.1" && ip != "10.0.0.2", "reused {ip}");
        assert_eq!(p.status.host_ip.as_deref(), Some("192.168.0.1"));
    }
    check_cluster(&c);
    assert!(Cluster::from_objects(Vec::new(), 1).is_err());
}

#[test]
fn import_from_ciliumendpoints() {
    let generated = small(false);
    let mut objects: Vec<Object> = generated
        .ciliumendpoints()
        .into_iter()
        .map(Object::CiliumEndpoint)
        .collect();
    objects.extend(
        generated
            .cilium_nodes()
            .iter()
            .cloned()
            .map(Object::CiliumNode),
    );
    let (mut c, s) = Cluster::from_objects(objects, 1).unwrap();
    assert_eq!(s.endpoints_from, "ciliumendpoints");
    assert_eq!((s.pods, s.nodes), (1_003, 37));
    assert_eq!(sorted(per_node(&c)), sorted(per_node(&generated)));
    // Grouped by (namespace, identity): generated deployments each have one.
    assert_eq!(s.controllers, generated.identities().len());
    let ev = c.churn_paced(
        Trace::NodeDrain,
        Source::CiliumEndpoints,
        2,
        Pacing::Realistic(pace()),
    );
    assert!(!ev.is_empty());
    check_cluster(&c);
}
