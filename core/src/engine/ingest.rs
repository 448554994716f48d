//! Feeding the engine: watch events for namespaces, nodes, pods and
//! CiliumEndpoints (the slice and identity watches are in `observe.rs` and
//! `identities.rs`).

use std::net::IpAddr;
use std::sync::Arc;

use crate::config::Source;
use crate::endpoint::{self, CepInput, EndpointData, PodInput};
use crate::error::{Error, Result};
use crate::events::{Category, EventKind, Severity};
use crate::labels::LabelSet;
use crate::model::event::borrowed::{self, Borrowed, BorrowedKind};
use crate::model::{
    CiliumNode, EventType, Kind, Labels, Namespace, Node, Object, WatchEvent, describe,
};
use crate::slicing::EndpointIdx;
use crate::validate;

use super::*;

impl Engine {
    /// Applies one watch event at caller time `now` (ms). A rejected event
    /// changes nothing. A DELETED event is checked for its key only (a
    /// valid name, and namespace for Pods and CiliumEndpoints; a missing
    /// one is `missing_field`, a malformed one `invalid_name`) and removes
    /// by that key: the rest of the object it carries is not validated, so
    /// a delete applies even when the last state it carries was rejected.
    /// Pods are matched by namespace and name, as Cilium keys endpoints;
    /// their uid is not used.
    pub fn apply(&mut self, event: &WatchEvent, now: u64) -> Result<()> {
        let r = self.apply_inner(event, now);
        match &r {
            Ok(()) => self.counters.events_applied += 1,
            Err(e) => {
                self.counters.events_rejected += 1;
                let (subject, msg) = (e.object.clone(), e.to_string());
                self.events.record(
                    now,
                    Category::Input,
                    Severity::Warning,
                    EventKind::EventRejected,
                    || subject,
                    || msg,
                );
            }
        }
        r
    }

    /// Parses and applies one watch event in JSON.
    ///
    /// A Pod or CiliumEndpoint ADDED or MODIFIED event is read borrowed
    /// (`model/event/borrowed.rs`: no owned object, strings borrowed from
    /// `bytes`); anything that reading is not sure of, and every event it
    /// would reject, takes the owned path below, which gives the error.
    pub fn apply_json(&mut self, bytes: &[u8], now: u64) -> Result<()> {
        if let Some(r) = self.apply_json_borrowed(bytes, now) {
            return r;
        }
        let ev = WatchEvent::from_json(bytes).inspect_err(|_| self.count_unreadable_input())?;
        self.apply(&ev, now)
    }

    /// Applies an event read borrowed as `apply` would the owned event;
    /// `None` (nothing changed) when the borrowed reading leaves it to the
    /// owned path. A Pod or CiliumEndpoint it applies is valid; a
    /// Namespace, Node or CiliumNode goes through `apply` as an owned
    /// object of what the engine reads of it, errors included.
    pub(crate) fn apply_json_borrowed(&mut self, bytes: &[u8], now: u64) -> Option<Result<()>> {
        let mut p = Borrowed::default();
        match borrowed::read(bytes, &mut p)? {
            BorrowedKind::Pod if self.config.source == Source::Pods => {
                let input = p.pod_input(&mut self.interner.strings)?;
                self.apply_pod_input(input, p.labels(), now);
            }
            BorrowedKind::CiliumEndpoint if self.config.source == Source::Ciliumendpoints => {
                let labels = p.identity_labels();
                let input = p.cep_input(&labels, &mut self.interner)?;
                self.apply_cep_input(input, now);
            }
            BorrowedKind::Other(kind) => return Some(self.apply(&p.event(kind)?, now)),
            _ => return None,
        }
        self.counters.events_applied += 1;
        Some(Ok(()))
    }

    /// Counts input that never became an event (not JSON, cut off, not
    /// UTF-8), as [`apply_json`](Self::apply_json) counts what it cannot
    /// read; stream readers call it for what they reject themselves.
    pub fn count_unreadable_input(&mut self) {
        self.counters.events_rejected += 1;
    }

    /// Applies many events; returns the errors with their index. One bad
    /// event does not stop the others.
    pub fn apply_all<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a WatchEvent>,
        now: u64,
    ) -> Vec<(usize, Error)> {
        let mut errors = Vec::new();
        for (i, ev) in events.into_iter().enumerate() {
            if let Err(e) = self.apply(ev, now) {
                errors.push((i, e));
            }
        }
        errors
    }

    pub(super) fn apply_inner(&mut self, event: &WatchEvent, now: u64) -> Result<()> {
        let deleted = event.event_type == EventType::Deleted;
        match &event.object {
            Object::Namespace(ns) => self.on_namespace(ns, deleted, now),
            Object::Node(n) => self.on_node(n, deleted, now),
            Object::CiliumNode(n) => self.on_cilium_node(n, deleted, now),
            Object::Pod(p) => {
                if self.config.source != Source::Pods {
                    self.counters.events_ignored_other_source += 1;
                    return Ok(());
                }
                if deleted {
                    // A delete needs the namespace and name only: the last
                    // state it carries may be one that was rejected.
                    endpoint::check_namespaced(Kind::Pod, &p.metadata)?;
                    self.delete_endpoint(&p.metadata, now);
                    return Ok(());
                }
                // pod_input checks the labels too.
                let input = endpoint::pod_input(p, &mut self.interner.strings)?;
                let labels = p.metadata.labels.iter();
                self.apply_pod_input(input, labels.map(|(k, v)| (k.as_str(), v.as_str())), now);
                Ok(())
            }
            Object::CiliumEndpoint(c) => {
                if self.config.source != Source::Ciliumendpoints {
                    self.counters.events_ignored_other_source += 1;
                    return Ok(());
                }
                if deleted {
                    endpoint::check_namespaced(Kind::CiliumEndpoint, &c.metadata)?;
                    self.delete_endpoint(&c.metadata, now);
                    return Ok(());
                }
                let input = endpoint::cep_input(c, &mut self.interner)?;
                self.apply_cep_input(input, now);
                Ok(())
            }
            Object::CiliumEndpointSlice(s) => self.on_slice(s, deleted, now),
            Object::CiliumIdentity(i) => self.on_identity(i, deleted, now),
        }
    }

    /// A validated Pod (ADDED or MODIFIED) and its labels, sorted by key.
    fn apply_pod_input<'l>(
        &mut self,
        input: PodInput<'_>,
        labels: impl Iterator<Item = (&'l str, &'l str)>,
        now: u64,
    ) {
        if !self.config.shard.owns(input.namespace) {
            self.counters.events_ignored_other_shard += 1;
            return;
        }
        if !input.is_endpoint {
            self.remove_endpoint(input.namespace, input.name, now);
        } else {
            self.upsert_pod(input, labels, now);
        }
    }

    /// A validated CiliumEndpoint (ADDED or MODIFIED).
    fn apply_cep_input(&mut self, input: CepInput<'_>, now: u64) {
        if !self.config.shard.owns(input.namespace) {
            self.counters.events_ignored_other_shard += 1;
            return;
        }
        match (input.identity, input.data) {
            (Some(id), Some(data)) => {
                if !input.identity_labels.is_empty() && !self.known_identities.contains_key(&id) {
                    let labels = LabelSet::from_labels(
                        input
                            .identity_labels
                            .iter()
                            .map(|s| crate::labels::Label::parse(s)),
                    );
                    self.known_identities.insert(id, Arc::new(labels));
                    self.st.snap.identity_changed(id);
                }
                self.upsert_endpoint(input.namespace, input.name, Some(id), data, None, now);
            }
            // Not ready: Cilium ignores CEPs without identity or networking.
            _ => self.remove_endpoint(input.namespace, input.name, now),
        }
    }

    pub(super) fn on_namespace(&mut self, ns: &Namespace, deleted: bool, now: u64) -> Result<()> {
        let obj = describe(Kind::Namespace, &ns.metadata);
        validate::require_name(&obj, "metadata.name", &ns.metadata.name, false)?;
        if !deleted {
            validate::check_labels(&obj, "metadata.labels", &ns.metadata.labels)?;
        }
        if !self.config.shard.owns(&ns.metadata.name) {
            self.counters.events_ignored_other_shard += 1;
            return Ok(());
        }
        if deleted && !self.st.ns_index.contains_key(ns.metadata.name.as_str()) {
            // Nothing known of it: a delete leaves no trace.
            return Ok(());
        }
        let id = self.st.ns_id(&ns.metadata.name);
        let (labels, priority) = if deleted {
            (Labels::new(), false)
        } else {
            (
                ns.metadata.labels.clone(),
                ns.metadata
                    .annotations
                    .get(PRIORITY_ANNOTATION)
                    .map(String::as_str)
                    == Some("priority"),
            )
        };
        if self.st.set_namespace(id, labels, priority) {
            self.profiles.namespace_changed(id);
            let state = &self.st.namespaces[id as usize];
            if self.config.source == Source::Pods && self.synced {
                let mut eps: Vec<EndpointIdx> = state.endpoints.iter().copied().collect();
                eps.sort_unstable_by_key(|&e| self.st.seq(e));
                for e in eps {
                    self.refresh_pod(e, now);
                }
            }
        }
        Ok(())
    }

    /// Checks a Node's or CiliumNode's name and address list and returns
    /// its description (for later errors) and its InternalIPs. `addresses`
    /// are `(type, ip)` pairs at `field`.
    pub(super) fn node_addresses<'a>(
        kind: Kind,
        meta: &crate::model::ObjectMeta,
        field: &str,
        addresses: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(String, Vec<IpAddr>)> {
        let obj = describe(kind, meta);
        validate::require_name(&obj, "metadata.name", &meta.name, true)?;
        validate::too_large(&obj, field, addresses.len(), validate::MAX_ADDRESSES)?;
        let mut ips = Vec::new();
        for (i, (kind, ip)) in addresses.enumerate() {
            if kind == "InternalIP" {
                ips.push(validate::parse_ip(&obj, &format!("{field}[{i}]"), ip)?);
            }
        }
        Ok((obj, ips))
    }

    /// A DELETED Node or CiliumNode needs its name only; the addresses and
    /// key it carries are not read.
    pub(super) fn check_deleted_node(kind: Kind, meta: &crate::model::ObjectMeta) -> Result<()> {
        validate::require_name(&describe(kind, meta), "metadata.name", &meta.name, true)
    }

    pub(super) fn on_node(&mut self, node: &Node, deleted: bool, now: u64) -> Result<()> {
        let ips = if deleted {
            Self::check_deleted_node(Kind::Node, &node.metadata)?;
            Vec::new()
        } else {
            Self::node_addresses(
                Kind::Node,
                &node.metadata,
                "status.addresses",
                node.status
                    .addresses
                    .iter()
                    .map(|a| (a.kind.as_str(), a.address.as_str())),
            )?
            .1
        };
        if deleted && !self.st.node_index.contains_key(node.metadata.name.as_str()) {
            return Ok(());
        }
        let name = self.interner.strings.intern(&node.metadata.name);
        self.st.node_mut(&name).node_ips = ips;
        self.refresh_node(&name, now);
        Ok(())
    }

    pub(super) fn on_cilium_node(
        &mut self,
        node: &CiliumNode,
        deleted: bool,
        now: u64,
    ) -> Result<()> {
        let (ips, key) = if deleted {
            Self::check_deleted_node(Kind::CiliumNode, &node.metadata)?;
            (Vec::new(), 0)
        } else {
            let (obj, ips) = Self::node_addresses(
                Kind::CiliumNode,
                &node.metadata,
                "spec.addresses",
                node.spec
                    .addresses
                    .iter()
                    .map(|a| (a.kind.as_str(), a.ip.as_str())),
            )?;
            let key = match &node.spec.encryption {
                Some(e) => endpoint::encryption_key(&obj, "spec.encryption.key", e.key)?,
                None => 0,
            };
            (ips, key)
        };
        if deleted && !self.st.node_index.contains_key(node.metadata.name.as_str()) {
            return Ok(());
        }
        let name = self.interner.strings.intern(&node.metadata.name);
        let state = self.st.node_mut(&name);
        let had = state.has_cilium_node;
        if deleted {
            state.cilium_ips.clear();
            state.has_cilium_node = false;
            state.encryption_key = 0;
        } else {
            state.cilium_ips = ips;
            state.has_cilium_node = true;
            state.encryption_key = key;
        }
        match (had, !deleted) {
            (false, true) => self.cilium_nodes += 1,
            (true, false) => self.cilium_nodes -= 1,
            _ => {}
        }
        if self.bucket.set_nodes(self.cilium_nodes) {
            let step = self.bucket.active();
            let n = self.cilium_nodes;
            self.events.record(
                now,
                Category::Slices,
                Severity::Info,
                EventKind::RateLimitChanged,
                || "write rate limit".to_string(),
                || format!("{n} nodes: {} writes/s, burst {}", step.limit, step.burst),
            );
        }
        self.refresh_node(&name, now);
        Ok(())
    }

    /// Number of CiliumNodes seen (drives the rate-limit step).
    pub fn node_count(&self) -> usize {
        self.cilium_nodes
    }

    pub(super) fn refresh_node(&mut self, name: &Arc<str>, now: u64) {
        if self.config.source != Source::Pods {
            return;
        }
        let Some(state) = self
            .st
            .node_index
            .get(name)
            .and_then(|&id| self.st.nodes.get(id as usize))
        else {
            return;
        };
        let mut eps: Vec<EndpointIdx> = state.endpoints.iter().copied().collect();
        eps.sort_unstable();
        for e in eps {
            self.refresh_pod(e, now);
        }
    }

    pub(super) fn upsert_pod<'l>(
        &mut self,
        input: PodInput<'_>,
        labels: impl Iterator<Item = (&'l str, &'l str)>,
        now: u64,
    ) {
        let ns = self.st.ns_id(input.namespace);
        let named_ports = self.interner.ports(input.named_ports);
        let sa: Arc<str> = self.interner.strings.intern(input.service_account);
        let node = match input.node_name {
            Some(n) => {
                let n = self.interner.strings.intern(n);
                self.st.node_id(&n)
            }
            None => NO_ID,
        };
        // Pods of one deployment share a profile (and its security labels).
        let profile = self
            .profiles
            .acquire(&self.filter, &mut self.keep_memo, ns, labels, &sa);
        let host_ip = input.host_ip.map_or(NO_ID, |ip| self.host_ips.acquire(ip));
        let facts = PodFacts {
            profile,
            node,
            host_ip,
        };
        let data = EndpointData {
            addressing: smallvec::smallvec![input.addressing],
            node_ip: None,
            encryption_key: 0,
            named_ports,
            service_account: (!sa.is_empty()).then_some(sa),
        };
        let known = self.st.lookup(ns, input.name);
        if let Some(idx) = known
            && let Some(old) = self.st.replace_pod_facts(idx, facts)
        {
            self.release_pod_facts(old);
        }
        match known {
            // A known pod after the sync: its content is set once, with
            // fresh node data and identity.
            Some(idx) if self.synced => {
                self.refresh_pod_with(idx, Some(data), now);
            }
            // New, or before the sync (when refresh_pod does nothing): the
            // record holds the content until identities are computed.
            _ => {
                let idx =
                    self.upsert_endpoint(input.namespace, input.name, None, data, Some(facts), now);
                self.refresh_pod(idx, now);
            }
        }
    }

    /// A DELETED Pod or CiliumEndpoint whose namespace and name are checked:
    /// removes the endpoint by that key, whatever else the event carries.
    pub(super) fn delete_endpoint(&mut self, meta: &crate::model::ObjectMeta, now: u64) {
        let namespace = meta.namespace.as_deref().unwrap_or("");
        if !self.config.shard.owns(namespace) {
            self.counters.events_ignored_other_shard += 1;
            return;
        }
        self.remove_endpoint(namespace, &meta.name, now);
    }

    /// Removes an endpoint; a pod's identity, profile and host IP are released.
    pub(super) fn remove_endpoint(&mut self, namespace: &str, name: &str, now: u64) {
        let Some(ep) = self.st.remove(namespace, name, now) else {
            return;
        };
        if let Some(pod) = ep.pod {
            self.release_pod_facts(pod);
            if let Some(id) = ep.identity {
                self.identities.release(id, now);
                self.counters.identities_released += 1;
            }
        }
    }

    /// A pod no longer uses these facts' profile and host IP.
    fn release_pod_facts(&mut self, pod: PodFacts) {
        self.profiles.release(pod.profile);
        if pod.host_ip != NO_ID {
            self.host_ips.release(pod.host_ip);
        }
    }

    /// Creates or updates an endpoint record (see [`State::upsert`]).
    pub(super) fn upsert_endpoint(
        &mut self,
        namespace: &str,
        name: &str,
        identity: Option<IdentityId>,
        data: EndpointData,
        pod: Option<PodFacts>,
        now: u64,
    ) -> EndpointIdx {
        let (idx, change) = self.st.upsert(namespace, name, identity, data, pod, now);
        self.content_changed(idx, change, now);
        idx
    }

    /// Sets an endpoint's identity and data (see [`State::set_content`]).
    pub(super) fn set_content(
        &mut self,
        idx: EndpointIdx,
        identity: Option<IdentityId>,
        data: EndpointData,
        now: u64,
    ) {
        let change = self.st.set_content(idx, identity, data, now);
        self.content_changed(idx, change, now);
    }

    /// Records what a content change did beyond the content.
    fn content_changed(&mut self, idx: EndpointIdx, change: ContentChange, now: u64) {
        if let ContentChange::Moved(id) = change {
            let subject = self.st.endpoint_name(idx);
            self.events.record(
                now,
                Category::Endpoints,
                Severity::Info,
                EventKind::EndpointMoved,
                || subject,
                || format!("identity changed to {id}: moved to another slice"),
            );
        }
    }
}
