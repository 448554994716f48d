//! The `json_ingest` bench's readings of one source's initial events at
//! scale S (`benches/engine.rs`), each run once, for instruction counts
//! under callgrind, where the wall clock of a shared machine says little:
//!
//! ```text
//! cargo build --release -p sliceplane-workload --example json_cost
//! valgrind --tool=callgrind --toggle-collect='json_cost::run*' \
//!     target/release/examples/json_cost pods parse
//! ```
//!
//! Arguments: the source (`pods` or `ciliumendpoints`) and what to run:
//! `floor` (every line into serde's `IgnoredAny`), `read` (what
//! `Engine::apply_json` does before the engine's apply: the borrowed
//! reading and a Pod's or CiliumEndpoint's checked input), `parse` (every
//! line read the owned way, as a `WatchEvent`: what `apply_json` does only
//! for a DELETED event, a slice or identity, or one the borrowed reading
//! leaves to it) or `apply` (every line through `Engine::apply_json` into
//! a fresh engine, built before `run`, so not counted: the bench's
//! `parse_and_apply` row does not time it either). Run natively it prints
//! the time, events/s and bytes per event.

use std::hint::black_box;
use std::time::Instant;

use sliceplane::config::{Config, RateLimitStep, Source as EngineSource};
use sliceplane::model::event::BorrowedReader;
use sliceplane::{Engine, WatchEvent};
use sliceplane_workload::{Cluster, Scale, Source, WorkloadSpec};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config(source: Source) -> Config {
    let mut c = Config {
        source: match source {
            Source::Pods => EngineSource::Pods,
            Source::CiliumEndpoints => EngineSource::Ciliumendpoints,
        },
        ..Config::default()
    };
    c.write.sync_delay_ms = 0;
    c.write.rate_limits = vec![RateLimitStep {
        nodes: 0,
        limit: 1e12,
        burst: u32::MAX,
    }];
    c
}

#[inline(never)]
fn run(what: &str, source: Source, lines: &[Vec<u8>], e: &mut Engine) {
    match what {
        "floor" => {
            for l in lines {
                black_box(serde_json::from_slice::<serde::de::IgnoredAny>(l).expect("valid"));
            }
        }
        "read" => {
            let mut r = BorrowedReader::default();
            let source = config(source).source;
            for l in lines {
                assert!(r.read(l, source), "read borrowed");
            }
        }
        "parse" => {
            for l in lines {
                black_box(WatchEvent::from_json(l).expect("valid"));
            }
        }
        "apply" => {
            for l in lines {
                e.apply_json(l, 0).expect("valid");
            }
            black_box(&*e);
        }
        "dump" => {
            for l in lines.iter().step_by(lines.len().div_ceil(8).max(1)) {
                println!("{}", String::from_utf8_lossy(l));
            }
        }
        other => panic!("unknown reading {other:?}: floor, read, parse, apply or dump"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let source = match args.next().as_deref() {
        Some("ciliumendpoints") => Source::CiliumEndpoints,
        _ => Source::Pods,
    };
    let what = args.next().unwrap_or_else(|| "parse".into());
    let cluster = Cluster::generate(&WorkloadSpec::scale(Scale::S)).expect("valid spec");
    let lines: Vec<Vec<u8>> = cluster
        .initial_events_iter(source)
        .map(|t| serde_json::to_vec(&t.event.to_json_value()).expect("serializes"))
        .collect();
    let bytes: usize = lines.iter().map(Vec::len).sum();
    // Built and dropped outside `run`, as the bench's rows leave them untimed.
    let mut engine = Engine::new(config(source)).expect("valid config");
    let start = Instant::now();
    run(&what, source, &lines, &mut engine);
    let t = start.elapsed().as_secs_f64();
    println!(
        "{what}: {} events, {:.1} B/event, {:.3} ms, {:.3} M events/s",
        lines.len(),
        bytes as f64 / lines.len() as f64,
        t * 1e3,
        lines.len() as f64 / t / 1e6
    );
}
