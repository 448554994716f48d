//! Endpoints: what one entry of a slice says about a pod ([`EndpointData`],
//! its ports and addresses, and the interner that shares them). How it is
//! read (and validated) from a Pod or a CiliumEndpoint, owned or borrowed,
//! is `endpoint/input.rs`. A CiliumEndpoint's parts and a slice entry are
//! read and written by one codec, `core/src/entry.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use smallvec::SmallVec;

use crate::entry;
use crate::error::{Error, ErrorCode, Result};
use crate::identity::IdentityId;
use crate::labels::Interner;
use crate::model::CoreCiliumEndpoint;

mod input;
pub(crate) use input::check_namespaced;
pub use input::{CepInput, PodInput, cep_input, pod_input};

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
