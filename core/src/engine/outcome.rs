//! Outcomes: what the API server answered to a planned write.

use crate::error::{Error, ErrorCode, Result};
use crate::events::{Category, EventKind, Severity};
use crate::health::Health;
use crate::identity::{IdentityId, Restore, ServerMeta};
use crate::model::CiliumIdentity;
use crate::plan::{OpId, Outcome, Verb};
use crate::slicing::{ServerSlice, SliceId};

use super::*;

impl Engine {
    /// Reports what the API server answered to a planned write.
    pub fn report(&mut self, op: OpId, outcome: &Outcome, now: u64) -> Result<()> {
        let Some(target) = self.in_flight.remove(&op) else {
            return Err(Error::new(
                ErrorCode::UnknownOp,
                "",
                "op",
                format!("op {} is not awaiting an outcome", op.0),
            ));
        };
        // Not-found on a delete and already-exists are the server agreeing
        // with us or telling us news, not failures of the write path.
        let failed = matches!(outcome, Outcome::Error { .. } | Outcome::Conflict);
        if failed {
            self.counters.writes_failed += 1;
        } else {
            self.counters.writes_succeeded += 1;
        }
        if let Some(h) = self.health.record(now, failed) {
            let (sev, kind, msg) = match &h {
                Health::Healthy => (
                    Severity::Info,
                    EventKind::Healthy,
                    "writes succeed again".to_string(),
                ),
                Health::Degraded { reason } => {
                    (Severity::Error, EventKind::Degraded, reason.clone())
                }
            };
            self.events.record(
                now,
                Category::Health,
                sev,
                kind,
                || "write path".to_string(),
                || msg,
            );
        }
        match target {
            Target::Slice(write) => self.report_slice(write, outcome, now),
            Target::Identity { id, verb } => self.report_identity(id, verb, outcome, now),
        }
        Ok(())
    }

    /// The outcome of a slice write: the server view, the dirty mark and
    /// the backoff follow what the server answered.
    pub(super) fn report_slice(&mut self, write: SliceWrite, outcome: &Outcome, now: u64) {
        let SliceWrite {
            slice: sid,
            verb,
            stamps,
            dirty_since: since,
            emptying,
        } = write;
        let Some(slice) = self.st.slices.get_mut(sid) else {
            debug_assert!(false, "a write in flight for slice {sid}, which is gone");
            return;
        };
        slice.in_flight = None;
        let name = slice.name.clone();
        match (outcome, verb) {
            (
                Outcome::Success {
                    resource_version,
                    uid,
                },
                Verb::Create | Verb::Update,
            ) => {
                let old_uid = slice.server.as_ref().and_then(|s| s.uid.clone());
                slice.server = Some(ServerSlice {
                    stamps,
                    namespace_ok: true,
                    uid: uid.clone().or(old_uid),
                    resource_version: resource_version.clone(),
                });
                slice.failures = 0;
                self.metrics.sync_success += 1;
                if emptying {
                    self.st.slices.restore_dirty(sid, since);
                }
                let kind = if verb == Verb::Create {
                    EventKind::SliceCreated
                } else {
                    EventKind::SliceUpdated
                };
                self.events.record(
                    now,
                    Category::Slices,
                    Severity::Debug,
                    kind,
                    || format!("CiliumEndpointSlice {name}"),
                    String::new,
                );
            }
            (Outcome::Success { .. } | Outcome::NotFound, Verb::Delete) => {
                slice.server = None;
                self.metrics.sync_success += 1;
                if slice.members.is_empty() {
                    self.st.remove_empty_slice(sid);
                } else {
                    self.st.slices.restore_dirty(sid, since);
                }
                self.events.record(
                    now,
                    Category::Slices,
                    Severity::Debug,
                    EventKind::SliceDeleted,
                    || format!("CiliumEndpointSlice {name}"),
                    String::new,
                );
            }
            (Outcome::NotFound, _) => {
                // Gone on the server: create it again.
                self.metrics.sync_fail_transient += 1;
                slice.server = None;
                self.st.slices.restore_dirty(sid, since);
            }
            (Outcome::AlreadyExists, _) | (Outcome::Conflict, _) => {
                self.metrics.sync_fail_transient += 1;
                // The server holds something else than we thought: rewrite
                // against it. Its newest version arrives as an observed event,
                // which re-plans at once; without one, retry after the backoff
                // instead of conflicting on every flush.
                let server = slice.server.get_or_insert_with(ServerSlice::default);
                server.stamps = vec![u64::MAX];
                slice.failures += 1;
                slice.not_before =
                    now.saturating_add(backoff_ms(&self.config.write.retry, slice.failures));
                self.st.slices.restore_dirty(sid, since);
            }
            (Outcome::Error { message }, _) => {
                // The write may have reached the server before the error (a
                // timeout after commit): what it holds is unknown now, so the
                // next flush compares against nothing and rewrites.
                if let Some(server) = slice.server.as_mut() {
                    server.stamps = vec![u64::MAX];
                }
                slice.failures += 1;
                self.slice_write_failed(sid, since, &name, message, now);
            }
        }
    }

    /// A slice write that failed with an error: retried after a backoff, or
    /// dropped after the retries (picked up again on the next change).
    fn slice_write_failed(
        &mut self,
        sid: SliceId,
        since: u64,
        name: &str,
        message: &str,
        now: u64,
    ) {
        let retry = self.config.write.retry;
        let Some(slice) = self.st.slices.get_mut(sid) else {
            return;
        };
        let delay = backoff_ms(&retry, slice.failures);
        slice.not_before = now.saturating_add(delay);
        let failures = slice.failures;
        if failures > retry.max_retries {
            self.metrics.sync_fail_fatal += 1;
            slice.failures = 0;
            slice.not_before = 0;
            self.events.record(
                now,
                Category::Slices,
                Severity::Error,
                EventKind::SliceDropped,
                || format!("CiliumEndpointSlice {name}"),
                || format!("dropped after {failures} failed writes: {message}; retried on the next change"),
            );
        } else {
            self.metrics.sync_fail_transient += 1;
            self.st.slices.restore_dirty(sid, since);
            self.events.record(
                now,
                Category::Slices,
                Severity::Warning,
                EventKind::SliceWriteFailed,
                || format!("CiliumEndpointSlice {name}"),
                || format!("write failed ({message}); retry {failures} in {delay} ms"),
            );
        }
    }

    pub(super) fn report_identity(
        &mut self,
        id: IdentityId,
        verb: Verb,
        outcome: &Outcome,
        now: u64,
    ) {
        match (outcome, verb) {
            (
                Outcome::Success {
                    resource_version,
                    uid,
                },
                Verb::Create,
            ) => self.identities.write_succeeded(
                id,
                Some(ServerMeta {
                    uid: uid.clone(),
                    resource_version: resource_version.clone(),
                }),
            ),
            (Outcome::Success { .. } | Outcome::NotFound, Verb::Delete) => {
                self.identities.write_succeeded(id, None);
                self.events.record(
                    now,
                    Category::Identities,
                    Severity::Info,
                    EventKind::IdentityReleased,
                    || format!("CiliumIdentity {id}"),
                    || "deleted after the grace period".into(),
                );
            }
            (Outcome::AlreadyExists, Verb::Create) => {
                // Another writer holds the number: take another one for our labels.
                let Some(rec) = self.identities.get(id).cloned() else {
                    return;
                };
                let mut other = CiliumIdentity::new(id.to_string());
                other
                    .security_labels
                    .insert("unknown:held-by".into(), "another-writer".into());
                self.identities.set_in_flight(id, false);
                if let Restore::Renumbered { labels, old, new } =
                    self.identities.observe(&other, now)
                {
                    self.events.record(
                        now,
                        Category::Identities,
                        Severity::Warning,
                        EventKind::IdentityConflict,
                        || format!("CiliumIdentity {id}"),
                        || {
                            format!(
                                "already exists on the server; labels {} moved to {new:?}",
                                rec.key
                            )
                        },
                    );
                    self.renumber(old, &labels, new, now);
                }
            }
            _ => self.identities.set_in_flight(id, false),
        }
    }
}

/// The wait before retrying a write that failed `failures` times in a row:
/// doubling from the base, capped.
fn backoff_ms(retry: &crate::config::Retry, failures: u32) -> u64 {
    let shift = failures.saturating_sub(1).min(30);
    retry
        .base_ms
        .saturating_mul(1u64 << shift)
        .min(retry.cap_ms)
}
