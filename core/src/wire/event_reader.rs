//! The event reader: a [`StreamReader`] whose Lists (`kind` `List` or
//! ending in `List`, with an `items` array) become their items, each an
//! event (a bare object is an ADDED event), every event numbered. The
//! values themselves (lines, pretty-printed values, cut-off input, bytes
//! that are not UTF-8) are the stream reader's (`reader.rs`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::reader::{Position, ReadValue, StreamReader};
use crate::error::Error;
use crate::{Engine, WatchEvent};

/// One event read from a stream: a watch event's JSON text (a bare object
/// is an ADDED event), or why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadEvent {
    /// 0-based position among the stream's events (see
    /// [`Rejected`](crate::wire::Rejected)).
    pub index: usize,
    /// Where its value was read (a List item: the List's position).
    pub position: Position,
    /// The index of the item in its List, for a List item.
    pub item: Option<usize>,
    /// The event's JSON text, or the rejection.
    pub event: Result<String, Error>,
}

/// What [`EventReader::push_line_applying`] did with a line that is one
/// whole event. Returned once and taken apart at once, never stored, so
/// the event is not boxed (a box would be an allocation per event).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum WholeLine {
    /// The engine applied it from its text: the outcome.
    Applied(Result<(), Error>),
    /// Read into an event, not applied.
    Event(WatchEvent),
}

impl ReadEvent {
    /// The CLI's label ([`Position::label`], then `[i]` for a List item).
    pub fn label(&self) -> String {
        match self.item {
            Some(i) => format!("{}[{i}]", self.position.label()),
            None => self.position.label(),
        }
    }
}

/// The top of a List (`kind`, `items`), read without the rest.
#[derive(Deserialize)]
struct ListHead<'a> {
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

/// The items of `text` when it is a List: `kind` `List` or ending in
/// `List`, and an `items` array.
fn list_items(text: &str) -> Option<Vec<&RawValue>> {
    if !text.starts_with('{') || !text.contains("\"items\"") {
        return None;
    }
    let head: ListHead<'_> = serde_json::from_str(text).ok()?;
    let kind = head.kind?;
    if kind == "List" || kind.ends_with("List") {
        head.items
    } else {
        None
    }
}

/// Splits a stream into events: a [`StreamReader`] whose Lists are
/// expanded into their items, every event numbered.
#[derive(Debug, Default)]
pub struct EventReader {
    reader: StreamReader,
    /// Events yielded so far.
    events: usize,
    values: Vec<ReadValue>,
}

impl EventReader {
    /// A reader at the start of a stream.
    pub fn new() -> Self {
        EventReader::default()
    }

    /// Reads a whole stream.
    pub fn read_all(bytes: &[u8]) -> Vec<ReadEvent> {
        let mut r = EventReader::new();
        let mut out = Vec::new();
        r.push_bytes(bytes, &mut out);
        r.finish(&mut out);
        out
    }

    /// Feeds bytes (any chunk of the stream); complete events go to `out`.
    pub fn push_bytes(&mut self, bytes: &[u8], out: &mut Vec<ReadEvent>) {
        let mut values = std::mem::take(&mut self.values);
        self.reader.push_bytes(bytes, &mut values);
        self.expand(&mut values, out);
        self.values = values;
    }

    /// Feeds one line as bytes (without its newline; see
    /// [`StreamReader::push_line_bytes`]); complete events go to `out`.
    pub fn push_line_bytes(&mut self, line: &[u8], out: &mut Vec<ReadEvent>) {
        let mut values = std::mem::take(&mut self.values);
        self.reader.push_line_bytes(line, &mut values);
        self.expand(&mut values, out);
        self.values = values;
    }

    /// Feeds one line given as bytes, as
    /// [`push_line_bytes`](Self::push_line_bytes) does, but reads a line
    /// that is one whole watch event on its own (a JSON line, not a List)
    /// straight into a [`WatchEvent`], without copying its text: that event
    /// is returned with its index and position. Every other line (and one
    /// that does not read as an event, so that its error is the reader's or
    /// the event reader's as usual) goes the usual way, its events to `out`.
    pub fn push_line_event(
        &mut self,
        line: &[u8],
        out: &mut Vec<ReadEvent>,
    ) -> Option<(usize, Position, WatchEvent)> {
        self.push_line_with(line, out, |t| {
            WatchEvent::from_json_unless_items(t.as_bytes())
        })
    }

    /// [`push_line_event`](Self::push_line_event) for a reader feeding an
    /// engine: a line that is one whole event is applied straight from its
    /// text when the engine reads it borrowed (a Pod or CiliumEndpoint, a
    /// Namespace, Node or CiliumNode; as [`Engine::apply_json`] does, errors
    /// and counters included) and returned as [`WholeLine::Applied`] with
    /// its outcome; any other whole event is returned read, for the caller
    /// to apply (and, say, mirror). Every other line goes the usual way.
    pub fn push_line_applying(
        &mut self,
        line: &[u8],
        out: &mut Vec<ReadEvent>,
        engine: &mut Engine,
        now: u64,
    ) -> Option<(usize, Position, WholeLine)> {
        self.push_line_with(line, out, |t| {
            engine
                .apply_json_borrowed(t.as_bytes(), now)
                .map(WholeLine::Applied)
                .or_else(|| WatchEvent::from_json_unless_items(t.as_bytes()).map(WholeLine::Event))
        })
    }

    /// [`push_line_event`](Self::push_line_event) with the reading of a
    /// whole line given: `read` takes the line's text when it is one whole
    /// value alone on its line (not buffered, starting with `{`), and
    /// answers `None` (having done nothing) for a line it does not take as
    /// one event, which then goes the usual way. It must not take a List.
    pub fn push_line_with<T>(
        &mut self,
        line: &[u8],
        out: &mut Vec<ReadEvent>,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> Option<(usize, Position, T)> {
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        if let Ok(text) = std::str::from_utf8(text)
            && let Some((position, value)) = self.reader.take_whole_line(text, read)
        {
            let index = self.events;
            self.events += 1;
            return Some((index, position, value));
        }
        self.push_line_bytes(line, out);
        None
    }

    /// Feeds one line (without its newline); complete events go to `out`.
    pub fn push_line(&mut self, line: &str, out: &mut Vec<ReadEvent>) {
        let mut values = std::mem::take(&mut self.values);
        self.reader.push_line(line, &mut values);
        self.expand(&mut values, out);
        self.values = values;
    }

    /// End of input: the last events go to `out`.
    pub fn finish(&mut self, out: &mut Vec<ReadEvent>) {
        let mut values = std::mem::take(&mut self.values);
        self.reader.finish(&mut values);
        self.expand(&mut values, out);
        self.values = values;
    }

    fn expand(&mut self, values: &mut Vec<ReadValue>, out: &mut Vec<ReadEvent>) {
        for v in values.drain(..) {
            let text = match v.value {
                Ok(text) => text,
                Err(e) => {
                    self.push(v.position, None, Err(e), out);
                    continue;
                }
            };
            match list_items(&text) {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.push(v.position, Some(i), Ok(item.get().to_string()), out);
                    }
                }
                None => self.push(v.position, None, Ok(text), out),
            }
        }
    }

    fn push(
        &mut self,
        position: Position,
        item: Option<usize>,
        event: Result<String, Error>,
        out: &mut Vec<ReadEvent>,
    ) {
        out.push(ReadEvent {
            index: self.events,
            position,
            item,
            event,
        });
        self.events += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::wire::test_support::{junk, junk_lines, lines_of};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn parse(text: &str) -> Vec<ReadEvent> {
        let mut p = EventReader::new();
        let mut out = Vec::new();
        for l in text.lines() {
            p.push_line(l, &mut out);
        }
        p.finish(&mut out);
        out
    }

    fn positions(items: &[ReadEvent]) -> Vec<(String, bool)> {
        items.iter().map(|i| (i.label(), i.event.is_ok())).collect()
    }

    fn expect(items: &[ReadEvent], want: &[(&str, bool)]) {
        let want: Vec<(String, bool)> = want.iter().map(|(a, ok)| (a.to_string(), *ok)).collect();
        assert_eq!(positions(items), want);
        // Events are numbered in order from 0.
        let idx: Vec<usize> = items.iter().map(|i| i.index).collect();
        assert_eq!(idx, (0..items.len()).collect::<Vec<_>>());
    }

    fn message(item: &ReadEvent) -> String {
        item.event
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    const NS: &str = r#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}}"#;
    const CUT: &str = r#"{"type": "ADDED", "object": {"kind": "CiliumEndpoint", "metadata": "#;

    fn pretty() -> String {
        let v: Value = serde_json::from_str(NS).unwrap();
        serde_json::to_string_pretty(&v).unwrap()
    }

    #[test]
    fn lines_pretty_and_errors() {
        let items = parse(&format!("{NS}\n{{oops\n{NS}\n"));
        expect(&items, &[("1", true), ("2", false), ("3", true)]);
        assert_eq!(items[0].event.as_deref(), Ok(NS));
        let p = pretty();
        let items = parse(&format!("{p}\n{p}\n"));
        expect(&items, &[("#1", true), ("#2", true)]);
        assert_eq!(items[1].position.line, p.lines().count() + 1);
    }

    #[test]
    fn a_cut_off_line_does_not_swallow_the_next_event() {
        let items = parse(&format!("{NS}\n{CUT}\n{NS}\n"));
        expect(&items, &[("1", true), ("2", false), ("3", true)]);
        let m = message(&items[1]);
        assert!(
            m.starts_with("[malformed_input]") && m.contains("truncated") && m.contains("line 3"),
            "{m}"
        );
        // Cut off at the very end.
        let items = parse(&format!("{NS}\n{CUT}\n"));
        expect(&items, &[("1", true), ("2", false)]);
        assert!(message(&items[1]).contains("end of the input"));
        // Cut off inside a string: cut off, not broken, whatever follows.
        let in_string = &NS[..47];
        for next in [NS, "Error from server", ""] {
            let items = parse(&format!("{in_string}\n{next}\n"));
            assert!(
                message(&items[0]).contains("truncated"),
                "{}",
                message(&items[0])
            );
            assert_eq!(items[0].label(), "1");
            assert_eq!(items.len(), if next.is_empty() { 1 } else { 2 });
        }
        // Two cut-off lines in a row, each reported on its own.
        let items = parse(&format!("{CUT}\n{CUT}\n{NS}\n"));
        expect(&items, &[("1", false), ("2", false), ("3", true)]);
    }

    #[test]
    fn garbage_lines_are_reported_once_each() {
        let items = parse(&format!("nope\n{NS}\nstill nope\n\n{NS}\n}}\n"));
        expect(
            &items,
            &[
                ("1", false),
                ("2", true),
                ("3", false),
                ("5", true),
                ("6", false),
            ],
        );
        // After a cut-off line: the garbage line does not continue it.
        let items = parse(&format!("{CUT}\nnope\n{NS}\n"));
        expect(&items, &[("1", false), ("2", false), ("3", true)]);
        assert!(message(&items[0]).contains("truncated") && message(&items[0]).contains("line 2"));
        assert!(message(&items[1]).contains("not valid JSON"));
        // An indented whole value outside any value is still read.
        let items = parse(&format!("  {NS}\n"));
        expect(&items, &[("1", true)]);
    }

    #[test]
    fn a_value_may_go_on_over_lines_while_it_stays_json() {
        let (head, tail) = NS.split_at(39);
        let items = parse(&format!("{head}\n  {tail}\n{NS}\n"));
        expect(&items, &[("#1", true), ("3", true)]);
    }

    #[test]
    fn pretty_values_cut_off_or_broken_are_reported_alone() {
        let p = pretty();
        let lines: Vec<&str> = p.lines().collect();
        // Cut off after 4 lines, then a whole pretty value.
        let cut = lines[..4].join("\n");
        let items = parse(&format!("{cut}\n{p}\n{NS}\n"));
        let n = lines.len();
        expect(
            &items,
            &[("1", false), ("#2", true), (&format!("{}", 5 + n), true)],
        );
        assert!(message(&items[0]).contains("line 5"));
        // A syntax error inside: one report at its line, the next value read.
        let broken = p.replacen("\"kind\":", "\"kind\"", 1);
        let bad_line = broken
            .lines()
            .position(|l| l.contains("\"kind\" "))
            .unwrap()
            + 1;
        let items = parse(&format!("{broken}\n{p}\n"));
        expect(&items, &[(&format!("{bad_line}"), false), ("#2", true)]);
        // Broken and cut off: reported once, as the syntax error.
        let head: Vec<&str> = broken.lines().take(bad_line + 1).collect();
        let items = parse(&format!("{}\n{p}\n", head.join("\n")));
        expect(&items, &[(&format!("{bad_line}"), false), ("#2", true)]);
        // A line in column 0 inside a pretty value is not part of it.
        let items = parse(&format!("{cut}\nError from server (NotFound)\n{p}\n"));
        expect(&items, &[("1", false), ("5", false), ("#3", true)]);
        assert!(message(&items[0]).contains("truncated") && message(&items[0]).contains("line 5"));
        // A pretty List is still read as its items.
        let list = r#"{"kind": "List", "items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}]}"#;
        let v: Value = serde_json::from_str(list).unwrap();
        let items = parse(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap()));
        expect(&items, &[("#1[0]", true)]);
    }

    #[test]
    fn lists_become_their_items_and_each_item_is_an_event() {
        let list = json!({"apiVersion": "v1", "kind": "NamespaceList", "items": [
            {"kind": "Namespace", "metadata": {"name": "a"}},
            {"kind": "Namespace", "metadata": {"name": "b"}}]});
        let items = parse(&format!("{NS}\n{list}\nnope\n"));
        expect(
            &items,
            &[("1", true), ("2[0]", true), ("2[1]", true), ("3", false)],
        );
        assert_eq!(items[3].index, 3);
        assert_eq!(items[3].position.value, 2);
        let item: Value = serde_json::from_str(items[2].event.as_ref().unwrap()).unwrap();
        assert_eq!(item, list["items"][1]);
        // Not a List: the kind does not say so, or `items` is no array.
        for v in [
            json!({"kind": "Pod", "items": []}),
            json!({"kind": "List", "items": 3}),
        ] {
            let items = parse(&format!("{v}\n"));
            expect(&items, &[("1", true)]);
            assert_eq!(items[0].event.as_deref(), Ok(v.to_string().as_str()));
        }
        // An empty List is no event at all.
        let items = parse("{\"kind\": \"List\", \"items\": []}\n");
        expect(&items, &[]);
    }

    #[test]
    fn invalid_utf8_is_one_malformed_input_report_at_its_line() {
        let run = |bytes: &[u8]| {
            let mut r = EventReader::new();
            let mut out = Vec::new();
            r.push_bytes(bytes, &mut out);
            r.finish(&mut out);
            out
        };
        // A JSON line with a bad byte inside a string (it would parse if
        // read lossily): rejected all the same.
        let mut input = format!("{NS}\n").into_bytes();
        input.extend_from_slice(b"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"\xff\"}}}\n\xfe\xfe\n");
        input.extend_from_slice(format!("{NS}\n").as_bytes());
        let items = run(&input);
        expect(
            &items,
            &[("1", true), ("2", false), ("3", false), ("4", true)],
        );
        for i in [1, 2] {
            let e = items[i].event.as_ref().unwrap_err();
            assert_eq!(e.code, ErrorCode::MalformedInput);
            assert!(e.message.contains("UTF-8"), "{}", e.message);
        }
        // Inside a pretty value: the value is reported once, at the bad line.
        let p = pretty();
        let mut input = Vec::new();
        for (i, l) in p.lines().enumerate() {
            input.extend_from_slice(l.as_bytes());
            if i == 3 {
                input.extend_from_slice(b" \xc3");
            }
            input.push(b'\n');
        }
        input.extend_from_slice(format!("{NS}\n").as_bytes());
        let items = run(&input);
        expect(
            &items,
            &[("4", false), (&format!("{}", p.lines().count() + 1), true)],
        );
        assert!(message(&items[0]).contains("UTF-8"));
    }

    #[test]
    fn bytes_in_any_chunks_read_as_lines() {
        let p = pretty();
        let text = format!("{NS}\r\n\n{p}\n{CUT}\nnope\n{NS}");
        let mut by_lines = EventReader::new();
        let mut want = Vec::new();
        for l in text.lines() {
            by_lines.push_line(l, &mut want);
        }
        by_lines.finish(&mut want);
        for chunk in [1, 2, 7, 64, text.len()] {
            let mut r = EventReader::new();
            let mut got = Vec::new();
            for c in text.as_bytes().chunks(chunk) {
                r.push_bytes(c, &mut got);
            }
            r.finish(&mut got);
            assert_eq!(got, want, "chunk {chunk}");
        }
        expect(
            &want,
            &[
                ("1", true),
                ("#2", true),
                (&format!("{}", 3 + p.lines().count()), false),
                (&format!("{}", 4 + p.lines().count()), false),
                (&format!("{}", 5 + p.lines().count()), true),
            ],
        );
    }

    /// One valid value of the generated streams.
    fn value() -> impl Strategy<Value = Value> {
        (0..1000u32, "[a-z]{1,8}", any::<bool>()).prop_map(|(n, name, deleted)| {
            json!({"type": if deleted { "DELETED" } else { "ADDED" },
                   "object": {"apiVersion": "v1", "kind": "Pod",
                              "metadata": {"name": name, "namespace": "ns", "resourceVersion": n.to_string()},
                              "spec": {"containers": [{"name": "c", "ports": [{"containerPort": n}]}]}}})
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Valid values interleaved with cut-off values and garbage lines:
        /// every valid value is read, unchanged and in order, and each junk
        /// chunk is reported once, at its own first line, with its index.
        #[test]
        fn junk_between_values_hides_nothing(
            valid in proptest::collection::vec(value(), 1..30),
            junks in proptest::collection::vec((0..30usize, junk(value())), 0..8),
            pretty in any::<bool>(),
        ) {
            let mut lines = Vec::new();
            let mut want = Vec::new();
            for (i, v) in valid.iter().enumerate() {
                for (_, j) in junks.iter().filter(|(at, _)| at % valid.len() == i) {
                    want.push((want.len(), lines.len() + 1, None));
                    lines.extend(junk_lines(j, pretty));
                }
                want.push((want.len(), lines.len() + 1, Some(v.clone())));
                lines.extend(lines_of(v, pretty));
            }
            let items = parse(&lines.join("\n"));
            let got: Vec<(usize, usize, Option<Value>)> = items
                .iter()
                .map(|e| (e.index, e.position.line, e.event.as_ref().ok().map(|t| serde_json::from_str(t).unwrap())))
                .collect();
            prop_assert_eq!(got, want);
            for e in &items {
                if let Err(err) = &e.event {
                    prop_assert_eq!(err.code, ErrorCode::MalformedInput);
                }
            }
        }
    }
}
