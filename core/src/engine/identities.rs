//! Identities: the CiliumIdentity watch, allocation for pods, renumbering.

use std::sync::Arc;

use crate::config::Source;
use crate::error::{Error, ErrorCode, Result};
use crate::events::{Category, EventKind, Severity, Text};
use crate::identity::{IdentityId, Restore};
use crate::labels::{LabelSet, PodLabelInputs, pod_security_labels_memo};
use crate::model::{CiliumIdentity, Kind, describe};
use crate::slicing::EndpointIdx;
use crate::validate;

use super::profiles::Security;
use super::*;

impl Engine {
    /// Pods mode: recomputes identity and node data of a pod endpoint.
    pub(super) fn refresh_pod(&mut self, idx: EndpointIdx, now: u64) {
        self.refresh_pod_with(idx, None, now);
    }

    /// [`Engine::refresh_pod`] with new pod data (`None`: the endpoint's
    /// own); its node IP and key are replaced by the node's.
    pub(super) fn refresh_pod_with(
        &mut self,
        idx: EndpointIdx,
        base: Option<EndpointData>,
        now: u64,
    ) {
        if !self.synced {
            return;
        }
        let Some(sec) = self.security_labels(idx) else {
            debug_assert!(false, "refreshing endpoint {idx}, which is no pod");
            return;
        };
        let Some(ep) = self.st.ep(idx) else {
            return;
        };
        let Some(pod) = self.st.pod(idx) else { return };
        let node_state = pod.node().and_then(|n| self.st.nodes.get(n as usize));
        let host_ip = self.host_ips.get(pod.host_ip).copied();
        let node_ip = node_state.and_then(NodeState::ip).or(host_ip);
        let old_identity = ep.identity();
        // A pod's identity is the record of the key it was computed for
        // (renumbering moves it with its key).
        let key_changed = old_identity
            .and_then(|id| self.identities.get(id))
            .is_none_or(|r| !Arc::ptr_eq(&r.key, &sec.key) && *r.key != *sec.key);
        let encryption_key = node_state.map_or(0, |n| n.encryption_key);
        let mut data = base.unwrap_or_else(|| self.st.data(ep));
        data.node_ip = node_ip;
        data.encryption_key = encryption_key;
        if let Some(n) = pod.node() {
            self.st.link_node(idx, n);
        }
        let identity = if key_changed || old_identity.is_none() {
            if let Some(old) = old_identity {
                self.identities.release(old, now);
                self.counters.identities_released += 1;
            }
            self.acquire_identity(idx, &sec, now)
        } else {
            old_identity
        };
        self.set_content(idx, identity, data, now);
    }

    /// A pod endpoint's security labels and their key, cached in its profile.
    fn security_labels(&mut self, idx: EndpointIdx) -> Option<Security> {
        let profile = self.st.pod(idx)?.profile;
        let p = self.profiles.get(profile)?;
        if let Some(s) = &p.security {
            return Some(s.clone());
        }
        let ns = &self.st.namespaces[p.ns as usize];
        let set = pod_security_labels_memo(
            &self.filter,
            &mut self.keep_memo,
            p.labels(),
            &PodLabelInputs {
                namespace: &ns.name,
                pod_labels: &Labels::new(),
                namespace_labels: Some(&ns.labels),
                service_account: &p.service_account,
                cluster_name: &self.config.identity.cluster_name,
            },
        );
        let key: Arc<str> = Arc::from(set.canonical_key());
        let entry = Security {
            key_hash: self.identities.key_hash(&key),
            key,
            labels: Arc::new(set),
        };
        self.profiles.set_security(profile, entry.clone());
        Some(entry)
    }

    /// An identity number for `key`: the one in use, a new one, or none
    /// when the range is exhausted (the endpoint waits).
    fn acquire_identity(
        &mut self,
        idx: EndpointIdx,
        sec: &Security,
        now: u64,
    ) -> Option<IdentityId> {
        let key = &sec.key;
        let id = self
            .identities
            .acquire_known_hashed(&sec.labels, key, sec.key_hash);
        match id {
            Some((id, known_before)) => {
                if !known_before {
                    self.counters.identities_allocated += 1;
                    // The message keeps the key the identity holds, not a copy.
                    self.events.record_text(
                        now,
                        Category::Identities,
                        Severity::Info,
                        EventKind::IdentityAllocated,
                        || Text::Identity(id),
                        || Text::Labels(key.clone()),
                    );
                }
            }
            None => {
                self.counters.identity_exhausted += 1;
                let (lo, hi) = self.identities.range();
                let subject = self.st.endpoint_name(idx);
                self.events.record(
                    now,
                    Category::Identities,
                    Severity::Error,
                    EventKind::IdentityExhausted,
                    || subject,
                    || format!("no free identity number in {lo}-{hi}; the endpoint waits"),
                );
            }
        }
        id.map(|(id, _)| id)
    }

    pub(super) fn on_identity(
        &mut self,
        obj: &CiliumIdentity,
        deleted: bool,
        now: u64,
    ) -> Result<()> {
        let o = describe(Kind::CiliumIdentity, &obj.metadata);
        if obj.metadata.name.is_empty() {
            return Err(Error::new(
                ErrorCode::MissingField,
                o,
                "metadata.name",
                "name is required",
            ));
        }
        if !deleted {
            validate::too_large(
                &o,
                "security-labels",
                obj.security_labels.len(),
                validate::MAX_LABELS,
            )?;
            validate::check_labels_size(&o, "security-labels", &obj.security_labels)?;
        }
        if self.config.source == Source::Ciliumendpoints {
            if let Ok(id) = obj.metadata.name.parse::<IdentityId>() {
                self.st.snap.identity_changed(id);
                if deleted {
                    self.known_identities.remove(&id);
                } else {
                    self.known_identities.insert(
                        id,
                        Arc::new(LabelSet::from_security_labels(&obj.security_labels)),
                    );
                }
            }
            return Ok(());
        }
        if deleted {
            self.identities.observe_deleted(&obj.metadata.name);
            return Ok(());
        }
        match self.identities.observe(obj, now) {
            Restore::Recorded => {}
            Restore::NotAnIdentity => {
                return Err(Error::new(
                    ErrorCode::InvalidName,
                    o,
                    "metadata.name",
                    "a CiliumIdentity is named by its number (256 or more)",
                ));
            }
            Restore::DuplicateLabels { kept } => self.events.record(
                now,
                Category::Identities,
                Severity::Warning,
                EventKind::IdentityConflict,
                || o.clone(),
                || format!("same labels as identity {kept}; {kept} is kept, this one ages out"),
            ),
            Restore::Conflict { ours } => self.events.record(
                now,
                Category::Identities,
                Severity::Warning,
                EventKind::IdentityConflict,
                || o.clone(),
                || format!("the server holds this number for other labels than ours ({ours})"),
            ),
            Restore::Renumbered { labels, old, new } => {
                self.events.record(
                    now,
                    Category::Identities,
                    Severity::Warning,
                    EventKind::IdentityConflict,
                    || o.clone(),
                    || format!("number {old} is held by other labels on the server; ours moved to {new:?}"),
                );
                self.renumber(old, &labels, new, now);
            }
        }
        Ok(())
    }

    /// Endpoints using `old` (for `labels`) move to `new`, or wait.
    pub(super) fn renumber(
        &mut self,
        old: IdentityId,
        labels: &LabelSet,
        new: Option<IdentityId>,
        now: u64,
    ) {
        // Every pod holding `old` got it for `labels`: the server's holder
        // of the number was recorded just now, with no endpoint.
        let _ = labels;
        let affected: Vec<EndpointIdx> = self
            .st
            .endpoints
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let e = e.as_ref()?;
                let i = i as EndpointIdx;
                (e.identity() == Some(old) && self.st.pod(i).is_some()).then_some(i)
            })
            .collect();
        for idx in affected {
            let Some(data) = self.st.ep(idx).map(|ep| self.st.data(ep)) else {
                continue;
            };
            self.set_content(idx, new, data, now);
        }
    }

    /// Labels of an identity: allocated, observed or reserved.
    pub fn identity_labels(&self, id: IdentityId) -> Option<Arc<LabelSet>> {
        if let Some(r) = self.identities.get(id) {
            return Some(r.labels.clone());
        }
        if let Some(l) = self.known_identities.get(&id) {
            return Some(l.clone());
        }
        crate::identity::reserved_labels(id).map(Arc::new)
    }
}
