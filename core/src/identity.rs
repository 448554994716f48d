//! Security identities: numbers for label sets (DESIGN.md §3).
//!
//! The allocator maps a canonical label key to a number from the cluster's
//! range, counts the endpoints using it, keeps an unused identity for a
//! grace period (so labels that come back get their old number), and then
//! frees it. It tracks what the API server holds so the engine can plan
//! CiliumIdentity creates and deletes. Time is given by the caller.

use std::collections::BTreeSet;
use std::sync::Arc;

use hashbrown::HashMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{Allocation, IdentityConfig};
use crate::labels::{Label, LabelSet, SOURCE_RESERVED};
use crate::model::{CiliumIdentity, ObjectMeta};

pub type IdentityId = u32;

/// Cilium's reserved identities 1–11, with their labels.
pub const RESERVED: &[(IdentityId, &str)] = &[
    (1, "host"),
    (2, "world"),
    (3, "unmanaged"),
    (4, "health"),
    (5, "init"),
    (6, "remote-node"),
    (7, "kube-apiserver"),
    (8, "ingress"),
    (9, "world-ipv4"),
    (10, "world-ipv6"),
    (11, "encrypted-overlay"),
];

/// The label set of a reserved identity (`reserved:<name>`), if `id` is one.
pub fn reserved_labels(id: IdentityId) -> Option<LabelSet> {
    let (_, name) = RESERVED.iter().find(|(n, _)| *n == id)?;
    Some(match id {
        11 => LabelSet::new(),
        7 => LabelSet::from_labels([
            Label::new(SOURCE_RESERVED, "kube-apiserver", ""),
            Label::new(SOURCE_RESERVED, "remote-node", ""),
        ]),
        _ => LabelSet::from_labels([Label::new(SOURCE_RESERVED, name, "")]),
    })
}

/// What the API server holds for an identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerMeta {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IdentityRecord {
    pub id: IdentityId,
    pub labels: Arc<LabelSet>,
    pub key: Arc<str>,
    /// Endpoints using the identity.
    pub refs: u32,
    /// When `refs` last dropped to zero (or when restored unused).
    pub unused_since: Option<u64>,
    /// The CiliumIdentity on the server, if any.
    pub server: Option<ServerMeta>,
    /// A create or delete for it is in flight.
    pub in_flight: bool,
    /// The grace period ran out: delete it from the server, then forget it.
    pub expired: bool,
}

impl IdentityRecord {
    /// The CiliumIdentity object for this record (DESIGN.md §3).
    pub fn to_object(&self) -> CiliumIdentity {
        let mut o = CiliumIdentity::new(self.id.to_string());
        o.metadata.labels = self.labels.k8s_labels();
        o.security_labels = self.labels.security_labels();
        if let Some(s) = &self.server {
            o.metadata.uid = s.uid.clone();
            o.metadata.resource_version = s.resource_version.clone();
        }
        o
    }
}

/// What happened when an observed CiliumIdentity was taken in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore {
    /// A new or matching record; nothing else to do.
    Recorded,
    /// The same labels already have another number; the observed one is kept
    /// unused and collected after the grace period.
    DuplicateLabels { kept: IdentityId },
    /// The server holds this number for other labels. Our labels moved to
    /// `new` (or wait for a number when `new` is `None`); endpoints using
    /// `old` must follow.
    Renumbered {
        labels: Arc<LabelSet>,
        old: IdentityId,
        new: Option<IdentityId>,
    },
    /// The server holds this number for other labels and ours is already on
    /// the server too: reported, nothing changed.
    Conflict { ours: Arc<str> },
    /// The object's name is not a number in any identity range.
    NotAnIdentity,
}

/// Identity numbers by canonical key. Each entry keeps its key's hash, so
/// a caller that hashed a key once (a pod profile, for all its pods) looks
/// it up without hashing its few hundred bytes again, and the table grows
/// without hashing any key again. A key shared with the entry (the same
/// `Arc`) compares by pointer.
#[derive(Debug, Clone, Default)]
struct KeyIndex {
    table: hashbrown::HashTable<(u64, Arc<str>, IdentityId)>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl KeyIndex {
    fn hash(&self, key: &str) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, key)
    }

    /// Equal text; the same allocation is equal without reading it.
    fn same(a: &str, b: &str) -> bool {
        (std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()) || a == b
    }

    /// The entry of `key`, looked up with `hash`: a hash that is not
    /// `key`'s only misses (an entry is found by its key, never by its hash).
    fn find_hashed(&self, hash: u64, key: &str) -> Option<IdentityId> {
        self.table
            .find(hash, |(h, k, _)| *h == hash && Self::same(k, key))
            .map(|&(_, _, id)| id)
    }

    fn get(&self, key: &str) -> Option<IdentityId> {
        self.find_hashed(self.hash(key), key)
    }

    /// Maps `key` to `id` (replacing its entry, if any).
    fn insert(&mut self, key: Arc<str>, id: IdentityId) {
        let hash = self.hash(&key);
        match self.table.entry(
            hash,
            |(h, k, _)| *h == hash && Self::same(k, &key),
            |&(h, _, _)| h,
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => e.get_mut().2 = id,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert((hash, key, id));
            }
        }
    }

    fn remove(&mut self, key: &str) {
        let hash = self.hash(key);
        if let Ok(e) = self
            .table
            .find_entry(hash, |(h, k, _)| *h == hash && Self::same(k, key))
        {
            e.remove();
        }
    }
}

/// Allocates and tracks identities.
#[derive(Debug, Clone)]
pub struct IdentityAllocator {
    range: (IdentityId, IdentityId),
    allocation: Allocation,
    grace_ms: u64,
    rng: ChaCha8Rng,
    by_key: KeyIndex,
    records: HashMap<IdentityId, IdentityRecord>,
    /// One bit per number of the range: taken.
    used: Vec<u64>,
    used_count: u32,
    /// (grace ends at, id) of unused records.
    gc_queue: BTreeSet<(u64, IdentityId)>,
}

impl IdentityAllocator {
    pub fn new(config: &IdentityConfig, seed: u64) -> Self {
        let range = config.effective_range();
        let size = (range.1 - range.0) as usize + 1;
        IdentityAllocator {
            range,
            allocation: config.allocation,
            grace_ms: config.gc_grace_ms,
            // A stream of its own, so slice names and numbers do not shift each other.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x1d3a_7f00_0000_0001),
            by_key: KeyIndex::default(),
            records: HashMap::new(),
            used: vec![0; size.div_ceil(64)],
            used_count: 0,
            gc_queue: BTreeSet::new(),
        }
    }

    pub fn range(&self) -> (IdentityId, IdentityId) {
        self.range
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Numbers still free in the range.
    pub fn free_count(&self) -> u32 {
        (self.range.1 - self.range.0 + 1) - self.used_count
    }

    pub fn get(&self, id: IdentityId) -> Option<&IdentityRecord> {
        self.records.get(&id)
    }

    #[cfg(test)]
    pub fn lookup_key(&self, key: &str) -> Option<IdentityId> {
        self.by_key.get(key)
    }

    pub fn records(&self) -> impl Iterator<Item = &IdentityRecord> {
        self.records.values()
    }

    fn bit(&self, id: IdentityId) -> Option<(usize, u64)> {
        if id < self.range.0 || id > self.range.1 {
            return None;
        }
        let i = (id - self.range.0) as usize;
        Some((i / 64, 1u64 << (i % 64)))
    }

    fn mark_used(&mut self, id: IdentityId) {
        if let Some((w, m)) = self.bit(id)
            && self.used[w] & m == 0
        {
            self.used[w] |= m;
            self.used_count += 1;
        }
    }

    fn mark_free(&mut self, id: IdentityId) {
        if let Some((w, m)) = self.bit(id)
            && self.used[w] & m != 0
        {
            self.used[w] &= !m;
            self.used_count -= 1;
        }
    }

    /// A free number, by the configured strategy.
    fn pick_free(&mut self) -> Option<IdentityId> {
        if self.free_count() == 0 {
            return None;
        }
        let size = self.range.1 - self.range.0 + 1;
        let start = match self.allocation {
            Allocation::LowestFree => 0,
            Allocation::Random => self.rng.random_range(0..size),
        };
        // Scan word by word from `start`, wrapping once to cover the rest.
        let mut i = start;
        for _ in 0..=self.used.len() {
            let w = (i / 64) as usize;
            let free_from_i = !self.used[w] >> (i % 64);
            if free_from_i != 0 {
                let cand = i + free_from_i.trailing_zeros();
                if cand < size {
                    return Some(self.range.0 + cand);
                }
            }
            let next = (i / 64 + 1) * 64;
            i = if next >= size { 0 } else { next };
        }
        None
    }

    /// Takes a reference on the identity for `labels`, allocating a number
    /// when the labels are new (the record shares `labels` and `key`).
    /// `None` when the range is exhausted.
    pub fn acquire(&mut self, labels: &Arc<LabelSet>, key: &Arc<str>) -> Option<IdentityId> {
        self.acquire_known(labels, key).map(|(id, _)| id)
    }

    /// [`IdentityAllocator::acquire`], and whether `key` had a number
    /// before (one lookup of the key for both).
    pub fn acquire_known(
        &mut self,
        labels: &Arc<LabelSet>,
        key: &Arc<str>,
    ) -> Option<(IdentityId, bool)> {
        let hash = self.key_hash(key);
        self.acquire_known_hashed(labels, key, hash)
    }

    /// The hash [`IdentityAllocator::acquire_known_hashed`] takes for `key`
    /// (the same for every key of equal text, for the allocator's life and
    /// its clones').
    pub fn key_hash(&self, key: &str) -> u64 {
        self.by_key.hash(key)
    }

    /// [`IdentityAllocator::acquire_known`] with `key`'s hash computed
    /// once by the caller ([`IdentityAllocator::key_hash`]). The result
    /// never depends on the hash being right: a wrong one is a miss, and a
    /// miss hashes the key again before it allocates.
    pub fn acquire_known_hashed(
        &mut self,
        labels: &Arc<LabelSet>,
        key: &Arc<str>,
        hash: u64,
    ) -> Option<(IdentityId, bool)> {
        let known = match self.by_key.find_hashed(hash, key) {
            Some(id) => Some(id),
            None => self.by_key.get(key),
        };
        if let Some(id) = known
            && let Some(rec) = self.records.get_mut(&id)
        {
            if rec.refs == 0 {
                if let Some(since) = rec.unused_since.take() {
                    self.gc_queue
                        .remove(&(since.saturating_add(self.grace_ms), id));
                }
                rec.expired = false;
            }
            rec.refs += 1;
            return Some((id, true));
        }
        let id = self.pick_free()?;
        self.mark_used(id);
        let key = key.clone();
        self.by_key.insert(key.clone(), id);
        self.records.insert(
            id,
            IdentityRecord {
                id,
                labels: labels.clone(),
                key,
                refs: 1,
                unused_since: None,
                server: None,
                in_flight: false,
                expired: false,
            },
        );
        Some((id, known.is_some()))
    }

    /// Drops a reference; at zero the grace period starts.
    pub fn release(&mut self, id: IdentityId, now: u64) {
        let grace = self.grace_ms;
        if let Some(rec) = self.records.get_mut(&id)
            && rec.refs > 0
        {
            rec.refs -= 1;
            if rec.refs == 0 {
                rec.unused_since = Some(now);
                self.gc_queue.insert((now.saturating_add(grace), id));
            }
        }
    }

    /// Marks identities whose grace period ended by `now` as expired; returns them.
    /// Expired identities that were never on the server are forgotten at once.
    pub fn expire(&mut self, now: u64) -> Vec<IdentityId> {
        let mut out = Vec::new();
        while let Some(&(at, id)) = self.gc_queue.first() {
            if at > now {
                break;
            }
            self.gc_queue.pop_first();
            let Some(rec) = self.records.get_mut(&id) else {
                continue;
            };
            if rec.refs != 0 {
                continue;
            }
            rec.expired = true;
            out.push(id);
            if rec.server.is_none() && !rec.in_flight {
                self.forget(id);
            }
        }
        out
    }

    /// The earliest time a grace period ends, if any.
    pub fn next_expiry(&self) -> Option<u64> {
        self.gc_queue.first().map(|&(at, _)| at)
    }

    /// Removes a record and frees its number.
    pub fn forget(&mut self, id: IdentityId) {
        if let Some(rec) = self.records.remove(&id) {
            if self.by_key.get(&rec.key) == Some(id) {
                self.by_key.remove(&rec.key);
            }
            if let Some(since) = rec.unused_since {
                self.gc_queue
                    .remove(&(since.saturating_add(self.grace_ms), id));
            }
            self.mark_free(id);
        }
    }

    /// Identities that should be created on the server now, in number order.
    pub fn wanted_creates(&self) -> Vec<IdentityId> {
        let mut v: Vec<IdentityId> = self
            .records
            .values()
            .filter(|r| r.server.is_none() && !r.in_flight && r.refs > 0 && !r.expired)
            .map(|r| r.id)
            .collect();
        v.sort_unstable();
        v
    }

    /// Identities that should be deleted from the server now, in number order.
    pub fn wanted_deletes(&self) -> Vec<IdentityId> {
        let mut v: Vec<IdentityId> = self
            .records
            .values()
            .filter(|r| r.expired && r.server.is_some() && !r.in_flight)
            .map(|r| r.id)
            .collect();
        v.sort_unstable();
        v
    }

    pub fn set_in_flight(&mut self, id: IdentityId, in_flight: bool) {
        if let Some(r) = self.records.get_mut(&id) {
            r.in_flight = in_flight;
        }
    }

    /// A create or delete succeeded (`server` is what it now holds).
    pub fn write_succeeded(&mut self, id: IdentityId, server: Option<ServerMeta>) {
        let Some(r) = self.records.get_mut(&id) else {
            return;
        };
        r.in_flight = false;
        r.server = server;
        if r.server.is_none() && r.expired {
            self.forget(id);
        }
    }

    /// Takes in an observed CiliumIdentity (restart or another writer).
    pub fn observe(&mut self, obj: &CiliumIdentity, now: u64) -> Restore {
        let Ok(id) = obj.metadata.name.parse::<IdentityId>() else {
            return Restore::NotAnIdentity;
        };
        if id < 256 {
            return Restore::NotAnIdentity;
        }
        let labels = LabelSet::from_security_labels(&obj.security_labels);
        let key = labels.canonical_key();
        let meta = server_meta(&obj.metadata);
        if let Some(rec) = self.records.get_mut(&id) {
            if *rec.key == *key {
                rec.server = Some(meta);
                return Restore::Recorded;
            }
            if rec.server.is_some() {
                return Restore::Conflict {
                    ours: rec.key.clone(),
                };
            }
            // Our number was never written: the server's holder wins.
            let ours = self.records.remove(&id);
            self.by_key.remove(key.as_str());
            let mut result = Restore::Recorded;
            if let Some(ours) = ours {
                self.by_key.remove(&ours.key);
                if let Some(since) = ours.unused_since {
                    self.gc_queue
                        .remove(&(since.saturating_add(self.grace_ms), id));
                }
                self.insert_observed(id, labels, key, meta, now, true);
                let refs = ours.refs;
                let new = if refs > 0 {
                    let n = self.acquire(&ours.labels, &ours.key);
                    if let Some(n) = n
                        && let Some(r) = self.records.get_mut(&n)
                    {
                        r.refs = refs;
                    }
                    n
                } else {
                    None
                };
                result = Restore::Renumbered {
                    labels: ours.labels,
                    old: id,
                    new,
                };
            }
            return result;
        }
        if let Some(kept) = self.by_key.get(key.as_str()) {
            // Same labels under two numbers: keep the first, let the other age out.
            self.insert_observed(id, labels, key, meta, now, false);
            return Restore::DuplicateLabels { kept };
        }
        self.insert_observed(id, labels, key, meta, now, true);
        Restore::Recorded
    }

    /// Records an identity the server holds, unused (its grace period starts
    /// now). `select`: it is the number for its labels (else a duplicate).
    fn insert_observed(
        &mut self,
        id: IdentityId,
        labels: LabelSet,
        key: String,
        meta: ServerMeta,
        now: u64,
        select: bool,
    ) {
        let key: Arc<str> = Arc::from(key);
        self.mark_used(id);
        if select {
            self.by_key.insert(key.clone(), id);
        }
        self.records.insert(
            id,
            IdentityRecord {
                id,
                labels: Arc::new(labels),
                key,
                refs: 0,
                unused_since: Some(now),
                server: Some(meta),
                in_flight: false,
                expired: false,
            },
        );
        self.gc_queue
            .insert((now.saturating_add(self.grace_ms), id));
    }

    /// An observed CiliumIdentity was deleted from the server.
    pub fn observe_deleted(&mut self, name: &str) {
        let Ok(id) = name.parse::<IdentityId>() else {
            return;
        };
        let Some(rec) = self.records.get_mut(&id) else {
            return;
        };
        rec.server = None;
        if rec.refs == 0 && !rec.in_flight {
            self.forget(id);
        }
    }
}

fn server_meta(meta: &ObjectMeta) -> ServerMeta {
    ServerMeta {
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IdentityRange;

    fn labels(app: &str) -> (Arc<LabelSet>, Arc<str>) {
        let s = LabelSet::from_labels([Label::k8s("app", app)]);
        let k = Arc::from(s.canonical_key());
        (Arc::new(s), k)
    }

    fn alloc(strategy: Allocation, range: Option<IdentityRange>) -> IdentityAllocator {
        IdentityAllocator::new(
            &IdentityConfig {
                allocation: strategy,
                range,
                gc_grace_ms: 1000,
                ..Default::default()
            },
            42,
        )
    }

    #[test]
    fn a_wrong_or_stale_key_hash_gives_what_the_key_gives() {
        let mut a = alloc(Allocation::LowestFree, None);
        let mut b = alloc(Allocation::LowestFree, None);
        let keys: Vec<_> = (0..40).map(|i| labels(&format!("app{}", i % 13))).collect();
        for (i, (l, k)) in keys.iter().enumerate() {
            // Right, wrong, another key's, or the hash of a copy of the text.
            let hash = match i % 4 {
                0 => a.key_hash(k),
                1 => i as u64,
                2 => a.key_hash(&keys[(i + 1) % keys.len()].1),
                _ => a.key_hash(&String::from(&**k)),
            };
            let copy: Arc<str> = Arc::from(&**k);
            assert_eq!(
                a.acquire_known_hashed(l, &copy, hash),
                b.acquire_known(l, k),
                "{i}"
            );
            if i % 5 == 0 {
                let id = b.lookup_key(k).unwrap();
                a.release(id, 0);
                b.release(id, 0);
            }
        }
        assert_eq!(a.len(), b.len());
        for (_, k) in &keys {
            assert_eq!(a.lookup_key(k), b.lookup_key(k));
            let id = a.lookup_key(k).unwrap();
            assert_eq!(a.get(id).unwrap().refs, b.get(id).unwrap().refs);
        }
        // Forgetting unmaps the key: the next acquire allocates again.
        let (l, k) = &keys[0];
        let id = a.lookup_key(k).unwrap();
        a.forget(id);
        assert_eq!(a.lookup_key(k), None);
        let h = a.key_hash(k);
        assert_eq!(a.acquire_known_hashed(l, k, h), Some((id, false)));
    }

    #[test]
    fn lowest_free_counts_up_and_reuses_after_gc() {
        let mut a = alloc(Allocation::LowestFree, None);
        let (l1, k1) = labels("a");
        let (l2, k2) = labels("b");
        assert_eq!(a.acquire(&l1, &k1), Some(256));
        assert_eq!(a.acquire(&l2, &k2), Some(257));
        assert_eq!(a.acquire(&l1, &k1), Some(256));
        a.release(256, 10);
        a.release(256, 10);
        assert!(a.expire(1009).is_empty());
        // Back within grace: same number.
        assert_eq!(a.acquire(&l1, &k1), Some(256));
        a.release(256, 600);
        assert_eq!(a.expire(1600), vec![256]);
        assert!(
            a.get(256).is_none(),
            "never on the server: forgotten at once"
        );
        let (l3, k3) = labels("c");
        assert_eq!(a.acquire(&l3, &k3), Some(256));
    }

    #[test]
    fn random_is_seeded_and_in_range() {
        let mut a = alloc(Allocation::Random, None);
        let mut b = alloc(Allocation::Random, None);
        for i in 0..200 {
            let (l, k) = labels(&format!("x{i}"));
            let x = a.acquire(&l, &k).unwrap();
            assert_eq!(Some(x), b.acquire(&l, &k));
            assert!((256..=65535).contains(&x));
        }
        assert_eq!(a.len(), 200);
    }

    #[test]
    fn exhaustion_returns_none_and_recovers() {
        for strategy in [Allocation::Random, Allocation::LowestFree] {
            let mut a = alloc(strategy, Some(IdentityRange { min: 300, max: 302 }));
            let mut got = Vec::new();
            for i in 0..3 {
                let (l, k) = labels(&format!("x{i}"));
                got.push(a.acquire(&l, &k).unwrap());
            }
            got.sort_unstable();
            assert_eq!(got, vec![300, 301, 302]);
            let (l, k) = labels("late");
            assert_eq!(a.acquire(&l, &k), None);
            a.release(301, 0);
            a.expire(1000);
            assert_eq!(a.acquire(&l, &k), Some(301));
        }
    }

    #[test]
    fn range_edges_of_a_64_bit_word() {
        let mut a = alloc(
            Allocation::LowestFree,
            Some(IdentityRange {
                min: 256,
                max: 256 + 130,
            }),
        );
        let mut n = Vec::new();
        for i in 0..131 {
            let (l, k) = labels(&format!("x{i}"));
            n.push(a.acquire(&l, &k).unwrap());
        }
        assert_eq!(n, (256..=386).collect::<Vec<_>>());
        let (l, k) = labels("none");
        assert_eq!(a.acquire(&l, &k), None);
    }

    #[test]
    fn restore_keeps_numbers_and_reports_conflicts() {
        let mut a = alloc(Allocation::LowestFree, None);
        let (l1, k1) = labels("a");
        let mut obj = CiliumIdentity::new("1000");
        obj.security_labels = l1.security_labels();
        obj.metadata.uid = Some("u1".into());
        assert_eq!(a.observe(&obj, 0), Restore::Recorded);
        assert_eq!(a.acquire(&l1, &k1), Some(1000));
        // Same labels, another number: duplicate, first kept.
        let mut dup = obj.clone();
        dup.metadata.name = "1001".into();
        assert_eq!(a.observe(&dup, 0), Restore::DuplicateLabels { kept: 1000 });
        // Our unsaved number taken on the server by other labels: we move.
        let (l2, k2) = labels("b");
        let ours = a.acquire(&l2, &k2).unwrap();
        assert_eq!(ours, 256);
        let mut other = CiliumIdentity::new("256");
        other.security_labels = labels("c").0.security_labels();
        match a.observe(&other, 0) {
            Restore::Renumbered { old, new, .. } => {
                assert_eq!(old, 256);
                assert_eq!(new, Some(257));
            }
            r => panic!("unexpected {r:?}"),
        }
        assert_eq!(a.lookup_key(&k2), Some(257));
        assert_eq!(a.get(257).unwrap().refs, 1);
    }

    #[test]
    fn identity_object_shape() {
        let l = LabelSet::from_labels([Label::k8s("app", "web"), Label::new("reserved", "x", "")]);
        let rec = IdentityRecord {
            id: 300,
            key: Arc::from(l.canonical_key()),
            labels: Arc::new(l),
            refs: 1,
            unused_since: None,
            server: None,
            in_flight: false,
            expired: false,
        };
        let o = rec.to_object();
        assert_eq!(o.metadata.name, "300");
        assert_eq!(
            o.metadata.labels.get("app").map(String::as_str),
            Some("web")
        );
        assert_eq!(
            o.security_labels.get("k8s:app").map(String::as_str),
            Some("web")
        );
        assert_eq!(
            o.security_labels.get("reserved:x").map(String::as_str),
            Some("")
        );
    }

    #[test]
    fn reserved_identities() {
        assert_eq!(
            reserved_labels(2).unwrap().canonical_key(),
            "reserved:world=;"
        );
        assert_eq!(
            reserved_labels(7).unwrap().canonical_key(),
            "reserved:kube-apiserver=;reserved:remote-node=;"
        );
        assert!(reserved_labels(12).is_none());
    }
}
