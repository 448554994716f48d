//! An in-memory stand-in for the API server's CiliumEndpointSlice and
//! CiliumIdentity storage: it applies write ops with the server's rules
//! (resourceVersion on update, uid/resourceVersion preconditions on delete,
//! already-exists on create) and answers with the outcome the engine
//! expects. Tests replay plans onto it; the CLI uses it to run "as if every
//! write succeeded"; simulations inject failures into it.

use std::collections::BTreeMap;

use crate::model::{CiliumEndpointSlice, CiliumIdentity};
use crate::plan::{Outcome, Preconditions, WriteOp, WritePlan};
use crate::{Engine, Result};

/// Stored objects by name, with a cluster-wide resourceVersion counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mirror {
    pub slices: BTreeMap<String, CiliumEndpointSlice>,
    pub identities: BTreeMap<String, CiliumIdentity>,
    revision: u64,
    uids: u64,
}

fn check_pre(pre: &Preconditions, uid: &Option<String>, rv: &Option<String>) -> bool {
    (pre.uid.is_none() || pre.uid == *uid)
        && (pre.resource_version.is_none() || pre.resource_version == *rv)
}

impl Mirror {
    pub fn new() -> Self {
        Mirror::default()
    }

    fn next_rv(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.uids)
    }

    /// Applies one write as the API server would.
    pub fn apply(&mut self, op: &WriteOp) -> Outcome {
        match op {
            WriteOp::CreateSlice(s) => {
                if self.slices.contains_key(&s.metadata.name) {
                    return Outcome::AlreadyExists;
                }
                let mut s = s.clone();
                let (rv, uid) = (self.next_rv(), self.next_uid());
                s.metadata.resource_version = Some(rv.clone());
                s.metadata.uid = Some(uid.clone());
                self.slices.insert(s.metadata.name.clone(), s);
                Outcome::success(rv, uid)
            }
            WriteOp::UpdateSlice(s) => {
                let rv = self.next_rv();
                let Some(cur) = self.slices.get_mut(&s.metadata.name) else {
                    return Outcome::NotFound;
                };
                if s.metadata.resource_version.is_some()
                    && s.metadata.resource_version != cur.metadata.resource_version
                {
                    return Outcome::Conflict;
                }
                let uid = cur.metadata.uid.clone();
                let mut s = s.clone();
                s.metadata.resource_version = Some(rv.clone());
                s.metadata.uid = uid.clone();
                *cur = s;
                Outcome::Success {
                    resource_version: Some(rv),
                    uid,
                }
            }
            WriteOp::DeleteSlice {
                name,
                preconditions,
            } => {
                let Some(cur) = self.slices.get(name) else {
                    return Outcome::NotFound;
                };
                if !check_pre(
                    preconditions,
                    &cur.metadata.uid,
                    &cur.metadata.resource_version,
                ) {
                    return Outcome::Conflict;
                }
                self.slices.remove(name);
                Outcome::Success {
                    resource_version: None,
                    uid: None,
                }
            }
            WriteOp::CreateIdentity(i) => {
                if self.identities.contains_key(&i.metadata.name) {
                    return Outcome::AlreadyExists;
                }
                let mut i = i.clone();
                let (rv, uid) = (self.next_rv(), self.next_uid());
                i.metadata.resource_version = Some(rv.clone());
                i.metadata.uid = Some(uid.clone());
                self.identities.insert(i.metadata.name.clone(), i);
                Outcome::success(rv, uid)
            }
            WriteOp::DeleteIdentity {
                name,
                preconditions,
            } => {
                let Some(cur) = self.identities.get(name) else {
                    return Outcome::NotFound;
                };
                if !check_pre(
                    preconditions,
                    &cur.metadata.uid,
                    &cur.metadata.resource_version,
                ) {
                    return Outcome::Conflict;
                }
                self.identities.remove(name);
                Outcome::Success {
                    resource_version: None,
                    uid: None,
                }
            }
        }
    }

    /// Applies a whole plan and reports every outcome to the engine.
    pub fn apply_plan(&mut self, engine: &mut Engine, plan: &WritePlan, now: u64) -> Result<()> {
        for w in &plan.writes {
            let outcome = self.apply(&w.op);
            engine.report(w.id, &outcome, now)?;
        }
        Ok(())
    }

    /// Flushes and applies until nothing more is due (at most `rounds`
    /// flushes that planned something), returning the number of writes.
    /// Time moves forward to whenever the engine says the next write is due
    /// (sync delay, rate limiter, backoff), but never past identity grace
    /// periods: identities age out only when the caller's own time says so.
    pub fn settle(&mut self, engine: &mut Engine, now: u64, rounds: usize) -> Result<usize> {
        let mut t = now.saturating_add(engine.config().write.sync_delay_ms);
        let mut writes = 0;
        let mut planned_rounds = 0;
        // Bounded: each round either plans writes or advances to a due time.
        for _ in 0..rounds.saturating_mul(4).max(4) {
            let plan = engine.flush(t);
            if plan.is_empty() {
                match engine.next_due() {
                    Some(due) if due > t && engine.stats().dirty_slices > 0 => {
                        t = due;
                        continue;
                    }
                    _ => break,
                }
            }
            writes += plan.len();
            self.apply_plan(engine, &plan, t)?;
            planned_rounds += 1;
            if planned_rounds >= rounds {
                break;
            }
        }
        Ok(writes)
    }

    /// Slices without server-managed metadata (for comparison with the desired state).
    pub fn slices_without_meta(&self) -> Vec<CiliumEndpointSlice> {
        self.slices
            .values()
            .map(|s| {
                let mut s = s.clone();
                s.metadata.resource_version = None;
                s.metadata.uid = None;
                s
            })
            .collect()
    }

    /// Identities without server-managed metadata.
    pub fn identities_without_meta(&self) -> Vec<CiliumIdentity> {
        self.identities
            .values()
            .map(|i| {
                let mut i = i.clone();
                i.metadata.resource_version = None;
                i.metadata.uid = None;
                i
            })
            .collect()
    }
}
