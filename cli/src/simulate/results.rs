//! What a run measured: per configuration ([`ConfigResult`]), per phase
//! ([`PhaseResult`]), the writes counted ([`WriteCounts`]), the cluster
//! ([`ClusterInfo`]) and the whole [`Summary`] the text, the JSON and the
//! report are printed from.

use std::collections::BTreeMap;

use serde_json::Value;
use sliceplane::WriteOp;
use sliceplane::plan::Verb;
use sliceplane_workload::ImportSummary;

use super::NFR1_MS;
use super::setups::Setup;

/// Writes counted by (verb, kind).
#[derive(Default, Clone)]
pub struct WriteCounts {
    pub by: BTreeMap<String, u64>,
    pub bytes: u64,
    pub total: u64,
}

impl WriteCounts {
    pub(super) fn add(&mut self, op: &WriteOp) {
        let kind = match op {
            WriteOp::CreateSlice(_) | WriteOp::UpdateSlice(_) | WriteOp::DeleteSlice { .. } => {
                "slice"
            }
            _ => "identity",
        };
        *self
            .by
            .entry(format!("{} {kind}", op.verb().as_str()))
            .or_default() += 1;
        self.bytes += op.body_len() as u64;
        self.total += 1;
    }
    pub(super) fn merge(&mut self, o: &WriteCounts) {
        for (k, v) in &o.by {
            *self.by.entry(k.clone()).or_default() += v;
        }
        self.bytes += o.bytes;
        self.total += o.total;
    }
    /// Slice writes (creates, updates, deletes).
    pub fn slice_writes(&self) -> u64 {
        [Verb::Create, Verb::Update, Verb::Delete]
            .iter()
            .map(|v| {
                self.by
                    .get(&format!("{} slice", v.as_str()))
                    .copied()
                    .unwrap_or(0)
            })
            .sum()
    }
}

/// One phase (initial build or a trace) under one configuration.
pub struct PhaseResult {
    pub name: String,
    pub events: u64,
    pub wall_s: f64,
    pub writes: WriteCounts,
    pub slices: usize,
    pub ideal: usize,
    /// Sorted propagation delays (simulated ms); empty for the initial build.
    pub delays: Vec<u64>,
    /// Events whose change needed no slice write.
    pub unwritten: u64,
    /// Simulated ms from the phase's first event to the last write it caused.
    pub span_ms: u64,
}

/// Everything one configuration's replay measured.
pub struct ConfigResult {
    pub setup: Setup,
    pub phases: Vec<PhaseResult>,
    /// Sorted delays over every trace.
    pub delays: Vec<u64>,
    /// Writes over the traces (the initial build apart).
    pub churn_writes: WriteCounts,
    pub slices: usize,
    pub ideal: usize,
    /// Endpoints per slice after the initial build and after the traces.
    pub fill_before: Vec<usize>,
    pub fill_after: Vec<usize>,
    /// (simulated ms since the churn began, writes) per flush that wrote.
    pub writes_over_time: Vec<(u64, u64)>,
    pub cold_build_ms: f64,
    /// Sorted nanoseconds per trace event's apply.
    pub apply_ns: Vec<u64>,
    /// Sorted nanoseconds per snapshot publish.
    pub publish_ns: Vec<u64>,
    pub ip_lookup_ns: f64,
    pub ip_lookups: usize,
}

impl ConfigResult {
    /// Share of the measured updates within NFR1's 100 ms (1.0 when none).
    pub fn within_nfr1(&self) -> f64 {
        if self.delays.is_empty() {
            return 1.0;
        }
        let n = self.delays.partition_point(|&d| d <= NFR1_MS);
        n as f64 / self.delays.len() as f64
    }
    /// NFR1 holds: every measured update within 100 ms.
    pub fn nfr1_holds(&self) -> bool {
        percentile(&self.delays, 100.0) <= NFR1_MS
    }
    pub fn unwritten(&self) -> u64 {
        self.phases.iter().map(|p| p.unwritten).sum()
    }
}

/// The cluster simulated.
pub struct ClusterInfo {
    /// `generated` or `--from FILE`.
    pub origin: String,
    pub pods: u32,
    pub nodes: u32,
    pub namespaces: u32,
    pub controllers: u32,
    pub label_sets: usize,
    pub seed: u64,
    pub import: Option<ImportSummary>,
}

pub struct Summary {
    pub cluster: ClusterInfo,
    pub source: String,
    pub pacing_json: Value,
    pub pacing_text: String,
    pub traces: Vec<(String, u64)>,
    pub configs: Vec<ConfigResult>,
    pub peak_rss_kb: Option<u64>,
    pub max_per_slice: usize,
    pub wall_s: f64,
}

impl Summary {
    /// The configuration whose engine figures are reported: the recommended one.
    pub fn headline(&self) -> &ConfigResult {
        self.configs
            .iter()
            .find(|c| c.setup.key == "sliceplane")
            .unwrap_or(&self.configs[0])
    }
}

pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
