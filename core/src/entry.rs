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
//!   `cep_input`) must be 1..=2^32−1: 0 is Cilium's reserved "unknown"
//!   identity, not one the engine publishes an endpoint with. A slice
//!   entry's `id` may be any value Cilium's agent holds without wrapping,
//!   0..=2^32−1.
//! - **Adoption** ([`decode_exact`]) reads with the slice entry rules and
//!   then takes an entry as the endpoint's only when it is exactly what
//!   [`encode`] renders: a different spelling of the same value
//!   (`FD00::1`, unsorted named ports, an empty node) is rewritten.
//!
//! The consumer is stricter than Cilium's agent in one respect, stated in
//! [`crate::consumer`]: where Cilium goes on with a value it has wrapped (an
//! identity of −1, an encryption key of 256), the entry is skipped.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use smallvec::SmallVec;

use crate::endpoint::{self, Addressing, DataInterner, DataRef, EndpointData, PortEntry, Protocol};
use crate::error::{Error, ErrorCode, Result};
use crate::identity::IdentityId;
use crate::labels::Interner;
use crate::model::{
    AddressPair, AddressPairs, CompactString, CoreCiliumEndpoint, EncryptionSpec,
    EndpointNetworking, NamedPort,
};
use crate::validate;
use compact_str::ToCompactString;

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
/// renders for what it read (e.g. `FD00::1` is not ours). Any other
/// entry never equals an endpoint, so it is rewritten.
pub(crate) fn decode_exact(
    e: &CoreCiliumEndpoint,
    interner: &mut DataInterner,
) -> Option<(IdentityId, EndpointData)> {
    let (identity, data) = decode_entry("", e, interner).ok()?;
    (encode(&e.name, identity, data.view()) == *e).then_some((identity, data))
}

/// The slice entry for an endpoint: the one rendering, which
/// [`decode`] reads back to the same identity and data.
///
/// Allocates nothing for the usual entry: the name (up to 24 bytes), the
/// IPv4 addresses and the node IP are inline strings, the single address
/// pair is inline, and an entry with no named ports has an empty list.
pub(crate) fn encode(name: &str, identity: IdentityId, data: DataRef<'_>) -> CoreCiliumEndpoint {
    CoreCiliumEndpoint {
        name: CompactString::new(name),
        id: i64::from(identity),
        networking: EndpointNetworking {
            addressing: match data.addressing {
                // The usual single pair, built in place.
                [a] => AddressPairs::from_buf([address_pair_of(a)]),
                pairs => pairs.iter().map(address_pair_of).collect(),
            },
            node: data.node_ip.map(ip_string),
        },
        encryption: EncryptionSpec {
            key: i64::from(data.encryption_key),
        },
        named_ports: if data.named_ports.is_empty() {
            // The usual entry: no collect machinery for an empty list.
            Vec::new()
        } else {
            data.named_ports
                .iter()
                .map(|p| NamedPort {
                    // `String::from(&str)`, not `to_string()`: an `Arc<str>`'s
                    // `to_string` goes through `Display` and grows the string.
                    name: String::from(&*p.name),
                    port: i64::from(p.port),
                    protocol: String::from(p.protocol.as_str()),
                })
                .collect()
        },
        service_account: data.service_account.map(String::from),
    }
}

/// One rendered `{ipv4, ipv6}` pair.
fn address_pair_of(a: &Addressing) -> AddressPair {
    AddressPair {
        ipv4: a.ipv4.map(ipv4_string),
        ipv6: a.ipv6.map(|ip| ip.to_compact_string()),
    }
}

/// The decimal digits of every octet value, left-aligned, and their
/// count: `DIGITS[v] = ([d0, d1, d2], len)`.
const DIGITS: [([u8; 3], u8); 256] = {
    let mut t = [([0u8; 3], 0u8); 256];
    let mut v = 0;
    while v < 256 {
        let (h, te, o) = ((v / 100) as u8, (v / 10 % 10) as u8, (v % 10) as u8);
        t[v] = if v >= 100 {
            ([b'0' + h, b'0' + te, b'0' + o], 3)
        } else if v >= 10 {
            ([b'0' + te, b'0' + o, 0], 2)
        } else {
            ([b'0' + o, 0, 0], 1)
        };
        v += 1;
    }
    t
};

/// `ip` as its `Display` spells it (dotted decimal), written through a
/// table of octet spellings into a stack buffer and kept inline (at most
/// 15 bytes): an IPv4 address is most of what a slice entry renders, and
/// the formatting machinery cost several times the rest of the entry.
fn ipv4_string(ip: Ipv4Addr) -> CompactString {
    /// Word-aligned, so that reading it as UTF-8 takes the word-at-a-time
    /// ASCII path (two words) instead of a loop over bytes.
    #[repr(align(8))]
    struct Buf([u8; 16]);
    let mut buf = Buf([b'.'; 16]);
    let mut n = 0;
    for octet in ip.octets() {
        let (digits, len) = DIGITS[usize::from(octet)];
        // Each octet writes its 3-byte spelling at `n` and keeps `len`
        // bytes of it, then skips the dot already there (n + 3 <= 15).
        buf.0[n..n + 3].copy_from_slice(&digits);
        n += usize::from(len);
        buf.0[n] = b'.';
        n += 1;
    }
    // ASCII digits and dots: always UTF-8; `n - 1` drops the last dot.
    let text = std::str::from_utf8(&buf.0).unwrap_or_default();
    CompactString::new(text.get(..n - 1).unwrap_or_default())
}

/// `ip` as its `Display` spells it; IPv4 through [`ipv4_string`].
fn ip_string(ip: IpAddr) -> CompactString {
    match ip {
        IpAddr::V4(v4) => ipv4_string(v4),
        IpAddr::V6(v6) => v6.to_compact_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::cep_input;
    use crate::model::{CiliumEndpoint, CiliumEndpointStatus, EndpointIdentity, ObjectMeta};

    const SLICE: &str = "CiliumEndpointSlice ces-1";

    fn port(name: &str, port: i64, protocol: &str) -> NamedPort {
        NamedPort {
            name: name.into(),
            port,
            protocol: protocol.into(),
        }
    }

    fn pair(v4: Option<&str>, v6: Option<&str>) -> AddressPair {
        AddressPair {
            ipv4: v4.map(Into::into),
            ipv6: v6.map(Into::into),
        }
    }

    /// A slice entry exactly as the engine renders it: dual stack, a
    /// second pair, a node, a key, ports of every protocol (sorted), a
    /// service account.
    fn canonical() -> CoreCiliumEndpoint {
        CoreCiliumEndpoint {
            name: "web-1".into(),
            id: 70_001,
            networking: EndpointNetworking {
                addressing: smallvec::smallvec![
                    pair(Some("10.0.0.1"), Some("fd00::1")),
                    pair(Some("10.0.0.2"), None),
                ],
                node: Some("192.168.0.1".into()),
            },
            encryption: EncryptionSpec { key: 7 },
            named_ports: vec![
                port("dns", 53, "UDP"),
                port("http", 80, "TCP"),
                port("m", 9, "SCTP"),
                port("p", 1, "ICMP"),
                port("p", 2, "ICMPV6"),
                port("x", 3, "ANY"),
            ],
            service_account: Some("web".into()),
        }
    }

    /// A CiliumEndpoint whose status carries the parts of `e`.
    fn cep_of(e: &CoreCiliumEndpoint) -> CiliumEndpoint {
        CiliumEndpoint {
            metadata: ObjectMeta {
                name: e.name.to_string(),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            status: CiliumEndpointStatus {
                identity: Some(EndpointIdentity {
                    id: e.id,
                    labels: vec![],
                }),
                networking: Some(e.networking.clone()),
                encryption: Some(e.encryption.clone()),
                named_ports: e.named_ports.clone(),
                service_account: e.service_account.clone(),
            },
        }
    }

    #[test]
    fn encode_renders_what_decode_reads() {
        let mut interner = DataInterner::default();
        let e = canonical();
        let (id, data) = decode(SLICE, 0, &e, &mut interner).unwrap();
        assert_eq!(id, 70_001);
        assert_eq!(data.encryption_key, 7);
        assert_eq!(data.node_ip, Some("192.168.0.1".parse().unwrap()));
        assert_eq!(data.addressing.len(), 2);
        assert_eq!(data.named_ports.len(), 6);
        assert_eq!(data.service_account.as_deref(), Some("web"));
        assert_eq!(encode(&e.name, id, data.view()), e);
        assert_eq!(data.to_core(&e.name, id), e);
    }

    /// The engine's three readers of one entry agree: the consumer's
    /// decode, adoption's decode_exact, and cep_input on a CiliumEndpoint
    /// carrying the same parts.
    #[test]
    fn consumer_adoption_and_cep_input_read_the_same_data() {
        let mut interner = DataInterner::default();
        let e = canonical();
        let consumer = decode(SLICE, 0, &e, &mut interner).unwrap();
        let adopted = decode_exact(&e, &mut interner).unwrap();
        let cep_object = cep_of(&e);
        let cep = cep_input(&cep_object, &mut interner).unwrap();
        assert_eq!(adopted, consumer);
        assert_eq!(cep.identity, Some(consumer.0));
        assert_eq!(cep.data, Some(consumer.1.clone()));
        // Equal port lists are shared, whoever read them.
        assert!(std::ptr::eq(
            adopted.1.named_ports.as_ptr(),
            cep.data.unwrap().named_ports.as_ptr()
        ));
    }

    /// Adoption takes only the exact rendering; the consumer reads a
    /// different spelling of the same values as those values.
    #[test]
    fn adoption_is_exact_where_the_consumer_reads_the_values() {
        let mut interner = DataInterner::default();
        let want = decode(SLICE, 0, &canonical(), &mut interner).unwrap();
        let respelled: Vec<(&str, CoreCiliumEndpoint)> = vec![
            ("upper-case IPv6", {
                let mut e = canonical();
                e.networking.addressing[0].ipv6 = Some("FD00::1".into());
                e
            }),
            ("unsorted named ports", {
                let mut e = canonical();
                e.named_ports.reverse();
                e
            }),
            ("an empty IPv6 for none", {
                let mut e = canonical();
                e.networking.addressing[1].ipv6 = Some(CompactString::default());
                e
            }),
        ];
        for (what, e) in respelled {
            assert_eq!(decode(SLICE, 0, &e, &mut interner).unwrap(), want, "{what}");
            assert_eq!(decode_exact(&e, &mut interner), None, "{what}");
        }
        // An empty node is no node for both; adoption still wants the
        // absent field, as the engine writes it.
        let mut e = canonical();
        e.networking.node = Some(CompactString::default());
        let (_, data) = decode(SLICE, 0, &e, &mut interner).unwrap();
        assert_eq!(data.node_ip, None);
        assert_eq!(decode_exact(&e, &mut interner), None);
        e.networking.node = None;
        assert_eq!(decode_exact(&e, &mut interner).unwrap().1, data);
    }

    /// What the consumer skips, adoption never takes.
    #[test]
    fn a_malformed_entry_is_an_error_for_the_consumer_and_not_ours_for_adoption() {
        let mut interner = DataInterner::default();
        let cases: Vec<(CoreCiliumEndpoint, ErrorCode, &str)> = vec![
            (
                {
                    let mut e = canonical();
                    e.named_ports[0].port = 0;
                    e
                },
                ErrorCode::InvalidPort,
                "endpoints[4].named-ports[0].port",
            ),
            (
                {
                    let mut e = canonical();
                    e.named_ports[1].protocol = "tcp".into();
                    e
                },
                ErrorCode::InvalidProtocol,
                "endpoints[4].named-ports[1].protocol",
            ),
            (
                {
                    let mut e = canonical();
                    e.networking.addressing[1].ipv4 = Some("fd00::2".into());
                    e
                },
                ErrorCode::InvalidIp,
                "endpoints[4].networking.addressing[1].ipv4",
            ),
            (
                {
                    let mut e = canonical();
                    e.networking.addressing =
                        vec![pair(None, None); validate::MAX_ADDRESSES + 1].into();
                    e
                },
                ErrorCode::TooLarge,
                "endpoints[4].networking.addressing",
            ),
            (
                {
                    let mut e = canonical();
                    e.id = -1;
                    e
                },
                ErrorCode::InvalidValue,
                "endpoints[4].id",
            ),
            (
                {
                    let mut e = canonical();
                    e.name = "Web_1".into();
                    e
                },
                ErrorCode::InvalidName,
                "endpoints[4].name",
            ),
        ];
        for (e, code, field) in cases {
            let err = decode(SLICE, 4, &e, &mut interner).unwrap_err();
            assert_eq!((err.code, err.field.as_str()), (code, field), "{err}");
            assert_eq!(err.object, SLICE);
            assert_eq!(decode_exact(&e, &mut interner), None, "{field}");
        }
    }

    /// The two rules that differ between a CiliumEndpoint and a slice
    /// entry, and the identity range.
    #[test]
    fn cilium_endpoint_and_slice_entry_rules_differ_where_documented() {
        let mut interner = DataInterner::default();
        let strings = &mut interner.strings;
        // An empty protocol: TCP in a CiliumEndpoint, malformed in an entry.
        let ports = [port("http", 80, "")];
        let cep = named_ports("o", &ports, Origin::CiliumEndpoint, strings).unwrap();
        assert_eq!(cep[0].protocol, Protocol::Tcp);
        let err = named_ports("o", &ports, Origin::SliceEntry, strings).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidProtocol);
        assert_eq!(err.field, "named-ports[0].protocol");
        // The service account: verbatim in an entry, a DNS-1123 subdomain
        // (empty: none) in a CiliumEndpoint.
        let read = |sa: &str, origin, strings: &mut Interner| {
            service_account("o", Some(sa), origin, strings)
                .map(|s| s.map(|s| s.to_string()))
                .map_err(|e| (e.code, e.field))
        };
        assert_eq!(
            read("", Origin::SliceEntry, strings),
            Ok(Some(String::new()))
        );
        assert_eq!(read("", Origin::CiliumEndpoint, strings), Ok(None));
        assert_eq!(
            read("Not_A_Name", Origin::SliceEntry, strings),
            Ok(Some("Not_A_Name".into()))
        );
        assert_eq!(
            read("Not_A_Name", Origin::CiliumEndpoint, strings),
            Err((ErrorCode::InvalidName, "service-account".into()))
        );
        // Identity 0: an entry may carry it; a CiliumEndpoint may not.
        let mut e = canonical();
        e.id = 0;
        assert_eq!(decode(SLICE, 0, &e, &mut interner).unwrap().0, 0);
        let err = cep_input(&cep_of(&e), &mut interner).unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (ErrorCode::InvalidValue, "status.identity.id")
        );
    }

    /// The same bad part gives the same error from both readers, under
    /// the owner's path.
    #[test]
    fn a_bad_part_names_its_owner() {
        let mut interner = DataInterner::default();
        let mut e = canonical();
        e.named_ports[2].port = 70_000;
        let from_entry = decode(SLICE, 3, &e, &mut interner).unwrap_err();
        let from_cep = cep_input(&cep_of(&e), &mut interner).unwrap_err();
        assert_eq!(from_entry.field, "endpoints[3].named-ports[2].port");
        assert_eq!(from_cep.field, "status.named-ports[2].port");
        assert_eq!(from_cep.object, "CiliumEndpoint ns/web-1");
        assert_eq!(
            (from_entry.code, &from_entry.message),
            (from_cep.code, &from_cep.message)
        );
        assert_eq!(from_cep.message, "port 70000 is outside 1-65535");
    }

    /// The IPv4 fast path spells every octet value in every position as
    /// `Display` does (no leading zeros, no padding).
    #[test]
    fn ipv4_string_is_display() {
        for v in 0..=255u8 {
            for ip in [
                Ipv4Addr::new(v, 0, 0, 0),
                Ipv4Addr::new(1, v, 20, 255),
                Ipv4Addr::new(255, 99, v, 100),
                Ipv4Addr::new(9, 10, 199, v),
                Ipv4Addr::new(v, v, v, v),
            ] {
                assert_eq!(ipv4_string(ip), ip.to_string());
                assert_eq!(ip_string(IpAddr::V4(ip)), ip.to_string());
            }
        }
        let v6: IpAddr = "fd00::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ip_string(v6), v6.to_string());
    }
}
