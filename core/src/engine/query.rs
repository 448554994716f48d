//! Queries: read-only views of the engine's state, and caller-measured durations.

use crate::config::Source;
use crate::error::{Error, ErrorCode, Result};
use crate::events::Event;
use crate::health::Health;
use crate::identity::IdentityId;
use crate::metrics::Metrics;
use crate::model::{CiliumEndpointSlice, CiliumIdentity};

use super::*;

impl Engine {
    /// Events recorded since the last drain.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.drain()
    }

    /// Counters of what the engine did since it was made.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// A summary of the engine's state now.
    pub fn stats(&self) -> Stats {
        Stats {
            synced: self.synced,
            endpoints: self.st.endpoint_count(),
            endpoints_waiting: self.st.waiting.len(),
            slices: self.st.slices.len(),
            dirty_slices: self.st.slices.dirty_count(),
            in_flight: self.in_flight.len(),
            identities: match self.config.source {
                Source::Pods => self.identities.len(),
                Source::Ciliumendpoints => self.known_identities.len(),
            },
            namespaces: self.st.namespaces.len(),
            nodes: self.st.nodes.len(),
        }
    }

    /// The desired slices (what the server should hold once every due write
    /// succeeded), sorted by name. Slices with no endpoints are left out.
    pub fn desired_slices(&self) -> Vec<CiliumEndpointSlice> {
        let mut v: Vec<CiliumEndpointSlice> = self
            .st
            .slices
            .ids()
            .filter(|&s| self.st.slices.get(s).is_some_and(|s| !s.members.is_empty()))
            .map(|s| {
                let mut o = self.st.render_slice(s);
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
        let ns = *self.st.ns_index.get(namespace)?;
        let idx = self.st.lookup(ns, name)?;
        let ep = self.st.endpoints[idx as usize].as_ref()?;
        let slice = ep
            .slice()
            .and_then(|s| self.st.slices.get(s))
            .map(|s| &*s.name);
        Some((slice, ep.identity()))
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

    /// Histograms and Cilium-compatible counters (rendered by [`Engine::metrics_text`]).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// All metrics in the Prometheus text exposition format (rendered by
    /// the crate's metrics renderer from counters, stats and histograms).
    pub fn metrics_text(&self) -> String {
        let step = self.bucket.active();
        crate::metrics::render(&crate::metrics::MetricSources {
            metrics: &self.metrics,
            counters: &self.counters,
            stats: &self.stats(),
            cilium_nodes: self.cilium_nodes,
            rate_limit: step.limit,
            rate_burst: step.burst,
            events_dropped: self.events.dropped,
            degraded: self.health.state().is_degraded(),
        })
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
