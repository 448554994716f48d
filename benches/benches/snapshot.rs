//! Criterion benches for the snapshot figures (DESIGN.md §6, §12).
//!
//! Run: `cargo bench -p sliceplane-workload --bench snapshot`. Scale L is
//! included only when `SLICEPLANE_BENCH_L=1`.
//!
//! - publish/<changes>/<scale>: `Engine::publish` after 1, 100 or 1,000
//!   endpoint changes (an endpoint's identity flips; applying them is not
//!   timed). Target at L, 1,000 changes: ≤ 1 ms.
//! - ip_lookup/<how>/<scale>: IP → identity while another thread applies
//!   changes and publishes continuously. `reader` loads the latest snapshot
//!   through the `SnapshotReader` on every lookup; `held` looks up in a
//!   snapshot already loaded. Target: ≤ 100 ns.
//! - ip_lookup/dram_floor/<scale>: the floor of a lookup into a table of
//!   1M entries, measured under the same busy writer: one dependent random
//!   DRAM access, a pointer chase over a 1 GiB array (a random cyclic
//!   permutation of cache-line indexes; each load depends on the previous),
//!   in ns per hop. Target (issue 15): `held` ≤ 1.5 × the floor at L. After
//!   the criterion runs each scale prints `held / floor` from its own
//!   back-to-back medians (1M lookups against 1M hops, 5 rounds each).

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

// The embedding program picks the allocator; the CLI uses mimalloc too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sliceplane::config::{Config, Source as EngineSource};
use sliceplane::mirror::Mirror;
use sliceplane::{Engine, Object, WatchEvent};
use sliceplane_workload::{Cluster, Scale, Source, WorkloadSpec};

fn scales() -> Vec<Scale> {
    let mut v = vec![Scale::M];
    if std::env::var("SLICEPLANE_BENCH_L").is_ok_and(|v| v == "1") {
        v.push(Scale::L);
    }
    v
}

/// A built, settled, once-published engine (CiliumEndpoint source), the
/// identity flips (flip, flip back) of its endpoints, and their IPs.
fn setup(scale: Scale) -> (Engine, Vec<[WatchEvent; 2]>, Vec<IpAddr>) {
    let cluster = Cluster::generate(&WorkloadSpec::scale(scale)).expect("valid spec");
    let mut c = Config {
        source: EngineSource::Ciliumendpoints,
        ..Config::default()
    };
    c.write.sync_delay_ms = 0;
    let mut e = Engine::new(c).expect("valid config");
    for t in cluster.initial_events_iter(Source::CiliumEndpoints) {
        e.apply(&t.event, 0).expect("generated events are valid");
    }
    e.initial_sync_done(0);
    Mirror::new().settle(&mut e, 0, 10).expect("settles");
    e.publish();
    let ceps = cluster.ciliumendpoints();
    let ips: Vec<IpAddr> = ceps
        .iter()
        .filter_map(|c| {
            c.status
                .networking
                .as_ref()?
                .addressing
                .first()?
                .ipv4
                .as_ref()?
                .parse()
                .ok()
        })
        .collect();
    let flips = ceps
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
    (e, flips, ips)
}

fn publish(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish");
    g.sample_size(20);
    for scale in scales() {
        let (mut e, flips, _) = setup(scale);
        let mut k = 0usize;
        for changes in [1usize, 100, 1000] {
            g.bench_function(BenchmarkId::new(format!("{changes}"), scale), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        for _ in 0..changes {
                            let ev = &flips[k % flips.len()][(k / flips.len()) % 2];
                            k += 1;
                            let _ = e.apply(ev, 1);
                        }
                        let start = Instant::now();
                        let s = e.publish();
                        total += start.elapsed();
                        black_box(s.version());
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

/// 1 GiB of `usize`s (on a 64-bit target) forming one random cycle over
/// its cache lines: `a[8·i]` holds `8·next(i)`. Built once per run.
fn chase_array() -> &'static [usize] {
    static ARRAY: OnceLock<Vec<usize>> = OnceLock::new();
    ARRAY.get_or_init(|| {
        const BYTES: usize = 1 << 30;
        const PER_LINE: usize = 64 / std::mem::size_of::<usize>();
        let n = BYTES / std::mem::size_of::<usize>();
        let lines = n / PER_LINE;
        // Sattolo's algorithm: a uniformly random permutation that is one
        // cycle through every line (fixed seed: the same cycle every run).
        let mut perm: Vec<usize> = (0..lines).collect();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in (1..lines).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            perm.swap(i, (x % i as u64) as usize);
        }
        let mut a = vec![0usize; n];
        for (i, &next) in perm.iter().enumerate() {
            a[i * PER_LINE] = next * PER_LINE;
        }
        a
    })
}

/// Follows `hops` links from `start`; returns where it ended.
#[inline(never)]
fn chase(a: &[usize], start: usize, hops: u64) -> usize {
    let mut p = start;
    for _ in 0..hops {
        p = a[p];
    }
    p
}

/// The median of 5 rounds of `f` (which does `n` operations), in ns per operation.
fn median_ns(n: u64, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[2]
}

fn ip_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("ip_lookup");
    for scale in scales() {
        let (mut e, flips, ips) = setup(scale);
        let reader = e.snapshot_reader();
        let stop = Arc::new(AtomicBool::new(false));
        let publishes = Arc::new(AtomicU64::new(0));
        // The busy writer: 100 changes then a publish, until stopped.
        let writer = {
            let (stop, publishes) = (stop.clone(), publishes.clone());
            std::thread::spawn(move || {
                let mut k = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..100 {
                        let ev = &flips[k % flips.len()][(k / flips.len()) % 2];
                        k += 1;
                        let _ = e.apply(ev, 1);
                    }
                    e.publish();
                    publishes.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        // Random order, fixed seed: lookups miss the caches as real traffic would.
        let mut order: Vec<IpAddr> = ips.clone();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in (1..order.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("reader", scale), |b| {
            b.iter(|| {
                let ip = &order[i % order.len()];
                i += 1;
                black_box(reader.identity_of_ip(ip))
            })
        });
        g.bench_function(BenchmarkId::new("held", scale), |b| {
            let snap = reader.load();
            b.iter(|| {
                let ip = &order[i % order.len()];
                i += 1;
                black_box(snap.identity_of_ip(ip))
            })
        });
        let floor = chase_array();
        let mut at = 0usize;
        g.bench_function(BenchmarkId::new("dram_floor", scale), |b| {
            b.iter_custom(|hops| {
                let start = Instant::now();
                at = black_box(chase(floor, at, hops));
                start.elapsed()
            })
        });
        // The ratio from back-to-back medians in the same conditions.
        const N: u64 = 1_000_000;
        let snap = reader.load();
        let held = median_ns(N, || {
            for k in 0..N as usize {
                black_box(snap.identity_of_ip(&order[(i + k) % order.len()]));
            }
        });
        let hop = median_ns(N, || at = black_box(chase(floor, at, N)));
        println!(
            "ip_lookup/{scale}: held {held:.1} ns, DRAM floor {hop:.1} ns/hop, \
             held / floor = {:.2} (target ≤ 1.5 at L)",
            held / hop
        );
        drop(snap);
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("writer");
        println!(
            "ip_lookup/{scale}: the writer published {} snapshots meanwhile",
            publishes.load(Ordering::Relaxed)
        );
    }
    g.finish();
}

criterion_group!(benches, publish, ip_lookup);
criterion_main!(benches);
