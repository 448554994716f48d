//! The seeded workload generator shared by sliceplane's benchmarks and the
//! CLI's `simulate` (DESIGN.md §12).
//!
//! A [`WorkloadSpec`] (pods, nodes, namespaces, deployments, seed, dual
//! stack) is turned into a [`Cluster`]: Namespaces, Nodes, CiliumNodes and
//! Pods as a Deployment's ReplicaSet makes them, plus the equivalent
//! CiliumEndpoints and CiliumIdentities. The cluster then yields watch
//! events: [`Cluster::initial_events`] for the initial list and
//! [`Cluster::churn`] for the churn traces of §12 ([`Trace`]).
//!
//! Everything is drawn from a `ChaCha8Rng` seeded from the spec (or the churn
//! seed), and only fixed-width integers are sampled, so the same spec and
//! seed give byte-identical objects and events on every platform.
//!
//! Address plan (disjoint by construction):
//! - pod IPv4 from `10.0.0.0/8`, handed out sequentially (`10.0.0.1`, ...);
//!   IPv6 (dual stack) from `fd00:10::/32` with the same offset;
//! - node IPv4 from `172.16.0.0/12`, IPv6 from `fd00:172::/32`.
//!
//! Pod IPs of deleted pods are only reused once the `10.0.0.0/8` range has
//! been handed out completely, so during any realistic run every new pod
//! gets an IP never seen before; IPs are always unique among live pods.
//!
//! Identities: one per distinct security label set (namespace, deployment,
//! `version` label, ...), numbered from 256 in order of first appearance.
//! Each label-change trace adds 1% of the deployments as new numbers, so at
//! scale L (50,000 deployments) about 30 label-change traces fit below 65,536.
//! CiliumEndpoints carry the identity number only (`status.identity.labels`
//! is left empty to keep L small); the labels are in [`Cluster::identities`].
//!
//! Simplifications: pods appear Running with their IPs in one ADDED event and
//! disappear in one DELETED event (no Pending phase, no deletionTimestamp
//! MODIFIED step); Nodes and CiliumNodes never change.
//!
//! ```
//! use sliceplane_workload::{Cluster, Scale, Source, Trace, WorkloadSpec};
//! let spec = WorkloadSpec::custom(200, 20).unwrap();
//! let mut cluster = Cluster::generate(&spec).unwrap();
//! let initial = cluster.initial_events(Source::Pods);
//! assert_eq!(initial.len(), 2 + 20 + 20 + 200);
//! let churn = cluster.churn(Trace::RollingUpdate, Source::Pods, 7);
//! assert!(!churn.is_empty());
//! # let _ = Scale::S;
//! ```

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sliceplane::labels::{LabelFilter, LabelSet, PodLabelInputs, pod_security_labels};
use sliceplane::model::{
    AddressPair, CiliumEndpoint, CiliumEndpointStatus, CiliumIdentity, CiliumNode,
    CiliumNodeAddress, CiliumNodeSpec, Container, ContainerPort, EncryptionSpec, EndpointIdentity,
    EndpointNetworking, Labels, NamedPort, Namespace, Node, NodeAddress, NodeStatus, Object,
    ObjectMeta, OwnerReference, Pod, PodIp, PodSpec, PodStatus, WatchEvent,
};

/// Cluster name used for the `io.cilium.k8s.policy.cluster` identity label
/// (the engine's default).
pub const CLUSTER_NAME: &str = "default";

/// First identity number handed out (start of the allocatable range).
pub const FIRST_IDENTITY: i64 = 256;

/// Largest pod count a spec may ask for: keeps every live pod (plus surge)
/// inside `10.0.0.0/8` with room to spare.
pub const MAX_PODS: u32 = 4_000_000;

/// Largest node count a spec may ask for (node IPs come from `172.16.0.0/12`).
pub const MAX_NODES: u32 = 1_000_000;

const POD_V4_BASE: u32 = 0x0A00_0000; // 10.0.0.0
const POD_V4_MAX_OFFSET: u32 = (1 << 24) - 2;
const NODE_V4_BASE: u32 = 0xAC10_0000; // 172.16.0.0
const POD_V6_BASE: u128 = 0xfd00_0010_u128 << 96;
const NODE_V6_BASE: u128 = 0xfd00_0172_u128 << 96;

/// Kubernetes' `rand.SafeEncodeString` alphabet (no vowels, no 0/1/3).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// 27^5: number of distinct 5-character pod suffixes.
const SUFFIX_SPACE: u64 = 14_348_907;
/// Coprime to 27^5, so `seq * SUFFIX_MUL + offset` is a bijection mod 27^5.
const SUFFIX_MUL: u64 = 2_654_435;

const PRIORITY_ANNOTATION: &str = "cilium.io/ces-namespace";

const WORDS: &[&str] = &[
    "api",
    "web",
    "checkout",
    "cart",
    "payments",
    "auth",
    "search",
    "catalog",
    "orders",
    "frontend",
    "backend",
    "worker",
    "billing",
    "inventory",
    "shipping",
    "email",
    "notify",
    "gateway",
    "cache",
    "ledger",
    "profile",
    "reviews",
    "recommend",
    "ads",
    "session",
    "upload",
    "media",
    "report",
    "scheduler",
    "quote",
];
const TEAMS: &[&str] = &["core", "growth", "data", "platform", "mobile", "infra"];
const ENVS: &[&str] = &["prod", "staging", "dev"];
const TIERS: &[&str] = &["frontend", "backend", "cache", "db"];

// ---------------------------------------------------------------- errors

/// Why a [`WorkloadSpec`] was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadError(pub String);

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WorkloadError {}

fn err<T>(msg: impl Into<String>) -> Result<T, WorkloadError> {
    Err(WorkloadError(msg.into()))
}

// ---------------------------------------------------------------- spec

/// The named scales of DESIGN.md §12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scale {
    /// 5,000 pods on 500 nodes.
    S,
    /// 100,000 pods on 2,000 nodes.
    M,
    /// 1,000,000 pods on 20,000 nodes.
    L,
}

impl Scale {
    pub const ALL: [Scale; 3] = [Scale::S, Scale::M, Scale::L];

    /// `(pods, nodes)` of the scale.
    pub const fn size(self) -> (u32, u32) {
        match self {
            Scale::S => (5_000, 500),
            Scale::M => (100_000, 2_000),
            Scale::L => (1_000_000, 20_000),
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scale::S => "S",
            Scale::M => "M",
            Scale::L => "L",
        })
    }
}

impl FromStr for Scale {
    type Err = WorkloadError;
    /// `S`, `M` or `L`, case-insensitive.
    fn from_str(s: &str) -> Result<Scale, WorkloadError> {
        match s {
            "S" | "s" => Ok(Scale::S),
            "M" | "m" => Ok(Scale::M),
            "L" | "l" => Ok(Scale::L),
            _ => err(format!("scale {s:?} is not S, M or L")),
        }
    }
}

/// What to generate. Build it with [`WorkloadSpec::scale`] or
/// [`WorkloadSpec::custom`] and adjust the public fields if needed;
/// [`Cluster::generate`] validates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSpec {
    pub pods: u32,
    pub nodes: u32,
    pub namespaces: u32,
    pub deployments: u32,
    pub seed: u64,
    /// Give nodes and pods an IPv6 address as well.
    pub dual_stack: bool,
}

impl WorkloadSpec {
    /// Default seed of the named and custom specs.
    pub const DEFAULT_SEED: u64 = 0x5eed;

    /// The spec of a named scale (namespaces = pods/100, deployments = pods/20).
    pub fn scale(scale: Scale) -> WorkloadSpec {
        let (pods, nodes) = scale.size();
        WorkloadSpec {
            pods,
            nodes,
            namespaces: pods / 100,
            deployments: pods / 20,
            seed: Self::DEFAULT_SEED,
            dual_stack: false,
        }
    }

    /// `pods` on `nodes`, with namespaces = max(1, pods/100) and
    /// deployments = max(1, pods/20). Errors on zero or too large sizes.
    pub fn custom(pods: u32, nodes: u32) -> Result<WorkloadSpec, WorkloadError> {
        let spec = WorkloadSpec {
            pods,
            nodes,
            namespaces: (pods / 100).max(1),
            deployments: (pods / 20).max(1),
            seed: Self::DEFAULT_SEED,
            dual_stack: false,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// The same spec with another seed.
    pub fn with_seed(mut self, seed: u64) -> WorkloadSpec {
        self.seed = seed;
        self
    }

    /// The same spec, dual stack or not.
    pub fn with_dual_stack(mut self, dual_stack: bool) -> WorkloadSpec {
        self.dual_stack = dual_stack;
        self
    }

    /// Checks `1 ≤ namespaces ≤ deployments ≤ pods ≤ MAX_PODS` and
    /// `1 ≤ nodes ≤ MAX_NODES`.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        if self.pods == 0 {
            return err("pods must be at least 1");
        }
        if self.nodes == 0 {
            return err("nodes must be at least 1");
        }
        if self.namespaces == 0 {
            return err("namespaces must be at least 1");
        }
        if self.deployments == 0 {
            return err("deployments must be at least 1");
        }
        if self.pods > MAX_PODS {
            return err(format!("pods {} exceeds the maximum {MAX_PODS}", self.pods));
        }
        if self.nodes > MAX_NODES {
            return err(format!(
                "nodes {} exceeds the maximum {MAX_NODES}",
                self.nodes
            ));
        }
        if self.deployments > self.pods {
            return err(format!(
                "deployments {} exceed pods {}: every deployment needs a pod",
                self.deployments, self.pods
            ));
        }
        if self.namespaces > self.deployments {
            return err(format!(
                "namespaces {} exceed deployments {}: every namespace needs a deployment",
                self.namespaces, self.deployments
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- events

/// Where the engine reads endpoints from (DESIGN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Namespaces, Nodes, CiliumNodes and Pods.
    Pods,
    /// CiliumNodes, Namespaces and CiliumEndpoints.
    CiliumEndpoints,
}

/// A watch event with the time (milliseconds on the simulation clock) at
/// which a replay should deliver it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedEvent {
    pub at_ms: u64,
    pub event: WatchEvent,
}

/// How fast churn events arrive. `events_per_sec == 0` means all at once
/// (every event of a trace gets the same timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChurnRate {
    pub events_per_sec: u64,
}

impl Default for ChurnRate {
    /// 1,000 events per second.
    fn default() -> Self {
        ChurnRate {
            events_per_sec: 1_000,
        }
    }
}

/// How the events of a churn trace are spread over time
/// ([`Cluster::churn_paced`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Every event back to back at a fixed rate: a stress trace.
    Flood(ChurnRate),
    /// As the cluster's controllers would pace them.
    Realistic(RealisticPacing),
}

/// The pace of a cluster's controllers, for [`Pacing::Realistic`].
///
/// - **RollingUpdate**: every chosen Deployment starts rolling at once; each
///   runs the Deployment controller's rule: at most `replicas + maxSurge`
///   pods (surge rounds up), at least `replicas - maxUnavailable` available
///   (rounds down; both zero means one unavailable). A new pod appears
///   (ADDED, with its IP) up to `start_jitter_ms` after the controller
///   creates it and is ready `ready_ms` later; old pods are deleted as soon
///   as enough new ones are ready.
/// - **LabelChange**: pods are relabelled one after another,
///   `relabels_per_sec` per second (as `kubectl label` patches them).
/// - **NodeDrain**: the drained nodes are drained one after another (as a
///   node-pool upgrade does), `evictions_per_sec` pods per second; each
///   evicted pod's replacement appears on another node up to
///   `start_jitter_ms` after the eviction.
/// - **ScaleDownUp**: every chosen Deployment deletes its surplus pods at
///   once (as the ReplicaSet controller does); `scale_up_after_ms` later the
///   replacements appear, each up to `start_jitter_ms` late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealisticPacing {
    /// `maxSurge` of the Deployments, percent of replicas.
    pub max_surge_percent: u32,
    /// `maxUnavailable` of the Deployments, percent of replicas.
    pub max_unavailable_percent: u32,
    /// From a pod running (with its IP) to ready.
    pub ready_ms: u64,
    /// From a pod created to running with its IP: uniform in `0..=jitter`.
    pub start_jitter_ms: u64,
    /// Pod evictions per second during a drain (at least 1).
    pub evictions_per_sec: u32,
    /// Pods relabelled per second (at least 1).
    pub relabels_per_sec: u32,
    /// Pause between a scale-down and the scale-up back.
    pub scale_up_after_ms: u64,
}

impl Default for RealisticPacing {
    /// Kubernetes' Deployment defaults (maxSurge 25%, maxUnavailable 25%),
    /// 5 s to ready, pods running within 1 s, 10 evictions/s, 10 relabels/s,
    /// scale back up after 10 s.
    fn default() -> Self {
        RealisticPacing {
            max_surge_percent: 25,
            max_unavailable_percent: 25,
            ready_ms: 5_000,
            start_jitter_ms: 1_000,
            evictions_per_sec: 10,
            relabels_per_sec: 10,
            scale_up_after_ms: 10_000,
        }
    }
}

/// The churn traces of DESIGN.md §12. See [`Cluster::churn`] for exactly
/// what each produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trace {
    RollingUpdate,
    LabelChange,
    NodeDrain,
    ScaleDownUp,
}

impl Trace {
    pub const ALL: [Trace; 4] = [
        Trace::RollingUpdate,
        Trace::LabelChange,
        Trace::NodeDrain,
        Trace::ScaleDownUp,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Trace::RollingUpdate => "rolling-update",
            Trace::LabelChange => "label-change",
            Trace::NodeDrain => "node-drain",
            Trace::ScaleDownUp => "scale-down-up",
        }
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Trace {
    type Err = WorkloadError;
    fn from_str(s: &str) -> Result<Trace, WorkloadError> {
        Trace::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                WorkloadError(format!(
                    "trace {s:?} is not one of rolling-update, label-change, node-drain, scale-down-up"
                ))
            })
    }
}

/// Number of items that is `percent`% of `n`, rounded half up, at least 1
/// (when `n > 0`).
pub fn share(n: usize, percent: usize) -> usize {
    if n == 0 {
        return 0;
    }
    ((n * percent + 50) / 100).clamp(1, n)
}

// ---------------------------------------------------------------- cluster

#[derive(Debug, Clone)]
struct Deployment {
    name: String,
    ns: u32,
    hash: String,
    version: u32,
    replicas: u32,
    service_account: String,
    app_name: Option<&'static str>,
    tier: Option<&'static str>,
    ports: Vec<ContainerPort>,
    /// Pod labels of an imported controller (without `pod-template-hash`),
    /// and whether its pods carried a `pod-template-hash`.
    imported: Option<(Labels, bool)>,
    identity: i64,
    suffix_seq: u64,
    suffix_offset: u64,
}

#[derive(Debug, Clone, Copy)]
struct PodRec {
    deploy: u32,
    node: u32,
    ip: u32,
}

#[derive(Debug, Clone)]
struct IpPool {
    next: u32,
    free: VecDeque<u32>,
    /// Offsets used by imported pods: never handed out.
    taken: std::collections::HashSet<u32>,
}

/// `PodRec::ip` of an imported pod whose address is not from the pool.
const NOT_FROM_POOL: u32 = u32::MAX;

impl IpPool {
    fn alloc(&mut self) -> u32 {
        while self.next <= POD_V4_MAX_OFFSET && self.taken.contains(&self.next) {
            self.next += 1;
        }
        if self.next <= POD_V4_MAX_OFFSET {
            self.next += 1;
            self.next - 1
        } else {
            // Validation caps live pods far below the range size, so a freed
            // address always exists here.
            self.free.pop_front().unwrap_or(POD_V4_MAX_OFFSET)
        }
    }
    fn release(&mut self, ip: u32) {
        if ip == NOT_FROM_POOL {
            return;
        }
        self.free.push_back(ip);
    }
}

/// A generated cluster: its objects and the state churn advances.
///
/// Objects are kept as plain vectors of typed objects. [`Cluster::churn`]
/// mutates the cluster (pods, labels, identities, the clock) so that
/// successive traces continue from each other's result.
#[derive(Debug, Clone)]
pub struct Cluster {
    spec: WorkloadSpec,
    namespaces: Vec<Namespace>,
    nodes: Vec<Node>,
    cilium_nodes: Vec<CiliumNode>,
    node_keys: Vec<i64>,
    deployments: Vec<Deployment>,
    pods: Vec<Pod>,
    recs: Vec<PodRec>,
    identity_ids: HashMap<String, i64>,
    identity_labels: Vec<LabelSet>,
    filter: LabelFilter,
    pool: IpPool,
    node_cursor: u32,
    resource_version: u64,
    clock_ms: u64,
}

fn uid(rng: &mut ChaCha8Rng) -> String {
    let hi = rng.random::<u64>();
    let lo = rng.random::<u64>();
    // Version 4, variant 10xx, as a random UUID.
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

fn safe_string(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|_| SAFE_ALPHABET[rng.random_range(0..SAFE_ALPHABET.len() as u32) as usize] as char)
        .collect()
}

fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len() as u32) as usize]
}

fn pod_v4(offset: u32) -> String {
    Ipv4Addr::from(POD_V4_BASE + offset).to_string()
}
fn pod_v6(offset: u32) -> String {
    Ipv6Addr::from(POD_V6_BASE + offset as u128).to_string()
}
fn node_v4(i: u32) -> String {
    Ipv4Addr::from(NODE_V4_BASE + i + 1).to_string()
}
fn node_v6(i: u32) -> String {
    Ipv6Addr::from(NODE_V6_BASE + i as u128 + 1).to_string()
}

/// The pod's first IPv4 (`v6 == false`) or IPv6 address.
fn pod_ip(pod: &Pod, v6: bool) -> Option<String> {
    pod.status
        .pod_ips
        .iter()
        .map(|i| i.ip.as_str())
        .chain(pod.status.pod_ip.as_deref())
        .find(|ip| ip.contains(':') == v6 && !ip.is_empty())
        .map(str::to_string)
}

/// What [`Cluster::from_objects`] took from a real cluster's objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// `"pods"` or `"ciliumendpoints"`: where the endpoints came from.
    pub endpoints_from: String,
    /// Endpoints (pods with an IP, or CiliumEndpoints) taken.
    pub pods: usize,
    /// Pods left out: host network, no IP, no node, finished or terminating.
    pub skipped_pods: usize,
    pub namespaces: usize,
    pub nodes: usize,
    /// Controllers (owner and label set) the pods were grouped into: what
    /// the churn traces roll, relabel and scale as Deployments.
    pub controllers: usize,
    /// Objects of other kinds in the input (ignored).
    pub other_objects: usize,
}

/// `count` distinct indices in `0..n`, chosen by a partial Fisher-Yates
/// shuffle and returned sorted.
fn choose(rng: &mut ChaCha8Rng, n: usize, count: usize) -> Vec<usize> {
    let mut idx: Vec<u32> = (0..n as u32).collect();
    for i in 0..count.min(n) {
        let j = rng.random_range(i as u32..n as u32) as usize;
        idx.swap(i, j);
    }
    let mut out: Vec<usize> = idx[..count.min(n)].iter().map(|&i| i as usize).collect();
    out.sort_unstable();
    out
}

impl Cluster {
    /// Generates the cluster of `spec`.
    ///
    /// Deployment `d` lives in namespace `d % namespaces` and has
    /// `pods / deployments` replicas (the first `pods % deployments`
    /// deployments one more). Pods are placed on nodes round-robin in
    /// creation order, so pods per node differ by at most one.
    pub fn generate(spec: &WorkloadSpec) -> Result<Cluster, WorkloadError> {
        spec.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let mut c = Cluster {
            spec: spec.clone(),
            namespaces: Vec::with_capacity(spec.namespaces as usize),
            nodes: Vec::with_capacity(spec.nodes as usize),
            cilium_nodes: Vec::with_capacity(spec.nodes as usize),
            node_keys: Vec::with_capacity(spec.nodes as usize),
            deployments: Vec::with_capacity(spec.deployments as usize),
            pods: Vec::with_capacity(spec.pods as usize),
            recs: Vec::with_capacity(spec.pods as usize),
            identity_ids: HashMap::new(),
            identity_labels: Vec::new(),
            filter: LabelFilter::default_filter(),
            pool: IpPool {
                next: 1,
                free: VecDeque::new(),
                taken: Default::default(),
            },
            node_cursor: 0,
            resource_version: 0,
            clock_ms: 0,
        };

        for i in 0..spec.namespaces {
            let team = pick(&mut rng, TEAMS);
            let name = format!("{team}-{i}");
            let mut meta = ObjectMeta::named(name.clone());
            meta.uid = Some(uid(&mut rng));
            meta.resource_version = Some(c.next_rv());
            meta.labels
                .insert("kubernetes.io/metadata.name".into(), name);
            if rng.random_range(0..2u32) == 0 {
                meta.labels.insert("team".into(), team.into());
            }
            if rng.random_range(0..3u32) == 0 {
                meta.labels
                    .insert("env".into(), pick(&mut rng, ENVS).into());
            }
            if i % 20 == 0 {
                meta.annotations
                    .insert(PRIORITY_ANNOTATION.into(), "priority".into());
            }
            c.namespaces.push(Namespace { metadata: meta });
        }

        for i in 0..spec.nodes {
            let name = format!("node-{i:05}");
            let v4 = node_v4(i);
            let v6 = spec.dual_stack.then(|| node_v6(i));
            let mut meta = ObjectMeta::named(name.clone());
            meta.uid = Some(uid(&mut rng));
            meta.resource_version = Some(c.next_rv());
            meta.labels
                .insert("kubernetes.io/hostname".into(), name.clone());
            meta.labels.insert(
                "topology.kubernetes.io/zone".into(),
                format!("zone-{}", i % 3 + 1),
            );
            let mut addresses = vec![NodeAddress {
                kind: "InternalIP".into(),
                address: v4.clone(),
            }];
            let mut caddrs = vec![CiliumNodeAddress {
                kind: "InternalIP".into(),
                ip: v4,
            }];
            if let Some(v6) = v6 {
                addresses.push(NodeAddress {
                    kind: "InternalIP".into(),
                    address: v6.clone(),
                });
                caddrs.push(CiliumNodeAddress {
                    kind: "InternalIP".into(),
                    ip: v6,
                });
            }
            addresses.push(NodeAddress {
                kind: "Hostname".into(),
                address: name.clone(),
            });
            // About one node in eight carries an IPsec key index.
            let key = if rng.random_range(0..8u32) == 0 {
                rng.random_range(1..16u32) as i64
            } else {
                0
            };
            let mut cmeta = ObjectMeta::named(name);
            cmeta.uid = Some(uid(&mut rng));
            cmeta.resource_version = Some(c.next_rv());
            c.nodes.push(Node {
                metadata: meta,
                status: NodeStatus { addresses },
            });
            c.cilium_nodes.push(CiliumNode {
                metadata: cmeta,
                spec: CiliumNodeSpec {
                    addresses: caddrs,
                    encryption: (key != 0).then_some(EncryptionSpec { key }),
                },
            });
            c.node_keys.push(key);
        }

        let base = spec.pods / spec.deployments;
        let extra = spec.pods % spec.deployments;
        for d in 0..spec.deployments {
            let word = pick(&mut rng, WORDS);
            let mut ports = vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                protocol: Some("TCP".into()),
            }];
            if rng.random_range(0..3u32) == 0 {
                ports.push(ContainerPort {
                    name: Some("metrics".into()),
                    container_port: 9090,
                    protocol: Some("TCP".into()),
                });
            }
            if rng.random_range(0..10u32) == 0 {
                ports.push(ContainerPort {
                    name: Some("grpc".into()),
                    container_port: 9000,
                    protocol: Some("TCP".into()),
                });
            }
            let dep = Deployment {
                name: format!("{word}-{d}"),
                ns: d % spec.namespaces,
                hash: safe_string(&mut rng, 10),
                version: 1,
                replicas: base + u32::from(d < extra),
                service_account: if rng.random_range(0..4u32) == 0 {
                    "default".into()
                } else {
                    format!("{word}-sa")
                },
                app_name: (rng.random_range(0..3u32) == 0).then_some(word),
                tier: (rng.random_range(0..2u32) == 0).then(|| pick(&mut rng, TIERS)),
                ports,
                imported: None,
                identity: 0,
                suffix_seq: 0,
                suffix_offset: rng.random_range(0..SUFFIX_SPACE),
            };
            c.deployments.push(dep);
            c.assign_identity(d as usize);
            for _ in 0..c.deployments[d as usize].replicas {
                let node = c.next_node(&[]);
                c.new_pod(&mut rng, d, node);
            }
        }
        Ok(c)
    }

    /// Builds a cluster from a real cluster's objects, as
    /// `kubectl get pods,namespaces,nodes -A -o json` lists them (the
    /// caller parses the List's items). Churn traces then run on that shape:
    /// its namespaces, label sets, nodes and pods per node.
    ///
    /// - Pods with host networking, without an IP or a `nodeName`, finished
    ///   (`Succeeded`/`Failed`) or terminating are left out (they have no
    ///   endpoint); a pod on a node the input does not list gets a bare Node.
    /// - Pods are grouped into controllers by namespace, owner (a
    ///   ReplicaSet's Deployment, else the owner, else the pod's name
    ///   without its last `-` part) and security label set; every group is
    ///   churned as a Deployment's pods would be (new pods are named
    ///   `<deployment>-<hash>-<suffix>`, carry the group's labels and get
    ///   IPs from `10.0.0.0/8` that no imported pod uses).
    /// - Without Pods, CiliumEndpoints stand in for them: labels from the
    ///   `k8s:` identity labels, node from the endpoint's node IP, grouped
    ///   by namespace and identity. CiliumNodes stand in for missing Nodes.
    /// - Identity numbers are the generator's own (from 256 by label set).
    pub fn from_objects(
        objects: impl IntoIterator<Item = Object>,
        seed: u64,
    ) -> Result<(Cluster, ImportSummary), WorkloadError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut summary = ImportSummary::default();
        let (mut namespaces, mut nodes, mut cnodes, mut pods, mut ceps) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut max_rv = 0u64;
        for o in objects {
            if let Some(rv) = o.metadata().resource_version.as_deref() {
                max_rv = max_rv.max(rv.parse().unwrap_or(0));
            }
            match o {
                Object::Namespace(n) => namespaces.push(n),
                Object::Node(n) => nodes.push(n),
                Object::CiliumNode(n) => cnodes.push(n),
                Object::Pod(p) => pods.push(p),
                Object::CiliumEndpoint(c) => ceps.push(c),
                _ => summary.other_objects += 1,
            }
        }
        // Nodes: the Nodes, then CiliumNodes that have no Node.
        let mut node_index: HashMap<String, u32> = HashMap::new();
        let mut all_nodes: Vec<Node> = Vec::new();
        for n in nodes {
            if !node_index.contains_key(&n.metadata.name) {
                node_index.insert(n.metadata.name.clone(), all_nodes.len() as u32);
                all_nodes.push(n);
            }
        }
        for cn in &cnodes {
            if !node_index.contains_key(&cn.metadata.name) {
                node_index.insert(cn.metadata.name.clone(), all_nodes.len() as u32);
                let mut meta = ObjectMeta::named(cn.metadata.name.clone());
                meta.uid = Some(uid(&mut rng));
                all_nodes.push(Node {
                    metadata: meta,
                    status: NodeStatus {
                        addresses: cn
                            .spec
                            .addresses
                            .iter()
                            .map(|a| NodeAddress {
                                kind: a.kind.clone(),
                                address: a.ip.clone(),
                            })
                            .collect(),
                    },
                });
            }
        }
        if pods.is_empty() && !ceps.is_empty() {
            summary.endpoints_from = "ciliumendpoints".into();
            let mut node_by_ip: HashMap<String, String> = HashMap::new();
            for n in &all_nodes {
                for a in &n.status.addresses {
                    node_by_ip.insert(a.address.clone(), n.metadata.name.clone());
                }
            }
            for c in ceps {
                let net = c.status.networking.clone().unwrap_or_default();
                let node_ip = net.node.as_deref().unwrap_or_default().to_string();
                let node_name = match node_by_ip.get(&node_ip) {
                    Some(n) => n.clone(),
                    None if node_ip.is_empty() => String::new(),
                    None => {
                        let name = format!("node-{}", node_ip.replace([':', '.'], "-"));
                        node_by_ip.insert(node_ip.clone(), name.clone());
                        name
                    }
                };
                let mut labels = Labels::new();
                let id = c.status.identity.clone().unwrap_or_default();
                for l in &id.labels {
                    if let Some(kv) = l.strip_prefix("k8s:") {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        if !k.starts_with("io.kubernetes.pod.namespace")
                            && !k.starts_with("io.cilium.k8s.")
                        {
                            labels.insert(k.to_string(), v.to_string());
                        }
                    }
                }
                if labels.is_empty() {
                    labels = c.metadata.labels.clone();
                }
                let ips: Vec<PodIp> = net
                    .addressing
                    .iter()
                    .flat_map(|a| [a.ipv4.clone(), a.ipv6.clone()])
                    .flatten()
                    .map(|ip| PodIp { ip: ip.into() })
                    .collect();
                let ns = c
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into());
                pods.push(Pod {
                    metadata: ObjectMeta {
                        name: c.metadata.name.clone(),
                        namespace: Some(ns.clone()),
                        uid: Some(uid(&mut rng)),
                        resource_version: c.metadata.resource_version.clone(),
                        labels,
                        // Grouped by identity: one controller per (namespace, identity).
                        owner_references: vec![OwnerReference {
                            api_version: "v1".into(),
                            kind: "Identity".into(),
                            name: format!("identity-{}", id.id),
                            uid: String::new(),
                        }],
                        ..Default::default()
                    },
                    spec: PodSpec {
                        node_name: (!node_name.is_empty()).then_some(node_name),
                        service_account_name: c.status.service_account.clone(),
                        host_network: false,
                        containers: vec![Container {
                            name: "app".into(),
                            ports: c
                                .status
                                .named_ports
                                .iter()
                                .map(|p| ContainerPort {
                                    name: Some(p.name.clone()),
                                    container_port: p.port,
                                    protocol: Some(p.protocol.clone()),
                                })
                                .collect(),
                        }],
                    },
                    status: PodStatus {
                        phase: Some("Running".into()),
                        pod_ip: ips.first().map(|i| i.ip.clone()),
                        pod_ips: ips,
                        host_ip: (!node_ip.is_empty()).then_some(node_ip),
                    },
                });
            }
            // Nodes only known by the endpoints' node IPs.
            let mut extra: Vec<(String, String)> = node_by_ip
                .into_iter()
                .filter(|(_, name)| !node_index.contains_key(name))
                .map(|(ip, name)| (name, ip))
                .collect();
            extra.sort();
            for (name, ip) in extra {
                node_index.insert(name.clone(), all_nodes.len() as u32);
                let mut meta = ObjectMeta::named(name);
                meta.uid = Some(uid(&mut rng));
                all_nodes.push(Node {
                    metadata: meta,
                    status: NodeStatus {
                        addresses: vec![NodeAddress {
                            kind: "InternalIP".into(),
                            address: ip,
                        }],
                    },
                });
            }
        } else {
            summary.endpoints_from = "pods".into();
        }
        // Keep the pods that have an endpoint.
        let total = pods.len();
        pods.retain(|p| {
            !p.spec.host_network
                && p.metadata.deletion_timestamp.is_none()
                && !matches!(p.status.phase.as_deref(), Some("Succeeded" | "Failed"))
                && p.spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
                && (pod_ip(p, false).is_some() || pod_ip(p, true).is_some())
        });
        summary.skipped_pods = total - pods.len();
        if pods.is_empty() {
            return err(
                "no pod with an IP on a node in the input: nothing to simulate \
                 (expected a List of Pods, Namespaces and Nodes, or of CiliumEndpoints)",
            );
        }
        for p in &pods {
            let name = p.spec.node_name.clone().unwrap_or_default();
            if !node_index.contains_key(&name) {
                node_index.insert(name.clone(), all_nodes.len() as u32);
                let mut meta = ObjectMeta::named(name);
                meta.uid = Some(uid(&mut rng));
                let addresses = p
                    .status
                    .host_ip
                    .iter()
                    .map(|ip| NodeAddress {
                        kind: "InternalIP".into(),
                        address: ip.clone(),
                    })
                    .collect();
                all_nodes.push(Node {
                    metadata: meta,
                    status: NodeStatus { addresses },
                });
            }
        }
        // Namespaces: the listed ones, plus bare ones the pods need.
        let mut ns_index: HashMap<String, u32> = HashMap::new();
        let mut all_ns: Vec<Namespace> = Vec::new();
        for n in namespaces {
            if !ns_index.contains_key(&n.metadata.name) {
                ns_index.insert(n.metadata.name.clone(), all_ns.len() as u32);
                all_ns.push(n);
            }
        }
        for p in &pods {
            let ns = p
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            if !ns_index.contains_key(&ns) {
                ns_index.insert(ns.clone(), all_ns.len() as u32);
                let mut meta = ObjectMeta::named(ns.clone());
                meta.labels.insert("kubernetes.io/metadata.name".into(), ns);
                all_ns.push(Namespace { metadata: meta });
            }
        }
        // CiliumNodes and encryption keys for every node.
        let keys: HashMap<&str, i64> = cnodes
            .iter()
            .map(|c| {
                (
                    c.metadata.name.as_str(),
                    c.spec.encryption.as_ref().map_or(0, |e| e.key),
                )
            })
            .collect();
        let cn_by_name: HashMap<&str, &CiliumNode> = cnodes
            .iter()
            .map(|c| (c.metadata.name.as_str(), c))
            .collect();
        let mut cilium_nodes = Vec::with_capacity(all_nodes.len());
        let mut node_keys = Vec::with_capacity(all_nodes.len());
        for n in &all_nodes {
            let name = n.metadata.name.as_str();
            node_keys.push(keys.get(name).copied().unwrap_or(0));
            cilium_nodes.push(match cn_by_name.get(name) {
                Some(c) => (*c).clone(),
                None => {
                    let mut meta = ObjectMeta::named(name.to_string());
                    meta.uid = Some(uid(&mut rng));
                    CiliumNode {
                        metadata: meta,
                        spec: CiliumNodeSpec {
                            addresses: n
                                .status
                                .addresses
                                .iter()
                                .filter(|a| a.kind != "Hostname")
                                .map(|a| CiliumNodeAddress {
                                    kind: a.kind.clone(),
                                    ip: a.address.clone(),
                                })
                                .collect(),
                            encryption: None,
                        },
                    }
                }
            });
        }
        let dual_stack = pods.iter().any(|p| pod_ip(p, true).is_some());
        let spec = WorkloadSpec {
            pods: pods.len() as u32,
            nodes: all_nodes.len() as u32,
            namespaces: all_ns.len() as u32,
            deployments: 1,
            seed,
            dual_stack,
        };
        let mut c = Cluster {
            spec,
            namespaces: all_ns,
            nodes: all_nodes,
            cilium_nodes,
            node_keys,
            deployments: Vec::new(),
            pods: Vec::with_capacity(pods.len()),
            recs: Vec::with_capacity(pods.len()),
            identity_ids: HashMap::new(),
            identity_labels: Vec::new(),
            filter: LabelFilter::default_filter(),
            pool: IpPool {
                next: 1,
                free: VecDeque::new(),
                taken: Default::default(),
            },
            node_cursor: 0,
            resource_version: max_rv,
            clock_ms: 0,
        };
        // Group the pods into controllers.
        let mut group_of: HashMap<(String, String, String), u32> = HashMap::new();
        let from_ceps = summary.endpoints_from == "ciliumendpoints";
        for mut p in pods {
            let ns = p
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            let hash = p.metadata.labels.get("pod-template-hash").cloned();
            let owner = p.metadata.owner_references.first();
            let controller = match (owner, &hash) {
                (Some(o), Some(h))
                    if o.kind == "ReplicaSet" && o.name.ends_with(&format!("-{h}")) =>
                {
                    o.name[..o.name.len() - h.len() - 1].to_string()
                }
                (Some(o), _) => o.name.clone(),
                (None, _) => match p.metadata.name.rsplit_once('-') {
                    Some((base, _)) if !base.is_empty() => base.to_string(),
                    _ => p.metadata.name.clone(),
                },
            };
            if from_ceps {
                // The stand-in owner only served the grouping.
                p.metadata.owner_references.clear();
            }
            let mut base = p.metadata.labels.clone();
            base.remove("pod-template-hash");
            let sa = p
                .spec
                .service_account_name
                .clone()
                .unwrap_or_else(|| "default".into());
            let nsi = ns_index[&ns];
            let ns_meta = &c.namespaces[nsi as usize].metadata;
            let set = pod_security_labels(
                &c.filter,
                &PodLabelInputs {
                    namespace: &ns,
                    pod_labels: &base,
                    namespace_labels: Some(&ns_meta.labels),
                    service_account: &sa,
                    cluster_name: CLUSTER_NAME,
                },
            );
            let key = (ns.clone(), controller.clone(), set.canonical_key());
            let d = match group_of.get(&key) {
                Some(&d) => d,
                None => {
                    let d = c.deployments.len() as u32;
                    group_of.insert(key, d);
                    c.deployments.push(Deployment {
                        name: controller,
                        ns: nsi,
                        hash: hash.clone().unwrap_or_else(|| safe_string(&mut rng, 10)),
                        version: 1,
                        replicas: 0,
                        service_account: sa,
                        app_name: None,
                        tier: None,
                        ports: p
                            .spec
                            .containers
                            .iter()
                            .flat_map(|c| c.ports.clone())
                            .collect(),
                        imported: Some((base, hash.is_some())),
                        identity: 0,
                        suffix_seq: 0,
                        suffix_offset: rng.random_range(0..SUFFIX_SPACE),
                    });
                    c.assign_identity(d as usize);
                    d
                }
            };
            c.deployments[d as usize].replicas += 1;
            let node = node_index[p.spec.node_name.as_deref().unwrap_or_default()];
            let ip = match pod_ip(&p, false).and_then(|ip| ip.parse::<Ipv4Addr>().ok()) {
                Some(v4) => {
                    let off = u32::from(v4).wrapping_sub(POD_V4_BASE);
                    if off <= POD_V4_MAX_OFFSET {
                        c.pool.taken.insert(off);
                    }
                    NOT_FROM_POOL
                }
                None => NOT_FROM_POOL,
            };
            c.pods.push(p);
            c.recs.push(PodRec {
                deploy: d,
                node,
                ip,
            });
        }
        c.spec.deployments = c.deployments.len() as u32;
        summary.pods = c.pods.len();
        summary.namespaces = c.namespaces.len();
        summary.nodes = c.nodes.len();
        summary.controllers = c.deployments.len();
        Ok((c, summary))
    }

    // ------------------------------------------------------------ accessors

    pub fn spec(&self) -> &WorkloadSpec {
        &self.spec
    }
    pub fn namespaces(&self) -> &[Namespace] {
        &self.namespaces
    }
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    pub fn cilium_nodes(&self) -> &[CiliumNode] {
        &self.cilium_nodes
    }
    /// The live pods.
    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }
    /// Number of deployments (each one label set / identity).
    pub fn deployment_count(&self) -> usize {
        self.deployments.len()
    }
    /// Current time of the simulation clock: where the next churn starts.
    pub fn now_ms(&self) -> u64 {
        self.clock_ms
    }

    /// The CiliumEndpoint of every live pod, in pod order.
    pub fn ciliumendpoints(&self) -> Vec<CiliumEndpoint> {
        (0..self.pods.len()).map(|i| self.cep(i)).collect()
    }

    /// The CiliumIdentity of every identity some deployment currently uses,
    /// by number. `metadata.name` is the number, `metadata.labels` the
    /// `k8s`-sourced labels, `security-labels` all of them.
    pub fn identities(&self) -> Vec<CiliumIdentity> {
        let used: BTreeSet<i64> = self.deployments.iter().map(|d| d.identity).collect();
        used.into_iter()
            .map(|id| {
                let set = &self.identity_labels[(id - FIRST_IDENTITY) as usize];
                let mut cid = CiliumIdentity::new(id.to_string());
                cid.metadata.labels = set.k8s_labels();
                cid.security_labels = set.security_labels();
                cid
            })
            .collect()
    }

    /// The initial list as ADDED events, all at the current clock time
    /// (0 for a fresh cluster).
    ///
    /// - [`Source::Pods`]: Namespaces, Nodes, CiliumNodes, Pods.
    /// - [`Source::CiliumEndpoints`]: CiliumNodes, Namespaces, CiliumEndpoints.
    ///
    /// At scale L this clones every object; prefer
    /// [`Cluster::initial_events_iter`] to stream them without holding a
    /// second copy of the cluster.
    pub fn initial_events(&self, source: Source) -> Vec<TimedEvent> {
        self.initial_events_iter(source).collect()
    }

    /// The events of [`Cluster::initial_events`], produced one at a time.
    pub fn initial_events_iter(&self, source: Source) -> impl Iterator<Item = TimedEvent> + '_ {
        let at_ms = self.clock_ms;
        let ev = move |o: Object| TimedEvent {
            at_ms,
            event: WatchEvent::added(o),
        };
        let namespaces = self.namespaces.iter().cloned().map(Object::Namespace);
        let cilium_nodes = self.cilium_nodes.iter().cloned().map(Object::CiliumNode);
        let objects: Box<dyn Iterator<Item = Object> + '_> = match source {
            Source::Pods => Box::new(
                namespaces
                    .chain(self.nodes.iter().cloned().map(Object::Node))
                    .chain(cilium_nodes)
                    .chain(self.pods.iter().cloned().map(Object::Pod)),
            ),
            Source::CiliumEndpoints => Box::new(
                cilium_nodes
                    .chain(namespaces)
                    .chain((0..self.pods.len()).map(|i| Object::CiliumEndpoint(self.cep(i)))),
            ),
        };
        objects.map(ev)
    }

    // ------------------------------------------------------------ churn

    /// Runs `trace` at the default [`ChurnRate`] (1,000 events/s).
    /// See [`Cluster::churn_with_rate`].
    pub fn churn(&mut self, trace: Trace, source: Source, seed: u64) -> Vec<TimedEvent> {
        self.churn_with_rate(trace, source, seed, ChurnRate::default())
    }

    /// Runs `trace` on the cluster, mutating it to the state after the
    /// trace, and returns the events that lead there. In
    /// [`Source::Pods`] mode the events carry Pods, in
    /// [`Source::CiliumEndpoints`] mode the equivalent CiliumEndpoints.
    ///
    /// Event `i` is delivered at `now_ms() + i * 1000 / events_per_sec`
    /// (non-decreasing; strictly increasing up to 1,000 events/s); the
    /// clock then advances past the last event. With `D` deployments and
    /// `N` nodes (`share` rounds half up, at least 1):
    ///
    /// - **RollingUpdate**: `share(D, 10)` deployments get a new template
    ///   hash; every pod of them is replaced by a pod with a new name and IP
    ///   on the same node. Surge of one: ADDED new, then DELETED old, pod by
    ///   pod, round-robin across the chosen deployments. `2 × pods` events.
    /// - **LabelChange**: `share(D, 1)` deployments bump their `version`
    ///   label (`v1` → `v2`); each pod is MODIFIED in place (same name/IP).
    ///   The new label set gets a new identity number, so in CiliumEndpoint
    ///   mode the CEP's identity id changes. `pods` events.
    /// - **NodeDrain**: `share(N, 1)` nodes are drained: each of their pods
    ///   is DELETED and a replacement (same deployment, new name and IP) is
    ///   ADDED on another node (round-robin over undrained nodes). The nodes
    ///   stay, empty. `2 × pods` events. With a single node the pods are
    ///   re-created on the same node.
    /// - **ScaleDownUp**: `share(D, 10)` deployments are scaled from `r` to
    ///   `r / 2` replicas (the newest `r - r/2` pods DELETED) and, after all
    ///   the scale-downs, back to `r` (as many new pods ADDED, on the nodes
    ///   the deleted pods had). `2 × (r - r/2)` events per deployment.
    pub fn churn_with_rate(
        &mut self,
        trace: Trace,
        source: Source,
        seed: u64,
        rate: ChurnRate,
    ) -> Vec<TimedEvent> {
        self.churn_paced(trace, source, seed, Pacing::Flood(rate))
    }

    /// Runs `trace` like [`Cluster::churn_with_rate`], with the events timed
    /// by `pacing`: [`Pacing::Flood`] is exactly `churn_with_rate`;
    /// [`Pacing::Realistic`] paces them as the cluster's controllers would
    /// (see [`RealisticPacing`]). The same objects change either way; with
    /// realistic pacing the order follows the timeline (stable sort by time)
    /// and the random draws differ, so the names differ from the flood's.
    pub fn churn_paced(
        &mut self,
        trace: Trace,
        source: Source,
        seed: u64,
        pacing: Pacing,
    ) -> Vec<TimedEvent> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // (offset ms, event type, pod index); pods are only removed from the
        // vectors at the end, so indices stay valid throughout.
        let mut dead: Vec<bool> = vec![false; self.pods.len()];
        let timed: Vec<(u64, Op, usize)> = match pacing {
            Pacing::Flood(rate) => {
                let ops = self.flood_ops(trace, &mut rng, &mut dead);
                ops.into_iter()
                    .enumerate()
                    .map(|(i, (op, p))| {
                        let off = if rate.events_per_sec == 0 {
                            0
                        } else {
                            (i as u128 * 1000 / rate.events_per_sec as u128) as u64
                        };
                        (off, op, p)
                    })
                    .collect()
            }
            Pacing::Realistic(p) => {
                let mut v = self.paced_ops(trace, &mut rng, &mut dead, &p);
                v.sort_by_key(|e| e.0);
                v
            }
        };
        let start = self.clock_ms;
        let mut out = Vec::with_capacity(timed.len());
        for &(off, op, p) in &timed {
            let object = match source {
                Source::Pods => Object::Pod(self.pods[p].clone()),
                Source::CiliumEndpoints => Object::CiliumEndpoint(self.cep(p)),
            };
            let event = match op {
                Op::Add => WatchEvent::added(object),
                Op::Modify => WatchEvent::modified(object),
                Op::Delete => WatchEvent::deleted(object),
            };
            out.push(TimedEvent {
                at_ms: start + off,
                event,
            });
        }
        self.clock_ms = out.last().map_or(start, |e| e.at_ms + 1);

        // Drop the deleted pods and give their IPs back.
        dead.resize(self.pods.len(), false);
        if dead.iter().any(|&d| d) {
            let mut keep_pods = Vec::with_capacity(self.pods.len());
            let mut keep_recs = Vec::with_capacity(self.pods.len());
            for ((pod, rec), dead) in self.pods.drain(..).zip(self.recs.drain(..)).zip(dead) {
                if dead {
                    self.pool.release(rec.ip);
                } else {
                    keep_pods.push(pod);
                    keep_recs.push(rec);
                }
            }
            self.pods = keep_pods;
            self.recs = keep_recs;
        }
        out
    }

    /// The events of `trace` in flood order (see [`Cluster::churn_with_rate`]):
    /// `(op, pod index)`; marks the pods it deletes in `dead`.
    fn flood_ops(
        &mut self,
        trace: Trace,
        rng: &mut ChaCha8Rng,
        dead: &mut [bool],
    ) -> Vec<(Op, usize)> {
        // (event type, pod index) in order; pods are only removed from the
        // vectors at the end, so indices stay valid throughout.
        let mut ops: Vec<(Op, usize)> = Vec::new();
        match trace {
            Trace::RollingUpdate => {
                let chosen = choose(
                    rng,
                    self.deployments.len(),
                    share(self.deployments.len(), 10),
                );
                let by_dep = self.pods_by_deployment(&chosen);
                for &d in &chosen {
                    self.deployments[d].hash = safe_string(rng, 10);
                }
                let longest = by_dep.iter().map(Vec::len).max().unwrap_or(0);
                for step in 0..longest {
                    for (k, &d) in chosen.iter().enumerate() {
                        if let Some(&old) = by_dep[k].get(step) {
                            let node = self.recs[old].node;
                            let new = self.new_pod(rng, d as u32, node);
                            ops.push((Op::Add, new));
                            ops.push((Op::Delete, old));
                            dead[old] = true;
                        }
                    }
                }
            }
            Trace::LabelChange => {
                let chosen = choose(
                    rng,
                    self.deployments.len(),
                    share(self.deployments.len(), 1),
                );
                let by_dep = self.pods_by_deployment(&chosen);
                for (k, &d) in chosen.iter().enumerate() {
                    self.deployments[d].version += 1;
                    self.assign_identity(d);
                    let version = format!("v{}", self.deployments[d].version);
                    for &p in &by_dep[k] {
                        let rv = self.next_rv();
                        let meta = &mut self.pods[p].metadata;
                        meta.labels.insert("version".into(), version.clone());
                        meta.resource_version = Some(rv);
                        ops.push((Op::Modify, p));
                    }
                }
            }
            Trace::NodeDrain => {
                let n = self.nodes.len();
                let drained = choose(rng, n, share(n, 1));
                let skip: Vec<u32> = if drained.len() < n {
                    drained.iter().map(|&i| i as u32).collect()
                } else {
                    Vec::new()
                };
                let mut is_drained = vec![false; n];
                for &i in &drained {
                    is_drained[i] = true;
                }
                let victims: Vec<usize> = (0..self.pods.len())
                    .filter(|&p| is_drained[self.recs[p].node as usize])
                    .collect();
                for old in victims {
                    let d = self.recs[old].deploy;
                    ops.push((Op::Delete, old));
                    dead[old] = true;
                    let node = self.next_node(&skip);
                    let new = self.new_pod(rng, d, node);
                    ops.push((Op::Add, new));
                }
            }
            Trace::ScaleDownUp => {
                let chosen = choose(
                    rng,
                    self.deployments.len(),
                    share(self.deployments.len(), 10),
                );
                let by_dep = self.pods_by_deployment(&chosen);
                let mut readd: Vec<(u32, u32)> = Vec::new();
                for (k, &d) in chosen.iter().enumerate() {
                    let pods = &by_dep[k];
                    let keep = pods.len() / 2;
                    for &p in pods[keep..].iter().rev() {
                        ops.push((Op::Delete, p));
                        dead[p] = true;
                        readd.push((d as u32, self.recs[p].node));
                    }
                }
                for (d, node) in readd {
                    let new = self.new_pod(rng, d, node);
                    ops.push((Op::Add, new));
                }
            }
        }

        ops
    }

    /// The events of `trace` paced as the controllers would (see
    /// [`RealisticPacing`]): `(offset ms, op, pod index)`, not yet sorted.
    fn paced_ops(
        &mut self,
        trace: Trace,
        rng: &mut ChaCha8Rng,
        dead: &mut [bool],
        pace: &RealisticPacing,
    ) -> Vec<(u64, Op, usize)> {
        let mut out: Vec<(u64, Op, usize)> = Vec::new();
        let jitter = pace.start_jitter_ms;
        match trace {
            Trace::RollingUpdate => {
                let chosen = choose(
                    rng,
                    self.deployments.len(),
                    share(self.deployments.len(), 10),
                );
                let by_dep = self.pods_by_deployment(&chosen);
                for &d in &chosen {
                    self.deployments[d].hash = safe_string(rng, 10);
                }
                for (k, &d) in chosen.iter().enumerate() {
                    let old = &by_dep[k];
                    let r = old.len();
                    if r == 0 {
                        continue;
                    }
                    let surge = (r * pace.max_surge_percent as usize).div_ceil(100);
                    let mut unavailable = r * pace.max_unavailable_percent as usize / 100;
                    if surge == 0 && unavailable == 0 {
                        unavailable = 1;
                    }
                    let (mut t, mut old_live, mut created, mut ready, mut next_old) =
                        (0u64, r, 0usize, 0usize, 0usize);
                    let mut ready_at: std::collections::BinaryHeap<std::cmp::Reverse<u64>> =
                        std::collections::BinaryHeap::new();
                    loop {
                        loop {
                            let up = (r + surge)
                                .saturating_sub(old_live + created)
                                .min(r - created);
                            for _ in 0..up {
                                let node = self.recs[old[created]].node;
                                let new = self.new_pod(rng, d as u32, node);
                                let running = t + rng.random_range(0..=jitter);
                                out.push((running, Op::Add, new));
                                ready_at.push(std::cmp::Reverse(running + pace.ready_ms));
                                created += 1;
                            }
                            let down = (old_live + ready)
                                .saturating_sub(r - unavailable)
                                .min(old_live);
                            for _ in 0..down {
                                let p = old[next_old];
                                next_old += 1;
                                out.push((t, Op::Delete, p));
                                dead[p] = true;
                                old_live -= 1;
                            }
                            if up == 0 && down == 0 {
                                break;
                            }
                        }
                        if old_live == 0 && created == r {
                            break;
                        }
                        match ready_at.pop() {
                            Some(std::cmp::Reverse(at)) => {
                                t = t.max(at);
                                ready += 1;
                            }
                            None => break,
                        }
                    }
                }
            }
            Trace::LabelChange => {
                let per_sec = pace.relabels_per_sec.max(1) as u64;
                for (i, (op, p)) in self.flood_ops(trace, rng, dead).into_iter().enumerate() {
                    out.push((i as u64 * 1000 / per_sec, op, p));
                }
            }
            Trace::NodeDrain => {
                let n = self.nodes.len();
                let drained = choose(rng, n, share(n, 1));
                let skip: Vec<u32> = if drained.len() < n {
                    drained.iter().map(|&i| i as u32).collect()
                } else {
                    Vec::new()
                };
                let mut victims: Vec<(u32, usize)> = (0..self.pods.len())
                    .filter(|&p| drained.binary_search(&(self.recs[p].node as usize)).is_ok())
                    .map(|p| (self.recs[p].node, p))
                    .collect();
                victims.sort_unstable();
                let per_sec = pace.evictions_per_sec.max(1) as u64;
                for (i, (_, old)) in victims.into_iter().enumerate() {
                    let at = i as u64 * 1000 / per_sec;
                    let d = self.recs[old].deploy;
                    out.push((at, Op::Delete, old));
                    dead[old] = true;
                    let node = self.next_node(&skip);
                    let new = self.new_pod(rng, d, node);
                    out.push((at + rng.random_range(0..=jitter), Op::Add, new));
                }
            }
            Trace::ScaleDownUp => {
                for (op, p) in self.flood_ops(trace, rng, dead) {
                    let at = match op {
                        Op::Add => pace.scale_up_after_ms + rng.random_range(0..=jitter),
                        _ => 0,
                    };
                    out.push((at, op, p));
                }
            }
        }
        out
    }

    // ------------------------------------------------------------ internals

    fn next_rv(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Next node round-robin, skipping `skip` (sorted) unless every node is
    /// in it.
    fn next_node(&mut self, skip: &[u32]) -> u32 {
        let n = self.nodes.len() as u32;
        loop {
            let node = self.node_cursor % n;
            self.node_cursor = (self.node_cursor + 1) % n;
            if skip.binary_search(&node).is_err() || skip.len() as u32 >= n {
                return node;
            }
        }
    }

    /// Indices of the live pods of each deployment in `chosen`, in creation
    /// order.
    fn pods_by_deployment(&self, chosen: &[usize]) -> Vec<Vec<usize>> {
        let mut slot = vec![usize::MAX; self.deployments.len()];
        for (k, &d) in chosen.iter().enumerate() {
            slot[d] = k;
        }
        let mut out = vec![Vec::new(); chosen.len()];
        for (p, rec) in self.recs.iter().enumerate() {
            let k = slot[rec.deploy as usize];
            if k != usize::MAX {
                out[k].push(p);
            }
        }
        out
    }

    fn pod_labels(&self, d: usize) -> Labels {
        let dep = &self.deployments[d];
        if let Some((base, with_hash)) = &dep.imported {
            let mut labels = base.clone();
            if *with_hash {
                labels.insert("pod-template-hash".into(), dep.hash.clone());
            }
            if dep.version > 1 {
                labels.insert("version".into(), format!("v{}", dep.version));
            }
            return labels;
        }
        let mut labels = Labels::new();
        labels.insert("app".into(), dep.name.clone());
        labels.insert("pod-template-hash".into(), dep.hash.clone());
        labels.insert("version".into(), format!("v{}", dep.version));
        if let Some(n) = dep.app_name {
            labels.insert("app.kubernetes.io/name".into(), n.into());
        }
        if let Some(t) = dep.tier {
            labels.insert("tier".into(), t.into());
        }
        labels
    }

    /// Sets the deployment's identity from its current labels, allocating
    /// the next number for a label set not seen before.
    fn assign_identity(&mut self, d: usize) {
        let labels = self.pod_labels(d);
        let dep = &self.deployments[d];
        let ns = &self.namespaces[dep.ns as usize].metadata;
        let set = pod_security_labels(
            &self.filter,
            &PodLabelInputs {
                namespace: &ns.name,
                pod_labels: &labels,
                namespace_labels: Some(&ns.labels),
                service_account: &dep.service_account,
                cluster_name: CLUSTER_NAME,
            },
        );
        let key = set.canonical_key();
        let next = FIRST_IDENTITY + self.identity_labels.len() as i64;
        let id = *self.identity_ids.entry(key).or_insert(next);
        if id == next {
            self.identity_labels.push(set);
        }
        self.deployments[d].identity = id;
    }

    /// Creates a pod of deployment `d` on `node`, appends it and returns its
    /// index.
    fn new_pod(&mut self, rng: &mut ChaCha8Rng, d: u32, node: u32) -> usize {
        let ip = self.pool.alloc();
        let rv = self.next_rv();
        let labels = self.pod_labels(d as usize);
        let dep = &mut self.deployments[d as usize];
        let mut v = (dep.suffix_seq * SUFFIX_MUL + dep.suffix_offset) % SUFFIX_SPACE;
        dep.suffix_seq += 1;
        let mut suffix = [0u8; 5];
        for ch in suffix.iter_mut().rev() {
            *ch = SAFE_ALPHABET[(v % 27) as usize];
            v /= 27;
        }
        let suffix = std::str::from_utf8(&suffix).unwrap_or("bbbbb");
        let rs = format!("{}-{}", dep.name, dep.hash);
        let name = format!("{rs}-{suffix}");
        let mut ips = vec![PodIp { ip: pod_v4(ip) }];
        if self.spec.dual_stack {
            ips.push(PodIp { ip: pod_v6(ip) });
        }
        let node_meta = &self.nodes[node as usize];
        let host_ip = node_meta
            .status
            .addresses
            .iter()
            .find(|a| a.kind == "InternalIP")
            .or(node_meta.status.addresses.first())
            .map(|a| a.address.clone());
        let pod = Pod {
            metadata: ObjectMeta {
                name,
                namespace: Some(self.namespaces[dep.ns as usize].metadata.name.clone()),
                uid: Some(uid(rng)),
                resource_version: Some(rv),
                labels,
                owner_references: vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: rs,
                    uid: uid(rng),
                }],
                ..Default::default()
            },
            spec: PodSpec {
                node_name: Some(node_meta.metadata.name.clone()),
                service_account_name: Some(dep.service_account.clone()),
                host_network: false,
                containers: vec![Container {
                    name: "app".into(),
                    ports: dep.ports.clone(),
                }],
            },
            status: PodStatus {
                phase: Some("Running".into()),
                pod_ip: Some(ips[0].ip.clone()),
                pod_ips: ips,
                host_ip,
            },
        };
        self.pods.push(pod);
        self.recs.push(PodRec {
            deploy: d,
            node,
            ip,
        });
        self.pods.len() - 1
    }

    fn cep(&self, p: usize) -> CiliumEndpoint {
        let pod = &self.pods[p];
        let rec = self.recs[p];
        let dep = &self.deployments[rec.deploy as usize];
        let mut named_ports: Vec<NamedPort> = pod
            .spec
            .containers
            .iter()
            .flat_map(|c| &c.ports)
            .filter_map(|cp| {
                Some(NamedPort {
                    name: cp.name.clone()?,
                    port: cp.container_port,
                    protocol: cp.protocol.clone().unwrap_or_else(|| "TCP".into()),
                })
            })
            .collect();
        named_ports.sort();
        let meta = ObjectMeta {
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            labels: pod.metadata.labels.clone(),
            owner_references: vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone().unwrap_or_default(),
            }],
            ..Default::default()
        };
        CiliumEndpoint {
            metadata: meta,
            status: CiliumEndpointStatus {
                identity: Some(EndpointIdentity {
                    id: dep.identity,
                    labels: Vec::new(),
                }),
                networking: Some(EndpointNetworking {
                    addressing: [AddressPair {
                        ipv4: pod_ip(pod, false).map(Into::into),
                        ipv6: pod_ip(pod, true).map(Into::into),
                    }]
                    .into(),
                    node: pod.status.host_ip.as_deref().map(Into::into),
                }),
                encryption: Some(EncryptionSpec {
                    key: self.node_keys[rec.node as usize],
                }),
                named_ports,
                service_account: pod.spec.service_account_name.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Modify,
    Delete,
}

pub mod cilium;

#[cfg(test)]
mod tests;
