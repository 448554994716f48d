//! The endpoint record: what the engine keeps of each endpoint, compactly.
//!
//! A record is read on every event for its endpoint (the index compares
//! its namespace and name), by every flush of its slice (its stamp, and
//! its content when the slice is rendered) and by compaction: the fewer
//! bytes, the fewer cache lines each of those touches, and at a million
//! endpoints the records are most of what the engine holds. So a record
//! holds ids where many endpoints share a value, and nothing that only
//! some modes need:
//!
//! - identity and slice as 4-byte ids (`None` as a niche or [`NO_ID`]);
//! - an IPv4 node IP inline (4 bytes and a kind), an IPv6 one and the
//!   service account as ids into the counted tables of `shared.rs` (a
//!   node's endpoints share its IP; a service account is shared by a
//!   workload's pods);
//! - the usual single address pair inline ([`Addrs`]);
//! - no arrival number and no pod facts: pods mode keeps both in a side
//!   table ([`PodSide`]); the other modes never wait for an identity after
//!   the initial sync, and before it a record's slot number is its arrival
//!   order (their freed slots are reused only after the sync).
//!
//! The public [`EndpointData`](crate::endpoint::EndpointData) is what comes
//! in and what snapshots hold; the state converts between the two.

use std::num::NonZeroU32;

use compact_str::CompactString;

use crate::endpoint::{Addressing, EndpointData, PortList};
use crate::identity::IdentityId;
use crate::slicing::SliceId;

use super::super::{NO_ID, PodFacts};

/// `Endpoint::node_kind`: no node IP, IPv4 (inline), IPv6 (an id).
pub(super) const NODE_NONE: u8 = 0;
pub(super) const NODE_V4: u8 = 4;
pub(super) const NODE_V6: u8 = 6;

/// An endpoint's address pairs: the usual one inline, others (none, or
/// several) in a boxed slice. 24 bytes, where a `SmallVec` of one pair is 32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::engine) enum Addrs {
    One(Addressing),
    Other(Box<[Addressing]>),
}

impl Addrs {
    pub(in crate::engine) fn from_slice(pairs: &[Addressing]) -> Addrs {
        match pairs {
            [a] => Addrs::One(*a),
            _ => Addrs::Other(pairs.into()),
        }
    }

    pub(in crate::engine) fn as_slice(&self) -> &[Addressing] {
        match self {
            Addrs::One(a) => std::slice::from_ref(a),
            Addrs::Other(v) => v,
        }
    }
}

/// One endpoint's record (see the module docs). The name is held inline
/// when it is short (up to 24 bytes, as `CompactString` does; longer names
/// are on the heap): a lookup compares it without following a pointer.
#[derive(Debug, Clone)]
pub(in crate::engine) struct Endpoint {
    pub(in crate::engine) name: CompactString,
    /// The content stamp (`content_stamp`).
    pub(in crate::engine) stamp: u64,
    pub(in crate::engine) addressing: Addrs,
    pub(in crate::engine) named_ports: PortList,
    pub(in crate::engine) ns: u32,
    /// `None` while waiting for an identity (pods mode: not yet synced, or exhausted).
    identity: Option<NonZeroU32>,
    /// Its slice, or [`NO_ID`].
    slice: u32,
    /// By `node_kind`: nothing, an IPv4 address's bits, or a
    /// `Shared::node_ips` id (IPv6).
    pub(super) node_ip: u32,
    pub(super) node_kind: u8,
    /// `Shared::service_accounts` id, or [`NO_ID`].
    pub(super) service_account: u32,
    pub(in crate::engine) encryption_key: u8,
}

impl Endpoint {
    /// A new record in no slice and with no node IP; `service_account` is
    /// an id of `Shared`'s table (or [`NO_ID`]), acquired for it.
    pub(super) fn new(
        ns: u32,
        name: &str,
        identity: Option<IdentityId>,
        stamp: u64,
        data: EndpointData,
        service_account: u32,
    ) -> Endpoint {
        Endpoint {
            name: CompactString::from(name),
            stamp,
            addressing: Addrs::from_slice(&data.addressing),
            named_ports: data.named_ports,
            ns,
            identity: identity.and_then(NonZeroU32::new),
            slice: NO_ID,
            node_ip: 0,
            node_kind: NODE_NONE,
            service_account,
            encryption_key: data.encryption_key,
        }
    }

    /// Its identity; `None` while it waits for one.
    pub(in crate::engine) fn identity(&self) -> Option<IdentityId> {
        self.identity.map(NonZeroU32::get)
    }

    pub(super) fn set_identity(&mut self, identity: Option<IdentityId>) {
        debug_assert!(identity != Some(0), "identity 0 is no endpoint's");
        self.identity = identity.and_then(NonZeroU32::new);
    }

    /// The slice that holds it.
    pub(in crate::engine) fn slice(&self) -> Option<SliceId> {
        (self.slice != NO_ID).then_some(self.slice)
    }

    pub(super) fn set_slice(&mut self, slice: Option<SliceId>) {
        debug_assert!(slice != Some(NO_ID));
        self.slice = slice.unwrap_or(NO_ID);
    }
}

/// Pods mode: what a pod keeps beside its record, in a table by slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::engine) struct PodSide {
    pub(in crate::engine) facts: PodFacts,
    /// Arrival order (the waiting queue's and refresh order), as two
    /// halves: 4-byte aligned, so the entry is 20 bytes, not 24.
    seq: [u32; 2],
}

impl PodSide {
    /// A slot that holds no pod.
    pub(super) const NONE: PodSide = PodSide {
        facts: PodFacts {
            profile: NO_ID,
            node: NO_ID,
            host_ip: NO_ID,
        },
        seq: [0, 0],
    };

    pub(super) fn new(facts: PodFacts, seq: u64) -> PodSide {
        PodSide {
            facts,
            seq: [(seq >> 32) as u32, seq as u32],
        }
    }

    pub(in crate::engine) fn seq(&self) -> u64 {
        (u64::from(self.seq[0]) << 32) | u64::from(self.seq[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_compact() {
        assert_eq!(std::mem::size_of::<Addrs>(), 24);
        assert!(std::mem::size_of::<Option<Endpoint>>() <= 88);
        assert_eq!(std::mem::size_of::<PodSide>(), 20);
    }

    #[test]
    fn ids_round_trip() {
        let mut e = Endpoint::new(0, "a", Some(7), 0, EndpointData::default(), NO_ID);
        assert_eq!(e.identity(), Some(7));
        assert_eq!(e.slice(), None);
        e.set_slice(Some(0));
        assert_eq!(e.slice(), Some(0));
        e.set_identity(None);
        assert_eq!(e.identity(), None);
        let s = PodSide::new(
            PodFacts {
                profile: 1,
                node: 2,
                host_ip: 3,
            },
            (5 << 32) | 9,
        );
        assert_eq!(s.seq(), (5 << 32) | 9);
        let pairs = [Addressing::default(), Addressing::default()];
        for n in 0..=2 {
            assert_eq!(Addrs::from_slice(&pairs[..n]).as_slice(), &pairs[..n]);
        }
    }
}
