//! Lock-free snapshots (DESIGN.md §6).
//!
//! A [`Snapshot`] is an immutable, versioned view of the endpoints, slices,
//! identities and the IP cache. It is an `Arc` inside: cloning is O(1), and it
//! is `Send + Sync`. A [`SnapshotReader`] is a handle over an `ArcSwap` from
//! which any thread loads the latest snapshot without locks and without ever
//! making the writer wait.
//!
//! The writer (the engine or the consumer) owns an internal `SnapshotBuilder`: the
//! next snapshot's parts, changed in place for what changed only.
//! Publishing clones the parts (O(1) each, structure is shared with the
//! previous snapshot) and stores the result: a publish costs O(what changed
//! since the last one), never O(cluster).
//!
//! The parts (see `snaptable.rs`):
//! - endpoints: `Arc<EndpointView>`s by a dense slot (the engine's endpoint
//!   index; the consumer's from the builder's free list) in a copy-on-write
//!   radix of 16-slot leaves;
//! - (namespace, name) → slot and IP → (identity, slot): open-addressing
//!   hash tables of plain `Copy` entries in copy-on-write leaves (copying a
//!   leaf bumps no refcounts; IP → identity reads one entry);
//! - slices, namespaces, identities: persistent maps (`imbl`), small next to
//!   the endpoints.

use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hashbrown::{HashMap, HashSet};
use smallvec::SmallVec;

use crate::identity::IdentityId;
use crate::labels::LabelSet;
use crate::slicing::EndpointIdx;

/// What a snapshot says about an endpoint besides its name and identity
/// ([`EndpointView::data`]), with the types of its parts.
pub use crate::endpoint::{Addressing, EndpointData, PortEntry, Protocol as PortProtocol};
use crate::snaptable::{HashIndex, IndexEntry, Radix, mix64};

/// A small deterministic hasher (FxHash-style) for the persistent maps: no
/// random state, so iteration order is the same on every run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Final avalanche so the HAMT's top bits are spread.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

type Fx = BuildHasherDefault<FxHasher>;
/// A persistent hash map with a deterministic hasher.
pub(crate) type PMap<K, V> = imbl::GenericHashMap<K, V, Fx, imbl::shared_ptr::DefaultSharedPtr>;
/// A persistent ordered set.
pub(crate) type PSet<T> = imbl::OrdSet<T>;

/// (namespace, name) of an endpoint.
pub type EndpointKey = (Arc<str>, Arc<str>);

/// One endpoint as a snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    /// The endpoint's namespace.
    pub namespace: Arc<str>,
    /// The endpoint's name.
    pub name: Arc<str>,
    /// The slice holding it (the consumer: the current copy's slice).
    pub slice: Arc<str>,
    /// The endpoint's security identity.
    pub identity: IdentityId,
    /// Addresses, node IP, encryption key, named ports, service account.
    pub data: EndpointData,
}

impl EndpointView {
    /// (namespace, name): the endpoint's key.
    pub fn key(&self) -> EndpointKey {
        (self.namespace.clone(), self.name.clone())
    }
    /// The endpoint's IP addresses.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.data.ips()
    }
    /// The IP of the node the endpoint runs on, if known.
    pub fn node_ip(&self) -> Option<IpAddr> {
        self.data.node_ip
    }
    /// The node's encryption key index (0: none).
    pub fn encryption_key(&self) -> u8 {
        self.data.encryption_key
    }
}

/// One slice as a snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceView {
    /// The slice's name.
    pub name: Arc<str>,
    /// The namespace all its endpoints are in.
    pub namespace: Arc<str>,
    /// Endpoint names, sorted.
    pub endpoints: Arc<[Arc<str>]>,
}

/// Per-namespace part of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceView {
    /// Names of the namespace's slices, sorted.
    pub slices: PSet<Arc<str>>,
    /// How many endpoints the namespace has in slices.
    pub endpoints: usize,
}

/// Slices against the ideal count (⌈endpoints / max per slice⌉).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fragmentation {
    /// Slices there are.
    pub slices: usize,
    /// Slices there would be at best: ⌈endpoints / max per slice⌉ per namespace.
    pub ideal: usize,
}

impl Fragmentation {
    /// slices / ideal (1.0 when both are 0).
    pub fn ratio(&self) -> f64 {
        if self.ideal == 0 {
            if self.slices == 0 { 1.0 } else { f64::INFINITY }
        } else {
            self.slices as f64 / self.ideal as f64
        }
    }
}

/// An IP cache entry: the identity next to the IP (one cache miss for
/// IP → identity), and the owner's slot in the endpoint table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpEntry {
    ip: IpAddr,
    identity: IdentityId,
    slot: u32,
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
struct KeyEntry {
    hash: u32,
    slot: u32,
}

impl IndexEntry for KeyEntry {
    #[inline]
    fn hash(&self) -> u64 {
        // The table takes a home slot from the high half.
        u64::from(self.hash) << 32
    }
}

fn key_hash(namespace: &str, name: &str) -> u32 {
    let mut h = FxHasher::default();
    h.write(namespace.as_bytes());
    h.write_u8(0xff);
    h.write(name.as_bytes());
    h.finish() as u32
}

const EP_LEAF: usize = 16;
const EP_FAN: usize = 16;

/// The content of a snapshot (everything but its version).
#[derive(Debug, Clone)]
struct State {
    /// Endpoints by dense slot (allocated by the builder).
    endpoints: Radix<Option<Arc<EndpointView>>, EP_LEAF, EP_FAN>,
    endpoint_count: usize,
    /// (namespace, name) → slot.
    keys: HashIndex<KeyEntry>,
    slices: PMap<Arc<str>, Arc<SliceView>>,
    namespaces: PMap<Arc<str>, NamespaceView>,
    identities: PMap<IdentityId, Arc<LabelSet>>,
    identity_keys: PMap<Arc<str>, IdentityId>,
    /// IP → the endpoint owning it.
    ips: HashIndex<IpEntry>,
    identities_in_use: usize,
    ideal_total: usize,
    max_per_slice: u32,
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
                    oe.identity == e.identity && Some(ov) == self.view(e.slot)
                })
            })
    }
}

impl Eq for State {}

impl State {
    fn new(max_per_slice: u32) -> State {
        State {
            endpoints: Radix::new(),
            endpoint_count: 0,
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

    fn ideal(&self, endpoints: usize) -> usize {
        endpoints.div_ceil(self.max_per_slice as usize)
    }

    #[inline]
    fn view(&self, slot: u32) -> Option<&Arc<EndpointView>> {
        self.endpoints.get(slot as usize).and_then(Option::as_ref)
    }

    fn endpoint_views(&self) -> impl Iterator<Item = &Arc<EndpointView>> {
        self.endpoints.iter().filter_map(Option::as_ref)
    }

    /// (position in the key index, slot) of a key.
    fn find_key(&self, namespace: &str, name: &str) -> Option<(usize, u32)> {
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

    fn endpoint(&self, namespace: &str, name: &str) -> Option<&Arc<EndpointView>> {
        self.find_key(namespace, name)
            .and_then(|(_, slot)| self.view(slot))
    }

    #[inline]
    fn ip_entry(&self, ip: &IpAddr) -> Option<(usize, &IpEntry)> {
        self.ips.find(ip_hash(ip), |e| e.ip == *ip)
    }

    #[inline]
    fn ip(&self, ip: &IpAddr) -> Option<(&IpEntry, &Arc<EndpointView>)> {
        let (_, e) = self.ip_entry(ip)?;
        Some((e, self.view(e.slot)?))
    }

    #[inline]
    fn identity_of_ip(&self, ip: &IpAddr) -> Option<IdentityId> {
        self.ip_entry(ip).map(|(_, e)| e.identity)
    }
}

#[derive(Debug)]
struct Inner {
    version: u64,
    state: State,
}

/// An immutable point-in-time view. Cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Snapshot(Arc<Inner>);

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
pub struct SnapshotReader(Arc<ArcSwap<Inner>>);

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

/// Who owns an IP claimed by two endpoints at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpOwnership {
    /// The smallest (namespace, name): independent of the order of changes
    /// (the engine: incremental publishes equal a rebuild).
    SmallestKey,
    /// The endpoint upserted last (the agent's ipcache); when the owner goes,
    /// the most recent remaining claimant takes over (unless
    /// [`SnapshotBuilder::set_ip_rules`] turns handover off).
    Newest,
}

/// The writer's side: the next snapshot's parts, changed in place.
#[derive(Debug)]
pub(crate) struct SnapshotBuilder {
    next: State,
    version: u64,
    swap: Arc<ArcSwap<Inner>>,
    ownership: IpOwnership,
    /// IPs claimed by more than one endpoint: the claimants other than the
    /// owner, oldest first.
    ip_others: HashMap<IpAddr, SmallVec<[EndpointKey; 1]>>,
    id_refs: HashMap<IdentityId, u32>,
    /// Labels key → identities holding it (more than one only in odd clusters).
    key_ids: HashMap<Arc<str>, SmallVec<[IdentityId; 1]>>,
    /// Per identity, the labels key it is indexed under.
    id_keys: HashMap<IdentityId, Arc<str>>,
    /// Free endpoint slots (reused last freed first: deterministic).
    free_slots: Vec<u32>,
    /// Slots ever handed out.
    slots_used: u32,
    /// Slots come from the caller (`set_endpoint_at`), not `free_slots`.
    caller_slots: bool,
    /// An endpoint without a node IP claims none of its IPs (the agent's
    /// IP cache: the datapath cannot route to it).
    ips_need_node_ip: bool,
    /// When an IP's owner goes, the most recent remaining claimant takes the
    /// entry over (`false`: the entry goes, as in Cilium's ipcache).
    ip_handover: bool,
}

/// A clone publishes to its own readers (a cloned engine must not store
/// into the original's handle); they start at the original's latest snapshot.
impl Clone for SnapshotBuilder {
    fn clone(&self) -> Self {
        SnapshotBuilder {
            next: self.next.clone(),
            version: self.version,
            swap: Arc::new(ArcSwap::new(self.swap.load_full())),
            ownership: self.ownership,
            ip_others: self.ip_others.clone(),
            id_refs: self.id_refs.clone(),
            key_ids: self.key_ids.clone(),
            id_keys: self.id_keys.clone(),
            free_slots: self.free_slots.clone(),
            slots_used: self.slots_used,
            caller_slots: self.caller_slots,
            ips_need_node_ip: self.ips_need_node_ip,
            ip_handover: self.ip_handover,
        }
    }
}

impl SnapshotBuilder {
    pub fn new(max_per_slice: u32, ownership: IpOwnership) -> SnapshotBuilder {
        let next = State::new(max_per_slice);
        let swap = Arc::new(ArcSwap::from_pointee(Inner {
            version: 0,
            state: next.clone(),
        }));
        SnapshotBuilder {
            next,
            version: 0,
            swap,
            ownership,
            ip_others: HashMap::new(),
            id_refs: HashMap::new(),
            key_ids: HashMap::new(),
            id_keys: HashMap::new(),
            free_slots: Vec::new(),
            slots_used: 0,
            caller_slots: false,
            ips_need_node_ip: false,
            ip_handover: true,
        }
    }

    /// The agent's IP-cache rules (the consumer, DESIGN.md §7), set before
    /// the first change: `need_node_ip`: an endpoint without a node IP
    /// claims no IP-cache entries; `handover`: when the owner of an IP other
    /// endpoints also claim goes, the most recent remaining claimant takes
    /// the entry (`false`: the entry is removed). The defaults are
    /// `false, true`.
    pub fn set_ip_rules(&mut self, need_node_ip: bool, handover: bool) {
        self.ips_need_node_ip = need_node_ip;
        self.ip_handover = handover;
    }

    /// The IPs an endpoint claims in the IP cache.
    fn claimed_ips(&self, view: &EndpointView) -> SmallVec<[IpAddr; 2]> {
        if self.ips_need_node_ip && view.node_ip().is_none() {
            SmallVec::new()
        } else {
            view.ips().collect()
        }
    }

    pub fn reader(&self) -> SnapshotReader {
        SnapshotReader(self.swap.clone())
    }

    /// The view of an endpoint in the next snapshot.
    pub fn endpoint(&self, key: &EndpointKey) -> Option<&Arc<EndpointView>> {
        self.next.endpoint(&key.0, &key.1)
    }

    /// IP → owner in the next snapshot.
    pub fn peek_ip(&self, ip: &IpAddr) -> Option<Arc<EndpointView>> {
        self.next.ip(ip).map(|(_, v)| v.clone())
    }

    /// IP cache size in the next snapshot.
    pub fn peek_ip_count(&self) -> usize {
        self.next.ips.len()
    }

    /// Publishes the next snapshot: O(1) clones of the parts, one store.
    pub fn publish(&mut self) -> Snapshot {
        self.version += 1;
        let inner = Arc::new(Inner {
            version: self.version,
            state: self.next.clone(),
        });
        self.swap.store(inner.clone());
        Snapshot(inner)
    }

    /// The next snapshot without publishing it (for comparisons).
    pub fn peek(&self) -> Snapshot {
        Snapshot(Arc::new(Inner {
            version: self.version,
            state: self.next.clone(),
        }))
    }

    fn ns_entry(&mut self, ns: &Arc<str>) -> NamespaceView {
        self.next.namespaces.get(ns).cloned().unwrap_or_default()
    }

    fn put_ns(&mut self, ns: Arc<str>, view: NamespaceView) {
        if view.endpoints == 0 && view.slices.is_empty() {
            self.next.namespaces.remove(&ns);
        } else {
            self.next.namespaces.insert(ns, view);
        }
    }

    /// Sets (or removes, `None`) an endpoint. `labels` are its identity's
    /// labels when known. Returns the previous view.
    pub fn set_endpoint(
        &mut self,
        key: &EndpointKey,
        new: Option<EndpointView>,
        labels: Option<Arc<LabelSet>>,
    ) -> Option<Arc<EndpointView>> {
        let found = self.next.find_key(&key.0, &key.1).map(|(_, slot)| slot);
        self.set_endpoint_in(found, None, key, new, labels)
    }

    /// [`SnapshotBuilder::set_endpoint`] at a slot the caller allocates (the
    /// engine's dense endpoint index: no key lookup for an update). An
    /// endpoint of another key still at `slot` is removed first. Do not mix
    /// with `set_endpoint` adds on one builder.
    pub fn set_endpoint_at(
        &mut self,
        slot: u32,
        key: &EndpointKey,
        new: Option<EndpointView>,
        labels: Option<Arc<LabelSet>>,
    ) -> Option<Arc<EndpointView>> {
        self.caller_slots = true;
        let here = self
            .next
            .view(slot)
            .map(|v| (v.namespace == key.0 && v.name == key.1, v.key()));
        match here {
            Some((true, _)) => self.set_endpoint_in(Some(slot), None, key, new, labels),
            other => {
                if let Some((_, k)) = other {
                    self.set_endpoint_in(Some(slot), None, &k, None, None);
                }
                let elsewhere = self.next.find_key(&key.0, &key.1).map(|(_, s)| s);
                let old = match elsewhere {
                    Some(s) => self.set_endpoint_in(Some(s), None, key, None, None),
                    None => None,
                };
                self.set_endpoint_in(None, Some(slot), key, new, labels);
                old
            }
        }
    }

    fn set_endpoint_in(
        &mut self,
        found: Option<u32>,
        at: Option<u32>,
        key: &EndpointKey,
        new: Option<EndpointView>,
        labels: Option<Arc<LabelSet>>,
    ) -> Option<Arc<EndpointView>> {
        let old = found.and_then(|slot| self.next.view(slot)).cloned();
        if old.as_deref() == new.as_ref() {
            if let (Some(n), Some(l)) = (&new, labels) {
                self.set_identity_labels(n.identity, Some(l));
            }
            if let (Some(o), Some(slot), IpOwnership::Newest) = (&old, found, self.ownership) {
                // A re-upsert takes its IPs back (agent semantics).
                for ip in self.claimed_ips(o) {
                    self.claim_ip(ip, slot);
                }
            }
            return old;
        }
        let new_ips: SmallVec<[IpAddr; 2]> = match &new {
            Some(n) => self.claimed_ips(n),
            None => SmallVec::new(),
        };
        if let Some(o) = &old {
            for ip in self.claimed_ips(o) {
                if !new_ips.contains(&ip) {
                    self.release_ip(ip, key);
                }
            }
        }
        // Namespace endpoint counts.
        if old.is_some() != new.is_some() {
            let mut ns = self.ns_entry(&key.0);
            let before = self.next.ideal(ns.endpoints);
            if new.is_some() {
                ns.endpoints += 1;
            } else {
                ns.endpoints = ns.endpoints.saturating_sub(1);
            }
            let after = self.next.ideal(ns.endpoints);
            self.next.ideal_total = self.next.ideal_total + after - before;
            self.put_ns(key.0.clone(), ns);
        }
        match new {
            Some(n) => {
                let id = n.identity;
                let slot = match found {
                    Some(slot) => slot,
                    None => {
                        let slot = match at {
                            Some(slot) => slot,
                            None => self.alloc_slot(),
                        };
                        self.next.keys.insert_new(KeyEntry {
                            hash: key_hash(&key.0, &key.1),
                            slot,
                        });
                        self.next.endpoint_count += 1;
                        slot
                    }
                };
                self.next.endpoints.set(slot as usize, Some(Arc::new(n)));
                for ip in new_ips {
                    self.claim_ip(ip, slot);
                }
                let r = self.id_refs.entry(id).or_insert(0);
                *r += 1;
                if *r == 1 {
                    self.next.identities_in_use += 1;
                }
                if labels.is_some() {
                    self.set_identity_labels(id, labels);
                }
            }
            None => {
                if let Some(slot) = found {
                    if let Some((pos, _)) = self.next.find_key(&key.0, &key.1) {
                        self.next.keys.remove_at(pos);
                    }
                    self.next.endpoints.set(slot as usize, None);
                    self.next.endpoint_count = self.next.endpoint_count.saturating_sub(1);
                    if !self.caller_slots {
                        self.free_slots.push(slot);
                    }
                }
            }
        }
        if let Some(o) = &old {
            self.unref_identity(o.identity);
        }
        old
    }

    fn unref_identity(&mut self, id: IdentityId) {
        if let Some(r) = self.id_refs.get_mut(&id) {
            *r -= 1;
            if *r == 0 {
                self.id_refs.remove(&id);
                self.next.identities_in_use -= 1;
                self.drop_identity_labels(id);
            }
        }
    }

    fn drop_identity_labels(&mut self, id: IdentityId) {
        self.next.identities.remove(&id);
        if let Some(key) = self.id_keys.remove(&id) {
            let mut now_empty = false;
            if let Some(ids) = self.key_ids.get_mut(&key) {
                ids.retain(|i| *i != id);
                now_empty = ids.is_empty();
                match ids.iter().min() {
                    Some(&m) => {
                        self.next.identity_keys.insert(key.clone(), m);
                    }
                    None => {
                        self.next.identity_keys.remove(&key);
                    }
                }
            }
            if now_empty {
                self.key_ids.remove(&key);
            }
        }
    }

    /// Sets the labels of an identity in use (ignored when no endpoint uses it).
    pub fn set_identity_labels(&mut self, id: IdentityId, labels: Option<Arc<LabelSet>>) {
        if !self.id_refs.contains_key(&id) {
            return;
        }
        match labels {
            None => self.drop_identity_labels(id),
            Some(l) => {
                if self.next.identities.get(&id).is_some_and(|cur| *cur == l) {
                    return;
                }
                self.drop_identity_labels(id);
                let key: Arc<str> = Arc::from(l.canonical_key());
                self.next.identities.insert(id, l);
                self.id_keys.insert(id, key.clone());
                let ids = self.key_ids.entry(key.clone()).or_default();
                ids.push(id);
                if let Some(&m) = ids.iter().min() {
                    self.next.identity_keys.insert(key, m);
                }
            }
        }
    }

    fn alloc_slot(&mut self) -> u32 {
        match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.slots_used = self.slots_used.saturating_add(1);
                self.slots_used - 1
            }
        }
    }

    /// The endpoint at `slot` claims `ip`.
    fn claim_ip(&mut self, ip: IpAddr, slot: u32) {
        let Some(view) = self.next.view(slot) else {
            return;
        };
        let entry = IpEntry {
            ip,
            identity: view.identity,
            slot,
        };
        let (pos, owner_slot) = match self.next.ip_entry(&ip) {
            None => {
                self.next.ips.insert_new(entry);
                return;
            }
            Some((pos, e)) => (pos, e.slot),
        };
        let owner = match self.next.view(owner_slot) {
            Some(o) if owner_slot != slot => o,
            _ => {
                self.next.ips.replace_at(pos, entry);
                return;
            }
        };
        let key = view.key();
        let owner_key = owner.key();
        let take = match self.ownership {
            IpOwnership::SmallestKey => key < owner_key,
            IpOwnership::Newest => true,
        };
        let others = self.ip_others.entry(ip).or_default();
        if take {
            others.retain(|k| *k != key);
            others.push(owner_key);
            self.next.ips.replace_at(pos, entry);
        } else if !others.contains(&key) {
            others.push(key);
        }
    }

    fn release_ip(&mut self, ip: IpAddr, key: &EndpointKey) {
        let Some((pos, owner_slot)) = self.next.ip_entry(&ip).map(|(p, e)| (p, e.slot)) else {
            // Not in the cache: at most a claimant.
            if let Some(others) = self.ip_others.get_mut(&ip) {
                others.retain(|k| k != key);
                if others.is_empty() {
                    self.ip_others.remove(&ip);
                }
            }
            return;
        };
        let is_owner = self
            .next
            .view(owner_slot)
            .is_some_and(|o| o.namespace == key.0 && o.name == key.1);
        let Some(others) = self.ip_others.get_mut(&ip) else {
            if is_owner {
                self.next.ips.remove_at(pos);
            }
            return;
        };
        if !is_owner {
            others.retain(|k| k != key);
            if others.is_empty() {
                self.ip_others.remove(&ip);
            }
            return;
        }
        if !self.ip_handover {
            // The entry goes with its owner; the other claimants are
            // forgotten (they claim it again on their next upsert).
            self.ip_others.remove(&ip);
            self.next.ips.remove_at(pos);
            return;
        }
        let pick = match self.ownership {
            IpOwnership::Newest => others.len().checked_sub(1),
            IpOwnership::SmallestKey => others
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.cmp(b.1))
                .map(|(i, _)| i),
        };
        let successor = pick.map(|i| others.remove(i));
        if others.is_empty() {
            self.ip_others.remove(&ip);
        }
        let next = successor.and_then(|k| {
            let (_, slot) = self.next.find_key(&k.0, &k.1)?;
            Some(IpEntry {
                ip,
                identity: self.next.view(slot)?.identity,
                slot,
            })
        });
        match next {
            Some(e) => self.next.ips.replace_at(pos, e),
            None => self.next.ips.remove_at(pos),
        }
    }

    /// Sets (or removes) a slice.
    pub fn set_slice(&mut self, name: &Arc<str>, new: Option<SliceView>) {
        let old = self.next.slices.get(name).cloned();
        if old.as_deref() == new.as_ref() {
            return;
        }
        let old_ns = old.as_ref().map(|o| o.namespace.clone());
        let new_ns = new.as_ref().map(|n| n.namespace.clone());
        if old_ns != new_ns {
            if let Some(ns) = old_ns {
                let mut v = self.ns_entry(&ns);
                v.slices.remove(name);
                self.put_ns(ns, v);
            }
            if let Some(ns) = new_ns {
                let mut v = self.ns_entry(&ns);
                v.slices.insert(name.clone());
                self.put_ns(ns, v);
            }
        }
        match new {
            Some(n) => {
                self.next.slices.insert(name.clone(), Arc::new(n));
            }
            None => {
                self.next.slices.remove(name);
            }
        }
    }
}

/// What an engine reports to its snapshot publisher, per endpoint slot.
pub(crate) struct EngineEndpoint {
    pub key: EndpointKey,
    /// `None` when the endpoint is in no slice (waiting, not synced).
    pub view: Option<EndpointView>,
    pub labels: Option<Arc<LabelSet>>,
}

/// The engine's snapshot bookkeeping: what changed since the last publish
/// (keys, not a scan) and the builder. Inactive (records nothing) until the
/// first publish or reader.
#[derive(Debug, Clone)]
pub(crate) struct Publisher {
    pub builder: SnapshotBuilder,
    active: bool,
    changed: HashSet<EndpointIdx>,
    removed: HashSet<EndpointKey>,
    identities: HashSet<IdentityId>,
}

impl Publisher {
    pub fn new(max_per_slice: u32) -> Publisher {
        Publisher {
            builder: SnapshotBuilder::new(max_per_slice, IpOwnership::SmallestKey),
            active: false,
            changed: HashSet::new(),
            removed: HashSet::new(),
            identities: HashSet::new(),
        }
    }

    /// Marks the publisher active; returns whether it was not before (the
    /// caller then feeds everything once).
    pub fn activate(&mut self) -> bool {
        !std::mem::replace(&mut self.active, true)
    }

    /// An endpoint's content, identity or slice changed.
    #[inline]
    pub fn endpoint_changed(&mut self, idx: EndpointIdx) {
        if self.active {
            self.changed.insert(idx);
        }
    }

    /// An endpoint went away (its slot may be reused).
    #[inline]
    pub fn endpoint_removed(&mut self, namespace: &Arc<str>, name: &Arc<str>) {
        if self.active {
            self.removed.insert((namespace.clone(), name.clone()));
        }
    }

    /// An identity's labels may have changed.
    #[inline]
    pub fn identity_changed(&mut self, id: IdentityId) {
        if self.active {
            self.identities.insert(id);
        }
    }

    /// What changed since the last publish: (removed keys, changed slots,
    /// identities), sorted for determinism; the sets are emptied.
    pub fn take_changes(&mut self) -> (Vec<EndpointKey>, Vec<EndpointIdx>, Vec<IdentityId>) {
        let mut removed: Vec<EndpointKey> = self.removed.drain().collect();
        removed.sort_unstable();
        let mut changed: Vec<EndpointIdx> = self.changed.drain().collect();
        changed.sort_unstable();
        let mut ids: Vec<IdentityId> = self.identities.drain().collect();
        ids.sort_unstable();
        // Draining a set walks its whole table: after the first publish fed
        // every endpoint, give the memory back so later publishes stay
        // O(changes).
        const KEEP: usize = 4096;
        if self.changed.capacity() > 4 * KEEP {
            self.changed.shrink_to(KEEP);
        }
        if self.removed.capacity() > 4 * KEEP {
            self.removed.shrink_to(KEEP);
        }
        if self.identities.capacity() > 4 * KEEP {
            self.identities.shrink_to(KEEP);
        }
        (removed, changed, ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Addressing;
    use std::net::Ipv4Addr;

    fn key(ns: &str, name: &str) -> EndpointKey {
        (Arc::from(ns), Arc::from(name))
    }

    fn view(k: &EndpointKey, identity: IdentityId, ips: &[u32]) -> EndpointView {
        EndpointView {
            namespace: k.0.clone(),
            name: k.1.clone(),
            slice: Arc::from("s1"),
            identity,
            data: EndpointData {
                addressing: ips
                    .iter()
                    .map(|&i| Addressing {
                        ipv4: Some(Ipv4Addr::from(i)),
                        ipv6: None,
                    })
                    .collect(),
                ..EndpointData::default()
            },
        }
    }

    fn ip(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(i))
    }

    fn owner(s: &Snapshot, i: u32) -> Option<(String, IdentityId)> {
        let v = s.lookup_ip(&ip(i))?;
        assert_eq!(s.identity_of_ip(&ip(i)), Some(v.identity));
        Some((v.name.to_string(), v.identity))
    }

    #[test]
    fn slots_are_reused_after_removal_and_held_snapshots_keep_theirs() {
        let mut b = SnapshotBuilder::new(100, IpOwnership::SmallestKey);
        // Enough endpoints to cross several leaves and radix levels.
        let keys: Vec<EndpointKey> = (0..1000).map(|i| key("ns", &format!("p{i}"))).collect();
        for (i, k) in keys.iter().enumerate() {
            b.set_endpoint(k, Some(view(k, 1 + (i % 7) as u32, &[i as u32])), None);
        }
        let held = b.publish();
        for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            assert!(b.set_endpoint(k, None, None).is_some(), "{i}");
        }
        let slots_before = b.slots_used;
        // New endpoints take the freed slots: no growth.
        let fresh: Vec<EndpointKey> = (0..334).map(|i| key("other", &format!("q{i}"))).collect();
        for (i, k) in fresh.iter().enumerate() {
            b.set_endpoint(k, Some(view(k, 9, &[100_000 + i as u32])), None);
        }
        assert_eq!(b.slots_used, slots_before);
        let now = b.publish();
        assert_eq!(held.endpoint_count(), 1000);
        assert_eq!(now.endpoint_count(), 1000 - 334 + 334);
        for (i, k) in keys.iter().enumerate() {
            assert!(held.endpoint(&k.0, &k.1).is_some());
            assert_eq!(now.endpoint(&k.0, &k.1).is_some(), i % 3 != 0, "{i}");
            assert_eq!(held.identity_of_ip(&ip(i as u32)), Some(1 + (i % 7) as u32));
            let want = (i % 3 != 0).then_some(1 + (i % 7) as u32);
            assert_eq!(now.identity_of_ip(&ip(i as u32)), want, "{i}");
        }
        for (i, k) in fresh.iter().enumerate() {
            assert_eq!(now.endpoint(&k.0, &k.1).map(|v| v.identity), Some(9));
            assert!(held.endpoint(&k.0, &k.1).is_none());
            assert_eq!(owner(&now, 100_000 + i as u32), Some((k.1.to_string(), 9)));
        }
        assert_eq!(now.endpoints().count(), now.endpoint_count());
        assert_eq!(now.ip_cache().count(), now.ip_count());
        // Incremental == built from scratch, whatever the slots.
        let mut r = SnapshotBuilder::new(100, IpOwnership::SmallestKey);
        for v in now.endpoints() {
            r.set_endpoint(&v.key(), Some((**v).clone()), None);
        }
        assert!(r.peek().same_content(&now));
        assert!(!held.same_content(&now));
    }

    #[test]
    fn ip_moves_between_endpoints_smallest_key() {
        let mut b = SnapshotBuilder::new(100, IpOwnership::SmallestKey);
        let (ka, kb, kc) = (key("ns", "a"), key("ns", "b"), key("ns", "c"));
        b.set_endpoint(&kb, Some(view(&kb, 2, &[1])), None);
        b.set_endpoint(&kc, Some(view(&kc, 3, &[1])), None);
        assert_eq!(owner(&b.peek(), 1), Some(("b".into(), 2)));
        b.set_endpoint(&ka, Some(view(&ka, 1, &[1])), None);
        assert_eq!(owner(&b.peek(), 1), Some(("a".into(), 1)));
        // The owner's identity changes: the cache follows.
        b.set_endpoint(&ka, Some(view(&ka, 11, &[1])), None);
        assert_eq!(owner(&b.peek(), 1), Some(("a".into(), 11)));
        b.set_endpoint(&ka, None, None);
        assert_eq!(owner(&b.peek(), 1), Some(("b".into(), 2)));
        // b moves to another IP: c takes over 1.
        b.set_endpoint(&kb, Some(view(&kb, 2, &[2])), None);
        assert_eq!(owner(&b.peek(), 1), Some(("c".into(), 3)));
        assert_eq!(owner(&b.peek(), 2), Some(("b".into(), 2)));
        b.set_endpoint(&kc, None, None);
        assert_eq!(owner(&b.peek(), 1), None);
        assert_eq!(b.peek_ip_count(), 1);
    }

    #[test]
    fn ip_moves_between_endpoints_newest() {
        let mut b = SnapshotBuilder::new(100, IpOwnership::Newest);
        let (ka, kb, kc) = (key("ns", "a"), key("ns", "b"), key("ns", "c"));
        b.set_endpoint(&ka, Some(view(&ka, 1, &[1])), None);
        b.set_endpoint(&kc, Some(view(&kc, 3, &[1])), None);
        b.set_endpoint(&kb, Some(view(&kb, 2, &[1])), None);
        assert_eq!(owner(&b.peek(), 1), Some(("b".into(), 2)));
        // A re-upsert of the same content takes the IP back.
        b.set_endpoint(&ka, Some(view(&ka, 1, &[1])), None);
        assert_eq!(owner(&b.peek(), 1), Some(("a".into(), 1)));
        // The owner goes: the most recent remaining claimant (b) takes over.
        b.set_endpoint(&ka, None, None);
        assert_eq!(owner(&b.peek(), 1), Some(("b".into(), 2)));
        b.set_endpoint(&kb, None, None);
        assert_eq!(owner(&b.peek(), 1), Some(("c".into(), 3)));
        // A non-owner leaving changes nothing.
        b.set_endpoint(&ka, Some(view(&ka, 1, &[1])), None);
        b.set_endpoint(&kc, None, None);
        assert_eq!(owner(&b.peek(), 1), Some(("a".into(), 1)));
        b.set_endpoint(&ka, None, None);
        assert_eq!(owner(&b.peek(), 1), None);
        assert_eq!(b.peek().endpoint_count(), 0);
        assert_eq!(b.peek_ip_count(), 0);
    }

    #[test]
    fn caller_slots_evict_a_stale_key_and_match_a_rebuild() {
        let mut b = SnapshotBuilder::new(100, IpOwnership::SmallestKey);
        let (ka, kb, kc) = (key("ns", "a"), key("ns", "b"), key("ns", "c"));
        b.set_endpoint_at(0, &ka, Some(view(&ka, 1, &[1])), None);
        b.set_endpoint_at(17, &kb, Some(view(&kb, 2, &[2])), None);
        let held = b.publish();
        // Slot 0 now holds c: a goes, with its IP.
        assert!(
            b.set_endpoint_at(0, &kc, Some(view(&kc, 3, &[3])), None)
                .is_none()
        );
        // An update in place returns the old view.
        let old = b.set_endpoint_at(17, &kb, Some(view(&kb, 5, &[2])), None);
        assert_eq!(old.map(|o| o.identity), Some(2));
        let now = b.publish();
        assert!(now.endpoint("ns", "a").is_none());
        assert_eq!(owner(&now, 1), None);
        assert_eq!(owner(&now, 2), Some(("b".into(), 5)));
        assert_eq!(owner(&now, 3), Some(("c".into(), 3)));
        assert_eq!(owner(&held, 1), Some(("a".into(), 1)));
        assert_eq!(now.endpoint_count(), 2);
        let mut r = SnapshotBuilder::new(100, IpOwnership::SmallestKey);
        r.set_endpoint(&kc, Some(view(&kc, 3, &[3])), None);
        r.set_endpoint(&kb, Some(view(&kb, 5, &[2])), None);
        assert!(r.peek().same_content(&now));
        // Leaving the slice: the endpoint goes from the snapshot.
        b.set_endpoint_at(17, &kb, None, None);
        assert!(b.peek().endpoint("ns", "b").is_none());
        assert_eq!(b.peek_ip_count(), 1);
    }
}
