//! The initial sync: adopting the slices observed at start-up.

use std::sync::Arc;

use crate::config::{SliceMode, Source};
use crate::events::{Category, EventKind, Severity};
use crate::slicing::{EndpointIdx, GroupKey};

use super::*;

impl Engine {
    /// Everything observed at start-up has been fed: adopt existing slices
    /// (keeping their names; each live endpoint goes to the first slice that
    /// holds it), assign identities, place the rest. An unchanged cluster
    /// then plans no writes.
    pub fn initial_sync_done(&mut self, now: u64) {
        if self.synced {
            return;
        }
        self.synced = true;
        self.adopting = true;
        // Identities (pods mode), in arrival order, now that namespaces and nodes are known.
        let mut order: Vec<(u64, EndpointIdx)> = self
            .endpoints
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (e.seq, i as EndpointIdx)))
            .collect();
        order.sort_unstable();
        if self.config.source == Source::Pods {
            for &(_, idx) in &order {
                self.refresh_pod(idx, now);
            }
        }
        // Adoption, in the order the slices were observed.
        let observed = std::mem::take(&mut self.observed);
        let max = self.config.slicing.max_endpoints_per_slice as usize;
        let mut adopted = 0usize;
        let mut stale = 0usize;
        for ces in &observed {
            let ns = if ces.namespace.is_empty() {
                None
            } else {
                Some(self.ns_id(&ces.namespace))
            };
            let claim: Vec<EndpointIdx> = {
                let mut v = Vec::new();
                let mut group_identity = None;
                if let Some(ns) = ns {
                    for entry in &ces.endpoints {
                        let Some(&idx) = self.ep_index.get(&(ns, Arc::from(entry.name.as_str())))
                        else {
                            continue;
                        };
                        let Some(ep) = self.endpoints[idx as usize].as_ref() else {
                            continue;
                        };
                        let Some(id) = ep.identity else { continue };
                        if ep.slice.is_some() || v.contains(&idx) || v.len() >= max {
                            continue;
                        }
                        if self.config.slicing.mode == SliceMode::Identity
                            && *group_identity.get_or_insert(id) != id
                        {
                            continue;
                        }
                        v.push(idx);
                    }
                }
                v
            };
            stale += ces.endpoints.len() - claim.len();
            // The group of the first endpoint it keeps; closed if it keeps none.
            let group = match claim
                .first()
                .and_then(|&i| self.endpoints[i as usize].as_ref())
            {
                Some(ep) => self.group_of(ep),
                None => GroupKey::Closed {
                    namespace: ns.unwrap_or(0),
                },
            };
            let sid = self
                .slices
                .create(group, Some(Arc::from(ces.metadata.name.as_str())));
            for &idx in &claim {
                self.slices.add_member(sid, idx, now);
                if let Some(ep) = self.endpoints[idx as usize].as_mut() {
                    ep.slice = Some(sid);
                }
                self.snap.endpoint_changed(idx);
            }
            adopted += claim.len();
            let server = self.server_view(ces, sid);
            if let Some(s) = self.slices.get_mut(sid) {
                s.server = Some(server);
            }
            self.slices.mark_dirty(sid, now);
        }
        self.events.record(
            now,
            Category::Adoption,
            Severity::Info,
            EventKind::Adoption,
            || "initial sync".to_string(),
            || format!("{} slices observed, {adopted} endpoints adopted, {stale} stale or duplicate entries dropped", observed.len()),
        );
        self.adopting = false;
        // Place what no slice holds, in arrival order.
        for &(_, idx) in &order {
            let Some(ep) = self.endpoints[idx as usize].as_ref() else {
                continue;
            };
            match (ep.slice, ep.identity) {
                (None, Some(_)) => self.place(idx, now),
                (None, None) => {
                    self.waiting.insert(ep.seq, idx);
                }
                _ => {}
            }
        }
    }
}
