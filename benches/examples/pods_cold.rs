//! The pods-source cold build of `--bench engine -- cold_build/pods/<scale>`
//! (apply the initial events, initial sync, the full first plan), its
//! phases as separate non-inlined functions so an instruction counter can
//! measure each alone:
//!
//! ```text
//! cargo build --release -p sliceplane-workload --example pods_cold
//! valgrind --tool=callgrind --collect-atstart=no \
//!   --toggle-collect='pods_cold::phase_*' target/release/examples/pods_cold M
//! ```
//!
//! Without valgrind it prints each phase's wall time (mimalloc, as the bench)
//! and, on Linux, the process's resident memory after it (`VmRSS`, peak
//! `VmHWM`). With `PODS_COLD_PAUSE=<seconds>` it prints its pid and sleeps
//! after generating the workload, so a profiler can attach for the phases
//! alone (`perf record -p <pid>`).

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use sliceplane::config::{Config, RateLimitStep, Source as EngineSource};
use sliceplane::{Engine, WatchEvent};
use sliceplane_workload::{Cluster, Scale, Source, WorkloadSpec};

#[inline(never)]
fn phase_apply(e: &mut Engine, events: &[WatchEvent]) {
    for ev in events {
        e.apply(ev, 0).expect("generated events are valid");
    }
}

#[inline(never)]
fn phase_sync(e: &mut Engine) {
    e.initial_sync_done(0);
}

#[inline(never)]
fn phase_flush(e: &mut Engine) -> usize {
    e.flush(0).len()
}

/// `VmRSS` and `VmHWM` of this process in MB, when Linux tells.
fn rss() -> String {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return String::new();
    };
    let kb = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    format!(" [rss {} MB, peak {} MB]", kb("VmRSS:"), kb("VmHWM:"))
}

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
    let mut c = Config {
        source: EngineSource::Pods,
        ..Config::default()
    };
    c.write.sync_delay_ms = 0;
    c.write.rate_limits = vec![RateLimitStep {
        nodes: 0,
        limit: 1e12,
        burst: u32::MAX,
    }];
    if let Some(secs) = std::env::var("PODS_COLD_PAUSE")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        eprintln!("generated; pid {}{}", std::process::id(), rss());
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
    let r0 = rss();
    let t0 = Instant::now();
    let mut e = Engine::new(c).expect("valid config");
    phase_apply(&mut e, &events);
    let t1 = Instant::now();
    let r1 = rss();
    phase_sync(&mut e);
    let t2 = Instant::now();
    let r2 = rss();
    let ops = phase_flush(&mut e);
    let t3 = Instant::now();
    let r3 = rss();
    println!(
        "{scale} pods: {} pods; apply {:.3?}, sync {:.3?}, flush {:.3?} ({ops} ops); total {:.3?}",
        cluster.pods().len(),
        t1 - t0,
        t2 - t1,
        t3 - t2,
        t3 - t0
    );
    println!("memory: before{r0}, apply{r1}, sync{r2}, flush{r3}");
    let t = Instant::now();
    drop(e);
    println!("drop {:.3?}", t.elapsed());
}
