//! Criterion benches for the §12 figures, on the shared workload generator.
//!
//! Run: `cargo bench -p sliceplane-workload --bench engine` (all), or with a
//! filter, e.g. `-- cold_build/pods/M`. Scale L is included only when
//! `SLICEPLANE_BENCH_L=1` (it takes minutes: generation alone is seconds).
//!
//! Figures (DESIGN.md §12):
//! - cold_build/<source>/<scale>: apply the initial events, initial sync,
//!   and the full first plan (identities and slices), sync delay 0.
//! - churn_apply/<source>/<scale>: apply one rolling-update trace to a built
//!   engine (events/s = trace length / time).
//! - flush/<scale>: one flush after 1,000 endpoint changes.
//! - event_to_plan/<scale>: one endpoint change then the flush that carries
//!   it (sync delay 0, no rate limit): the per-event latency to a planned op.
//! - restart_adoption/<scale>: restart on an unchanged cluster (adopt the
//!   server's slices, plan nothing).
//! - flush_rate_limited/<scale>: a flush after 1,000 changes with the default
//!   10/s burst-20 limiter.

use std::hint::black_box;

// The embedding program picks the allocator; the CLI uses mimalloc too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sliceplane::config::{Config, Source as EngineSource};
use sliceplane::mirror::Mirror;
use sliceplane::{Engine, WatchEvent};
use sliceplane_workload::{Cluster, Scale, Source, Trace, WorkloadSpec};

fn config(source: Source) -> Config {
    let mut c = Config {
        source: match source {
            Source::Pods => EngineSource::Pods,
            Source::CiliumEndpoints => EngineSource::Ciliumendpoints,
        },
        ..Config::default()
    };
    // §12 figures are taken with sync delay 0 and no rate limit: the whole
    // plan is due at once. (`flush_rate_limited` puts the default back.)
    c.write.sync_delay_ms = 0;
    c.write.rate_limits = vec![sliceplane::config::RateLimitStep {
        nodes: 0,
        limit: 1e12,
        burst: u32::MAX,
    }];
    c
}

fn scales() -> Vec<Scale> {
    let mut v = vec![Scale::S, Scale::M];
    if std::env::var("SLICEPLANE_BENCH_L").is_ok_and(|v| v == "1") {
        v.push(Scale::L);
    }
    v
}

fn build(events: &[WatchEvent], source: Source) -> Engine {
    let mut e = Engine::new(config(source)).expect("valid config");
    for ev in events {
        e.apply(ev, 0).expect("generated events are valid");
    }
    e.initial_sync_done(0);
    e
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Pods => "pods",
        Source::CiliumEndpoints => "ciliumendpoints",
    }
}

fn cold_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("cold_build");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for scale in scales() {
        let cluster = Cluster::generate(&WorkloadSpec::scale(scale)).expect("valid spec");
        for source in [Source::Pods, Source::CiliumEndpoints] {
            let events: Vec<WatchEvent> = cluster
                .initial_events_iter(source)
                .map(|t| t.event)
                .collect();
            g.throughput(Throughput::Elements(cluster.pods().len() as u64));
            g.bench_function(BenchmarkId::new(source_name(source), scale), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let mut e = build(&events, source);
                        let plan = e.flush(0);
                        total += start.elapsed();
                        black_box(plan.len());
                        drop(e);
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

fn churn_apply(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn_apply");
    g.sample_size(10);
    for scale in scales() {
        for source in [Source::Pods, Source::CiliumEndpoints] {
            let mut cluster = Cluster::generate(&WorkloadSpec::scale(scale)).expect("valid spec");
            let initial: Vec<WatchEvent> = cluster
                .initial_events_iter(source)
                .map(|t| t.event)
                .collect();
            let trace: Vec<WatchEvent> = cluster
                .churn(Trace::RollingUpdate, source, 7)
                .into_iter()
                .map(|t| t.event)
                .collect();
            let mut base = build(&initial, source);
            Mirror::new().settle(&mut base, 0, 10).expect("settles");
            g.throughput(Throughput::Elements(trace.len() as u64));
            g.bench_function(BenchmarkId::new(source_name(source), scale), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut e = base.clone();
                        let start = Instant::now();
                        for ev in &trace {
                            let _ = e.apply(ev, 1);
                        }
                        total += start.elapsed();
                        drop(e);
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

fn flush_and_latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("flush");
    g.sample_size(10);
    for scale in scales() {
        let mut cluster = Cluster::generate(&WorkloadSpec::scale(scale)).expect("valid spec");
        let initial: Vec<WatchEvent> = cluster
            .initial_events_iter(Source::CiliumEndpoints)
            .map(|t| t.event)
            .collect();
        let trace: Vec<WatchEvent> = cluster
            .churn(Trace::RollingUpdate, Source::CiliumEndpoints, 7)
            .into_iter()
            .map(|t| t.event)
            .collect();
        let mut base = build(&initial, Source::CiliumEndpoints);
        let mut base_mirror = Mirror::new();
        base_mirror.settle(&mut base, 0, 10).expect("settles");
        let changes: Vec<&WatchEvent> = trace.iter().take(1000).collect();
        g.bench_function(BenchmarkId::new("after_1000_changes", scale), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut e = base.clone();
                    for ev in &changes {
                        let _ = e.apply(ev, 1);
                    }
                    let start = Instant::now();
                    let plan = e.flush(1);
                    total += start.elapsed();
                    black_box(plan.len());
                }
                total
            })
        });
        // One real change (an endpoint's identity flips), then the flush
        // that plans its write, which then succeeds.
        let ceps = cluster.ciliumendpoints();
        let flips: Vec<[WatchEvent; 2]> = ceps
            .iter()
            .take(10_000)
            .map(|c| {
                let mut changed = c.clone();
                if let Some(id) = changed.status.identity.as_mut() {
                    id.id += 1_000_000;
                }
                [
                    WatchEvent::modified(sliceplane::Object::CiliumEndpoint(changed)),
                    WatchEvent::modified(sliceplane::Object::CiliumEndpoint(c.clone())),
                ]
            })
            .collect();
        // The engine and the mirror it was settled against, kept in step.
        let mut e = base.clone();
        let mut m = base_mirror.clone();
        let mut k = 0usize;
        let mut now = 1u64;
        g.bench_function(BenchmarkId::new("event_to_plan", scale), |b| {
            b.iter(|| {
                let ev = &flips[k % flips.len()][(k / flips.len()) % 2];
                k += 1;
                now += 1;
                let _ = e.apply(ev, now);
                let plan = e.flush(now);
                for w in &plan.writes {
                    let outcome = m.apply(&w.op);
                    let _ = e.report(w.id, &outcome, now);
                }
                black_box(plan.len())
            })
        });
    }
    g.finish();
}

/// Restart: a fresh engine fed the slices the server holds plus the same
/// cluster, initial sync (adoption) and the first flush, which must plan
/// nothing for an unchanged cluster.
fn restart(c: &mut Criterion) {
    let mut g = c.benchmark_group("restart_adoption");
    g.sample_size(10);
    for scale in scales() {
        let cluster = Cluster::generate(&WorkloadSpec::scale(scale)).expect("valid spec");
        let initial: Vec<WatchEvent> = cluster
            .initial_events_iter(Source::CiliumEndpoints)
            .map(|t| t.event)
            .collect();
        let mut first = build(&initial, Source::CiliumEndpoints);
        let mut mirror = Mirror::new();
        mirror.settle(&mut first, 0, 1_000_000).expect("settles");
        let slices: Vec<WatchEvent> = mirror
            .slices
            .values()
            .map(|s| WatchEvent::added(sliceplane::Object::CiliumEndpointSlice(s.clone())))
            .collect();
        drop(first);
        g.throughput(Throughput::Elements(cluster.pods().len() as u64));
        g.bench_function(BenchmarkId::new("ciliumendpoints", scale), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let mut e = Engine::new(config(Source::CiliumEndpoints)).expect("valid config");
                    for ev in slices.iter().chain(initial.iter()) {
                        e.apply(ev, 0).expect("valid");
                    }
                    e.initial_sync_done(0);
                    let plan = e.flush(1_000_000);
                    total += start.elapsed();
                    assert!(plan.is_empty(), "an unchanged cluster costs zero writes");
                    drop(e);
                }
                total
            })
        });
    }
    g.finish();
}

/// Flush after 1,000 changes with the default rate limit (10/s, burst 20).
fn flush_rate_limited(c: &mut Criterion) {
    let mut g = c.benchmark_group("flush_rate_limited");
    g.sample_size(10);
    for scale in scales() {
        let mut cluster = Cluster::generate(&WorkloadSpec::scale(scale)).expect("valid spec");
        let initial: Vec<WatchEvent> = cluster
            .initial_events_iter(Source::CiliumEndpoints)
            .map(|t| t.event)
            .collect();
        let trace: Vec<WatchEvent> = cluster
            .churn(Trace::RollingUpdate, Source::CiliumEndpoints, 7)
            .into_iter()
            .map(|t| t.event)
            .collect();
        let mut limited = config(Source::CiliumEndpoints);
        limited.write.rate_limits = Config::default().write.rate_limits;
        let mut base = Engine::new(limited).expect("valid config");
        for ev in &initial {
            base.apply(ev, 0).expect("valid");
        }
        base.initial_sync_done(0);
        Mirror::new()
            .settle(&mut base, 0, 1_000_000)
            .expect("settles");
        g.bench_function(BenchmarkId::new("after_1000_changes", scale), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut e = base.clone();
                    let t = 10_000_000;
                    for ev in trace.iter().take(1000) {
                        let _ = e.apply(ev, t);
                    }
                    let start = Instant::now();
                    let plan = e.flush(t);
                    total += start.elapsed();
                    assert!(plan.len() <= 20, "burst 20");
                    black_box(plan.len());
                }
                total
            })
        });
    }
    g.finish();
}

/// The JSON path the bindings use: watch events as JSON lines, parsed and applied.
fn json_ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("json_ingest");
    g.sample_size(10);
    let cluster = Cluster::generate(&WorkloadSpec::scale(Scale::S)).expect("valid spec");
    for source in [Source::Pods, Source::CiliumEndpoints] {
        let lines: Vec<Vec<u8>> = cluster
            .initial_events_iter(source)
            .map(|t| serde_json::to_vec(&t.event.to_json_value()).expect("serializes"))
            .collect();
        g.throughput(Throughput::Elements(lines.len() as u64));
        // The parse floor: the same bytes read by serde_json into
        // `IgnoredAny` (every byte scanned and checked, nothing kept).
        g.bench_function(BenchmarkId::new("parse_floor", source_name(source)), |b| {
            b.iter(|| {
                for l in &lines {
                    black_box(serde_json::from_slice::<serde::de::IgnoredAny>(l).expect("valid"));
                }
            })
        });
        // What `Engine::apply_json` does before the engine's own apply: the
        // borrowed reading and, for a Pod or CiliumEndpoint, its input
        // checked and built (a Namespace, Node or CiliumNode made into its
        // owned event); `parse_and_apply` minus this row is the engine's
        // share.
        let engine_source = config(source).source;
        g.bench_function(
            BenchmarkId::new("read_borrowed", source_name(source)),
            |b| {
                b.iter(|| {
                    let mut r = sliceplane::model::event::BorrowedReader::default();
                    for l in &lines {
                        assert!(r.read(l, engine_source));
                    }
                })
            },
        );
        // The owned reading into a `WatchEvent`: what `apply_json` does
        // only for the events the borrowed reading leaves to it (DELETED
        // ones, slices, identities, any it is unsure of or would reject),
        // not for these; kept to compare the two readings.
        g.bench_function(BenchmarkId::new("parse_only", source_name(source)), |b| {
            b.iter(|| {
                for l in &lines {
                    black_box(WatchEvent::from_json(l).expect("valid"));
                }
            })
        });
        g.bench_function(
            BenchmarkId::new("parse_and_apply", source_name(source)),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut e = Engine::new(config(source)).expect("valid config");
                        let start = Instant::now();
                        for l in &lines {
                            e.apply_json(l, 0).expect("valid");
                        }
                        total += start.elapsed();
                    }
                    total
                })
            },
        );
        // The bindings' bulk path: the same events as one JSON-lines batch
        // through the stream reader and the engine.
        let batch: Vec<u8> = lines
            .iter()
            .flat_map(|l| l.iter().chain(b"\n"))
            .copied()
            .collect();
        g.bench_function(BenchmarkId::new("batch_apply", source_name(source)), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut e = Engine::new(config(source)).expect("valid config");
                    let start = Instant::now();
                    let rejected = sliceplane::wire::apply_engine_batch(&mut e, &batch, 0);
                    total += start.elapsed();
                    assert!(rejected.is_empty());
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    cold_build,
    churn_apply,
    flush_and_latency,
    restart,
    flush_rate_limited,
    json_ingest
);
criterion_main!(benches);
