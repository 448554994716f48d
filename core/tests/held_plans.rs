//! Held plans: the engine's observable output on a fixed, seeded workload,
//! compared byte for byte with `tests/held/plans.txt`.
//!
//! A structural change of the engine (the redesign into a state plus phases,
//! the performance work) must keep behaviour identical. This test drives every
//! source, slicing mode and write-path feature through one deterministic
//! script — cold build, initial sync, identity churn, moves, node changes,
//! namespace label changes, deletes, failed and conflicting writes, identity
//! expiry, compaction, and a restart that adopts what the mirror holds — and
//! records every planned write (as the JSON line a binding would print), every
//! event, and the desired state after each phase. Any difference fails with
//! the first differing line.
//!
//! When a change of behaviour is intended, regenerate the file with
//! `SLICEPLANE_BLESS=1 cargo test -p sliceplane --test held_plans` and say in
//! the commit why the plans changed.

use std::fmt::Write as _;

use serde_json::{Value, json};
use sliceplane::mirror::Mirror;
use sliceplane::model::Kind;
use sliceplane::plan::{Outcome, WriteOp};
use sliceplane::{Config, Engine};

/// A small deterministic generator (xorshift64*), so the workload does not
/// depend on any crate's random-number stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const NAMESPACES: u64 = 4;
const NODES: u64 = 12;
const APPS: u64 = 9;

fn namespace(i: u64, tier: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": format!("ns{i}"), "labels": {"team": format!("t{}", i % 2), "tier": tier},
                        "annotations": if i == 3 { json!({"cilium.io/ces-namespace": "priority"}) } else { json!({}) }}})
}

fn node(i: u64, ip_base: u64) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": format!("node{i}")},
           "status": {"addresses": [{"type": "InternalIP", "address": format!("10.{ip_base}.0.{i}")}]}})
}

fn cilium_node(i: u64, key: u64) -> Value {
    json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNode",
           "metadata": {"name": format!("node{i}")},
           "spec": {"addresses": [{"type": "InternalIP", "ip": format!("10.1.0.{i}")}],
                    "encryption": {"key": key}}})
}

/// One pod of the workload; `gen` changes its uid and IP on re-creation.
#[derive(Clone)]
struct PodSpec {
    ns: u64,
    name: String,
    app: u64,
    node: u64,
    ip: u32,
    uid: u64,
    version: u64,
}

fn pod_ip(ip: u32) -> String {
    format!(
        "10.{}.{}.{}",
        100 + (ip >> 16) % 100,
        (ip >> 8) & 255,
        ip & 255
    )
}

fn pod(p: &PodSpec) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": p.name, "namespace": format!("ns{}", p.ns), "uid": format!("uid-{}", p.uid),
                        "labels": {"app": format!("app{}", p.app), "version": format!("v{}", p.version),
                                   "pod-template-hash": format!("h{}", p.uid % 7)}},
           "spec": {"nodeName": format!("node{}", p.node), "serviceAccountName": format!("sa{}", p.app % 3),
                    "containers": [{"name": "main", "ports": [
                        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                        {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
           "status": {"phase": "Running", "podIP": pod_ip(p.ip), "podIPs": [{"ip": pod_ip(p.ip)}]}})
}

fn cep(p: &PodSpec) -> Value {
    json!({"apiVersion": "cilium.io/v2", "kind": "CiliumEndpoint",
           "metadata": {"name": p.name, "namespace": format!("ns{}", p.ns)},
           "status": {"identity": {"id": 1000 + p.app * 10 + p.version},
                      "networking": {"addressing": [{"ipv4": pod_ip(p.ip)}], "node": format!("10.1.0.{}", p.node)},
                      "encryption": {"key": p.node % 3},
                      "named-ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                      "service-account": format!("sa{}", p.app % 3)}})
}

/// Records everything the engine says, and plays the API server.
struct Run {
    engine: Engine,
    mirror: Mirror,
    pods_source: bool,
    out: String,
    now: u64,
    rng: Rng,
    /// Every n-th write gets a failure outcome instead of the mirror's.
    fail_every: u64,
    writes_seen: u64,
    /// Watch events the server sent for applied writes, delivered before
    /// the next flush (the watch lags the write answers).
    echoes: Vec<Value>,
}

impl Run {
    fn new(config: Value, seed: u64, fail_every: u64) -> Run {
        let pods_source = config["source"] == "pods";
        let config = Config::from_json(&config.to_string()).expect("config");
        Run {
            engine: Engine::new(config).expect("engine"),
            mirror: Mirror::new(),
            pods_source,
            out: String::new(),
            now: 1_000,
            rng: Rng(seed),
            fail_every,
            writes_seen: 0,
            echoes: Vec::new(),
        }
    }

    fn event(&mut self, kind: &str, object: Value) {
        let ev = json!({"type": kind, "object": object}).to_string();
        if let Err(e) = self.engine.apply_json(ev.as_bytes(), self.now) {
            writeln!(self.out, "rejected {} {}", e.code.as_str(), e).unwrap();
        }
    }

    fn endpoint(&mut self, kind: &str, p: &PodSpec) {
        let obj = if self.pods_source { pod(p) } else { cep(p) };
        self.event(kind, obj);
    }

    /// Applies a write to the server and queues its watch echo.
    fn server_apply(&mut self, op: &WriteOp) -> Outcome {
        let outcome = self.mirror.apply(op);
        if outcome.is_success() {
            let name = op.name().to_string();
            let echo = match op.kind() {
                Kind::CiliumIdentity => match self.mirror.identities.get(&name) {
                    Some(i) => ("MODIFIED", serde_json::to_value(i).unwrap()),
                    None => (
                        "DELETED",
                        json!({"apiVersion": "cilium.io/v2", "kind": "CiliumIdentity", "metadata": {"name": name}}),
                    ),
                },
                _ => match self.mirror.slices.get(&name) {
                    Some(s) => ("MODIFIED", serde_json::to_value(s).unwrap()),
                    None => (
                        "DELETED",
                        json!({"apiVersion": "cilium.io/v2alpha1", "kind": "CiliumEndpointSlice", "metadata": {"name": name}}),
                    ),
                },
            };
            self.echoes.push(json!({"type": echo.0, "object": echo.1}));
        }
        outcome
    }

    fn deliver_echoes(&mut self) {
        for ev in std::mem::take(&mut self.echoes) {
            if let Err(e) = self.engine.apply_json(ev.to_string().as_bytes(), self.now) {
                writeln!(self.out, "echo rejected {} {}", e.code.as_str(), e).unwrap();
            }
        }
    }

    /// Flushes, lets the mirror answer (with injected failures), reports
    /// each outcome, and feeds the mirror's echoes back as watch events.
    fn flush_round(&mut self) -> usize {
        self.deliver_echoes();
        let plan = self.engine.flush(self.now);
        for w in &plan.writes {
            writeln!(self.out, "{}", w.to_json()).unwrap();
            self.writes_seen += 1;
            let outcome = if self.fail_every > 0 && self.writes_seen.is_multiple_of(self.fail_every)
            {
                match self.rng.below(3) {
                    0 => Outcome::Error {
                        message: "injected 503".into(),
                    },
                    1 => Outcome::Conflict,
                    _ => {
                        // Applied on the server, but the answer was lost.
                        self.server_apply(&w.op);
                        Outcome::Error {
                            message: "injected timeout after apply".into(),
                        }
                    }
                }
            } else {
                self.server_apply(&w.op)
            };
            writeln!(
                self.out,
                "  -> {}",
                serde_json::to_string(&outcome).unwrap()
            )
            .unwrap();
            if let Err(e) = self.engine.report(w.id, &outcome, self.now) {
                writeln!(self.out, "  report error {} {}", e.code.as_str(), e).unwrap();
            }
        }
        plan.len()
    }

    /// Flushes until nothing more is due, moving time to each due point.
    fn settle(&mut self) {
        for _ in 0..400 {
            let n = self.flush_round();
            if n == 0 {
                match self.engine.next_due() {
                    Some(due) if due > self.now => self.now = due,
                    _ => break,
                }
            } else {
                self.now += 1;
            }
        }
        self.drain_events();
    }

    fn drain_events(&mut self) {
        for e in self.engine.drain_events() {
            writeln!(
                self.out,
                "event {} {} {} | {}",
                e.time, e.kind, e.subject, e.message
            )
            .unwrap();
        }
    }

    fn state(&mut self, phase: &str) {
        writeln!(
            self.out,
            "== {phase}: stats {}",
            serde_json::to_string(&self.engine.stats()).unwrap()
        )
        .unwrap();
        // The desired state, one line per object: name, size, digest of its JSON.
        for s in self.engine.desired_slices() {
            let text = serde_json::to_string(&s).unwrap();
            writeln!(
                self.out,
                "slice {} {} {:016x}",
                s.metadata.name,
                s.endpoints.len(),
                fnv(&text)
            )
            .unwrap();
        }
        for i in self.engine.desired_identities() {
            let text = serde_json::to_string(&i).unwrap();
            writeln!(self.out, "identity {} {:016x}", i.metadata.name, fnv(&text)).unwrap();
        }
    }
}

/// FNV-1a, 64 bits: a stable digest for the held file.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn workload(config: Value, seed: u64, fail_every: u64, pods: u64) -> String {
    let mut r = Run::new(config, seed, fail_every);
    writeln!(
        r.out,
        "### config seed={seed} fail_every={fail_every} pods={pods}"
    )
    .unwrap();

    // Cold build: everything the informers list, then the initial sync.
    for i in 0..NAMESPACES {
        r.event("ADDED", namespace(i, "web"));
    }
    for i in 0..NODES {
        r.event("ADDED", node(i, 1));
        r.event("ADDED", cilium_node(i, i % 4));
    }
    let mut live: Vec<PodSpec> = Vec::new();
    let mut next_ip = 1u32;
    let mut next_uid = 1u64;
    for k in 0..pods {
        let p = PodSpec {
            ns: r.rng.below(NAMESPACES),
            name: format!("p{k}"),
            app: r.rng.below(APPS),
            node: r.rng.below(NODES),
            ip: next_ip,
            uid: next_uid,
            version: 0,
        };
        next_ip += 1;
        next_uid += 1;
        r.endpoint("ADDED", &p);
        live.push(p);
    }
    r.engine.initial_sync_done(r.now);
    r.settle();
    r.state("cold build");

    // Churn: rolling re-creation, identity changes, moves across nodes,
    // deletes, bad events, node and namespace changes.
    for round in 0..6 {
        r.now += 700;
        for _ in 0..(pods / 6).max(1) {
            let i = r.rng.below(live.len() as u64) as usize;
            match r.rng.below(6) {
                0 => {
                    // Rolling update: delete, re-create with a new uid and IP.
                    let old = live[i].clone();
                    r.endpoint("DELETED", &old);
                    let mut p = old;
                    p.uid = next_uid;
                    p.ip = next_ip;
                    p.version += 1;
                    next_uid += 1;
                    next_ip += 1;
                    r.endpoint("ADDED", &p);
                    live[i] = p;
                }
                1 => {
                    live[i].app = r.rng.below(APPS);
                    let p = live[i].clone();
                    r.endpoint("MODIFIED", &p);
                }
                2 => {
                    live[i].node = r.rng.below(NODES);
                    let p = live[i].clone();
                    r.endpoint("MODIFIED", &p);
                }
                3 => {
                    let p = live.swap_remove(i);
                    r.endpoint("DELETED", &p);
                    if live.is_empty() {
                        break;
                    }
                }
                4 => {
                    let p = PodSpec {
                        ns: r.rng.below(NAMESPACES),
                        name: format!("n{round}-{next_uid}"),
                        app: r.rng.below(APPS),
                        node: r.rng.below(NODES),
                        ip: next_ip,
                        uid: next_uid,
                        version: 0,
                    };
                    next_ip += 1;
                    next_uid += 1;
                    r.endpoint("ADDED", &p);
                    live.push(p);
                }
                _ => {
                    // An invalid modification: rejected, nothing changes.
                    let mut bad = if r.pods_source {
                        pod(&live[i])
                    } else {
                        cep(&live[i])
                    };
                    if r.pods_source {
                        bad["status"]["podIPs"] = json!([{"ip": "not-an-ip"}]);
                        bad["status"]["podIP"] = json!("not-an-ip");
                    } else {
                        bad["status"]["networking"]["addressing"] = json!([{"ipv4": "not-an-ip"}]);
                    }
                    r.event("MODIFIED", bad);
                }
            }
        }
        if round == 2 {
            // A node's IP and encryption key change; a namespace's labels change.
            r.event("MODIFIED", node(3, 2));
            r.event("MODIFIED", cilium_node(3, 9));
            r.event("MODIFIED", namespace(1, "backend"));
        }
        if round == 4 {
            // A foreign edit of a slice the server holds is repaired.
            if let Some(mut s) = r.mirror.slices.values().next().cloned() {
                s.endpoints.clear();
                let o = r.server_apply(&WriteOp::UpdateSlice(s));
                assert!(o.is_success(), "foreign edit: {o:?}");
            }
            // And a foreign delete of another.
            if let Some(s) = r.mirror.slices.values().nth(1).cloned() {
                let o = r.server_apply(&WriteOp::DeleteSlice {
                    name: s.metadata.name.clone(),
                    preconditions: Default::default(),
                });
                assert!(o.is_success(), "foreign delete: {o:?}");
            }
        }
        r.settle();
        r.state(&format!("churn round {round}"));
    }

    // Identities age out after the grace period.
    r.now += 16 * 60 * 1000;
    r.settle();
    r.state("after identity grace");

    // Restart: a new engine adopts what the server holds; unchanged state
    // must cost no writes.
    let mut config = r.engine.config().clone();
    config.seed ^= 0x5eed;
    let mut restarted = Engine::new(config).expect("engine");
    let mut feed: Vec<Value> = Vec::new();
    for i in 0..NAMESPACES {
        feed.push(namespace(i, if i == 1 { "backend" } else { "web" }));
    }
    for i in 0..NODES {
        feed.push(node(i, if i == 3 { 2 } else { 1 }));
        feed.push(cilium_node(i, if i == 3 { 9 } else { i % 4 }));
    }
    r.deliver_echoes();
    for s in r.mirror.slices.values() {
        feed.push(serde_json::to_value(s).unwrap());
    }
    for i in r.mirror.identities.values() {
        feed.push(serde_json::to_value(i).unwrap());
    }
    for p in &live {
        feed.push(if r.pods_source { pod(p) } else { cep(p) });
    }
    std::mem::swap(&mut r.engine, &mut restarted);
    for obj in feed {
        r.event("ADDED", obj);
    }
    r.engine.initial_sync_done(r.now);
    r.settle();
    r.state("after restart");
    r.out
}

fn configs() -> Vec<(Value, u64)> {
    vec![
        (
            json!({"source": "ciliumendpoints", "seed": 7, "write": {"syncDelayMs": 0}}),
            0,
        ),
        (
            json!({"source": "ciliumendpoints", "seed": 8,
                   "slicing": {"mode": "identity", "maxEndpointsPerSlice": 7},
                   "write": {"syncDelayMs": 500, "emptyBeforeDeleteThreshold": 3}}),
            5,
        ),
        (
            json!({"source": "pods", "seed": 9,
                   "slicing": {"maxEndpointsPerSlice": 10},
                   "identity": {"allocation": "lowestFree"},
                   "write": {"syncDelayMs": 100, "rateLimits": [{"nodes": 0, "limit": 5, "burst": 3}]}}),
            7,
        ),
        (
            json!({"source": "pods", "seed": 10,
                   "slicing": {"mode": "identity", "maxEndpointsPerSlice": 5},
                   "write": {"syncDelayMs": 0}}),
            0,
        ),
        (
            json!({"source": "pods", "seed": 11,
                   "slicing": {"maxEndpointsPerSlice": 8,
                               "compaction": {"enabled": true, "minFragmentation": 1.1, "moveBudget": 6}},
                   "write": {"syncDelayMs": 50}}),
            11,
        ),
    ]
}

#[test]
fn plans_are_held() {
    let mut out = String::new();
    for (i, (config, fail_every)) in configs().into_iter().enumerate() {
        out.push_str(&workload(
            config,
            0x9e37_79b9_7f4a_7c15 ^ i as u64,
            fail_every,
            80,
        ));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/held/plans.txt");
    if std::env::var_os("SLICEPLANE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let held = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (generate it with SLICEPLANE_BLESS=1)",
            path.display()
        )
    });
    if held != out {
        let first = held
            .lines()
            .zip(out.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("line {}:\n  held: {a}\n  now:  {b}", i + 1))
            .unwrap_or_else(|| {
                format!(
                    "lengths differ: held {} lines, now {} lines",
                    held.lines().count(),
                    out.lines().count()
                )
            });
        panic!("the engine's plans changed; {first}");
    }
}

#[test]
fn workload_is_deterministic() {
    let (config, fail_every) = configs().remove(2);
    assert_eq!(
        workload(config.clone(), 3, fail_every, 40),
        workload(config, 3, fail_every, 40)
    );
}
