//! Copy-on-write tables behind the snapshots (see `snapshot/`).
//!
//! - [`Radix`]: a persistent array indexed by a dense `usize`: a radix tree
//!   of fan-out 16 over leaf chunks of `L` slots (`Arc<[T; L]>`). Cloning is
//!   one refcount bump; a write copies the path to its leaf (`Arc::make_mut`),
//!   so a publish after `k` changes costs O(k · (L + 16 · depth)) and never
//!   O(len).
//! - [`HashIndex`]: an open-addressing hash table (linear probing,
//!   backward-shift deletion, no tombstones) stored in a [`Radix`] of plain
//!   `Copy` entries: a lookup is hash → leaf → probe, and copying a leaf is a
//!   `memcpy` with no refcount bumps.
//!
//! Deterministic (no random hasher state), no `unsafe`, no panics.

use std::sync::Arc;

#[derive(Debug, Clone)]
enum Node<T, const L: usize, const F: usize> {
    Empty,
    Leaf(Arc<[T; L]>),
    Inner(Arc<[Node<T, L, F>; F]>),
}

/// A persistent array: see the module docs. `L` (leaf slots) and `F`
/// (inner fan-out) must be powers of two.
#[derive(Debug, Clone)]
pub(crate) struct Radix<T, const L: usize, const F: usize> {
    root: Node<T, L, F>,
    /// Inner levels above the leaves: capacity is `L · F^height`.
    height: u32,
}

impl<T: Clone + Default, const L: usize, const F: usize> Default for Radix<T, L, F> {
    fn default() -> Self {
        Radix::new()
    }
}

impl<T: Clone + Default, const L: usize, const F: usize> Radix<T, L, F> {
    const LEAF_BITS: u32 = L.trailing_zeros();
    const FAN_BITS: u32 = F.trailing_zeros();

    pub(crate) fn new() -> Self {
        Radix {
            root: Node::Empty,
            height: 0,
        }
    }

    fn capacity(&self) -> usize {
        let bits = Self::LEAF_BITS + Self::FAN_BITS * self.height;
        1usize.checked_shl(bits).unwrap_or(usize::MAX)
    }

    /// The value at `i` (`None`: never set).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        if i >= self.capacity() {
            return None;
        }
        let mut node = &self.root;
        let mut shift = Self::LEAF_BITS + Self::FAN_BITS * self.height;
        loop {
            match node {
                Node::Empty => return None,
                Node::Leaf(l) => return l.get(i & (L - 1)),
                Node::Inner(n) => {
                    shift = shift.saturating_sub(Self::FAN_BITS);
                    node = n.get((i >> shift) & (F - 1))?;
                }
            }
        }
    }

    /// Sets the value at `i`, copying the shared nodes on its path.
    pub(crate) fn set(&mut self, i: usize, v: T) {
        while i >= self.capacity() {
            let old = std::mem::replace(&mut self.root, Node::Empty);
            if !matches!(old, Node::Empty) {
                let mut arr: [Node<T, L, F>; F] = std::array::from_fn(|_| Node::Empty);
                arr[0] = old;
                self.root = Node::Inner(Arc::new(arr));
            }
            self.height += 1;
        }
        let mut node = &mut self.root;
        let mut level = self.height;
        loop {
            if matches!(node, Node::Empty) {
                *node = if level == 0 {
                    Node::Leaf(Arc::new(std::array::from_fn(|_| T::default())))
                } else {
                    Node::Inner(Arc::new(std::array::from_fn(|_| Node::Empty)))
                };
            }
            match node {
                Node::Empty => return,
                Node::Leaf(l) => {
                    if let Some(slot) = Arc::make_mut(l).get_mut(i & (L - 1)) {
                        *slot = v;
                    }
                    return;
                }
                Node::Inner(n) => {
                    let shift = Self::LEAF_BITS + Self::FAN_BITS * (level.saturating_sub(1));
                    level = level.saturating_sub(1);
                    match Arc::make_mut(n).get_mut((i >> shift) & (F - 1)) {
                        Some(child) => node = child,
                        None => return,
                    }
                }
            }
        }
    }

    /// All set values (and the defaults around them), in index order.
    pub(crate) fn iter(&self) -> RadixIter<'_, T, L, F> {
        RadixIter {
            stack: vec![std::slice::from_ref(&self.root).iter()],
            leaf: [].iter(),
        }
    }

    /// The leaf holding index `i`.
    #[inline]
    pub(crate) fn leaf(&self, i: usize) -> Option<&[T; L]> {
        if i >= self.capacity() {
            return None;
        }
        let mut node = &self.root;
        let mut shift = Self::LEAF_BITS + Self::FAN_BITS * self.height;
        loop {
            match node {
                Node::Empty => return None,
                Node::Leaf(l) => return Some(l),
                Node::Inner(n) => {
                    shift = shift.saturating_sub(Self::FAN_BITS);
                    node = n.get((i >> shift) & (F - 1))?;
                }
            }
        }
    }

    /// Whether two tables share the same root (cheap equality shortcut).
    pub(crate) fn ptr_eq(&self, other: &Self) -> bool {
        self.height == other.height
            && match (&self.root, &other.root) {
                (Node::Empty, Node::Empty) => true,
                (Node::Leaf(a), Node::Leaf(b)) => Arc::ptr_eq(a, b),
                (Node::Inner(a), Node::Inner(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

pub(crate) struct RadixIter<'a, T, const L: usize, const F: usize> {
    stack: Vec<std::slice::Iter<'a, Node<T, L, F>>>,
    leaf: std::slice::Iter<'a, T>,
}

impl<'a, T, const L: usize, const F: usize> Iterator for RadixIter<'a, T, L, F> {
    type Item = &'a T;
    fn next(&mut self) -> Option<&'a T> {
        loop {
            if let Some(x) = self.leaf.next() {
                return Some(x);
            }
            loop {
                let top = self.stack.last_mut()?;
                match top.next() {
                    None => {
                        self.stack.pop();
                    }
                    Some(Node::Empty) => {}
                    Some(Node::Leaf(l)) => {
                        self.leaf = l.iter();
                        break;
                    }
                    Some(Node::Inner(n)) => self.stack.push(n.iter()),
                }
            }
        }
    }
}

/// An entry of a [`HashIndex`]: plain data that knows its hash.
pub(crate) trait IndexEntry: Copy + std::fmt::Debug {
    fn hash(&self) -> u64;
}

const HASH_LEAF: usize = 64;
const HASH_FAN: usize = 32;

/// An open-addressing hash table in a [`Radix`]; see the module docs. The
/// capacity need not be a power of two (a hash's home slot is
/// `(hash >> 32) · cap >> 32`): it grows by half at 80 % load, so tables sit
/// between 53 % and 80 % full.
#[derive(Debug, Clone)]
pub(crate) struct HashIndex<E> {
    table: Radix<Option<E>, HASH_LEAF, HASH_FAN>,
    cap: usize,
    len: usize,
}

impl<E: IndexEntry> Default for HashIndex<E> {
    fn default() -> Self {
        HashIndex::with_capacity(64)
    }
}

const MAX_CAP: usize = 1 << 32;

impl<E: IndexEntry> HashIndex<E> {
    pub(crate) fn with_capacity(cap: usize) -> Self {
        HashIndex {
            table: Radix::new(),
            cap: cap.clamp(2, MAX_CAP),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        (((hash >> 32) * self.cap as u64) >> 32) as usize
    }

    #[inline]
    fn next(&self, pos: usize) -> usize {
        if pos + 1 >= self.cap { 0 } else { pos + 1 }
    }

    #[inline]
    fn at(&self, pos: usize) -> Option<&E> {
        self.table.get(pos).and_then(Option::as_ref)
    }

    /// The first entry on `hash`'s probe sequence that `eq` accepts, and
    /// its position.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(&E) -> bool) -> Option<(usize, &E)> {
        let mut pos = self.home(hash);
        let mut left = self.cap;
        while left > 0 {
            // Probe within one leaf before descending again.
            let leaf = self.table.leaf(pos)?;
            let start = pos & (HASH_LEAF - 1);
            for slot in leaf.get(start..).unwrap_or_default() {
                let e = slot.as_ref()?;
                if eq(e) {
                    return Some((pos, e));
                }
                pos = self.next(pos);
                left -= 1;
                if left == 0 || pos == 0 {
                    // Done, or wrapped around mid-leaf: descend again.
                    break;
                }
            }
        }
        None
    }

    /// Overwrites the entry at `pos` (found by [`HashIndex::find`]) with one
    /// of the same hash.
    pub(crate) fn replace_at(&mut self, pos: usize, e: E) {
        self.table.set(pos, Some(e));
    }

    /// Inserts an entry the caller knows is absent.
    pub(crate) fn insert_new(&mut self, e: E) {
        if (self.len + 1) * 5 > self.cap * 4 && self.cap < MAX_CAP {
            self.grow();
        }
        self.place(e);
        self.len += 1;
    }

    fn place(&mut self, e: E) {
        let mut pos = self.home(e.hash());
        for _ in 0..self.cap {
            if self.at(pos).is_none() {
                self.table.set(pos, Some(e));
                return;
            }
            pos = self.next(pos);
        }
    }

    fn grow(&mut self) {
        let cap = (self.cap + self.cap / 2).max(self.cap + 1);
        let old = std::mem::replace(self, HashIndex::with_capacity(cap));
        for e in old.iter() {
            self.place(*e);
        }
        self.len = old.len;
    }

    /// Cyclic distance from `from` forward to `to`.
    #[inline]
    fn dist(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.cap - from
        }
    }

    /// Removes the entry at `pos`, shifting its probe chain back.
    pub(crate) fn remove_at(&mut self, pos: usize) {
        if self.at(pos).is_none() {
            return;
        }
        self.len = self.len.saturating_sub(1);
        let mut hole = pos;
        let mut j = pos;
        for _ in 1..self.cap {
            j = self.next(j);
            let Some(e) = self.at(j).copied() else {
                break;
            };
            let home = self.home(e.hash());
            // `e` may fill the hole when the hole lies on its probe path.
            if self.dist(home, j) >= self.dist(hole, j) {
                self.table.set(hole, Some(e));
                hole = j;
            }
        }
        self.table.set(hole, None);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &E> {
        self.table.iter().filter_map(Option::as_ref)
    }
}

/// A 64-bit mixer (splitmix64 finaliser).
#[inline]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_grows_and_keeps_values_across_chunk_boundaries() {
        let mut r: Radix<u32, 4, 16> = Radix::new();
        assert_eq!(r.get(0), None);
        for i in [0usize, 3, 4, 63, 64, 65, 1023, 1024, 5000] {
            r.set(i, i as u32 + 1);
        }
        for i in [0usize, 3, 4, 63, 64, 65, 1023, 1024, 5000] {
            assert_eq!(r.get(i), Some(&(i as u32 + 1)), "{i}");
        }
        assert_eq!(r.get(1), Some(&0));
        assert_eq!(r.get(1 << 40), None);
        let set: Vec<u32> = r.iter().copied().filter(|&v| v != 0).collect();
        assert_eq!(set, vec![1, 4, 5, 64, 65, 66, 1024, 1025, 5001]);
    }

    #[test]
    fn radix_copy_on_write_leaves_the_clone_alone() {
        let mut r: Radix<u32, 4, 16> = Radix::new();
        for i in 0..100 {
            r.set(i, i as u32);
        }
        let snap = r.clone();
        assert!(snap.ptr_eq(&r));
        r.set(50, 999);
        r.set(200, 7);
        assert!(!snap.ptr_eq(&r));
        assert_eq!(snap.get(50), Some(&50));
        assert_eq!(snap.get(200), None);
        assert_eq!(r.get(50), Some(&999));
        assert_eq!(r.get(49), Some(&49));
        assert_eq!(r.get(200), Some(&7));
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct E {
        key: u32,
        val: u32,
        h: u64,
    }
    impl IndexEntry for E {
        fn hash(&self) -> u64 {
            self.h
        }
    }

    fn get(t: &HashIndex<E>, key: u32, h: u64) -> Option<u32> {
        t.find(h, |e| e.key == key).map(|(_, e)| e.val)
    }

    fn del(t: &mut HashIndex<E>, key: u32, h: u64) -> bool {
        match t.find(h, |e| e.key == key).map(|(p, _)| p) {
            Some(p) => {
                t.remove_at(p);
                true
            }
            None => false,
        }
    }

    #[test]
    fn hash_index_with_forced_collisions_and_wraparound() {
        // A tiny table where everything hashes near the end: probe chains
        // wrap around and deletions must shift entries back across the end.
        let mut t: HashIndex<E> = HashIndex::with_capacity(8);
        // Home slot = (h >> 32) · 8 >> 32: 7 << 61 → 7, 6 << 61 → 6.
        let hs = [7u64 << 61, 7 << 61, 6 << 61, 7 << 61, 0, 6 << 61];
        for (k, &h) in hs.iter().enumerate() {
            t.insert_new(E {
                key: k as u32,
                val: k as u32 * 10,
                h,
            });
        }
        assert_eq!(t.len(), 6);
        for (k, &h) in hs.iter().enumerate() {
            assert_eq!(get(&t, k as u32, h), Some(k as u32 * 10));
        }
        assert!(del(&mut t, 0, hs[0]));
        assert!(!del(&mut t, 0, hs[0]));
        assert!(del(&mut t, 2, hs[2]));
        assert_eq!(t.cap, 8, "no growth: the chains really wrap");
        for (k, &h) in hs.iter().enumerate() {
            let want = (k != 0 && k != 2).then_some(k as u32 * 10);
            assert_eq!(get(&t, k as u32, h), want, "key {k}");
        }
        assert_eq!(t.len(), 4);
        assert_eq!(t.iter().count(), 4);
    }

    #[test]
    fn hash_index_matches_a_model_under_churn() {
        // All hashes in 0..4: long collision chains, many grows.
        let mut t: HashIndex<E> = HashIndex::with_capacity(2);
        let mut model = std::collections::BTreeMap::new();
        let mut x = 12345u64;
        for step in 0..5000u32 {
            x = mix64(x + u64::from(step));
            let key = (x % 300) as u32;
            let h = u64::from(key % 4) << 62;
            if x & 4 == 0 {
                if model.remove(&key).is_some() {
                    assert!(del(&mut t, key, h));
                }
            } else if let Some((p, _)) = t.find(h, |e| e.key == key) {
                t.replace_at(p, E { key, val: step, h });
                model.insert(key, step);
            } else {
                t.insert_new(E { key, val: step, h });
                model.insert(key, step);
            }
            if step % 97 == 0 {
                let snap = t.clone();
                for (&k, &v) in &model {
                    assert_eq!(get(&snap, k, u64::from(k % 4) << 62), Some(v));
                }
            }
        }
        assert_eq!(t.len(), model.len());
        for k in 0..300 {
            assert_eq!(get(&t, k, u64::from(k % 4) << 62), model.get(&k).copied());
        }
    }
}
