//! Endpoints: what one entry of a slice says about a pod, and how it is
//! read (and validated) from a Pod or a CiliumEndpoint.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use smallvec::SmallVec;

use crate::error::{Error, ErrorCode, Result};
use crate::identity::IdentityId;
use crate::labels::Interner;
use crate::model::{
    AddressPair, CiliumEndpoint, CoreCiliumEndpoint, EncryptionSpec, EndpointNetworking, Kind,
    NamedPort, Pod, describe,
};
use crate::validate;

/// Layer-4 protocol of a named port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Icmpv6,
    Any,
}

impl Protocol {
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

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortEntry {
    pub name: Arc<str>,
    pub port: u16,
    pub protocol: Protocol,
}

/// One `{ipv4, ipv6}` pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Addressing {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

impl Addressing {
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
    pub addressing: SmallVec<[Addressing; 1]>,
    pub node_ip: Option<IpAddr>,
    pub encryption_key: u8,
    /// Sorted; shared between endpoints with the same ports.
    pub named_ports: Arc<[PortEntry]>,
    pub service_account: Option<Arc<str>>,
}

impl EndpointData {
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.addressing.iter().flat_map(|a| a.ips())
    }

    /// The slice entry for this endpoint.
    pub fn to_core(&self, name: &str, identity: IdentityId) -> CoreCiliumEndpoint {
        CoreCiliumEndpoint {
            name: name.to_string(),
            id: i64::from(identity),
            networking: EndpointNetworking {
                addressing: self
                    .addressing
                    .iter()
                    .map(|a| AddressPair {
                        ipv4: a.ipv4.map(|ip| ip.to_string()),
                        ipv6: a.ipv6.map(|ip| ip.to_string()),
                    })
                    .collect(),
                node: self.node_ip.map(|ip| ip.to_string()),
            },
            encryption: EncryptionSpec {
                key: i64::from(self.encryption_key),
            },
            named_ports: self
                .named_ports
                .iter()
                .map(|p| NamedPort {
                    name: p.name.to_string(),
                    port: i64::from(p.port),
                    protocol: p.protocol.as_str().to_string(),
                })
                .collect(),
            service_account: self.service_account.as_ref().map(|s| s.to_string()),
        }
    }
}

/// Shares equal port lists and strings between endpoints.
#[derive(Debug, Default, Clone)]
pub struct DataInterner {
    pub strings: Interner,
    ports: hashbrown::HashSet<Arc<[PortEntry]>>,
}

impl DataInterner {
    pub fn ports(&mut self, mut ports: Vec<PortEntry>) -> Arc<[PortEntry]> {
        ports.sort();
        ports.dedup();
        if let Some(p) = self.ports.get(ports.as_slice()) {
            return p.clone();
        }
        let p: Arc<[PortEntry]> = Arc::from(ports);
        self.ports.insert(p.clone());
        p
    }
}

/// A validated Pod, as the engine needs it.
#[derive(Debug, Clone)]
pub struct PodInput {
    pub namespace: String,
    pub name: String,
    pub node_name: Option<String>,
    pub service_account: String,
    pub addressing: Addressing,
    pub named_ports: Vec<PortEntry>,
    pub host_ip: Option<IpAddr>,
    /// Has a node and an IP, is not host-network, not Succeeded/Failed.
    pub is_endpoint: bool,
}

/// Checks the fields of `metadata` every namespaced kind shares (namespace
/// and name): all a DELETED event of a Pod or CiliumEndpoint needs.
pub(crate) fn check_namespaced(kind: Kind, pod_meta: &crate::model::ObjectMeta) -> Result<String> {
    let obj = describe(kind, pod_meta);
    let ns = pod_meta.namespace.as_deref().unwrap_or("");
    if ns.is_empty() {
        return Err(Error::new(
            ErrorCode::MissingField,
            obj,
            "metadata.namespace",
            "namespace is required",
        ));
    }
    validate::require_name(&obj, "metadata.namespace", ns, false)?;
    validate::require_name(&obj, "metadata.name", &pod_meta.name, true)?;
    Ok(obj)
}

/// Validates a Pod and extracts what the engine uses.
pub fn pod_input(pod: &Pod, strings: &mut Interner) -> Result<PodInput> {
    let obj = check_namespaced(Kind::Pod, &pod.metadata)?;
    validate::check_labels(&obj, "metadata.labels", &pod.metadata.labels)?;
    let node_name = pod.spec.node_name.clone().filter(|n| !n.is_empty());
    if let Some(n) = &node_name {
        validate::require_name(&obj, "spec.nodeName", n, true)?;
    }
    let sa = pod.spec.service_account_name.clone().unwrap_or_default();
    if !sa.is_empty() {
        validate::require_name(&obj, "spec.serviceAccountName", &sa, true)?;
    }
    validate::too_large(
        &obj,
        "status.podIPs",
        pod.status.pod_ips.len(),
        validate::MAX_POD_IPS,
    )?;
    let mut addressing = Addressing::default();
    let mut ips: Vec<(String, &str)> = pod
        .status
        .pod_ips
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("status.podIPs[{i}].ip"), p.ip.as_str()))
        .collect();
    if ips.is_empty()
        && let Some(ip) = pod.status.pod_ip.as_deref().filter(|s| !s.is_empty())
    {
        ips.push(("status.podIP".to_string(), ip));
    }
    for (field, s) in &ips {
        match validate::parse_ip(&obj, field, s)? {
            IpAddr::V4(v4) => {
                addressing.ipv4.get_or_insert(v4);
            }
            IpAddr::V6(v6) => {
                addressing.ipv6.get_or_insert(v6);
            }
        }
    }
    let host_ip = match pod.status.host_ip.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(validate::parse_ip(&obj, "status.hostIP", s)?),
        None => None,
    };
    let mut named_ports = Vec::new();
    let total_ports: usize = pod.spec.containers.iter().map(|c| c.ports.len()).sum();
    validate::too_large(
        &obj,
        "spec.containers[].ports",
        total_ports,
        validate::MAX_NAMED_PORTS,
    )?;
    for (ci, c) in pod.spec.containers.iter().enumerate() {
        for (pi, p) in c.ports.iter().enumerate() {
            let field = format!("spec.containers[{ci}].ports[{pi}]");
            let port =
                validate::check_port(&obj, &format!("{field}.containerPort"), p.container_port)?;
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            validate::check_protocol(
                &obj,
                &format!("{field}.protocol"),
                proto,
                validate::POD_PROTOCOLS,
            )?;
            if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                validate::check_port_name(name).map_err(|m| {
                    Error::new(
                        ErrorCode::InvalidValue,
                        obj.clone(),
                        format!("{field}.name"),
                        m,
                    )
                })?;
                named_ports.push(PortEntry {
                    name: strings.intern(name),
                    port,
                    protocol: Protocol::parse(proto).unwrap_or(Protocol::Tcp),
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
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone(),
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
pub struct CepInput {
    pub namespace: String,
    pub name: String,
    pub identity: Option<IdentityId>,
    pub identity_labels: Vec<String>,
    pub data: Option<EndpointData>,
}

pub fn cep_input(cep: &CiliumEndpoint, interner: &mut DataInterner) -> Result<CepInput> {
    let obj = check_namespaced(Kind::CiliumEndpoint, &cep.metadata)?;
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
                &obj,
                "status.identity.labels",
                i.labels.len(),
                validate::MAX_LABELS,
            )?;
            validate::check_strings_size(&obj, "status.identity.labels", &i.labels)?;
            Some(i.id as IdentityId)
        }
        None => None,
    };
    let key = match &st.encryption {
        Some(e) => encryption_key(&obj, "status.encryption.key", e.key)?,
        None => 0,
    };
    let sa = match st.service_account.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => {
            validate::require_name(&obj, "status.service-account", s, true)?;
            Some(interner.strings.intern(s))
        }
        None => None,
    };
    validate::too_large(
        &obj,
        "status.named-ports",
        st.named_ports.len(),
        validate::MAX_NAMED_PORTS,
    )?;
    let mut ports = Vec::with_capacity(st.named_ports.len());
    for (i, p) in st.named_ports.iter().enumerate() {
        let field = format!("status.named-ports[{i}]");
        let port = validate::check_port(&obj, &format!("{field}.port"), p.port)?;
        let proto = if p.protocol.is_empty() {
            "TCP"
        } else {
            &p.protocol
        };
        validate::check_protocol(
            &obj,
            &format!("{field}.protocol"),
            proto,
            validate::CILIUM_PROTOCOLS,
        )?;
        ports.push(PortEntry {
            name: interner.strings.intern(&p.name),
            port,
            protocol: Protocol::parse(proto).unwrap_or(Protocol::Tcp),
        });
    }
    let data = match &st.networking {
        Some(net) => {
            validate::too_large(
                &obj,
                "status.networking.addressing",
                net.addressing.len(),
                validate::MAX_ADDRESSES,
            )?;
            let mut addressing = SmallVec::new();
            for (i, pair) in net.addressing.iter().enumerate() {
                addressing.push(address_pair(
                    &obj,
                    &format!("status.networking.addressing[{i}]"),
                    pair,
                )?);
            }
            let node_ip = match net.node.as_deref().filter(|s| !s.is_empty()) {
                Some(s) => Some(validate::parse_ip(&obj, "status.networking.node", s)?),
                None => None,
            };
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
        namespace: cep.metadata.namespace.clone().unwrap_or_default(),
        name: cep.metadata.name.clone(),
        identity,
        identity_labels: st
            .identity
            .as_ref()
            .map(|i| i.labels.clone())
            .unwrap_or_default(),
        data,
    })
}

/// Reads a slice entry back into identity and data, for comparison with
/// endpoints. `None` when any field does not parse (such an entry never
/// equals an endpoint, so it is rewritten).
pub fn core_to_data(
    entry: &CoreCiliumEndpoint,
    interner: &mut DataInterner,
) -> Option<(IdentityId, EndpointData)> {
    let id = IdentityId::try_from(entry.id).ok()?;
    let mut addressing = SmallVec::new();
    for pair in &entry.networking.addressing {
        addressing.push(address_pair("", "", pair).ok()?);
    }
    let node_ip = match entry.networking.node.as_deref() {
        Some(s) => Some(s.parse::<IpAddr>().ok()?),
        None => None,
    };
    let mut ports = Vec::with_capacity(entry.named_ports.len());
    for p in &entry.named_ports {
        ports.push(PortEntry {
            name: interner.strings.intern(&p.name),
            port: u16::try_from(p.port).ok()?,
            protocol: Protocol::parse(&p.protocol)?,
        });
    }
    let data = EndpointData {
        addressing,
        node_ip,
        encryption_key: u8::try_from(entry.encryption.key).ok()?,
        named_ports: interner.ports(ports),
        service_account: entry
            .service_account
            .as_deref()
            .map(|s| interner.strings.intern(s)),
    };
    // Only an exact rendering counts (e.g. "10.0.0.01" is not ours).
    (data.to_core(&entry.name, id) == *entry).then_some((id, data))
}

pub fn address_pair(obj: &str, field: &str, pair: &AddressPair) -> Result<Addressing> {
    let mut a = Addressing::default();
    if let Some(s) = pair.ipv4.as_deref().filter(|s| !s.is_empty()) {
        match validate::parse_ip(obj, &format!("{field}.ipv4"), s)? {
            IpAddr::V4(v4) => a.ipv4 = Some(v4),
            IpAddr::V6(_) => {
                return Err(Error::new(
                    ErrorCode::InvalidIp,
                    obj,
                    format!("{field}.ipv4"),
                    format!("{s:?} is not an IPv4 address"),
                ));
            }
        }
    }
    if let Some(s) = pair.ipv6.as_deref().filter(|s| !s.is_empty()) {
        match validate::parse_ip(obj, &format!("{field}.ipv6"), s)? {
            IpAddr::V6(v6) => a.ipv6 = Some(v6),
            IpAddr::V4(_) => {
                return Err(Error::new(
                    ErrorCode::InvalidIp,
                    obj,
                    format!("{field}.ipv6"),
                    format!("{s:?} is not an IPv6 address"),
                ));
            }
        }
    }
    Ok(a)
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
