//! The engine: takes watch events, keeps the desired slices, plans writes.
//!
//! One `State` (the endpoint, namespace and node indexes and the
//! slice table) and phases that work on it, one file each:
//!
//! | file | phase |
//! |---|---|
//! | `state.rs` (and `state/`) | the indexes and slice membership; the only code that changes them |
//! | `ingest.rs` | feed: namespaces, nodes, pods, CiliumEndpoints |
//! | `identities.rs` | feed and allocation: the CiliumIdentity watch, pod identities |
//! | `observe.rs` | feed: the CiliumEndpointSlice watch (what the server holds) |
//! | `adopt.rs` | the initial sync: adopting observed slices |
//! | `maintain.rs` | time-driven changes: expiry, retries, compaction, pruning |
//! | `plan.rs` | poll: `flush` (the write plan) and `next_due` |
//! | `outcome.rs` | report: what the server answered |
//! | `publish.rs` | snapshots for readers |
//! | `query.rs` | read-only views, counters, metrics |
//!
//! `core/ARCHITECTURE.md` follows one event through them.
//!
//! **Content stamps.** What a slice says about an endpoint (name,
//! identity, addresses, node, key, ports, service account) is summed up in
//! a stamp: a hash of that content, so equal content has an equal stamp. A
//! slice's desired content is the set of its members' stamps; what the
//! server holds is the set of stamps of the entries it holds (an entry that
//! is not one of this slice's endpoints gets a stamp from a counter that
//! nothing else has). A slice needs a write exactly when the two sets
//! differ — so a change that is undone before the flush (added then
//! removed) costs nothing, and a write equal to what the server holds is
//! never sent.
// Every public item documented (lib.rs may still allow otherwise).
#![warn(missing_docs)]

use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};

use crate::config::Config;
use crate::endpoint::{DataInterner, EndpointData};
use crate::error::Result;
use crate::events::EventLog;
use crate::health::HealthTracker;
use crate::identity::{IdentityAllocator, IdentityId};
use crate::labels::{KeepMemo, LabelFilter, LabelSet};
use crate::metrics::Metrics;
use crate::model::{CiliumEndpointSlice, Labels};
use crate::plan::{OpId, Verb};
use crate::ratelimit::TokenBucket;
use crate::slicing::{EndpointIdx, SliceId};

pub use crate::metrics::{Counters, Stats};

mod adopt;
mod identities;
mod ingest;
mod maintain;
mod observe;
mod outcome;
mod plan;
mod profiles;
mod publish;
mod query;
mod render;
mod state;

use profiles::{Counted, Profiles};
use state::{ContentChange, Endpoint, State, content_stamp};

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
    name: Arc<str>,
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

/// What pods mode keeps of a pod to recompute its identity and node data:
/// ids into tables shared by the pods. (The key its identity was computed
/// for is its identity record's key.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PodFacts {
    /// Namespace, identity-relevant labels, service account: `Engine::profiles`.
    profile: u32,
    /// Its node (`State::nodes`), or [`NO_ID`].
    node: u32,
    /// `status.hostIP` (`Engine::host_ips`), or [`NO_ID`].
    host_ip: u32,
}

/// No id: no node, no host IP (pod facts); no slice, node IP or service
/// account (endpoint records).
const NO_ID: u32 = u32::MAX;

impl PodFacts {
    fn node(&self) -> Option<u32> {
        (self.node != NO_ID).then_some(self.node)
    }
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

/// The endpoint-slice engine: watch events in, planned API writes out. See
/// the crate docs and DESIGN.md.
///
/// The engine does no I/O and reads no clock: every call that depends on
/// time takes `now` (milliseconds, from the caller's clock, never going
/// back). Its methods fall into five kinds:
///
/// - **feed**: [`apply`](Engine::apply) (and [`apply_json`](Engine::apply_json),
///   [`apply_all`](Engine::apply_all)) takes one watch event of any kind,
///   including the engine's own slices and identities coming back from the
///   API server; [`initial_sync_done`](Engine::initial_sync_done) says the
///   initial List of every kind has been fed.
/// - **maintain**: [`maintain`](Engine::maintain) makes the time-driven
///   changes (identity expiry, retries of endpoints waiting for an identity,
///   compaction, label-map pruning). [`flush`](Engine::flush) runs it first,
///   so calling it alone is only needed to see its effect without planning.
///   [`resync`](Engine::resync) marks every slice for comparison.
/// - **poll**: [`flush`](Engine::flush) returns the writes due at `now`;
///   [`next_due`](Engine::next_due) says when the next one could be due.
/// - **report**: [`report`](Engine::report) gives the server's answer to
///   each planned write; a write stays in flight until it is reported.
/// - **query**: [`desired_slices`](Engine::desired_slices),
///   [`stats`](Engine::stats), [`counters`](Engine::counters),
///   [`metrics_text`](Engine::metrics_text), [`health`](Engine::health),
///   [`drain_events`](Engine::drain_events), [`publish`](Engine::publish)
///   (a snapshot for readers on other threads) and the rest take nothing
///   from the model (draining events and publishing only empty their queues).
///
/// An embedder calls them in this order:
///
/// 1. [`Engine::new`], then feed the initial List of every watched kind,
///    then [`initial_sync_done`](Engine::initial_sync_done). Before it,
///    nothing is placed and `flush` plans nothing.
/// 2. In a loop: feed every watch event as it arrives; when the timer set
///    from [`next_due`](Engine::next_due) fires (or after a batch of
///    events), call [`flush`](Engine::flush), send its writes and
///    [`report`](Engine::report) each outcome; [`publish`](Engine::publish)
///    and [`drain_events`](Engine::drain_events) when convenient.
/// 3. After `report` or `apply`, call `next_due` again: both can make a
///    write due sooner.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Config,
    filter: LabelFilter,
    synced: bool,
    interner: DataInterner,
    /// The indexes and the slice table: changed only through its methods.
    st: State,
    identities: IdentityAllocator,
    /// CiliumEndpoint source: identity labels learned from CEPs and CiliumIdentities.
    known_identities: HashMap<IdentityId, Arc<LabelSet>>,
    /// Slices observed before the initial sync, in arrival order.
    observed: Vec<CiliumEndpointSlice>,
    /// Pods mode: (namespace, identity-relevant labels, service account) of
    /// the pods, each with its security labels once computed.
    profiles: Profiles,
    /// Pods mode: the pods' host IPs.
    host_ips: Counted<IpAddr>,
    /// Which pod labels are identity-relevant, by key.
    keep_memo: KeepMemo,
    in_flight: HashMap<OpId, Target>,
    next_op: u64,
    events: EventLog,
    counters: Counters,
    metrics: Metrics,
    /// Slice writes per second, by node count.
    bucket: TokenBucket,
    cilium_nodes: usize,
    health: HealthTracker,
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
            interner: DataInterner::default(),
            st: State::new(&config),
            identities: IdentityAllocator::new(&config.identity, config.seed),
            known_identities: HashMap::new(),
            observed: Vec::new(),
            profiles: Profiles::default(),
            host_ips: Counted::default(),
            keep_memo: KeepMemo::default(),
            in_flight: HashMap::new(),
            next_op: 1,
            events: EventLog::new(config.events),
            counters: Counters::default(),
            metrics: Metrics::default(),
            bucket: TokenBucket::new(&config.write.rate_limits),
            cilium_nodes: 0,
            health: HealthTracker::new(config.write.error_threshold),
            config,
        })
    }

    /// The configuration the engine was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether [`Engine::initial_sync_done`] has been called.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Checks the invariants of the engine's indexes and slice table (every
    /// endpoint in exactly one of a slice or the waiting set, index maps in
    /// step, slice sizes, one namespace per slice, the grouping rules); the
    /// first one broken is the error. O(state): for tests.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        self.st.check_invariants()
    }

    // ------------------------------------------------------------ ingestion
}
