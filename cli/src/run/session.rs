//! A `run` session: the engine and the in-memory API server it writes to
//! (see the parent module's docs, **Server state**), fed input items or
//! lines and flushed, each write reported and applied to the server.

use std::io::BufRead;

use sliceplane::mirror::Mirror;
use sliceplane::{Engine, PlannedWrite, WritePlan};

use crate::input::{self, Item};

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
