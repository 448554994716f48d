//! sliceplane's side of the workload that `../shared/tools/cilium-bench/`
//! times on Cilium v1.20.2's real CES manager (`newDefaultManager(100)`,
//! `UpdateCEPMapping` / `RemoveCEPMapping`, `reconcileCES`), so the two can
//! be compared in one run on one machine (`scripts/compare-cilium.sh`).
//!
//! Run: `cargo bench -p sliceplane-workload --bench cilium_workload`
//! (N = 5,000, 100,000, 300,000; 1,000,000 too with `SLICEPLANE_BENCH_L=1`;
//! `SLICEPLANE_CILIUM_N=5000,100000` picks the N list instead; criterion's
//! `-- --test` quick check uses N = 5,000 only unless that variable is set).
//!
//! The workload (the README of the Cilium harness, exactly):
//! - N CiliumEndpoints, N/100 namespaces; endpoint i is `ep-<i>` in
//!   `ns-<i mod (N/100)>`, identity `1000 + (i mod (N/20))`, IPv4
//!   `10.(128 + i>>16).((i>>8) & 255).(i & 255)`, node IP from
//!   `m = i mod (N/10)`: `10.(m>>16).((m>>8) & 255).(m & 255)`.
//! - Engine: CiliumEndpoint source, fcfs, 100 endpoints per slice, sync
//!   delay 0, no rate limit. Every object is built before timing; events
//!   are typed (`WatchEvent`), not JSON.
//!
//! On a shared machine, compare instruction counts instead of times:
//! `examples/cilium_phases.rs` runs the cold build, churn and identity churn
//! of this workload once each, for callgrind.
//!
//! Figures (criterion ids `cilium_workload/<figure>/<N>`; one iteration is
//! the whole batch, so divide by N or C):
//! - `cold_build`: an engine already past its initial sync (so each
//!   endpoint is placed as it arrives, as Cilium's manager does) is fed
//!   ADDED for i = 0..N in order. Placement only, like Cilium's cold build
//!   (`UpdateCEPMapping` for every endpoint, no rendering). µs/endpoint =
//!   time / N.
//! - `render`: the `flush` after that cold build, which renders and plans
//!   every slice (N/100 creates); Cilium's counterpart is `reconcileCES` of
//!   every slice ("reconcile cold").
//! - `churn`: C = min(N, 100000) events on the settled engine (its first
//!   plan applied to a mirror): for k in 0..C/2, j = k·7919 mod N, DELETED
//!   ep-j then ADDED ep-j. µs/event = time / C.
//! - `render_churn`: the flush after that churn (Cilium: "reconcile churn",
//!   `reconcileCES` of the slices the churn touched).
//! - `identity_churn`: after the churn (settled again, as Cilium's harness
//!   runs it on the same manager), C MODIFIED events for j = k·7919 mod N,
//!   k in 0..C: ep-j's identity becomes `1000 + ((j+1) mod (N/20))`.
//!   µs/event = time / C.
//! - `render_identity_churn`: the flush after it (Cilium: "reconcile idchg").
//!
//! Before criterion runs, each N is built once, checked (N/100 slices of
//! exactly 100 endpoints, as the Cilium harness checks its own side) and
//! its heap measured with the counting allocator below; one line per N goes
//! to stderr, for scripts:
//!
//! `CILIUM_WORKLOAD N=<n> C=<c> slices=<s> heap_cold_B_per_ep=<x> heap_settled_B_per_ep=<y> loadavg=[...]`
//!
//! - `heap_cold`: live bytes the engine holds after the cold build (before
//!   any flush): what compares with Cilium's "heap B/ep" (the Go heap the
//!   manager's mapping holds after its cold build, measured with
//!   `runtime.ReadMemStats` after a GC).
//! - `heap_settled`: everything the engine holds after its first plan was
//!   applied (rendered slices, bookkeeping), the mirror dropped.
//!
//! Heap is counted the way `examples/memory.rs` counts it: a global
//! allocator that adds each request's size to a live-bytes counter (bytes
//! requested; allocator overhead and fragmentation not included). Here it
//! forwards to mimalloc, the allocator the other benches and the CLI use,
//! so the timings stay comparable; the counter is one relaxed atomic add
//! per allocation.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sliceplane::mirror::Mirror;
use sliceplane::plan::WriteOp;
use sliceplane::{Engine, Object, WatchEvent};
use sliceplane_workload::cilium;

/// Counts live bytes requested through the global allocator; the memory
/// itself comes from mimalloc.
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

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Endpoints per slice (Cilium's `newDefaultManager(100)`).
const MAX_PER_SLICE: usize = 100;

fn sizes() -> Vec<usize> {
    if let Ok(list) = std::env::var("SLICEPLANE_CILIUM_N") {
        return list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("SLICEPLANE_CILIUM_N: {s:?}: {e}"))
            })
            .collect();
    }
    // Criterion's quick check (`-- --test`) runs each figure once: keep it
    // to the smallest N so the check stays cheap.
    if std::env::args().any(|a| a == "--test") {
        return vec![5_000];
    }
    let mut v = vec![5_000, 100_000, 300_000];
    if std::env::var("SLICEPLANE_BENCH_L").is_ok_and(|v| v == "1") {
        v.push(1_000_000);
    }
    v
}

/// Every event of the workload for one N, built before any timing.
struct Workload {
    n: usize,
    c: usize,
    /// ADDED ep-i, i = 0..N.
    adds: Vec<WatchEvent>,
    /// DELETED ep-j, ADDED ep-j for k in 0..C/2.
    churn: Vec<WatchEvent>,
    /// MODIFIED ep-j with identity 1000 + ((j+1) mod (N/20)), k in 0..C.
    identity_churn: Vec<WatchEvent>,
}

impl Workload {
    fn new(n: usize) -> Workload {
        assert!(
            n >= 100 && n.is_multiple_of(100),
            "N must be a multiple of 100 (N/100 namespaces)"
        );
        let c = n.min(100_000);
        let ident = |i: usize| 1000 + (i % (n / 20)) as i64;
        let ident_alt = |i: usize| 1000 + ((i + 1) % (n / 20)) as i64;
        let adds = (0..n)
            .map(|i| WatchEvent::added(Object::CiliumEndpoint(cilium::endpoint(i, n, ident(i)))))
            .collect();
        let mut churn = Vec::with_capacity(c);
        for k in 0..c / 2 {
            let j = (k * 7919) % n;
            let ep = cilium::endpoint(j, n, ident(j));
            churn.push(WatchEvent::deleted(Object::CiliumEndpoint(ep.clone())));
            churn.push(WatchEvent::added(Object::CiliumEndpoint(ep)));
        }
        let identity_churn = (0..c)
            .map(|k| {
                let j = (k * 7919) % n;
                WatchEvent::modified(Object::CiliumEndpoint(cilium::endpoint(j, n, ident_alt(j))))
            })
            .collect();
        Workload {
            n,
            c,
            adds,
            churn,
            identity_churn,
        }
    }
}

/// A fresh engine past its initial sync: from here on each endpoint is
/// placed as it arrives.
fn synced_engine() -> Engine {
    let mut e = Engine::new(cilium::config()).expect("valid config");
    e.initial_sync_done(0);
    e
}

fn apply_all(e: &mut Engine, events: &[WatchEvent], now: u64) {
    for ev in events {
        e.apply(ev, now).expect("workload events are valid");
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Builds once, checks the slices (N/100 creates of exactly 100 endpoints)
/// and prints the heap line to stderr.
fn check_and_measure_heap(w: &Workload) {
    let base = live();
    let mut e = synced_engine();
    apply_all(&mut e, &w.adds, 0);
    let cold = live() - base;
    let plan = e.flush(0);
    let mut slices = 0usize;
    let mut endpoints = 0usize;
    for pw in &plan.writes {
        match &pw.op {
            WriteOp::CreateSlice(s) => {
                slices += 1;
                endpoints += s.endpoints.len();
                assert_eq!(
                    s.endpoints.len(),
                    MAX_PER_SLICE,
                    "slice {} holds {} endpoints",
                    s.metadata.name,
                    s.endpoints.len()
                );
            }
            other => panic!("unexpected write in the first plan: {:?}", other.verb()),
        }
    }
    assert_eq!(slices, w.n / MAX_PER_SLICE, "slices after the cold build");
    assert_eq!(endpoints, w.n, "endpoints in the slices");
    drop(plan);
    let mut m = Mirror::new();
    m.settle(&mut e, 0, 10).expect("settles");
    drop(m);
    let settled = live() - base;
    eprintln!(
        "CILIUM_WORKLOAD N={} C={} slices={slices} heap_cold_B_per_ep={:.1} heap_settled_B_per_ep={:.1} loadavg=[{}]",
        w.n,
        w.c,
        cold as f64 / w.n as f64,
        settled as f64 / w.n as f64,
        loadavg()
    );
    drop(e);
}

fn cilium_workload(c: &mut Criterion) {
    let mut g = c.benchmark_group("cilium_workload");
    g.sample_size(10);
    for n in sizes() {
        let w = Workload::new(n);
        check_and_measure_heap(&w);

        // Untimed states the figures start from.
        let mut built = synced_engine();
        apply_all(&mut built, &w.adds, 0);
        let mut settled = built.clone();
        let mut mirror = Mirror::new();
        mirror.settle(&mut settled, 0, 10).expect("settles");
        let mut after_churn = settled.clone();
        apply_all(&mut after_churn, &w.churn, 1);
        mirror.settle(&mut after_churn, 1, 10).expect("settles");
        drop(mirror);

        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("cold_build", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut e = synced_engine();
                    let start = Instant::now();
                    apply_all(&mut e, &w.adds, 0);
                    total += start.elapsed();
                    drop(black_box(e));
                }
                total
            })
        });
        g.bench_function(BenchmarkId::new("render", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut e = built.clone();
                    let start = Instant::now();
                    let plan = e.flush(0);
                    total += start.elapsed();
                    black_box(plan.len());
                    drop(plan);
                    drop(e);
                }
                total
            })
        });
        g.throughput(Throughput::Elements(w.c as u64));
        g.bench_function(BenchmarkId::new("churn", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut e = settled.clone();
                    let start = Instant::now();
                    apply_all(&mut e, &w.churn, 1);
                    total += start.elapsed();
                    drop(black_box(e));
                }
                total
            })
        });
        g.bench_function(BenchmarkId::new("render_churn", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut e = settled.clone();
                    apply_all(&mut e, &w.churn, 1);
                    let start = Instant::now();
                    let plan = e.flush(1);
                    total += start.elapsed();
                    black_box(plan.len());
                    drop(plan);
                    drop(e);
                }
                total
            })
        });
        g.bench_function(BenchmarkId::new("identity_churn", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut e = after_churn.clone();
                    let start = Instant::now();
                    apply_all(&mut e, &w.identity_churn, 2);
                    total += start.elapsed();
                    drop(black_box(e));
                }
                total
            })
        });
        g.bench_function(BenchmarkId::new("render_identity_churn", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut e = after_churn.clone();
                    apply_all(&mut e, &w.identity_churn, 2);
                    let start = Instant::now();
                    let plan = e.flush(2);
                    total += start.elapsed();
                    black_box(plan.len());
                    drop(plan);
                    drop(e);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, cilium_workload);
criterion_main!(benches);
