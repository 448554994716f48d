//! The slice entry codec: the one reading and the one rendering of what a
//! CiliumEndpointSlice entry (Cilium's `CoreCiliumEndpoint`) says about an
//! endpoint, shared by the engine and the consumer.
//!
//! A CiliumEndpoint's status carries the same parts as a slice entry
//! (Cilium's operator copies them across), so the engine reads a
//! CiliumEndpoint with the same part decoders ([`networking`],
//! [`encryption_key`], [`named_ports`], [`service_account`]) as a slice
//! entry. Every error names the field relative to the part's owner
//! (`networking.addressing[0].ipv4`); the caller puts the owner in front
//! (`status.`, `endpoints[3].`), and only when there is an error, so a valid
//! entry costs no formatting.
//!
//! # Who reads what
//!
//! | reader | function | on a bad entry |
//! |---|---|---|
//! | consumer (agent side) | [`decode`] | skips the entry and reports the typed error |
//! | engine, a CiliumEndpoint | [`networking`] and the other parts, via [`crate::endpoint::cep_input`] | rejects the event |
//! | engine, adopting a slice the server holds | [`decode_exact`] | the entry is not ours: it is rewritten |
//! | engine, planning a slice | [`encode`] | — |
//!
//! # Where the readings differ, and why
//!
//! The rules are the same for every field except these:
//!
//! - **An empty named-port protocol** is TCP in a CiliumEndpoint (the ports
//!   come from container ports, whose protocol Kubernetes defaults to TCP),
//!   but makes a slice entry malformed: a slice entry's protocol must be one
//!   of Cilium's TCP/UDP/SCTP/ICMP/ICMPV6/ANY, and the consumer skips an
//!   entry it cannot read as Cilium's agent would ([`Origin`]).
//! - **The service account** of a CiliumEndpoint is validated as every
//!   input the engine republishes (a DNS-1123 subdomain, as Kubernetes
//!   checks `serviceAccountName`; empty means none). The consumer takes a
//!   slice entry's as Cilium's agent does, verbatim (an empty one stays
//!   empty): it is a label for the agent, not a name it looks up.
//! - **The identity** of a CiliumEndpoint (`status.identity.id`, checked in
//!   `cep_input`) must be 1..=2^32−1, as identity 0 is Cilium's "unknown"
//!   and the engine would publish it; a slice entry's `id` may be any
//!   value Cilium's agent can hold without wrapping, 0..=2^32−1.
//! - **Adoption** ([`decode_exact`]) reads with the slice entry rules and
//!   then takes an entry as the endpoint's only when it is exactly what
//!   [`encode`] renders: a different spelling of the same value
//!   (`10.0.0.01`, unsorted named ports, an empty node) is rewritten.
//!
//! The consumer is stricter than Cilium's agent in one respect, stated in
//! [`crate::consumer`]: where Cilium goes on with a value it has wrapped (an
//! identity of −1, an encryption key of 256), the entry is skipped.

use std::net::IpAddr;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::endpoint::{self, Addressing, DataInterner, EndpointData, PortEntry, Protocol};
use crate::error::{Error, ErrorCode, Result};
use crate::identity::IdentityId;
use crate::labels::Interner;
use crate::model::{
    AddressPair, CoreCiliumEndpoint, EncryptionSpec, EndpointNetworking, NamedPort,
};
use crate::validate;

/// Who wrote the parts being read; decides the two rules that differ
/// between a CiliumEndpoint and a slice entry (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A CiliumEndpoint's status, read by the engine as input.
    CiliumEndpoint,
    /// A CiliumEndpointSlice entry, read by the consumer or for adoption.
    SliceEntry,
}

/// Puts `prefix` (ending in `.`) in front of the field an error names.
pub(crate) fn under(prefix: impl FnOnce() -> String) -> impl FnOnce(Error) -> Error {
    move |mut e| {
        e.field = format!("{}{}", prefix(), e.field);
        e
    }
}

/// Reads entry `index` of a slice (`obj` names the slice) by the slice
/// entry rules: its identity and data. The errors name
/// `endpoints[index].<field>`. The name is validated (a DNS-1123
/// subdomain) but not interned: the caller keys the entry as it needs.
pub(crate) fn decode(
    obj: &str,
    index: usize,
    e: &CoreCiliumEndpoint,
    interner: &mut DataInterner,
) -> Result<(IdentityId, EndpointData)> {
    decode_entry(obj, e, interner).map_err(under(|| format!("endpoints[{index}].")))
}

fn decode_entry(
    obj: &str,
    e: &CoreCiliumEndpoint,
    interner: &mut DataInterner,
) -> Result<(IdentityId, EndpointData)> {
    validate::require_name(obj, "name", &e.name, true)?;
    let identity = IdentityId::try_from(e.id).map_err(|_| {
        Error::new(
            ErrorCode::InvalidValue,
            obj,
            "id",
            format!("identity {} is outside 0-4294967295", e.id),
        )
    })?;
    let (addressing, node_ip) = networking(obj, &e.networking)?;
    let encryption_key = encryption_key(obj, e.encryption.key)?;
    let ports = named_ports(
        obj,
        &e.named_ports,
        Origin::SliceEntry,
        &mut interner.strings,
    )?;
    let service_account = service_account(
        obj,
        e.service_account.as_deref(),
        Origin::SliceEntry,
        &mut interner.strings,
    )?;
    let data = EndpointData {
        addressing,
        node_ip,
        encryption_key,
        named_ports: interner.ports(ports),
        service_account,
    };
    Ok((identity, data))
}

/// Reads a slice entry the server holds, for adoption: `Some` only when
/// the entry reads by the slice entry rules and is exactly what [`encode`]
/// renders for what it read (e.g. `10.0.0.01` is not ours). Any other
/// entry never equals an endpoint, so it is rewritten.
pub(crate) fn decode_exact(
    e: &CoreCiliumEndpoint,
    interner: &mut DataInterner,
) -> Option<(IdentityId, EndpointData)> {
    let (identity, data) = decode_entry("", e, interner).ok()?;
    (encode(&e.name, identity, &data) == *e).then_some((identity, data))
}

/// The slice entry for an endpoint: the one rendering, which
/// [`decode`] reads back to the same identity and data.
pub(crate) fn encode(name: &str, identity: IdentityId, data: &EndpointData) -> CoreCiliumEndpoint {
    CoreCiliumEndpoint {
        name: name.to_string(),
        id: i64::from(identity),
        networking: EndpointNetworking {
            addressing: data
                .addressing
                .iter()
                .map(|a| AddressPair {
                    ipv4: a.ipv4.map(|ip| ip.to_string()),
                    ipv6: a.ipv6.map(|ip| ip.to_string()),
                })
                .collect(),
            node: data.node_ip.map(|ip| ip.to_string()),
        },
        encryption: EncryptionSpec {
            key: i64::from(data.encryption_key),
        },
        named_ports: data
            .named_ports
            .iter()
            .map(|p| NamedPort {
                name: p.name.to_string(),
                port: i64::from(p.port),
                protocol: p.protocol.as_str().to_string(),
            })
            .collect(),
        service_account: data.service_account.as_ref().map(|s| s.to_string()),
    }
}

// ------------------------------------------------------------ parts

/// `networking`: the address pairs (at most [`validate::MAX_ADDRESSES`])
/// and the node IP (empty or absent: none). Fields
/// `networking.addressing`, `networking.addressing[j].ipv4`/`.ipv6`,
/// `networking.node`.
pub(crate) fn networking(
    obj: &str,
    net: &EndpointNetworking,
) -> Result<(SmallVec<[Addressing; 1]>, Option<IpAddr>)> {
    validate::too_large(
        obj,
        "networking.addressing",
        net.addressing.len(),
        validate::MAX_ADDRESSES,
    )?;
    let mut addressing = SmallVec::new();
    for (j, pair) in net.addressing.iter().enumerate() {
        let a =
            address_pair(obj, pair).map_err(under(|| format!("networking.addressing[{j}].")))?;
        addressing.push(a);
    }
    let node_ip = match net.node.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(validate::parse_ip(obj, "networking.node", s)?),
        None => None,
    };
    Ok((addressing, node_ip))
}

/// One `{ipv4, ipv6}` pair; an empty string is an absent address. Fields
/// `ipv4`, `ipv6`.
pub(crate) fn address_pair(obj: &str, pair: &AddressPair) -> Result<Addressing> {
    let mut a = Addressing::default();
    if let Some(s) = pair.ipv4.as_deref().filter(|s| !s.is_empty()) {
        match validate::parse_ip(obj, "ipv4", s)? {
            IpAddr::V4(v4) => a.ipv4 = Some(v4),
            IpAddr::V6(_) => return Err(wrong_family(obj, "ipv4", s, "IPv4")),
        }
    }
    if let Some(s) = pair.ipv6.as_deref().filter(|s| !s.is_empty()) {
        match validate::parse_ip(obj, "ipv6", s)? {
            IpAddr::V6(v6) => a.ipv6 = Some(v6),
            IpAddr::V4(_) => return Err(wrong_family(obj, "ipv6", s, "IPv6")),
        }
    }
    Ok(a)
}

fn wrong_family(obj: &str, field: &str, s: &str, family: &str) -> Error {
    Error::new(
        ErrorCode::InvalidIp,
        obj,
        field,
        format!("{s:?} is not an {family} address"),
    )
}

/// `encryption.key`: an IPsec key index, 0–255.
pub(crate) fn encryption_key(obj: &str, key: i64) -> Result<u8> {
    endpoint::encryption_key(obj, "encryption.key", key)
}

/// `named-ports`: at most [`validate::MAX_NAMED_PORTS`], each port
/// 1–65535 and a protocol of Cilium's named-port enum
/// ([`Protocol::NAMED_PORT`]; empty is TCP in a CiliumEndpoint). Names are
/// taken verbatim, as Cilium does. Fields `named-ports`,
/// `named-ports[j].port`, `named-ports[j].protocol`. Not yet sorted: the
/// caller shares the list through [`DataInterner::ports`].
pub(crate) fn named_ports(
    obj: &str,
    ports: &[NamedPort],
    origin: Origin,
    strings: &mut Interner,
) -> Result<Vec<PortEntry>> {
    validate::too_large(obj, "named-ports", ports.len(), validate::MAX_NAMED_PORTS)?;
    let mut out = Vec::with_capacity(ports.len());
    for (j, p) in ports.iter().enumerate() {
        let at = || format!("named-ports[{j}].");
        let port = validate::check_port(obj, "port", p.port).map_err(under(at))?;
        let protocol = match p.protocol.as_str() {
            "" if origin == Origin::CiliumEndpoint => Protocol::Tcp,
            s => Protocol::parse_one_of(obj, "protocol", s, Protocol::NAMED_PORT)
                .map_err(under(at))?,
        };
        out.push(PortEntry {
            name: strings.intern(&p.name),
            port,
            protocol,
        });
    }
    Ok(out)
}

/// `service-account`: verbatim in a slice entry; in a CiliumEndpoint a
/// DNS-1123 subdomain, empty meaning none.
pub(crate) fn service_account(
    obj: &str,
    sa: Option<&str>,
    origin: Origin,
    strings: &mut Interner,
) -> Result<Option<Arc<str>>> {
    match origin {
        Origin::SliceEntry => Ok(sa.map(|s| strings.intern(s))),
        Origin::CiliumEndpoint => match sa.filter(|s| !s.is_empty()) {
            Some(s) => {
                validate::require_name(obj, "service-account", s, true)?;
                Ok(Some(strings.intern(s)))
            }
            None => Ok(None),
        },
    }
}
