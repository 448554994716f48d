//! Event applied → op available in the plan: the latency distribution
//! (DESIGN.md §12: p99 ≤ 100 µs with sync delay 0 and no rate limit).
//!
//! Criterion reports means; this records every event's latency and prints
//! percentiles. Each event flips one endpoint's identity (a real change that
//! needs a slice update); the timed part is `apply` + `flush`; applying the
//! write to the in-memory API server and reporting its outcome is not timed.
//!
//! `cargo run --release -p sliceplane-workload --example latency -- M 20000`

use std::time::Instant;

use sliceplane::config::{Config, RateLimitStep, Source as EngineSource};
use sliceplane::mirror::Mirror;
use sliceplane::{Engine, Object, WatchEvent};
use sliceplane_workload::{Cluster, Scale, Source, WorkloadSpec};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let scale: Scale = args
        .next()
        .as_deref()
        .unwrap_or("S")
        .parse()
        .unwrap_or(Scale::S);
    let events: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);

    let cluster = Cluster::generate(&WorkloadSpec::scale(scale)).expect("valid spec");
    let mut config = Config {
        source: EngineSource::Ciliumendpoints,
        ..Config::default()
    };
    config.write.sync_delay_ms = 0;
    config.write.rate_limits = vec![RateLimitStep {
        nodes: 0,
        limit: 1e12,
        burst: u32::MAX,
    }];
    let mut engine = Engine::new(config).expect("valid config");
    for t in cluster.initial_events_iter(Source::CiliumEndpoints) {
        engine
            .apply(&t.event, 0)
            .expect("generated events are valid");
    }
    engine.initial_sync_done(0);
    let mut mirror = Mirror::new();
    mirror.settle(&mut engine, 0, 1_000_000).expect("settles");

    let ceps = cluster.ciliumendpoints();
    let flips: Vec<[WatchEvent; 2]> = ceps
        .iter()
        .map(|c| {
            let mut changed = c.clone();
            if let Some(id) = changed.status.identity.as_mut() {
                id.id += 1_000_000;
            }
            [
                WatchEvent::modified(Object::CiliumEndpoint(changed)),
                WatchEvent::modified(Object::CiliumEndpoint(c.clone())),
            ]
        })
        .collect();

    let mut latencies_ns: Vec<u64> = Vec::with_capacity(events);
    let mut writes = 0usize;
    for k in 0..events {
        let ev = &flips[(k * 7919) % flips.len()][(k / flips.len()) % 2];
        let now = k as u64 + 1;
        let start = Instant::now();
        engine.apply(ev, now).expect("valid");
        let plan = engine.flush(now);
        latencies_ns.push(start.elapsed().as_nanos() as u64);
        assert!(!plan.is_empty(), "every flip needs a write");
        writes += plan.len();
        for w in &plan.writes {
            let outcome = mirror.apply(&w.op);
            engine.report(w.id, &outcome, now).expect("known op");
        }
    }
    latencies_ns.sort_unstable();
    let pct = |p: f64| {
        latencies_ns[((latencies_ns.len() as f64 * p) as usize).min(latencies_ns.len() - 1)] as f64
            / 1000.0
    };
    println!(
        "scale {scale}: {} endpoints, {events} events, {writes} writes; event -> op in plan: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us",
        ceps.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        *latencies_ns.last().unwrap_or(&0) as f64 / 1000.0,
    );
}
