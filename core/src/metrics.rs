//! Metrics in the Prometheus text exposition format (DESIGN.md §8).
//!
//! The engine keeps counters, gauges and histograms; `render` returns the
//! text, which the caller serves. Names follow Cilium's operator where the
//! meaning is the same (`cilium_operator_*`); the engine's own are
//! `sliceplane_*`. Durations the engine cannot measure itself (it reads no
//! clock) are observed by the caller through `observe_*`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Cilium's buckets for endpoints per slice.
pub const CEPS_PER_CES_BUCKETS: &[f64] = &[1.0, 10.0, 25.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
/// Prometheus' default buckets plus Cilium's long tail, for the queueing delay.
pub const QUEUE_DELAY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0, 900.0, 1800.0,
    3600.0,
];
/// Buckets for caller-measured apply and publish durations.
pub const DURATION_BUCKETS: &[f64] = &[
    0.000_001, 0.000_005, 0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
    1.0,
];

/// A cumulative histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), plus +Inf at the end.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        let i = self
            .bounds
            .iter()
            .position(|&b| v <= b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i];
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}",
                fmt_f64(*b)
            );
        }
        cumulative += self.counts[self.bounds.len()];
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", fmt_f64(self.sum));
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

fn fmt_f64(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The engine's metric state.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Endpoints per slice, observed for every slice the flush looks at.
    pub ceps_per_ces: Histogram,
    /// Entries inserted / removed per slice write.
    pub cep_inserted_per_ces: Histogram,
    pub cep_removed_per_ces: Histogram,
    /// Write outcomes: success, transient failure, fatal (dropped after the retries).
    pub sync_success: u64,
    pub sync_fail_transient: u64,
    pub sync_fail_fatal: u64,
    /// Time from first dirty to planned, per queue.
    pub queue_delay_fast: Histogram,
    pub queue_delay_standard: Histogram,
    /// Caller-measured durations.
    pub apply_seconds: Histogram,
    pub publish_seconds: Histogram,
    /// Retries planned (a write planned again after a failure).
    pub retries: u64,
    /// Flushes that left due writes waiting for the rate limiter.
    pub rate_limited_flushes: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            ceps_per_ces: Histogram::new(CEPS_PER_CES_BUCKETS),
            cep_inserted_per_ces: Histogram::new(CEPS_PER_CES_BUCKETS),
            cep_removed_per_ces: Histogram::new(CEPS_PER_CES_BUCKETS),
            sync_success: 0,
            sync_fail_transient: 0,
            sync_fail_fatal: 0,
            queue_delay_fast: Histogram::new(QUEUE_DELAY_BUCKETS),
            queue_delay_standard: Histogram::new(QUEUE_DELAY_BUCKETS),
            apply_seconds: Histogram::new(DURATION_BUCKETS),
            publish_seconds: Histogram::new(DURATION_BUCKETS),
            retries: 0,
            rate_limited_flushes: 0,
        }
    }
}

/// Builds exposition text: one `# HELP`/`# TYPE` per family, then samples.
#[derive(Debug, Default)]
pub struct TextWriter {
    out: String,
}

impl TextWriter {
    pub fn new() -> Self {
        TextWriter::default()
    }

    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.header(name, "gauge", help);
        let _ = writeln!(self.out, "{name} {}", fmt_f64(value));
    }

    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.header(name, "counter", help);
        let _ = writeln!(self.out, "{name} {value}");
    }

    /// A family with labelled samples: `(labels, value)`, labels like `a="x",b="y"`.
    pub fn labelled(&mut self, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
        self.header(name, kind, help);
        for (labels, v) in samples {
            let _ = writeln!(self.out, "{name}{{{labels}}} {}", fmt_f64(*v));
        }
    }

    pub fn histograms(&mut self, name: &str, help: &str, hs: &[(&str, &Histogram)]) {
        self.header(name, "histogram", help);
        for (labels, h) in hs {
            h.render(&mut self.out, name, labels);
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Label value escaping per the exposition format.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts by label set, rendered in key order.
pub fn labelled_counts<K: Ord>(
    map: &BTreeMap<K, u64>,
    labels: impl Fn(&K) -> String,
) -> Vec<(String, f64)> {
    map.iter().map(|(k, v)| (labels(k), *v as f64)).collect()
}

/// Counters of what the engine did (the base of the metrics). Serializes
/// with camelCase keys; `writesPlanned` is keyed `kind/verb`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Watch events applied.
    pub events_applied: u64,
    /// Watch events rejected (nothing changed).
    pub events_rejected: u64,
    /// Events for a namespace of another shard.
    pub events_ignored_other_shard: u64,
    /// Pods in CiliumEndpoint mode, or CiliumEndpoints in pods mode.
    pub events_ignored_other_source: u64,
    /// Writes planned, by (`identity`|`slice`, verb).
    #[serde(serialize_with = "serialize_writes_planned")]
    pub writes_planned: BTreeMap<(&'static str, &'static str), u64>,
    /// Outcomes reported that were not failures.
    pub writes_succeeded: u64,
    /// Outcomes reported as errors or conflicts.
    pub writes_failed: u64,
    /// Due slices found equal to the server: no write.
    pub no_op_skips: u64,
    /// Identity numbers allocated.
    pub identities_allocated: u64,
    /// Identity references released.
    pub identities_released: u64,
    /// Times no identity number was free.
    pub identity_exhausted: u64,
    /// Endpoints moved by compaction.
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
    /// Endpoints held.
    pub endpoints: usize,
    /// Endpoints waiting for an identity number.
    pub endpoints_waiting: usize,
    /// Slices in the table (including ones being deleted).
    pub slices: usize,
    /// Slices waiting to be written.
    pub dirty_slices: usize,
    /// Writes planned and awaiting their outcome.
    pub in_flight: usize,
    /// Identities known: allocated (pods mode) or learned (CiliumEndpoint mode).
    pub identities: usize,
    /// Namespaces seen.
    pub namespaces: usize,
    /// Nodes seen (Node or CiliumNode).
    pub nodes: usize,
}

/// What the metrics are rendered from: the engine's counters, its state
/// summary and its histograms, plus the few figures kept elsewhere.
///
/// Three structs feed the metrics, each for a reason: [`Counters`] are the
/// engine's own counts, also returned by `Engine::counters` and serialized
/// by the bindings (their JSON keys are part of the API); [`Metrics`] holds
/// what exists for Prometheus only (histograms, and the
/// `cilium_operator_ces_sync_total` outcomes with Cilium's meaning);
/// [`Stats`] are gauges computed on demand from the state, never stored.
#[derive(Debug, Clone, Copy)]
pub struct MetricSources<'a> {
    /// Histograms and Cilium-compatible counters.
    pub metrics: &'a Metrics,
    /// The engine's counters.
    pub counters: &'a Counters,
    /// The state summary.
    pub stats: &'a Stats,
    /// CiliumNodes seen.
    pub cilium_nodes: usize,
    /// Active write rate limit (writes per second).
    pub rate_limit: f64,
    /// Active write burst.
    pub rate_burst: u32,
    /// Events dropped because nobody drained them.
    pub events_dropped: u64,
    /// The write path is degraded.
    pub degraded: bool,
}

/// All metrics in the Prometheus text exposition format, in a fixed order.
///
/// The text is written by [`TextWriter`] rather than the `prometheus-client`
/// crate: that crate encodes OpenMetrics (a `# EOF` line, a `.` appended to
/// every HELP text, counter families named without `_total`), which would
/// change the exposition scrapers and the tests read today.
pub fn render(src: &MetricSources<'_>) -> String {
    let mut w = TextWriter::new();
    render_cilium(&mut w, src);
    render_gauges(&mut w, src);
    render_counters(&mut w, src);
    w.finish()
}

/// The families named as Cilium's operator names them.
fn render_cilium(w: &mut TextWriter, src: &MetricSources<'_>) {
    let m = src.metrics;
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
}

/// The state summary and the rate limit.
fn render_gauges(w: &mut TextWriter, src: &MetricSources<'_>) {
    let st = src.stats;
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
        src.cilium_nodes as f64,
    );
    w.gauge(
        "sliceplane_rate_limit_writes_per_second",
        "Active write rate limit",
        src.rate_limit,
    );
    w.gauge(
        "sliceplane_rate_limit_burst",
        "Active write burst",
        f64::from(src.rate_burst),
    );
}

/// Counters, health and caller-measured durations.
fn render_counters(w: &mut TextWriter, src: &MetricSources<'_>) {
    let m = src.metrics;
    let c = src.counters;
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
        src.events_dropped,
    );
    w.gauge(
        "sliceplane_degraded",
        "1 when the write path is degraded",
        if src.degraded { 1.0 } else { 0.0 },
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let mut h = Histogram::new(&[1.0, 10.0]);
        h.observe(0.5);
        h.observe(5.0);
        h.observe(50.0);
        let mut s = String::new();
        h.render(&mut s, "x", "q=\"a\"");
        assert_eq!(
            s,
            "x_bucket{q=\"a\",le=\"1\"} 1\nx_bucket{q=\"a\",le=\"10\"} 2\nx_bucket{q=\"a\",le=\"+Inf\"} 3\nx_sum{q=\"a\"} 55.5\nx_count{q=\"a\"} 3\n"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
