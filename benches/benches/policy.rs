//! Criterion benches for the §12 policy figures (DESIGN.md §12, §13).
//!
//! Run: `cargo bench -p sliceplane-workload --bench policy`.
//!
//! The world is generated deterministically (no randomness): 10,000
//! identities, one endpoint each, across 100 namespaces (100 per
//! namespace, 20 apps, 10 teams as namespace labels), and 1,000 policies,
//! ten per namespace, cycling through four shapes:
//! 0. ingress from a podSelector or a namespaceSelector, ports 80 and
//!    8000-8100 (the shape of `core/tests/policy_scale.rs`);
//! 1. ingress from an ipBlock (a /16 of pod addresses, one /24 excepted)
//!    to the named port `http`;
//! 2. ingress and egress: from pods matched by `matchExpressions`, to
//!    namespaces by team (`In`), UDP 53 and TCP 443;
//! 3. ingress from a namespaceSelector and a podSelector in one peer,
//!    TCP 8080 and SCTP 9000.
//!
//! Figures:
//! - policy/full_compute/10k_identities_1k_policies: identities and
//!   endpoints, then every policy, from typed objects (parsing excluded);
//!   target ≤ 1 s. Also `.../policies_first` (the other order).
//! - policy/incremental/one_new_identity: one identity added to the built
//!   engine (removed again outside the timing); target ≤ 100 µs.
//! - policy/decide/{allowed,denied}: the verdict lookup `decide` for a flow
//!   an allow rule lets through and for one every rule of an isolated
//!   destination refuses (every port entry taking the flow is read);
//!   target ≤ 100 ns.
//!
//! Before the decide rows it prints the heap the built engine holds (live
//! bytes through a counting wrapper around mimalloc).

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live bytes requested through the global allocator, to report
/// what the built engine holds; the memory itself comes from mimalloc (the
/// embedding program picks the allocator; the CLI uses mimalloc too).
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

// SAFETY: forwards every call to mimalloc unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { MIMALLOC.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { MIMALLOC.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { MIMALLOC.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as GlobalAlloc::realloc.
        unsafe { MIMALLOC.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;
use sliceplane::labels::{Label, LabelSet};
use sliceplane::policy::{
    Decision, DecisionReason, Flow, NamedPort, Peer, PolicyEndpoint, PolicyEngine, PolicyObject,
    PolicyOptions, Protocol,
};

const NAMESPACES: usize = 100;
const PER_NS: usize = 100;
const POLICIES: usize = 1000;

fn labels(ns: usize, i: usize) -> LabelSet {
    LabelSet::from_labels([
        Label::k8s("app", &format!("app{}", i % 20)),
        Label::k8s("instance", &format!("i{i}")),
        Label::k8s("io.kubernetes.pod.namespace", &format!("ns{ns}")),
        Label::k8s(
            "io.cilium.k8s.namespace.labels.team",
            &format!("team{}", ns % 10),
        ),
        Label::k8s(
            "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name",
            &format!("ns{ns}"),
        ),
        Label::k8s("io.cilium.k8s.policy.cluster", "default"),
    ])
}

fn endpoint(ns: usize, i: usize, id: u32) -> PolicyEndpoint {
    PolicyEndpoint {
        namespace: format!("ns{ns}"),
        name: format!("pod{i}"),
        identity: id,
        ips: vec![
            format!("10.{}.{}.{}", ns / 250, ns % 250, i + 1)
                .parse()
                .unwrap(),
        ],
        named_ports: vec![NamedPort {
            name: "http".into(),
            port: 80,
            protocol: Protocol::Tcp,
        }],
        node: Some(format!("node{}", i % 10)),
    }
}

fn policy(k: usize) -> serde_json::Value {
    let ns = k % NAMESPACES;
    let app = |d: usize| format!("app{}", (k + d) % 20);
    let team = |d: usize| format!("team{}", (k + d) % 10);
    let meta = json!({"name": format!("p{k}"), "namespace": format!("ns{ns}")});
    let spec = match (k / NAMESPACES) % 4 {
        0 => json!({
            "podSelector": {"matchLabels": {"app": app(0)}},
            "ingress": [{"from": [
                {"podSelector": {"matchLabels": {"app": app(1)}}},
                {"namespaceSelector": {"matchLabels": {"team": team(0)}}}],
                "ports": [{"port": 80}, {"port": 8000, "endPort": 8100}]}]}),
        1 => json!({
            "podSelector": {"matchLabels": {"app": app(0)}},
            "ingress": [{"from": [{"ipBlock": {
                "cidr": format!("10.0.{}.0/22", (k % 60) * 4),
                "except": [format!("10.0.{}.0/24", (k % 60) * 4 + 1)]}}],
                "ports": [{"port": "http"}]}]}),
        2 => json!({
            "podSelector": {"matchExpressions": [
                {"key": "app", "operator": "In", "values": [app(0), app(5)]}]},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                {"key": "app", "operator": "NotIn", "values": [app(2), app(3)]},
                {"key": "instance", "operator": "Exists"}]}}]}],
            "egress": [{"to": [{"namespaceSelector": {"matchExpressions": [
                {"key": "team", "operator": "In", "values": [team(1), team(2)]}]}}],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 443}]}]}),
        _ => json!({
            "podSelector": {"matchLabels": {"app": app(0)}},
            "ingress": [{"from": [{
                "namespaceSelector": {"matchLabels": {"team": team(3)}},
                "podSelector": {"matchLabels": {"app": app(4)}}}],
                "ports": [{"port": 8080}, {"port": 9000, "protocol": "SCTP"}]}]}),
    };
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": meta, "spec": spec})
}

fn policies() -> Vec<PolicyObject> {
    (0..POLICIES)
        .map(|k| PolicyObject::from_value(&policy(k)).expect("valid policy"))
        .collect()
}

fn add_identities(e: &mut PolicyEngine) {
    for ns in 0..NAMESPACES {
        for i in 0..PER_NS {
            let id = 256 + (ns * PER_NS + i) as u32;
            e.upsert_identity(id, labels(ns, i));
            e.upsert_endpoint(endpoint(ns, i, id));
        }
    }
}

fn add_policies(e: &mut PolicyEngine, policies: &[PolicyObject]) {
    for p in policies {
        e.upsert_policy_object(p, PolicyOptions::default())
            .expect("policy installs");
    }
}

fn build(policies: &[PolicyObject]) -> PolicyEngine {
    let mut e = PolicyEngine::default();
    add_identities(&mut e);
    add_policies(&mut e, policies);
    e
}

/// The first flow (in a fixed scan order) whose ingress an allow rule
/// decides, and the denied flow into an isolated pod that has the most
/// policies selecting it (the longest scan).
fn flows(e: &PolicyEngine) -> (Flow, Flow) {
    let peer = |ns: usize, i: usize| Peer::endpoint(&format!("ns{ns}"), &format!("pod{i}"));
    let mut allowed = None;
    let mut denied: Option<(usize, Flow)> = None;
    for dns in 0..10 {
        for di in 0..20 {
            for (sns, si) in [(dns, (di + 1) % PER_NS), ((dns + 1) % NAMESPACES, di + 7)] {
                let f = Flow::new(peer(sns, si), peer(dns, di), 80, Protocol::Tcp);
                let v = e.evaluate(&f).expect("flow evaluates");
                if v.decision == Decision::Allow
                    && v.ingress.reason == DecisionReason::Allowed
                    && allowed.is_none()
                {
                    allowed = Some(f);
                } else if v.decision == Decision::Deny
                    && v.ingress.reason == DecisionReason::DefaultDeny
                    && denied.as_ref().is_none_or(|(n, _)| v.deciding.len() > *n)
                {
                    denied = Some((v.deciding.len(), f));
                }
            }
        }
    }
    (
        allowed.expect("an allowed flow"),
        denied.expect("a denied flow").1,
    )
}

fn full_compute(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy/full_compute");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    let ps = policies();
    g.bench_function("10k_identities_1k_policies", |b| {
        b.iter_batched(|| (), |()| build(black_box(&ps)), BatchSize::PerIteration)
    });
    g.bench_function("10k_identities_1k_policies/policies_first", |b| {
        b.iter_batched(
            || (),
            |()| {
                let mut e = PolicyEngine::default();
                add_policies(&mut e, black_box(&ps));
                add_identities(&mut e);
                e
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn incremental_and_decide(c: &mut Criterion) {
    let ps = policies();
    let before = LIVE.load(Ordering::Relaxed);
    let mut e = build(&ps);
    let held = LIVE.load(Ordering::Relaxed) - before;
    let stats = e.stats();
    eprintln!("policy bench world: {stats:?}");
    eprintln!(
        "policy engine heap: {held} B ({:.1} MiB, {} B per identity)",
        held as f64 / (1024.0 * 1024.0),
        held / stats.identities.max(1) as isize
    );

    let mut g = c.benchmark_group("policy/incremental");
    g.bench_function("one_new_identity", |b| {
        let mut n = 0usize;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A new identity in a busy namespace, different each time.
                let ns = n % NAMESPACES;
                let labels = labels(ns, PER_NS + n % 1000);
                n += 1;
                let t = Instant::now();
                e.upsert_identity(black_box(1_000_000), labels);
                total += t.elapsed();
                e.remove_identity(1_000_000);
            }
            total
        })
    });
    g.finish();

    let (allowed, denied) = flows(&e);
    let va = e.evaluate(&allowed).unwrap();
    let vd = e.evaluate(&denied).unwrap();
    eprintln!(
        "allowed flow {} -> {}: {:?} by {} rule(s)",
        allowed.from,
        allowed.to,
        va.decision,
        va.deciding.len()
    );
    eprintln!(
        "denied flow {} -> {}: {:?}, isolated by {} policies",
        denied.from,
        denied.to,
        vd.decision,
        vd.deciding.len()
    );
    assert_eq!(e.decide(&allowed).unwrap(), Decision::Allow);
    assert_eq!(e.decide(&denied).unwrap(), Decision::Deny);

    let mut g = c.benchmark_group("policy/decide");
    g.bench_function("allowed", |b| b.iter(|| e.decide(black_box(&allowed))));
    g.bench_function("denied", |b| b.iter(|| e.decide(black_box(&denied))));
    g.finish();
}

criterion_group!(benches, full_compute, incremental_and_decide);
criterion_main!(benches);
