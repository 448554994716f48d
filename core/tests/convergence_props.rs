//! Issue 3's proof: with random write failures, conflicts, foreign edits and
//! deletes of slices, and engine restarts at random points (in-flight writes
//! lost, sometimes after the server applied them), the server converges to
//! the desired state once failures stop, and a final restart plans nothing.

mod common;

use common::*;
use proptest::prelude::*;
use sliceplane::config::{SliceMode, Source};
use sliceplane::mirror::Mirror;
use sliceplane::model::{Object, WatchEvent};
use sliceplane::plan::{Outcome, WritePlan};
use sliceplane::{Config, Engine};

#[derive(Debug, Clone)]
enum Step {
    /// Endpoint `i` appears or changes (identity `id`).
    Upsert {
        i: u8,
        id: u8,
    },
    Delete {
        i: u8,
    },
    /// Flush at +ms; each write's fate from `fates` (cycled).
    Flush {
        ms: u16,
        fates: Vec<Fate>,
    },
    /// Another writer empties slice `k` (by name order) or deletes it.
    ForeignEdit {
        k: u8,
        delete: bool,
    },
    /// The engine restarts: a fresh one sees the server and the live endpoints.
    Restart,
}

#[derive(Debug, Clone, Copy)]
enum Fate {
    /// Applied by the server, outcome reported.
    Ok,
    /// Applied by the server, outcome lost (timeout seen by the engine as an error).
    AppliedButErrored,
    /// Not applied; an error is reported.
    Error,
    /// Not applied, no outcome at all (still in flight at the next restart).
    Lost,
}

fn step() -> impl Strategy<Value = Step> {
    let fate = prop_oneof![
        4 => Just(Fate::Ok),
        1 => Just(Fate::AppliedButErrored),
        1 => Just(Fate::Error),
        1 => Just(Fate::Lost),
    ];
    prop_oneof![
        5 => (0u8..10, 0u8..3).prop_map(|(i, id)| Step::Upsert { i, id }),
        2 => (0u8..10).prop_map(|i| Step::Delete { i }),
        4 => (0u16..3000, prop::collection::vec(fate, 1..4)).prop_map(|(ms, fates)| Step::Flush { ms, fates }),
        1 => (0u8..6, any::<bool>()).prop_map(|(k, delete)| Step::ForeignEdit { k, delete }),
        1 => Just(Step::Restart),
    ]
}

struct World {
    config: Config,
    engine: Engine,
    mirror: Mirror,
    /// Live endpoints: i → identity.
    live: std::collections::BTreeMap<u8, u8>,
    now: u64,
    /// A write's outcome was lost since the last restart.
    lost_in_flight: bool,
    /// What the server's watch has yet to deliver to the engine (as a CES
    /// informer does): every change to the stored slices, ours included.
    echoes: Vec<WatchEvent>,
}

fn endpoint_event(i: u8, id: u8, deleted: bool) -> WatchEvent {
    let c = cep(
        &format!("ns{}", i % 3),
        &format!("p{i}"),
        300 + i64::from(id),
        &ip(u32::from(i)),
    );
    if deleted {
        WatchEvent::deleted(Object::CiliumEndpoint(c))
    } else {
        WatchEvent::added(Object::CiliumEndpoint(c))
    }
}

impl World {
    fn new(config: Config) -> World {
        let mut engine = Engine::new(config.clone()).unwrap();
        engine.initial_sync_done(0);
        World {
            config,
            engine,
            mirror: Mirror::new(),
            live: Default::default(),
            now: 0,
            lost_in_flight: false,
            echoes: Vec::new(),
        }
    }

    fn restart(&mut self) {
        let mut e = Engine::new(self.config.clone()).unwrap();
        for s in self.mirror.slices.values() {
            e.apply(
                &WatchEvent::added(Object::CiliumEndpointSlice(s.clone())),
                self.now,
            )
            .unwrap();
        }
        for (&i, &id) in &self.live {
            e.apply(&endpoint_event(i, id, false), self.now).unwrap();
        }
        e.initial_sync_done(self.now);
        self.engine = e;
        self.lost_in_flight = false;
    }

    /// Applies a write to the server and queues its watch echo.
    fn server_apply(&mut self, op: &sliceplane::WriteOp) -> Outcome {
        let o = self.mirror.apply(op);
        if o.is_success() {
            let name = op.name().to_string();
            self.echoes.push(match self.mirror.slices.get(&name) {
                Some(s) => WatchEvent::modified(Object::CiliumEndpointSlice(s.clone())),
                None => WatchEvent::deleted(Object::CiliumEndpointSlice(
                    sliceplane::model::CiliumEndpointSlice::new(name, ""),
                )),
            });
        }
        o
    }

    /// The watch catches up.
    fn deliver_echoes(&mut self) {
        for ev in std::mem::take(&mut self.echoes) {
            self.engine.apply(&ev, self.now).unwrap();
        }
    }

    fn run_plan(&mut self, plan: &WritePlan, fates: &[Fate]) {
        for (n, w) in plan.writes.iter().enumerate() {
            match fates[n % fates.len()] {
                Fate::Ok => {
                    let o = self.server_apply(&w.op);
                    self.engine.report(w.id, &o, self.now).unwrap();
                }
                Fate::AppliedButErrored => {
                    self.server_apply(&w.op);
                    self.engine
                        .report(
                            w.id,
                            &Outcome::Error {
                                message: "timeout".into(),
                            },
                            self.now,
                        )
                        .unwrap();
                }
                Fate::Error => {
                    self.engine
                        .report(
                            w.id,
                            &Outcome::Error {
                                message: "503".into(),
                            },
                            self.now,
                        )
                        .unwrap();
                }
                Fate::Lost => self.lost_in_flight = true,
            }
        }
    }

    fn step(&mut self, s: &Step) {
        self.deliver_echoes();
        match s {
            Step::Upsert { i, id } => {
                self.live.insert(*i, *id);
                self.engine
                    .apply(&endpoint_event(*i, *id, false), self.now)
                    .unwrap();
            }
            Step::Delete { i } => {
                if let Some(id) = self.live.remove(i) {
                    self.engine
                        .apply(&endpoint_event(*i, id, true), self.now)
                        .unwrap();
                }
            }
            Step::Flush { ms, fates } => {
                self.now += u64::from(*ms);
                let plan = self.engine.flush(self.now);
                self.run_plan(&plan, fates);
            }
            Step::ForeignEdit { k, delete } => {
                let Some(name) = self.mirror.slices.keys().nth(usize::from(*k)).cloned() else {
                    return;
                };
                if *delete {
                    let gone = self.mirror.slices.remove(&name).unwrap();
                    self.echoes
                        .push(WatchEvent::deleted(Object::CiliumEndpointSlice(gone)));
                } else {
                    let mut s = self.mirror.slices[&name].clone();
                    s.endpoints.clear();
                    assert!(
                        self.server_apply(&sliceplane::WriteOp::UpdateSlice(s))
                            .is_success()
                    );
                }
            }
            Step::Restart => self.restart(),
        }
    }
}

fn check(mode: SliceMode, max: u32, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut c = config(Source::Ciliumendpoints, mode, max);
    c.write.sync_delay_ms = 100;
    // Cilium's default limiter (10/s, burst 20): convergence must not depend on it being off.
    c.write.rate_limits = Config::default().write.rate_limits;
    c.write.retry.base_ms = 50;
    c.write.retry.cap_ms = 400;
    // Never exhausted here: dropping after the retries is a scenario test of its own.
    c.write.retry.max_retries = 1_000;
    let mut w = World::new(c);
    for s in steps {
        w.step(s);
        w.engine.check_invariants().map_err(TestCaseError::fail)?;
    }
    // Failures stop. A write whose outcome never came back is only recovered
    // by a restart (the operator's process died with it); everything else
    // must converge from the engine's own retries and observations.
    if w.lost_in_flight {
        w.restart();
    }
    w.now += 1_000_000;
    // Settle with the watch running: flush, apply, deliver echoes, until quiet.
    for _ in 0..200 {
        w.deliver_echoes();
        let plan = w.engine.flush(w.now);
        if plan.is_empty() {
            match w.engine.next_due() {
                Some(due) if w.engine.stats().dirty_slices > 0 => w.now = w.now.max(due),
                _ => break,
            }
            continue;
        }
        w.run_plan(&plan, &[Fate::Ok]);
        w.engine.check_invariants().map_err(TestCaseError::fail)?;
    }
    prop_assert_eq!(w.engine.stats().in_flight, 0);
    prop_assert_eq!(
        w.engine.desired_slices(),
        w.mirror.slices_without_meta(),
        "converged"
    );
    // Every live endpoint is on the server exactly once.
    let mut seen = std::collections::BTreeMap::new();
    for s in w.mirror.slices.values() {
        prop_assert!(!s.endpoints.is_empty() && s.endpoints.len() <= max as usize);
        for e in &s.endpoints {
            prop_assert!(
                seen.insert((s.namespace.clone(), e.name.to_string()), e.id)
                    .is_none(),
                "duplicate {}",
                e.name
            );
        }
    }
    let expected: std::collections::BTreeMap<_, _> = w
        .live
        .iter()
        .map(|(&i, &id)| {
            (
                (format!("ns{}", i % 3), format!("p{i}")),
                300 + i64::from(id),
            )
        })
        .collect();
    prop_assert_eq!(seen, expected);
    // A final restart plans nothing.
    w.restart();
    let plan = w.engine.flush(w.now + 10_000_000);
    prop_assert!(
        plan.is_empty(),
        "restart planned:\n{}",
        plan.to_json_lines()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn converges_after_failures_edits_and_restarts_fcfs(steps in prop::collection::vec(step(), 1..60), max in 1u32..4) {
        check(SliceMode::Fcfs, max, &steps)?;
    }

    #[test]
    fn converges_after_failures_edits_and_restarts_identity(steps in prop::collection::vec(step(), 1..60), max in 1u32..4) {
        check(SliceMode::Identity, max, &steps)?;
    }
}
