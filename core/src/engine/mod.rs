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

use crate::config::Config;
use crate::endpoint::{DataInterner, EndpointData};
use crate::error::Result;
use crate::events::EventLog;
use crate::health::HealthTracker;
use crate::identity::{IdentityAllocator, IdentityId};
use crate::labels::{LabelFilter, LabelSet};
use crate::metrics::Metrics;
use crate::model::{CiliumEndpointSlice, Labels};
use crate::plan::{OpId, Verb};
use crate::ratelimit::TokenBucket;
use crate::slicing::{EndpointIdx, GroupKey, SliceId, SliceTable};
use crate::snapshot::Publisher;

pub use crate::metrics::{Counters, Stats};

mod adopt;
mod identities;
mod ingest;
mod maintain;
mod observe;
mod outcome;
mod plan;
mod publish;
mod query;
mod state;

use state::content_stamp;

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

/// A planned slice write awaiting its outcome.
#[derive(Debug, Clone)]
struct SliceWrite {
    slice: SliceId,
    verb: Verb,
    /// Stamps the write put on the server (sorted).
    stamps: Vec<u64>,
    /// When the slice became dirty (restored if the write must be redone).
    dirty_since: u64,
    /// An update that empties the slice before its delete.
    emptying: bool,
}

/// What an op in flight writes.
#[derive(Debug, Clone)]
enum Target {
    Slice(SliceWrite),
    Identity { id: IdentityId, verb: Verb },
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
}
