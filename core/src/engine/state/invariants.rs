//! What "in step" means for [`State`]: checked in full by
//! `check_invariants` (property tests, after every step) and per endpoint
//! under `debug_assert!` where the state changes.

use std::collections::BTreeSet;

use crate::config::SliceMode;
use crate::slicing::{EndpointIdx, GroupKey};

use super::State;

impl State {
    /// One endpoint's links agree: its index entry, its slice's members,
    /// the waiting set (checked at mutation points under `debug_assert!`).
    pub(super) fn endpoint_in_step(&self, idx: EndpointIdx) -> bool {
        let Some(ep) = self.ep(idx) else {
            return false;
        };
        let indexed = self.lookup(ep.ns, &ep.name) == Some(idx);
        let in_slice = match ep.slice() {
            Some(s) => self.slices.get(s).is_some_and(|s| s.members.contains(&idx)),
            None => true,
        };
        let waits = self.waiting.get(&self.seq(idx)) == Some(&idx);
        indexed && in_slice && !(waits && ep.slice().is_some())
    }

    /// Checks every invariant of the indexes and the slice table; the first
    /// one broken is the error. O(state): for tests and debugging.
    pub(in crate::engine) fn check_invariants(&self) -> Result<(), String> {
        self.check_endpoints()?;
        self.check_groups()?;
        self.check_slices()
    }

    /// Index maps agree with the endpoint table and each other; after the
    /// initial sync every endpoint is in exactly one of a slice or the
    /// waiting set (in a slice exactly when it has an identity).
    fn check_endpoints(&self) -> Result<(), String> {
        let live = self.endpoints.iter().filter(|e| e.is_some()).count();
        if live != self.ep_index.len() {
            return Err(format!("{live} endpoints, {} indexed", self.ep_index.len()));
        }
        if live + self.free_endpoints.len() != self.endpoints.len() {
            return Err("free list and endpoint table disagree".into());
        }
        // As many entries as live endpoints, each naming a live one, and
        // each live endpoint found under its own key: the index is exact.
        for idx in self.ep_index.iter() {
            self.ep(idx)
                .ok_or_else(|| format!("index names a free slot {idx}"))?;
        }
        for (i, ep) in self.endpoints.iter().enumerate() {
            let Some(ep) = ep else { continue };
            let idx = i as EndpointIdx;
            if self.lookup(ep.ns, &ep.name) != Some(idx) {
                return Err(format!("endpoint {} is not indexed at {idx}", ep.name));
            }
            let name = self.endpoint_name(idx);
            let waits = self.waiting.get(&self.seq(idx)) == Some(&idx);
            if self.placing {
                if ep.slice().is_some() == waits {
                    return Err(format!(
                        "{name}: in a slice {:?} and waiting {waits}",
                        ep.slice()
                    ));
                }
                if ep.slice().is_some() != ep.identity().is_some() {
                    return Err(format!(
                        "{name}: slice {:?} but identity {:?}",
                        ep.slice(),
                        ep.identity()
                    ));
                }
            } else if waits {
                return Err(format!("{name}: waiting before the initial sync is done"));
            }
            if let Some(s) = ep.slice() {
                let members = self.slices.get(s).map(|s| &s.members);
                if !members.is_some_and(|m| m.contains(&idx)) {
                    return Err(format!("{name}: its slice {s} does not hold it"));
                }
            }
            if self.pods != self.namespaces[ep.ns as usize].endpoints.contains(&idx) {
                return Err(format!("{name}: namespace index disagrees"));
            }
        }
        for (&seq, &idx) in &self.waiting {
            if self.ep(idx).is_none() || self.seq(idx) != seq {
                return Err(format!("waiting entry {seq} names endpoint {idx}"));
            }
        }
        Ok(())
    }

    /// Namespace and node endpoint sets name live endpoints of that namespace or node.
    fn check_groups(&self) -> Result<(), String> {
        for (id, ns) in self.namespaces.iter().enumerate() {
            if self.ns_index.get(&ns.name) != Some(&(id as u32)) {
                return Err(format!("namespace {} not indexed as {id}", ns.name));
            }
            for &idx in &ns.endpoints {
                if self.ep(idx).map(|e| e.ns) != Some(id as u32) {
                    return Err(format!("namespace {} lists endpoint {idx}", ns.name));
                }
            }
        }
        if self.ns_index.len() != self.namespaces.len() {
            return Err("namespace index and table disagree".into());
        }
        for (id, node) in self.nodes.iter().enumerate() {
            let name = &node.name;
            if self.node_index.get(name) != Some(&(id as u32)) {
                return Err(format!("node {name} not indexed as {id}"));
            }
            for &idx in &node.endpoints {
                let on = self.pod(idx).and_then(|p| p.node());
                if on != Some(id as u32) {
                    return Err(format!(
                        "node {name} lists endpoint {idx}, which is on {on:?}"
                    ));
                }
            }
        }
        if self.node_index.len() != self.nodes.len() {
            return Err("node index and table disagree".into());
        }
        Ok(())
    }

    /// Slices: members live, distinct and pointing back, at most the
    /// maximum, one namespace, and the group rules (fcfs: the namespace;
    /// identity: one identity; closed: no members).
    fn check_slices(&self) -> Result<(), String> {
        for sid in self.slices.ids() {
            let Some(slice) = self.slices.get(sid) else {
                continue;
            };
            let name = &slice.name;
            if slice.members.len() > self.max_per_slice {
                return Err(format!("slice {name}: {} members", slice.members.len()));
            }
            let mut seen = BTreeSet::new();
            for &m in &slice.members {
                let ep = self
                    .ep(m)
                    .ok_or_else(|| format!("slice {name}: member {m} is gone"))?;
                if !seen.insert(m) || ep.slice() != Some(sid) {
                    return Err(format!(
                        "slice {name}: member {m} twice or not pointing back"
                    ));
                }
                let fits = match slice.group {
                    GroupKey::Namespace(ns) => self.mode == SliceMode::Fcfs && ep.ns == ns,
                    GroupKey::Identity {
                        namespace,
                        identity,
                    } => {
                        self.mode == SliceMode::Identity
                            && ep.ns == namespace
                            && (ep.identity() == Some(identity) || !self.placing)
                    }
                    GroupKey::Closed { .. } => false,
                };
                if !fits {
                    return Err(format!(
                        "slice {name} of {:?} holds {} (identity {:?})",
                        slice.group,
                        self.endpoint_name(m),
                        ep.identity()
                    ));
                }
            }
        }
        Ok(())
    }
}
