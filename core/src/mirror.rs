//! An in-memory stand-in for the API server's CiliumEndpointSlice and
//! CiliumIdentity storage: it applies write ops with the server's rules
//! (resourceVersion on update, uid/resourceVersion preconditions on delete,
//! already-exists on create) and answers with the outcome the engine
//! expects. Tests replay plans onto it; the CLI uses it to run "as if every
//! write succeeded"; simulations inject failures into it.
//!
//! A mirror can start from, and follow, what a real server holds: the
//! objects a caller observed (a List, or watch events) go in through
//! [`Mirror::observe`] (or [`Mirror::observe_slice`] /
//! [`Mirror::observe_identity`]) exactly as given, with their
//! resourceVersion and uid. Feed it the same slices and identities the
//! engine is fed and the engine's writes apply to it as they would to that
//! server: an update of an adopted slice carries the resourceVersion the
//! mirror holds, a delete the uid it holds. The rules for observations are
//! the engine's own: DELETED removes the object whatever its body; ADDED or
//! MODIFIED of an identity replaces it; ADDED or MODIFIED of a slice
//! replaces it unless it is older (a smaller numeric resourceVersion) than
//! what is stored, a late watch echo. Before the engine's initial sync the
//! engine takes the last observation of a slice whatever its version: use
//! [`Mirror::observe_initial`] for those events. resourceVersions the
//! mirror assigns are always newer than any it observed.
//!
//! A light mirror ([`Mirror::light`]) answers every write and observation
//! exactly as a full one does, but keeps of each slice only what those
//! answers read: its metadata (name, uid, resourceVersion) and namespace,
//! not its endpoints. `sliceplane run` uses one: a full copy of every slice
//! written would be most of its memory.

use std::collections::BTreeMap;

use crate::model::{CiliumEndpointSlice, CiliumIdentity, EventType, Object, WatchEvent};
use crate::plan::{Outcome, Preconditions, WriteOp, WritePlan};
use crate::{Engine, Result};

/// What an observation did to the mirror (see [`Mirror::observe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// The object is now stored as given (ADDED or MODIFIED).
    Stored,
    /// The object was removed (DELETED), or was not there.
    Removed,
    /// Ignored: a slice older than the stored version (a late watch echo).
    Stale,
    /// Not a kind the mirror stores (only slices and identities are).
    NotStored,
}

/// Stored objects by name, with a cluster-wide resourceVersion counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mirror {
    /// Slices held, by name.
    pub slices: BTreeMap<String, CiliumEndpointSlice>,
    /// Identities held, by name.
    pub identities: BTreeMap<String, CiliumIdentity>,
    revision: u64,
    uids: u64,
    /// Slices are stored without their endpoints (see [`Mirror::light`]).
    light: bool,
}

/// `seen` is older than `known`: both numeric and `seen < known`. The
/// engine's own rule for late watch echoes; anything not numeric is never
/// older.
fn is_older_version(seen: Option<&str>, known: Option<&str>) -> bool {
    match (seen.map(str::parse::<u64>), known.map(str::parse::<u64>)) {
        (Some(Ok(a)), Some(Ok(b))) => a < b,
        _ => false,
    }
}

fn check_pre(pre: &Preconditions, uid: &Option<String>, rv: &Option<String>) -> bool {
    (pre.uid.is_none() || pre.uid == *uid)
        && (pre.resource_version.is_none() || pre.resource_version == *rv)
}

impl Mirror {
    /// An empty mirror.
    pub fn new() -> Self {
        Mirror::default()
    }

    /// An empty light mirror: same outcomes as [`Mirror::new`]'s, but the
    /// slices it holds have no endpoints (only their metadata and
    /// namespace), so it takes a small, fixed amount of memory per slice.
    pub fn light() -> Self {
        Mirror {
            light: true,
            ..Mirror::default()
        }
    }

    /// Whether slices are held without their endpoints.
    pub fn is_light(&self) -> bool {
        self.light
    }

    /// The slice as this mirror keeps it: whole, or without endpoints.
    fn kept(&self, s: &CiliumEndpointSlice) -> CiliumEndpointSlice {
        if self.light {
            CiliumEndpointSlice {
                api_version: s.api_version.clone(),
                kind: s.kind.clone(),
                metadata: s.metadata.clone(),
                namespace: s.namespace.clone(),
                endpoints: Default::default(),
            }
        } else {
            s.clone()
        }
    }

    /// Takes one observed watch event (or List item, as ADDED) as the
    /// server's state: a CiliumEndpointSlice or CiliumIdentity is stored
    /// exactly as given (resourceVersion, uid and content) or removed;
    /// other kinds are not stored. An older version of a stored slice is
    /// ignored ([`Observed::Stale`]), as the engine ignores it once synced.
    pub fn observe(&mut self, event: &WatchEvent) -> Observed {
        self.observe_event(event, true)
    }

    /// As [`observe`](Self::observe) for the events an engine gets before
    /// its initial sync is done: the last observation of a slice wins,
    /// whatever its version, as it does in the engine.
    pub fn observe_initial(&mut self, event: &WatchEvent) -> Observed {
        self.observe_event(event, false)
    }

    fn observe_event(&mut self, event: &WatchEvent, skip_stale: bool) -> Observed {
        let deleted = event.event_type == EventType::Deleted;
        match &event.object {
            Object::CiliumEndpointSlice(s) => self.store_slice(s, deleted, skip_stale),
            Object::CiliumIdentity(i) => self.observe_identity(i, deleted),
            _ => Observed::NotStored,
        }
    }

    /// Stores an observed slice as given, or removes it (`deleted`). A
    /// version older than the stored one is ignored ([`Observed::Stale`]).
    pub fn observe_slice(&mut self, slice: &CiliumEndpointSlice, deleted: bool) -> Observed {
        self.store_slice(slice, deleted, true)
    }

    fn store_slice(
        &mut self,
        slice: &CiliumEndpointSlice,
        deleted: bool,
        skip_stale: bool,
    ) -> Observed {
        let name = &slice.metadata.name;
        if deleted {
            self.slices.remove(name);
            return Observed::Removed;
        }
        let rv = slice.metadata.resource_version.as_deref();
        if skip_stale
            && let Some(cur) = self.slices.get(name)
            && is_older_version(rv, cur.metadata.resource_version.as_deref())
        {
            return Observed::Stale;
        }
        self.seen_rv(rv);
        let kept = self.kept(slice);
        self.slices.insert(name.clone(), kept);
        Observed::Stored
    }

    /// Stores an observed identity as given (the last observation wins, as
    /// in the engine), or removes it (`deleted`).
    pub fn observe_identity(&mut self, identity: &CiliumIdentity, deleted: bool) -> Observed {
        let name = &identity.metadata.name;
        if deleted {
            self.identities.remove(name);
            return Observed::Removed;
        }
        self.seen_rv(identity.metadata.resource_version.as_deref());
        self.identities.insert(name.clone(), identity.clone());
        Observed::Stored
    }

    /// Versions assigned from now on are newer than `rv` (when numeric).
    fn seen_rv(&mut self, rv: Option<&str>) {
        if let Some(Ok(n)) = rv.map(str::parse::<u64>) {
            self.revision = self.revision.max(n);
        }
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
                let mut s = self.kept(s);
                let (rv, uid) = (self.next_rv(), self.next_uid());
                s.metadata.resource_version = Some(rv.clone());
                s.metadata.uid = Some(uid.clone());
                self.slices.insert(s.metadata.name.clone(), s);
                Outcome::success(rv, uid)
            }
            WriteOp::UpdateSlice(s) => {
                let Some(cur) = self.slices.get(&s.metadata.name) else {
                    return Outcome::NotFound;
                };
                if s.metadata.resource_version.is_some()
                    && s.metadata.resource_version != cur.metadata.resource_version
                {
                    return Outcome::Conflict;
                }
                // A refused write does not use up a version.
                let rv = self.next_rv();
                let mut s = self.kept(s);
                let Some(cur) = self.slices.get_mut(&s.metadata.name) else {
                    return Outcome::NotFound;
                };
                let uid = cur.metadata.uid.clone();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CoreCiliumEndpoint, ObjectMeta};
    use crate::plan::Preconditions;

    fn slice(name: &str, rv: Option<&str>, uid: Option<&str>, eps: &[&str]) -> CiliumEndpointSlice {
        let mut s = CiliumEndpointSlice::new(name.to_string(), "shop".to_string());
        s.metadata = ObjectMeta {
            name: name.into(),
            resource_version: rv.map(Into::into),
            uid: uid.map(Into::into),
            ..Default::default()
        };
        s.endpoints = eps
            .iter()
            .map(|n| CoreCiliumEndpoint {
                name: (*n).into(),
                id: 1000,
                ..Default::default()
            })
            .collect();
        s
    }

    fn identity(name: &str, rv: &str, uid: &str) -> CiliumIdentity {
        let mut i = CiliumIdentity::new(name.to_string());
        i.metadata.resource_version = Some(rv.into());
        i.metadata.uid = Some(uid.into());
        i
    }

    /// One step of the light-mirror property: an observation or a write.
    #[derive(Debug, Clone)]
    enum Step {
        Observe(CiliumEndpointSlice, bool, bool),
        Apply(WriteOp),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        let name = prop_oneof![Just("ces-a"), Just("ces-b"), Just("ces-c")];
        let rv = proptest::option::of(prop_oneof![Just("1"), Just("5"), Just("9"), Just("x")]);
        let uid = proptest::option::of(prop_oneof![Just("u1"), Just("u2")]);
        let eps = proptest::collection::vec(prop_oneof![Just("p0"), Just("p1")], 0..3);
        let s = (name.clone(), rv.clone(), uid.clone(), eps)
            .prop_map(|(n, rv, uid, eps)| slice(n, rv, uid, &eps));
        let pre = (rv, uid).prop_map(|(rv, uid)| Preconditions {
            uid: uid.map(Into::into),
            resource_version: rv.map(Into::into),
        });
        prop_oneof![
            (s.clone(), any::<bool>(), any::<bool>()).prop_map(|(s, d, i)| Step::Observe(s, d, i)),
            s.clone().prop_map(|s| Step::Apply(WriteOp::CreateSlice(s))),
            s.prop_map(|s| Step::Apply(WriteOp::UpdateSlice(s))),
            (name, pre).prop_map(|(n, preconditions)| Step::Apply(WriteOp::DeleteSlice {
                name: n.into(),
                preconditions
            })),
        ]
    }

    proptest::proptest! {
        /// A light mirror answers every observation and write as a full
        /// one does, and holds the same slices without their endpoints.
        #[test]
        fn a_light_mirror_answers_as_a_full_one(steps in proptest::collection::vec(step(), 0..30)) {
            let (mut full, mut light) = (Mirror::new(), Mirror::light());
            for st in &steps {
                match st {
                    Step::Observe(s, deleted, initial) => {
                        let ev = if *deleted {
                            WatchEvent::deleted(Object::CiliumEndpointSlice(s.clone()))
                        } else {
                            WatchEvent::added(Object::CiliumEndpointSlice(s.clone()))
                        };
                        let (a, b) = if *initial {
                            (full.observe_initial(&ev), light.observe_initial(&ev))
                        } else {
                            (full.observe(&ev), light.observe(&ev))
                        };
                        proptest::prop_assert_eq!(a, b);
                    }
                    Step::Apply(op) => proptest::prop_assert_eq!(full.apply(op), light.apply(op)),
                }
                let stripped: BTreeMap<_, _> = full
                    .slices
                    .iter()
                    .map(|(k, s)| {
                        let mut s = s.clone();
                        s.endpoints = Default::default();
                        (k.clone(), s)
                    })
                    .collect();
                proptest::prop_assert_eq!(&light.slices, &stripped);
            }
        }
    }

    #[test]
    fn observed_slice_is_held_as_given_and_writes_apply_to_it() {
        let mut m = Mirror::new();
        let held = slice("ces-a", Some("500"), Some("uid-a"), &["p0", "p1", "p2"]);
        let ev = WatchEvent::added(Object::CiliumEndpointSlice(held.clone()));
        assert_eq!(m.observe(&ev), Observed::Stored);
        assert_eq!(m.slices.get("ces-a"), Some(&held));
        // A create of the same name is refused, nothing changes.
        let before = m.clone();
        let create = WriteOp::CreateSlice(slice("ces-a", None, None, &["p0"]));
        assert_eq!(m.apply(&create), Outcome::AlreadyExists);
        assert_eq!(m.slices, before.slices);
        // An update carrying another resourceVersion conflicts.
        let stale = WriteOp::UpdateSlice(slice("ces-a", Some("499"), None, &["p0"]));
        assert_eq!(m.apply(&stale), Outcome::Conflict);
        assert_eq!(m.slices, before.slices);
        // The update carrying the held resourceVersion applies; the uid is
        // kept, the new version is newer than the observed one.
        let update = WriteOp::UpdateSlice(slice("ces-a", Some("500"), None, &["p0"]));
        assert_eq!(
            m.apply(&update),
            Outcome::Success {
                resource_version: Some("501".into()),
                uid: Some("uid-a".into()),
            }
        );
        assert_eq!(m.slices["ces-a"].endpoints.len(), 1);
        // A delete with the held uid and version applies.
        let delete = WriteOp::DeleteSlice {
            name: "ces-a".into(),
            preconditions: Preconditions {
                uid: Some("uid-a".into()),
                resource_version: Some("501".into()),
            },
        };
        assert!(matches!(m.apply(&delete), Outcome::Success { .. }));
        assert!(m.slices.is_empty());
    }

    #[test]
    fn observations_follow_the_engine_rules() {
        let mut m = Mirror::new();
        assert_eq!(
            m.observe_slice(&slice("ces-a", Some("7"), Some("u"), &["p0"]), false),
            Observed::Stored
        );
        // A newer version replaces it.
        let newer = slice("ces-a", Some("9"), Some("u"), &["p0", "p1"]);
        assert_eq!(m.observe_slice(&newer, false), Observed::Stored);
        assert_eq!(m.slices["ces-a"], newer);
        // An older one (a late echo) is ignored.
        let older = slice("ces-a", Some("8"), Some("u"), &[]);
        assert_eq!(m.observe_slice(&older, false), Observed::Stale);
        assert_eq!(m.slices["ces-a"], newer);
        // Not numeric: never older, taken as given.
        let opaque = slice("ces-a", Some("abc"), Some("u"), &[]);
        assert_eq!(m.observe_slice(&opaque, false), Observed::Stored);
        assert_eq!(m.slices["ces-a"], opaque);
        // Before the initial sync the last observation wins.
        let ev = WatchEvent::added(Object::CiliumEndpointSlice(older.clone()));
        assert_eq!(m.observe_initial(&ev), Observed::Stored);
        assert_eq!(m.slices["ces-a"], older);
        // DELETED removes whatever its body says.
        let ev = WatchEvent::deleted(Object::CiliumEndpointSlice(slice(
            "ces-a",
            Some("1"),
            None,
            &[],
        )));
        assert_eq!(m.observe(&ev), Observed::Removed);
        assert!(m.slices.is_empty());
        // Identities: the last observation wins, as in the engine.
        let first = identity("1000", "45", "uid-i");
        assert_eq!(m.observe_identity(&first, false), Observed::Stored);
        let id = identity("1000", "40", "uid-i");
        assert_eq!(
            m.observe(&WatchEvent::added(Object::CiliumIdentity(id.clone()))),
            Observed::Stored
        );
        assert_eq!(m.identities["1000"], id);
        // A create planned over it is refused; the new ones get newer versions.
        let create = WriteOp::CreateIdentity(CiliumIdentity::new("1001"));
        match m.apply(&create) {
            Outcome::Success {
                resource_version, ..
            } => assert_eq!(resource_version.as_deref(), Some("46")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            m.apply(&WriteOp::CreateIdentity(CiliumIdentity::new("1000"))),
            Outcome::AlreadyExists
        );
        assert_eq!(m.identities["1000"], id);
        let delete = WriteOp::DeleteIdentity {
            name: "1000".into(),
            preconditions: Preconditions {
                uid: Some("uid-i".into()),
                resource_version: None,
            },
        };
        assert!(matches!(m.apply(&delete), Outcome::Success { .. }));
        let ev = WatchEvent::deleted(Object::CiliumIdentity(identity("1001", "0", "x")));
        assert_eq!(m.observe(&ev), Observed::Removed);
        assert!(m.identities.is_empty());
        // Other kinds are not stored.
        let ns = WatchEvent::added(Object::Namespace(Default::default()));
        assert_eq!(m.observe(&ns), Observed::NotStored);
    }
}
