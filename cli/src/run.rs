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
use std::io::{BufRead, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use clap::{Args as ClapArgs, ValueEnum};
use serde_json::{Value, json};
use sliceplane::config::Source;
use sliceplane::mirror::Mirror;
use sliceplane::wire::LineEncoder;
use sliceplane::{Engine, PlannedWrite, WritePlan};

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
    now: u64,
    sink: &mut dyn FnMut(&PlannedWrite),
) -> anyhow::Result<u64> {
    drain_with(engine, now, &mut |engine, plan, now| {
        for w in &plan.writes {
            sink(w);
        }
        mirror
            .apply_plan(engine, plan, now)
            .map_err(|e| anyhow::anyhow!("report: {e}"))
    })
}

/// The loop of [`drain`]; `apply` hands a plan to the server.
fn drain_with(
    engine: &mut Engine,
    mut now: u64,
    apply: &mut dyn FnMut(&mut Engine, &WritePlan, u64) -> anyhow::Result<()>,
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
        apply(engine, &plan, now)?;
    }
    Ok(now)
}

/// Where a [`Session`] sends what it produces.
pub trait Report {
    /// A planned write, in the order planned (printed in jsonl mode).
    fn op(&mut self, write: &PlannedWrite);
    /// One line for stderr: a rejected input, a write the server refused.
    fn diag(&mut self, line: String);
}

/// `run`'s state: the engine and the in-memory API server it writes to,
/// which holds the server state read from the input (see the module docs).
pub struct Session {
    pub engine: Engine,
    pub mirror: Mirror,
    /// Input values rejected so far (reported).
    pub rejected: usize,
    /// Writes the mirror refused so far (reported): the op list would not
    /// apply cleanly to the input's server state.
    pub refused: usize,
}

impl Session {
    /// A session with an empty server that holds whole slices.
    #[cfg(test)]
    pub fn new(engine: Engine) -> Self {
        Session::with_mirror(engine, Mirror::new())
    }

    /// A session whose server keeps only what answering writes takes
    /// ([`Mirror::light`]: no slice endpoints): same ops and outcomes,
    /// far less memory. What `sliceplane run` uses.
    pub fn light(engine: Engine) -> Self {
        Session::with_mirror(engine, Mirror::light())
    }

    fn with_mirror(engine: Engine, mirror: Mirror) -> Self {
        Session {
            engine,
            mirror,
            rejected: 0,
            refused: 0,
        }
    }

    /// Applies items at `now`, in order. Every event goes to the engine;
    /// a CiliumEndpointSlice or CiliumIdentity it accepts is also what the
    /// server holds, and goes to the mirror. Rejected items are reported.
    pub fn apply(&mut self, items: &[Item], now: u64, report: &mut dyn Report) {
        for item in items {
            let r = match &item.event {
                Ok(ev) => self.engine.apply(ev, now).map(|()| {
                    // The mirror takes what the engine took, by its rules.
                    if self.engine.is_synced() {
                        self.mirror.observe(ev);
                    } else {
                        self.mirror.observe_initial(ev);
                    }
                }),
                Err(e) => Err(e.clone()),
            };
            if let Err(e) = r {
                report.diag(format!("error: {}: {e}", item.at));
                self.rejected += 1;
            }
        }
    }

    /// Flushes at `now`: each planned write is reported, applied to the
    /// mirror, and its outcome reported to the engine. Returns the number
    /// of writes.
    pub fn flush(&mut self, now: u64, report: &mut dyn Report) -> anyhow::Result<usize> {
        let plan = self.engine.flush(now);
        apply_plan(
            &mut self.engine,
            &mut self.mirror,
            &mut self.refused,
            &plan,
            now,
            report,
        )?;
        Ok(plan.len())
    }

    /// Flushes from `now` on as if all time passed (see [`drain`]).
    pub fn drain(&mut self, now: u64, report: &mut dyn Report) -> anyhow::Result<u64> {
        let (mirror, refused) = (&mut self.mirror, &mut self.refused);
        drain_with(&mut self.engine, now, &mut |engine, plan, now| {
            apply_plan(engine, mirror, refused, plan, now, report)
        })
    }

    /// [`read_source`](Self::read_source) over lines given one by one
    /// (the tests' input).
    #[cfg(test)]
    pub fn read_lines<L: AsRef<[u8]>>(
        &mut self,
        source: &str,
        lines: impl IntoIterator<Item = std::io::Result<L>>,
        report: &mut dyn Report,
    ) -> anyhow::Result<()> {
        let mut bytes = Vec::new();
        for line in lines {
            let line = line.map_err(|e| anyhow::anyhow!("cannot read {source}: {e}"))?;
            bytes.extend_from_slice(line.as_ref());
            bytes.push(b'\n');
        }
        self.read_source(source, &bytes[..], report)
    }

    /// File mode over one source read from `reader`: every line read is
    /// applied at time 0 as it comes (the initial state), each line read
    /// into one reused buffer. Call
    /// [`finish_initial`](Self::finish_initial) after the last source.
    pub fn read_source(
        &mut self,
        source: &str,
        mut reader: impl BufRead,
        report: &mut dyn Report,
    ) -> anyhow::Result<()> {
        let mut parser = input::Parser::new(source);
        let mut items = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| anyhow::anyhow!("cannot read {source}: {e}"))?;
            if n == 0 {
                break;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            // Pods, CiliumEndpoints, Namespaces, Nodes and CiliumNodes are
            // applied from their text (the mirror keeps none of them); the
            // rest, slices and identities included, become items.
            let applied = parser.push_line_applying(text, &mut items, &mut self.engine, 0);
            if let Some((position, Err(e))) = applied {
                report.diag(format!("error: {}: {e}", parser.label(&position)));
                self.rejected += 1;
            }
            self.apply(&items, 0, report);
            items.clear();
        }
        parser.finish(&mut items);
        self.apply(&items, 0, report);
        Ok(())
    }

    /// End of the initial state in file mode: the initial sync is done at
    /// time 0 and everything is flushed.
    pub fn finish_initial(&mut self, report: &mut dyn Report) -> anyhow::Result<()> {
        self.engine.initial_sync_done(0);
        self.drain(0, report)?;
        Ok(())
    }
}

/// Applies a plan to the mirror, in order, reporting each write and each
/// outcome (to `report` and the engine). A refused write is counted and
/// reported: the op list would not apply cleanly.
fn apply_plan(
    engine: &mut Engine,
    mirror: &mut Mirror,
    refused: &mut usize,
    plan: &WritePlan,
    now: u64,
    report: &mut dyn Report,
) -> anyhow::Result<()> {
    for w in &plan.writes {
        report.op(w);
        let outcome = mirror.apply(&w.op);
        if !outcome.is_success() {
            *refused += 1;
            report.diag(format!(
                "warning: {} {} {}: the server state read from the input refuses it ({outcome:?})",
                w.op.verb().as_str(),
                w.op.kind().as_str(),
                w.op.name()
            ));
        }
        engine
            .report(w.id, &outcome, now)
            .map_err(|e| anyhow::anyhow!("report: {e}"))?;
    }
    Ok(())
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
        live(&mut session, &mut printer)?;
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

/// Stdin: initial state up to the first 1-second gap, then live (see module doc).
fn live(session: &mut Session, report: &mut dyn Report) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel::<Vec<Item>>();
    let reader = std::thread::spawn(move || -> std::io::Result<()> {
        let mut parser = input::Parser::new("<stdin>");
        for line in std::io::stdin().lock().split(b'\n') {
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
    // Initial state.
    let mut ended = false;
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(items) => session.apply(&items, 0, report),
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => {
                ended = true;
                break;
            }
        }
    }
    let now = if ended { 0 } else { clock() };
    session.engine.initial_sync_done(now);
    if !ended {
        let mut last_flush = 0u64;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(items) => session.apply(&items, clock(), report),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = clock();
            if now >= last_flush + 100 || session.engine.next_due().is_some_and(|d| d <= now) {
                session.flush(now, report)?;
                last_flush = now;
            }
        }
    }
    match reader.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => anyhow::bail!("cannot read <stdin>: {e}"),
        Err(_) => anyhow::bail!("stdin reader panicked"),
    }
    session.drain(if ended { 0 } else { clock() }, report)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sliceplane::Config;
    use sliceplane::model::CiliumEndpointSlice;
    use sliceplane::wire::Write as WireWrite;
    use sliceplane::wire::test_support::{Junk, junk_lines, lines_of};

    /// Everything a session reports.
    #[derive(Default)]
    struct Collect {
        ops: Vec<String>,
        diags: Vec<String>,
        encoder: LineEncoder,
    }

    impl Report for Collect {
        fn op(&mut self, write: &PlannedWrite) {
            let line = WireWrite::from(write).to_json_line();
            // What `run` prints is that line, byte for byte.
            assert_eq!(
                std::str::from_utf8(self.encoder.line(write)),
                Ok(line.as_str())
            );
            self.ops.push(line);
        }
        fn diag(&mut self, line: String) {
            self.diags.push(line);
        }
    }

    fn session() -> Session {
        let cfg = Config {
            source: Source::Ciliumendpoints,
            seed: 7,
            ..Config::default()
        };
        Session::new(Engine::new(cfg).unwrap())
    }

    /// File mode over `lines`: the ops and reports, and the session.
    fn run_lines(lines: &[String]) -> (Collect, Session) {
        run_lines_in(session(), lines)
    }

    fn run_lines_in(mut s: Session, lines: &[String]) -> (Collect, Session) {
        let mut c = Collect::default();
        s.read_lines("t", lines.iter().map(|l| Ok(l.clone())), &mut c)
            .unwrap();
        s.finish_initial(&mut c).unwrap();
        (c, s)
    }

    /// A Node or CiliumEndpoint line the engine applies from its text
    /// (`Parser::push_line_applying`) is reported and counted as the same
    /// event read into an item is: the same diagnostic, the same count.
    #[test]
    fn events_applied_from_text_report_as_items_do() {
        let bad_node = json!({"type": "ADDED", "object": {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "Bad_Node"}}});
        let good_cep = json!({"type": "ADDED", "object": {"apiVersion": "cilium.io/v2",
            "kind": "CiliumEndpoint", "metadata": {"namespace": "shop", "name": "p1"},
            "status": {"identity": {"id": 1001},
                       "networking": {"addressing": [{"ipv4": "10.0.0.2"}], "node": "192.168.0.1"}}}});
        let lines = [bad_node.to_string(), good_cep.to_string()];
        let (c, s) = run_lines(&lines);
        // The same events read into items and applied one by one.
        let mut want = Collect::default();
        let mut owned = session();
        let items: Vec<Item> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Item {
                at: format!("t:{}", i + 1),
                event: sliceplane::WatchEvent::from_json(l.as_bytes()),
            })
            .collect();
        owned.apply(&items, 0, &mut want);
        owned.finish_initial(&mut want).unwrap();
        assert_eq!(c.diags.len(), 1, "{:?}", c.diags);
        assert_eq!(c.diags, want.diags);
        assert_eq!((s.rejected, c.ops.len()), (1, 1));
        assert_eq!(c.ops, want.ops);
        assert_eq!(s.engine.counters(), owned.engine.counters());
    }

    const NAMESPACES: [&str; 2] = ["shop", "web"];

    fn entry(name: usize) -> Value {
        json!({"name": format!("p{name}"), "id": 1000 + (name % 3) as i64,
               "networking": {"addressing": [{"ipv4": format!("10.0.0.{}", name + 1)}], "node": "192.168.0.1"}})
    }

    /// One valid event of the generated streams.
    #[derive(Debug, Clone)]
    enum Ev {
        /// A CiliumEndpoint: namespace, name, identity offset, event type.
        Cep(usize, usize, i64, &'static str),
        /// A slice the server holds: index, namespace, members, event type.
        Slice(usize, usize, Vec<usize>, &'static str),
    }

    impl Ev {
        fn to_value(&self) -> Value {
            match self {
                Ev::Cep(ns, name, id, ty) => json!({"type": ty, "object": {
                    "apiVersion": "cilium.io/v2", "kind": "CiliumEndpoint",
                    "metadata": {"name": format!("p{name}"), "namespace": NAMESPACES[*ns]},
                    "status": {"identity": {"id": 1000 + id},
                               "networking": {"addressing": [{"ipv4": format!("10.0.0.{}", name + 1)}],
                                              "node": "192.168.0.1"}}}}),
                Ev::Slice(i, ns, members, ty) => json!({"type": ty, "object": {
                    "apiVersion": "cilium.io/v2alpha1", "kind": "CiliumEndpointSlice",
                    "metadata": {"name": format!("ces-old-{i}"), "resourceVersion": format!("{}", 100 + i),
                                 "uid": format!("uid-{i}")},
                    "namespace": NAMESPACES[*ns],
                    "endpoints": members.iter().map(|&m| entry(m)).collect::<Vec<_>>()}}),
            }
        }
    }

    fn ev() -> impl Strategy<Value = Ev> {
        let ty = prop_oneof![Just("ADDED"), Just("MODIFIED"), Just("DELETED")];
        prop_oneof![
            4 => (0..2usize, 0..30usize, 0..3i64, ty.clone()).prop_map(|(ns, n, id, t)| Ev::Cep(ns, n, id, t)),
            1 => (0..4usize, 0..2usize, proptest::collection::vec(0..30usize, 0..12), ty)
                .prop_map(|(i, ns, m, t)| Ev::Slice(i, ns, m, t)),
        ]
    }

    /// A line that is not part of any valid event: an event cut off, or
    /// not JSON (the generator shared with the stream reader's tests).
    fn junk() -> impl Strategy<Value = Junk> {
        sliceplane::wire::test_support::junk(ev().prop_map(|e| e.to_value()))
    }

    /// The mirror holds exactly the slices and identities the input says
    /// the server holds: as given, newest version, deleted ones gone.
    #[test]
    fn the_mirror_holds_the_input_server_state() {
        let held = Ev::Slice(0, 0, vec![1, 2], "ADDED").to_value();
        let other = Ev::Slice(1, 1, vec![3], "ADDED").to_value();
        let newer = Ev::Slice(1, 1, vec![3, 4], "MODIFIED").to_value();
        let mut newer_obj = newer["object"].clone();
        newer_obj["metadata"]["resourceVersion"] = json!("900");
        let gone = Ev::Slice(2, 0, vec![], "ADDED").to_value();
        let identity = json!({"apiVersion": "cilium.io/v2", "kind": "CiliumIdentity",
            "metadata": {"name": "1000", "resourceVersion": "77", "uid": "uid-id"},
            "security-labels": {"k8s:app": "a"}});
        // The live endpoints of both slices.
        let ceps: Vec<Value> = [(0, 1), (0, 2), (1, 3), (1, 4)]
            .map(|(ns, n)| Ev::Cep(ns, n, (n % 3) as i64, "ADDED").to_value())
            .to_vec();
        let lines: Vec<String> = [
            held.clone(),
            other,
            json!({"type": "MODIFIED", "object": newer_obj}),
            gone.clone(),
            json!({"type": "DELETED", "object": gone["object"]}),
            json!({"type": "ADDED", "object": identity}),
        ]
        .iter()
        .chain(&ceps)
        .map(Value::to_string)
        .collect();
        let mut s = session();
        let mut c = Collect::default();
        s.read_lines("t", lines.iter().map(|l| Ok(l.clone())), &mut c)
            .unwrap();
        assert!(c.diags.is_empty(), "{:?}", c.diags);
        let slice =
            |v: &Value| -> CiliumEndpointSlice { serde_json::from_value(v.clone()).unwrap() };
        let want: Vec<(String, CiliumEndpointSlice)> = vec![
            ("ces-old-0".into(), slice(&held["object"])),
            ("ces-old-1".into(), slice(&newer_obj)),
        ];
        assert_eq!(
            s.mirror.slices.clone().into_iter().collect::<Vec<_>>(),
            want
        );
        let ids: Vec<_> = s.mirror.identities.values().collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].metadata.resource_version.as_deref(), Some("77"));
        assert_eq!(ids[0].metadata.uid.as_deref(), Some("uid-id"));
        // Once synced (and written), a late echo of an older version
        // changes nothing, in the engine as in the mirror.
        s.finish_initial(&mut c).unwrap();
        assert_eq!((s.refused, c.diags.len()), (0, 0));
        let written = s.mirror.clone();
        let stale = Ev::Slice(1, 1, vec![], "MODIFIED").to_value().to_string();
        s.read_lines("t", [Ok(stale)], &mut c).unwrap();
        assert_eq!(s.mirror, written);
        assert_eq!(s.flush(1_000_000, &mut c).unwrap(), 0);
        // Before the initial sync the last observation wins, whatever its
        // version, as in the engine: the repair applies without a conflict.
        let mut s = session();
        let mut c = Collect::default();
        let lines = [
            json!({"type": "ADDED", "object": newer_obj}),
            Ev::Slice(1, 1, vec![3], "MODIFIED").to_value(),
        ];
        let lines = lines.iter().chain(&ceps[2..]).map(|v| Ok(v.to_string()));
        s.read_lines("t", lines, &mut c).unwrap();
        assert_eq!(
            s.mirror.slices["ces-old-1"]
                .metadata
                .resource_version
                .as_deref(),
            Some("101")
        );
        s.finish_initial(&mut c).unwrap();
        assert_eq!(
            (s.refused, c.diags.len(), c.ops.len()),
            (0, 0, 1),
            "{:?}",
            c.diags
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Valid events interleaved with cut-off values and garbage lines
        /// plan exactly what the valid events alone plan; each junk line is
        /// reported once (JSON lines), at its own line.
        #[test]
        fn junk_between_events_changes_nothing(
            valid in proptest::collection::vec(ev(), 1..40),
            junks in proptest::collection::vec((0..40usize, junk()), 0..8),
            pretty in any::<bool>(),
        ) {
            let clean: Vec<String> = valid.iter().flat_map(|e| lines_of(&e.to_value(), pretty)).collect();
            let mut mixed = Vec::new();
            let mut junk_at = Vec::new();
            for (i, e) in valid.iter().enumerate() {
                for (_, j) in junks.iter().filter(|(at, _)| at % valid.len() == i) {
                    junk_at.push(mixed.len() + 1);
                    mixed.extend(junk_lines(j, pretty));
                }
                mixed.extend(lines_of(&e.to_value(), pretty));
            }
            let (want, want_session) = run_lines(&clean);
            let (got, got_session) = run_lines(&mixed);
            prop_assert_eq!(&got.ops, &want.ops);
            // `run`'s light server answers as the full one: same ops, same
            // diagnostics.
            let light = Session::light(session().engine);
            let (got_light, light_session) = run_lines_in(light, &mixed);
            prop_assert_eq!(&got_light.ops, &got.ops);
            prop_assert_eq!(&got_light.diags, &got.diags);
            prop_assert_eq!(light_session.refused, 0);
            prop_assert_eq!(got_session.engine.desired_slices(), want_session.engine.desired_slices());
            prop_assert_eq!(got_session.refused, 0);
            prop_assert_eq!(&got_session.mirror, &want_session.mirror);
            // The valid events alone are all accepted; each junk line or
            // block is reported once, at its own first line, in order.
            prop_assert!(want.diags.is_empty(), "{:?}", want.diags);
            prop_assert!(got.diags.iter().all(|d| d.contains(": [malformed_input]: ")), "{:?}", got.diags);
            let lines: Vec<usize> = got
                .diags
                .iter()
                .filter_map(|d| d.strip_prefix("error: t:")?.split(':').next()?.parse().ok())
                .collect();
            prop_assert_eq!(lines, junk_at, "{:?}", got.diags);
            prop_assert_eq!(got_session.rejected, junks.len());
        }
    }
}
