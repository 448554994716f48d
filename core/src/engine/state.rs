//! The state: the endpoint, namespace and node indexes and the slice table.
//!
//! [`State`] is the only code that changes which endpoints exist, which
//! namespace and node each is indexed under, what content it has and which
//! slice holds it. The phases read its fields and change it through its
//! methods. An endpoint's index lives in six places (`ep_index`, `waiting`,
//! a namespace's and a node's endpoint sets, a slice's members and the
//! publisher's change set); the methods here keep them in step, and
//! [`State::check_invariants`] says what "in step" means.
//!
//! The slice table's server-side bookkeeping (what the server holds, the op
//! in flight, failures, backoff, dirty marks) is written by the observe,
//! plan and outcome phases through [`SliceTable`]'s own methods: it does not
//! change membership.
//!
//! Its parts, one concept a file:
//!
//! | file | owns |
//! |---|---|
//! | `state.rs` | [`State`]: the indexes kept in step, placement and removal |
//! | `state/record.rs` | the endpoint record ([`Endpoint`]) and the pods' side entry |
//! | `state/table.rs` | tables by slot, in chunks (the records, the pods' side table) |
//! | `state/index.rs` | the index by key: (namespace id, name) → slot |
//! | `state/shared.rs` | the values records share (node IPs, service accounts) as counted ids, and record ↔ data |
//! | `state/stamp.rs` | content stamps |
//! | `state/invariants.rs` | what "in step" means, checked |

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::config::{Config, SliceMode, Source};
use crate::endpoint::{DataRef, EndpointData};
use crate::identity::IdentityId;
use crate::model::Labels;
use crate::slicing::{EndpointIdx, GroupKey, SliceId, SliceTable};
use crate::snapshot::Publisher;

use super::{NO_ID, NamespaceState, NodeState, PodFacts};

mod index;
mod invariants;
mod record;
mod shared;
mod stamp;
mod table;

use index::KeyIndex;
pub(super) use record::Endpoint;
use record::PodSide;
use shared::Shared;
pub(super) use stamp::content_stamp;
pub(super) use table::EndpointTable;
use table::SlotTable;

/// The indexes and the slice table (see the module docs).
#[derive(Debug, Clone)]
pub(super) struct State {
    mode: SliceMode,
    /// Pods mode: namespaces and nodes index their endpoints.
    pods: bool,
    max_per_slice: usize,
    /// Endpoints are placed as their content changes: after the initial
    /// sync's adoption. Before, content is set and nothing is placed.
    placing: bool,
    pub(super) namespaces: Vec<NamespaceState>,
    pub(super) ns_index: HashMap<Arc<str>, u32>,
    /// Nodes by id (never removed), and their ids by name.
    pub(super) nodes: Vec<NodeState>,
    pub(super) node_index: HashMap<Arc<str>, u32>,
    pub(super) endpoints: EndpointTable,
    /// Freed slots; outside pods mode reused after the initial sync only
    /// (before it, slot order is arrival order: see `State::seq`).
    free_endpoints: Vec<EndpointIdx>,
    /// The values records share (node IPs, service accounts), by id.
    shared: Shared,
    /// Pods mode: each pod's facts and arrival number, by slot
    /// ([`PodSide::NONE`] for a slot that holds no pod).
    pod_sides: SlotTable<PodSide>,
    /// (namespace id, name) → endpoint.
    ep_index: KeyIndex,
    /// seq (`State::seq`) → endpoint: endpoints waiting for an identity number.
    pub(super) waiting: BTreeMap<u64, EndpointIdx>,
    pub(super) slices: SliceTable,
    /// Groups that lost members since the last compaction pass (a hash
    /// set: a delete marks its group at O(1); compaction sorts them).
    pub(super) compaction_candidates: hashbrown::HashSet<GroupKey>,
    next_stamp: u64,
    next_seq: u64,
    /// Snapshot bookkeeping (see `snapshot.rs`).
    pub(super) snap: Publisher,
}

/// What [`State::set_content`] did beyond the content itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ContentChange {
    /// Nothing else (or the content was equal).
    InPlace,
    /// Identity mode: the identity changed, the endpoint moved to a slice of its new group.
    Moved(IdentityId),
}

impl State {
    pub(super) fn new(config: &Config) -> State {
        State {
            mode: config.slicing.mode,
            pods: config.source == Source::Pods,
            max_per_slice: config.slicing.max_endpoints_per_slice as usize,
            placing: false,
            namespaces: Vec::new(),
            ns_index: HashMap::new(),
            nodes: Vec::new(),
            node_index: HashMap::new(),
            endpoints: EndpointTable::default(),
            free_endpoints: Vec::new(),
            shared: Shared::default(),
            pod_sides: SlotTable::default(),
            ep_index: KeyIndex::default(),
            waiting: BTreeMap::new(),
            slices: SliceTable::new(config.slicing.max_endpoints_per_slice, config.seed),
            compaction_candidates: hashbrown::HashSet::new(),
            // Unmatchable stamps count down from the top; content hashes are spread over all values.
            next_stamp: u64::MAX / 2 + 1,
            next_seq: 0,
            snap: Publisher::new(config.slicing.max_endpoints_per_slice),
        }
    }

    /// From now on endpoints are placed as their content changes (the
    /// initial sync's adoption is over).
    pub(super) fn start_placing(&mut self) {
        self.placing = true;
    }

    /// The live endpoint at `idx`.
    pub(super) fn ep(&self, idx: EndpointIdx) -> Option<&Endpoint> {
        self.endpoints.get(idx as usize).and_then(Option::as_ref)
    }

    /// Pods mode: the facts of the pod at `idx`.
    pub(super) fn pod(&self, idx: EndpointIdx) -> Option<PodFacts> {
        self.pod_sides
            .get(idx as usize)
            .filter(|s| s.facts.profile != NO_ID)
            .map(|s| s.facts)
    }

    /// The arrival number of the endpoint at `idx`, which orders the
    /// waiting queue and the initial sync: a pod's, kept beside its record;
    /// in the other modes its slot number (before the initial sync slots
    /// are not reused, so slot order is arrival order; after it, no
    /// endpoint of theirs waits for an identity).
    pub(super) fn seq(&self, idx: EndpointIdx) -> u64 {
        match self.pod_sides.get(idx as usize) {
            Some(s) if s.facts.profile != NO_ID => s.seq(),
            _ => u64::from(idx),
        }
    }

    /// The node IP of a record.
    fn node_ip(&self, ep: &Endpoint) -> Option<IpAddr> {
        self.shared.node_ip(ep)
    }

    /// The data of a record, borrowed.
    pub(super) fn view<'a>(&'a self, ep: &'a Endpoint) -> DataRef<'a> {
        self.shared.view(ep)
    }

    /// The data of a record, owned.
    pub(super) fn data(&self, ep: &Endpoint) -> EndpointData {
        self.shared.data(ep)
    }

    /// The endpoint of a namespace and name.
    pub(super) fn lookup(&self, ns: u32, name: &str) -> Option<EndpointIdx> {
        let hash = self.ep_index.hash(ns, name);
        self.ep_index.find(&self.endpoints, hash, ns, name)
    }

    /// Live endpoints (entries of the index).
    pub(super) fn endpoint_count(&self) -> usize {
        self.ep_index.len()
    }

    /// A stamp no content has: for server entries that match no endpoint.
    pub(super) fn new_stamp(&mut self) -> u64 {
        let s = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        s
    }

    /// The id of a namespace, registered on first use.
    pub(super) fn ns_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ns_index.get(name) {
            return id;
        }
        let id = self.namespaces.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.namespaces.push(NamespaceState {
            name: name.clone(),
            labels: Arc::new(Labels::new()),
            priority: false,
            endpoints: hashbrown::HashSet::new(),
        });
        self.ns_index.insert(name, id);
        id
    }

    /// Sets a namespace's labels and priority; whether the labels changed.
    pub(super) fn set_namespace(&mut self, id: u32, labels: Labels, priority: bool) -> bool {
        let state = &mut self.namespaces[id as usize];
        state.priority = priority;
        if *state.labels == labels {
            return false;
        }
        state.labels = Arc::new(labels);
        true
    }

    /// The id of node `name`, its record created on first use.
    pub(super) fn node_id(&mut self, name: &Arc<str>) -> u32 {
        if let Some(&id) = self.node_index.get(name) {
            return id;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(NodeState {
            name: name.clone(),
            ..NodeState::default()
        });
        self.node_index.insert(name.clone(), id);
        id
    }

    /// The node record of `name`, created on first use.
    pub(super) fn node_mut(&mut self, name: &Arc<str>) -> &mut NodeState {
        let id = self.node_id(name);
        &mut self.nodes[id as usize]
    }

    /// Pods mode: indexes the endpoint under its node.
    pub(super) fn link_node(&mut self, idx: EndpointIdx, node: u32) {
        if let Some(n) = self.nodes.get_mut(node as usize) {
            n.endpoints.insert(idx);
        }
    }

    /// Creates or updates an endpoint record. In pods mode node data and
    /// identity are kept as they are (the identities phase recomputes them;
    /// after the initial sync a known pod is updated through
    /// [`State::replace_pod_facts`] and the identities phase alone, so that
    /// its content is set once).
    pub(super) fn upsert(
        &mut self,
        namespace: &str,
        name: &str,
        identity: Option<IdentityId>,
        data: EndpointData,
        pod: Option<PodFacts>,
        now: u64,
    ) -> (EndpointIdx, ContentChange) {
        let ns = self.ns_id(namespace);
        // Hashed once: a miss is followed by the insert under the same key.
        let hash = self.ep_index.hash(ns, name);
        match self.ep_index.find(&self.endpoints, hash, ns, name) {
            Some(idx) => (idx, self.update(idx, identity, data, pod, now)),
            None => self.insert(hash, ns, name, identity, data, pod, now),
        }
    }

    fn update(
        &mut self,
        idx: EndpointIdx,
        identity: Option<IdentityId>,
        data: EndpointData,
        pod: Option<PodFacts>,
        now: u64,
    ) -> ContentChange {
        let is_pod = pod.is_some();
        if let Some(new_pod) = pod {
            self.replace_pod_facts(idx, new_pod);
        }
        let Some(ep) = self.ep(idx) else {
            debug_assert!(false, "the index names endpoint {idx}, which is gone");
            return ContentChange::InPlace;
        };
        if is_pod {
            // Node data and identity come from refresh_pod; keep them for comparison.
            let mut d = data;
            d.node_ip = self.node_ip(ep);
            d.encryption_key = ep.encryption_key;
            let identity = ep.identity();
            self.set_content(idx, identity, d, now)
        } else {
            self.set_content(idx, identity, data, now)
        }
    }

    /// Pods mode: a pod's new facts; returns the old ones. A node change
    /// unlinks the old node.
    pub(super) fn replace_pod_facts(
        &mut self,
        idx: EndpointIdx,
        new_pod: PodFacts,
    ) -> Option<PodFacts> {
        let old = self.pod(idx);
        match self.pod_sides.get(idx as usize) {
            Some(side) if old.is_some() => {
                let seq = side.seq();
                self.pod_sides[idx as usize] = PodSide::new(new_pod, seq);
            }
            _ => {
                debug_assert!(false, "pod facts for endpoint {idx}, which is no pod");
                return None;
            }
        }
        if let Some(old) = old
            && old.node != new_pod.node
            && let Some(n) = old.node()
            && let Some(state) = self.nodes.get_mut(n as usize)
        {
            state.endpoints.remove(&idx);
        }
        old
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        hash: u64,
        ns: u32,
        name: &str,
        identity: Option<IdentityId>,
        data: EndpointData,
        pod: Option<PodFacts>,
        now: u64,
    ) -> (EndpointIdx, ContentChange) {
        let stamp = content_stamp(name, identity, data.view());
        let ep = self.shared.record(ns, name, identity, stamp, data);
        // Pods keep their arrival number beside the record; in the other
        // modes slot order is arrival order until the sync (`State::seq`).
        let reuse = if self.placing || self.pods {
            self.free_endpoints.pop()
        } else {
            None
        };
        let idx = match reuse {
            Some(i) => {
                self.endpoints[i as usize] = Some(ep);
                i
            }
            None => self.endpoints.push(Some(ep)),
        };
        if let Some(pod) = pod {
            let side = PodSide::new(pod, self.next_seq);
            self.next_seq += 1;
            while self.pod_sides.len() <= idx as usize {
                self.pod_sides.push(PodSide::NONE);
            }
            self.pod_sides[idx as usize] = side;
        }
        self.ep_index.insert(&self.endpoints, hash, idx);
        if self.pods {
            self.namespaces[ns as usize].endpoints.insert(idx);
        }
        // With an identity the endpoint is placeable, as `set_content`
        // would find it; without one the caller decides (pods wait for
        // their identity).
        if identity.is_some() {
            self.snap.endpoint_changed(idx);
            if self.placing {
                self.place(idx, now);
                debug_assert!(self.endpoint_in_step(idx), "endpoint {idx} out of step");
            }
        }
        (idx, ContentChange::InPlace)
    }

    /// Sets identity and data; on change: new stamp, slice dirty, moves in
    /// identity mode, placement when the endpoint becomes placeable.
    pub(super) fn set_content(
        &mut self,
        idx: EndpointIdx,
        identity: Option<IdentityId>,
        data: EndpointData,
        now: u64,
    ) -> ContentChange {
        let placing = self.placing;
        let Some(ep) = self.ep(idx) else {
            debug_assert!(false, "content for endpoint {idx}, which is gone");
            return ContentChange::InPlace;
        };
        if self.shared.same_content(ep, identity, &data) {
            if placing && identity.is_none() && ep.slice().is_none() {
                self.waiting.insert(self.seq(idx), idx);
            }
            return ContentChange::InPlace;
        }
        let stamp = content_stamp(&ep.name, identity, data.view());
        let seq = self.seq(idx);
        let Some(ep) = self.endpoints[idx as usize].as_mut() else {
            return ContentChange::InPlace;
        };
        let old_identity = ep.identity();
        ep.set_identity(identity);
        ep.stamp = stamp;
        self.shared.store(ep, data);
        let slice = ep.slice();
        self.snap.endpoint_changed(idx);
        if !placing {
            return ContentChange::InPlace;
        }
        let change = match (slice, identity) {
            (Some(s), Some(id)) if self.mode == SliceMode::Identity && old_identity != Some(id) => {
                self.leave_slice(idx, s, now);
                self.place(idx, now);
                ContentChange::Moved(id)
            }
            (Some(s), Some(_)) => {
                self.slices.mark_dirty(s, now);
                ContentChange::InPlace
            }
            (Some(s), None) => {
                self.slices.remove_member(s, idx, now);
                if let Some(ep) = self.endpoints[idx as usize].as_mut() {
                    ep.set_slice(None);
                }
                self.waiting.insert(seq, idx);
                ContentChange::InPlace
            }
            (None, Some(_)) => {
                self.waiting.remove(&seq);
                self.place(idx, now);
                ContentChange::InPlace
            }
            (None, None) => {
                self.waiting.insert(seq, idx);
                ContentChange::InPlace
            }
        };
        debug_assert!(self.endpoint_in_step(idx), "endpoint {idx} out of step");
        change
    }

    /// Takes an endpoint out of slice `s` (its group becomes a compaction
    /// candidate); the endpoint's own slice link is left to the caller.
    fn leave_slice(&mut self, idx: EndpointIdx, s: SliceId, now: u64) {
        self.slices.remove_member(s, idx, now);
        match self.slices.get(s) {
            Some(slice) => {
                self.compaction_candidates.insert(slice.group);
            }
            None => debug_assert!(false, "endpoint {idx} in slice {s}, which is gone"),
        }
    }

    /// Queues an endpoint with no identity to wait for one.
    pub(super) fn wait(&mut self, idx: EndpointIdx) {
        if let Some(ep) = self.ep(idx) {
            debug_assert!(ep.identity().is_none() && ep.slice().is_none());
            self.waiting.insert(self.seq(idx), idx);
        }
    }

    /// The group an endpoint with an identity belongs to.
    pub(super) fn group_of(&self, ep: &Endpoint) -> GroupKey {
        match self.mode {
            SliceMode::Fcfs => GroupKey::Namespace(ep.ns),
            SliceMode::Identity => {
                debug_assert!(
                    ep.identity().is_some(),
                    "only endpoints with an identity are grouped"
                );
                GroupKey::Identity {
                    namespace: ep.ns,
                    identity: ep.identity().unwrap_or(0),
                }
            }
        }
    }

    /// Puts an endpoint into the fullest slice of its group with room.
    pub(super) fn place(&mut self, idx: EndpointIdx, now: u64) {
        let Some(ep) = self.ep(idx) else {
            debug_assert!(false, "placing endpoint {idx}, which is gone");
            return;
        };
        let group = self.group_of(ep);
        let s = self.slices.place(idx, group, now);
        if let Some(ep) = self.endpoints[idx as usize].as_mut() {
            ep.set_slice(Some(s));
        }
        self.snap.endpoint_changed(idx);
        debug_assert!(
            self.slices
                .get(s)
                .is_some_and(|x| x.members.len() <= self.max_per_slice),
            "slice {s} over the maximum"
        );
    }

    /// Moves an endpoint from slice `src` to slice `dst` of the same group (compaction).
    pub(super) fn move_member(&mut self, idx: EndpointIdx, src: SliceId, dst: SliceId, now: u64) {
        debug_assert_eq!(
            self.slices.get(src).map(|s| s.group),
            self.slices.get(dst).map(|s| s.group)
        );
        self.slices.remove_member(src, idx, now);
        self.slices.add_member(dst, idx, now);
        if let Some(ep) = self.endpoints[idx as usize].as_mut() {
            ep.set_slice(Some(dst));
        }
        self.snap.endpoint_changed(idx);
        debug_assert!(self.endpoint_in_step(idx), "endpoint {idx} out of step");
    }

    /// Adds a slice observed at the initial sync under its own name, holding
    /// the endpoints it claims.
    pub(super) fn adopt_slice(
        &mut self,
        name: &str,
        group: GroupKey,
        claim: &[EndpointIdx],
        now: u64,
    ) -> SliceId {
        let sid = self.slices.create(group, Some(Arc::from(name)));
        for &idx in claim {
            self.slices.add_member(sid, idx, now);
            if let Some(ep) = self.endpoints[idx as usize].as_mut() {
                debug_assert!(ep.slice().is_none(), "endpoint {idx} adopted twice");
                ep.set_slice(Some(sid));
            }
            self.snap.endpoint_changed(idx);
        }
        sid
    }

    /// Removes a slice that holds no endpoint (deleted, or never written).
    pub(super) fn remove_empty_slice(&mut self, sid: SliceId) {
        debug_assert!(
            self.slices.get(sid).is_some_and(|s| s.members.is_empty()),
            "removing slice {sid}, which holds endpoints"
        );
        self.slices.remove(sid);
    }

    /// Removes an endpoint from every index and its slice; returns its
    /// identity and, for a pod, its facts.
    pub(super) fn remove(&mut self, namespace: &str, name: &str, now: u64) -> Option<Removed> {
        let &ns = self.ns_index.get(namespace)?;
        let hash = self.ep_index.hash(ns, name);
        let idx = self.ep_index.remove(&self.endpoints, hash, ns, name)?;
        let Some(mut ep) = self.endpoints[idx as usize].take() else {
            debug_assert!(false, "the index names endpoint {idx}, which is gone");
            return None;
        };
        let pod = self.pod(idx);
        let seq = self.seq(idx);
        if pod.is_some() {
            self.pod_sides[idx as usize] = PodSide::NONE;
        }
        self.free_endpoints.push(idx);
        self.shared.release(&mut ep);
        self.snap
            .endpoint_removed(&self.namespaces[ns as usize].name, ep.name.as_str());
        // A placed endpoint is not waiting; only pods mode indexes
        // endpoints under their namespace.
        if ep.slice().is_none() {
            self.waiting.remove(&seq);
        }
        if self.pods {
            self.namespaces[ns as usize].endpoints.remove(&idx);
        }
        if let Some(s) = ep.slice() {
            self.slices.remove_member(s, idx, now);
            if let Some(g) = self.slices.get(s).map(|s| s.group) {
                self.compaction_candidates.insert(g);
            }
        }
        if let Some(pod) = &pod
            && let Some(n) = pod.node()
            && let Some(state) = self.nodes.get_mut(n as usize)
        {
            state.endpoints.remove(&idx);
        }
        Some(Removed {
            identity: ep.identity(),
            pod,
        })
    }

    pub(super) fn endpoint_name(&self, idx: EndpointIdx) -> String {
        match self.ep(idx) {
            Some(ep) => format!("{}/{}", self.namespaces[ep.ns as usize].name, ep.name),
            None => String::new(),
        }
    }

    /// The name of a namespace id ("" for none).
    pub(super) fn namespace_name(&self, ns: u32) -> Option<&Arc<str>> {
        self.namespaces.get(ns as usize).map(|n| &n.name)
    }
}

/// What [`State::remove`] returns of a removed endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Removed {
    pub(super) identity: Option<IdentityId>,
    pub(super) pod: Option<PodFacts>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed_pair() -> (State, EndpointIdx) {
        let config = Config {
            source: Source::Ciliumendpoints,
            ..Config::default()
        };
        let mut st = State::new(&config);
        st.start_placing();
        let (a, _) = st.upsert("ns", "a", Some(1000), EndpointData::default(), None, 0);
        st.upsert("ns", "b", Some(1000), EndpointData::default(), None, 0);
        assert_eq!(st.check_invariants(), Ok(()));
        (st, a)
    }

    #[test]
    fn broken_links_are_reported() {
        let (st, a) = placed_pair();
        let seq = st.seq(a);

        let mut waiting_and_placed = st.clone();
        waiting_and_placed.waiting.insert(seq, a);
        assert!(waiting_and_placed.check_invariants().is_err());

        let mut unlinked = st.clone();
        unlinked.endpoints[a as usize]
            .as_mut()
            .unwrap()
            .set_slice(None);
        assert!(unlinked.check_invariants().is_err());

        let mut unindexed = st.clone();
        unindexed.ep_index.clear();
        assert!(unindexed.check_invariants().is_err());

        let mut other_namespace = st;
        other_namespace.ns_id("other");
        other_namespace.endpoints[a as usize].as_mut().unwrap().ns = 1;
        assert!(other_namespace.check_invariants().is_err());
    }

    #[test]
    fn removal_clears_every_index() {
        let (mut st, a) = placed_pair();
        let ep = st.remove("ns", "a", 1).unwrap();
        assert_eq!(ep.identity, Some(1000));
        assert!(st.ep(a).is_none());
        assert_eq!(st.check_invariants(), Ok(()));
        assert!(st.remove("ns", "a", 2).is_none());
    }
}
