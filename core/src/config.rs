//! The engine's configuration: documented defaults, YAML or JSON, validated.
//!
//! Keys are camelCase, as in Kubernetes objects. Unknown keys are rejected so
//! that a typo never silently falls back to a default. Durations are in
//! milliseconds.
//!
//! ```yaml
//! source: pods                  # or ciliumendpoints (default)
//! slicing:
//!   mode: fcfs                  # or identity
//!   maxEndpointsPerSlice: 100   # 1..=1000
//!   compaction: { enabled: false, minFragmentation: 1.25, moveBudget: 100 }
//! write:
//!   syncDelayMs: 500
//!   rateLimits: [{ nodes: 0, limit: 10, burst: 20 }]
//!   priorityNamespaces: true
//!   emptyBeforeDeleteThreshold: 0
//!   retry: { baseMs: 1000, capMs: 100000, maxRetries: 15 }
//!   errorThreshold: { consecutiveFailures: 10, failureRatio: 0.5, windowMs: 60000, minWrites: 20 }
//! identity:
//!   clusterName: default
//!   clusterId: 0
//!   maxConnectedClusters: 255   # or 511
//!   allocation: random          # or lowestFree
//!   gcGraceMs: 900000
//!   labelFilter: { include: [], exclude: [] }
//! events: { slices: true, endpoints: true, identities: true, adoption: true, health: true }
//! seed: 0
//! shard: { index: 0, count: 1 }
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::labels::LabelFilter;

/// Where endpoints come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// CiliumEndpoint objects; identities are given by the agents.
    #[default]
    Ciliumendpoints,
    /// Pods + Namespaces + Nodes/CiliumNodes; the engine assigns identities.
    Pods,
}

/// How endpoints are grouped into slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SliceMode {
    /// First come, first served: an endpoint keeps its slice for life.
    #[default]
    Fcfs,
    /// Slices keyed by (namespace, identity); an identity change moves the endpoint.
    Identity,
}

/// How a free identity number is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Allocation {
    /// Seeded random probe, as Cilium (fewer collisions between writers).
    #[default]
    Random,
    /// The lowest free number.
    LowestFree,
}

/// Moving endpoints out of sparse slices so a namespace needs fewer of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Compaction {
    /// Off by default (Cilium has none).
    pub enabled: bool,
    /// A namespace is compacted when its slice count exceeds
    /// `minFragmentation × ceil(endpoints / max)`.
    pub min_fragmentation: f64,
    /// Endpoint moves allowed per flush, over all namespaces.
    pub move_budget: u32,
}

impl Default for Compaction {
    fn default() -> Self {
        Compaction {
            enabled: false,
            min_fragmentation: 1.25,
            move_budget: 100,
        }
    }
}

/// How endpoints are grouped into slices (`slicing`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Slicing {
    /// First come, first served (Cilium's default) or by identity.
    pub mode: SliceMode,
    /// The most endpoints one slice holds (Cilium: 100).
    pub max_endpoints_per_slice: u32,
    /// Optional compaction of sparse slices.
    pub compaction: Compaction,
}

impl Default for Slicing {
    fn default() -> Self {
        Slicing {
            mode: SliceMode::Fcfs,
            max_endpoints_per_slice: 100,
            compaction: Compaction::default(),
        }
    }
}

/// One step of the node-count rate-limit table (Cilium's `ces-rate-limits`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitStep {
    /// The step applies from this many nodes on.
    pub nodes: u32,
    /// Writes per second.
    pub limit: f64,
    /// Bucket size.
    pub burst: u32,
}

/// Backoff of a failed slice write: `baseMs × 2^(failures−1)`, at most `capMs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Retry {
    /// The delay after the first failure, in milliseconds.
    pub base_ms: u64,
    /// The longest delay, in milliseconds.
    pub cap_ms: u64,
    /// Failures after which the slice's write is dropped until its next change.
    pub max_retries: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            base_ms: 1_000,
            cap_ms: 100_000,
            max_retries: 15,
        }
    }
}

/// When the engine reports itself degraded because writes keep failing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ErrorThreshold {
    /// Degraded after this many failed writes in a row (0 = off).
    pub consecutive_failures: u32,
    /// Degraded when the failure ratio over the window reaches this (0 = off).
    pub failure_ratio: f64,
    /// The window of recent writes the failure ratio is taken over, in milliseconds.
    pub window_ms: u64,
    /// The ratio is judged only once the window holds this many writes.
    pub min_writes: u32,
}

impl Default for ErrorThreshold {
    fn default() -> Self {
        ErrorThreshold {
            consecutive_failures: 10,
            failure_ratio: 0.5,
            window_ms: 60_000,
            min_writes: 20,
        }
    }
}

/// How and how fast the engine writes (`write`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Write {
    /// How long a slice stays dirty before it is written (coalescing window).
    pub sync_delay_ms: u64,
    /// Writes per second by cluster size, Cilium's `ces-rate-limits` table.
    pub rate_limits: Vec<RateLimitStep>,
    /// Slices of namespaces annotated `cilium.io/ces-namespace: priority` go first.
    pub priority_namespaces: bool,
    /// Slices with at least this many endpoints are emptied before delete (0 = off).
    pub empty_before_delete_threshold: u32,
    /// Retry backoff of failed slice writes.
    pub retry: Retry,
    /// When failed writes make the engine degraded.
    pub error_threshold: ErrorThreshold,
}

impl Default for Write {
    fn default() -> Self {
        Write {
            sync_delay_ms: 500,
            rate_limits: vec![RateLimitStep {
                nodes: 0,
                limit: 10.0,
                burst: 20,
            }],
            priority_namespaces: true,
            empty_before_delete_threshold: 0,
            retry: Retry::default(),
            error_threshold: ErrorThreshold::default(),
        }
    }
}

/// Which pod labels become security labels, on top of Cilium's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LabelFilterConfig {
    /// Extra include patterns (`[source:]regex`, anchored at the key's start).
    /// Adding any turns on whitelist mode, as in Cilium.
    pub include: Vec<String>,
    /// Extra exclude patterns.
    pub exclude: Vec<String>,
}

/// Optional narrower numbering range inside the cluster's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityRange {
    /// The smallest identity number to use.
    pub min: u32,
    /// The largest identity number to use.
    pub max: u32,
}

/// How identities are numbered and which labels make them (`identity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// The cluster's name (the `io.cilium.k8s.policy.cluster` label).
    pub cluster_name: String,
    /// The cluster's id (0 to `maxConnectedClusters`); picks the numbering range.
    pub cluster_id: u32,
    /// 255 (identity shift 16) or 511 (shift 15).
    pub max_connected_clusters: u32,
    /// How a free number is picked.
    pub allocation: Allocation,
    /// How long an unused identity is kept before its delete is planned.
    pub gc_grace_ms: u64,
    /// Which labels count for identities.
    pub label_filter: LabelFilterConfig,
    /// Restrict allocation to part of the cluster's range.
    pub range: Option<IdentityRange>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            cluster_name: "default".to_string(),
            cluster_id: 0,
            max_connected_clusters: 255,
            allocation: Allocation::Random,
            gc_grace_ms: 15 * 60 * 1000,
            label_filter: LabelFilterConfig::default(),
            range: None,
        }
    }
}

impl IdentityConfig {
    /// The inclusive numbering range for this cluster id (DESIGN.md §3).
    pub fn cluster_range(&self) -> (u32, u32) {
        if self.cluster_id == 0 {
            return (256, 65_535);
        }
        let shift = if self.max_connected_clusters == 511 {
            15
        } else {
            16
        };
        let lo = self.cluster_id << shift;
        (lo, lo + (1 << shift) - 1)
    }

    /// The range allocation actually uses.
    pub fn effective_range(&self) -> (u32, u32) {
        match self.range {
            Some(r) => (r.min, r.max),
            None => self.cluster_range(),
        }
    }
}

/// Which event categories are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct EventCategories {
    /// Slice writes, failures and drops.
    pub slices: bool,
    /// Endpoints moved to another slice.
    pub endpoints: bool,
    /// Identities allocated, released, in conflict or exhausted.
    pub identities: bool,
    /// The initial sync's adoption of observed slices.
    pub adoption: bool,
    /// Health changes (degraded, recovered).
    pub health: bool,
    /// Rejected input events and skipped slice entries.
    pub input: bool,
}

impl Default for EventCategories {
    fn default() -> Self {
        EventCategories {
            slices: true,
            endpoints: true,
            identities: true,
            adoption: true,
            health: true,
            input: true,
        }
    }
}

/// The namespaces this engine owns: those whose hash falls in `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Shard {
    /// This engine's shard, from 0 to `count − 1`.
    pub index: u32,
    /// How many shards split the namespaces.
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Whether the namespace belongs to this shard. FNV-1a, stable across
    /// platforms and releases, so every engine agrees on the split.
    pub fn owns(&self, namespace: &str) -> bool {
        if self.count <= 1 {
            return true;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in namespace.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (h % u64::from(self.count)) as u32 == self.index
    }
}

/// The whole configuration. `Config::default()` is Cilium's behaviour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Config {
    /// Where endpoints come from: CiliumEndpoints or pods.
    pub source: Source,
    /// How endpoints are grouped into slices.
    pub slicing: Slicing,
    /// Write pacing, retries and health thresholds.
    pub write: Write,
    /// Identity numbering and label filtering.
    pub identity: IdentityConfig,
    /// Which event categories are recorded.
    pub events: EventCategories,
    /// Seeds every random choice (slice names, identity numbers).
    pub seed: u64,
    /// Which namespaces this engine owns.
    pub shard: Shard,
}

impl Config {
    /// Parses JSON and validates.
    pub fn from_json(text: &str) -> Result<Config> {
        let c: Config = serde_json::from_str(text)
            .map_err(|e| Error::config("", format!("invalid JSON config: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// Parses YAML (JSON is YAML too) and validates.
    pub fn from_yaml(text: &str) -> Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let c: Config = serde_yaml_ng::from_str(text)
            .map_err(|e| Error::config("", format!("invalid YAML config: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// The config as pretty JSON (camelCase keys, every field).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let s = &self.slicing;
        if !(1..=1000).contains(&s.max_endpoints_per_slice) {
            return Err(Error::config(
                "slicing.maxEndpointsPerSlice",
                format!("must be 1..=1000, got {}", s.max_endpoints_per_slice),
            ));
        }
        if !(s.compaction.min_fragmentation.is_finite() && s.compaction.min_fragmentation >= 1.0) {
            return Err(Error::config(
                "slicing.compaction.minFragmentation",
                "must be a number >= 1.0",
            ));
        }
        let w = &self.write;
        if w.sync_delay_ms > 3_600_000 {
            return Err(Error::config(
                "write.syncDelayMs",
                "must be at most one hour",
            ));
        }
        if w.rate_limits.is_empty() {
            return Err(Error::config("write.rateLimits", "needs at least one step"));
        }
        for (i, step) in w.rate_limits.iter().enumerate() {
            if !(step.limit.is_finite() && step.limit > 0.0) {
                return Err(Error::config(
                    format!("write.rateLimits[{i}].limit"),
                    "must be > 0",
                ));
            }
            if step.burst == 0 {
                return Err(Error::config(
                    format!("write.rateLimits[{i}].burst"),
                    "must be >= 1",
                ));
            }
        }
        let mut nodes: Vec<u32> = w.rate_limits.iter().map(|s| s.nodes).collect();
        nodes.sort_unstable();
        if nodes.windows(2).any(|p| p[0] == p[1]) {
            return Err(Error::config(
                "write.rateLimits",
                "two steps have the same node count",
            ));
        }
        if w.retry.base_ms == 0 || w.retry.cap_ms < w.retry.base_ms {
            return Err(Error::config("write.retry", "needs 0 < baseMs <= capMs"));
        }
        let t = &w.error_threshold;
        if !(t.failure_ratio.is_finite() && (0.0..=1.0).contains(&t.failure_ratio)) {
            return Err(Error::config(
                "write.errorThreshold.failureRatio",
                "must be within 0..=1",
            ));
        }
        if t.failure_ratio > 0.0 && t.window_ms == 0 {
            return Err(Error::config(
                "write.errorThreshold.windowMs",
                "must be > 0 when failureRatio is set",
            ));
        }
        let id = &self.identity;
        if id.max_connected_clusters != 255 && id.max_connected_clusters != 511 {
            return Err(Error::config(
                "identity.maxConnectedClusters",
                "must be 255 or 511",
            ));
        }
        if id.cluster_id > id.max_connected_clusters {
            return Err(Error::config(
                "identity.clusterId",
                format!("must be 0..={}", id.max_connected_clusters),
            ));
        }
        if id.cluster_name.is_empty() {
            return Err(Error::config("identity.clusterName", "must not be empty"));
        }
        crate::validate::check_label_value(&id.cluster_name)
            .map_err(|m| Error::config("identity.clusterName", m))?;
        if let Some(r) = id.range {
            let (lo, hi) = id.cluster_range();
            if r.min > r.max || r.min < lo || r.max > hi {
                return Err(Error::config(
                    "identity.range",
                    format!(
                        "must satisfy {lo} <= min <= max <= {hi} for cluster {}",
                        id.cluster_id
                    ),
                ));
            }
        }
        LabelFilter::new(&id.label_filter.include, &id.label_filter.exclude)?;
        if self.shard.count == 0 || self.shard.index >= self.shard.count {
            return Err(Error::config("shard", "needs 0 <= index < count"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn defaults_are_ciliums() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.slicing.max_endpoints_per_slice, 100);
        assert_eq!(c.write.sync_delay_ms, 500);
        assert_eq!(c.write.rate_limits[0].limit, 10.0);
        assert_eq!(c.write.rate_limits[0].burst, 20);
        assert_eq!(c.write.retry.max_retries, 15);
        assert_eq!(c.identity.gc_grace_ms, 900_000);
        assert_eq!(c.identity.cluster_range(), (256, 65_535));
    }

    #[test]
    fn cluster_ranges() {
        let mut id = IdentityConfig {
            cluster_id: 3,
            ..Default::default()
        };
        assert_eq!(id.cluster_range(), (3 << 16, (4 << 16) - 1));
        id.max_connected_clusters = 511;
        assert_eq!(id.cluster_range(), (3 << 15, (4 << 15) - 1));
    }

    #[test]
    fn yaml_and_json_load() {
        let c = Config::from_yaml(
            "source: pods\nslicing:\n  mode: identity\n  maxEndpointsPerSlice: 2\nseed: 7\n",
        )
        .unwrap();
        assert_eq!(c.source, Source::Pods);
        assert_eq!(c.slicing.mode, SliceMode::Identity);
        assert_eq!(c.seed, 7);
        let j = Config::from_json(&c.to_json()).unwrap();
        assert_eq!(j, c);
    }

    #[test]
    fn errors_name_the_field() {
        let e = Config::from_yaml("slicing: {maxEndpointsPerSlice: 0}").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidConfig);
        assert_eq!(e.field, "slicing.maxEndpointsPerSlice");
        let e = Config::from_yaml("slicing: {maxEndpointsPerSlice: 1001}").unwrap_err();
        assert_eq!(e.field, "slicing.maxEndpointsPerSlice");
        let e = Config::from_yaml("identity: {maxConnectedClusters: 300}").unwrap_err();
        assert_eq!(e.field, "identity.maxConnectedClusters");
        let e = Config::from_yaml("identity: {clusterId: 256}").unwrap_err();
        assert_eq!(e.field, "identity.clusterId");
        let e =
            Config::from_yaml("write: {rateLimits: [{nodes: 0, limit: 0, burst: 1}]}").unwrap_err();
        assert_eq!(e.field, "write.rateLimits[0].limit");
        let e = Config::from_yaml("identity: {range: {min: 10, max: 300}}").unwrap_err();
        assert_eq!(e.field, "identity.range");
        let e = Config::from_yaml("shard: {index: 2, count: 2}").unwrap_err();
        assert_eq!(e.field, "shard");
        let e = Config::from_yaml("identity: {labelFilter: {include: ['(']}}").unwrap_err();
        assert_eq!(e.field, "identity.labelFilter.include[0]");
        let e = Config::from_yaml("slicng: {}").unwrap_err();
        assert!(e.message.contains("slicng"), "{}", e.message);
    }

    #[test]
    fn shard_split_is_stable_and_total() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for ns in ["a", "default", "kube-system", "shop-42"] {
            assert_eq!(shards.iter().filter(|s| s.owns(ns)).count(), 1);
        }
        assert!(Shard::default().owns("anything"));
    }
}
