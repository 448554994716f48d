//! Snapshots (DESIGN.md §6): publishing the desired state to readers.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::slicing::EndpointIdx;
use crate::snapshot::{EndpointView, EngineEndpoint, SliceView, Snapshot, SnapshotReader};

use super::*;

impl Engine {
    /// A handle from which any thread loads the latest published snapshot.
    pub fn snapshot_reader(&self) -> SnapshotReader {
        self.st.snap.builder.reader()
    }

    /// Publishes a snapshot of the desired state: applies what changed since
    /// the last publish (O(changes); the first publish feeds everything).
    pub fn publish(&mut self) -> Snapshot {
        if self.st.snap.activate() {
            for idx in 0..self.st.endpoints.len() {
                self.st.snap.endpoint_changed(idx as EndpointIdx);
            }
        }
        let (removed, changed, ids) = self.st.snap.take_changes();
        let mut touched: BTreeSet<Arc<str>> = BTreeSet::new();
        for key in removed {
            if let Some(old) = self.st.snap.builder.set_endpoint(&key, None, None) {
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
                .st
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
            self.st.snap.builder.set_identity_labels(id, labels);
        }
        for name in touched {
            let view = self.snapshot_slice(&name);
            self.st.snap.builder.set_slice(&name, view);
        }
        self.st.snap.builder.publish()
    }

    /// A snapshot built from scratch (all endpoints), for checks: equal in
    /// content to the published one after [`Engine::publish`].
    pub fn rebuild_snapshot(&self) -> Snapshot {
        let mut b = crate::snapshot::SnapshotBuilder::new(
            self.config.slicing.max_endpoints_per_slice,
            crate::snapshot::IpOwnership::SmallestKey,
        );
        let mut names: BTreeSet<Arc<str>> = BTreeSet::new();
        for idx in 0..self.st.endpoints.len() {
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

    pub(super) fn snapshot_endpoint(&self, idx: EndpointIdx) -> Option<EngineEndpoint> {
        let ep = self.st.endpoints.get(idx as usize)?.as_ref()?;
        let ns = self.st.namespaces.get(ep.ns as usize)?.name.clone();
        let name = self.snapshot_name(idx, &ns, ep.name.as_str());
        let slice = ep.slice().and_then(|s| self.st.slices.get(s));
        let (view, labels) = match (slice, ep.identity()) {
            (Some(s), Some(id)) => (
                Some(EndpointView {
                    namespace: ns.clone(),
                    name: name.clone(),
                    slice: s.name.clone(),
                    identity: id,
                    data: self.st.data(ep),
                }),
                self.identity_labels(id),
            ),
            _ => (None, None),
        };
        Some(EngineEndpoint {
            key: (ns, name),
            view,
            labels,
        })
    }

    pub(super) fn snapshot_slice(&self, name: &str) -> Option<SliceView> {
        let s = self.st.slices.get(self.st.slices.by_name(name)?)?;
        let ns = self
            .st
            .namespaces
            .get(s.group.namespace() as usize)
            .map_or_else(|| Arc::from(""), |n| n.name.clone());
        let mut names: Vec<Arc<str>> = s
            .members
            .iter()
            .filter_map(|&m| Some((m, self.st.endpoints.get(m as usize)?.as_ref()?)))
            .filter(|(_, e)| e.identity().is_some())
            .map(|(m, e)| self.snapshot_name(m, &ns, e.name.as_str()))
            .collect();
        if names.is_empty() {
            return None;
        }
        names.sort_unstable();
        Some(SliceView {
            name: s.name.clone(),
            namespace: ns,
            endpoints: names.into(),
        })
    }

    /// The name of the endpoint at `idx` as the snapshots hold it: the
    /// next snapshot's copy when it has this endpoint there (the engine
    /// keeps names inline, the snapshots as shared strings), else a new one.
    fn snapshot_name(&self, idx: EndpointIdx, namespace: &Arc<str>, name: &str) -> Arc<str> {
        match self.st.snap.builder.endpoint_at(idx) {
            Some(v) if *v.name == *name && v.namespace == *namespace => v.name.clone(),
            _ => Arc::from(name),
        }
    }
}
