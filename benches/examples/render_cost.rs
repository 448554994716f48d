//! The three flushes of the Cilium workload (`benches/cilium_workload.rs`:
//! `render`, `render_churn`, `render_identity_churn`), each run once, for
//! instruction counts under callgrind, where the wall clock of a shared
//! machine says little:
//!
//! ```text
//! cargo build --release -p sliceplane-workload --example render_cost
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='render_cost::flush_*' \
//!     target/release/examples/render_cost 5000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep flush_
//! ```
//!
//! Only the flushes are collected (building the workload and the events
//! are not), each in its own non-inlined function (`flush_render`,
//! `flush_churn`, `flush_identity_churn`); `callgrind_annotate` then shows
//! where a flush spends its instructions. Run natively
//! (`render_cost N [REPS]`) it prints each flush's time and µs per entry
//! written, wall and on-CPU (this thread's run time, which a busy shared
//! machine disturbs less), the best of REPS runs (default 1; each extra
//! run flushes a clone of the engine, so under callgrind keep REPS at 1).
//! The workload is the one the bench documents.

use std::time::Instant;

use sliceplane::mirror::Mirror;
use sliceplane::plan::WriteOp;
use sliceplane::{Engine, Object, WatchEvent, WritePlan};
use sliceplane_workload::cilium;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn entries(plan: &WritePlan) -> usize {
    plan.writes
        .iter()
        .map(|w| match &w.op {
            WriteOp::CreateSlice(s) | WriteOp::UpdateSlice(s) => s.endpoints.len(),
            _ => 0,
        })
        .sum()
}

#[inline(never)]
fn flush_render(e: &mut Engine, now: u64) -> WritePlan {
    e.flush(now)
}

#[inline(never)]
fn flush_churn(e: &mut Engine, now: u64) -> WritePlan {
    e.flush(now)
}

#[inline(never)]
fn flush_identity_churn(e: &mut Engine, now: u64) -> WritePlan {
    e.flush(now)
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`,
/// Linux; 0 elsewhere): unlike the wall clock, it leaves out the time other
/// processes of a shared machine take the core. It advances at scheduler
/// ticks (milliseconds), so it means something for the large N only.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Runs `flush` on `reps - 1` clones of `e` and then on `e`, printing the
/// best wall and on-CPU time of those runs (the plan of the last).
fn timed_flush(
    label: &str,
    e: &mut Engine,
    now: u64,
    reps: usize,
    flush: fn(&mut Engine, u64) -> WritePlan,
) -> WritePlan {
    let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
    let mut run = |e: &mut Engine| {
        let (start, c0) = (Instant::now(), cpu_ns());
        let plan = flush(e, now);
        let c = cpu_ns().saturating_sub(c0) as f64 / 1e9;
        wall = wall.min(start.elapsed().as_secs_f64());
        cpu = cpu.min(c);
        plan
    };
    for _ in 1..reps {
        let mut c = e.clone();
        drop(run(&mut c));
    }
    let plan = run(e);
    let n = entries(&plan);
    println!(
        "{label}: {} writes, {n} entries, {:.3} ms, {:.3} us/entry (on CPU {:.3} us/entry)",
        plan.len(),
        wall * 1e3,
        wall * 1e6 / n.max(1) as f64,
        cpu * 1e6 / n.max(1) as f64
    );
    plan
}

fn apply(e: &mut Engine, events: impl Iterator<Item = WatchEvent>, now: u64) {
    for ev in events {
        e.apply(&ev, now).expect("workload events are valid");
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let reps: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    assert!(n >= 100 && n.is_multiple_of(100), "N: a multiple of 100");
    let c = n.min(100_000);
    let ident = |i: usize| 1000 + (i % (n / 20)) as i64;
    let mut e = Engine::new(cilium::config()).expect("valid config");
    e.initial_sync_done(0);
    let adds: Vec<WatchEvent> = (0..n)
        .map(|i| WatchEvent::added(Object::CiliumEndpoint(cilium::endpoint(i, n, ident(i)))))
        .collect();
    apply(&mut e, adds.into_iter(), 0);

    let mut mirror = Mirror::new();
    let plan = timed_flush("render", &mut e, 0, reps, flush_render);
    for w in &plan.writes {
        let outcome = mirror.apply(&w.op);
        e.report(w.id, &outcome, 0).expect("known op");
    }
    drop(plan);

    let churn: Vec<WatchEvent> = (0..c / 2)
        .flat_map(|k| {
            let j = (k * 7919) % n;
            let ep = cilium::endpoint(j, n, ident(j));
            [
                WatchEvent::deleted(Object::CiliumEndpoint(ep.clone())),
                WatchEvent::added(Object::CiliumEndpoint(ep)),
            ]
        })
        .collect();
    apply(&mut e, churn.into_iter(), 1);
    let plan = timed_flush("render_churn", &mut e, 1, reps, flush_churn);
    for w in &plan.writes {
        let outcome = mirror.apply(&w.op);
        e.report(w.id, &outcome, 1).expect("known op");
    }
    drop(plan);
    mirror.settle(&mut e, 1, 10).expect("settles");

    let idchg: Vec<WatchEvent> = (0..c)
        .map(|k| {
            let j = (k * 7919) % n;
            let alt = 1000 + ((j + 1) % (n / 20)) as i64;
            WatchEvent::modified(Object::CiliumEndpoint(cilium::endpoint(j, n, alt)))
        })
        .collect();
    apply(&mut e, idchg.into_iter(), 2);
    let plan = timed_flush(
        "render_identity_churn",
        &mut e,
        2,
        reps,
        flush_identity_churn,
    );
    drop(plan);
}
