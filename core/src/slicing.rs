//! Slices: which endpoints go together (DESIGN.md §4).
//!
//! A slice belongs to one group ([`GroupKey`]): a namespace (`fcfs`) or a
//! namespace and an identity (`identity` mode), or no group at all (a closed
//! slice: foreign, or adopted empty). A new endpoint joins the fullest slice of its
//! group that still has room — found in O(log n) from an ordered set per
//! group — or a new slice. Empty slices are never chosen, as in Cilium: an
//! emptied slice is deleted on the next flush.
//!
//! The table also remembers, per slice, what the API server holds (as
//! content stamps, see [`crate::engine`]) and when the slice became dirty.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::Arc;

use hashbrown::HashMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smallvec::SmallVec;

use crate::plan::OpId;

pub type SliceId = u32;
pub type EndpointIdx = u32;

/// Which endpoints may share a slice. Namespaces are the engine's namespace
/// ids; identities are identity numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// `fcfs` mode: every endpoint of the namespace.
    Namespace(u32),
    /// `identity` mode: the endpoints of the namespace with this identity.
    Identity {
        /// Namespace id.
        namespace: u32,
        /// Identity number.
        identity: u32,
    },
    /// No endpoint joins it: a slice of another writer (foreign) or an
    /// observed slice that held no live endpoint at the initial sync. It is
    /// planned for deletion. A slice with no namespace gets namespace id 0.
    Closed {
        /// Namespace id.
        namespace: u32,
    },
}

impl GroupKey {
    /// The namespace id of the group.
    pub fn namespace(&self) -> u32 {
        match *self {
            GroupKey::Namespace(namespace)
            | GroupKey::Identity { namespace, .. }
            | GroupKey::Closed { namespace } => namespace,
        }
    }

    /// Namespace first, then fcfs, identity number, closed: the order
    /// compaction visits groups in.
    fn order_key(&self) -> (u32, u32) {
        match *self {
            GroupKey::Namespace(namespace) => (namespace, 0),
            GroupKey::Identity {
                namespace,
                identity,
            } => (namespace, identity),
            GroupKey::Closed { namespace } => (namespace, u32::MAX),
        }
    }
}

impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order_key()
            .cmp(&other.order_key())
            .then_with(|| self.variant().cmp(&other.variant()))
    }
}

impl GroupKey {
    fn variant(&self) -> u8 {
        match self {
            GroupKey::Namespace(_) => 0,
            GroupKey::Identity { .. } => 1,
            GroupKey::Closed { .. } => 2,
        }
    }
}

/// What the API server holds for a slice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSlice {
    /// Sorted content stamps of the entries it holds; an entry that does not
    /// equal any endpoint's current content has a stamp nothing else has.
    pub stamps: Vec<u64>,
    /// Whether its `namespace` field is the slice's namespace.
    pub namespace_ok: bool,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Slice {
    pub name: Arc<str>,
    pub group: GroupKey,
    pub members: Vec<EndpointIdx>,
    pub server: Option<ServerSlice>,
    /// A write for this slice awaits its outcome.
    pub in_flight: Option<OpId>,
    /// When the slice first became dirty since its last write.
    pub dirty_since: Option<u64>,
    /// Failed writes in a row.
    pub failures: u32,
    /// Not written again before this time (backoff).
    pub not_before: u64,
}

/// All slices, their groups and their dirty state.
#[derive(Debug, Clone)]
pub struct SliceTable {
    max: u32,
    slots: Vec<Option<Slice>>,
    free: Vec<SliceId>,
    by_name: HashMap<Arc<str>, SliceId>,
    /// Per group: slices with 0 < members < max, fullest first (possibly
    /// empty while the group has slices).
    available: HashMap<GroupKey, Room>,
    /// Per group: every live slice (for counts, compaction, namespace scans).
    groups: HashMap<GroupKey, BTreeSet<SliceId>>,
    /// (dirty since, slice).
    dirty: BTreeSet<(u64, SliceId)>,
    rng: ChaCha8Rng,
}

/// Where `ep` is in `members`. A slice holds up to a hundred or so
/// members in no order: compared 16 at a time without an early exit (which
/// the compiler turns into vector compares), the first block holding `ep`
/// is then searched, instead of one compare and branch per member.
fn position_of(members: &[EndpointIdx], ep: EndpointIdx) -> Option<usize> {
    const BLOCK: usize = 16;
    let mut blocks = members.chunks_exact(BLOCK);
    let mut base = 0;
    for block in &mut blocks {
        if block.iter().fold(false, |found, &m| found | (m == ep)) {
            return block.iter().position(|&m| m == ep).map(|p| base + p);
        }
        base += BLOCK;
    }
    blocks
        .remainder()
        .iter()
        .position(|&m| m == ep)
        .map(|p| base + p)
}

/// An entry of a group's slices with room: fullest first, then by id.
type RoomKey = (Reverse<u32>, SliceId);

/// A group's slices with room, ordered by [`RoomKey`]. Most slices of a
/// group are full and a few have room, so the set is usually a handful:
/// then it is a sorted array inline in the group's map entry (no tree node
/// to allocate and follow on every add and remove); past [`ROOM_FEW_MAX`]
/// entries (many slices with room, after mass deletes or an adoption) it is
/// a B-tree, and back to an array below [`ROOM_FEW_MIN`].
#[derive(Debug, Clone)]
enum Room {
    Few(SmallVec<[RoomKey; 4]>),
    Many(BTreeSet<RoomKey>),
}

/// Most entries a [`Room::Few`] holds.
const ROOM_FEW_MAX: usize = 32;
/// A [`Room::Many`] smaller than this becomes a [`Room::Few`].
const ROOM_FEW_MIN: usize = 16;

impl Default for Room {
    fn default() -> Self {
        Room::Few(SmallVec::new())
    }
}

impl Room {
    fn insert(&mut self, k: RoomKey) {
        match self {
            Room::Few(v) => {
                if let Err(pos) = v.binary_search(&k) {
                    v.insert(pos, k);
                }
                if v.len() > ROOM_FEW_MAX {
                    *self = Room::Many(v.iter().copied().collect());
                }
            }
            Room::Many(set) => {
                set.insert(k);
            }
        }
    }

    fn remove(&mut self, k: RoomKey) {
        match self {
            Room::Few(v) => {
                if let Ok(pos) = v.binary_search(&k) {
                    v.remove(pos);
                }
            }
            Room::Many(set) => {
                set.remove(&k);
                if set.len() < ROOM_FEW_MIN {
                    *self = Room::Few(set.iter().copied().collect());
                }
            }
        }
    }

    /// The smallest entry: the fullest slice with room.
    fn first(&self) -> Option<RoomKey> {
        match self {
            Room::Few(v) => v.first().copied(),
            Room::Many(set) => set.first().copied(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Room::Few(v) => v.is_empty(),
            Room::Many(set) => set.is_empty(),
        }
    }
}

/// Cilium's alphabet for generated names: no vowels, no 0, 1 or 3.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxyz2456789";

impl SliceTable {
    pub fn new(max_per_slice: u32, seed: u64) -> Self {
        SliceTable {
            max: max_per_slice,
            slots: Vec::new(),
            free: Vec::new(),
            by_name: HashMap::new(),
            available: HashMap::new(),
            groups: HashMap::new(),
            dirty: BTreeSet::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn get(&self, id: SliceId) -> Option<&Slice> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, id: SliceId) -> Option<&mut Slice> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    pub fn by_name(&self, name: &str) -> Option<SliceId> {
        self.by_name.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Every live slice id, in id order.
    pub fn ids(&self) -> impl Iterator<Item = SliceId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i as SliceId)
    }

    pub fn group_slices(&self, group: &GroupKey) -> impl Iterator<Item = SliceId> + '_ {
        self.groups
            .get(group)
            .into_iter()
            .flat_map(|s| s.iter().copied())
    }

    /// A fresh Cilium-style name: `ces-` + 9 + `-` + 5 characters.
    fn generate_name(&mut self) -> Arc<str> {
        loop {
            let mut s = String::with_capacity(19);
            s.push_str("ces-");
            for i in 0..14 {
                if i == 9 {
                    s.push('-');
                }
                let c = NAME_ALPHABET[self.rng.random_range(0..NAME_ALPHABET.len())];
                s.push(c as char);
            }
            if !self.by_name.contains_key(s.as_str()) {
                return Arc::from(s);
            }
        }
    }

    /// Adds a slice; `name` is kept when given (adoption), else generated.
    pub fn create(&mut self, group: GroupKey, name: Option<Arc<str>>) -> SliceId {
        let name = name.unwrap_or_else(|| self.generate_name());
        let slice = Slice {
            name: name.clone(),
            group,
            members: Vec::new(),
            server: None,
            in_flight: None,
            dirty_since: None,
            failures: 0,
            not_before: 0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(slice);
                id
            }
            None => {
                self.slots.push(Some(slice));
                (self.slots.len() - 1) as SliceId
            }
        };
        self.by_name.insert(name, id);
        self.groups.entry(group).or_default().insert(id);
        id
    }

    /// Removes a slice entirely (after its delete, or when it never reached the server).
    pub fn remove(&mut self, id: SliceId) {
        let Some(slice) = self.slots.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        self.by_name.remove(&slice.name);
        if let Some(set) = self.groups.get_mut(&slice.group) {
            set.remove(&id);
            if set.is_empty() {
                self.groups.remove(&slice.group);
            }
        }
        self.set_available(slice.group, id, slice.members.len() as u32, None);
        if let Some(since) = slice.dirty_since {
            self.dirty.remove(&(since, id));
        }
        self.free.push(id);
    }

    /// Slice `id` of `group` went from `old` members to `new` (`None`: the
    /// slice is gone): updates the group's slices with room.
    fn set_available(&mut self, group: GroupKey, id: SliceId, old: u32, new: Option<u32>) {
        let max = self.max;
        let had = old > 0 && old < max;
        let has = new.filter(|&n| n > 0 && n < max);
        if had || has.is_some() {
            let room = self.available.entry(group).or_default();
            if had {
                room.remove((Reverse(old), id));
            }
            if let Some(n) = has {
                room.insert((Reverse(n), id));
            }
        }
        // An emptied set is kept while the group has slices: churn empties
        // and refills it at every full slice that loses and regains one
        // endpoint, and keeping it saves the map entry. While the slice
        // lives (`new` is some) its group has a slice: only a removal asks.
        if new.is_none()
            && !self.groups.contains_key(&group)
            && self.available.get(&group).is_some_and(Room::is_empty)
        {
            self.available.remove(&group);
        }
    }

    /// The fullest slice of the group with room, else a new slice. The
    /// endpoint is added and the slice marked dirty.
    pub fn place(&mut self, ep: EndpointIdx, group: GroupKey, now: u64) -> SliceId {
        let id = self
            .available
            .get(&group)
            .and_then(|room| room.first().map(|(_, id)| id))
            .unwrap_or_else(|| self.create(group, None));
        self.add_member(id, ep, now);
        id
    }

    /// Adds an endpoint to a given slice (adoption, compaction).
    pub fn add_member(&mut self, id: SliceId, ep: EndpointIdx, now: u64) {
        let Some(slice) = self.get_mut(id) else {
            return;
        };
        let old = slice.members.len() as u32;
        slice.members.push(ep);
        let group = slice.group;
        self.set_available(group, id, old, Some(old + 1));
        self.mark_dirty(id, now);
    }

    /// Takes an endpoint out of its slice and marks the slice dirty.
    pub fn remove_member(&mut self, id: SliceId, ep: EndpointIdx, now: u64) {
        let Some(slice) = self.get_mut(id) else {
            return;
        };
        let Some(pos) = position_of(&slice.members, ep) else {
            return;
        };
        let old = slice.members.len() as u32;
        slice.members.swap_remove(pos);
        let group = slice.group;
        self.set_available(group, id, old, Some(old - 1));
        self.mark_dirty(id, now);
    }

    /// Records that the slice's desired content changed at `now`.
    pub fn mark_dirty(&mut self, id: SliceId, now: u64) {
        let Some(slice) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        if slice.dirty_since.is_none() {
            slice.dirty_since = Some(now);
            self.dirty.insert((now, id));
        }
    }

    /// Clears the dirty mark (the slice was planned, or found equal to the server).
    pub fn clear_dirty(&mut self, id: SliceId) {
        let Some(slice) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        if let Some(since) = slice.dirty_since.take() {
            self.dirty.remove(&(since, id));
        }
    }

    /// Marks dirty again with a given first-dirty time (after a failed write).
    pub fn restore_dirty(&mut self, id: SliceId, since: u64) {
        let Some(slice) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        match slice.dirty_since {
            Some(s) if s <= since => {}
            Some(s) => {
                self.dirty.remove(&(s, id));
                slice.dirty_since = Some(since);
                self.dirty.insert((since, id));
            }
            None => {
                slice.dirty_since = Some(since);
                self.dirty.insert((since, id));
            }
        }
    }

    /// Dirty slices that became dirty at or before `cutoff`, oldest first.
    pub fn dirty_until(&self, cutoff: u64) -> impl Iterator<Item = (u64, SliceId)> + '_ {
        self.dirty.range(..=(cutoff, SliceId::MAX)).copied()
    }

    pub fn dirty_count(&self) -> usize {
        self.dirty.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: GroupKey = GroupKey::Namespace(1);

    #[test]
    fn names_look_like_ciliums_and_are_seeded() {
        let mut a = SliceTable::new(100, 7);
        let mut b = SliceTable::new(100, 7);
        for _ in 0..50 {
            let ia = a.create(NS, None);
            let ib = b.create(NS, None);
            let n = a.get(ia).unwrap().name.clone();
            assert_eq!(n, b.get(ib).unwrap().name);
            assert_eq!(n.len(), 19);
            assert!(n.starts_with("ces-"));
            assert_eq!(&n[13..14], "-");
            assert!(
                n[4..13]
                    .bytes()
                    .chain(n[14..].bytes())
                    .all(|c| NAME_ALPHABET.contains(&c))
            );
        }
        assert_eq!(a.len(), 50);
    }

    #[test]
    fn places_into_fullest_with_room() {
        let mut t = SliceTable::new(3, 1);
        let s1 = t.place(1, NS, 0);
        assert_eq!(t.place(2, NS, 0), s1);
        assert_eq!(t.place(3, NS, 0), s1);
        let s2 = t.place(4, NS, 0);
        assert_ne!(s1, s2);
        t.remove_member(s1, 1, 0);
        // s1 has 2, s2 has 1: the fuller one gets the next.
        assert_eq!(t.place(5, NS, 0), s1);
        // Other namespaces never share.
        let other = GroupKey::Namespace(2);
        let s3 = t.place(6, other, 0);
        assert!(s3 != s1 && s3 != s2);
    }

    #[test]
    fn position_of_finds_the_first_match_anywhere() {
        for len in 0..70u32 {
            let members: Vec<EndpointIdx> = (0..len).map(|i| i * 3 + 1).collect();
            for probe in 0..(len * 3 + 3) {
                assert_eq!(
                    position_of(&members, probe),
                    members.iter().position(|&m| m == probe),
                    "len {len}, probe {probe}"
                );
            }
        }
    }

    /// `Room` (an array while small, a B-tree while large) keeps the order
    /// of a `BTreeSet` through growing past and shrinking below its bounds.
    #[test]
    fn room_orders_as_a_btree_set() {
        let mut rng = ChaCha8Rng::seed_from_u64(15);
        for round in 0..40 {
            let mut room = Room::default();
            let mut reference: BTreeSet<RoomKey> = BTreeSet::new();
            // Rounds differ in how many distinct keys there are (and so in
            // how large the set gets).
            let keys = 4 + round * 3;
            for _ in 0..2000 {
                let k = (
                    Reverse(rng.random_range(1..8u32)),
                    rng.random_range(0..keys as u32),
                );
                if rng.random_bool(0.5) {
                    room.insert(k);
                    reference.insert(k);
                } else {
                    room.remove(k);
                    reference.remove(&k);
                }
                assert_eq!(room.first(), reference.first().copied());
                assert_eq!(room.is_empty(), reference.is_empty());
                let all: Vec<RoomKey> = match &room {
                    Room::Few(v) => v.to_vec(),
                    Room::Many(set) => set.iter().copied().collect(),
                };
                assert_eq!(all, reference.iter().copied().collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn empty_slices_are_not_chosen() {
        let mut t = SliceTable::new(3, 1);
        let s1 = t.place(1, NS, 0);
        t.remove_member(s1, 1, 0);
        let s2 = t.place(2, NS, 0);
        assert_ne!(s1, s2);
    }

    #[test]
    fn dirty_keeps_first_time() {
        let mut t = SliceTable::new(3, 1);
        let s = t.place(1, NS, 10);
        t.place(2, NS, 20);
        assert_eq!(t.get(s).unwrap().dirty_since, Some(10));
        assert_eq!(t.dirty_until(9).count(), 0);
        assert_eq!(t.dirty_until(10).collect::<Vec<_>>(), vec![(10, s)]);
        t.clear_dirty(s);
        assert_eq!(t.dirty_count(), 0);
        t.restore_dirty(s, 5);
        assert_eq!(t.dirty_until(u64::MAX).next(), Some((5, s)));
        t.remove(s);
        assert_eq!(t.dirty_count(), 0);
        assert_eq!(t.len(), 0);
    }
}
