//! **Propagation delay** (simulated ms): an endpoint event at `t0` is
//! propagated by the first slice write at `t ≥ t0` that carries the
//! endpoint's new state: a create or update of a slice that lists it (added
//! or changed), or that no longer lists it / the slice's delete (removed).
//! Its delay is `t - t0`. Events whose change needed no write (a pod gone
//! before it was ever written, a change that does not show in a slice) are
//! counted apart as `unwritten`. PRD NFR1: every update within 100 ms.

use std::collections::{HashMap, HashSet};

use sliceplane::WriteOp;
use sliceplane::model::{EventType, Object};
use sliceplane_workload::TimedEvent;

#[derive(Default)]
struct Pending {
    times: Vec<u64>,
    present: bool,
}

/// Tracks which slice carries each endpoint, and the endpoint events still
/// waiting for the write that carries them (see the module docs).
#[derive(Default)]
pub(super) struct Propagation {
    /// (namespace, endpoint name) → events waiting.
    pending: HashMap<(String, String), Pending>,
    /// Slice name → (namespace, endpoint names) as last written.
    members: HashMap<String, (String, Vec<String>)>,
}

impl Propagation {
    pub(super) fn event(&mut self, ev: &TimedEvent) {
        let meta = ev.event.object.metadata();
        let ns = match &ev.event.object {
            Object::Pod(_) | Object::CiliumEndpoint(_) => meta.namespace.clone(),
            _ => None,
        };
        if let Some(ns) = ns {
            let p = self.pending.entry((ns, meta.name.clone())).or_default();
            p.times.push(ev.at_ms);
            p.present = ev.event.event_type != EventType::Deleted;
        }
    }

    pub(super) fn done(
        &mut self,
        key: &(String, String),
        want_present: bool,
        now: u64,
        out: &mut Vec<u64>,
    ) {
        if self
            .pending
            .get(key)
            .is_some_and(|p| p.present == want_present)
            && let Some(p) = self.pending.remove(key)
        {
            out.extend(p.times.into_iter().map(|t| now.saturating_sub(t)));
        }
    }

    pub(super) fn write(&mut self, op: &WriteOp, now: u64, out: &mut Vec<u64>) {
        match op {
            WriteOp::CreateSlice(s) | WriteOp::UpdateSlice(s) => {
                let names: Vec<String> = s.endpoints.iter().map(|e| e.name.to_string()).collect();
                if !self.pending.is_empty() {
                    for n in &names {
                        self.done(&(s.namespace.clone(), n.clone()), true, now, out);
                    }
                    if let Some((ns, old)) = self.members.get(&s.metadata.name) {
                        let now_in: HashSet<&str> = names.iter().map(String::as_str).collect();
                        let gone: Vec<(String, String)> = old
                            .iter()
                            .filter(|n| !now_in.contains(n.as_str()))
                            .map(|n| (ns.clone(), n.clone()))
                            .collect();
                        for k in gone {
                            self.done(&k, false, now, out);
                        }
                    }
                }
                self.members
                    .insert(s.metadata.name.clone(), (s.namespace.clone(), names));
            }
            WriteOp::DeleteSlice { name, .. } => {
                if let Some((ns, old)) = self.members.remove(name) {
                    for n in old {
                        self.done(&(ns.clone(), n), false, now, out);
                    }
                }
            }
            _ => {}
        }
    }

    /// Events still waiting: their change needed no write. Clears them.
    pub(super) fn take_unwritten(&mut self) -> u64 {
        let n = self.pending.values().map(|p| p.times.len() as u64).sum();
        self.pending.clear();
        n
    }
}
