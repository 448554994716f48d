//! Engine memory per endpoint, and what snapshots add, measured with a
//! counting global allocator (live bytes requested from the system
//! allocator; allocator overhead and fragmentation are not included).
//!
//! `cargo run --release -p sliceplane-workload --example memory -- M L`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use sliceplane::WatchEvent;
use sliceplane::config::{Config, Source as EngineSource};
use sliceplane::consumer::Consumer;
use sliceplane::mirror::Mirror;
use sliceplane::{Engine, Object};
use sliceplane_workload::{Cluster, Scale, Source, WorkloadSpec};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as GlobalAlloc::realloc.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn per(bytes: isize, n: usize) -> f64 {
    bytes as f64 / n as f64
}

/// Live bytes held by the copies of the slices (measured by dropping a clone).
fn slices_bytes(slices: &[WatchEvent]) -> isize {
    let before = live();
    let copy = slices.to_vec();
    let after = live();
    drop(copy);
    after - before
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scales: Vec<Scale> = if args.is_empty() {
        vec![Scale::M]
    } else {
        args.iter()
            .map(|a| a.parse().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    };
    for scale in scales {
        for source in [Source::CiliumEndpoints, Source::Pods] {
            let cluster = Cluster::generate(&WorkloadSpec::scale(scale)).expect("valid spec");
            let events: Vec<WatchEvent> = cluster
                .initial_events_iter(source)
                .map(|t| t.event)
                .collect();
            let n = cluster.pods().len();
            let mut c = Config {
                source: match source {
                    Source::Pods => EngineSource::Pods,
                    Source::CiliumEndpoints => EngineSource::Ciliumendpoints,
                },
                ..Config::default()
            };
            c.write.sync_delay_ms = 0;
            let base = live();
            let mut e = Engine::new(c).expect("valid config");
            for ev in &events {
                e.apply(ev, 0).expect("valid");
            }
            e.initial_sync_done(0);
            // The mirror is the API server's memory, not the engine's: apply
            // the plan, then drop the mirror.
            let mut m = Mirror::new();
            m.settle(&mut e, 0, 10).expect("settles");
            // The slices as the agent will receive them (for the consumer),
            // counted out of the engine's bytes below.
            let slices: Vec<WatchEvent> = m
                .slices
                .values()
                .map(|s| WatchEvent::added(Object::CiliumEndpointSlice(s.clone())))
                .collect();
            drop(m);
            let sb = slices_bytes(&slices);
            let engine = live() - base - sb;
            let t = std::time::Instant::now();
            let s1 = e.publish();
            let first_publish = t.elapsed();
            let with_snap = live() - base - sb;
            // Hold s1 while 1,000 endpoints change and a new snapshot is published:
            // the bytes the old snapshot keeps alive.
            let ceps = cluster.ciliumendpoints();
            for c in ceps.iter().take(1000) {
                let mut changed = c.clone();
                if let Some(id) = changed.status.identity.as_mut() {
                    id.id += 1_000_000;
                }
                let _ = e.apply(&WatchEvent::modified(Object::CiliumEndpoint(changed)), 1);
            }
            let before2 = live();
            let s2 = e.publish();
            let delta = live() - before2;
            println!(
                "{scale} {source:?}: {n} endpoints; engine {:.0} B/endpoint without snapshots; \
                 with the snapshot parts {:.0} B/endpoint (+{:.0}); first publish (full build) {first_publish:.2?}; \
                 a second snapshot after 1,000 changes while the first is held: +{:.1} KiB",
                per(engine, n),
                per(with_snap, n),
                per(with_snap - engine, n),
                delta as f64 / 1024.0,
            );
            drop((s1, s2));
            if source == Source::CiliumEndpoints {
                // The consumer holding every slice (a node agent's view).
                let base = live();
                let mut consumer = Consumer::new();
                for ev in &slices {
                    consumer.apply(ev).expect("valid");
                }
                let s = consumer.publish();
                let used = live() - base;
                println!(
                    "{scale} consumer: {} endpoints, {} IPs; {:.0} B/endpoint (slices kept for diffing, copies map, snapshot parts)",
                    s.endpoint_count(),
                    s.ip_count(),
                    per(used, s.endpoint_count().max(1)),
                );
            }
        }
    }
}
