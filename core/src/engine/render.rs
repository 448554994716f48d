//! Rendering: a slice's desired object and the content stamps that say
//! whether it differs from what the server holds. Read-only over [`State`];
//! the plan phase and queries call it.

use crate::model::CiliumEndpointSlice;
use crate::slicing::SliceId;

use super::Endpoint;
use super::state::State;

impl State {
    /// The sorted content stamps of a slice's members.
    pub(super) fn desired_stamps(&self, sid: SliceId) -> Vec<u64> {
        let Some(slice) = self.slices.get(sid) else {
            return Vec::new();
        };
        let mut v: Vec<u64> = slice
            .members
            .iter()
            .filter_map(|&m| self.ep(m).map(|e| e.stamp))
            .collect();
        v.sort_unstable();
        v
    }

    /// The desired object of a slice, endpoints sorted by name.
    pub(super) fn render_slice(&self, sid: SliceId) -> CiliumEndpointSlice {
        let Some(slice) = self.slices.get(sid) else {
            debug_assert!(false, "rendering slice {sid}, which is gone");
            return CiliumEndpointSlice::default();
        };
        let ns = self
            .namespace_name(slice.group.namespace())
            .map(|n| n.to_string())
            .unwrap_or_default();
        let mut obj = CiliumEndpointSlice::new(slice.name.to_string(), ns);
        if let Some(s) = &slice.server {
            obj.metadata.resource_version = s.resource_version.clone();
        }
        let mut members: Vec<&Endpoint> =
            slice.members.iter().filter_map(|&m| self.ep(m)).collect();
        members.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        obj.endpoints = members
            .iter()
            .filter_map(|ep| ep.identity.map(|id| ep.data.to_core(&ep.name, id)))
            .collect();
        obj
    }
}
