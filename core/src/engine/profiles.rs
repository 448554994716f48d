//! Pods mode: what a pod's identity is computed from, shared between pods.
//!
//! A pod's security labels depend on its namespace, its identity-relevant
//! labels and its service account: its **profile**. Pods of one
//! deployment share one (and so do the old and new pods of a rolling
//! update: `pod-template-hash` is not identity-relevant), so the table
//! holds one entry per distinct profile and a pod holds its `u32` id. An
//! entry keeps its labels packed into one string, counts the pods using
//! it, and caches its security labels and their key (shared with the
//! identity allocator's record). Entries no pod uses are dropped by
//! [`Profiles::prune`], so a pod whose labels come back soon reuses its
//! cache.

use std::hash::BuildHasher;
use std::sync::Arc;

use crate::labels::{KeepMemo, LabelFilter, LabelSet};

/// The pod labels of a profile: identity-relevant `(key, value)` pairs in
/// key order, packed into one string with their end offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packed {
    text: Box<str>,
    /// End of each key, then of its value, in `text`.
    ends: Box<[u32]>,
}

impl Packed {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let text = &*self.text;
        self.ends.chunks_exact(2).scan(0usize, move |at, e| {
            let (k_end, v_end) = (e[0] as usize, e[1] as usize);
            let key = text.get(*at..k_end).unwrap_or("");
            let value = text.get(k_end..v_end).unwrap_or("");
            *at = v_end;
            Some((key, value))
        })
    }
}

/// A profile's security labels, their canonical key (shared with the
/// identity record) and the key's hash in the identity allocator, computed
/// once for all the profile's pods.
#[derive(Debug, Clone)]
pub(super) struct Security {
    pub(super) key: Arc<str>,
    pub(super) labels: Arc<LabelSet>,
    pub(super) key_hash: u64,
}

#[derive(Debug, Clone)]
pub(super) struct Profile {
    pub(super) ns: u32,
    pub(super) service_account: Arc<str>,
    labels: Packed,
    /// Pods using it.
    refs: u32,
    /// Security labels and their canonical key, once computed (cleared when
    /// the namespace's labels change).
    pub(super) security: Option<Security>,
}

impl Profile {
    /// The identity-relevant labels, `(key, value)` in key order.
    pub(super) fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.pairs()
    }
}

/// The profile table (see the module docs).
#[derive(Debug, Clone, Default)]
pub(super) struct Profiles {
    entries: Vec<Option<Profile>>,
    free: Vec<u32>,
    /// Slot numbers, hashed by (namespace, service account, packed labels).
    index: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    /// Live entries after the last prune.
    pruned_at: usize,
    /// The labels of the lookup in progress, packed as a profile packs
    /// them (kept between lookups for its capacity): hashed and compared
    /// as two byte strings, not pair by pair.
    scratch: (String, Vec<u32>),
}

fn hash_of(
    hasher: &hashbrown::DefaultHashBuilder,
    ns: u32,
    sa: &str,
    text: &str,
    ends: &[u32],
) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = hasher.build_hasher();
    ns.hash(&mut h);
    sa.hash(&mut h);
    text.hash(&mut h);
    ends.hash(&mut h);
    h.finish()
}

impl Profiles {
    /// The profile of a pod (one more pod uses it): namespace `ns`, labels
    /// `labels` (key order) and service account `sa`. Only identity-relevant
    /// labels are kept: `filter` decides, through the memo.
    pub(super) fn acquire<'a>(
        &mut self,
        filter: &LabelFilter,
        memo: &mut KeepMemo,
        ns: u32,
        labels: impl Iterator<Item = (&'a str, &'a str)>,
        sa: &Arc<str>,
    ) -> u32 {
        let (text, ends) = &mut self.scratch;
        text.clear();
        ends.clear();
        for (k, v) in labels {
            if !k.starts_with(crate::labels::CILIUM_K8S_PREFIX) && memo.keeps(filter, k) {
                text.push_str(k);
                ends.push(text.len() as u32);
                text.push_str(v);
                ends.push(text.len() as u32);
            }
        }
        let (text, ends) = (text.as_str(), ends.as_slice());
        let hash = hash_of(&self.hasher, ns, sa, text, ends);
        let entries = &self.entries;
        let found = self.index.find(hash, |&i| {
            entries
                .get(i as usize)
                .and_then(Option::as_ref)
                .is_some_and(|p| {
                    p.ns == ns
                        && *p.service_account == **sa
                        && *p.labels.text == *text
                        && *p.labels.ends == *ends
                })
        });
        if let Some(&id) = found {
            if let Some(Some(p)) = self.entries.get_mut(id as usize) {
                p.refs += 1;
            }
            return id;
        }
        let profile = Profile {
            ns,
            service_account: sa.clone(),
            labels: Packed {
                text: Box::from(text),
                ends: Box::from(ends),
            },
            refs: 1,
            security: None,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Some(profile);
                id
            }
            None => {
                self.entries.push(Some(profile));
                (self.entries.len() - 1) as u32
            }
        };
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index
            .insert_unique(hash, id, |&i| match entries.get(i as usize) {
                Some(Some(p)) => hash_of(
                    hasher,
                    p.ns,
                    &p.service_account,
                    &p.labels.text,
                    &p.labels.ends,
                ),
                _ => 0,
            });
        id
    }

    /// One pod fewer uses profile `id` (it stays until [`Profiles::prune`]).
    pub(super) fn release(&mut self, id: u32) {
        if let Some(Some(p)) = self.entries.get_mut(id as usize) {
            p.refs = p.refs.saturating_sub(1);
        }
    }

    /// Profile `id`.
    pub(super) fn get(&self, id: u32) -> Option<&Profile> {
        self.entries.get(id as usize)?.as_ref()
    }

    /// Caches the security labels of profile `id`.
    pub(super) fn set_security(&mut self, id: u32, security: Security) {
        if let Some(Some(p)) = self.entries.get_mut(id as usize) {
            p.security = Some(security);
        }
    }

    /// The namespace's labels changed: its profiles' security labels are stale.
    pub(super) fn namespace_changed(&mut self, ns: u32) {
        for p in self.entries.iter_mut().flatten() {
            if p.ns == ns {
                p.security = None;
            }
        }
    }

    /// Drops the profiles no pod uses, once the table doubled since the
    /// last prune (at least 1,024 entries).
    pub(super) fn prune(&mut self) {
        let len = self.entries.len() - self.free.len();
        if len < 1024 || len < 2 * self.pruned_at {
            return;
        }
        for (i, slot) in self.entries.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|p| p.refs == 0) {
                *slot = None;
                self.free.push(i as u32);
            }
        }
        let entries = &self.entries;
        self.index
            .retain(|&mut i| entries.get(i as usize).is_some_and(Option::is_some));
        self.pruned_at = self.entries.len() - self.free.len();
    }

    /// Live entries (used or not yet pruned).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }
}

/// Interned values with a count of users: `u32` ids instead of copies.
/// An id is freed (and may be reused) when its last user releases it.
#[derive(Debug, Clone)]
pub(super) struct Counted<T> {
    values: Vec<Option<(T, u32)>>,
    free: Vec<u32>,
    index: hashbrown::HashMap<T, u32>,
}

impl<T> Default for Counted<T> {
    fn default() -> Self {
        Counted {
            values: Vec::new(),
            free: Vec::new(),
            index: hashbrown::HashMap::new(),
        }
    }
}

impl<T: Clone + Eq + std::hash::Hash> Counted<T> {
    /// The id of `v` (one more user).
    pub(super) fn acquire(&mut self, v: T) -> u32 {
        if let Some(&id) = self.index.get(&v) {
            if let Some(Some((_, n))) = self.values.get_mut(id as usize) {
                *n += 1;
            }
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.values[id as usize] = Some((v.clone(), 1));
                id
            }
            None => {
                self.values.push(Some((v.clone(), 1)));
                (self.values.len() - 1) as u32
            }
        };
        self.index.insert(v, id);
        id
    }

    /// One user of `id` fewer; the last frees it.
    pub(super) fn release(&mut self, id: u32) {
        let Some(slot) = self.values.get_mut(id as usize) else {
            return;
        };
        if let Some((v, n)) = slot {
            *n -= 1;
            if *n == 0 {
                self.index.remove(v);
                *slot = None;
                self.free.push(id);
            }
        }
    }

    /// The value of `id`.
    pub(super) fn get(&self, id: u32) -> Option<&T> {
        self.values.get(id as usize)?.as_ref().map(|(v, _)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(
        v: &[(&'static str, &'static str)],
    ) -> impl Iterator<Item = (&'static str, &'static str)> {
        v.iter().copied()
    }

    #[test]
    fn pods_differing_in_irrelevant_labels_share_a_profile() {
        let f = LabelFilter::default_filter();
        let mut p = Profiles::default();
        let mut m = KeepMemo::default();
        let sa: Arc<str> = Arc::from("web");
        let a = p.acquire(
            &f,
            &mut m,
            0,
            pairs(&[("app", "web"), ("pod-template-hash", "1")]),
            &sa,
        );
        let b = p.acquire(
            &f,
            &mut m,
            0,
            pairs(&[("app", "web"), ("pod-template-hash", "2")]),
            &sa,
        );
        assert_eq!(a, b);
        let other_ns = p.acquire(&f, &mut m, 1, pairs(&[("app", "web")]), &sa);
        let other_sa = p.acquire(&f, &mut m, 0, pairs(&[("app", "web")]), &Arc::from("x"));
        let other_labels = p.acquire(&f, &mut m, 0, pairs(&[("app", "web"), ("tier", "a")]), &sa);
        let ids = [a, other_ns, other_sa, other_labels];
        for (i, x) in ids.iter().enumerate() {
            assert!(!ids[i + 1..].contains(x), "{ids:?}");
        }
        let got = p.get(a).unwrap();
        assert_eq!((got.ns, &*got.service_account), (0, "web"));
        assert_eq!(got.labels().collect::<Vec<_>>(), vec![("app", "web")]);
        assert!(got.security.is_none());
    }

    #[test]
    fn labels_packed_alike_but_split_differently_are_different_profiles() {
        let f = LabelFilter::default_filter();
        let mut p = Profiles::default();
        let mut m = KeepMemo::default();
        let sa: Arc<str> = Arc::from("");
        let a = p.acquire(&f, &mut m, 0, pairs(&[("ab", "c")]), &sa);
        let b = p.acquire(&f, &mut m, 0, pairs(&[("a", "bc")]), &sa);
        let c = p.acquire(&f, &mut m, 0, pairs(&[("a", "b"), ("c", "")]), &sa);
        assert!(a != b && b != c && a != c);
        assert_eq!(p.acquire(&f, &mut m, 0, pairs(&[("a", "bc")]), &sa), b);
        assert_eq!(
            p.get(c).unwrap().labels().collect::<Vec<_>>(),
            vec![("a", "b"), ("c", "")]
        );
    }

    #[test]
    fn unused_profiles_are_pruned_and_ids_reused() {
        let f = LabelFilter::default_filter();
        let mut p = Profiles::default();
        let mut m = KeepMemo::default();
        let sa: Arc<str> = Arc::from("");
        let names: Vec<String> = (0..2000).map(|i| format!("a{i}")).collect();
        let ids: Vec<u32> = names
            .iter()
            .map(|n| p.acquire(&f, &mut m, 0, [("app", n.as_str())].into_iter(), &sa))
            .collect();
        for &id in &ids[..1500] {
            p.release(id);
        }
        p.prune();
        assert_eq!(p.len(), 500);
        let again = p.acquire(&f, &mut m, 0, [("app", "a1999")].into_iter(), &sa);
        assert_eq!(again, ids[1999], "a used profile keeps its id");
        let new = p.acquire(&f, &mut m, 0, [("app", "new")].into_iter(), &sa);
        assert!(ids[..1500].contains(&new), "a freed id is reused");
        assert_eq!(
            p.get(new).unwrap().labels().collect::<Vec<_>>(),
            vec![("app", "new")]
        );
    }

    #[test]
    fn counted_values_are_freed_by_their_last_user() {
        let mut c: Counted<u8> = Counted::default();
        let a = c.acquire(7);
        assert_eq!(c.acquire(7), a);
        c.release(a);
        assert_eq!(c.get(a), Some(&7));
        c.release(a);
        assert_eq!(c.get(a), None);
        assert_eq!(c.acquire(9), a);
    }
}
