//! Batch apply: a stream of watch events (JSON lines, pretty-printed
//! values, Lists) applied in one call, read by the
//! [`EventReader`](crate::wire::EventReader) so that every binding counts
//! `index` and `line` the same way.

use crate::consumer::Consumer;
use crate::engine::Engine;
use crate::wire::reader::{EventReader, ReadEvent};
use crate::wire::{Change, Rejected};

/// Reads `bytes` line by line, handing each event to `apply` as it is read
/// (memory stays near one value, whatever the batch's size).
fn for_each_event(bytes: &[u8], mut apply: impl FnMut(&ReadEvent)) {
    let mut reader = EventReader::new();
    let mut events = Vec::new();
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        // The empty piece after a final newline is not a line.
        if lines.peek().is_none() && line.is_empty() {
            break;
        }
        reader.push_line_bytes(line, &mut events);
        events.drain(..).for_each(|e| apply(&e));
    }
    reader.finish(&mut events);
    events.drain(..).for_each(|e| apply(&e));
}

/// Applies a batch of watch events to an engine at `now`. One bad event
/// does not stop the others; the result lists the events not applied, in
/// order. Input the reader rejects (cut off, not JSON, not UTF-8) is
/// counted by the engine as a rejected event, like an event it refuses.
pub fn apply_engine_batch(engine: &mut Engine, bytes: &[u8], now: u64) -> Vec<Rejected> {
    let mut rejected = Vec::new();
    for_each_event(bytes, |ev| {
        let r = match &ev.event {
            Ok(text) => engine.apply_json(text.as_bytes(), now),
            Err(e) => {
                engine.count_unreadable_input();
                Err(e.clone())
            }
        };
        if let Err(e) = r {
            rejected.push(Rejected::of(ev, &e));
        }
    });
    rejected
}

/// Applies a batch of CiliumEndpointSlice watch events to a consumer:
/// the endpoint changes, each with its event's `index`, and the events not
/// applied. Input the reader rejects is counted by the consumer as a
/// rejected event.
pub fn apply_consumer_batch(consumer: &mut Consumer, bytes: &[u8]) -> (Vec<Change>, Vec<Rejected>) {
    let mut changes = Vec::new();
    let mut rejected = Vec::new();
    for_each_event(bytes, |ev| {
        let r = match &ev.event {
            Ok(text) => consumer.apply_json(text.as_bytes()),
            Err(e) => {
                consumer.reject_unreadable_input(e);
                Err(e.clone())
            }
        };
        match r {
            Ok(cs) => changes.extend(cs.iter().map(|c| Change::new(c, Some(ev.index)))),
            Err(e) => rejected.push(Rejected::of(ev, &e)),
        }
    });
    (changes, rejected)
}
