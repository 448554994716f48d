//! Batch apply: a stream of watch events (JSON lines, pretty-printed
//! values, Lists) applied in one call, read by the
//! [`EventReader`](crate::wire::EventReader) so that every binding counts
//! `index` and `line` the same way.

use crate::WatchEvent;
use crate::consumer::Consumer;
use crate::engine::Engine;
use crate::error::Error;
use crate::wire::event_reader::{EventReader, ReadEvent};
use crate::wire::{Change, Rejected};

/// One event of a batch as the reader hands it over.
// One short-lived value per event: boxing the large variant would only add
// an allocation to every event.
#[allow(clippy::large_enum_variant)]
enum BatchEvent<'a> {
    /// A JSON line read straight into an event (the common case: no copy
    /// of its text, one parse).
    Read {
        index: usize,
        line: usize,
        event: WatchEvent,
    },
    /// Any other value (the text of a pretty-printed value or a List item),
    /// or what the reader rejected.
    Text(&'a ReadEvent),
}

impl BatchEvent<'_> {
    fn rejected(&self, e: &Error) -> Rejected {
        match self {
            BatchEvent::Read { index, line, .. } => Rejected::new(*index, *line, e),
            BatchEvent::Text(ev) => Rejected::of(ev, e),
        }
    }

    fn index(&self) -> usize {
        match self {
            BatchEvent::Read { index, .. } => *index,
            BatchEvent::Text(ev) => ev.index,
        }
    }
}

/// Reads `bytes` line by line, handing each event to `apply` as it is read
/// (memory stays near one value, whatever the batch's size).
fn for_each_event(bytes: &[u8], mut apply: impl FnMut(BatchEvent<'_>)) {
    let mut reader = EventReader::new();
    let mut events = Vec::new();
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        // The empty piece after a final newline is not a line.
        if lines.peek().is_none() && line.is_empty() {
            break;
        }
        if let Some((index, position, event)) = reader.push_line_event(line, &mut events) {
            apply(BatchEvent::Read {
                index,
                line: position.line,
                event,
            });
        }
        events.drain(..).for_each(|e| apply(BatchEvent::Text(&e)));
    }
    reader.finish(&mut events);
    events.drain(..).for_each(|e| apply(BatchEvent::Text(&e)));
}

/// Applies a batch of watch events to an engine at `now`. One bad event
/// does not stop the others; the result lists the events not applied, in
/// order. Input the reader rejects (cut off, not JSON, not UTF-8) is
/// counted by the engine as a rejected event, like an event it refuses.
///
/// A JSON line that is one event is applied from its text as
/// [`Engine::apply_json`] does (a Pod or CiliumEndpoint read borrowed,
/// anything else read into a [`WatchEvent`]), without copying it.
pub fn apply_engine_batch(engine: &mut Engine, bytes: &[u8], now: u64) -> Vec<Rejected> {
    let mut rejected = Vec::new();
    let mut reader = EventReader::new();
    let mut events = Vec::new();
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    // Any other value: its text (or the reader's rejection).
    let text_event = |engine: &mut Engine, read: &ReadEvent, rejected: &mut Vec<Rejected>| {
        let r = match &read.event {
            Ok(text) => engine.apply_json(text.as_bytes(), now),
            Err(e) => {
                engine.count_unreadable_input();
                Err(e.clone())
            }
        };
        if let Err(e) = r {
            rejected.push(Rejected::of(read, &e));
        }
    };
    while let Some(line) = lines.next() {
        // The empty piece after a final newline is not a line.
        if lines.peek().is_none() && line.is_empty() {
            break;
        }
        let taken = reader.push_line_with(line, &mut events, |t| {
            // A top-level `kind` may make the value a List: the borrowed
            // reading leaves such a value alone (None), and so does
            // `from_json_unless_items` when it has `items`.
            engine.apply_json_borrowed(t.as_bytes(), now).or_else(|| {
                WatchEvent::from_json_unless_items(t.as_bytes()).map(|ev| engine.apply(&ev, now))
            })
        });
        if let Some((index, position, Err(e))) = taken {
            rejected.push(Rejected::new(index, position.line, &e));
        }
        events
            .drain(..)
            .for_each(|e| text_event(engine, &e, &mut rejected));
    }
    reader.finish(&mut events);
    events
        .drain(..)
        .for_each(|e| text_event(engine, &e, &mut rejected));
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
        let r = match &ev {
            BatchEvent::Read { event, .. } => consumer.apply(event),
            BatchEvent::Text(read) => match &read.event {
                Ok(text) => consumer.apply_json(text.as_bytes()),
                Err(e) => {
                    consumer.reject_unreadable_input(e);
                    Err(e.clone())
                }
            },
        };
        match r {
            Ok(cs) => changes.extend(cs.iter().map(|c| Change::new(c, Some(ev.index())))),
            Err(e) => rejected.push(ev.rejected(&e)),
        }
    });
    (changes, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Source};
    use crate::plan::WriteOp;

    /// The batch as it was read before lines were taken straight into
    /// events: every value's text from the reader, applied as JSON.
    fn by_text(engine: &mut Engine, bytes: &[u8]) -> Vec<Rejected> {
        let mut rejected = Vec::new();
        for ev in EventReader::read_all(bytes) {
            let r = match &ev.event {
                Ok(text) => engine.apply_json(text.as_bytes(), 0),
                Err(e) => {
                    engine.count_unreadable_input();
                    Err(e.clone())
                }
            };
            if let Err(e) = r {
                rejected.push(Rejected::of(&ev, &e));
            }
        }
        rejected
    }

    fn cep_object(name: &str, ip: &str) -> String {
        format!(
            r#"{{"apiVersion":"cilium.io/v2","kind":"CiliumEndpoint","metadata":{{"name":"{name}","namespace":"ns"}},"status":{{"identity":{{"id":1000}},"networking":{{"addressing":[{{"ipv4":"{ip}"}}],"node":"10.0.0.1"}}}}}}"#
        )
    }

    fn cep(name: &str, ip: &str) -> String {
        format!(r#"{{"type":"ADDED","object":{}}}"#, cep_object(name, ip))
    }

    fn engine() -> Engine {
        Engine::new(Config {
            source: Source::Ciliumendpoints,
            ..Config::default()
        })
        .unwrap()
    }

    fn slices(engine: &mut Engine) -> Vec<String> {
        engine.initial_sync_done(0);
        let plan = engine.flush(u64::MAX / 2);
        let mut names: Vec<String> = plan
            .writes
            .iter()
            .filter_map(|w| match &w.op {
                WriteOp::CreateSlice(s) => Some(serde_json::to_string(s).unwrap()),
                _ => None,
            })
            .collect();
        names.sort();
        names
    }

    /// Lines read straight into events give exactly what reading each
    /// value's text gives: the same rejections (index, line, error), the
    /// same counters, the same slices; Lists, pretty values, cut-off and
    /// broken lines, `\r`, bad UTF-8 and events with a top-level `items`
    /// still go the reader's way.
    #[test]
    fn lines_read_straight_into_events_apply_as_their_text_does() {
        let list = format!(r#"{{"kind":"List","items":[{}]}}"#, cep("l0", "10.1.0.9"));
        let enveloped_list = format!(
            r#"{{"type":"ADDED","object":{},"kind":"List","items":[]}}"#,
            cep_object("e0", "10.1.0.8")
        );
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&cep("p0", "10.1.0.7")).unwrap(),
        )
        .unwrap();
        let mut input = Vec::new();
        for line in [
            cep("a", "10.1.0.1"),
            String::new(),
            format!("{}\r", cep("b", "10.1.0.2")),
            format!("{}   ", cep("c", "10.1.0.3")),
            cep("c", "10.1.0.3").replace("10.1.0.3", "10.1.0.300"),
            "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Nope\"}}".into(),
            cep("d", "10.1.0.4")[..40].to_string(),
            cep("e", "10.1.0.5"),
            list,
            enveloped_list,
            format!("{}{}", cep("f", "10.1.0.6"), cep("g", "10.1.0.10")),
            "not json".into(),
            pretty,
            cep("h", "10.1.0.11").replace("\"id\":1000", "\"id\":\"x\""),
            r#"{"type":"DELETED","object":{"kind":"CiliumEndpoint","metadata":{"name":"a","namespace":"ns"}}}"#.into(),
        ] {
            input.extend_from_slice(line.as_bytes());
            input.push(b'\n');
        }
        input.extend_from_slice(b"{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"\xff\"}}\n");
        input.extend_from_slice(cep("i", "10.1.0.12").as_bytes());

        let (mut direct, mut text) = (engine(), engine());
        let got = apply_engine_batch(&mut direct, &input, 0);
        let want = by_text(&mut text, &input);
        assert_eq!(got, want);
        assert!(want.len() >= 6, "{want:?}");
        assert_eq!(direct.counters(), text.counters());
        assert_eq!(direct.stats(), text.stats());
        let ours = slices(&mut direct);
        assert!(!ours.is_empty());
        assert_eq!(ours, slices(&mut text));
    }
}
