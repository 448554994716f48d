//! `sliceplane run`: watch events in, write plan out.
//!
//! **Server state.** The CiliumEndpointSlices and CiliumIdentities in the
//! input are what the API server holds. Each one the engine accepts goes to
//! the engine (which adopts and repairs them) *and* to the in-memory
//! [`Mirror`] that answers the writes, exactly as given (name,
//! resourceVersion, uid, content): a List item or ADDED/MODIFIED stores it,
//! DELETED removes it, in file mode and in live mode alike. So the printed
//! ops apply cleanly, in order, to a cluster holding that state: an adopted
//! slice is updated with its own resourceVersion, never re-created. A write
//! the mirror still refuses is reported on stderr (`warning: ...`).
//!
//! **Files** (and stdin that ends): everything read is the initial state. It
//! is applied at time 0 as it is read (input is streamed),
//! `initial_sync_done(0)`, then the engine is flushed "as if all time had
//! passed": time jumps to each `next_due()` (sync delay, identity grace
//! periods) and every planned write is applied to the mirror and reported,
//! until nothing more is planned.
//!
//! **Live stdin** (`kubectl get -w ... | sliceplane run -`): a thread reads
//! stdin. What arrives before the first 1-second gap is the initial state;
//! then `initial_sync_done`, and the main loop applies each event at the
//! wall-clock time (ms since start) it arrives and flushes at least every
//! 100 ms, printing each op when it becomes due (jsonl) and reporting
//! success through the mirror. When stdin ends it flushes as in file mode.
//! If stdin ends before any 1-second gap, it is exactly file mode.
//!
//! **Output** (`--output jsonl`, the default): one planned write per line,
//! in the one shape every binding returns ([`sliceplane::wire::Write`]):
//! `{"id", "op", "group", "version", "plural", "kind", "name", "object",
//! "preconditions"}`.
//!
//! **Input errors** (see [`crate::input`]): every rejected value, be it
//! cut off, not JSON, or refused by the engine, gets one stderr line
//! `error: <source>:<position>: [code] ...`, and the exit code is 1; the
//! valid events around it are applied.

use std::fs::File;
use std::io::Write;

use clap::{Args as ClapArgs, ValueEnum};
use serde_json::{Value, json};
use sliceplane::config::Source;
use sliceplane::wire::LineEncoder;
use sliceplane::{Engine, PlannedWrite};

use crate::input;

mod live;
mod session;
#[cfg(test)]
mod tests;

pub use session::{Report, Session, apply_items, drain};

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

/// The long help of `sliceplane run` (`sliceplane run --help`).
pub const LONG_ABOUT: &str = "\
Read watch events (files or `-` for stdin) and print the write plan.

Input: watch events as `kubectl get -w --output-watch-events -o json` prints \
them (JSON lines or pretty-printed), Lists, or bare objects. A line that starts \
with `{` or `[` in column 0 begins a new value: a value cut off before it, or a \
line that is not JSON, is reported once on stderr with its position \
(`error: FILE:LINE: ...`, exit code 1) and never hides the valid events around it.

Output (--output jsonl): one planned write per line, the shape every binding \
returns: {\"id\", \"op\", \"group\", \"version\", \"plural\", \"kind\", \"name\", \
\"object\", \"preconditions\"}; \"op\" is create, update or delete and \"object\" the \
object to send.

Server state: the CiliumEndpointSlices and CiliumIdentities in the input are \
what the API server holds (with their resourceVersions and uids). The engine \
adopts and repairs them, and the printed ops apply cleanly, in order, to a \
cluster that holds them: an adopted slice is updated, not re-created. On a \
live pipe, later ADDED/MODIFIED/DELETED events of these kinds change that state.

Files (and stdin that ends within a second of its last line) are the initial \
state; at the end everything is flushed as if all time had passed and every \
write succeeded. On a live pipe (`kubectl get -w ... | sliceplane run -`), what \
arrives before the first one-second pause is the initial state; after it, ops \
are printed as they become due on wall-clock time.";

#[derive(ClapArgs)]
pub struct Args {
    /// Files of watch events, Lists or objects (slices and identities in them
    /// are the server state); `-` (or nothing) reads stdin.
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
    /// jsonl: one planned write per line ({"id","op","group","version","plural","kind","name","object","preconditions"});
    /// list-json/list-yaml: the final desired objects as a List.
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

/// Prints ops (jsonl mode) to stdout and diagnostics to stderr.
struct Printer<W: Write> {
    out: W,
    jsonl: bool,
    /// Each op's line, written straight from the planned objects (the
    /// bytes of [`sliceplane::wire::Write::to_json_line`]).
    encoder: LineEncoder,
    write_err: Option<std::io::Error>,
}

impl<W: Write> Report for Printer<W> {
    fn op(&mut self, write: &PlannedWrite) {
        if !self.jsonl || self.write_err.is_some() {
            return;
        }
        let line = self.encoder.line(write);
        if let Err(e) = self
            .out
            .write_all(line)
            .and_then(|()| self.out.write_all(b"\n"))
        {
            self.write_err = Some(e);
        }
    }

    fn diag(&mut self, line: String) {
        eprintln!("{line}");
    }
}

pub fn main(args: Args) -> anyhow::Result<u8> {
    let engine = engine(args.config.as_deref(), args.seed, args.source)?;
    let files = if args.files.is_empty() {
        vec!["-".to_string()]
    } else {
        args.files.clone()
    };
    let stdout = std::io::stdout();
    let live_stdin = files.len() == 1 && files[0] == "-";
    // Live stdin prints each op as it becomes due: line-buffered.
    let out: Box<dyn Write> = if live_stdin {
        Box::new(std::io::LineWriter::new(stdout.lock()))
    } else {
        Box::new(std::io::BufWriter::with_capacity(1 << 16, stdout.lock()))
    };
    let mut printer = Printer {
        out,
        jsonl: args.output == Output::Jsonl,
        encoder: LineEncoder::new(),
        write_err: None,
    };
    let mut session = Session::light(engine);
    if live_stdin {
        live::live(&mut session, &mut printer)?;
    } else {
        for f in &files {
            let reader: Box<dyn std::io::Read> = if f == "-" {
                Box::new(std::io::stdin())
            } else {
                Box::new(File::open(f).map_err(|e| anyhow::anyhow!("cannot open {f}: {e}"))?)
            };
            let reader = std::io::BufReader::with_capacity(1 << 18, reader);
            session.read_source(input::source_name(f), reader, &mut printer)?;
        }
        session.finish_initial(&mut printer)?;
    }
    let mut out = printer.out;
    match args.output {
        Output::Jsonl => {}
        Output::ListJson => {
            serde_json::to_writer_pretty(&mut out, &desired_list(&session.engine))?;
            writeln!(out)?;
        }
        Output::ListYaml => {
            out.write_all(serde_yaml_ng::to_string(&desired_list(&session.engine))?.as_bytes())?;
        }
    }
    if let Some(e) = printer.write_err
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e.into());
    }
    let _ = out.flush();
    Ok(if session.rejected > 0 { 1 } else { 0 })
}
