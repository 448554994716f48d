//! Content stamps: a 64-bit summary of what a slice says about an
//! endpoint (name, identity, addresses, node IP, key, ports, service
//! account). Equal content, equal stamp; the engine compares stamps, never
//! contents, to tell whether a slice needs a write (see `engine/mod.rs`).

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

use crate::endpoint::DataRef;
use crate::identity::IdentityId;

/// The stamp of an entry's content: equal content, equal stamp (DESIGN: a
/// write equal to what the server holds is not sent, and a change undone
/// before the flush costs nothing).
///
/// A 64-bit foldhash (its `quality` variant) with a fixed seed: the same
/// content has the same stamp in every run and process, and nothing but
/// equality of stamps is used (no order, no output). Two different contents
/// with equal stamps would be taken as equal, and a write skipped: for
/// contents that are not chosen to collide that is a chance of about 2^-64
/// per pair compared, as with the SipHash (fixed keys) used before.
///
/// The content is fed as a few whole words rather than field by field
/// (the derived `Hash` writes every option's tag, every address's length
/// and bytes separately: about twice the work). The words say which parts
/// follow (an address present or not, a v4 or v6 node IP), lists are
/// preceded by their lengths and strings end in `0xff` (no UTF-8 byte), so
/// two different contents are never fed as the same sequence.
pub(in crate::engine) fn content_stamp(
    name: &str,
    identity: Option<IdentityId>,
    data: DataRef<'_>,
) -> u64 {
    const SEED: u64 = 0x5eed_5a1c_e91a_4e00;
    let mut h = foldhash::quality::FixedState::with_seed(SEED).build_hasher();
    name.hash(&mut h);
    h.write_u64(identity.map_or(1 << 32, u64::from));
    h.write_usize(data.addressing.len());
    for a in data.addressing {
        let v4 = a.ipv4.map_or(0, |ip| u64::from(u32::from(ip)) | (1 << 32));
        h.write_u64(v4 | (u64::from(a.ipv6.is_some()) << 33));
        if let Some(v6) = a.ipv6 {
            h.write_u128(u128::from(v6));
        }
    }
    let key = u64::from(data.encryption_key);
    match data.node_ip {
        None => h.write_u64(key),
        Some(IpAddr::V4(ip)) => h.write_u64(key | (1 << 8) | (u64::from(u32::from(ip)) << 16)),
        Some(IpAddr::V6(ip)) => {
            h.write_u64(key | (2 << 8));
            h.write_u128(u128::from(ip));
        }
    }
    h.write_usize(data.named_ports.len());
    for p in data.named_ports.iter() {
        p.name.hash(&mut h);
        h.write_u64(u64::from(p.port) | ((p.protocol as u64) << 16));
    }
    match data.service_account {
        None => h.write_u8(0),
        Some(sa) => {
            h.write_u8(1);
            sa.hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::endpoint::EndpointData;

    /// Contents that differ in any one part have different stamps; equal
    /// contents equal ones.
    #[test]
    fn stamps_tell_every_part_apart() {
        use crate::endpoint::{Addressing, PortEntry, Protocol};
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let v4 = |x: u8| Some(Ipv4Addr::new(10, 0, 0, x));
        let v6 = |x: u16| Some(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, x));
        let pair = |a, b| Addressing { ipv4: a, ipv6: b };
        let port = |name: &str, port, protocol| PortEntry {
            name: Arc::from(name),
            port,
            protocol,
        };
        let base = EndpointData {
            addressing: smallvec::smallvec![pair(v4(1), None)],
            node_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1))),
            encryption_key: 0,
            named_ports: vec![port("http", 80, Protocol::Tcp)].into(),
            service_account: None,
        };
        let mut variants: Vec<(&str, Option<IdentityId>, EndpointData)> =
            vec![("a", Some(1), base.clone())];
        let mut vary = |f: &dyn Fn(&mut EndpointData)| {
            let mut d = base.clone();
            f(&mut d);
            variants.push(("a", Some(1), d));
        };
        vary(&|d| d.addressing = smallvec::smallvec![]);
        vary(&|d| d.addressing = smallvec::smallvec![pair(None, None)]);
        vary(&|d| d.addressing = smallvec::smallvec![pair(v4(2), None)]);
        vary(&|d| d.addressing = smallvec::smallvec![pair(v4(1), v6(1))]);
        vary(&|d| d.addressing = smallvec::smallvec![pair(None, v6(1))]);
        vary(&|d| d.addressing = smallvec::smallvec![pair(v4(1), None), pair(None, None)]);
        vary(&|d| d.node_ip = None);
        vary(&|d| d.node_ip = Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        vary(&|d| d.node_ip = Some(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2))));
        vary(&|d| d.encryption_key = 1);
        vary(&|d| d.named_ports = Default::default());
        vary(&|d| d.named_ports = vec![port("http", 81, Protocol::Tcp)].into());
        vary(&|d| d.named_ports = vec![port("http", 80, Protocol::Udp)].into());
        vary(&|d| d.named_ports = vec![port("htt", 80, Protocol::Tcp)].into());
        vary(&|d| d.service_account = Some(Arc::from("")));
        vary(&|d| d.service_account = Some(Arc::from("sa")));
        variants.push(("b", Some(1), base.clone()));
        variants.push(("a", Some(2), base.clone()));
        variants.push(("a", None, base.clone()));
        for (i, (n1, id1, d1)) in variants.iter().enumerate() {
            assert_eq!(
                content_stamp(n1, *id1, d1.view()),
                content_stamp(n1, *id1, d1.clone().view()),
                "variant {i}"
            );
            for (j, (n2, id2, d2)) in variants.iter().enumerate().skip(i + 1) {
                assert_ne!(
                    content_stamp(n1, *id1, d1.view()),
                    content_stamp(n2, *id2, d2.view()),
                    "variants {i} and {j}"
                );
            }
        }
    }
}
