//! Polling for writes: `flush` turns due changes into a write plan.

use crate::model::{CiliumEndpointSlice, Kind};
use crate::plan::{OpId, PlannedWrite, Preconditions, Verb, WriteOp, WritePlan};
use crate::slicing::{GroupKey, ServerSlice, SliceId};

use super::*;

impl Engine {
    pub(super) fn is_priority(&self, group: &GroupKey) -> bool {
        self.config.write.priority_namespaces
            && self
                .st
                .namespaces
                .get(group.namespace() as usize)
                .is_some_and(|n| n.priority)
    }

    pub(super) fn op_id(&mut self) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        id
    }

    /// The writes due at `now`: identity creates, slices dirty for at least
    /// the sync delay, identity deletes. Nothing is planned before the
    /// initial sync. Each write stays in flight until its outcome is reported.
    ///
    /// Runs [`Engine::maintain`] first: the time-driven changes to the model
    /// are made before anything is planned.
    pub fn flush(&mut self, now: u64) -> WritePlan {
        self.flush_at_most(now, usize::MAX)
    }

    /// [`Engine::flush`], planning at most `max_slice_writes` slice writes
    /// (the oldest due, priority namespaces first); identity writes are not
    /// counted. The slices left out stay dirty with their age, so a caller
    /// with `n` idle writers asks for `n` and every change that arrives
    /// before a writer frees up joins its slice's one write instead of
    /// queueing a write of its own. `0` plans identity writes only.
    pub fn flush_at_most(&mut self, now: u64, max_slice_writes: usize) -> WritePlan {
        let mut plan = WritePlan::default();
        if !self.synced {
            return plan;
        }
        self.maintain(now);
        // Identity creates first: slices reference their numbers.
        self.plan_identity_creates(&mut plan);
        self.plan_due_slices(&mut plan, now, max_slice_writes);
        self.plan_identity_deletes(&mut plan);
        plan
    }

    /// Identities allocated and not yet on the server.
    fn plan_identity_creates(&mut self, plan: &mut WritePlan) {
        for id in self.identities.wanted_creates() {
            let Some(obj) = self.identities.get(id).map(|r| r.to_object()) else {
                debug_assert!(false, "identity {id} wanted but not recorded");
                continue;
            };
            self.identities.set_in_flight(id, true);
            let op = self.op_id();
            self.in_flight.insert(
                op,
                Target::Identity {
                    id,
                    verb: Verb::Create,
                },
            );
            self.push(plan, op, WriteOp::CreateIdentity(obj));
        }
    }

    /// Slices dirty for at least the sync delay, priority namespaces first,
    /// oldest first, as far as the rate limiter lets, at most `max` writes.
    fn plan_due_slices(&mut self, plan: &mut WritePlan, now: u64, max: usize) {
        let cutoff = now.saturating_sub(self.config.write.sync_delay_ms);
        let ready = now >= self.config.write.sync_delay_ms;
        let mut due: Vec<(bool, u64, SliceId)> = if ready {
            self.st
                .slices
                .dirty_until(cutoff)
                .filter(|&(_, sid)| {
                    self.st
                        .slices
                        .get(sid)
                        .is_some_and(|s| s.in_flight.is_none() && s.not_before <= now)
                })
                .map(|(since, sid)| {
                    let prio = self
                        .st
                        .slices
                        .get(sid)
                        .is_some_and(|s| self.is_priority(&s.group));
                    (!prio, since, sid)
                })
                .collect()
        } else {
            Vec::new()
        };
        due.sort_unstable();
        let mut planned = 0usize;
        for (standard, since, sid) in due {
            if planned >= max {
                // The rest stay dirty, in order, for the caller's next flush.
                break;
            }
            if self.bucket.available(now) == 0 {
                // The rest stay dirty, in order, for the next flush.
                self.metrics.rate_limited_flushes += 1;
                break;
            }
            let before = plan.writes.len();
            let retry = self.st.slices.get(sid).is_some_and(|s| s.failures > 0);
            self.plan_slice(plan, sid, since);
            if plan.writes.len() > before {
                planned += plan.writes.len() - before;
                self.bucket.try_take(now);
                let delay = now.saturating_sub(since) as f64 / 1000.0;
                if standard {
                    self.metrics.queue_delay_standard.observe(delay);
                } else {
                    self.metrics.queue_delay_fast.observe(delay);
                }
                if retry {
                    self.metrics.retries += 1;
                }
            }
        }
    }

    /// Identities unused past their grace period.
    fn plan_identity_deletes(&mut self, plan: &mut WritePlan) {
        for id in self.identities.wanted_deletes() {
            let Some(rec) = self.identities.get(id) else {
                debug_assert!(false, "identity {id} wanted but not recorded");
                continue;
            };
            let pre = rec
                .server
                .as_ref()
                .map(|s| Preconditions {
                    uid: s.uid.clone(),
                    resource_version: s.resource_version.clone(),
                })
                .unwrap_or_default();
            self.identities.set_in_flight(id, true);
            let op = self.op_id();
            self.in_flight.insert(
                op,
                Target::Identity {
                    id,
                    verb: Verb::Delete,
                },
            );
            self.push(
                plan,
                op,
                WriteOp::DeleteIdentity {
                    name: id.to_string(),
                    preconditions: pre,
                },
            );
        }
    }

    pub(super) fn push(&mut self, plan: &mut WritePlan, id: OpId, op: WriteOp) {
        let kind = match op.kind() {
            Kind::CiliumIdentity => "identity",
            _ => "slice",
        };
        *self
            .counters
            .writes_planned
            .entry((kind, op.verb().as_str()))
            .or_default() += 1;
        plan.writes.push(PlannedWrite { id, op });
    }

    /// Plans one due slice: a create or update when its desired content
    /// differs from the server's, a delete (or an emptying update) when it
    /// has no members, nothing when it equals the server.
    pub(super) fn plan_slice(&mut self, plan: &mut WritePlan, sid: SliceId, since: u64) {
        let desired = self.st.desired_stamps(sid);
        let Some(slice) = self.st.slices.get(sid) else {
            debug_assert!(false, "planning slice {sid}, which is gone");
            return;
        };
        if desired.is_empty() {
            let server = slice.server.clone();
            self.st.slices.clear_dirty(sid);
            self.plan_empty_slice(plan, sid, since, server);
            return;
        }
        // What the server holds, compared in place (not cloned).
        let on_server = slice.server.is_some();
        let unchanged = slice
            .server
            .as_ref()
            .is_some_and(|s| s.stamps == desired && s.namespace_ok);
        let (inserted, removed) = match &slice.server {
            Some(s) if !unchanged => sorted_difference_sizes(&desired, &s.stamps),
            Some(_) => (0, 0),
            None => (desired.len(), 0),
        };
        self.st.slices.clear_dirty(sid);
        self.metrics.ceps_per_ces.observe(desired.len() as f64);
        if unchanged {
            self.counters.no_op_skips += 1;
            return;
        }
        self.metrics.cep_inserted_per_ces.observe(inserted as f64);
        self.metrics.cep_removed_per_ces.observe(removed as f64);
        let obj = self.st.render_slice(sid);
        let op = self.op_id();
        let verb = if on_server {
            Verb::Update
        } else {
            Verb::Create
        };
        self.in_flight.insert(
            op,
            Target::Slice(SliceWrite {
                slice: sid,
                verb,
                stamps: desired,
                dirty_since: since,
                emptying: false,
            }),
        );
        self.mark_in_flight(sid, op);
        let wop = if verb == Verb::Update {
            WriteOp::UpdateSlice(obj)
        } else {
            WriteOp::CreateSlice(obj)
        };
        self.push(plan, op, wop);
    }

    /// A slice with no members: deleted on the server (after an emptying
    /// update when it held at least the threshold), or forgotten when it
    /// never reached the server.
    fn plan_empty_slice(
        &mut self,
        plan: &mut WritePlan,
        sid: SliceId,
        since: u64,
        server: Option<ServerSlice>,
    ) {
        let Some(server) = server else {
            // Never reached the server: nothing to undo.
            self.st.remove_empty_slice(sid);
            return;
        };
        let Some(slice) = self.st.slices.get(sid) else {
            return;
        };
        let name = slice.name.clone();
        let ns_name = self
            .st
            .namespace_name(slice.group.namespace())
            .map(|n| String::from(&**n))
            .unwrap_or_default();
        let threshold = self.config.write.empty_before_delete_threshold as usize;
        let op = self.op_id();
        let emptying = threshold > 0 && server.stamps.len() >= threshold;
        self.in_flight.insert(
            op,
            Target::Slice(SliceWrite {
                slice: sid,
                verb: if emptying { Verb::Update } else { Verb::Delete },
                stamps: Vec::new(),
                dirty_since: since,
                emptying,
            }),
        );
        self.mark_in_flight(sid, op);
        let wop = if emptying {
            let mut obj = CiliumEndpointSlice::new(String::from(&*name), ns_name);
            obj.metadata.resource_version = server.resource_version.clone();
            WriteOp::UpdateSlice(obj)
        } else {
            WriteOp::DeleteSlice {
                name: String::from(&*name),
                preconditions: Preconditions {
                    uid: server.uid.clone(),
                    resource_version: server.resource_version.clone(),
                },
            }
        };
        self.push(plan, op, wop);
    }

    pub(super) fn mark_in_flight(&mut self, sid: SliceId, op: OpId) {
        if let Some(s) = self.st.slices.get_mut(sid) {
            s.in_flight = Some(op);
        }
    }

    /// The earliest time at which `flush` could plan something not yet due
    /// (the sync delay, the rate limiter and identity grace periods).
    pub fn next_due(&self) -> Option<u64> {
        // O(dirty slices): each is due after its sync delay and its backoff;
        // slices with a write in flight wait for the outcome instead.
        let delay = self.config.write.sync_delay_ms;
        let slice = self
            .st
            .slices
            .dirty_until(u64::MAX)
            .filter_map(|(since, sid)| {
                let s = self.st.slices.get(sid)?;
                s.in_flight
                    .is_none()
                    .then(|| since.saturating_add(delay).max(s.not_before))
            })
            .min()
            .map(|t| t.max(self.bucket.next_token_at(t)));
        match (slice, self.identities.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Sizes of `a - b` and `b - a` for sorted slices.
pub(super) fn sorted_difference_sizes(a: &[u64], b: &[u64]) -> (usize, usize) {
    let (mut i, mut j, mut only_a, mut only_b) = (0, 0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                only_a += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                only_b += 1;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    (only_a + a.len() - i, only_b + b.len() - j)
}
