//! Tables by endpoint slot ([`EndpointIdx`]), stored in fixed chunks of
//! [`CHUNK`] slots: the endpoint records ([`EndpointTable`]) and, in pods
//! mode, the pods' side table.
//!
//! A `Vec` of records doubles its capacity as it grows, so up to half of
//! what it holds is spare (at 100,000 endpoints, 31% of 131,072 slots;
//! at 300,000, 43% of 524,288). Chunks of 1,024 slots leave at most one
//! partly used chunk, and growing never copies the records already there.

use std::ops::{Index, IndexMut};

use crate::slicing::EndpointIdx;

use super::record::Endpoint;

/// Slots per chunk (a power of two).
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Endpoint records by slot (`None`: a free slot); see the module docs.
pub(in crate::engine) type EndpointTable = SlotTable<Option<Endpoint>>;

/// Values by slot; see the module docs.
#[derive(Debug, Clone)]
pub(in crate::engine) struct SlotTable<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for SlotTable<T> {
    fn default() -> Self {
        SlotTable {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> SlotTable<T> {
    /// Slots in use or freed (the next new slot's index).
    pub(in crate::engine) fn len(&self) -> usize {
        self.len
    }

    /// The slot at `i`, if the table has it.
    pub(in crate::engine) fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & (CHUNK - 1))
    }

    /// Adds a slot at the end; returns its index.
    pub(in crate::engine) fn push(&mut self, slot: T) -> EndpointIdx {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            // A cloned chunk holds only what it had: fill it to CHUNK, no more.
            if chunk.len() == chunk.capacity() {
                chunk.reserve_exact(CHUNK - chunk.len());
            }
            chunk.push(slot);
        }
        self.len += 1;
        (self.len - 1) as EndpointIdx
    }

    /// Every slot, in index order.
    pub(in crate::engine) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> Index<usize> for SlotTable<T> {
    type Output = T;

    /// The slot at `i`; like a `Vec`'s, out of range is a bug (callers hold
    /// indexes the table gave out).
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

impl<T> IndexMut<usize> for SlotTable<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_their_index_across_chunks_and_clones() {
        let mut t: EndpointTable = SlotTable::default();
        for i in 0..(2 * CHUNK + 5) {
            assert_eq!(t.push(None), i as EndpointIdx);
        }
        let mut c = t.clone();
        for i in (2 * CHUNK + 5)..(3 * CHUNK + 1) {
            assert_eq!(c.push(None), i as EndpointIdx);
        }
        assert_eq!(c.len(), 3 * CHUNK + 1);
        assert_eq!(c.iter().count(), 3 * CHUNK + 1);
        // A cloned partial chunk is filled to CHUNK slots and no further.
        assert!(c.chunks.iter().all(|ch| ch.capacity() <= CHUNK));
        assert!(c.get(3 * CHUNK).is_some());
        assert!(c.get(3 * CHUNK + 1).is_none());
        assert_eq!(t.len(), 2 * CHUNK + 5);
    }
}
