//! `sliceplane run`: watch events in, write plan out.
//!
//! **Files** (and stdin that ends): everything read is the initial state. It
//! is applied at time 0, `initial_sync_done(0)`, then the engine is flushed
//! "as if all time had passed": time jumps to each `next_due()` (sync delay,
//! identity grace periods) and every planned write is applied to an
//! in-memory [`Mirror`] and reported, until nothing more is planned.
//!
//! **Live stdin** (`kubectl get -w ... | sliceplane run -`): a thread reads
//! stdin. What arrives before the first 1-second gap is the initial state;
//! then `initial_sync_done`, and the main loop applies each event at the
//! wall-clock time (ms since start) it arrives and flushes at least every
//! 100 ms, printing each op when it becomes due (jsonl) and reporting
//! success through the Mirror. When stdin ends it flushes as in file mode.
//! If stdin ends before any 1-second gap, it is exactly file mode.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use clap::{Args as ClapArgs, ValueEnum};
use serde_json::{Value, json};
use sliceplane::config::Source;
use sliceplane::mirror::Mirror;
use sliceplane::{Engine, PlannedWrite};

use crate::input::{self, Item};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SourceArg {
    Pods,
    Ciliumendpoints,
}

impl From<SourceArg> for Source {
    fn from(s: SourceArg) -> Source {
        match s {
            SourceArg::Pods => Source::Pods,
            SourceArg::Ciliumendpoints => Source::Ciliumendpoints,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Jsonl,
    ListJson,
    ListYaml,
}

#[derive(ClapArgs)]
pub struct Args {
    /// Files of watch events, Lists or objects; `-` (or nothing) reads stdin.
    pub files: Vec<String>,
    /// Engine config (YAML or JSON).
    #[arg(long)]
    pub config: Option<String>,
    /// Seed (overrides the config).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Endpoint source (overrides the config).
    #[arg(long, value_enum)]
    pub source: Option<SourceArg>,
    /// jsonl: one {"op","object"} per line; list-json/list-yaml: the final desired objects as a List.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub output: Output,
}

/// Builds the engine from `--config`, `--seed`, `--source`.
pub fn engine(
    config: Option<&str>,
    seed: Option<u64>,
    source: Option<SourceArg>,
) -> anyhow::Result<Engine> {
    let mut cfg = input::read_config(config)?;
    if let Some(s) = seed {
        cfg.seed = s;
    }
    if let Some(s) = source {
        cfg.source = s.into();
    }
    Engine::new(cfg).map_err(|e| anyhow::anyhow!("config: {e}"))
}

/// Applies items at `now`; reports rejected ones on stderr. Returns the number rejected.
pub fn apply_items(engine: &mut Engine, items: &[Item], now: u64) -> usize {
    let mut rejected = 0;
    for item in items {
        let r = match &item.event {
            Ok(ev) => engine.apply(ev, now),
            Err(e) => Err(e.clone()),
        };
        if let Err(e) = r {
            eprintln!("error: {}: {e}", item.at);
            rejected += 1;
        }
    }
    rejected
}

/// Flushes from `now` on as if all time passed: jumps to each `next_due`,
/// applies every plan to the mirror (all writes succeed) and hands each
/// write to `sink`, until nothing more is planned. Returns the final time.
pub fn drain(
    engine: &mut Engine,
    mirror: &mut Mirror,
    mut now: u64,
    sink: &mut dyn FnMut(&PlannedWrite),
) -> anyhow::Result<u64> {
    let mut idle = 0;
    for _ in 0..100_000 {
        if let Some(due) = engine.next_due() {
            now = now.max(due);
        }
        let plan = engine.flush(now);
        if plan.is_empty() {
            match engine.next_due() {
                None => break,
                Some(_) if idle > 20 => break,
                Some(_) => {
                    // Something is due but held back (rate limit): let time pass.
                    idle += 1;
                    now += 1_000;
                    continue;
                }
            }
        }
        idle = 0;
        for w in &plan.writes {
            sink(w);
        }
        mirror
            .apply_plan(engine, &plan, now)
            .map_err(|e| anyhow::anyhow!("report: {e}"))?;
    }
    Ok(now)
}

/// The final desired objects as a kubectl-applyable List.
pub fn desired_list(engine: &Engine) -> Value {
    let mut items: Vec<Value> = Vec::new();
    if engine.config().source == Source::Pods {
        for i in engine.desired_identities() {
            items.push(serde_json::to_value(i).unwrap_or(Value::Null));
        }
    }
    for s in engine.desired_slices() {
        items.push(serde_json::to_value(s).unwrap_or(Value::Null));
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

pub fn main(args: Args) -> anyhow::Result<u8> {
    let mut engine = engine(args.config.as_deref(), args.seed, args.source)?;
    let files = if args.files.is_empty() {
        vec!["-".to_string()]
    } else {
        args.files.clone()
    };
    let stdout = std::io::stdout();
    let live_stdin = files.len() == 1 && files[0] == "-";
    // Live stdin prints each op as it becomes due: line-buffered.
    let mut out: Box<dyn Write> = if live_stdin {
        Box::new(std::io::LineWriter::new(stdout.lock()))
    } else {
        Box::new(std::io::BufWriter::new(stdout.lock()))
    };
    let mut mirror = Mirror::new();
    let mut rejected = 0;
    let mut write_err: Option<std::io::Error> = None;
    let jsonl = args.output == Output::Jsonl;
    let mut sink = |w: &PlannedWrite| {
        if jsonl
            && write_err.is_none()
            && let Err(e) = writeln!(out, "{}", w.to_json())
        {
            write_err = Some(e);
        }
    };
    if live_stdin {
        rejected += live(&mut engine, &mut mirror, &mut sink)?;
    } else {
        for f in &files {
            let items = input::read_all(f)?;
            rejected += apply_items(&mut engine, &items, 0);
        }
        engine.initial_sync_done(0);
        drain(&mut engine, &mut mirror, 0, &mut sink)?;
    }
    match args.output {
        Output::Jsonl => {}
        Output::ListJson => {
            serde_json::to_writer_pretty(&mut out, &desired_list(&engine))?;
            writeln!(out)?;
        }
        Output::ListYaml => {
            out.write_all(serde_yaml_ng::to_string(&desired_list(&engine))?.as_bytes())?;
        }
    }
    if let Some(e) = write_err
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e.into());
    }
    let _ = out.flush();
    Ok(if rejected > 0 { 1 } else { 0 })
}

/// Stdin: initial state up to the first 1-second gap, then live (see module doc).
fn live(
    engine: &mut Engine,
    mirror: &mut Mirror,
    sink: &mut dyn FnMut(&PlannedWrite),
) -> anyhow::Result<usize> {
    let (tx, rx) = mpsc::channel::<Vec<Item>>();
    let reader = std::thread::spawn(move || -> std::io::Result<()> {
        use std::io::BufRead;
        let mut parser = input::Parser::new("<stdin>");
        for line in std::io::stdin().lock().lines() {
            let mut items = Vec::new();
            parser.push_line(&line?, &mut items);
            if !items.is_empty() && tx.send(items).is_err() {
                return Ok(());
            }
        }
        let mut items = Vec::new();
        parser.finish(&mut items);
        let _ = tx.send(items);
        Ok(())
    });
    let start = Instant::now();
    let clock = || start.elapsed().as_millis() as u64;
    let mut rejected = 0;
    // Initial state.
    let mut ended = false;
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(items) => rejected += apply_items(engine, &items, 0),
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => {
                ended = true;
                break;
            }
        }
    }
    let now = if ended { 0 } else { clock() };
    engine.initial_sync_done(now);
    if !ended {
        let mut last_flush = 0u64;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(items) => rejected += apply_items(engine, &items, clock()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = clock();
            if now >= last_flush + 100 || engine.next_due().is_some_and(|d| d <= now) {
                let plan = engine.flush(now);
                for w in &plan.writes {
                    sink(w);
                }
                mirror
                    .apply_plan(engine, &plan, now)
                    .map_err(|e| anyhow::anyhow!("report: {e}"))?;
                last_flush = now;
            }
        }
    }
    match reader.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => anyhow::bail!("cannot read <stdin>: {e}"),
        Err(_) => anyhow::bail!("stdin reader panicked"),
    }
    drain(engine, mirror, if ended { 0 } else { clock() }, sink)?;
    Ok(rejected)
}
