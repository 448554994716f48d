//! The initial sync: adopting the slices observed at start-up.

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
        // Identities (pods mode), in arrival order, now that namespaces and nodes are known.
        // Sized once: a million endpoints' order grown by doubling touches
        // twice its memory, fresh pages each time.
        let mut order: Vec<(u64, EndpointIdx)> = Vec::with_capacity(self.st.endpoints.len());
        order.extend(
            self.st
                .endpoints
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.as_ref().map(|_| i as EndpointIdx))
                .map(|i| (self.st.seq(i), i)),
        );
        order.sort_unstable();
        if self.config.source == Source::Pods {
            for &(_, idx) in &order {
                self.refresh_pod(idx, now);
            }
        }
        self.adopt_observed(now);
        self.st.start_placing();
        // Place what no slice holds, in arrival order.
        for &(_, idx) in &order {
            let Some(ep) = self.st.ep(idx) else {
                debug_assert!(false, "endpoint {idx} vanished during the initial sync");
                continue;
            };
            match (ep.slice(), ep.identity()) {
                (None, Some(_)) => self.st.place(idx, now),
                (None, None) => self.st.wait(idx),
                _ => {}
            }
        }
        debug_assert_eq!(self.st.check_invariants(), Ok(()));
    }

    /// Adoption, in the order the slices were observed: each slice keeps
    /// its name and the live endpoints it holds that no earlier slice took.
    fn adopt_observed(&mut self, now: u64) {
        let observed = std::mem::take(&mut self.observed);
        let mut adopted = 0usize;
        let mut stale = 0usize;
        for ces in &observed {
            let ns = if ces.namespace.is_empty() {
                None
            } else {
                Some(self.st.ns_id(&ces.namespace))
            };
            let claim = match ns {
                Some(ns) => self.claim(ces, ns),
                None => Vec::new(),
            };
            stale += ces.endpoints.len() - claim.len();
            // The group of the first endpoint it keeps; closed if it keeps none.
            let group = match claim.first().and_then(|&i| self.st.ep(i)) {
                Some(ep) => self.st.group_of(ep),
                None => GroupKey::Closed {
                    namespace: ns.unwrap_or(0),
                },
            };
            let sid = self.st.adopt_slice(&ces.metadata.name, group, &claim, now);
            adopted += claim.len();
            let server = self.server_view(ces, sid);
            if let Some(s) = self.st.slices.get_mut(sid) {
                s.server = Some(server);
            }
            self.st.slices.mark_dirty(sid, now);
        }
        self.events.record(
            now,
            Category::Adoption,
            Severity::Info,
            EventKind::Adoption,
            || "initial sync".to_string(),
            || format!("{} slices observed, {adopted} endpoints adopted, {stale} stale or duplicate entries dropped", observed.len()),
        );
    }

    /// The endpoints an observed slice of namespace `ns` keeps: live, with
    /// an identity, in no slice yet, at most the maximum, and in identity
    /// mode those of the first entry's identity.
    fn claim(&self, ces: &CiliumEndpointSlice, ns: u32) -> Vec<EndpointIdx> {
        let max = self.config.slicing.max_endpoints_per_slice as usize;
        let mut v = Vec::new();
        let mut group_identity = None;
        for entry in &ces.endpoints {
            let Some(idx) = self.st.lookup(ns, &entry.name) else {
                continue;
            };
            let Some(ep) = self.st.ep(idx) else {
                debug_assert!(false, "the index names endpoint {idx}, which is gone");
                continue;
            };
            let Some(id) = ep.identity() else { continue };
            if ep.slice().is_some() || v.contains(&idx) || v.len() >= max {
                continue;
            }
            if self.config.slicing.mode == SliceMode::Identity
                && *group_identity.get_or_insert(id) != id
            {
                continue;
            }
            v.push(idx);
        }
        v
    }
}
