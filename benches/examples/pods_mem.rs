//! Where the pods source's engine memory goes: the `--example memory`
//! build (pods, M by default: apply, initial sync, settle with the mirror,
//! drop the mirror), then one large marker allocation, so that massif's
//! peak snapshot is the engine plus the marker:
//!
//! ```text
//! cargo build --release -p sliceplane-workload --example pods_mem
//! valgrind --tool=massif --threshold=0.5 target/release/examples/pods_mem M
//! ms_print massif.out.<pid>
//! ```
//!
//! It prints the engine's live bytes per endpoint (counting allocator over
//! the system allocator, as `--example memory`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use sliceplane::config::{Config, Source as EngineSource};
use sliceplane::mirror::Mirror;
use sliceplane::{Engine, WatchEvent};
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

fn main() {
    let scale: Scale = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("S, M or L"))
        .unwrap_or(Scale::M);
    let cluster = Cluster::generate(&WorkloadSpec::scale(scale)).expect("valid spec");
    let events: Vec<WatchEvent> = cluster
        .initial_events_iter(Source::Pods)
        .map(|t| t.event)
        .collect();
    let n = cluster.pods().len();
    let mut c = Config {
        source: EngineSource::Pods,
        ..Config::default()
    };
    c.write.sync_delay_ms = 0;
    let base = LIVE.load(Ordering::Relaxed);
    let mut e = Engine::new(c).expect("valid config");
    for ev in &events {
        e.apply(ev, 0).expect("valid");
    }
    let applied = LIVE.load(Ordering::Relaxed) - base;
    e.initial_sync_done(0);
    let synced = LIVE.load(Ordering::Relaxed) - base;
    let mut m = Mirror::new();
    m.settle(&mut e, 0, 10).expect("settles");
    drop(m);
    let engine = LIVE.load(Ordering::Relaxed) - base;
    println!(
        "{scale} pods: {n} endpoints; after apply {:.0} B/endpoint, after sync {:.0}, settled engine {:.0}",
        applied as f64 / n as f64,
        synced as f64 / n as f64,
        engine as f64 / n as f64
    );
    drop(events);
    drop(cluster);
    // The marker: massif's peak is the engine plus these bytes.
    let marker = vec![1u8; 1 << 30];
    std::hint::black_box(&marker);
    drop(marker);
    drop(e);
}
