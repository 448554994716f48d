//! The borrowed reading of a watch event: the hot path of
//! [`Engine::apply_json`](crate::Engine::apply_json). One pass of [`Scan`]
//! over the text into a [`Borrowed`] (`metadata`, `spec`, `status`: as
//! much as the engine reads of any kind), every string borrowed from the
//! text, every field the engine does not use skipped without building
//! anything. What is then made of it: a Pod or CiliumEndpoint goes through
//! the checks of `endpoint/input.rs` (the owned reading's own) straight
//! into the engine's borrowed inputs (`Borrowed::pod_input`,
//! `Borrowed::cep_input`); a Namespace, Node or CiliumNode (few) becomes
//! an owned event of just what the engine reads of it ([`Borrowed::event`],
//! here).
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

use smallvec::SmallVec;

use super::scan::{Scan, Seen};
use crate::model::{
    AddressPair, AddressPairs, CiliumNode, CiliumNodeAddress, CiliumNodeSpec, CompactString,
    EncryptionSpec, EndpointNetworking, EventType, Kind, Labels, Namespace, Node, NodeAddress,
    NodeStatus, Object, ObjectMeta, WatchEvent,
};

/// Label pairs as they came, strictly sorted by key (as a `BTreeMap`
/// iterates them).
pub type LabelPairs<'a> = SmallVec<[(&'a str, &'a str); 8]>;

/// `metadata`, as much as the engine reads of it.
#[derive(Default)]
pub(crate) struct Meta<'a> {
    pub(crate) name: &'a str,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) labels: LabelPairs<'a>,
    pub(crate) annotations: LabelPairs<'a>,
}

/// A container port: `(name, containerPort, protocol)`.
pub(crate) type ContainerPort<'a> = (Option<&'a str>, i64, Option<&'a str>);

/// `spec` (the union the owned reading takes for every kind).
#[derive(Default)]
pub(crate) struct Spec<'a> {
    pub(crate) node_name: Option<&'a str>,
    pub(crate) service_account_name: Option<&'a str>,
    pub(crate) host_network: bool,
    /// Every container's ports, in order.
    pub(crate) ports: SmallVec<[ContainerPort<'a>; 4]>,
    /// A CiliumNode's `(type, ip)`.
    pub(crate) addresses: SmallVec<[(&'a str, &'a str); 2]>,
    /// A CiliumNode's `encryption.key`.
    pub(crate) encryption: Option<i64>,
}

/// `status` (the union the owned reading takes for every kind).
#[derive(Default)]
pub(crate) struct Status<'a> {
    pub(crate) phase: Option<&'a str>,
    pub(crate) pod_ip: Option<&'a str>,
    pub(crate) pod_ips: SmallVec<[&'a str; 2]>,
    pub(crate) host_ip: Option<&'a str>,
    pub(crate) identity: Option<(i64, SmallVec<[&'a str; 4]>)>,
    pub(crate) networking: Option<EndpointNetworking>,
    pub(crate) encryption: Option<i64>,
    pub(crate) named_ports: SmallVec<[(&'a str, i64, &'a str); 4]>,
    pub(crate) service_account: Option<&'a str>,
    /// A Node's `(type, address)`.
    pub(crate) addresses: SmallVec<[(&'a str, &'a str); 2]>,
}

/// The object of an ADDED or MODIFIED event, read borrowed.
#[derive(Default)]
pub struct Borrowed<'a> {
    /// `type` is `MODIFIED` (else `ADDED`).
    pub(crate) modified: bool,
    pub(crate) kind: Option<&'a str>,
    pub(crate) api_version: Option<&'a str>,
    pub(crate) meta: Meta<'a>,
    pub(crate) spec: Spec<'a>,
    pub(crate) status: Status<'a>,
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
    /// them ([`Borrowed::event`]).
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

// ------------------------------------- the few kinds, as owned events

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
}
