//! The engine: takes watch events, keeps the desired slices, plans writes.
//!
//! Read it top to bottom: state, ingestion per kind, the initial sync
//! (adoption), flush (the plan), and outcome reporting.
//!
//! **Content stamps.** Every time what a slice says about an endpoint
//! changes (identity, addresses, node, key, ports, service account), the
//! endpoint gets a new stamp from a counter that never repeats. A slice's
//! desired content is the set of its members' stamps; what the server holds
//! is the set of stamps of the entries it holds (an entry that differs from
//! the endpoint's current content gets a stamp nothing else has). A slice
//! needs a write exactly when the two sets differ — so a change that is
//! undone before the flush (added then removed) costs nothing, and a write
//! equal to what the server holds is never sent.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};

use crate::config::{Config, SliceMode, Source};
use crate::endpoint::{self, DataInterner, EndpointData, PodInput};
use crate::error::{Error, ErrorCode, Result};
use crate::events::{Category, Event, EventLog, Severity};
use crate::health::{Health, HealthTracker};
use crate::identity::{IdentityAllocator, IdentityId, Restore, ServerMeta};
use crate::labels::{LabelFilter, LabelSet, PodLabelInputs, pod_security_labels};
use crate::metrics::{Metrics, TextWriter, escape_label, labelled_counts};
use crate::model::{
    CiliumEndpointSlice, CiliumIdentity, CiliumNode, EventType, Kind, Labels, Namespace, Node,
    Object, WatchEvent, describe,
};
use crate::plan::{OpId, Outcome, PlannedWrite, Preconditions, Verb, WriteOp, WritePlan};
use crate::ratelimit::TokenBucket;
use crate::slicing::{EndpointIdx, GroupKey, ServerSlice, SliceId, SliceTable};
use crate::snapshot::{
    EndpointView, EngineEndpoint, Publisher, SliceView, Snapshot, SnapshotReader,
};
use crate::validate;

/// The annotation that makes a namespace's slices go first.
pub const PRIORITY_ANNOTATION: &str = "cilium.io/ces-namespace";

#[derive(Debug, Clone)]
struct NamespaceState {
    name: Arc<str>,
    labels: Arc<Labels>,
    priority: bool,
    /// Endpoints of the namespace (pods mode: identities depend on its labels).
    endpoints: HashSet<EndpointIdx>,
}

#[derive(Debug, Clone, Default)]
struct NodeState {
    /// InternalIPs from the Node object.
    node_ips: Vec<IpAddr>,
    /// InternalIPs from the CiliumNode object.
    cilium_ips: Vec<IpAddr>,
    has_cilium_node: bool,
    encryption_key: u8,
    /// Endpoints on the node (pods mode).
    endpoints: HashSet<EndpointIdx>,
}

impl NodeState {
    /// The node IP written into slices: first InternalIP, IPv4 first.
    fn ip(&self) -> Option<IpAddr> {
        let ips = if self.cilium_ips.is_empty() {
            &self.node_ips
        } else {
            &self.cilium_ips
        };
        ips.iter()
            .find(|ip| ip.is_ipv4())
            .or_else(|| ips.first())
            .copied()
    }
}

/// What pods mode keeps of a pod to recompute its identity and node data.
#[derive(Debug, Clone)]
struct PodFacts {
    labels: Arc<Labels>,
    service_account: Arc<str>,
    node: Option<Arc<str>>,
    host_ip: Option<IpAddr>,
    /// The identity's canonical key as last computed.
    identity_key: Option<Arc<str>>,
}

#[derive(Debug, Clone)]
struct Endpoint {
    ns: u32,
    name: Arc<str>,
    data: EndpointData,
    /// `None` while waiting for an identity (pods mode: not yet synced, or exhausted).
    identity: Option<IdentityId>,
    slice: Option<SliceId>,
    stamp: u64,
    /// Arrival order, for deterministic waiting queues.
    seq: u64,
    pod: Option<Box<PodFacts>>,
}

#[derive(Debug, Clone)]
enum Target {
    Slice {
        slice: SliceId,
        verb: Verb,
        /// Stamps the write put on the server (sorted).
        stamps: Vec<u64>,
        dirty_since: u64,
        /// An update that empties the slice before its delete.
        emptying: bool,
    },
    Identity {
        id: IdentityId,
        verb: Verb,
    },
}

/// Counters of what the engine did (the base of the metrics). Serializes
/// with camelCase keys; `writesPlanned` is keyed `kind/verb`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub events_applied: u64,
    pub events_rejected: u64,
    pub events_ignored_other_shard: u64,
    pub events_ignored_other_source: u64,
    #[serde(serialize_with = "serialize_writes_planned")]
    pub writes_planned: BTreeMap<(&'static str, &'static str), u64>,
    pub writes_succeeded: u64,
    pub writes_failed: u64,
    pub no_op_skips: u64,
    pub identities_allocated: u64,
    pub identities_released: u64,
    pub identity_exhausted: u64,
    pub compaction_moves: u64,
}

fn serialize_writes_planned<S: serde::Serializer>(
    map: &BTreeMap<(&'static str, &'static str), u64>,
    ser: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = ser.serialize_map(Some(map.len()))?;
    for ((kind, verb), n) in map {
        m.serialize_entry(&format!("{kind}/{verb}"), n)?;
    }
    m.end()
}

/// A summary of the engine's state. Serializes with camelCase keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// The initial sync is done.
    pub synced: bool,
    pub endpoints: usize,
    pub endpoints_waiting: usize,
    pub slices: usize,
    pub dirty_slices: usize,
    pub in_flight: usize,
    pub identities: usize,
    pub namespaces: usize,
    pub nodes: usize,
}

/// (namespace, pod labels, service account).
type LabelCacheKey = (u32, Arc<Labels>, Arc<str>);

/// The endpoint-slice engine. See the crate docs and DESIGN.md.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Config,
    filter: LabelFilter,
    synced: bool,
    /// During the initial sync: content is set but nothing is placed yet.
    adopting: bool,
    interner: DataInterner,
    namespaces: Vec<NamespaceState>,
    ns_index: HashMap<Arc<str>, u32>,
    nodes: HashMap<Arc<str>, NodeState>,
    endpoints: Vec<Option<Endpoint>>,
    free_endpoints: Vec<EndpointIdx>,
    ep_index: HashMap<(u32, Arc<str>), EndpointIdx>,
    /// seq → endpoint: endpoints waiting for an identity number.
    waiting: BTreeMap<u64, EndpointIdx>,
    identities: IdentityAllocator,
    /// CiliumEndpoint source: identity labels learned from CEPs and CiliumIdentities.
    known_identities: HashMap<IdentityId, Arc<LabelSet>>,
    slices: SliceTable,
    /// Slices observed before the initial sync, in arrival order.
    observed: Vec<CiliumEndpointSlice>,
    /// (namespace, pod labels, service account) → security labels and their
    /// key. Pods of one deployment share labels, so the filter runs once per
    /// distinct label map. Cleared when namespace labels or the filter change.
    label_cache: HashMap<LabelCacheKey, (Arc<str>, Arc<LabelSet>)>,
    /// Pod label maps, shared between pods with equal labels.
    label_maps: HashSet<Arc<Labels>>,
    /// Size of `label_maps` after the last prune of unused maps.
    label_maps_pruned_at: usize,
    in_flight: HashMap<OpId, Target>,
    /// Groups that lost members since the last compaction pass.
    compaction_candidates: BTreeSet<GroupKey>,
    next_op: u64,
    next_stamp: u64,
    next_seq: u64,
    events: EventLog,
    counters: Counters,
    metrics: Metrics,
    /// Slice writes per second, by node count.
    bucket: TokenBucket,
    cilium_nodes: usize,
    health: HealthTracker,
    /// Snapshot bookkeeping (see `snapshot.rs`).
    snap: Publisher,
}

impl Engine {
    /// A new engine, waiting for its initial sync (see [`Engine::initial_sync_done`]).
    pub fn new(config: Config) -> Result<Engine> {
        config.validate()?;
        let filter = LabelFilter::new(
            &config.identity.label_filter.include,
            &config.identity.label_filter.exclude,
        )?;
        Ok(Engine {
            filter,
            synced: false,
            adopting: false,
            interner: DataInterner::default(),
            namespaces: Vec::new(),
            ns_index: HashMap::new(),
            nodes: HashMap::new(),
            endpoints: Vec::new(),
            free_endpoints: Vec::new(),
            ep_index: HashMap::new(),
            waiting: BTreeMap::new(),
            identities: IdentityAllocator::new(&config.identity, config.seed),
            known_identities: HashMap::new(),
            slices: SliceTable::new(config.slicing.max_endpoints_per_slice, config.seed),
            observed: Vec::new(),
            label_cache: HashMap::new(),
            label_maps: HashSet::new(),
            label_maps_pruned_at: 0,
            in_flight: HashMap::new(),
            compaction_candidates: BTreeSet::new(),
            next_op: 1,
            // Unmatchable stamps count down from the top; content hashes are spread over all values.
            next_stamp: u64::MAX / 2 + 1,
            next_seq: 0,
            events: EventLog::new(config.events),
            counters: Counters::default(),
            metrics: Metrics::default(),
            bucket: TokenBucket::new(&config.write.rate_limits),
            cilium_nodes: 0,
            health: HealthTracker::new(config.write.error_threshold),
            snap: Publisher::new(config.slicing.max_endpoints_per_slice),
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn is_synced(&self) -> bool {
        self.synced
    }

    // ------------------------------------------------------------ ingestion

    /// Applies one watch event at caller time `now` (ms). A rejected event
    /// changes nothing. A DELETED event is checked for its key only (a
    /// valid name, and namespace for Pods and CiliumEndpoints; a missing
    /// one is `missing_field`, a malformed one `invalid_name`) and removes
    /// by that key: the rest of the object it carries is not validated, so
    /// a delete applies even when the last state it carries was rejected.
    /// Pods are matched by namespace and name, as Cilium keys endpoints;
    /// their uid is not used.
    pub fn apply(&mut self, event: &WatchEvent, now: u64) -> Result<()> {
        let r = self.apply_inner(event, now);
        match &r {
            Ok(()) => self.counters.events_applied += 1,
            Err(e) => {
                self.counters.events_rejected += 1;
                let (subject, msg) = (e.object.clone(), e.to_string());
                self.events.record(
                    now,
                    Category::Input,
                    Severity::Warning,
                    "event-rejected",
                    || subject,
                    || msg,
                );
            }
        }
        r
    }

    /// Parses and applies one watch event in JSON.
    pub fn apply_json(&mut self, bytes: &[u8], now: u64) -> Result<()> {
        let ev =
            WatchEvent::from_json(bytes).inspect_err(|_| self.counters.events_rejected += 1)?;
        self.apply(&ev, now)
    }

    /// Applies many events; returns the errors with their index. One bad
    /// event does not stop the others.
    pub fn apply_all<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a WatchEvent>,
        now: u64,
    ) -> Vec<(usize, Error)> {
        let mut errors = Vec::new();
        for (i, ev) in events.into_iter().enumerate() {
            if let Err(e) = self.apply(ev, now) {
                errors.push((i, e));
            }
        }
        errors
    }

    fn apply_inner(&mut self, event: &WatchEvent, now: u64) -> Result<()> {
        let deleted = event.event_type == EventType::Deleted;
        match &event.object {
            Object::Namespace(ns) => self.on_namespace(ns, deleted, now),
            Object::Node(n) => self.on_node(n, deleted, now),
            Object::CiliumNode(n) => self.on_cilium_node(n, deleted, now),
            Object::Pod(p) => {
                if self.config.source != Source::Pods {
                    self.counters.events_ignored_other_source += 1;
                    return Ok(());
                }
                if deleted {
                    // A delete needs the namespace and name only: the last
                    // state it carries may be one that was rejected.
                    endpoint::check_namespaced(Kind::Pod, &p.metadata)?;
                    self.delete_endpoint(&p.metadata, now);
                    return Ok(());
                }
                let input = endpoint::pod_input(p, &mut self.interner.strings)?;
                if !self.config.shard.owns(&input.namespace) {
                    self.counters.events_ignored_other_shard += 1;
                    return Ok(());
                }
                if !input.is_endpoint {
                    self.remove_endpoint(&input.namespace, &input.name, now);
                    Ok(())
                } else {
                    validate::check_labels(
                        &describe(Kind::Pod, &p.metadata),
                        "metadata.labels",
                        &p.metadata.labels,
                    )?;
                    self.upsert_pod(input, &p.metadata.labels, now);
                    Ok(())
                }
            }
            Object::CiliumEndpoint(c) => {
                if self.config.source != Source::Ciliumendpoints {
                    self.counters.events_ignored_other_source += 1;
                    return Ok(());
                }
                if deleted {
                    endpoint::check_namespaced(Kind::CiliumEndpoint, &c.metadata)?;
                    self.delete_endpoint(&c.metadata, now);
                    return Ok(());
                }
                let input = endpoint::cep_input(c, &mut self.interner)?;
                if !self.config.shard.owns(&input.namespace) {
                    self.counters.events_ignored_other_shard += 1;
                    return Ok(());
                }
                match (input.identity, input.data) {
                    (Some(id), Some(data)) => {
                        if !input.identity_labels.is_empty()
                            && !self.known_identities.contains_key(&id)
                        {
                            let labels = LabelSet::from_labels(
                                input
                                    .identity_labels
                                    .iter()
                                    .map(|s| crate::labels::Label::parse(s)),
                            );
                            self.known_identities.insert(id, Arc::new(labels));
                            self.snap.identity_changed(id);
                        }
                        self.upsert_endpoint(
                            &input.namespace,
                            &input.name,
                            Some(id),
                            data,
                            None,
                            now,
                        );
                    }
                    // Not ready: Cilium ignores CEPs without identity or networking.
                    _ => self.remove_endpoint(&input.namespace, &input.name, now),
                }
                Ok(())
            }
            Object::CiliumEndpointSlice(s) => self.on_slice(s, deleted, now),
            Object::CiliumIdentity(i) => self.on_identity(i, deleted, now),
        }
    }

    fn ns_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ns_index.get(name) {
            return id;
        }
        let id = self.namespaces.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.namespaces.push(NamespaceState {
            name: name.clone(),
            labels: Arc::new(Labels::new()),
            priority: false,
            endpoints: HashSet::new(),
        });
        self.ns_index.insert(name, id);
        id
    }

    fn on_namespace(&mut self, ns: &Namespace, deleted: bool, now: u64) -> Result<()> {
        let obj = describe(Kind::Namespace, &ns.metadata);
        validate::require_name(&obj, "metadata.name", &ns.metadata.name, false)?;
        if !deleted {
            validate::check_labels(&obj, "metadata.labels", &ns.metadata.labels)?;
        }
        if !self.config.shard.owns(&ns.metadata.name) {
            self.counters.events_ignored_other_shard += 1;
            return Ok(());
        }
        if deleted && !self.ns_index.contains_key(ns.metadata.name.as_str()) {
            // Nothing known of it: a delete leaves no trace.
            return Ok(());
        }
        let id = self.ns_id(&ns.metadata.name);
        let (labels, priority) = if deleted {
            (Labels::new(), false)
        } else {
            (
                ns.metadata.labels.clone(),
                ns.metadata
                    .annotations
                    .get(PRIORITY_ANNOTATION)
                    .map(String::as_str)
                    == Some("priority"),
            )
        };
        let state = &mut self.namespaces[id as usize];
        state.priority = priority;
        if *state.labels != labels {
            state.labels = Arc::new(labels);
            self.label_cache.retain(|k, _| k.0 != id);
            let state = &self.namespaces[id as usize];
            if self.config.source == Source::Pods && self.synced {
                let mut eps: Vec<EndpointIdx> = state.endpoints.iter().copied().collect();
                eps.sort_unstable_by_key(|&e| {
                    self.endpoints[e as usize].as_ref().map_or(0, |e| e.seq)
                });
                for e in eps {
                    self.refresh_pod(e, now);
                }
            }
        }
        Ok(())
    }

    /// Checks a Node's or CiliumNode's name and address list and returns
    /// its description (for later errors) and its InternalIPs. `addresses`
    /// are `(type, ip)` pairs at `field`.
    fn node_addresses<'a>(
        kind: Kind,
        meta: &crate::model::ObjectMeta,
        field: &str,
        addresses: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(String, Vec<IpAddr>)> {
        let obj = describe(kind, meta);
        validate::require_name(&obj, "metadata.name", &meta.name, true)?;
        validate::too_large(&obj, field, addresses.len(), validate::MAX_ADDRESSES)?;
        let mut ips = Vec::new();
        for (i, (kind, ip)) in addresses.enumerate() {
            if kind == "InternalIP" {
                ips.push(validate::parse_ip(&obj, &format!("{field}[{i}]"), ip)?);
            }
        }
        Ok((obj, ips))
    }

    /// A DELETED Node or CiliumNode needs its name only; the addresses and
    /// key it carries are not read.
    fn check_deleted_node(kind: Kind, meta: &crate::model::ObjectMeta) -> Result<()> {
        validate::require_name(&describe(kind, meta), "metadata.name", &meta.name, true)
    }

    fn on_node(&mut self, node: &Node, deleted: bool, now: u64) -> Result<()> {
        let ips = if deleted {
            Self::check_deleted_node(Kind::Node, &node.metadata)?;
            Vec::new()
        } else {
            Self::node_addresses(
                Kind::Node,
                &node.metadata,
                "status.addresses",
                node.status
                    .addresses
                    .iter()
                    .map(|a| (a.kind.as_str(), a.address.as_str())),
            )?
            .1
        };
        if deleted && !self.nodes.contains_key(node.metadata.name.as_str()) {
            return Ok(());
        }
        let name = self.interner.strings.intern(&node.metadata.name);
        let state = self.nodes.entry(name.clone()).or_default();
        state.node_ips = ips;
        self.refresh_node(&name, now);
        Ok(())
    }

    fn on_cilium_node(&mut self, node: &CiliumNode, deleted: bool, now: u64) -> Result<()> {
        let (ips, key) = if deleted {
            Self::check_deleted_node(Kind::CiliumNode, &node.metadata)?;
            (Vec::new(), 0)
        } else {
            let (obj, ips) = Self::node_addresses(
                Kind::CiliumNode,
                &node.metadata,
                "spec.addresses",
                node.spec
                    .addresses
                    .iter()
                    .map(|a| (a.kind.as_str(), a.ip.as_str())),
            )?;
            let key = match &node.spec.encryption {
                Some(e) => endpoint::encryption_key(&obj, "spec.encryption.key", e.key)?,
                None => 0,
            };
            (ips, key)
        };
        if deleted && !self.nodes.contains_key(node.metadata.name.as_str()) {
            return Ok(());
        }
        let name = self.interner.strings.intern(&node.metadata.name);
        let state = self.nodes.entry(name.clone()).or_default();
        let had = state.has_cilium_node;
        if deleted {
            state.cilium_ips.clear();
            state.has_cilium_node = false;
            state.encryption_key = 0;
        } else {
            state.cilium_ips = ips;
            state.has_cilium_node = true;
            state.encryption_key = key;
        }
        match (had, !deleted) {
            (false, true) => self.cilium_nodes += 1,
            (true, false) => self.cilium_nodes -= 1,
            _ => {}
        }
        if self.bucket.set_nodes(self.cilium_nodes) {
            let step = self.bucket.active();
            let n = self.cilium_nodes;
            self.events.record(
                now,
                Category::Slices,
                Severity::Info,
                "rate-limit-changed",
                || "write rate limit".to_string(),
                || format!("{n} nodes: {} writes/s, burst {}", step.limit, step.burst),
            );
        }
        self.refresh_node(&name, now);
        Ok(())
    }

    /// Number of CiliumNodes seen (drives the rate-limit step).
    pub fn node_count(&self) -> usize {
        self.cilium_nodes
    }

    fn refresh_node(&mut self, name: &Arc<str>, now: u64) {
        if self.config.source != Source::Pods {
            return;
        }
        let Some(state) = self.nodes.get(name) else {
            return;
        };
        let mut eps: Vec<EndpointIdx> = state.endpoints.iter().copied().collect();
        eps.sort_unstable();
        for e in eps {
            self.refresh_pod(e, now);
        }
    }

    // ------------------------------------------------------------ endpoints

    /// A stamp no content has: for server entries that match no endpoint.
    fn new_stamp(&mut self) -> u64 {
        let s = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        s
    }

    fn upsert_pod(&mut self, input: PodInput, labels: &Labels, now: u64) {
        self.ns_id(&input.namespace);
        let named_ports = self.interner.ports(input.named_ports.clone());
        let sa: Arc<str> = self.interner.strings.intern(&input.service_account);
        let node = input
            .node_name
            .as_deref()
            .map(|n| self.interner.strings.intern(n));
        // Share equal label maps between pods (one deployment's pods have equal labels).
        let labels = match self.label_maps.get(labels) {
            Some(a) => a.clone(),
            None => {
                let a = Arc::new(labels.clone());
                self.label_maps.insert(a.clone());
                a
            }
        };
        let facts = PodFacts {
            labels,
            service_account: sa.clone(),
            node,
            host_ip: input.host_ip,
            identity_key: None,
        };
        let data = EndpointData {
            addressing: smallvec::smallvec![input.addressing],
            node_ip: None,
            encryption_key: 0,
            named_ports,
            service_account: (!sa.is_empty()).then_some(sa),
        };
        let idx = self.upsert_endpoint(
            &input.namespace,
            &input.name,
            None,
            data,
            Some(Box::new(facts)),
            now,
        );
        self.refresh_pod(idx, now);
    }

    /// Creates or updates an endpoint record. In pods mode the identity is
    /// filled in by `refresh_pod`.
    fn upsert_endpoint(
        &mut self,
        namespace: &str,
        name: &str,
        identity: Option<IdentityId>,
        data: EndpointData,
        pod: Option<Box<PodFacts>>,
        now: u64,
    ) -> EndpointIdx {
        let ns = self.ns_id(namespace);
        let key_name: Arc<str> = Arc::from(name);
        if let Some(&idx) = self.ep_index.get(&(ns, key_name.clone())) {
            let is_pod = pod.is_some();
            let Some(ep) = self.endpoints[idx as usize].as_mut() else {
                return idx;
            };
            if let Some(mut new_pod) = pod {
                if let Some(old) = &ep.pod {
                    // Keep the identity and the node link; refresh_pod recomputes them.
                    new_pod.identity_key = old.identity_key.clone();
                    if old.node != new_pod.node
                        && let Some(n) = &old.node
                        && let Some(state) = self.nodes.get_mut(n)
                    {
                        state.endpoints.remove(&idx);
                    }
                }
                ep.pod = Some(new_pod);
            }
            if is_pod {
                // Node data and identity come from refresh_pod; keep them for comparison.
                let mut d = data;
                d.node_ip = ep.data.node_ip;
                d.encryption_key = ep.data.encryption_key;
                self.set_content(idx, ep_identity(&self.endpoints[idx as usize]), d, now);
            } else {
                self.set_content(idx, identity, data, now);
            }
            return idx;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let stamp = content_stamp(&key_name, None, &data);
        let ep = Endpoint {
            ns,
            name: key_name.clone(),
            data,
            identity: None,
            slice: None,
            stamp,
            seq,
            pod,
        };
        let idx = match self.free_endpoints.pop() {
            Some(i) => {
                self.endpoints[i as usize] = Some(ep);
                i
            }
            None => {
                self.endpoints.push(Some(ep));
                (self.endpoints.len() - 1) as EndpointIdx
            }
        };
        self.ep_index.insert((ns, key_name), idx);
        if self.config.source == Source::Pods {
            self.namespaces[ns as usize].endpoints.insert(idx);
        }
        if identity.is_some() {
            self.set_content(
                idx,
                identity,
                self.endpoints[idx as usize]
                    .as_ref()
                    .map(|e| e.data.clone())
                    .unwrap_or_default(),
                now,
            );
        }
        idx
    }

    /// Sets identity and data; on change: new stamp, slice dirty, moves in
    /// identity mode, placement when the endpoint becomes placeable.
    fn set_content(
        &mut self,
        idx: EndpointIdx,
        identity: Option<IdentityId>,
        data: EndpointData,
        now: u64,
    ) {
        let synced = self.synced && !self.adopting;
        let mode = self.config.slicing.mode;
        let Some(ep) = self.endpoints[idx as usize].as_mut() else {
            return;
        };
        if ep.identity == identity && ep.data == data {
            if synced && identity.is_none() && ep.slice.is_none() {
                self.waiting.insert(ep.seq, idx);
            }
            return;
        }
        let stamp = content_stamp(&ep.name, identity, &data);
        let old_identity = ep.identity;
        ep.identity = identity;
        ep.data = data;
        ep.stamp = stamp;
        self.snap.endpoint_changed(idx);
        let (ns, slice, seq) = (ep.ns, ep.slice, ep.seq);
        if !synced {
            return;
        }
        match (slice, identity) {
            (Some(s), Some(id)) if mode == SliceMode::Identity && old_identity != Some(id) => {
                self.slices.remove_member(s, idx, now);
                self.compaction_candidates.insert(self.slices.get(s).map_or(
                    GroupKey {
                        namespace: ns,
                        identity: 0,
                    },
                    |s| s.group,
                ));
                self.place(idx, now);
                let subject = self.endpoint_name(idx);
                self.events.record(
                    now,
                    Category::Endpoints,
                    Severity::Info,
                    "endpoint-moved",
                    || subject,
                    || format!("identity changed to {id}: moved to another slice"),
                );
            }
            (Some(s), Some(_)) => self.slices.mark_dirty(s, now),
            (Some(s), None) => {
                self.slices.remove_member(s, idx, now);
                if let Some(ep) = self.endpoints[idx as usize].as_mut() {
                    ep.slice = None;
                }
                self.waiting.insert(seq, idx);
            }
            (None, Some(_)) => {
                self.waiting.remove(&seq);
                self.place(idx, now);
            }
            (None, None) => {
                self.waiting.insert(seq, idx);
            }
        }
    }

    fn group_of(&self, ep: &Endpoint) -> GroupKey {
        GroupKey {
            namespace: ep.ns,
            identity: match self.config.slicing.mode {
                SliceMode::Fcfs => 0,
                SliceMode::Identity => ep.identity.unwrap_or(0),
            },
        }
    }

    fn place(&mut self, idx: EndpointIdx, now: u64) {
        let Some(ep) = self.endpoints[idx as usize].as_ref() else {
            return;
        };
        let group = self.group_of(ep);
        let s = self.slices.place(idx, group, now);
        if let Some(ep) = self.endpoints[idx as usize].as_mut() {
            ep.slice = Some(s);
        }
        self.snap.endpoint_changed(idx);
    }

    fn endpoint_name(&self, idx: EndpointIdx) -> String {
        match self.endpoints.get(idx as usize).and_then(Option::as_ref) {
            Some(ep) => format!("{}/{}", self.namespaces[ep.ns as usize].name, ep.name),
            None => String::new(),
        }
    }

    /// Pods mode: recomputes identity and node data of a pod endpoint.
    fn refresh_pod(&mut self, idx: EndpointIdx, now: u64) {
        if !self.synced {
            return;
        }
        let Some(ep) = self.endpoints[idx as usize].as_ref() else {
            return;
        };
        let Some(pod) = ep.pod.as_ref() else { return };
        let cache_key = (ep.ns, pod.labels.clone(), pod.service_account.clone());
        let (key, set) = match self.label_cache.get(&cache_key) {
            Some((k, s)) => (k.clone(), s.clone()),
            None => {
                let ns = &self.namespaces[ep.ns as usize];
                let set = pod_security_labels(
                    &self.filter,
                    &PodLabelInputs {
                        namespace: &ns.name,
                        pod_labels: &pod.labels,
                        namespace_labels: Some(&ns.labels),
                        service_account: &pod.service_account,
                        cluster_name: &self.config.identity.cluster_name,
                    },
                );
                let entry: (Arc<str>, Arc<LabelSet>) =
                    (Arc::from(set.canonical_key()), Arc::new(set));
                self.label_cache.insert(cache_key, entry.clone());
                entry
            }
        };
        let Some(ep) = self.endpoints[idx as usize].as_ref() else {
            return;
        };
        let Some(pod) = ep.pod.as_ref() else { return };
        let node_state = pod.node.as_ref().and_then(|n| self.nodes.get(n));
        let node_ip = node_state.and_then(NodeState::ip).or(pod.host_ip);
        let key_changed = pod.identity_key.as_deref() != Some(&*key);
        let old_identity = ep.identity;
        let node = pod.node.clone();
        let encryption_key = node_state.map_or(0, |n| n.encryption_key);
        let mut data = ep.data.clone();
        data.node_ip = node_ip;
        data.encryption_key = encryption_key;
        if let Some(n) = &node {
            self.nodes
                .entry(n.clone())
                .or_default()
                .endpoints
                .insert(idx);
        }
        let identity = if key_changed || old_identity.is_none() {
            if let Some(old) = old_identity {
                self.identities.release(old, now);
                self.counters.identities_released += 1;
            }
            let known_before = self.identities.lookup_key(&key).is_some();
            let id = self.identities.acquire(&set, &key);
            match id {
                Some(id) => {
                    if !known_before {
                        self.counters.identities_allocated += 1;
                        self.events.record(
                            now,
                            Category::Identities,
                            Severity::Info,
                            "identity-allocated",
                            || format!("CiliumIdentity {id}"),
                            || format!("labels {key}"),
                        );
                    }
                }
                None => {
                    self.counters.identity_exhausted += 1;
                    let (lo, hi) = self.identities.range();
                    let subject = self.endpoint_name(idx);
                    self.events.record(
                        now,
                        Category::Identities,
                        Severity::Error,
                        "identity-exhausted",
                        || subject,
                        || format!("no free identity number in {lo}-{hi}; the endpoint waits"),
                    );
                }
            }
            if let Some(pod) = self.endpoints[idx as usize]
                .as_mut()
                .and_then(|e| e.pod.as_mut())
            {
                pod.identity_key = id.map(|_| key.clone());
            }
            id
        } else {
            old_identity
        };
        self.set_content(idx, identity, data, now);
    }

    /// A DELETED Pod or CiliumEndpoint whose namespace and name are checked:
    /// removes the endpoint by that key, whatever else the event carries.
    fn delete_endpoint(&mut self, meta: &crate::model::ObjectMeta, now: u64) {
        let namespace = meta.namespace.as_deref().unwrap_or("");
        if !self.config.shard.owns(namespace) {
            self.counters.events_ignored_other_shard += 1;
            return;
        }
        self.remove_endpoint(namespace, &meta.name, now);
    }

    fn remove_endpoint(&mut self, namespace: &str, name: &str, now: u64) {
        let Some(&ns) = self.ns_index.get(namespace) else {
            return;
        };
        let Some(idx) = self.ep_index.remove(&(ns, Arc::from(name))) else {
            return;
        };
        let Some(ep) = self.endpoints[idx as usize].take() else {
            return;
        };
        self.free_endpoints.push(idx);
        self.snap
            .endpoint_removed(&self.namespaces[ns as usize].name, &ep.name);
        self.waiting.remove(&ep.seq);
        self.namespaces[ns as usize].endpoints.remove(&idx);
        if let Some(s) = ep.slice {
            self.slices.remove_member(s, idx, now);
            if let Some(g) = self.slices.get(s).map(|s| s.group) {
                self.compaction_candidates.insert(g);
            }
        }
        if let Some(pod) = &ep.pod {
            if let Some(n) = &pod.node
                && let Some(state) = self.nodes.get_mut(n)
            {
                state.endpoints.remove(&idx);
            }
            if let Some(id) = ep.identity {
                self.identities.release(id, now);
                self.counters.identities_released += 1;
            }
        }
    }

    /// Retries endpoints waiting for an identity number, oldest first.
    fn retry_waiting(&mut self, now: u64) {
        if self.config.source != Source::Pods
            || self.waiting.is_empty()
            || self.identities.free_count() == 0
        {
            return;
        }
        let waiting: Vec<EndpointIdx> = self.waiting.values().copied().collect();
        for idx in waiting {
            if self.identities.free_count() == 0 {
                break;
            }
            self.refresh_pod(idx, now);
        }
    }

    // ------------------------------------------------------------ identities

    fn on_identity(&mut self, obj: &CiliumIdentity, deleted: bool, now: u64) -> Result<()> {
        let o = describe(Kind::CiliumIdentity, &obj.metadata);
        if obj.metadata.name.is_empty() {
            return Err(Error::new(
                ErrorCode::MissingField,
                o,
                "metadata.name",
                "name is required",
            ));
        }
        if !deleted {
            validate::too_large(
                &o,
                "security-labels",
                obj.security_labels.len(),
                validate::MAX_LABELS,
            )?;
            validate::check_labels_size(&o, "security-labels", &obj.security_labels)?;
        }
        if self.config.source == Source::Ciliumendpoints {
            if let Ok(id) = obj.metadata.name.parse::<IdentityId>() {
                self.snap.identity_changed(id);
                if deleted {
                    self.known_identities.remove(&id);
                } else {
                    self.known_identities.insert(
                        id,
                        Arc::new(LabelSet::from_security_labels(&obj.security_labels)),
                    );
                }
            }
            return Ok(());
        }
        if deleted {
            self.identities.observe_deleted(&obj.metadata.name);
            return Ok(());
        }
        match self.identities.observe(obj, now) {
            Restore::Recorded => {}
            Restore::NotAnIdentity => {
                return Err(Error::new(
                    ErrorCode::InvalidName,
                    o,
                    "metadata.name",
                    "a CiliumIdentity is named by its number (256 or more)",
                ));
            }
            Restore::DuplicateLabels { kept } => self.events.record(
                now,
                Category::Identities,
                Severity::Warning,
                "identity-conflict",
                || o.clone(),
                || format!("same labels as identity {kept}; {kept} is kept, this one ages out"),
            ),
            Restore::Conflict { ours } => self.events.record(
                now,
                Category::Identities,
                Severity::Warning,
                "identity-conflict",
                || o.clone(),
                || format!("the server holds this number for other labels than ours ({ours})"),
            ),
            Restore::Renumbered { labels, old, new } => {
                self.events.record(
                    now,
                    Category::Identities,
                    Severity::Warning,
                    "identity-conflict",
                    || o.clone(),
                    || format!("number {old} is held by other labels on the server; ours moved to {new:?}"),
                );
                self.renumber(old, &labels, new, now);
            }
        }
        Ok(())
    }

    /// Endpoints using `old` (for `labels`) move to `new`, or wait.
    fn renumber(&mut self, old: IdentityId, labels: &LabelSet, new: Option<IdentityId>, now: u64) {
        let key = labels.canonical_key();
        let affected: Vec<EndpointIdx> = self
            .endpoints
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let e = e.as_ref()?;
                (e.identity == Some(old)
                    && e.pod.as_ref()?.identity_key.as_deref() == Some(key.as_str()))
                .then_some(i as EndpointIdx)
            })
            .collect();
        for idx in affected {
            let data = match self.endpoints[idx as usize].as_mut() {
                Some(ep) => {
                    if new.is_none()
                        && let Some(p) = ep.pod.as_mut()
                    {
                        p.identity_key = None;
                    }
                    ep.data.clone()
                }
                None => continue,
            };
            self.set_content(idx, new, data, now);
        }
    }

    /// Labels of an identity: allocated, observed or reserved.
    pub fn identity_labels(&self, id: IdentityId) -> Option<Arc<LabelSet>> {
        if let Some(r) = self.identities.get(id) {
            return Some(r.labels.clone());
        }
        if let Some(l) = self.known_identities.get(&id) {
            return Some(l.clone());
        }
        crate::identity::reserved_labels(id).map(Arc::new)
    }

    // ------------------------------------------------------------ observed slices

    fn on_slice(&mut self, ces: &CiliumEndpointSlice, deleted: bool, now: u64) -> Result<()> {
        let obj = if deleted {
            // A delete needs the name only (slices are cluster-scoped and
            // named uniquely); a slice of another shard is not in our table.
            let obj = describe(Kind::CiliumEndpointSlice, &ces.metadata);
            validate::require_name(&obj, "metadata.name", &ces.metadata.name, true)?;
            obj
        } else {
            validate::slice_header(ces)?
        };
        if !deleted && !ces.namespace.is_empty() && !self.config.shard.owns(&ces.namespace) {
            self.counters.events_ignored_other_shard += 1;
            return Ok(());
        }
        if !self.synced {
            self.observed
                .retain(|o| o.metadata.name != ces.metadata.name);
            if !deleted {
                self.observed.push(ces.clone());
            }
            return Ok(());
        }
        let sid = self.slices.by_name(&ces.metadata.name);
        match (sid, deleted) {
            (Some(sid), true) => {
                let Some(slice) = self.slices.get_mut(sid) else {
                    return Ok(());
                };
                slice.server = None;
                if slice.in_flight.is_none() {
                    if slice.members.is_empty() {
                        self.slices.remove(sid);
                    } else {
                        self.slices.mark_dirty(sid, now);
                        self.events.record(
                            now,
                            Category::Slices,
                            Severity::Warning,
                            "slice-deleted-externally",
                            || obj.clone(),
                            || "deleted on the server; it will be re-created".into(),
                        );
                    }
                }
            }
            (Some(sid), false) => {
                let known = self
                    .slices
                    .get(sid)
                    .and_then(|s| s.server.as_ref())
                    .and_then(|s| s.resource_version.as_deref());
                if is_older_version(ces.metadata.resource_version.as_deref(), known) {
                    // A watch event from before our last write (its echo
                    // arrives later): taking it as the server's state would
                    // bring back an old resourceVersion and conflict.
                    return Ok(());
                }
                let server = self.server_view(ces, sid);
                let desired = self.desired_stamps(sid);
                if let Some(slice) = self.slices.get_mut(sid) {
                    let differs = server.stamps != desired || !server.namespace_ok;
                    slice.server = Some(server);
                    // Fresh server state: no reason to wait out a conflict's backoff.
                    slice.not_before = 0;
                    if differs && slice.in_flight.is_none() {
                        self.slices.mark_dirty(sid, now);
                    }
                }
            }
            (None, true) => {}
            (None, false) => {
                // A slice we did not make: a leftover or another writer's. Remove it.
                let ns = if ces.namespace.is_empty() {
                    0
                } else {
                    self.ns_id(&ces.namespace)
                };
                let group = GroupKey {
                    namespace: ns,
                    identity: u32::MAX,
                };
                let sid = self
                    .slices
                    .create(group, Some(Arc::from(ces.metadata.name.as_str())));
                let server = self.server_view(ces, sid);
                if let Some(s) = self.slices.get_mut(sid) {
                    s.server = Some(server);
                }
                self.slices.mark_dirty(sid, now);
                self.events.record(
                    now,
                    Category::Slices,
                    Severity::Info,
                    "slice-foreign",
                    || obj.clone(),
                    || "not one of ours: planned for deletion".into(),
                );
            }
        }
        Ok(())
    }

    /// What the server holds for a slice, as stamps.
    fn server_view(&mut self, ces: &CiliumEndpointSlice, sid: SliceId) -> ServerSlice {
        let slice_ns = self.slices.get(sid).map(|s| s.group.namespace);
        let ns_name = slice_ns
            .and_then(|n| self.namespaces.get(n as usize))
            .map(|n| n.name.clone());
        let ns = self.ns_index.get(ces.namespace.as_str()).copied();
        let mut seen: HashSet<EndpointIdx> = HashSet::new();
        let mut stamps = Vec::with_capacity(ces.endpoints.len());
        for entry in &ces.endpoints {
            // An entry counts only for an endpoint of this slice, once.
            let mine = ns
                .and_then(|ns| {
                    self.ep_index
                        .get(&(ns, Arc::from(entry.name.as_str())))
                        .copied()
                })
                .filter(|&idx| {
                    self.endpoints[idx as usize]
                        .as_ref()
                        .is_some_and(|e| e.slice == Some(sid))
                })
                .is_some_and(|idx| seen.insert(idx));
            let parsed = if mine {
                endpoint::core_to_data(entry, &mut self.interner)
            } else {
                None
            };
            let s = match parsed {
                Some((id, data)) => content_stamp(&entry.name, Some(id), &data),
                None => self.new_stamp(),
            };
            stamps.push(s);
        }
        stamps.sort_unstable();
        ServerSlice {
            stamps,
            namespace_ok: ns_name.as_deref() == Some(ces.namespace.as_str()),
            uid: ces.metadata.uid.clone(),
            resource_version: ces.metadata.resource_version.clone(),
        }
    }

    fn desired_stamps(&self, sid: SliceId) -> Vec<u64> {
        let Some(slice) = self.slices.get(sid) else {
            return Vec::new();
        };
        let mut v: Vec<u64> = slice
            .members
            .iter()
            .filter_map(|&m| self.endpoints[m as usize].as_ref().map(|e| e.stamp))
            .collect();
        v.sort_unstable();
        v
    }

    // ------------------------------------------------------------ initial sync

    /// Everything observed at start-up has been fed: adopt existing slices
    /// (keeping their names; each live endpoint goes to the first slice that
    /// holds it), assign identities, place the rest. An unchanged cluster
    /// then plans no writes.
    pub fn initial_sync_done(&mut self, now: u64) {
        if self.synced {
            return;
        }
        self.synced = true;
        self.adopting = true;
        // Identities (pods mode), in arrival order, now that namespaces and nodes are known.
        let mut order: Vec<(u64, EndpointIdx)> = self
            .endpoints
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (e.seq, i as EndpointIdx)))
            .collect();
        order.sort_unstable();
        if self.config.source == Source::Pods {
            for &(_, idx) in &order {
                self.refresh_pod(idx, now);
            }
        }
        // Adoption, in the order the slices were observed.
        let observed = std::mem::take(&mut self.observed);
        let max = self.config.slicing.max_endpoints_per_slice as usize;
        let mut adopted = 0usize;
        let mut stale = 0usize;
        for ces in &observed {
            let ns = if ces.namespace.is_empty() {
                None
            } else {
                Some(self.ns_id(&ces.namespace))
            };
            let claim: Vec<EndpointIdx> = {
                let mut v = Vec::new();
                let mut group_identity = None;
                if let Some(ns) = ns {
                    for entry in &ces.endpoints {
                        let Some(&idx) = self.ep_index.get(&(ns, Arc::from(entry.name.as_str())))
                        else {
                            continue;
                        };
                        let Some(ep) = self.endpoints[idx as usize].as_ref() else {
                            continue;
                        };
                        let Some(id) = ep.identity else { continue };
                        if ep.slice.is_some() || v.contains(&idx) || v.len() >= max {
                            continue;
                        }
                        if self.config.slicing.mode == SliceMode::Identity
                            && *group_identity.get_or_insert(id) != id
                        {
                            continue;
                        }
                        v.push(idx);
                    }
                }
                v
            };
            stale += ces.endpoints.len() - claim.len();
            let group = GroupKey {
                namespace: ns.unwrap_or(0),
                identity: match (self.config.slicing.mode, claim.first()) {
                    (SliceMode::Identity, Some(&i)) => {
                        ep_identity(&self.endpoints[i as usize]).unwrap_or(0)
                    }
                    (SliceMode::Fcfs, Some(_)) => 0,
                    (_, None) => u32::MAX,
                },
            };
            let sid = self
                .slices
                .create(group, Some(Arc::from(ces.metadata.name.as_str())));
            for &idx in &claim {
                self.slices.add_member(sid, idx, now);
                if let Some(ep) = self.endpoints[idx as usize].as_mut() {
                    ep.slice = Some(sid);
                }
                self.snap.endpoint_changed(idx);
            }
            adopted += claim.len();
            let server = self.server_view(ces, sid);
            if let Some(s) = self.slices.get_mut(sid) {
                s.server = Some(server);
            }
            self.slices.mark_dirty(sid, now);
        }
        self.events.record(
            now,
            Category::Adoption,
            Severity::Info,
            "adoption",
            || "initial sync".to_string(),
            || format!("{} slices observed, {adopted} endpoints adopted, {stale} stale or duplicate entries dropped", observed.len()),
        );
        self.adopting = false;
        // Place what no slice holds, in arrival order.
        for &(_, idx) in &order {
            let Some(ep) = self.endpoints[idx as usize].as_ref() else {
                continue;
            };
            match (ep.slice, ep.identity) {
                (None, Some(_)) => self.place(idx, now),
                (None, None) => {
                    self.waiting.insert(ep.seq, idx);
                }
                _ => {}
            }
        }
    }

    // ------------------------------------------------------------ flush

    fn is_priority(&self, group: &GroupKey) -> bool {
        self.config.write.priority_namespaces
            && self
                .namespaces
                .get(group.namespace as usize)
                .is_some_and(|n| n.priority)
    }

    fn op_id(&mut self) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        id
    }

    /// The writes due at `now`: identity creates, slices dirty for at least
    /// the sync delay, identity deletes. Nothing is planned before the
    /// initial sync. Each write stays in flight until its outcome is reported.
    pub fn flush(&mut self, now: u64) -> WritePlan {
        let mut plan = WritePlan::default();
        if !self.synced {
            return plan;
        }
        self.identities.expire(now);
        self.retry_waiting(now);
        self.prune_label_maps();
        if self.config.slicing.compaction.enabled {
            self.compact(now);
        }
        // Identity creates first: slices reference their numbers.
        for id in self.identities.wanted_creates() {
            let Some(obj) = self.identities.get(id).map(|r| r.to_object()) else {
                continue;
            };
            self.identities.set_in_flight(id, true);
            let op = self.op_id();
            self.in_flight.insert(
                op,
                Target::Identity {
                    id,
                    verb: Verb::Create,
                },
            );
            self.push(&mut plan, op, WriteOp::CreateIdentity(obj));
        }
        let cutoff = now.saturating_sub(self.config.write.sync_delay_ms);
        let ready = now >= self.config.write.sync_delay_ms;
        let mut due: Vec<(bool, u64, SliceId)> = if ready {
            self.slices
                .dirty_until(cutoff)
                .filter(|&(_, sid)| {
                    self.slices
                        .get(sid)
                        .is_some_and(|s| s.in_flight.is_none() && s.not_before <= now)
                })
                .map(|(since, sid)| {
                    let prio = self
                        .slices
                        .get(sid)
                        .is_some_and(|s| self.is_priority(&s.group));
                    (!prio, since, sid)
                })
                .collect()
        } else {
            Vec::new()
        };
        due.sort_unstable();
        for (standard, since, sid) in due {
            if self.bucket.available(now) == 0 {
                // The rest stay dirty, in order, for the next flush.
                self.metrics.rate_limited_flushes += 1;
                break;
            }
            let before = plan.writes.len();
            let retry = self.slices.get(sid).is_some_and(|s| s.failures > 0);
            self.plan_slice(&mut plan, sid, since);
            if plan.writes.len() > before {
                self.bucket.try_take(now);
                let delay = now.saturating_sub(since) as f64 / 1000.0;
                if standard {
                    self.metrics.queue_delay_standard.observe(delay);
                } else {
                    self.metrics.queue_delay_fast.observe(delay);
                }
                if retry {
                    self.metrics.retries += 1;
                }
            }
        }
        for id in self.identities.wanted_deletes() {
            let Some(rec) = self.identities.get(id) else {
                continue;
            };
            let pre = rec
                .server
                .as_ref()
                .map(|s| Preconditions {
                    uid: s.uid.clone(),
                    resource_version: s.resource_version.clone(),
                })
                .unwrap_or_default();
            self.identities.set_in_flight(id, true);
            let op = self.op_id();
            self.in_flight.insert(
                op,
                Target::Identity {
                    id,
                    verb: Verb::Delete,
                },
            );
            self.push(
                &mut plan,
                op,
                WriteOp::DeleteIdentity {
                    name: id.to_string(),
                    preconditions: pre,
                },
            );
        }
        plan
    }

    /// Forgets label maps no pod uses any more, once their number doubled.
    fn prune_label_maps(&mut self) {
        if self.label_maps.len() < 1024 || self.label_maps.len() < 2 * self.label_maps_pruned_at {
            return;
        }
        // A map is used when someone beyond the interner and the cache holds it.
        self.label_cache.retain(|k, _| Arc::strong_count(&k.1) > 2);
        self.label_maps.retain(|m| Arc::strong_count(m) > 1);
        self.label_maps_pruned_at = self.label_maps.len();
    }

    fn push(&mut self, plan: &mut WritePlan, id: OpId, op: WriteOp) {
        let kind = match op.kind() {
            Kind::CiliumIdentity => "identity",
            _ => "slice",
        };
        *self
            .counters
            .writes_planned
            .entry((kind, op.verb().as_str()))
            .or_default() += 1;
        plan.writes.push(PlannedWrite { id, op });
    }

    fn plan_slice(&mut self, plan: &mut WritePlan, sid: SliceId, since: u64) {
        let desired = self.desired_stamps(sid);
        let Some(slice) = self.slices.get(sid) else {
            return;
        };
        let server = slice.server.clone();
        let name = slice.name.clone();
        let ns_name = self
            .namespaces
            .get(slice.group.namespace as usize)
            .map(|n| n.name.to_string())
            .unwrap_or_default();
        self.slices.clear_dirty(sid);
        if desired.is_empty() {
            let Some(server) = server else {
                // Never reached the server: nothing to undo.
                self.slices.remove(sid);
                return;
            };
            let threshold = self.config.write.empty_before_delete_threshold as usize;
            let op = self.op_id();
            if threshold > 0 && server.stamps.len() >= threshold {
                let mut obj = CiliumEndpointSlice::new(name.to_string(), ns_name);
                obj.metadata.resource_version = server.resource_version.clone();
                self.in_flight.insert(
                    op,
                    Target::Slice {
                        slice: sid,
                        verb: Verb::Update,
                        stamps: Vec::new(),
                        dirty_since: since,
                        emptying: true,
                    },
                );
                self.mark_in_flight(sid, op);
                self.push(plan, op, WriteOp::UpdateSlice(obj));
                return;
            }
            self.in_flight.insert(
                op,
                Target::Slice {
                    slice: sid,
                    verb: Verb::Delete,
                    stamps: Vec::new(),
                    dirty_since: since,
                    emptying: false,
                },
            );
            self.mark_in_flight(sid, op);
            self.push(
                plan,
                op,
                WriteOp::DeleteSlice {
                    name: name.to_string(),
                    preconditions: Preconditions {
                        uid: server.uid.clone(),
                        resource_version: server.resource_version.clone(),
                    },
                },
            );
            return;
        }
        self.metrics.ceps_per_ces.observe(desired.len() as f64);
        if let Some(s) = &server
            && s.stamps == desired
            && s.namespace_ok
        {
            self.counters.no_op_skips += 1;
            return;
        }
        let (inserted, removed) = match &server {
            Some(s) => sorted_difference_sizes(&desired, &s.stamps),
            None => (desired.len(), 0),
        };
        self.metrics.cep_inserted_per_ces.observe(inserted as f64);
        self.metrics.cep_removed_per_ces.observe(removed as f64);
        let obj = self.render_slice(sid);
        let op = self.op_id();
        let verb = if server.is_some() {
            Verb::Update
        } else {
            Verb::Create
        };
        self.in_flight.insert(
            op,
            Target::Slice {
                slice: sid,
                verb,
                stamps: desired,
                dirty_since: since,
                emptying: false,
            },
        );
        self.mark_in_flight(sid, op);
        let wop = if verb == Verb::Update {
            WriteOp::UpdateSlice(obj)
        } else {
            WriteOp::CreateSlice(obj)
        };
        self.push(plan, op, wop);
    }

    fn mark_in_flight(&mut self, sid: SliceId, op: OpId) {
        if let Some(s) = self.slices.get_mut(sid) {
            s.in_flight = Some(op);
        }
    }

    /// The desired object of a slice, endpoints sorted by name.
    fn render_slice(&self, sid: SliceId) -> CiliumEndpointSlice {
        let Some(slice) = self.slices.get(sid) else {
            return CiliumEndpointSlice::default();
        };
        let ns = self
            .namespaces
            .get(slice.group.namespace as usize)
            .map(|n| n.name.to_string())
            .unwrap_or_default();
        let mut obj = CiliumEndpointSlice::new(slice.name.to_string(), ns);
        if let Some(s) = &slice.server {
            obj.metadata.resource_version = s.resource_version.clone();
        }
        let mut members: Vec<&Endpoint> = slice
            .members
            .iter()
            .filter_map(|&m| self.endpoints[m as usize].as_ref())
            .collect();
        members.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        obj.endpoints = members
            .iter()
            .filter_map(|ep| ep.identity.map(|id| ep.data.to_core(&ep.name, id)))
            .collect();
        obj
    }

    /// Moves endpoints out of the emptiest slices of fragmented groups into
    /// fuller ones, within the per-flush move budget.
    fn compact(&mut self, now: u64) {
        let mut budget = self.config.slicing.compaction.move_budget;
        let max = self.config.slicing.max_endpoints_per_slice as usize;
        let min_frag = self.config.slicing.compaction.min_fragmentation;
        let candidates = std::mem::take(&mut self.compaction_candidates);
        for group in candidates {
            if budget == 0 {
                self.compaction_candidates.insert(group);
                continue;
            }
            loop {
                let ids: Vec<SliceId> = self.slices.group_slices(&group).collect();
                let mut sizes: Vec<(usize, SliceId)> = ids
                    .iter()
                    .filter_map(|&s| self.slices.get(s).map(|x| (x.members.len(), s)))
                    .filter(|&(n, _)| n > 0)
                    .collect();
                let total: usize = sizes.iter().map(|&(n, _)| n).sum();
                let ideal = total.div_ceil(max).max(1);
                if (sizes.len() as f64) <= (ideal as f64) * min_frag
                    || sizes.len() <= ideal
                    || budget == 0
                {
                    break;
                }
                sizes.sort_unstable();
                let (src_n, src) = sizes[0];
                let room: usize = sizes[1..].iter().map(|&(n, _)| max - n).sum();
                if room < src_n {
                    break;
                }
                let members: Vec<EndpointIdx> = self
                    .slices
                    .get(src)
                    .map(|s| s.members.clone())
                    .unwrap_or_default();
                for idx in members {
                    if budget == 0 {
                        break;
                    }
                    // Fullest other slice with room.
                    let dst = sizes[1..]
                        .iter()
                        .rev()
                        .filter_map(|&(_, s)| self.slices.get(s).map(|x| (x.members.len(), s)))
                        .filter(|&(n, _)| n < max)
                        .max_by_key(|&(n, s)| (n, std::cmp::Reverse(s)))
                        .map(|(_, s)| s);
                    let Some(dst) = dst else { break };
                    self.slices.remove_member(src, idx, now);
                    self.slices.add_member(dst, idx, now);
                    if let Some(ep) = self.endpoints[idx as usize].as_mut() {
                        ep.slice = Some(dst);
                    }
                    self.snap.endpoint_changed(idx);
                    budget -= 1;
                    self.counters.compaction_moves += 1;
                }
                if self.slices.get(src).is_some_and(|s| !s.members.is_empty()) {
                    self.compaction_candidates.insert(group);
                    break;
                }
            }
        }
    }

    // ------------------------------------------------------------ outcomes

    /// Reports what the API server answered to a planned write.
    pub fn report(&mut self, op: OpId, outcome: &Outcome, now: u64) -> Result<()> {
        let Some(target) = self.in_flight.remove(&op) else {
            return Err(Error::new(
                ErrorCode::UnknownOp,
                "",
                "op",
                format!("op {} is not awaiting an outcome", op.0),
            ));
        };
        // Not-found on a delete and already-exists are the server agreeing
        // with us or telling us news, not failures of the write path.
        let failed = matches!(outcome, Outcome::Error { .. } | Outcome::Conflict);
        if failed {
            self.counters.writes_failed += 1;
        } else {
            self.counters.writes_succeeded += 1;
        }
        if let Some(h) = self.health.record(now, failed) {
            let (sev, kind, msg) = match &h {
                Health::Healthy => (
                    Severity::Info,
                    "healthy",
                    "writes succeed again".to_string(),
                ),
                Health::Degraded { reason } => (Severity::Error, "degraded", reason.clone()),
            };
            self.events.record(
                now,
                Category::Health,
                sev,
                kind,
                || "write path".to_string(),
                || msg,
            );
        }
        match target {
            Target::Slice {
                slice,
                verb,
                stamps,
                dirty_since,
                emptying,
            } => self.report_slice(slice, verb, stamps, dirty_since, emptying, outcome, now),
            Target::Identity { id, verb } => self.report_identity(id, verb, outcome, now),
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn report_slice(
        &mut self,
        sid: SliceId,
        verb: Verb,
        stamps: Vec<u64>,
        since: u64,
        emptying: bool,
        outcome: &Outcome,
        now: u64,
    ) {
        let retry = self.config.write.retry;
        let Some(slice) = self.slices.get_mut(sid) else {
            return;
        };
        slice.in_flight = None;
        let name = slice.name.clone();
        match (outcome, verb) {
            (
                Outcome::Success {
                    resource_version,
                    uid,
                },
                Verb::Create | Verb::Update,
            ) => {
                let old_uid = slice.server.as_ref().and_then(|s| s.uid.clone());
                slice.server = Some(ServerSlice {
                    stamps,
                    namespace_ok: true,
                    uid: uid.clone().or(old_uid),
                    resource_version: resource_version.clone(),
                });
                slice.failures = 0;
                self.metrics.sync_success += 1;
                if emptying {
                    self.slices.restore_dirty(sid, since);
                }
                let kind = if verb == Verb::Create {
                    "slice-created"
                } else {
                    "slice-updated"
                };
                self.events.record(
                    now,
                    Category::Slices,
                    Severity::Debug,
                    kind,
                    || format!("CiliumEndpointSlice {name}"),
                    String::new,
                );
            }
            (Outcome::Success { .. } | Outcome::NotFound, Verb::Delete) => {
                slice.server = None;
                self.metrics.sync_success += 1;
                if slice.members.is_empty() {
                    self.slices.remove(sid);
                } else {
                    self.slices.restore_dirty(sid, since);
                }
                self.events.record(
                    now,
                    Category::Slices,
                    Severity::Debug,
                    "slice-deleted",
                    || format!("CiliumEndpointSlice {name}"),
                    String::new,
                );
            }
            (Outcome::NotFound, _) => {
                // Gone on the server: create it again.
                self.metrics.sync_fail_transient += 1;
                slice.server = None;
                self.slices.restore_dirty(sid, since);
            }
            (Outcome::AlreadyExists, _) | (Outcome::Conflict, _) => {
                self.metrics.sync_fail_transient += 1;
                // The server holds something else than we thought: rewrite
                // against it. Its newest version arrives as an observed event,
                // which re-plans at once; without one, retry after the backoff
                // instead of conflicting on every flush.
                let server = slice.server.get_or_insert_with(ServerSlice::default);
                server.stamps = vec![u64::MAX];
                slice.failures += 1;
                let shift = slice.failures.saturating_sub(1).min(30);
                slice.not_before = now.saturating_add(
                    retry
                        .base_ms
                        .saturating_mul(1u64 << shift)
                        .min(retry.cap_ms),
                );
                self.slices.restore_dirty(sid, since);
            }
            (Outcome::Error { message }, _) => {
                // The write may have reached the server before the error (a
                // timeout after commit): what it holds is unknown now, so the
                // next flush compares against nothing and rewrites.
                if let Some(server) = slice.server.as_mut() {
                    server.stamps = vec![u64::MAX];
                }
                slice.failures += 1;
                let shift = slice.failures.saturating_sub(1).min(30);
                let delay = retry
                    .base_ms
                    .saturating_mul(1u64 << shift)
                    .min(retry.cap_ms);
                slice.not_before = now.saturating_add(delay);
                let failures = slice.failures;
                if failures > retry.max_retries {
                    self.metrics.sync_fail_fatal += 1;
                    slice.failures = 0;
                    slice.not_before = 0;
                    let msg = message.clone();
                    self.events.record(
                        now,
                        Category::Slices,
                        Severity::Error,
                        "slice-dropped",
                        || format!("CiliumEndpointSlice {name}"),
                        || format!("dropped after {failures} failed writes: {msg}; retried on the next change"),
                    );
                } else {
                    self.metrics.sync_fail_transient += 1;
                    self.slices.restore_dirty(sid, since);
                    let msg = message.clone();
                    self.events.record(
                        now,
                        Category::Slices,
                        Severity::Warning,
                        "slice-write-failed",
                        || format!("CiliumEndpointSlice {name}"),
                        || format!("write failed ({msg}); retry {failures} in {delay} ms"),
                    );
                }
            }
        }
    }

    fn report_identity(&mut self, id: IdentityId, verb: Verb, outcome: &Outcome, now: u64) {
        match (outcome, verb) {
            (
                Outcome::Success {
                    resource_version,
                    uid,
                },
                Verb::Create,
            ) => self.identities.write_succeeded(
                id,
                Some(ServerMeta {
                    uid: uid.clone(),
                    resource_version: resource_version.clone(),
                }),
            ),
            (Outcome::Success { .. } | Outcome::NotFound, Verb::Delete) => {
                self.identities.write_succeeded(id, None);
                self.events.record(
                    now,
                    Category::Identities,
                    Severity::Info,
                    "identity-released",
                    || format!("CiliumIdentity {id}"),
                    || "deleted after the grace period".into(),
                );
            }
            (Outcome::AlreadyExists, Verb::Create) => {
                // Another writer holds the number: take another one for our labels.
                let Some(rec) = self.identities.get(id).cloned() else {
                    return;
                };
                let mut other = CiliumIdentity::new(id.to_string());
                other
                    .security_labels
                    .insert("unknown:held-by".into(), "another-writer".into());
                self.identities.set_in_flight(id, false);
                if let Restore::Renumbered { labels, old, new } =
                    self.identities.observe(&other, now)
                {
                    self.events.record(
                        now,
                        Category::Identities,
                        Severity::Warning,
                        "identity-conflict",
                        || format!("CiliumIdentity {id}"),
                        || {
                            format!(
                                "already exists on the server; labels {} moved to {new:?}",
                                rec.key
                            )
                        },
                    );
                    self.renumber(old, &labels, new, now);
                }
            }
            _ => self.identities.set_in_flight(id, false),
        }
    }

    // ------------------------------------------------------------ queries

    /// Events recorded since the last drain.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.drain()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn stats(&self) -> Stats {
        Stats {
            synced: self.synced,
            endpoints: self.ep_index.len(),
            endpoints_waiting: self.waiting.len(),
            slices: self.slices.len(),
            dirty_slices: self.slices.dirty_count(),
            in_flight: self.in_flight.len(),
            identities: match self.config.source {
                Source::Pods => self.identities.len(),
                Source::Ciliumendpoints => self.known_identities.len(),
            },
            namespaces: self.namespaces.len(),
            nodes: self.nodes.len(),
        }
    }

    /// The desired slices (what the server should hold once every due write
    /// succeeded), sorted by name. Slices with no endpoints are left out.
    pub fn desired_slices(&self) -> Vec<CiliumEndpointSlice> {
        let mut v: Vec<CiliumEndpointSlice> = self
            .slices
            .ids()
            .filter(|&s| self.slices.get(s).is_some_and(|s| !s.members.is_empty()))
            .map(|s| {
                let mut o = self.render_slice(s);
                o.metadata.resource_version = None;
                o
            })
            .collect();
        v.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        v
    }

    /// The CiliumIdentities the server should hold (pods mode), by number.
    pub fn desired_identities(&self) -> Vec<CiliumIdentity> {
        let mut v: Vec<&crate::identity::IdentityRecord> = self
            .identities
            .records()
            .filter(|r| !r.expired && (r.refs > 0 || r.server.is_some()))
            .collect();
        v.sort_by_key(|r| r.id);
        v.into_iter()
            .map(|r| {
                let mut o = r.to_object();
                o.metadata.uid = None;
                o.metadata.resource_version = None;
                o
            })
            .collect()
    }

    /// The slice name and identity of an endpoint.
    pub fn endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<(Option<&str>, Option<IdentityId>)> {
        let ns = *self.ns_index.get(namespace)?;
        let idx = *self.ep_index.get(&(ns, Arc::from(name)))?;
        let ep = self.endpoints[idx as usize].as_ref()?;
        let slice = ep.slice.and_then(|s| self.slices.get(s)).map(|s| &*s.name);
        Some((slice, ep.identity))
    }

    /// The earliest time at which `flush` could plan something not yet due
    /// (the sync delay, the rate limiter and identity grace periods).
    pub fn next_due(&self) -> Option<u64> {
        // O(dirty slices): each is due after its sync delay and its backoff;
        // slices with a write in flight wait for the outcome instead.
        let delay = self.config.write.sync_delay_ms;
        let slice = self
            .slices
            .dirty_until(u64::MAX)
            .filter_map(|(since, sid)| {
                let s = self.slices.get(sid)?;
                s.in_flight
                    .is_none()
                    .then(|| since.saturating_add(delay).max(s.not_before))
            })
            .min()
            .map(|t| t.max(self.bucket.next_token_at(t)));
        match (slice, self.identities.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Marks every slice for comparison with the server at the next flush
    /// (level-triggered resync). Equal slices cost no write; slices dropped
    /// after their retries are picked up again.
    pub fn resync(&mut self, now: u64) {
        let ids: Vec<SliceId> = self.slices.ids().collect();
        for sid in ids {
            if let Some(s) = self.slices.get_mut(sid) {
                s.failures = 0;
                s.not_before = 0;
            }
            self.slices.mark_dirty(sid, now);
        }
        self.retry_waiting(now);
    }

    /// Healthy, or degraded with the reason.
    pub fn health(&self) -> &Health {
        self.health.state()
    }

    /// Records an apply duration the caller measured (the engine reads no
    /// clock). Negative or non-finite values are rejected.
    pub fn observe_apply_seconds(&mut self, seconds: f64) -> Result<()> {
        self.metrics.apply_seconds.observe(check_seconds(seconds)?);
        Ok(())
    }

    /// Records a snapshot publish duration the caller measured.
    pub fn observe_publish_seconds(&mut self, seconds: f64) -> Result<()> {
        self.metrics
            .publish_seconds
            .observe(check_seconds(seconds)?);
        Ok(())
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// All metrics in the Prometheus text exposition format.
    pub fn metrics_text(&self) -> String {
        let m = &self.metrics;
        let st = self.stats();
        let c = &self.counters;
        let mut w = TextWriter::new();
        w.histograms(
            "cilium_operator_number_of_ceps_per_ces",
            "The number of CEPs batched in a CES",
            &[("", &m.ceps_per_ces)],
        );
        w.histograms(
            "cilium_operator_number_of_cep_changes_per_ces",
            "The number of changed CEPs in each CES update",
            &[
                ("opcode=\"cepinserted\"", &m.cep_inserted_per_ces),
                ("opcode=\"cepremoved\"", &m.cep_removed_per_ces),
            ],
        );
        w.labelled(
            "cilium_operator_ces_sync_total",
            "counter",
            "The number of completed CES syncs by outcome",
            &[
                (
                    "outcome=\"success\",failure_type=\"\"".to_string(),
                    m.sync_success as f64,
                ),
                (
                    "outcome=\"fail\",failure_type=\"transient\"".to_string(),
                    m.sync_fail_transient as f64,
                ),
                (
                    "outcome=\"fail\",failure_type=\"fatal\"".to_string(),
                    m.sync_fail_fatal as f64,
                ),
            ],
        );
        w.histograms(
            "cilium_operator_ces_queueing_delay_seconds",
            "CiliumEndpointSlice queueing delay in seconds",
            &[
                ("queue=\"fast\"", &m.queue_delay_fast),
                ("queue=\"standard\"", &m.queue_delay_standard),
            ],
        );
        w.gauge(
            "sliceplane_synced",
            "1 once the initial sync is done",
            if st.synced { 1.0 } else { 0.0 },
        );
        w.gauge(
            "sliceplane_endpoints",
            "Endpoints the engine holds",
            st.endpoints as f64,
        );
        w.gauge(
            "sliceplane_endpoints_waiting",
            "Endpoints waiting for an identity number",
            st.endpoints_waiting as f64,
        );
        w.gauge(
            "sliceplane_slices",
            "Slices in the desired state",
            st.slices as f64,
        );
        w.gauge(
            "sliceplane_identities",
            "Identities known to the engine",
            st.identities as f64,
        );
        w.gauge(
            "sliceplane_dirty_slices",
            "Slices waiting to be written",
            st.dirty_slices as f64,
        );
        w.gauge(
            "sliceplane_pending_writes",
            "Writes planned and awaiting their outcome",
            st.in_flight as f64,
        );
        w.gauge(
            "sliceplane_nodes",
            "CiliumNodes seen (drives the rate limit)",
            self.cilium_nodes as f64,
        );
        let step = self.bucket.active();
        w.gauge(
            "sliceplane_rate_limit_writes_per_second",
            "Active write rate limit",
            step.limit,
        );
        w.gauge(
            "sliceplane_rate_limit_burst",
            "Active write burst",
            f64::from(step.burst),
        );
        w.counter(
            "sliceplane_write_retries_total",
            "Writes planned again after a failure",
            m.retries,
        );
        w.counter(
            "sliceplane_rate_limited_flushes_total",
            "Flushes that left due writes to the rate limiter",
            m.rate_limited_flushes,
        );
        w.labelled(
            "sliceplane_writes_planned_total",
            "counter",
            "Writes planned, by object kind and verb",
            &labelled_counts(&c.writes_planned, |(k, v)| {
                format!("kind=\"{}\",verb=\"{}\"", escape_label(k), escape_label(v))
            }),
        );
        w.labelled(
            "sliceplane_input_events_total",
            "counter",
            "Input events by result",
            &[
                ("result=\"applied\"".to_string(), c.events_applied as f64),
                ("result=\"rejected\"".to_string(), c.events_rejected as f64),
                (
                    "result=\"other_shard\"".to_string(),
                    c.events_ignored_other_shard as f64,
                ),
                (
                    "result=\"other_source\"".to_string(),
                    c.events_ignored_other_source as f64,
                ),
            ],
        );
        w.counter(
            "sliceplane_no_op_writes_skipped_total",
            "Due slices found equal to the server",
            c.no_op_skips,
        );
        w.counter(
            "sliceplane_identities_allocated_total",
            "Identity numbers allocated",
            c.identities_allocated,
        );
        w.counter(
            "sliceplane_identity_exhausted_total",
            "Times no identity number was free",
            c.identity_exhausted,
        );
        w.counter(
            "sliceplane_compaction_moves_total",
            "Endpoints moved by compaction",
            c.compaction_moves,
        );
        w.counter(
            "sliceplane_events_dropped_total",
            "Events dropped because nobody drained them",
            self.events.dropped,
        );
        w.gauge(
            "sliceplane_degraded",
            "1 when the write path is degraded",
            if self.health.state().is_degraded() {
                1.0
            } else {
                0.0
            },
        );
        w.histograms(
            "sliceplane_apply_duration_seconds",
            "Apply durations measured by the caller",
            &[("", &m.apply_seconds)],
        );
        w.histograms(
            "sliceplane_snapshot_publish_duration_seconds",
            "Snapshot publish durations measured by the caller",
            &[("", &m.publish_seconds)],
        );
        w.finish()
    }

    /// Ops awaiting an outcome.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

fn check_seconds(seconds: f64) -> Result<f64> {
    if seconds.is_finite() && seconds >= 0.0 {
        Ok(seconds)
    } else {
        Err(Error::new(
            ErrorCode::InvalidValue,
            "",
            "seconds",
            format!("a duration must be a finite number >= 0, got {seconds}"),
        ))
    }
}

/// Whether `seen` is an older resourceVersion than `known`. resourceVersions
/// are opaque to clients in general; the API server's are etcd revisions
/// (decimal integers) that only grow, and only when both parse as such are
/// they compared. Otherwise the observation is taken as news.
fn is_older_version(seen: Option<&str>, known: Option<&str>) -> bool {
    match (seen.map(str::parse::<u64>), known.map(str::parse::<u64>)) {
        (Some(Ok(a)), Some(Ok(b))) => a < b,
        _ => false,
    }
}

/// Sizes of `a - b` and `b - a` for sorted slices.
fn sorted_difference_sizes(a: &[u64], b: &[u64]) -> (usize, usize) {
    let (mut i, mut j, mut only_a, mut only_b) = (0, 0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                only_a += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                only_b += 1;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    (only_a + a.len() - i, only_b + b.len() - j)
}

/// The stamp of an entry's content: equal content, equal stamp (DESIGN: a
/// write equal to what the server holds is not sent, and a change undone
/// before the flush costs nothing).
fn content_stamp(name: &str, identity: Option<IdentityId>, data: &EndpointData) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    name.hash(&mut h);
    identity.hash(&mut h);
    data.hash(&mut h);
    h.finish()
}

fn ep_identity(ep: &Option<Endpoint>) -> Option<IdentityId> {
    ep.as_ref().and_then(|e| e.identity)
}

// ------------------------------------------------------------ snapshots (DESIGN.md §6)

impl Engine {
    /// A handle from which any thread loads the latest published snapshot.
    pub fn snapshot_reader(&self) -> SnapshotReader {
        self.snap.builder.reader()
    }

    /// Publishes a snapshot of the desired state: applies what changed since
    /// the last publish (O(changes); the first publish feeds everything).
    pub fn publish(&mut self) -> Snapshot {
        if self.snap.activate() {
            for idx in 0..self.endpoints.len() {
                self.snap.endpoint_changed(idx as EndpointIdx);
            }
        }
        let (removed, changed, ids) = self.snap.take_changes();
        let mut touched: BTreeSet<Arc<str>> = BTreeSet::new();
        for key in removed {
            if let Some(old) = self.snap.builder.set_endpoint(&key, None, None) {
                touched.insert(old.slice.clone());
            }
        }
        for idx in changed {
            let Some(e) = self.snapshot_endpoint(idx) else {
                continue;
            };
            // A slice view lists names only: it changes when membership does.
            let new_slice = e.view.as_ref().map(|v| v.slice.clone());
            let old = self
                .snap
                .builder
                .set_endpoint_at(idx, &e.key, e.view, e.labels);
            let old_slice = old.map(|o| o.slice.clone());
            if old_slice != new_slice {
                touched.extend(old_slice);
                touched.extend(new_slice);
            }
        }
        for id in ids {
            let labels = self.identity_labels(id);
            self.snap.builder.set_identity_labels(id, labels);
        }
        for name in touched {
            let view = self.snapshot_slice(&name);
            self.snap.builder.set_slice(&name, view);
        }
        self.snap.builder.publish()
    }

    /// A snapshot built from scratch (all endpoints), for checks: equal in
    /// content to the published one after [`Engine::publish`].
    pub fn rebuild_snapshot(&self) -> Snapshot {
        let mut b = crate::snapshot::SnapshotBuilder::new(
            self.config.slicing.max_endpoints_per_slice,
            crate::snapshot::IpOwnership::SmallestKey,
        );
        let mut names: BTreeSet<Arc<str>> = BTreeSet::new();
        for idx in 0..self.endpoints.len() {
            if let Some(e) = self.snapshot_endpoint(idx as EndpointIdx) {
                if let Some(v) = &e.view {
                    names.insert(v.slice.clone());
                }
                b.set_endpoint_at(idx as EndpointIdx, &e.key, e.view, e.labels);
            }
        }
        for name in names {
            let view = self.snapshot_slice(&name);
            b.set_slice(&name, view);
        }
        b.peek()
    }

    fn snapshot_endpoint(&self, idx: EndpointIdx) -> Option<EngineEndpoint> {
        let ep = self.endpoints.get(idx as usize)?.as_ref()?;
        let ns = self.namespaces.get(ep.ns as usize)?.name.clone();
        let slice = ep.slice.and_then(|s| self.slices.get(s));
        let (view, labels) = match (slice, ep.identity) {
            (Some(s), Some(id)) => (
                Some(EndpointView {
                    namespace: ns.clone(),
                    name: ep.name.clone(),
                    slice: s.name.clone(),
                    identity: id,
                    data: ep.data.clone(),
                }),
                self.identity_labels(id),
            ),
            _ => (None, None),
        };
        Some(EngineEndpoint {
            key: (ns, ep.name.clone()),
            view,
            labels,
        })
    }

    fn snapshot_slice(&self, name: &str) -> Option<SliceView> {
        let s = self.slices.get(self.slices.by_name(name)?)?;
        let mut names: Vec<Arc<str>> = s
            .members
            .iter()
            .filter_map(|&m| self.endpoints.get(m as usize)?.as_ref())
            .filter(|e| e.identity.is_some())
            .map(|e| e.name.clone())
            .collect();
        if names.is_empty() {
            return None;
        }
        names.sort_unstable();
        let ns = self
            .namespaces
            .get(s.group.namespace as usize)
            .map_or_else(|| Arc::from(""), |n| n.name.clone());
        Some(SliceView {
            name: s.name.clone(),
            namespace: ns,
            endpoints: names.into(),
        })
    }
}
