//! The write side of snapshots: what the writer (the engine or the
//! consumer) feeds on each change, and how the next snapshot is made.
//!
//! [`SnapshotBuilder`] holds the next snapshot's content and changes it in
//! place (copy-on-write: the published snapshots keep theirs); it owns the
//! IP-ownership rules (which claimant of a shared IP owns the entry) and the
//! identity refcounts. [`Publisher`] is the engine's change set: which
//! endpoints and identities changed since the last publish.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hashbrown::{HashMap, HashSet};
use smallvec::SmallVec;

use super::read::{Inner, IpEntry, KeyEntry, State, key_hash};
use super::{EndpointKey, EndpointView, NamespaceView, SliceView, Snapshot, SnapshotReader};
use crate::identity::IdentityId;
use crate::labels::LabelSet;
use crate::slicing::EndpointIdx;

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

    /// The view at a slot the caller allocated ([`SnapshotBuilder::set_endpoint_at`])
    /// in the next snapshot.
    pub fn endpoint_at(&self, slot: u32) -> Option<&Arc<EndpointView>> {
        self.next.view(slot)
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
        let old_ips: SmallVec<[IpAddr; 2]> = match &old {
            Some(o) => self.claimed_ips(o),
            None => SmallVec::new(),
        };
        for &ip in &old_ips {
            if !new_ips.contains(&ip) {
                self.release_ip(ip, key);
            }
        }
        // Under the smallest key with handover, an IP the endpoint kept has
        // the owner it had (this endpoint, or a smaller key): claiming it
        // again would change nothing, so only its new IPs are claimed.
        let kept_ips_settled = self.ownership == IpOwnership::SmallestKey && self.ip_handover;
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
                if self.next.slot_identity(slot) != Some(id) {
                    self.next.slot_identities.set(slot as usize, id);
                }
                for ip in new_ips {
                    if !(kept_ips_settled && old_ips.contains(&ip)) {
                        self.claim_ip(ip, slot);
                    }
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
        let entry = IpEntry { ip, slot };
        let (pos, owner_slot) = match self.next.ip_entry(&ip) {
            None => {
                self.next.ips.insert_new(entry);
                return;
            }
            Some((pos, e)) => (pos, e.slot),
        };
        if owner_slot == slot {
            // Already the owner (its identity is read from the slot).
            return;
        }
        let owner = match self.next.view(owner_slot) {
            Some(o) => o,
            None => {
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
            self.next.view(slot)?;
            Some(IpEntry { ip, slot })
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
    pub fn endpoint_removed(&mut self, namespace: &Arc<str>, name: &str) {
        if self.active {
            self.removed.insert((namespace.clone(), Arc::from(name)));
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
    use crate::endpoint::{Addressing, EndpointData};
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
    fn identity_changes_reach_ip_lookups_and_leave_held_snapshots_alone() {
        let mut b = SnapshotBuilder::new(100, IpOwnership::SmallestKey);
        let (ka, kb) = (key("ns", "a"), key("ns", "b"));
        // a owns the shared IP 1 (smaller key); b also owns IP 2.
        b.set_endpoint(&ka, Some(view(&ka, 1, &[1])), None);
        b.set_endpoint(&kb, Some(view(&kb, 2, &[1, 2])), None);
        let held = b.publish();
        // The claimant's identity changes: the shared IP stays a's.
        b.set_endpoint(&kb, Some(view(&kb, 20, &[1, 2])), None);
        let now = b.publish();
        assert_eq!(owner(&now, 1), Some(("a".into(), 1)));
        assert_eq!(owner(&now, 2), Some(("b".into(), 20)));
        assert_eq!(owner(&held, 2), Some(("b".into(), 2)));
        // The owner's identity changes: its IP follows, the held one not.
        b.set_endpoint(&ka, Some(view(&ka, 10, &[1])), None);
        let now = b.publish();
        assert_eq!(owner(&now, 1), Some(("a".into(), 10)));
        assert_eq!(owner(&held, 1), Some(("a".into(), 1)));
        // The owner goes: b takes IP 1 over with its current identity.
        b.set_endpoint(&ka, None, None);
        let now = b.publish();
        assert_eq!(owner(&now, 1), Some(("b".into(), 20)));
        assert_eq!(owner(&held, 1), Some(("a".into(), 1)));
        assert_eq!(now.ip_count(), 2);
        let mut r = SnapshotBuilder::new(100, IpOwnership::SmallestKey);
        r.set_endpoint(&kb, Some(view(&kb, 20, &[1, 2])), None);
        assert!(r.peek().same_content(&now));
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
