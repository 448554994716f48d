//! The CiliumEndpointSlice watch: what the server holds.

use std::sync::Arc;

use hashbrown::HashSet;

use crate::endpoint::{self};
use crate::error::Result;
use crate::events::{Category, EventKind, Severity};
use crate::model::{CiliumEndpointSlice, Kind, describe};
use crate::slicing::{EndpointIdx, GroupKey, ServerSlice, SliceId};
use crate::validate;

use super::*;

impl Engine {
    pub(super) fn on_slice(
        &mut self,
        ces: &CiliumEndpointSlice,
        deleted: bool,
        now: u64,
    ) -> Result<()> {
        let obj = if deleted {
            // A delete needs the name only (slices are cluster-scoped and
            // named uniquely); a slice of another shard is not in our table.
            let obj = describe(Kind::CiliumEndpointSlice, &ces.metadata);
            validate::require_name(&obj, "metadata.name", &ces.metadata.name, true)?;
            obj
        } else {
            validate::slice_header(ces)?
        };
        if !deleted && !ces.namespace.is_empty() && !self.config.shard.owns(&ces.namespace) {
            self.counters.events_ignored_other_shard += 1;
            return Ok(());
        }
        if !self.synced {
            self.observed
                .retain(|o| o.metadata.name != ces.metadata.name);
            if !deleted {
                self.observed.push(ces.clone());
            }
            return Ok(());
        }
        let sid = self.st.slices.by_name(&ces.metadata.name);
        match (sid, deleted) {
            (Some(sid), true) => {
                let Some(slice) = self.st.slices.get_mut(sid) else {
                    debug_assert!(false, "slice {sid} named but gone");
                    return Ok(());
                };
                slice.server = None;
                if slice.in_flight.is_none() {
                    if slice.members.is_empty() {
                        self.st.remove_empty_slice(sid);
                    } else {
                        self.st.slices.mark_dirty(sid, now);
                        self.events.record(
                            now,
                            Category::Slices,
                            Severity::Warning,
                            EventKind::SliceDeletedExternally,
                            || obj.clone(),
                            || "deleted on the server; it will be re-created".into(),
                        );
                    }
                }
            }
            (Some(sid), false) => self.observe_known(ces, sid, now),
            (None, true) => {}
            (None, false) => self.observe_foreign(ces, obj, now),
        }
        Ok(())
    }

    /// A slice of ours as the server holds it: its server view is updated
    /// and it is dirty when that differs from the desired content.
    fn observe_known(&mut self, ces: &CiliumEndpointSlice, sid: SliceId, now: u64) {
        let known = self
            .st
            .slices
            .get(sid)
            .and_then(|s| s.server.as_ref())
            .and_then(|s| s.resource_version.as_deref());
        if is_older_version(ces.metadata.resource_version.as_deref(), known) {
            // A watch event from before our last write (its echo
            // arrives later): taking it as the server's state would
            // bring back an old resourceVersion and conflict.
            return;
        }
        let server = self.server_view(ces, sid);
        let desired = self.st.desired_stamps(sid);
        if let Some(slice) = self.st.slices.get_mut(sid) {
            let differs = server.stamps != desired || !server.namespace_ok;
            slice.server = Some(server);
            // Fresh server state: no reason to wait out a conflict's backoff.
            slice.not_before = 0;
            if differs && slice.in_flight.is_none() {
                self.st.slices.mark_dirty(sid, now);
            }
        }
    }

    /// A slice we did not make: a leftover or another writer's. It joins
    /// the table as a closed slice and is planned for deletion.
    fn observe_foreign(&mut self, ces: &CiliumEndpointSlice, obj: String, now: u64) {
        let ns = if ces.namespace.is_empty() {
            0
        } else {
            self.st.ns_id(&ces.namespace)
        };
        let group = GroupKey::Closed { namespace: ns };
        let sid = self
            .st
            .slices
            .create(group, Some(Arc::from(ces.metadata.name.as_str())));
        let server = self.server_view(ces, sid);
        if let Some(s) = self.st.slices.get_mut(sid) {
            s.server = Some(server);
        }
        self.st.slices.mark_dirty(sid, now);
        self.events.record(
            now,
            Category::Slices,
            Severity::Info,
            EventKind::SliceForeign,
            || obj,
            || "not one of ours: planned for deletion".into(),
        );
    }

    /// What the server holds for a slice, as stamps.
    pub(super) fn server_view(&mut self, ces: &CiliumEndpointSlice, sid: SliceId) -> ServerSlice {
        let slice_ns = self.st.slices.get(sid).map(|s| s.group.namespace());
        let ns_name = slice_ns
            .and_then(|n| self.st.namespaces.get(n as usize))
            .map(|n| n.name.clone());
        let ns = self.st.ns_index.get(ces.namespace.as_str()).copied();
        let mut seen: HashSet<EndpointIdx> = HashSet::new();
        let mut stamps = Vec::with_capacity(ces.endpoints.len());
        for entry in &ces.endpoints {
            // An entry counts only for an endpoint of this slice, once.
            let mine = ns
                .and_then(|ns| self.st.lookup(ns, &entry.name))
                .filter(|&idx| {
                    self.st.endpoints[idx as usize]
                        .as_ref()
                        .is_some_and(|e| e.slice() == Some(sid))
                })
                .is_some_and(|idx| seen.insert(idx));
            let parsed = if mine {
                endpoint::core_to_data(entry, &mut self.interner)
            } else {
                None
            };
            let s = match parsed {
                Some((id, data)) => content_stamp(&entry.name, Some(id), data.view()),
                None => self.st.new_stamp(),
            };
            stamps.push(s);
        }
        stamps.sort_unstable();
        ServerSlice {
            stamps,
            namespace_ok: ns_name.as_deref() == Some(ces.namespace.as_str()),
            uid: ces.metadata.uid.clone(),
            resource_version: ces.metadata.resource_version.clone(),
        }
    }
}

/// Whether `seen` is an older resourceVersion than `known`. resourceVersions
/// are opaque to clients in general; the API server's are etcd revisions
/// (decimal integers) that only grow, and only when both parse as such are
/// they compared. Otherwise the observation is taken as news.
pub(super) fn is_older_version(seen: Option<&str>, known: Option<&str>) -> bool {
    match (seen.map(str::parse::<u64>), known.map(str::parse::<u64>)) {
        (Some(Ok(a)), Some(Ok(b))) => a < b,
        _ => false,
    }
}
