//! Queries: read-only views of the engine's state, and caller-measured durations.

use std::sync::Arc;

use crate::config::Source;
use crate::error::{Error, ErrorCode, Result};
use crate::events::Event;
use crate::health::Health;
use crate::identity::IdentityId;
use crate::metrics::{Metrics, TextWriter, escape_label, labelled_counts};
use crate::model::{CiliumEndpointSlice, CiliumIdentity};

use super::*;

impl Engine {
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

pub(super) fn check_seconds(seconds: f64) -> Result<f64> {
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
