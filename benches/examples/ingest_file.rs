//! The core's JSON ingest of a given JSON-lines file, so that `sliceplane
//! run` and the bindings' bulk ingest can be compared with it on the same
//! bytes and machine (issue 15; `scripts/run-vs-core.sh` prints the ratios).
//!
//! `cargo run --release -p sliceplane-workload --example ingest_file -- FILE [pods|ciliumendpoints] [ROUNDS]`
//!
//! The file is read into memory first (not timed). Each round, in order:
//! - `floor`: every line parsed by serde_json into `IgnoredAny` (the parse
//!   floor: every byte scanned and checked, nothing kept);
//! - `parse`: every line read as a [`WatchEvent`] (typed, not applied);
//! - `batch`: the whole file applied to a fresh engine through the batch
//!   path every binding uses ([`apply_engine_batch`]), then the engine's
//!   heap (live bytes it holds, counted by the allocator) is taken;
//! - `flush`: the engine's initial sync and first flush (what `run` does
//!   after reading), for context.
//!
//! Each figure is the fastest of ROUNDS (default 3). One line per figure:
//! `name seconds events/s`, then `engine_heap_bytes N`.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use sliceplane::config::{Config, Source};
use sliceplane::wire::apply_engine_batch;
use sliceplane::{Engine, WatchEvent};

/// mimalloc (as the CLI and the benches use), counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

// SAFETY: forwards to mimalloc unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { INNER.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { INNER.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as GlobalAlloc::realloc.
        unsafe { INNER.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: ingest_file FILE [pods|ciliumendpoints] [ROUNDS]");
        std::process::exit(2);
    };
    let source = match args.get(1).map(String::as_str) {
        None | Some("ciliumendpoints") => Source::Ciliumendpoints,
        Some("pods") => Source::Pods,
        Some(other) => {
            eprintln!("unknown source {other:?}");
            std::process::exit(2);
        }
    };
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);
    let bytes = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(2);
    });
    let events = lines(&bytes).count();
    let config = Config {
        source,
        ..Config::default()
    };

    let best = |name: &str, f: &mut dyn FnMut() -> f64| {
        let secs = (0..rounds.max(1))
            .map(|_| f())
            .fold(f64::INFINITY, f64::min);
        println!("{name} {secs:.4} {:.0}", events as f64 / secs);
    };
    best("floor", &mut || {
        let start = Instant::now();
        for l in lines(&bytes) {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(l).expect("valid JSON"));
        }
        start.elapsed().as_secs_f64()
    });
    best("parse", &mut || {
        let start = Instant::now();
        for l in lines(&bytes) {
            black_box(WatchEvent::from_json(l).expect("valid event"));
        }
        start.elapsed().as_secs_f64()
    });
    let mut heap = 0;
    let mut flush = f64::INFINITY;
    best("batch", &mut || {
        let before = live();
        let mut engine = Engine::new(config.clone()).expect("valid config");
        let start = Instant::now();
        let rejected = apply_engine_batch(&mut engine, &bytes, 0);
        let secs = start.elapsed().as_secs_f64();
        heap = live() - before;
        if !rejected.is_empty() {
            eprintln!(
                "{} events rejected, first: {:?}",
                rejected.len(),
                rejected[0]
            );
        }
        let start = Instant::now();
        engine.initial_sync_done(0);
        black_box(engine.flush(0).len());
        flush = flush.min(start.elapsed().as_secs_f64());
        secs
    });
    println!("flush {flush:.4} {:.0}", events as f64 / flush);
    println!("engine_heap_bytes {heap}");
}
