//! The timed phases of `benches/cilium_workload.rs` (cold build, churn,
//! identity churn) run once each, as separate non-inlined functions, so an
//! instruction counter can measure each phase alone on a shared machine:
//!
//! ```text
//! cargo build --release -p sliceplane-workload --example cilium_phases
//! valgrind --tool=callgrind --collect-atstart=no \
//!   --toggle-collect='cilium_phases::phase_*' \
//!   target/release/examples/cilium_phases 5000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep phase_
//! ```
//!
//! The workload is the bench's (see its header): N CiliumEndpoints, N/100
//! namespaces, fcfs, 100 per slice; churn is DELETED + ADDED of ep-j for
//! j = k·7919 mod N; identity churn is C MODIFIED events with a new identity.
//! Without valgrind it prints each phase's wall time. The allocator is
//! mimalloc, as in the bench.

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use sliceplane::mirror::Mirror;
use sliceplane::{Engine, Object, WatchEvent};
use sliceplane_workload::cilium;

fn apply_all(e: &mut Engine, events: &[WatchEvent], now: u64) {
    for ev in events {
        e.apply(ev, now).expect("workload events are valid");
    }
}

#[inline(never)]
fn phase_cold(e: &mut Engine, events: &[WatchEvent]) {
    apply_all(e, events, 0);
}

#[inline(never)]
fn phase_churn(e: &mut Engine, events: &[WatchEvent]) {
    apply_all(e, events, 1);
}

#[inline(never)]
fn phase_identity_churn(e: &mut Engine, events: &[WatchEvent]) {
    apply_all(e, events, 2);
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N"))
        .unwrap_or(5000);
    assert!(n >= 100 && n.is_multiple_of(100));
    let c = n.min(100_000);
    let ident = |i: usize| 1000 + (i % (n / 20)) as i64;
    let adds: Vec<WatchEvent> = (0..n)
        .map(|i| WatchEvent::added(Object::CiliumEndpoint(cilium::endpoint(i, n, ident(i)))))
        .collect();
    let mut churn = Vec::with_capacity(c);
    for k in 0..c / 2 {
        let j = (k * 7919) % n;
        let ep = cilium::endpoint(j, n, ident(j));
        churn.push(WatchEvent::deleted(Object::CiliumEndpoint(ep.clone())));
        churn.push(WatchEvent::added(Object::CiliumEndpoint(ep)));
    }
    let identity_churn: Vec<WatchEvent> = (0..c)
        .map(|k| {
            let j = (k * 7919) % n;
            let alt = 1000 + ((j + 1) % (n / 20)) as i64;
            WatchEvent::modified(Object::CiliumEndpoint(cilium::endpoint(j, n, alt)))
        })
        .collect();

    let mut e = Engine::new(cilium::config()).expect("valid config");
    e.initial_sync_done(0);
    let t = Instant::now();
    phase_cold(&mut e, &adds);
    let cold = t.elapsed();
    let mut mirror = Mirror::new();
    mirror.settle(&mut e, 0, 10).expect("settles");
    let t = Instant::now();
    phase_churn(&mut e, &churn);
    let ch = t.elapsed();
    mirror.settle(&mut e, 1, 10).expect("settles");
    let t = Instant::now();
    phase_identity_churn(&mut e, &identity_churn);
    let idc = t.elapsed();
    println!(
        "N={n} C={c} cold {:.3} us/ep, churn {:.3} us/event, identity churn {:.3} us/event",
        cold.as_secs_f64() * 1e6 / n as f64,
        ch.as_secs_f64() * 1e6 / c as f64,
        idc.as_secs_f64() * 1e6 / c as f64,
    );
}
