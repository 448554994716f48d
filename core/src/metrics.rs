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
