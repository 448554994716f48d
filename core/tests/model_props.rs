//! Property tests: random event sequences against a simple reference model
//! (DESIGN.md §3–§5). The model knows which objects exist and which of them
//! are live endpoints; the engine must place every live endpoint in exactly
//! one well-formed slice, converge the mirror to its desired state once
//! failures stop, plan nothing for no-ops, restart with zero writes, and be
//! deterministic.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use proptest::prelude::*;
use sliceplane::config::{SliceMode, Source};
use sliceplane::mirror::Mirror;
use sliceplane::model::{CiliumEndpoint, CiliumNode, Namespace, Object, Pod, WatchEvent};
use sliceplane::plan::{Outcome, WriteOp};
use sliceplane::{Config, Engine};

const NAMESPACES: [&str; 3] = ["ns-a", "ns-b", "ns-c"];
const NAMES: usize = 12;
const APPS: [&str; 3] = ["web", "db", "cache"];
const NODES: [&str; 2] = ["node-1", "node-2"];
/// Far enough for every backoff (cap 100 s) and the identity grace (15 min).
const FAR: u64 = 100_000_000;

#[derive(Debug, Clone)]
enum Op {
    /// Add or modify an endpoint object (CEP or pod). `attr` picks the
    /// identity (CEP) or the app label (pod); `ipv` the IP; `node` the node.
    Upsert {
        ns: u8,
        name: u8,
        attr: u8,
        ipv: u8,
        node: u8,
    },
    Delete {
        ns: u8,
        name: u8,
    },
    /// CEP without networking / pod that finished: present but not an endpoint.
    NotReady {
        ns: u8,
        name: u8,
    },
    /// Namespace label change (identity-relevant in pods mode).
    NsLabel {
        ns: u8,
        team: u8,
    },
    /// CiliumNode change (node IP and encryption key).
    Node {
        node: u8,
        key: u8,
        ipv: u8,
    },
    /// Another writer deletes (kind 0) or edits (kind 1: drops the last
    /// entry) a slice on the server; the engine observes it and must repair.
    Foreign {
        pick: u8,
        kind: u8,
    },
    /// Flush at `now += dt`; outcomes drawn from `outcomes`.
    Flush {
        dt: u16,
        outcomes: u64,
    },
}

#[derive(Debug, Clone)]
struct Case {
    source: Source,
    mode: SliceMode,
    max: u32,
    sync_delay: u64,
    namespaces: usize,
    /// Percentage of writes that fail (Error or Conflict, not applied).
    fail_pct: u64,
    /// Percentage of writes whose outcome arrives only at the next flush
    /// (writes in flight while events arrive and the engine plans again).
    defer_pct: u64,
    /// Compaction on (small move budget); fcfs stickiness is then not checked.
    compaction: bool,
    /// Ops applied before `initial_sync_done`.
    before_sync: usize,
    ops: Vec<Op>,
}

fn op_strategy(namespaces: usize) -> impl Strategy<Value = Op> {
    let ns = 0..namespaces as u8;
    prop_oneof![
        6 => (ns.clone(), 0..NAMES as u8, 0..5u8, 0..4u8, 0..2u8)
            .prop_map(|(ns, name, attr, ipv, node)| Op::Upsert { ns, name, attr, ipv, node }),
        3 => (ns.clone(), 0..NAMES as u8).prop_map(|(ns, name)| Op::Delete { ns, name }),
        1 => (ns.clone(), 0..NAMES as u8).prop_map(|(ns, name)| Op::NotReady { ns, name }),
        1 => (ns, 0..3u8).prop_map(|(ns, team)| Op::NsLabel { ns, team }),
        1 => (0..2u8, 0..3u8, 0..3u8).prop_map(|(node, key, ipv)| Op::Node { node, key, ipv }),
        1 => (any::<u8>(), 0..2u8).prop_map(|(pick, kind)| Op::Foreign { pick, kind }),
        4 => (0..1500u16, any::<u64>()).prop_map(|(dt, outcomes)| Op::Flush { dt, outcomes }),
    ]
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(Source::Ciliumendpoints), Just(Source::Pods)],
        prop_oneof![Just(SliceMode::Fcfs), Just(SliceMode::Identity)],
        1..=4u32,
        prop_oneof![Just(0u64), Just(500u64)],
        2..=3usize,
        prop_oneof![Just(0u64), Just(20u64), Just(50u64)],
        0..6usize,
        (prop_oneof![Just(0u64), Just(30u64)], any::<bool>()),
    )
        .prop_flat_map(
            |(
                source,
                mode,
                max,
                sync_delay,
                namespaces,
                fail_pct,
                before_sync,
                (defer_pct, compaction),
            )| {
                proptest::collection::vec(op_strategy(namespaces), 1..60).prop_map(move |ops| {
                    Case {
                        source,
                        mode,
                        max,
                        sync_delay,
                        namespaces,
                        fail_pct,
                        defer_pct,
                        compaction,
                        before_sync,
                        ops,
                    }
                })
            },
        )
}

// ------------------------------------------------------------ the model

/// The objects that exist, by key, as last written.
#[derive(Debug, Default, Clone)]
struct Model {
    ceps: BTreeMap<(String, String), CiliumEndpoint>,
    pods: BTreeMap<(String, String), Pod>,
    namespaces: BTreeMap<String, Namespace>,
    nodes: BTreeMap<String, CiliumNode>,
}

fn ns_team(ns: &Namespace) -> Option<String> {
    ns.metadata.labels.get("team").cloned()
}

impl Model {
    /// The live endpoints: (ns, name) → (IPv4, CEP identity or the pod's identity key).
    fn live(&self, source: Source) -> BTreeMap<(String, String), (String, String)> {
        match source {
            Source::Ciliumendpoints => self
                .ceps
                .iter()
                .filter_map(|(k, c)| {
                    let id = c.status.identity.as_ref()?.id;
                    let net = c.status.networking.as_ref()?;
                    let ip = net.addressing.first()?.ipv4.as_deref()?.to_string();
                    Some((k.clone(), (ip, id.to_string())))
                })
                .collect(),
            Source::Pods => self
                .pods
                .iter()
                .filter(|(_, p)| p.status.phase.as_deref() == Some("Running"))
                .map(|(k, p)| {
                    let team = self.namespaces.get(&k.0).and_then(ns_team);
                    let key = format!("{}|{}|{:?}", k.0, p.metadata.labels["app"], team);
                    (k.clone(), (p.status.pod_ip.clone().unwrap(), key))
                })
                .collect(),
        }
    }

    /// Every object that exists, as ADDED/MODIFIED events: namespaces and
    /// nodes first, then endpoints.
    fn objects(&self, source: Source) -> Vec<Object> {
        let mut v: Vec<Object> = Vec::new();
        v.extend(self.namespaces.values().cloned().map(Object::Namespace));
        v.extend(self.nodes.values().cloned().map(Object::CiliumNode));
        match source {
            Source::Ciliumendpoints => {
                v.extend(self.ceps.values().cloned().map(Object::CiliumEndpoint))
            }
            Source::Pods => v.extend(self.pods.values().cloned().map(Object::Pod)),
        }
        v
    }
}

fn endpoint_ip(ns: u8, name: u8, ipv: u8) -> String {
    format!("10.{}.{}.{}", ns + 1, name + 1, ipv + 1)
}

/// Turns an op into the event to apply, updating the model.
fn event_for(case: &Case, model: &mut Model, op: &Op) -> Option<WatchEvent> {
    let key = |ns: u8, name: u8| (NAMESPACES[ns as usize].to_string(), format!("ep-{name}"));
    let typed = |exists: bool, o: Object| {
        if exists {
            WatchEvent::modified(o)
        } else {
            WatchEvent::added(o)
        }
    };
    match (op, case.source) {
        (
            Op::Upsert {
                ns,
                name,
                attr,
                ipv,
                ..
            },
            Source::Ciliumendpoints,
        ) => {
            let k = key(*ns, *name);
            let c = cep(
                &k.0,
                &k.1,
                256 + *attr as i64,
                &endpoint_ip(*ns, *name, *ipv),
            );
            let exists = model.ceps.insert(k, c.clone()).is_some();
            Some(typed(exists, Object::CiliumEndpoint(c)))
        }
        (
            Op::Upsert {
                ns,
                name,
                attr,
                ipv,
                node,
            },
            Source::Pods,
        ) => {
            let k = key(*ns, *name);
            let p = pod(
                &k.0,
                &k.1,
                APPS[*attr as usize % APPS.len()],
                NODES[*node as usize],
                &endpoint_ip(*ns, *name, *ipv),
            );
            let exists = model.pods.insert(k, p.clone()).is_some();
            Some(typed(exists, Object::Pod(p)))
        }
        (Op::Delete { ns, name }, Source::Ciliumendpoints) => {
            let k = key(*ns, *name);
            let old = model
                .ceps
                .remove(&k)
                .unwrap_or_else(|| cep(&k.0, &k.1, 256, "10.9.9.9"));
            Some(WatchEvent::deleted(Object::CiliumEndpoint(old)))
        }
        (Op::Delete { ns, name }, Source::Pods) => {
            let k = key(*ns, *name);
            let old = model
                .pods
                .remove(&k)
                .unwrap_or_else(|| pod(&k.0, &k.1, "web", "node-1", "10.9.9.9"));
            Some(WatchEvent::deleted(Object::Pod(old)))
        }
        (Op::NotReady { ns, name }, Source::Ciliumendpoints) => {
            let k = key(*ns, *name);
            let mut c = cep(&k.0, &k.1, 256, "10.9.9.9");
            c.status.networking = None;
            let exists = model.ceps.insert(k, c.clone()).is_some();
            Some(typed(exists, Object::CiliumEndpoint(c)))
        }
        (Op::NotReady { ns, name }, Source::Pods) => {
            let k = key(*ns, *name);
            let mut p = pod(&k.0, &k.1, "web", "node-1", "10.9.9.9");
            p.status.phase = Some("Succeeded".into());
            let exists = model.pods.insert(k, p.clone()).is_some();
            Some(typed(exists, Object::Pod(p)))
        }
        (Op::NsLabel { ns, team }, _) => {
            let name = NAMESPACES[*ns as usize];
            let n = match team {
                0 => namespace(name, &[]),
                1 => namespace(name, &[("team", "a")]),
                _ => namespace(name, &[("team", "b")]),
            };
            model.namespaces.insert(name.to_string(), n.clone());
            Some(WatchEvent::modified(Object::Namespace(n)))
        }
        (Op::Node { node, key, ipv }, _) => {
            let name = NODES[*node as usize];
            let n = cilium_node(
                name,
                &format!("192.168.{}.{}", node + 1, ipv + 1),
                *key as i64,
            );
            let exists = model.nodes.insert(name.to_string(), n.clone()).is_some();
            Some(typed(exists, Object::CiliumNode(n)))
        }
        (Op::Flush { .. } | Op::Foreign { .. }, _) => None,
    }
}

fn cfg(case: &Case) -> Config {
    let mut c = config(case.source, case.mode, case.max);
    c.write.sync_delay_ms = case.sync_delay;
    c.seed = 7;
    c.slicing.compaction.enabled = case.compaction;
    c.slicing.compaction.move_budget = 2;
    c
}

// ------------------------------------------------------------ invariants

fn check_slices(case: &Case, model: &Model, e: &Engine) -> Result<(), TestCaseError> {
    let live = model.live(case.source);
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut ids_by_key: BTreeMap<String, String> = BTreeMap::new();
    let mut keys_by_id: BTreeMap<String, String> = BTreeMap::new();
    for s in e.desired_slices() {
        prop_assert!(
            !s.endpoints.is_empty() && s.endpoints.len() <= case.max as usize,
            "slice {} has {} endpoints (max {})",
            s.metadata.name,
            s.endpoints.len(),
            case.max
        );
        if case.mode == SliceMode::Identity {
            let first = s.endpoints[0].id;
            prop_assert!(
                s.endpoints.iter().all(|x| x.id == first),
                "identity-mode slice {} mixes identities",
                s.metadata.name
            );
        }
        for x in &s.endpoints {
            let k = (s.namespace.clone(), x.name.to_string());
            prop_assert!(seen.insert(k.clone()), "{k:?} is in two slices");
            let Some((ip, idkey)) = live.get(&k) else {
                return Err(TestCaseError::fail(format!(
                    "slice {} holds {k:?}, which is not live",
                    s.metadata.name
                )));
            };
            let got_ip = x
                .networking
                .addressing
                .first()
                .and_then(|a| a.ipv4.as_deref());
            prop_assert_eq!(got_ip, Some(ip.as_str()), "IP of {:?}", k);
            let (slice_name, identity) = e.endpoint(&k.0, &k.1).expect("live endpoint known");
            prop_assert_eq!(slice_name, Some(s.metadata.name.as_str()));
            prop_assert_eq!(identity.map(i64::from), Some(x.id));
            match case.source {
                Source::Ciliumendpoints => prop_assert_eq!(&x.id.to_string(), idkey),
                Source::Pods => {
                    // Node IP and IPsec key come from the pod's CiliumNode.
                    let node = model.pods[&k].spec.node_name.clone().unwrap();
                    let cn = &model.nodes[&node];
                    prop_assert_eq!(
                        x.networking.node.as_deref(),
                        Some(cn.spec.addresses[0].ip.as_str()),
                        "node IP of {:?}",
                        k
                    );
                    prop_assert_eq!(
                        x.encryption.key,
                        cn.spec.encryption.as_ref().map_or(0, |e| e.key),
                        "encryption key of {:?}",
                        k
                    );
                    // Same security labels ⇔ same number.
                    let id = x.id.to_string();
                    if let Some(prev) = ids_by_key.insert(idkey.clone(), id.clone()) {
                        prop_assert_eq!(&prev, &id, "labels {} got two numbers", idkey);
                    }
                    if let Some(prev) = keys_by_id.insert(id.clone(), idkey.clone()) {
                        prop_assert_eq!(&prev, idkey, "number {} shared by two label sets", id);
                    }
                }
            }
        }
    }
    let missing: Vec<_> = live.keys().filter(|k| !seen.contains(*k)).collect();
    prop_assert!(
        missing.is_empty(),
        "live endpoints in no slice: {missing:?}"
    );
    for s in e.desired_slices() {
        prop_assert!(NAMESPACES[..case.namespaces].contains(&s.namespace.as_str()));
    }
    Ok(())
}

/// Edits the mirror as another writer would and returns the watch event the
/// engine observes.
fn foreign_edit(m: &mut Mirror, pick: u8, kind: u8) -> Option<WatchEvent> {
    let name = m
        .slices
        .keys()
        .nth(pick as usize % m.slices.len().max(1))?
        .clone();
    if kind == 0 {
        let s = m.slices.remove(&name)?;
        return Some(WatchEvent::deleted(Object::CiliumEndpointSlice(s)));
    }
    let mut s = m.slices[&name].clone();
    s.endpoints.pop()?;
    assert!(m.apply(&WriteOp::UpdateSlice(s)).is_success());
    let stored = m.slices[&name].clone();
    Some(WatchEvent::modified(Object::CiliumEndpointSlice(stored)))
}

/// fcfs: an endpoint stays in its slice for life, even when its identity
/// or IP changes (DESIGN.md §4); leaving (delete, not ready) ends its life.
fn check_sticky(
    case: &Case,
    model: &Model,
    e: &Engine,
    sticky: &mut BTreeMap<(String, String), String>,
) -> Result<(), TestCaseError> {
    let live = model.live(case.source);
    sticky.retain(|k, _| live.contains_key(k));
    for k in live.keys() {
        let (slice, _) = e.endpoint(&k.0, &k.1).expect("live endpoint known");
        let slice = slice.expect("live endpoint placed").to_string();
        if let Some(prev) = sticky.insert(k.clone(), slice.clone()) {
            prop_assert_eq!(prev, slice, "fcfs endpoint {:?} moved", k);
        }
    }
    Ok(())
}

/// Sends one write: an injected failure (not applied) or the mirror's answer.
fn send(case: &Case, m: &mut Mirror, op: &WriteOp, rng: &mut u64) -> Outcome {
    let r = draw(rng) % 100;
    if r < case.fail_pct / 2 {
        Outcome::Error {
            message: "injected".into(),
        }
    } else if r < case.fail_pct {
        Outcome::Conflict
    } else {
        m.apply(op)
    }
}

struct Run {
    trace: String,
    engine: Engine,
    mirror: Mirror,
    model: Model,
    now: u64,
}

fn draw(state: &mut u64) -> u64 {
    // SplitMix64.
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn run(case: &Case) -> Result<Run, TestCaseError> {
    let mut e = Engine::new(cfg(case)).unwrap();
    let mut m = Mirror::new();
    let mut model = Model::default();
    let mut trace = String::new();
    let mut now = 0u64;
    // Namespaces and nodes exist from the start.
    for name in NAMESPACES.iter().take(case.namespaces) {
        let n = namespace(name, &[]);
        model.namespaces.insert(name.to_string(), n.clone());
        e.apply(&WatchEvent::added(Object::Namespace(n)), now)
            .unwrap();
    }
    for (i, name) in NODES.iter().enumerate() {
        let n = cilium_node(name, &format!("192.168.{}.1", i + 1), 0);
        model.nodes.insert(name.to_string(), n.clone());
        e.apply(&WatchEvent::added(Object::CiliumNode(n)), now)
            .unwrap();
    }
    let mut synced = false;
    let mut pending: Vec<(sliceplane::OpId, WriteOp)> = Vec::new();
    // fcfs: (ns, name) → slice, for endpoints live without a break since placement.
    let mut sticky: BTreeMap<(String, String), String> = BTreeMap::new();
    for (i, op) in case.ops.iter().enumerate() {
        if !synced && i >= case.before_sync {
            e.initial_sync_done(now);
            synced = true;
            check_slices(case, &model, &e)?;
        }
        if let Some(ev) = event_for(case, &mut model, op) {
            e.apply(&ev, now)
                .map_err(|err| TestCaseError::fail(format!("apply {ev:?}: {err}")))?;
        } else if let Op::Foreign { pick, kind } = op {
            if let Some(ev) = foreign_edit(&mut m, *pick, *kind) {
                trace.push_str(&format!("foreign {ev:?}\n"));
                e.apply(&ev, now).unwrap();
            }
        } else if let Op::Flush { dt, outcomes } = op {
            if !synced {
                continue;
            }
            now += *dt as u64;
            let mut rng = *outcomes;
            // Outcomes of writes sent at the previous flush arrive first.
            for (id, op) in std::mem::take(&mut pending) {
                let outcome = send(case, &mut m, &op, &mut rng);
                trace.push_str(&format!("late {outcome:?}\n"));
                e.report(id, &outcome, now).unwrap();
            }
            let plan = e.flush(now);
            trace.push_str(&plan.to_json_lines());
            for w in &plan.writes {
                if draw(&mut rng) % 100 < case.defer_pct {
                    pending.push((w.id, w.op.clone()));
                    continue;
                }
                let outcome = send(case, &mut m, &w.op, &mut rng);
                trace.push_str(&format!("{outcome:?}\n"));
                e.report(w.id, &outcome, now).unwrap();
            }
        }
        e.check_invariants().map_err(TestCaseError::fail)?;
        if synced {
            check_slices(case, &model, &e)?;
            if case.mode == SliceMode::Fcfs && !case.compaction {
                check_sticky(case, &model, &e, &mut sticky)?;
            }
        }
    }
    if !synced {
        e.initial_sync_done(now);
        check_slices(case, &model, &e)?;
    }
    e.check_invariants().map_err(TestCaseError::fail)?;
    let mut rng = 1;
    for (id, op) in pending {
        let outcome = send(case, &mut m, &op, &mut rng);
        trace.push_str(&format!("late {outcome:?}\n"));
        e.report(id, &outcome, now).unwrap();
    }
    prop_assert_eq!(e.in_flight(), 0);
    Ok(Run {
        trace,
        engine: e,
        mirror: m,
        model,
        now,
    })
}

/// Flushes with every write succeeding until nothing is planned; time
/// advances 10 s a round so the token bucket refills.
fn settle(e: &mut Engine, m: &mut Mirror, now: &mut u64, trace: &mut String) {
    for _ in 0..100 {
        *now += 10_000;
        let plan = e.flush(*now);
        if plan.is_empty() {
            return;
        }
        trace.push_str(&plan.to_json_lines());
        m.apply_plan(e, &plan, *now).unwrap();
    }
    panic!("no convergence after 100 rounds");
}

/// Desired identities in the mirror's order (by name, not by number).
fn by_name(
    mut v: Vec<sliceplane::model::CiliumIdentity>,
) -> Vec<sliceplane::model::CiliumIdentity> {
    v.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    v
}

fn check_converged(case: &Case, e: &Engine, m: &Mirror) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.desired_slices(), m.slices_without_meta());
    if case.source == Source::Pods {
        prop_assert_eq!(by_name(e.desired_identities()), m.identities_without_meta());
    }
    Ok(())
}

fn check_case(case: &Case) -> Result<(), TestCaseError> {
    let Run {
        mut trace,
        mut engine,
        mut mirror,
        model,
        mut now,
    } = run(case)?;
    // Failures stop; settle far in the future.
    now += FAR;
    settle(&mut engine, &mut mirror, &mut now, &mut trace);
    check_slices(case, &model, &engine)?;
    check_converged(case, &engine, &mirror)?;

    // A further flush plans nothing.
    prop_assert!(engine.flush(now + FAR).is_empty(), "flush after settle");
    // Re-applying the final objects as MODIFIED plans nothing.
    for o in model.objects(case.source) {
        engine.apply(&WatchEvent::modified(o), now + FAR).unwrap();
    }
    let plan = engine.flush(now + 2 * FAR);
    prop_assert!(
        plan.is_empty(),
        "re-applied events planned:\n{}",
        plan.to_json_lines()
    );
    check_converged(case, &engine, &mirror)?;

    // Restart: a fresh engine sees what the server holds plus the same cluster.
    let mut e2 = Engine::new(cfg(case)).unwrap();
    if case.source == Source::Pods {
        for i in mirror.identities.values() {
            e2.apply(&WatchEvent::added(Object::CiliumIdentity(i.clone())), now)
                .unwrap();
        }
    }
    for s in mirror.slices.values() {
        e2.apply(
            &WatchEvent::added(Object::CiliumEndpointSlice(s.clone())),
            now,
        )
        .unwrap();
    }
    for o in model.objects(case.source) {
        e2.apply(&WatchEvent::added(o), now).unwrap();
    }
    e2.initial_sync_done(now);
    let p1 = e2.flush(now);
    prop_assert!(p1.is_empty(), "restart planned:\n{}", p1.to_json_lines());
    let p2 = e2.flush(now + 2 * FAR);
    prop_assert!(
        p2.is_empty(),
        "restart planned later:\n{}",
        p2.to_json_lines()
    );
    prop_assert_eq!(e2.desired_slices(), mirror.slices_without_meta());
    if case.source == Source::Pods {
        prop_assert_eq!(
            by_name(e2.desired_identities()),
            mirror.identities_without_meta()
        );
    }
    check_slices(case, &model, &e2)?;

    // Determinism: the same case again gives the same bytes.
    let again = run(case)?;
    prop_assert_eq!(&again.trace, &run(case)?.trace);
    let mut t2 = again.trace;
    let (mut e3, mut m3, mut n3) = (again.engine, again.mirror, again.now + FAR);
    settle(&mut e3, &mut m3, &mut n3, &mut t2);
    prop_assert!(t2 == trace, "two runs of one case differ");
    Ok(())
}

proptest! {
    // 64 cases by default (< 30 s in debug); MODEL_PROPS_CASES=n for a longer hunt.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("MODEL_PROPS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn engine_matches_reference_model(case in case_strategy()) {
        check_case(&case)?;
    }
}
