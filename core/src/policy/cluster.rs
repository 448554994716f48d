//! A convenience world for the CLI: a [`PolicyEngine`] built from Namespace
//! and Pod objects (the `--cluster` file), with probes written as
//! `"namespace/pod"` or an IP.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::error::{Error, ErrorCode, Result};
use crate::labels::{LabelFilter, LabelSet, PodLabelInputs, pod_security_labels};
use crate::model::{Labels, Namespace, Pod};

use super::engine::{PolicyConfig, PolicyEndpoint, PolicyEngine, PolicyOptions};
use super::rule::{NamedPort, PolicyKey, Protocol};
use super::verdict::{Flow, Matrix, Peer, PortRef, Verdict};

/// Cluster name used for the security labels.
pub const CLUSTER_NAME: &str = "default";
/// First identity number handed out.
pub const FIRST_IDENTITY: u32 = 256;
/// Namespace label Kubernetes sets on every namespace.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// How a pod takes part in flows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PodRole {
    /// A policy endpoint with this identity.
    Endpoint(u32),
    /// A host-network pod: its traffic is its node's (address, if known).
    HostNetwork(Option<IpAddr>),
}

/// Namespaces and pods, turned into identities and endpoints.
#[derive(Debug, Clone)]
pub struct PolicyCluster {
    engine: PolicyEngine,
    pods: BTreeMap<(String, String), PodRole>,
}

fn pod_error(code: ErrorCode, pod: &str, field: &str, message: String) -> Error {
    Error::new(code, format!("Pod {pod}"), field, message)
}

fn parse_ip(pod: &str, field: &str, s: &str) -> Result<IpAddr> {
    s.trim().parse().map_err(|_| {
        pod_error(
            ErrorCode::InvalidIp,
            pod,
            field,
            format!("not an IP address: {s:?}"),
        )
    })
}

fn pod_ips(pod: &Pod, id: &str) -> Result<Vec<IpAddr>> {
    let mut ips = Vec::new();
    for (i, p) in pod.status.pod_ips.iter().enumerate() {
        ips.push(parse_ip(id, &format!("status.podIPs[{i}].ip"), &p.ip)?);
    }
    if ips.is_empty()
        && let Some(ip) = &pod.status.pod_ip
    {
        ips.push(parse_ip(id, "status.podIP", ip)?);
    }
    ips.sort();
    ips.dedup();
    Ok(ips)
}

fn named_ports(pod: &Pod, id: &str) -> Result<Vec<NamedPort>> {
    let mut out = Vec::new();
    for (ci, c) in pod.spec.containers.iter().enumerate() {
        for (pi, p) in c.ports.iter().enumerate() {
            let field = format!("spec.containers[{ci}].ports[{pi}]");
            let Some(name) = &p.name else { continue };
            let port = u16::try_from(p.container_port)
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    pod_error(
                        ErrorCode::InvalidPort,
                        id,
                        &format!("{field}.containerPort"),
                        format!("port {} outside 1-65535", p.container_port),
                    )
                })?;
            let protocol = match &p.protocol {
                None => Protocol::Tcp,
                Some(s) => Protocol::parse(s).ok_or_else(|| {
                    pod_error(
                        ErrorCode::InvalidProtocol,
                        id,
                        &format!("{field}.protocol"),
                        format!("unknown protocol {s:?}"),
                    )
                })?,
            };
            out.push(NamedPort {
                name: name.clone(),
                port,
                protocol,
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A (non-host-network) pod's security labels, with its namespace's labels
/// (a namespace the cluster does not list has only its name label).
fn security_labels(
    filter: &LabelFilter,
    ns_labels: &BTreeMap<&str, Labels>,
    pod: &Pod,
    namespace: &str,
) -> LabelSet {
    let fallback: Labels = [(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())].into();
    let nsl = ns_labels.get(namespace).unwrap_or(&fallback);
    let sa = pod
        .spec
        .service_account_name
        .as_deref()
        .unwrap_or("default");
    pod_security_labels(
        filter,
        &PodLabelInputs {
            namespace,
            pod_labels: &pod.metadata.labels,
            namespace_labels: Some(nsl),
            service_account: sa,
            cluster_name: CLUSTER_NAME,
        },
    )
}

impl PolicyCluster {
    /// Builds the world: identities numbered `256 + i` in the sorted order
    /// of their canonical keys, one endpoint per (non-host-network) pod,
    /// nodes from the pods' `spec.nodeName` and `status.hostIP`.
    pub fn new(namespaces: &[Namespace], pods: &[Pod], config: PolicyConfig) -> Result<Self> {
        let filter = LabelFilter::default_filter();
        let mut ns_labels: BTreeMap<&str, Labels> = BTreeMap::new();
        for ns in namespaces {
            let mut labels = ns.metadata.labels.clone();
            labels
                .entry(NAMESPACE_NAME_LABEL.to_string())
                .or_insert_with(|| ns.metadata.name.clone());
            ns_labels.insert(ns.metadata.name.as_str(), labels);
        }

        struct Prepared {
            key: (String, String),
            labels: Option<LabelSet>,
            endpoint: PolicyEndpoint,
            host_ip: Option<IpAddr>,
        }
        let mut prepared = Vec::new();
        let mut nodes: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
        for pod in pods {
            let namespace = pod
                .metadata
                .namespace
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".to_string());
            let name = pod.metadata.name.clone();
            let id = format!("{namespace}/{name}");
            let host_ip = match &pod.status.host_ip {
                Some(s) if !s.is_empty() => Some(parse_ip(&id, "status.hostIP", s)?),
                _ => None,
            };
            if let Some(node) = &pod.spec.node_name {
                let entry = nodes.entry(node.clone()).or_default();
                entry.extend(host_ip);
            }
            let ips = pod_ips(pod, &id)?;
            let labels = if pod.spec.host_network {
                None
            } else {
                Some(security_labels(&filter, &ns_labels, pod, &namespace))
            };
            prepared.push(Prepared {
                key: (namespace.clone(), name.clone()),
                labels,
                endpoint: PolicyEndpoint {
                    namespace,
                    name,
                    identity: 0,
                    ips,
                    named_ports: named_ports(pod, &id)?,
                    node: pod.spec.node_name.clone(),
                },
                host_ip,
            });
        }

        let keys: BTreeSet<String> = prepared
            .iter()
            .filter_map(|p| p.labels.as_ref().map(LabelSet::canonical_key))
            .collect();
        let mut numbers: BTreeMap<String, u32> = BTreeMap::new();
        for (i, k) in keys.into_iter().enumerate() {
            let n = u32::try_from(i)
                .ok()
                .and_then(|i| FIRST_IDENTITY.checked_add(i))
                .ok_or_else(|| Error::new(ErrorCode::TooLarge, "", "", "too many identities"))?;
            numbers.insert(k, n);
        }

        let mut engine = PolicyEngine::new(config);
        for (node, ips) in &nodes {
            engine.upsert_node(node, ips.iter().copied().collect());
        }
        let mut roles = BTreeMap::new();
        for p in prepared {
            match p.labels {
                None => {
                    let ip = p.endpoint.ips.first().copied().or(p.host_ip);
                    roles.insert(p.key, PodRole::HostNetwork(ip));
                }
                Some(labels) => {
                    let n = numbers.get(&labels.canonical_key()).copied().unwrap_or(0);
                    engine.upsert_identity(n, labels);
                    let mut ep = p.endpoint;
                    ep.identity = n;
                    engine.upsert_endpoint(ep);
                    roles.insert(p.key, PodRole::Endpoint(n));
                }
            }
        }
        Ok(PolicyCluster {
            engine,
            pods: roles,
        })
    }

    /// The policy engine holding the cluster's identities, endpoints and policies.
    pub fn engine(&self) -> &PolicyEngine {
        &self.engine
    }

    /// The policy engine, to change identities, endpoints, nodes or policies.
    pub fn engine_mut(&mut self) -> &mut PolicyEngine {
        &mut self.engine
    }

    /// Adds or replaces a policy object (JSON); see [`PolicyEngine::upsert_policy`].
    pub fn upsert_policy(&mut self, value: &serde_json::Value) -> Result<PolicyKey> {
        self.engine.upsert_policy(value)
    }

    /// Adds or replaces a policy object with options (e.g. audit mode).
    pub fn upsert_policy_with(
        &mut self,
        value: &serde_json::Value,
        options: PolicyOptions,
    ) -> Result<PolicyKey> {
        self.engine.upsert_policy_with(value, options)
    }

    /// The identity number of a pod (`None` for unknown or host-network).
    pub fn identity_of(&self, namespace: &str, name: &str) -> Option<u32> {
        match self.pods.get(&(namespace.to_string(), name.to_string())) {
            Some(PodRole::Endpoint(n)) => Some(*n),
            _ => None,
        }
    }

    /// Every pod as a peer, sorted by namespace and name (host-network
    /// pods by their address).
    pub fn pods(&self) -> Vec<Peer> {
        self.pods
            .iter()
            .filter_map(|((ns, name), role)| match role {
                PodRole::Endpoint(_) => Some(Peer::endpoint(ns, name)),
                PodRole::HostNetwork(ip) => ip.map(Peer::Ip),
            })
            .collect()
    }

    /// Resolves `"namespace/pod"` or an IP address. A host-network pod
    /// resolves to its address (its traffic is its node's).
    pub fn peer(&self, s: &str) -> Result<Peer> {
        let bad = |m: &str| Error::new(ErrorCode::InvalidProbe, "", "", format!("{m}: {s:?}"));
        let peer = Peer::parse(s).ok_or_else(|| bad("not namespace/pod or an IP address"))?;
        let Peer::Endpoint { namespace, name } = &peer else {
            return Ok(peer);
        };
        match self.pods.get(&(namespace.clone(), name.clone())) {
            Some(PodRole::Endpoint(_)) => Ok(peer),
            Some(PodRole::HostNetwork(Some(ip))) => Ok(Peer::Ip(*ip)),
            Some(PodRole::HostNetwork(None)) => Err(bad("host-network pod without an address")),
            None => Err(bad("no such pod")),
        }
    }

    /// Evaluates one probe, as the CLI's `policy eval` does.
    pub fn probe(
        &mut self,
        from: &str,
        to: &str,
        port: impl Into<PortRef>,
        protocol: Protocol,
    ) -> Result<Verdict> {
        let flow = Flow {
            from: self.peer(from)?,
            to: self.peer(to)?,
            port: port.into(),
            protocol,
        };
        self.engine.verdict(&flow)
    }

    /// The matrix over every pod, as the CLI's `policy matrix` does.
    pub fn matrix(&mut self, port: impl Into<PortRef>, protocol: Protocol) -> Matrix {
        let peers = self.pods();
        self.engine.matrix(&peers, port.into(), protocol)
    }
}
