//! The endpoint index by key: (namespace id, name) → slot.
//!
//! The table holds slot numbers only; a key is read from the record in the
//! slot (4 bytes an entry instead of a copy of the key), so every probe
//! compares against the [`EndpointTable`] the caller passes in. Callers
//! hash a key once ([`KeyIndex::hash`]) and use that hash for the lookup
//! and the insert or removal that follows it.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::slicing::EndpointIdx;

use super::table::EndpointTable;

/// Slots by (namespace id, name); see the module docs.
#[derive(Debug, Clone, Default)]
pub(super) struct KeyIndex {
    table: HashTable<EndpointIdx>,
    hasher: hashbrown::DefaultHashBuilder,
}

/// An endpoint's key: namespace id and name.
#[derive(Hash)]
struct EpKey<'a>(u32, &'a str);

/// Whether slot `i` holds the endpoint `ns`/`name`.
fn is_key(eps: &EndpointTable, i: EndpointIdx, ns: u32, name: &str) -> bool {
    eps.get(i as usize)
        .and_then(Option::as_ref)
        .is_some_and(|e| e.ns == ns && e.name.as_str() == name)
}

impl KeyIndex {
    /// The hash of a key.
    #[inline]
    pub(super) fn hash(&self, ns: u32, name: &str) -> u64 {
        self.hasher.hash_one(EpKey(ns, name))
    }

    /// The slot of `ns`/`name`, whose hash is `hash`.
    #[inline]
    pub(super) fn find(
        &self,
        eps: &EndpointTable,
        hash: u64,
        ns: u32,
        name: &str,
    ) -> Option<EndpointIdx> {
        self.table
            .find(hash, |&i| is_key(eps, i, ns, name))
            .copied()
    }

    /// Indexes slot `idx`, whose record (in `eps`) has a key of hash
    /// `hash` that is not indexed yet.
    #[inline]
    pub(super) fn insert(&mut self, eps: &EndpointTable, hash: u64, idx: EndpointIdx) {
        let hasher = &self.hasher;
        self.table.insert_unique(hash, idx, |&i| {
            eps.get(i as usize)
                .and_then(Option::as_ref)
                .map_or(0, |e| hasher.hash_one(EpKey(e.ns, e.name.as_str())))
        });
    }

    /// Takes `ns`/`name` (hash `hash`) out of the index; its slot.
    #[inline]
    pub(super) fn remove(
        &mut self,
        eps: &EndpointTable,
        hash: u64,
        ns: u32,
        name: &str,
    ) -> Option<EndpointIdx> {
        let (idx, _) = self
            .table
            .find_entry(hash, |&i| is_key(eps, i, ns, name))
            .ok()?
            .remove();
        Some(idx)
    }

    /// Indexed endpoints.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every indexed slot, in no order.
    #[inline]
    pub(super) fn iter(&self) -> impl Iterator<Item = EndpointIdx> + '_ {
        self.table.iter().copied()
    }

    #[cfg(test)]
    pub(super) fn clear(&mut self) {
        self.table.clear();
    }
}
