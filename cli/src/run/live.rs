//! **Live stdin**: the initial state up to the first 1-second gap, then
//! each event applied at the wall-clock time it arrives (see the parent
//! module's docs).

use std::io::BufRead;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::session::{Report, Session};
use crate::input::{self, Item};

/// Stdin: initial state up to the first 1-second gap, then live (see module doc).
pub(super) fn live(session: &mut Session, report: &mut dyn Report) -> anyhow::Result<()> {
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
