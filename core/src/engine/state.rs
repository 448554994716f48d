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

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hashbrown::HashMap;

use crate::config::{Config, SliceMode, Source};
use crate::endpoint::{DataRef, EndpointData};
use crate::identity::IdentityId;
use crate::model::Labels;
use crate::slicing::{EndpointIdx, GroupKey, SliceId, SliceTable};
use crate::snapshot::Publisher;

use super::profiles::Counted;
use super::{NO_ID, NamespaceState, NodeState, PodFacts};

mod invariants;
mod record;
mod table;

pub(super) use record::Endpoint;
use record::{Addrs, NODE_NONE, NODE_V4, NODE_V6, PodSide};
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
    /// The node IPs and service accounts of the records (ids in them).
    node_ips: Counted<Ipv6Addr>,
    service_accounts: Counted<Arc<str>>,
    /// Pods mode: each pod's facts and arrival number, by slot
    /// ([`PodSide::NONE`] for a slot that holds no pod).
    pod_sides: SlotTable<PodSide>,
    /// (namespace id, name) → endpoint. The table holds slot numbers only;
    /// the key is read from the endpoint record (4 bytes a slot instead of
    /// a copy of the key).
    ep_index: hashbrown::HashTable<EndpointIdx>,
    /// Hashes `ep_index` keys.
    ep_hasher: hashbrown::DefaultHashBuilder,
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
            node_ips: Counted::default(),
            service_accounts: Counted::default(),
            pod_sides: SlotTable::default(),
            ep_index: hashbrown::HashTable::new(),
            ep_hasher: hashbrown::DefaultHashBuilder::default(),
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
        match ep.node_kind {
            NODE_V4 => Some(IpAddr::V4(Ipv4Addr::from(ep.node_ip))),
            NODE_V6 => self.node_ips.get(ep.node_ip).map(|&ip| IpAddr::V6(ip)),
            _ => None,
        }
    }

    /// The data of a record, borrowed.
    pub(super) fn view<'a>(&'a self, ep: &'a Endpoint) -> DataRef<'a> {
        DataRef {
            addressing: ep.addressing.as_slice(),
            node_ip: self.node_ip(ep),
            encryption_key: ep.encryption_key,
            named_ports: &ep.named_ports,
            service_account: self.service_accounts.get(ep.service_account).map(|s| &**s),
        }
    }

    /// The data of a record, owned.
    pub(super) fn data(&self, ep: &Endpoint) -> EndpointData {
        EndpointData {
            addressing: ep.addressing.as_slice().into(),
            node_ip: self.node_ip(ep),
            encryption_key: ep.encryption_key,
            named_ports: ep.named_ports.clone(),
            service_account: self.service_accounts.get(ep.service_account).cloned(),
        }
    }

    /// Whether a record holds this identity and data.
    fn same_content(&self, ep: &Endpoint, identity: Option<IdentityId>, d: &EndpointData) -> bool {
        ep.identity() == identity
            && ep.encryption_key == d.encryption_key
            && ep.addressing.as_slice() == d.addressing.as_slice()
            && ep.named_ports == d.named_ports
            && self.node_ip(ep) == d.node_ip
            && self.service_accounts.get(ep.service_account).map(|s| &**s)
                == d.service_account.as_deref()
    }

    /// The endpoint of a namespace and name.
    pub(super) fn lookup(&self, ns: u32, name: &str) -> Option<EndpointIdx> {
        self.find(self.key_hash(ns, name), ns, name)
    }

    /// The hash of an endpoint key in `ep_index`.
    fn key_hash(&self, ns: u32, name: &str) -> u64 {
        self.ep_hasher.hash_one(EpKey(ns, name))
    }

    /// [`State::lookup`] with the key's hash already computed.
    fn find(&self, hash: u64, ns: u32, name: &str) -> Option<EndpointIdx> {
        let eps = &self.endpoints;
        self.ep_index
            .find(hash, |&i| is_key(eps, i, ns, name))
            .copied()
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
        let hash = self.key_hash(ns, name);
        match self.find(hash, ns, name) {
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
        let node_ip = data.node_ip;
        let sa = match &data.service_account {
            Some(sa) => self.service_accounts.acquire(sa.clone()),
            None => NO_ID,
        };
        let mut ep = Endpoint::new(ns, name, identity, stamp, data, sa);
        set_node_ip(&mut self.node_ips, &mut ep, node_ip);
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
        let (eps, hasher) = (&self.endpoints, &self.ep_hasher);
        self.ep_index.insert_unique(hash, idx, |&i| {
            eps.get(i as usize)
                .and_then(Option::as_ref)
                .map_or(0, |e| hasher.hash_one(EpKey(e.ns, e.name.as_str())))
        });
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
        if self.same_content(ep, identity, &data) {
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
        store(&mut self.node_ips, &mut self.service_accounts, ep, data);
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
        let hash = self.key_hash(ns, name);
        let eps = &self.endpoints;
        let (idx, _) = self
            .ep_index
            .find_entry(hash, |&i| is_key(eps, i, ns, name))
            .ok()?
            .remove();
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
        set_node_ip(&mut self.node_ips, &mut ep, None);
        if ep.service_account != NO_ID {
            self.service_accounts.release(ep.service_account);
        }
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

/// Writes `data` into a record: the address pairs, ports and key in
/// place, the node IP and service account as ids of the shared tables
/// (an unchanged value keeps its id; a changed one releases the old).
fn store(
    node_ips: &mut Counted<Ipv6Addr>,
    service_accounts: &mut Counted<Arc<str>>,
    ep: &mut Endpoint,
    data: EndpointData,
) {
    set_node_ip(node_ips, ep, data.node_ip);
    let sa = match data.service_account {
        None => NO_ID,
        Some(sa)
            if service_accounts
                .get(ep.service_account)
                .is_some_and(|old| *old == sa) =>
        {
            ep.service_account
        }
        Some(sa) => service_accounts.acquire(sa),
    };
    if sa != ep.service_account && ep.service_account != NO_ID {
        service_accounts.release(ep.service_account);
    }
    ep.service_account = sa;
    if ep.addressing.as_slice() != data.addressing.as_slice() {
        ep.addressing = Addrs::from_slice(&data.addressing);
    }
    ep.named_ports = data.named_ports;
    ep.encryption_key = data.encryption_key;
}

/// Sets a record's node IP: an IPv4 address inline, an IPv6 one as an id
/// of `node_ips` (kept if it is unchanged; a replaced id is released).
fn set_node_ip(node_ips: &mut Counted<Ipv6Addr>, ep: &mut Endpoint, ip: Option<IpAddr>) {
    let old_v6 = (ep.node_kind == NODE_V6).then_some(ep.node_ip);
    let (kind, bits) = match ip {
        None => (NODE_NONE, 0),
        Some(IpAddr::V4(v4)) => (NODE_V4, u32::from(v4)),
        Some(IpAddr::V6(v6)) => match old_v6 {
            Some(id) if node_ips.get(id) == Some(&v6) => return,
            _ => (NODE_V6, node_ips.acquire(v6)),
        },
    };
    if let Some(id) = old_v6 {
        node_ips.release(id);
    }
    ep.node_kind = kind;
    ep.node_ip = bits;
}

/// The stamp of an entry's content: equal content, equal stamp (DESIGN: a
/// write equal to what the server holds is not sent, and a change undone
/// before the flush costs nothing).
///
/// A 64-bit foldhash (its `quality` variant) with a fixed seed: the same
/// content has the same stamp in every run and process, and nothing but
/// equality of stamps is used (no order, no output). Two different contents
/// with equal stamps would be taken as equal, and a write skipped: for
/// contents that are not chosen to collide that is a chance of about 2^-64
/// per pair compared, as with the SipHash (fixed keys) used before.
///
/// The content is fed as a few whole words rather than field by field
/// (the derived `Hash` writes every option's tag, every address's length
/// and bytes separately: about twice the work). The words say which parts
/// follow (an address present or not, a v4 or v6 node IP), lists are
/// preceded by their lengths and strings end in `0xff` (no UTF-8 byte), so
/// two different contents are never fed as the same sequence.
pub(super) fn content_stamp(name: &str, identity: Option<IdentityId>, data: DataRef<'_>) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    use std::net::IpAddr;
    const SEED: u64 = 0x5eed_5a1c_e91a_4e00;
    let mut h = foldhash::quality::FixedState::with_seed(SEED).build_hasher();
    name.hash(&mut h);
    h.write_u64(identity.map_or(1 << 32, u64::from));
    h.write_usize(data.addressing.len());
    for a in data.addressing {
        let v4 = a.ipv4.map_or(0, |ip| u64::from(u32::from(ip)) | (1 << 32));
        h.write_u64(v4 | (u64::from(a.ipv6.is_some()) << 33));
        if let Some(v6) = a.ipv6 {
            h.write_u128(u128::from(v6));
        }
    }
    let key = u64::from(data.encryption_key);
    match data.node_ip {
        None => h.write_u64(key),
        Some(IpAddr::V4(ip)) => h.write_u64(key | (1 << 8) | (u64::from(u32::from(ip)) << 16)),
        Some(IpAddr::V6(ip)) => {
            h.write_u64(key | (2 << 8));
            h.write_u128(u128::from(ip));
        }
    }
    h.write_usize(data.named_ports.len());
    for p in data.named_ports.iter() {
        p.name.hash(&mut h);
        h.write_u64(u64::from(p.port) | ((p.protocol as u64) << 16));
    }
    match data.service_account {
        None => h.write_u8(0),
        Some(sa) => {
            h.write_u8(1);
            sa.hash(&mut h);
        }
    }
    h.finish()
}

/// What [`State::remove`] returns of a removed endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Removed {
    pub(super) identity: Option<IdentityId>,
    pub(super) pod: Option<PodFacts>,
}

/// An endpoint's key in `State::ep_index`: namespace id and name.
#[derive(Hash)]
struct EpKey<'a>(u32, &'a str);

/// Whether slot `i` holds the endpoint `ns`/`name`.
fn is_key(eps: &EndpointTable, i: EndpointIdx, ns: u32, name: &str) -> bool {
    eps.get(i as usize)
        .and_then(Option::as_ref)
        .is_some_and(|e| e.ns == ns && e.name.as_str() == name)
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

    /// Contents that differ in any one part have different stamps; equal
    /// contents equal ones.
    #[test]
    fn stamps_tell_every_part_apart() {
        use crate::endpoint::{Addressing, PortEntry, Protocol};
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let v4 = |x: u8| Some(Ipv4Addr::new(10, 0, 0, x));
        let v6 = |x: u16| Some(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, x));
        let pair = |a, b| Addressing { ipv4: a, ipv6: b };
        let port = |name: &str, port, protocol| PortEntry {
            name: Arc::from(name),
            port,
            protocol,
        };
        let base = EndpointData {
            addressing: smallvec::smallvec![pair(v4(1), None)],
            node_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1))),
            encryption_key: 0,
            named_ports: vec![port("http", 80, Protocol::Tcp)].into(),
            service_account: None,
        };
        let mut variants: Vec<(&str, Option<IdentityId>, EndpointData)> =
            vec![("a", Some(1), base.clone())];
        let mut vary = |f: &dyn Fn(&mut EndpointData)| {
            let mut d = base.clone();
            f(&mut d);
            variants.push(("a", Some(1), d));
        };
        vary(&|d| d.addressing = smallvec::smallvec![]);
        vary(&|d| d.addressing = smallvec::smallvec![pair(None, None)]);
        vary(&|d| d.addressing = smallvec::smallvec![pair(v4(2), None)]);
        vary(&|d| d.addressing = smallvec::smallvec![pair(v4(1), v6(1))]);
        vary(&|d| d.addressing = smallvec::smallvec![pair(None, v6(1))]);
        vary(&|d| d.addressing = smallvec::smallvec![pair(v4(1), None), pair(None, None)]);
        vary(&|d| d.node_ip = None);
        vary(&|d| d.node_ip = Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        vary(&|d| d.node_ip = Some(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2))));
        vary(&|d| d.encryption_key = 1);
        vary(&|d| d.named_ports = Default::default());
        vary(&|d| d.named_ports = vec![port("http", 81, Protocol::Tcp)].into());
        vary(&|d| d.named_ports = vec![port("http", 80, Protocol::Udp)].into());
        vary(&|d| d.named_ports = vec![port("htt", 80, Protocol::Tcp)].into());
        vary(&|d| d.service_account = Some(Arc::from("")));
        vary(&|d| d.service_account = Some(Arc::from("sa")));
        variants.push(("b", Some(1), base.clone()));
        variants.push(("a", Some(2), base.clone()));
        variants.push(("a", None, base.clone()));
        for (i, (n1, id1, d1)) in variants.iter().enumerate() {
            assert_eq!(
                content_stamp(n1, *id1, d1.view()),
                content_stamp(n1, *id1, d1.clone().view()),
                "variant {i}"
            );
            for (j, (n2, id2, d2)) in variants.iter().enumerate().skip(i + 1) {
                assert_ne!(
                    content_stamp(n1, *id1, d1.view()),
                    content_stamp(n2, *id2, d2.view()),
                    "variants {i} and {j}"
                );
            }
        }
    }

    /// A record gives back the data it was given, through every change
    /// from one content to another, and its removal leaves nothing in the
    /// shared node IP and service account tables.
    #[test]
    fn records_keep_their_data_and_release_shared_values() {
        use crate::endpoint::{Addressing, PortEntry, Protocol};
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let pair = |a: u8, b: Option<u16>| Addressing {
            ipv4: Some(Ipv4Addr::new(10, 0, 0, a)),
            ipv6: b.map(|x| Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, x)),
        };
        let mut datas = Vec::new();
        for node in [
            None,
            Some(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1))),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            Some(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9))),
        ] {
            for sa in [None, Some("a"), Some("b")] {
                for addressing in [
                    smallvec::smallvec![],
                    smallvec::smallvec![pair(1, None)],
                    smallvec::smallvec![pair(1, Some(1)), pair(2, None)],
                ] {
                    datas.push(EndpointData {
                        addressing,
                        node_ip: node,
                        encryption_key: sa.map_or(0, |_| 3),
                        named_ports: vec![PortEntry {
                            name: Arc::from("p"),
                            port: 80,
                            protocol: Protocol::Tcp,
                        }]
                        .into(),
                        service_account: sa.map(Arc::from),
                    });
                }
            }
        }
        let config = Config {
            source: Source::Ciliumendpoints,
            ..Config::default()
        };
        let mut st = State::new(&config);
        st.start_placing();
        // Two endpoints, so shared values are shared while one changes.
        let (b, _) = st.upsert("ns", "b", Some(1), datas[5].clone(), None, 0);
        for (i, d) in datas.iter().enumerate() {
            let (a, _) = st.upsert("ns", "a", Some(1), d.clone(), None, i as u64);
            assert_eq!(st.data(st.ep(a).unwrap()), *d, "variant {i}");
            assert_eq!(st.view(st.ep(a).unwrap()), d.view(), "variant {i}");
            assert_eq!(st.data(st.ep(b).unwrap()), datas[5]);
            assert_eq!(
                st.ep(a).unwrap().stamp,
                content_stamp("a", Some(1), d.view())
            );
            if i % 5 == 0 {
                st.remove("ns", "a", i as u64);
            }
        }
        assert_eq!(st.check_invariants(), Ok(()));
        st.remove("ns", "a", 100);
        st.remove("ns", "b", 100);
        for id in 0..8 {
            assert_eq!(st.node_ips.get(id), None);
            assert_eq!(st.service_accounts.get(id), None);
        }
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
