//! Endpoints: what one entry of a slice says about a pod, and how it is
//! read (and validated) from a Pod or a CiliumEndpoint. A CiliumEndpoint's
//! parts and a slice entry are read and written by one codec,
//! `core/src/entry.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use smallvec::SmallVec;

use crate::entry::{self, Origin, under};
use crate::error::{Error, ErrorCode, Result};
use crate::identity::IdentityId;
use crate::labels::Interner;
use crate::model::{CiliumEndpoint, CoreCiliumEndpoint, Kind, Pod, describe};
use crate::validate;

/// Layer-4 protocol of a named port: Cilium's named-port enum, the one
/// protocol type of slice entries, CiliumEndpoints and Pods.
///
/// The policy engine has its own `policy::Protocol` (TCP, UDP, SCTP,
/// parsed case-insensitively): a flow's transport protocol, where ICMP
/// and "any" are not ports and the spellings follow Cilium's policy rules;
/// the two do not mean the same thing, so they stay two types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// `TCP`.
    Tcp,
    /// `UDP`.
    Udp,
    /// `SCTP`.
    Sctp,
    /// `ICMP`.
    Icmp,
    /// `ICMPV6`.
    Icmpv6,
    /// `ANY`.
    Any,
}

impl Protocol {
    /// What Cilium allows in `named-ports` (CiliumEndpoint, slice entry).
    pub const NAMED_PORT: &'static [Protocol] = &[
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Sctp,
        Protocol::Icmp,
        Protocol::Icmpv6,
        Protocol::Any,
    ];
    /// What Kubernetes allows for a container port.
    pub const CONTAINER_PORT: &'static [Protocol] = &[Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// The exact upper-case spelling (`TCP`, ..., `ICMPV6`, `ANY`).
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            "ICMP" => Protocol::Icmp,
            "ICMPV6" => Protocol::Icmpv6,
            "ANY" => Protocol::Any,
            _ => return None,
        })
    }

    /// [`Protocol::parse`], allowing only `allowed`; anything else is
    /// `invalid_protocol` naming `field` and the allowed spellings.
    pub fn parse_one_of(
        object: &str,
        field: &str,
        s: &str,
        allowed: &[Protocol],
    ) -> Result<Protocol> {
        match Protocol::parse(s) {
            Some(p) if allowed.contains(&p) => Ok(p),
            _ => Err(Error::new(
                ErrorCode::InvalidProtocol,
                object,
                field,
                format!(
                    "protocol {s:?} is not one of {}",
                    allowed
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// The upper-case spelling Cilium writes.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
            Protocol::Icmp => "ICMP",
            Protocol::Icmpv6 => "ICMPV6",
            Protocol::Any => "ANY",
        }
    }
}

/// A named port of an endpoint, validated: the one named-port type of the
/// engine, the consumer and the snapshots. Its raw form, as the API server
/// stores it (any integer port, any protocol string), is
/// [`crate::model::NamedPort`], which a reader needs to report a bad value
/// by field; a Pod's ports arrive as [`crate::model::ContainerPort`].
/// The policy engine keeps `policy::NamedPort` with its own protocol type
/// (see [`Protocol`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortEntry {
    /// The port's name.
    pub name: Arc<str>,
    /// The port's number.
    pub port: u16,
    /// The port's protocol.
    pub protocol: Protocol,
}

/// One `{ipv4, ipv6}` pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Addressing {
    /// The IPv4 address, if any.
    pub ipv4: Option<Ipv4Addr>,
    /// The IPv6 address, if any.
    pub ipv6: Option<Ipv6Addr>,
}

impl Addressing {
    /// The pair's addresses, IPv4 first.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> {
        self.ipv4
            .map(IpAddr::V4)
            .into_iter()
            .chain(self.ipv6.map(IpAddr::V6))
    }
}

/// Everything a slice says about one endpoint except its name and identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EndpointData {
    /// The endpoint's address pairs (usually one).
    pub addressing: SmallVec<[Addressing; 1]>,
    /// The IP of the node the endpoint runs on, if known.
    pub node_ip: Option<IpAddr>,
    /// The node's encryption key index (0: none).
    pub encryption_key: u8,
    /// Sorted; shared between endpoints with the same ports.
    pub named_ports: PortList,
    /// The endpoint's service account, if any.
    pub service_account: Option<Arc<str>>,
}

impl EndpointData {
    /// Every address of every pair.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.addressing.iter().flat_map(|a| a.ips())
    }

    /// The slice entry for this endpoint (`entry::encode` in `core/src/entry.rs`).
    pub fn to_core(&self, name: &str, identity: IdentityId) -> CoreCiliumEndpoint {
        entry::encode(name, identity, self.view())
    }

    /// The data as a borrowed view (what the entry codec and the content
    /// stamp read).
    pub(crate) fn view(&self) -> DataRef<'_> {
        DataRef {
            addressing: &self.addressing,
            node_ip: self.node_ip,
            encryption_key: self.encryption_key,
            named_ports: &self.named_ports,
            service_account: self.service_account.as_deref(),
        }
    }
}

/// [`EndpointData`] borrowed: the engine keeps an endpoint's data in a
/// compact form (node IP and service account as ids into shared tables)
/// and hands the slice entry codec and the content stamp this view of it,
/// so rendering an entry copies nothing into an owned `EndpointData` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DataRef<'a> {
    pub addressing: &'a [Addressing],
    pub node_ip: Option<IpAddr>,
    pub encryption_key: u8,
    pub named_ports: &'a [PortEntry],
    pub service_account: Option<&'a str>,
}

/// An endpoint's named ports, sorted, and shared between the endpoints
/// that name the same ports ([`DataInterner::ports`]). One pointer (an
/// `Arc<[PortEntry]>` is a pointer and a length): every endpoint record
/// holds one, and most share the one empty list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortList(Arc<Vec<PortEntry>>);

impl std::ops::Deref for PortList {
    type Target = [PortEntry];

    fn deref(&self) -> &[PortEntry] {
        &self.0
    }
}

/// A `PortList` hashes and compares as its slice (as the `Vec` it holds
/// does), so the interner finds a list by a borrowed slice.
impl std::borrow::Borrow<[PortEntry]> for PortList {
    fn borrow(&self) -> &[PortEntry] {
        &self.0
    }
}

impl From<Vec<PortEntry>> for PortList {
    fn from(ports: Vec<PortEntry>) -> PortList {
        PortList(Arc::new(ports))
    }
}

/// Shares equal port lists and strings between endpoints.
#[derive(Debug, Default, Clone)]
pub struct DataInterner {
    pub strings: Interner,
    ports: hashbrown::HashSet<PortList>,
    no_ports: Option<PortList>,
}

impl DataInterner {
    pub fn ports(&mut self, mut ports: Vec<PortEntry>) -> PortList {
        if ports.is_empty() {
            // Most endpoints name no port: one shared empty list.
            return self
                .no_ports
                .get_or_insert_with(|| PortList::from(ports))
                .clone();
        }
        ports.sort();
        ports.dedup();
        if let Some(p) = self.ports.get(ports.as_slice()) {
            return p.clone();
        }
        ports.shrink_to_fit();
        let p = PortList::from(ports);
        self.ports.insert(p.clone());
        p
    }
}

/// A validated Pod, as the engine needs it (its strings borrowed from the Pod).
#[derive(Debug, Clone)]
pub struct PodInput<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub node_name: Option<&'a str>,
    pub service_account: &'a str,
    pub addressing: Addressing,
    pub named_ports: Vec<PortEntry>,
    pub host_ip: Option<IpAddr>,
    /// Has a node and an IP, is not host-network, not Succeeded/Failed.
    pub is_endpoint: bool,
}

/// Runs `check` with an empty object description and, only when it fails,
/// names the object in the error (`Kind namespace/name`): the description
/// is a `format!` that a valid event, the common case, never needs. Every
/// error `check` returns is about this object.
pub(crate) fn described<T>(
    kind: Kind,
    meta: &crate::model::ObjectMeta,
    check: impl FnOnce(&str) -> Result<T>,
) -> Result<T> {
    check("").map_err(|mut e| {
        e.object = describe(kind, meta);
        e
    })
}

/// Checks the fields of `metadata` every namespaced kind shares (namespace
/// and name): all a DELETED event of a Pod or CiliumEndpoint needs.
pub(crate) fn check_namespaced(kind: Kind, meta: &crate::model::ObjectMeta) -> Result<()> {
    described(kind, meta, |obj| namespace_and_name(obj, meta))
}

/// [`check_namespaced`] for an object described as `obj`.
fn namespace_and_name(obj: &str, meta: &crate::model::ObjectMeta) -> Result<()> {
    let ns = meta.namespace.as_deref().unwrap_or("");
    if ns.is_empty() {
        return Err(Error::new(
            ErrorCode::MissingField,
            obj,
            "metadata.namespace",
            "namespace is required",
        ));
    }
    validate::require_name(obj, "metadata.namespace", ns, false)?;
    validate::require_name(obj, "metadata.name", &meta.name, true)
}

/// Validates a Pod and extracts what the engine uses.
pub fn pod_input<'a>(pod: &'a Pod, strings: &mut Interner) -> Result<PodInput<'a>> {
    described(Kind::Pod, &pod.metadata, |obj| {
        pod_input_described(obj, pod, strings)
    })
}

fn pod_input_described<'a>(
    obj: &str,
    pod: &'a Pod,
    strings: &mut Interner,
) -> Result<PodInput<'a>> {
    namespace_and_name(obj, &pod.metadata)?;
    validate::check_labels(obj, "metadata.labels", &pod.metadata.labels)?;
    let node_name = pod.spec.node_name.as_deref().filter(|n| !n.is_empty());
    if let Some(n) = node_name {
        validate::require_name(obj, "spec.nodeName", n, true)?;
    }
    let sa = pod.spec.service_account_name.as_deref().unwrap_or_default();
    if !sa.is_empty() {
        validate::require_name(obj, "spec.serviceAccountName", sa, true)?;
    }
    validate::too_large(
        obj,
        "status.podIPs",
        pod.status.pod_ips.len(),
        validate::MAX_POD_IPS,
    )?;
    let mut addressing = Addressing::default();
    let mut keep = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => {
            addressing.ipv4.get_or_insert(v4);
        }
        IpAddr::V6(v6) => {
            addressing.ipv6.get_or_insert(v6);
        }
    };
    for (i, p) in pod.status.pod_ips.iter().enumerate() {
        // The field is named only when the address is rejected.
        let ip = validate::parse_ip(obj, "ip", &p.ip)
            .map_err(under(|| format!("status.podIPs[{i}].")))?;
        keep(ip);
    }
    if pod.status.pod_ips.is_empty()
        && let Some(ip) = pod.status.pod_ip.as_deref().filter(|s| !s.is_empty())
    {
        keep(validate::parse_ip(obj, "status.podIP", ip)?);
    }
    let host_ip = match pod.status.host_ip.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(validate::parse_ip(obj, "status.hostIP", s)?),
        None => None,
    };
    let mut named_ports = Vec::new();
    let total_ports: usize = pod.spec.containers.iter().map(|c| c.ports.len()).sum();
    validate::too_large(
        obj,
        "spec.containers[].ports",
        total_ports,
        validate::MAX_NAMED_PORTS,
    )?;
    for (ci, c) in pod.spec.containers.iter().enumerate() {
        for (pi, p) in c.ports.iter().enumerate() {
            let at = || format!("spec.containers[{ci}].ports[{pi}].");
            let port =
                validate::check_port(obj, "containerPort", p.container_port).map_err(under(at))?;
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            let protocol = Protocol::parse_one_of(obj, "protocol", proto, Protocol::CONTAINER_PORT)
                .map_err(under(at))?;
            if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                validate::check_port_name(name).map_err(|m| {
                    Error::new(ErrorCode::InvalidValue, obj, format!("{}name", at()), m)
                })?;
                named_ports.push(PortEntry {
                    name: strings.intern(name),
                    port,
                    protocol,
                });
            }
        }
    }
    let phase_done = matches!(
        pod.status.phase.as_deref(),
        Some("Succeeded") | Some("Failed")
    );
    let has_ip = addressing.ipv4.is_some() || addressing.ipv6.is_some();
    Ok(PodInput {
        namespace: pod.metadata.namespace.as_deref().unwrap_or_default(),
        name: &pod.metadata.name,
        is_endpoint: node_name.is_some() && has_ip && !pod.spec.host_network && !phase_done,
        node_name,
        service_account: sa,
        addressing,
        named_ports,
        host_ip,
    })
}

/// A validated CiliumEndpoint. `None` data when Cilium would ignore it
/// (no identity or no networking yet).
#[derive(Debug, Clone)]
pub struct CepInput<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub identity: Option<IdentityId>,
    pub identity_labels: &'a [String],
    pub data: Option<EndpointData>,
}

/// Validates a CiliumEndpoint and extracts what the engine uses; its
/// networking, encryption key, named ports and service account are read by
/// the slice entry codec (`core/src/entry.rs`) with the CiliumEndpoint rules.
pub fn cep_input<'a>(cep: &'a CiliumEndpoint, interner: &mut DataInterner) -> Result<CepInput<'a>> {
    described(Kind::CiliumEndpoint, &cep.metadata, |obj| {
        cep_input_described(obj, cep, interner)
    })
}

fn cep_input_described<'a>(
    obj: &str,
    cep: &'a CiliumEndpoint,
    interner: &mut DataInterner,
) -> Result<CepInput<'a>> {
    namespace_and_name(obj, &cep.metadata)?;
    let st = &cep.status;
    let identity = match &st.identity {
        Some(i) => {
            if !(1..=i64::from(u32::MAX)).contains(&i.id) {
                return Err(Error::new(
                    ErrorCode::InvalidValue,
                    obj,
                    "status.identity.id",
                    format!("identity {} is not a valid number", i.id),
                ));
            }
            validate::too_large(
                obj,
                "status.identity.labels",
                i.labels.len(),
                validate::MAX_LABELS,
            )?;
            validate::check_strings_size(obj, "status.identity.labels", &i.labels)?;
            Some(i.id as IdentityId)
        }
        None => None,
    };
    // The parts a slice entry also carries, read by the slice entry codec
    // with the CiliumEndpoint rules, in the order their errors are reported.
    let status = || "status.".to_string();
    let key = match &st.encryption {
        Some(e) => entry::encryption_key(obj, e.key).map_err(under(status))?,
        None => 0,
    };
    let sa = entry::service_account(
        obj,
        st.service_account.as_deref(),
        Origin::CiliumEndpoint,
        &mut interner.strings,
    )
    .map_err(under(status))?;
    let ports = entry::named_ports(
        obj,
        &st.named_ports,
        Origin::CiliumEndpoint,
        &mut interner.strings,
    )
    .map_err(under(status))?;
    let data = match &st.networking {
        Some(net) => {
            let (addressing, node_ip) = entry::networking(obj, net).map_err(under(status))?;
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
    Ok(CepInput {
        namespace: cep.metadata.namespace.as_deref().unwrap_or_default(),
        name: &cep.metadata.name,
        identity,
        identity_labels: st.identity.as_ref().map_or(&[], |i| i.labels.as_slice()),
        data,
    })
}

/// Reads a slice entry back into identity and data, for comparison with
/// endpoints (`entry::decode_exact`). `None` when the entry is not
/// exactly what the engine would write (such an entry never equals an
/// endpoint, so it is rewritten).
pub fn core_to_data(
    slice_entry: &CoreCiliumEndpoint,
    interner: &mut DataInterner,
) -> Option<(IdentityId, EndpointData)> {
    entry::decode_exact(slice_entry, interner)
}

/// IPsec key indexes are 0–255 (0: no encryption).
pub fn encryption_key(obj: &str, field: &str, key: i64) -> Result<u8> {
    u8::try_from(key).map_err(|_| {
        Error::new(
            ErrorCode::InvalidValue,
            obj,
            field,
            format!("encryption key {key} is outside 0-255"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_exactly_and_only_the_allowed_ones() {
        assert_eq!(
            Protocol::parse_one_of("o", "f", "TCP", Protocol::CONTAINER_PORT).unwrap(),
            Protocol::Tcp
        );
        let e = Protocol::parse_one_of("o", "f", "tcp", Protocol::CONTAINER_PORT).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidProtocol);
        assert_eq!(
            e.to_string(),
            "[invalid_protocol] o field f: protocol \"tcp\" is not one of TCP, UDP, SCTP"
        );
        // ICMP is a named-port protocol of Cilium's, not a container port's.
        let e = Protocol::parse_one_of("o", "f", "ICMP", Protocol::CONTAINER_PORT).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidProtocol);
        for p in Protocol::NAMED_PORT {
            assert_eq!(
                Protocol::parse_one_of("o", "f", p.as_str(), Protocol::NAMED_PORT),
                Ok(*p)
            );
        }
        let e = Protocol::parse_one_of("o", "f", "", Protocol::NAMED_PORT).unwrap_err();
        assert_eq!(
            e.message,
            "protocol \"\" is not one of TCP, UDP, SCTP, ICMP, ICMPV6, ANY"
        );
    }
}
