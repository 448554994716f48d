//! The endpoint, namespace and node indexes and the slice table.

use std::sync::Arc;

use crate::config::{SliceMode, Source};
use crate::endpoint::EndpointData;
use crate::events::{Category, EventKind, Severity};
use crate::identity::IdentityId;
use crate::slicing::{EndpointIdx, GroupKey};

use super::*;

impl Engine {
    /// A stamp no content has: for server entries that match no endpoint.
    pub(super) fn new_stamp(&mut self) -> u64 {
        let s = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        s
    }

    /// Creates or updates an endpoint record. In pods mode the identity is
    /// filled in by `refresh_pod`.
    pub(super) fn upsert_endpoint(
        &mut self,
        namespace: &str,
        name: &str,
        identity: Option<IdentityId>,
        data: EndpointData,
        pod: Option<Box<PodFacts>>,
        now: u64,
    ) -> EndpointIdx {
        let ns = self.ns_id(namespace);
        let key_name: Arc<str> = Arc::from(name);
        if let Some(&idx) = self.ep_index.get(&(ns, key_name.clone())) {
            let is_pod = pod.is_some();
            let Some(ep) = self.endpoints[idx as usize].as_mut() else {
                return idx;
            };
            if let Some(mut new_pod) = pod {
                if let Some(old) = &ep.pod {
                    // Keep the identity and the node link; refresh_pod recomputes them.
                    new_pod.identity_key = old.identity_key.clone();
                    if old.node != new_pod.node
                        && let Some(n) = &old.node
                        && let Some(state) = self.nodes.get_mut(n)
                    {
                        state.endpoints.remove(&idx);
                    }
                }
                ep.pod = Some(new_pod);
            }
            if is_pod {
                // Node data and identity come from refresh_pod; keep them for comparison.
                let mut d = data;
                d.node_ip = ep.data.node_ip;
                d.encryption_key = ep.data.encryption_key;
                self.set_content(idx, ep_identity(&self.endpoints[idx as usize]), d, now);
            } else {
                self.set_content(idx, identity, data, now);
            }
            return idx;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let stamp = content_stamp(&key_name, None, &data);
        let ep = Endpoint {
            ns,
            name: key_name.clone(),
            data,
            identity: None,
            slice: None,
            stamp,
            seq,
            pod,
        };
        let idx = match self.free_endpoints.pop() {
            Some(i) => {
                self.endpoints[i as usize] = Some(ep);
                i
            }
            None => {
                self.endpoints.push(Some(ep));
                (self.endpoints.len() - 1) as EndpointIdx
            }
        };
        self.ep_index.insert((ns, key_name), idx);
        if self.config.source == Source::Pods {
            self.namespaces[ns as usize].endpoints.insert(idx);
        }
        if identity.is_some() {
            self.set_content(
                idx,
                identity,
                self.endpoints[idx as usize]
                    .as_ref()
                    .map(|e| e.data.clone())
                    .unwrap_or_default(),
                now,
            );
        }
        idx
    }

    /// Sets identity and data; on change: new stamp, slice dirty, moves in
    /// identity mode, placement when the endpoint becomes placeable.
    pub(super) fn set_content(
        &mut self,
        idx: EndpointIdx,
        identity: Option<IdentityId>,
        data: EndpointData,
        now: u64,
    ) {
        let synced = self.synced && !self.adopting;
        let mode = self.config.slicing.mode;
        let Some(ep) = self.endpoints[idx as usize].as_mut() else {
            return;
        };
        if ep.identity == identity && ep.data == data {
            if synced && identity.is_none() && ep.slice.is_none() {
                self.waiting.insert(ep.seq, idx);
            }
            return;
        }
        let stamp = content_stamp(&ep.name, identity, &data);
        let old_identity = ep.identity;
        ep.identity = identity;
        ep.data = data;
        ep.stamp = stamp;
        self.snap.endpoint_changed(idx);
        let (slice, seq) = (ep.slice, ep.seq);
        if !synced {
            return;
        }
        match (slice, identity) {
            (Some(s), Some(id)) if mode == SliceMode::Identity && old_identity != Some(id) => {
                self.slices.remove_member(s, idx, now);
                match self.slices.get(s) {
                    Some(slice) => {
                        self.compaction_candidates.insert(slice.group);
                    }
                    None => debug_assert!(false, "endpoint {idx} in a slice that does not exist"),
                }
                self.place(idx, now);
                let subject = self.endpoint_name(idx);
                self.events.record(
                    now,
                    Category::Endpoints,
                    Severity::Info,
                    EventKind::EndpointMoved,
                    || subject,
                    || format!("identity changed to {id}: moved to another slice"),
                );
            }
            (Some(s), Some(_)) => self.slices.mark_dirty(s, now),
            (Some(s), None) => {
                self.slices.remove_member(s, idx, now);
                if let Some(ep) = self.endpoints[idx as usize].as_mut() {
                    ep.slice = None;
                }
                self.waiting.insert(seq, idx);
            }
            (None, Some(_)) => {
                self.waiting.remove(&seq);
                self.place(idx, now);
            }
            (None, None) => {
                self.waiting.insert(seq, idx);
            }
        }
    }

    /// The group an endpoint with an identity belongs to.
    pub(super) fn group_of(&self, ep: &Endpoint) -> GroupKey {
        match self.config.slicing.mode {
            SliceMode::Fcfs => GroupKey::Namespace(ep.ns),
            SliceMode::Identity => {
                debug_assert!(
                    ep.identity.is_some(),
                    "only endpoints with an identity are grouped"
                );
                GroupKey::Identity {
                    namespace: ep.ns,
                    identity: ep.identity.unwrap_or(0),
                }
            }
        }
    }

    pub(super) fn place(&mut self, idx: EndpointIdx, now: u64) {
        let Some(ep) = self.endpoints[idx as usize].as_ref() else {
            return;
        };
        let group = self.group_of(ep);
        let s = self.slices.place(idx, group, now);
        if let Some(ep) = self.endpoints[idx as usize].as_mut() {
            ep.slice = Some(s);
        }
        self.snap.endpoint_changed(idx);
    }

    pub(super) fn endpoint_name(&self, idx: EndpointIdx) -> String {
        match self.endpoints.get(idx as usize).and_then(Option::as_ref) {
            Some(ep) => format!("{}/{}", self.namespaces[ep.ns as usize].name, ep.name),
            None => String::new(),
        }
    }
}

/// The stamp of an entry's content: equal content, equal stamp (DESIGN: a
/// write equal to what the server holds is not sent, and a change undone
/// before the flush costs nothing).
pub(super) fn content_stamp(name: &str, identity: Option<IdentityId>, data: &EndpointData) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    name.hash(&mut h);
    identity.hash(&mut h);
    data.hash(&mut h);
    h.finish()
}

pub(super) fn ep_identity(ep: &Option<Endpoint>) -> Option<IdentityId> {
    ep.as_ref().and_then(|e| e.identity)
}
