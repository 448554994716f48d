//! The borrowed reading of a watch event: the hot path of
//! [`Engine::apply_json`](crate::Engine::apply_json). One pass of [`Scan`]
//! over the text, every string borrowed from it, every field the engine
//! does not use skipped without building anything. A Pod or CiliumEndpoint
//! then goes through the same checks as `endpoint::pod_input` /
//! `cep_input`, straight into the engine's borrowed inputs ([`PodInput`],
//! [`CepInput`]); a Namespace, Node or CiliumNode (few) becomes an owned
//! event of just what the engine reads of it ([`Borrowed::event`]).
//!
//! **Same events, same errors.** Every reading here answers `None` rather
//! than an error: for a DELETED event, a slice or identity, anything the
//! scanner is not sure of (see `scan.rs`), a field the owned reading would
//! reject or read differently (a duplicate, an unsorted label map, `null`),
//! and every Pod or CiliumEndpoint that fails a check (a Namespace, Node or
//! CiliumNode is checked by `Engine::apply` on its owned event, as the
//! owned path would). The caller then takes the owned path
//! ([`WatchEvent::from_json`](super::WatchEvent::from_json) and
//! `Engine::apply`), which gives the one error. So what this file must
//! get right is only what it accepts, and as what: the property tests
//! (`core/tests/borrowed_ingest.rs`) apply random and mutated events both
//! ways and compare engine state, stats and errors.

use std::net::IpAddr;

use smallvec::SmallVec;

use super::scan::{Scan, Seen};
use crate::endpoint::{
    Addressing, CepInput, DataInterner, EndpointData, PodInput, PortEntry, Protocol,
};
use crate::entry;
use crate::identity::IdentityId;
use crate::labels::Interner;
use crate::model::{
    AddressPair, AddressPairs, CiliumNode, CiliumNodeAddress, CiliumNodeSpec, CompactString,
    EncryptionSpec, EndpointNetworking, EventType, Kind, Labels, Namespace, Node, NodeAddress,
    NodeStatus, Object, ObjectMeta, WatchEvent,
};
use crate::validate;

/// Label pairs as they came, strictly sorted by key (as a `BTreeMap`
/// iterates them).
pub type LabelPairs<'a> = SmallVec<[(&'a str, &'a str); 8]>;

/// `metadata`, as much as the engine reads of it.
#[derive(Default)]
struct Meta<'a> {
    name: &'a str,
    namespace: Option<&'a str>,
    labels: LabelPairs<'a>,
    annotations: LabelPairs<'a>,
}

/// A container port: `(name, containerPort, protocol)`.
type ContainerPort<'a> = (Option<&'a str>, i64, Option<&'a str>);

/// `spec` (the union the owned reading takes for every kind).
#[derive(Default)]
struct Spec<'a> {
    node_name: Option<&'a str>,
    service_account_name: Option<&'a str>,
    host_network: bool,
    /// Every container's ports, in order.
    ports: SmallVec<[ContainerPort<'a>; 4]>,
    /// A CiliumNode's `(type, ip)`.
    addresses: SmallVec<[(&'a str, &'a str); 2]>,
    /// A CiliumNode's `encryption.key`.
    encryption: Option<i64>,
}

/// `status` (the union the owned reading takes for every kind).
#[derive(Default)]
struct Status<'a> {
    phase: Option<&'a str>,
    pod_ip: Option<&'a str>,
    pod_ips: SmallVec<[&'a str; 2]>,
    host_ip: Option<&'a str>,
    identity: Option<(i64, SmallVec<[&'a str; 4]>)>,
    networking: Option<EndpointNetworking>,
    encryption: Option<i64>,
    named_ports: SmallVec<[(&'a str, i64, &'a str); 4]>,
    service_account: Option<&'a str>,
    /// A Node's `(type, address)`.
    addresses: SmallVec<[(&'a str, &'a str); 2]>,
}

/// The object of an ADDED or MODIFIED event, read borrowed.
#[derive(Default)]
pub struct Borrowed<'a> {
    /// `type` is `MODIFIED` (else `ADDED`).
    modified: bool,
    kind: Option<&'a str>,
    api_version: Option<&'a str>,
    meta: Meta<'a>,
    spec: Spec<'a>,
    status: Status<'a>,
}

/// What [`read`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BorrowedKind {
    /// A Pod, ADDED or MODIFIED.
    Pod,
    /// A CiliumEndpoint, ADDED or MODIFIED.
    CiliumEndpoint,
    /// A Namespace, Node or CiliumNode, ADDED or MODIFIED: few, so they
    /// are applied as an owned object holding what the engine reads of
    /// them ([`Borrowed::object`]).
    Other(Kind),
}

/// Reads `{"type": "ADDED"|"MODIFIED", "object": <Pod, CiliumEndpoint,
/// Namespace, Node or CiliumNode>}`
/// (either order) borrowed into `o` (in place: it is large, and moving it
/// was a tenth of the cost), or `None` (see the module docs).
pub fn read<'a>(bytes: &'a [u8], o: &mut Borrowed<'a>) -> Option<BorrowedKind> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut s = Scan::new(text);
    let mut seen = Seen::default();
    let mut event_type = None;
    s.object(|s, key| match key {
        "type" => {
            seen.first(0)?;
            event_type = Some(s.str()?);
            Some(())
        }
        "object" => {
            seen.first(1)?;
            read_object(s, o)
        }
        // Read as the fields of a bare object by the owned reading.
        "kind" | "apiVersion" | "metadata" | "spec" | "status" | "namespace" | "endpoints"
        | "security-labels" => None,
        _ => s.skip(),
    })?;
    o.modified = match event_type? {
        "ADDED" => false,
        "MODIFIED" => true,
        _ => return None,
    };
    if !s.at_end() || !seen.has(1) {
        return None;
    }
    let kind = Kind::from_kind_str(o.kind?)?;
    if o.api_version.is_some_and(|v| v != kind.api_version()) {
        return None;
    }
    match kind {
        Kind::Pod => Some(BorrowedKind::Pod),
        Kind::CiliumEndpoint => Some(BorrowedKind::CiliumEndpoint),
        Kind::Namespace | Kind::Node | Kind::CiliumNode => Some(BorrowedKind::Other(kind)),
        Kind::CiliumEndpointSlice | Kind::CiliumIdentity => None,
    }
}

fn opt_str<'a>(s: &mut Scan<'a>, seen: &mut Seen, bit: u32) -> Option<Option<&'a str>> {
    seen.first(bit)?;
    Some(Some(s.str()?))
}

fn read_object<'a>(s: &mut Scan<'a>, o: &mut Borrowed<'a>) -> Option<()> {
    let mut seen = Seen::default();
    s.object(|s, key| match key {
        "kind" => {
            o.kind = opt_str(s, &mut seen, 0)?;
            Some(())
        }
        "apiVersion" => {
            o.api_version = opt_str(s, &mut seen, 1)?;
            Some(())
        }
        "metadata" => {
            seen.first(2)?;
            read_meta(s, &mut o.meta)
        }
        "spec" => {
            seen.first(3)?;
            read_spec(s, &mut o.spec)
        }
        "status" => {
            seen.first(4)?;
            read_status(s, &mut o.status)
        }
        // Modelled for other kinds; left to the owned reading.
        "namespace" | "endpoints" | "security-labels" => None,
        _ => s.skip(),
    })
}

/// A map of strings, strictly sorted by key.
fn read_labels<'a>(s: &mut Scan<'a>, labels: &mut LabelPairs<'a>) -> Option<()> {
    s.object(|s, k| {
        if let Some(&(last, _)) = labels.last()
            && last >= k
        {
            return None;
        }
        labels.push((k, s.str()?));
        Some(())
    })
}

fn read_meta<'a>(s: &mut Scan<'a>, m: &mut Meta<'a>) -> Option<()> {
    let mut seen = Seen::default();
    s.object(|s, key| match key {
        "name" => {
            seen.first(0)?;
            m.name = s.str()?;
            Some(())
        }
        "namespace" => {
            m.namespace = opt_str(s, &mut seen, 1)?;
            Some(())
        }
        "uid" | "resourceVersion" | "deletionTimestamp" => {
            let bit = match key {
                "uid" => 2,
                "resourceVersion" => 3,
                _ => 4,
            };
            seen.first(bit)?;
            s.str().map(drop)
        }
        "labels" => {
            seen.first(5)?;
            read_labels(s, &mut m.labels)
        }
        "annotations" => {
            seen.first(6)?;
            read_labels(s, &mut m.annotations)
        }
        "ownerReferences" => {
            seen.first(7)?;
            s.array(|s| {
                let mut seen = Seen::default();
                s.object(|s, key| {
                    let bit = match key {
                        "apiVersion" => 0,
                        "kind" => 1,
                        "name" => 2,
                        "uid" => 3,
                        _ => return s.skip(),
                    };
                    seen.first(bit)?;
                    s.str().map(drop)
                })
            })
        }
        _ => s.skip(),
    })
}

fn read_spec<'a>(s: &mut Scan<'a>, p: &mut Spec<'a>) -> Option<()> {
    let mut seen = Seen::default();
    s.object(|s, key| match key {
        "nodeName" => {
            p.node_name = opt_str(s, &mut seen, 0)?;
            Some(())
        }
        "serviceAccountName" => {
            p.service_account_name = opt_str(s, &mut seen, 1)?;
            Some(())
        }
        "hostNetwork" => {
            seen.first(2)?;
            p.host_network = s.bool()?;
            Some(())
        }
        "containers" => {
            seen.first(3)?;
            s.array(|s| {
                let mut seen = Seen::default();
                let from = p.ports.len();
                s.object(|s, key| match key {
                    "name" => {
                        seen.first(0)?;
                        s.str().map(drop)
                    }
                    "ports" => {
                        seen.first(1)?;
                        // A second `ports` would replace the first.
                        (p.ports.len() == from).then_some(())?;
                        s.array(|s| {
                            let mut seen = Seen::default();
                            let mut port: ContainerPort = (None, 0, None);
                            s.object(|s, key| match key {
                                "name" => {
                                    port.0 = opt_str(s, &mut seen, 0)?;
                                    Some(())
                                }
                                "containerPort" => {
                                    seen.first(1)?;
                                    port.1 = s.int()?;
                                    Some(())
                                }
                                "protocol" => {
                                    port.2 = opt_str(s, &mut seen, 2)?;
                                    Some(())
                                }
                                _ => s.skip(),
                            })?;
                            p.ports.push(port);
                            Some(())
                        })
                    }
                    _ => s.skip(),
                })
            })
        }
        "addresses" => {
            seen.first(4)?;
            read_addresses(s, "ip", &mut p.addresses)
        }
        "encryption" => {
            seen.first(5)?;
            p.encryption = Some(read_key(s)?);
            Some(())
        }
        _ => s.skip(),
    })
}

fn read_status<'a>(s: &mut Scan<'a>, st: &mut Status<'a>) -> Option<()> {
    let mut seen = Seen::default();
    s.object(|s, key| match key {
        "phase" => {
            st.phase = opt_str(s, &mut seen, 0)?;
            Some(())
        }
        "podIP" => {
            st.pod_ip = opt_str(s, &mut seen, 1)?;
            Some(())
        }
        "podIPs" => {
            seen.first(2)?;
            s.array(|s| {
                let mut seen = Seen::default();
                let mut ip = "";
                s.object(|s, key| match key {
                    "ip" => {
                        seen.first(0)?;
                        ip = s.str()?;
                        Some(())
                    }
                    _ => s.skip(),
                })?;
                st.pod_ips.push(ip);
                Some(())
            })
        }
        "hostIP" => {
            st.host_ip = opt_str(s, &mut seen, 3)?;
            Some(())
        }
        "identity" => {
            seen.first(4)?;
            let mut seen = Seen::default();
            let mut id = (0, SmallVec::new());
            s.object(|s, key| match key {
                "id" => {
                    seen.first(0)?;
                    id.0 = s.int()?;
                    Some(())
                }
                "labels" => {
                    seen.first(1)?;
                    s.array(|s| {
                        id.1.push(s.str()?);
                        Some(())
                    })
                }
                _ => s.skip(),
            })?;
            st.identity = Some(id);
            Some(())
        }
        "networking" => {
            seen.first(5)?;
            st.networking = Some(read_networking(s)?);
            Some(())
        }
        "encryption" => {
            seen.first(6)?;
            st.encryption = Some(read_key(s)?);
            Some(())
        }
        "named-ports" => {
            seen.first(7)?;
            s.array(|s| {
                let mut seen = Seen::default();
                let mut port = ("", 0, "");
                s.object(|s, key| match key {
                    "name" => {
                        seen.first(0)?;
                        port.0 = s.str()?;
                        Some(())
                    }
                    "port" => {
                        seen.first(1)?;
                        port.1 = s.int()?;
                        Some(())
                    }
                    "protocol" => {
                        seen.first(2)?;
                        port.2 = s.str()?;
                        Some(())
                    }
                    _ => s.skip(),
                })?;
                st.named_ports.push(port);
                Some(())
            })
        }
        "service-account" => {
            st.service_account = opt_str(s, &mut seen, 8)?;
            Some(())
        }
        "addresses" => {
            seen.first(9)?;
            read_addresses(s, "address", &mut st.addresses)
        }
        _ => s.skip(),
    })
}

/// `[{"type", <ip>}]`: a Node's (`address`) or CiliumNode's (`ip`) addresses.
fn read_addresses<'a>(
    s: &mut Scan<'a>,
    ip: &str,
    out: &mut SmallVec<[(&'a str, &'a str); 2]>,
) -> Option<()> {
    s.array(|s| {
        let mut seen = Seen::default();
        let mut a = ("", "");
        s.object(|s, key| {
            if key == "type" {
                seen.first(0)?;
                a.0 = s.str()?;
            } else if key == ip {
                seen.first(1)?;
                a.1 = s.str()?;
            } else {
                s.skip()?;
            }
            Some(())
        })?;
        out.push(a);
        Some(())
    })
}

fn read_key(s: &mut Scan<'_>) -> Option<i64> {
    let mut seen = Seen::default();
    let mut k = 0;
    s.object(|s, key| match key {
        "key" => {
            seen.first(0)?;
            k = s.int()?;
            Some(())
        }
        _ => s.skip(),
    })?;
    Some(k)
}

fn read_networking(s: &mut Scan<'_>) -> Option<EndpointNetworking> {
    let mut n = EndpointNetworking::default();
    let mut seen = Seen::default();
    s.object(|s, key| match key {
        "addressing" => {
            seen.first(0)?;
            let mut pairs = AddressPairs::new();
            s.array(|s| {
                let mut seen = Seen::default();
                let mut pair = AddressPair::default();
                s.object(|s, key| match key {
                    "ipv4" => {
                        pair.ipv4 = opt_str(s, &mut seen, 0)?.map(CompactString::new);
                        Some(())
                    }
                    "ipv6" => {
                        pair.ipv6 = opt_str(s, &mut seen, 1)?.map(CompactString::new);
                        Some(())
                    }
                    _ => s.skip(),
                })?;
                pairs.push(pair);
                Some(())
            })?;
            n.addressing = pairs;
            Some(())
        }
        "node" => {
            n.node = opt_str(s, &mut seen, 1)?.map(CompactString::new);
            Some(())
        }
        _ => s.skip(),
    })?;
    Some(n)
}

// ---------------------------------------------------------------- checks

/// `metadata.namespace` and `metadata.name`, as `endpoint::check_namespaced`
/// accepts them.
fn namespace_and_name<'a>(m: &Meta<'a>) -> Option<&'a str> {
    let ns = m.namespace.unwrap_or("");
    if ns.is_empty() {
        return None;
    }
    validate::require_name("", "", ns, false).ok()?;
    validate::require_name("", "", m.name, true).ok()?;
    Some(ns)
}

/// A label map `validate::check_labels` accepts.
fn labels_ok(labels: &LabelPairs<'_>) -> Option<()> {
    validate::labels_valid(labels.iter().copied()).then_some(())
}

fn owned_labels(pairs: &LabelPairs<'_>) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl<'a> Borrowed<'a> {
    /// A Namespace, Node or CiliumNode event as an owned event holding
    /// what the engine reads of the object (`Engine::on_namespace`,
    /// `on_node`, `on_cilium_node`: name, namespace, labels, annotations,
    /// addresses, key): applied, it gives what the full event gives, errors
    /// included (they describe the object by kind, namespace and name).
    pub fn event(&self, kind: Kind) -> Option<WatchEvent> {
        let m = &self.meta;
        let metadata = ObjectMeta {
            name: m.name.to_string(),
            namespace: m.namespace.map(str::to_string),
            labels: owned_labels(&m.labels),
            annotations: owned_labels(&m.annotations),
            ..Default::default()
        };
        let object = match kind {
            Kind::Namespace => Object::Namespace(Namespace { metadata }),
            Kind::Node => Object::Node(Node {
                metadata,
                status: NodeStatus {
                    addresses: (self.status.addresses.iter())
                        .map(|&(kind, address)| NodeAddress {
                            kind: kind.to_string(),
                            address: address.to_string(),
                        })
                        .collect(),
                },
            }),
            Kind::CiliumNode => Object::CiliumNode(CiliumNode {
                metadata,
                spec: CiliumNodeSpec {
                    addresses: (self.spec.addresses.iter())
                        .map(|&(kind, ip)| CiliumNodeAddress {
                            kind: kind.to_string(),
                            ip: ip.to_string(),
                        })
                        .collect(),
                    encryption: self.spec.encryption.map(|key| EncryptionSpec { key }),
                },
            }),
            _ => return None,
        };
        let event_type = if self.modified {
            EventType::Modified
        } else {
            EventType::Added
        };
        Some(WatchEvent::new(event_type, object))
    }

    /// The Pod's labels (after [`pod_input`](Self::pod_input) accepted it).
    pub fn labels(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.meta.labels.iter().copied()
    }

    /// What `endpoint::pod_input` gives for this Pod, or `None` when it
    /// would reject it.
    pub fn pod_input(&self, strings: &mut Interner) -> Option<PodInput<'a>> {
        let namespace = namespace_and_name(&self.meta)?;
        labels_ok(&self.meta.labels)?;
        let (spec, status) = (&self.spec, &self.status);
        let node_name = spec.node_name.filter(|n| !n.is_empty());
        if let Some(n) = node_name {
            validate::require_name("", "", n, true).ok()?;
        }
        let sa = spec.service_account_name.unwrap_or_default();
        if !sa.is_empty() {
            validate::require_name("", "", sa, true).ok()?;
        }
        if status.pod_ips.len() > validate::MAX_POD_IPS {
            return None;
        }
        let mut addressing = Addressing::default();
        let mut keep = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => {
                addressing.ipv4.get_or_insert(v4);
            }
            IpAddr::V6(v6) => {
                addressing.ipv6.get_or_insert(v6);
            }
        };
        for ip in &status.pod_ips {
            keep(validate::parse_ip("", "", ip).ok()?);
        }
        if status.pod_ips.is_empty()
            && let Some(ip) = status.pod_ip.filter(|s| !s.is_empty())
        {
            keep(validate::parse_ip("", "", ip).ok()?);
        }
        let host_ip = match status.host_ip.filter(|s| !s.is_empty()) {
            Some(s) => Some(validate::parse_ip("", "", s).ok()?),
            None => None,
        };
        if spec.ports.len() > validate::MAX_NAMED_PORTS {
            return None;
        }
        let mut named_ports = Vec::new();
        for &(name, port, protocol) in &spec.ports {
            let port = validate::check_port("", "", port).ok()?;
            let protocol =
                Protocol::parse_one_of("", "", protocol.unwrap_or("TCP"), Protocol::CONTAINER_PORT)
                    .ok()?;
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                validate::check_port_name(name).ok()?;
                named_ports.push(PortEntry {
                    name: strings.intern(name),
                    port,
                    protocol,
                });
            }
        }
        let phase_done = matches!(status.phase, Some("Succeeded") | Some("Failed"));
        let has_ip = addressing.ipv4.is_some() || addressing.ipv6.is_some();
        Some(PodInput {
            namespace,
            name: self.meta.name,
            is_endpoint: node_name.is_some() && has_ip && !spec.host_network && !phase_done,
            node_name,
            service_account: sa,
            addressing,
            named_ports,
            host_ip,
        })
    }

    /// The CiliumEndpoint's `status.identity.labels` (owned: `CepInput`
    /// borrows them as `String`s; empty in most events, then nothing is
    /// allocated).
    pub fn identity_labels(&self) -> Vec<String> {
        match &self.status.identity {
            Some((_, labels)) => labels.iter().map(|l| l.to_string()).collect(),
            None => Vec::new(),
        }
    }

    /// What `endpoint::cep_input` gives for this CiliumEndpoint, with
    /// `identity_labels` from [`identity_labels`](Self::identity_labels),
    /// or `None` when it would reject it.
    pub fn cep_input<'l>(
        &self,
        identity_labels: &'l [String],
        interner: &mut DataInterner,
    ) -> Option<CepInput<'l>>
    where
        'a: 'l,
    {
        let namespace = namespace_and_name(&self.meta)?;
        let st = &self.status;
        let identity = match &st.identity {
            Some((id, labels)) => {
                if !(1..=i64::from(u32::MAX)).contains(id) || labels.len() > validate::MAX_LABELS {
                    return None;
                }
                let bytes = labels.iter().fold(0usize, |sum, s| {
                    sum.saturating_add(s.len() + validate::STRING_ENTRY_OVERHEAD)
                });
                if bytes > validate::MAX_OBJECT_BYTES {
                    return None;
                }
                Some(*id as IdentityId)
            }
            None => None,
        };
        let key = match st.encryption {
            Some(k) => entry::encryption_key("", k).ok()?,
            None => 0,
        };
        let sa = entry::service_account(
            "",
            st.service_account,
            entry::Origin::CiliumEndpoint,
            &mut interner.strings,
        )
        .ok()?;
        if st.named_ports.len() > validate::MAX_NAMED_PORTS {
            return None;
        }
        let mut ports = Vec::with_capacity(st.named_ports.len());
        for &(name, port, protocol) in &st.named_ports {
            let port = validate::check_port("", "", port).ok()?;
            let protocol = match protocol {
                "" => Protocol::Tcp,
                s => Protocol::parse_one_of("", "", s, Protocol::NAMED_PORT).ok()?,
            };
            ports.push(PortEntry {
                name: interner.strings.intern(name),
                port,
                protocol,
            });
        }
        let data = match &st.networking {
            Some(net) => {
                let (addressing, node_ip) = entry::networking("", net).ok()?;
                Some(EndpointData {
                    addressing,
                    node_ip,
                    encryption_key: key,
                    named_ports: interner.ports(ports),
                    service_account: sa,
                })
            }
            None => None,
        };
        Some(CepInput {
            namespace,
            name: self.meta.name,
            identity,
            identity_labels,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The usual events (sorted keys, `object` before `type`, as kubectl
    /// and the benches print them) take the borrowed path; the others
    /// are left to the owned one.
    #[test]
    fn usual_events_are_read_borrowed() {
        let pod = r#"{"object":{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web","tier":"db"},"name":"p0","namespace":"a","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u"}],"resourceVersion":"1","uid":"u1"},"spec":{"containers":[{"name":"app","ports":[{"containerPort":8080,"name":"http","protocol":"TCP"}]}],"nodeName":"n1","serviceAccountName":"sa"},"status":{"hostIP":"172.16.0.1","phase":"Running","podIP":"10.0.0.1","podIPs":[{"ip":"10.0.0.1"}]}},"type":"ADDED"}"#;
        let mut p = Borrowed::default();
        assert_eq!(read(pod.as_bytes(), &mut p), Some(BorrowedKind::Pod));
        let input = p.pod_input(&mut Interner::default()).unwrap();
        assert!(input.is_endpoint);
        assert_eq!((input.namespace, input.name), ("a", "p0"));
        assert_eq!(
            p.labels().collect::<Vec<_>>(),
            [("app", "web"), ("tier", "db")]
        );
        let cep = r#"{"object":{"apiVersion":"cilium.io/v2","kind":"CiliumEndpoint","metadata":{"name":"c0","namespace":"a"},"status":{"encryption":{"key":1},"identity":{"id":263,"labels":["k8s:app=api"]},"named-ports":[{"name":"http","port":8080,"protocol":"TCP"}],"networking":{"addressing":[{"ipv4":"10.0.0.145"}],"node":"172.16.0.145"},"service-account":"api-sa"}},"type":"MODIFIED"}"#;
        let mut c = Borrowed::default();
        assert_eq!(
            read(cep.as_bytes(), &mut c),
            Some(BorrowedKind::CiliumEndpoint)
        );
        let labels = c.identity_labels();
        let input = c.cep_input(&labels, &mut DataInterner::default()).unwrap();
        assert_eq!(input.identity, Some(263));
        assert_eq!(input.identity_labels, ["k8s:app=api".to_string()]);
        assert!(input.data.is_some());
        for other in [
            pod.replace("ADDED", "DELETED"),
            pod.replace("\"Pod\"", "\"Service\""),
            pod.replace("\"v1\"", "\"cilium.io/v2\""),
            pod.replace("\"p0\"", "\"p\\u0030\""),
            pod.replace("\"tier\"", "\"aaa\""),
            pod.replace("8080", "8080.0"),
            pod.replace("\"sa\"", "null"),
            format!("{pod}x"),
        ] {
            assert!(
                read(other.as_bytes(), &mut Borrowed::default()).is_none(),
                "{other}"
            );
        }
    }
}
