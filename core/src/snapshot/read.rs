//! The read side of snapshots: what readers on other threads see.
//!
//! [`Snapshot`] is an `Arc` of one immutable content ([`State`]) and its
//! version; [`SnapshotReader`] loads the latest one from an `ArcSwap`
//! without locks. The lookups (key → endpoint, IP → identity / endpoint)
//! are here; the tables are in `snaptable.rs`.

use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::{EndpointView, Fragmentation, FxHasher, NamespaceView, PMap, SliceView};
use crate::identity::IdentityId;
use crate::labels::LabelSet;
use crate::snaptable::{HashIndex, IndexEntry, Radix, mix64};

/// An IP cache entry: the IP and its owner's slot in the endpoint table.
/// The owner's identity is read from [`State::slot_identities`], so an
/// identity change rewrites no IP entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IpEntry {
    pub(super) ip: IpAddr,
    pub(super) slot: u32,
}

#[inline]
fn ip_hash(ip: &IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v) => mix64(u64::from(u32::from(*v)) ^ 0x4000_0000_0000_0000),
        IpAddr::V6(v) => {
            let x = u128::from(*v);
            mix64((x as u64) ^ mix64((x >> 64) as u64))
        }
    }
}

impl IndexEntry for IpEntry {
    #[inline]
    fn hash(&self) -> u64 {
        ip_hash(&self.ip)
    }
}

/// A (namespace, name) index entry: the key's hash and its endpoint slot
/// (the key itself is read from the endpoint table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KeyEntry {
    pub(super) hash: u32,
    pub(super) slot: u32,
}

impl IndexEntry for KeyEntry {
    #[inline]
    fn hash(&self) -> u64 {
        // The table takes a home slot from the high half.
        u64::from(self.hash) << 32
    }
}

pub(super) fn key_hash(namespace: &str, name: &str) -> u32 {
    let mut h = FxHasher::default();
    h.write(namespace.as_bytes());
    h.write_u8(0xff);
    h.write(name.as_bytes());
    h.finish() as u32
}

const EP_LEAF: usize = 16;
const EP_FAN: usize = 16;
/// 256 identities (1 KiB) per leaf: a million slots are 4 MiB, which stays
/// in the last-level cache next to the IP table.
const ID_LEAF: usize = 256;
const ID_FAN: usize = 32;

/// The content of a snapshot (everything but its version).
#[derive(Debug, Clone)]
pub(super) struct State {
    /// Endpoints by dense slot (allocated by the builder).
    pub(super) endpoints: Radix<Option<Arc<EndpointView>>, EP_LEAF, EP_FAN>,
    pub(super) endpoint_count: usize,
    /// The identity of the endpoint at each slot (stale at free slots, which
    /// no IP entry names): IP → identity reads the IP entry, then this
    /// compact table, never the endpoint's view.
    pub(super) slot_identities: Radix<IdentityId, ID_LEAF, ID_FAN>,
    /// (namespace, name) → slot.
    pub(super) keys: HashIndex<KeyEntry>,
    pub(super) slices: PMap<Arc<str>, Arc<SliceView>>,
    pub(super) namespaces: PMap<Arc<str>, NamespaceView>,
    pub(super) identities: PMap<IdentityId, Arc<LabelSet>>,
    pub(super) identity_keys: PMap<Arc<str>, IdentityId>,
    /// IP → the endpoint owning it.
    pub(super) ips: HashIndex<IpEntry>,
    pub(super) identities_in_use: usize,
    pub(super) ideal_total: usize,
    pub(super) max_per_slice: u32,
}

impl PartialEq for State {
    fn eq(&self, o: &State) -> bool {
        self.endpoint_count == o.endpoint_count
            && self.ips.len() == o.ips.len()
            && self.slices == o.slices
            && self.namespaces == o.namespaces
            && self.identities == o.identities
            && self.identity_keys == o.identity_keys
            && self.identities_in_use == o.identities_in_use
            && self.ideal_total == o.ideal_total
            && self.max_per_slice == o.max_per_slice
            && (self.endpoints.ptr_eq(&o.endpoints)
                || self
                    .endpoint_views()
                    .all(|v| o.endpoint(&v.namespace, &v.name) == Some(v)))
            && self.ips.iter().all(|e| {
                o.ip(&e.ip).is_some_and(|(oe, ov)| {
                    o.slot_identity(oe.slot) == self.slot_identity(e.slot)
                        && Some(ov) == self.view(e.slot)
                })
            })
    }
}

impl Eq for State {}

impl State {
    pub(super) fn new(max_per_slice: u32) -> State {
        State {
            endpoints: Radix::new(),
            endpoint_count: 0,
            slot_identities: Radix::new(),
            keys: HashIndex::default(),
            slices: PMap::default(),
            namespaces: PMap::default(),
            identities: PMap::default(),
            identity_keys: PMap::default(),
            ips: HashIndex::default(),
            identities_in_use: 0,
            ideal_total: 0,
            max_per_slice: max_per_slice.max(1),
        }
    }

    pub(super) fn ideal(&self, endpoints: usize) -> usize {
        endpoints.div_ceil(self.max_per_slice as usize)
    }

    #[inline]
    pub(super) fn view(&self, slot: u32) -> Option<&Arc<EndpointView>> {
        self.endpoints.get(slot as usize).and_then(Option::as_ref)
    }

    pub(super) fn endpoint_views(&self) -> impl Iterator<Item = &Arc<EndpointView>> {
        self.endpoints.iter().filter_map(Option::as_ref)
    }

    /// (position in the key index, slot) of a key.
    pub(super) fn find_key(&self, namespace: &str, name: &str) -> Option<(usize, u32)> {
        let h = key_hash(namespace, name);
        self.keys
            .find(u64::from(h) << 32, |e| {
                e.hash == h
                    && self
                        .view(e.slot)
                        .is_some_and(|v| &*v.namespace == namespace && &*v.name == name)
            })
            .map(|(p, e)| (p, e.slot))
    }

    pub(super) fn endpoint(&self, namespace: &str, name: &str) -> Option<&Arc<EndpointView>> {
        self.find_key(namespace, name)
            .and_then(|(_, slot)| self.view(slot))
    }

    #[inline]
    pub(super) fn ip_entry(&self, ip: &IpAddr) -> Option<(usize, &IpEntry)> {
        self.ips.find(ip_hash(ip), |e| e.ip == *ip)
    }

    #[inline]
    pub(super) fn ip(&self, ip: &IpAddr) -> Option<(&IpEntry, &Arc<EndpointView>)> {
        let (_, e) = self.ip_entry(ip)?;
        Some((e, self.view(e.slot)?))
    }

    #[inline]
    pub(super) fn identity_of_ip(&self, ip: &IpAddr) -> Option<IdentityId> {
        self.ip_entry(ip)
            .and_then(|(_, e)| self.slot_identity(e.slot))
    }

    /// The identity of the endpoint at `slot` (`None`: never set).
    #[inline]
    pub(super) fn slot_identity(&self, slot: u32) -> Option<IdentityId> {
        self.slot_identities.get(slot as usize).copied()
    }
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) version: u64,
    pub(super) state: State,
}

/// An immutable point-in-time view. Cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Snapshot(pub(super) Arc<Inner>);

impl Snapshot {
    /// Increases by one with every publish (0: nothing published yet).
    pub fn version(&self) -> u64 {
        self.0.version
    }

    fn s(&self) -> &State {
        &self.0.state
    }

    /// Whether two snapshots hold the same content (versions aside).
    pub fn same_content(&self, other: &Snapshot) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.s() == other.s()
    }

    // -------------------------------------------------------- slices

    /// A slice by name.
    pub fn slice(&self, name: &str) -> Option<&Arc<SliceView>> {
        self.s().slices.get(name)
    }

    /// Every slice.
    pub fn slices(&self) -> impl Iterator<Item = &Arc<SliceView>> {
        self.s().slices.values()
    }

    /// Slice names of a namespace, sorted.
    pub fn slices_in_namespace(&self, namespace: &str) -> impl Iterator<Item = &Arc<str>> {
        self.s()
            .namespaces
            .get(namespace)
            .into_iter()
            .flat_map(|n| n.slices.iter())
    }

    /// The part of a namespace: its slices and endpoint count.
    pub fn namespace(&self, namespace: &str) -> Option<&NamespaceView> {
        self.s().namespaces.get(namespace)
    }

    /// Every namespace with endpoints in slices, with its part.
    pub fn namespaces(&self) -> impl Iterator<Item = (&Arc<str>, &NamespaceView)> {
        self.s().namespaces.iter()
    }

    // -------------------------------------------------------- endpoints

    /// An endpoint by namespace and name.
    pub fn endpoint(&self, namespace: &str, name: &str) -> Option<&Arc<EndpointView>> {
        self.s().endpoint(namespace, name)
    }

    /// Every endpoint in a slice.
    pub fn endpoints(&self) -> impl Iterator<Item = &Arc<EndpointView>> {
        self.s().endpoint_views()
    }

    // -------------------------------------------------------- identities

    /// The security labels of an identity.
    pub fn identity_labels(&self, id: IdentityId) -> Option<&Arc<LabelSet>> {
        self.s().identities.get(&id)
    }

    /// The identity of a canonical labels key (`LabelSet::canonical_key`).
    pub fn identity_by_key(&self, key: &str) -> Option<IdentityId> {
        self.s().identity_keys.get(key).copied()
    }

    /// Every identity the snapshot knows, with its security labels.
    pub fn identities(&self) -> impl Iterator<Item = (&IdentityId, &Arc<LabelSet>)> {
        self.s().identities.iter()
    }

    // -------------------------------------------------------- IP cache

    /// IP → the endpoint owning it (identity, namespace/name, node IP,
    /// encryption key). O(1).
    #[inline]
    pub fn lookup_ip(&self, ip: &IpAddr) -> Option<&Arc<EndpointView>> {
        self.s().ip(ip).map(|(_, v)| v)
    }

    /// IP → identity. O(1).
    #[inline]
    pub fn identity_of_ip(&self, ip: &IpAddr) -> Option<IdentityId> {
        self.s().identity_of_ip(ip)
    }

    /// Every IP with the endpoint owning it.
    pub fn ip_cache(&self) -> impl Iterator<Item = (&IpAddr, &Arc<EndpointView>)> {
        let s = self.s();
        s.ips
            .iter()
            .filter_map(move |e| Some((&e.ip, s.view(e.slot)?)))
    }

    // -------------------------------------------------------- counts

    /// Endpoints in slices.
    pub fn endpoint_count(&self) -> usize {
        self.s().endpoint_count
    }
    /// Slices.
    pub fn slice_count(&self) -> usize {
        self.s().slices.len()
    }
    /// Distinct identities used by the endpoints.
    pub fn identity_count(&self) -> usize {
        self.s().identities_in_use
    }
    /// Namespaces with endpoints in slices.
    pub fn namespace_count(&self) -> usize {
        self.s().namespaces.len()
    }
    /// IPs in the IP cache.
    pub fn ip_count(&self) -> usize {
        self.s().ips.len()
    }
    /// The largest number of endpoints one slice may hold.
    pub fn max_per_slice(&self) -> u32 {
        self.s().max_per_slice
    }

    /// Slices against the ideal, all namespaces.
    pub fn fragmentation(&self) -> Fragmentation {
        Fragmentation {
            slices: self.s().slices.len(),
            ideal: self.s().ideal_total,
        }
    }

    /// Slices against the ideal in one namespace.
    pub fn namespace_fragmentation(&self, namespace: &str) -> Fragmentation {
        match self.s().namespaces.get(namespace) {
            Some(n) => Fragmentation {
                slices: n.slices.len(),
                ideal: self.s().ideal(n.endpoints),
            },
            None => Fragmentation::default(),
        }
    }
}

/// A cloneable handle from which any thread loads the latest snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotReader(pub(super) Arc<ArcSwap<Inner>>);

impl SnapshotReader {
    /// The latest published snapshot (an `Arc` clone; never blocks the writer).
    pub fn load(&self) -> Snapshot {
        Snapshot(self.0.load_full())
    }

    /// Runs `f` on the latest snapshot.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        f(&Snapshot(self.0.load_full()))
    }

    /// IP → identity on the latest snapshot, without cloning it.
    #[inline]
    pub fn identity_of_ip(&self, ip: &IpAddr) -> Option<IdentityId> {
        self.0.load().state.identity_of_ip(ip)
    }

    /// IP → the owning endpoint on the latest snapshot.
    #[inline]
    pub fn lookup_ip(&self, ip: &IpAddr) -> Option<Arc<EndpointView>> {
        self.0.load().state.ip(ip).map(|(_, v)| v.clone())
    }

    /// The version of the latest snapshot (one more per publish).
    pub fn version(&self) -> u64 {
        self.0.load().version
    }
}
