//! Builders shared by the integration tests.
#![allow(dead_code)]

use sliceplane::config::{Config, SliceMode, Source};
use sliceplane::model::*;

pub fn cep(ns: &str, name: &str, id: i64, ip: &str) -> CiliumEndpoint {
    CiliumEndpoint {
        metadata: ObjectMeta {
            name: name.into(),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        status: CiliumEndpointStatus {
            identity: Some(EndpointIdentity { id, labels: vec![] }),
            networking: Some(EndpointNetworking {
                addressing: vec![AddressPair {
                    ipv4: Some(ip.into()),
                    ipv6: None,
                }]
                .into(),
                node: Some("192.168.0.1".into()),
            }),
            encryption: None,
            named_ports: vec![],
            service_account: None,
        },
    }
}

pub fn pod(ns: &str, name: &str, app: &str, node: &str, ip: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: name.into(),
            namespace: Some(ns.into()),
            labels: [("app".to_string(), app.to_string())].into_iter().collect(),
            ..Default::default()
        },
        spec: PodSpec {
            node_name: Some(node.into()),
            service_account_name: Some("default".into()),
            host_network: false,
            containers: vec![Container {
                name: "c".into(),
                ports: vec![ContainerPort {
                    name: Some("http".into()),
                    container_port: 8080,
                    protocol: None,
                }],
            }],
        },
        status: PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some(ip.into()),
            pod_ips: vec![PodIp { ip: ip.into() }],
            host_ip: None,
        },
    }
}

pub fn namespace(name: &str, labels: &[(&str, &str)]) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        },
    }
}

pub fn cilium_node(name: &str, ip: &str, key: i64) -> CiliumNode {
    CiliumNode {
        metadata: ObjectMeta::named(name),
        spec: CiliumNodeSpec {
            addresses: vec![CiliumNodeAddress {
                kind: "InternalIP".into(),
                ip: ip.into(),
            }],
            encryption: Some(EncryptionSpec { key }),
        },
    }
}

pub fn add(o: Object) -> WatchEvent {
    WatchEvent::added(o)
}
pub fn modify(o: Object) -> WatchEvent {
    WatchEvent::modified(o)
}
pub fn delete(o: Object) -> WatchEvent {
    WatchEvent::deleted(o)
}

pub fn config(source: Source, mode: SliceMode, max: u32) -> Config {
    let mut c = Config {
        source,
        ..Default::default()
    };
    c.slicing.mode = mode;
    c.slicing.max_endpoints_per_slice = max;
    c.write.sync_delay_ms = 0;
    // No rate limit unless a test sets one: plans are whole, as in DESIGN §12.
    c.write.rate_limits = vec![sliceplane::config::RateLimitStep {
        nodes: 0,
        limit: 1e9,
        burst: 1_000_000,
    }];
    c
}

pub fn ip(i: u32) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}
