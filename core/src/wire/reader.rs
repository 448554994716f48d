//! The watch-stream reader: a push parser (no I/O) that splits JSON lines,
//! concatenated pretty-printed JSON values (as `kubectl get -w
//! --output-watch-events -o json` prints them) and Lists into events, with
//! their positions. The CLI and every binding's batch apply use it, so
//! positions and error codes agree everywhere.
//!
//! Feed it lines ([`StreamReader::push_line`]) or bytes in chunks of any
//! size ([`StreamReader::push_bytes`]), then call [`StreamReader::finish`].
//! The rules:
//!
//! - **A line that starts with `{` or `[` in column 0 begins a new
//!   top-level value** (true of JSON lines and of kubectl's pretty-printed
//!   output alike, whose inner lines are indented). A value still buffered
//!   at that point has ended: if it is cut off it is reported as truncated,
//!   at its own first line, and reading goes on with the new line. A cut-off
//!   value therefore never swallows the valid events after it.
//! - A value whose first line holds more than the opening bracket (a JSON
//!   line) is parsed at once; if it is cut off, a following line continues
//!   it only while the text stays JSON, otherwise the value is reported as
//!   truncated and that line is read on its own.
//! - A pretty-printed value (first line only `{` or `[`) is parsed when a
//!   line starts with `}` or `]`, when the next value begins, or at the end.
//!   Its inner lines are indented: a line that is not (and does not close
//!   it) ends it, cut off, and is read on its own. A syntax error inside it
//!   is reported once, at the line of the error, and the value is dropped.
//! - A line outside any value that does not begin one (garbage, or an
//!   indented value) is read on its own: a whole value is taken, anything
//!   else is reported once, with its line. Blank lines are skipped.
//! - A line that is not valid UTF-8 is read as if its invalid bytes were
//!   U+FFFD; the value it belongs to (or the line alone) is then reported
//!   once, as `malformed_input`, at that line.
//! - Lines end with `\n`; a `\r` before it is dropped.
//!
//! So every rejected value gets one report with its own position, and every
//! valid value is read. Every error is `malformed_input` (101).
//!
//! [`EventReader`] goes one step further: a List (`kind` `List` or ending
//! in `List`, with an `items` array) becomes its items, each an event (a
//! bare object is an ADDED event), and every event gets its index.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::WatchEvent;
use crate::error::{Error, ErrorCode};

/// Where a value was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 0-based number of the value in the stream: values and rejected
    /// chunks count, blank lines do not, a List counts once.
    pub value: usize,
    /// 1-based line: the line the value starts on; for a rejected chunk,
    /// the line it is reported at (see [`Rejected`](crate::wire::Rejected)).
    pub line: usize,
    /// The value spans several lines (a pretty-printed value); always
    /// false for a rejected chunk.
    pub multi_line: bool,
}

impl Position {
    /// The CLI's label: the line number for a value on one line and for
    /// every error, or `#N` (N the 1-based value number) for a value
    /// spanning several lines.
    pub fn label(&self) -> String {
        if self.multi_line {
            format!("#{}", self.value + 1)
        } else {
            self.line.to_string()
        }
    }
}

/// One value read from a stream: its JSON text, or why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadValue {
    /// Where it was read.
    pub position: Position,
    /// The value's JSON text (without surrounding whitespace), or the
    /// rejection (`malformed_input`).
    pub value: Result<String, Error>,
}

/// Splits lines into JSON values (see the module docs for the rules).
#[derive(Debug, Default)]
pub struct StreamReader {
    /// The text of the value being read: its lines so far, each ending in
    /// a newline. Empty between values.
    buf: String,
    /// Line number (1-based) of the first line in `buf`.
    buf_line: usize,
    /// Lines in `buf`.
    buf_lines: usize,
    /// The value in `buf` opened with a line holding only `{` or `[` (a
    /// pretty-printed value): it is parsed when a line starts with `}` or
    /// `]`, when the next value begins, or at the end.
    pretty: bool,
    /// Lines read.
    line: usize,
    /// Values and rejected values so far.
    index: usize,
    /// The first line not valid UTF-8 that is not reported yet.
    bad_utf8: Option<usize>,
    /// Bytes pushed after the last newline ([`push_bytes`](Self::push_bytes)).
    partial: Vec<u8>,
}

/// A value that is not pretty-printed but goes on over more lines than
/// this is no longer checked line by line (bounds the cost of odd input);
/// it is then read like a pretty-printed one.
const MAX_CHECKED_CONTINUATION_LINES: usize = 16;

/// The line starts with `}` or `]` (the end of a pretty-printed value).
fn closes(line: &str) -> bool {
    line.starts_with(['}', ']'])
}

/// How far a text gets as JSON values.
enum Status {
    /// Only complete values (and whitespace).
    Complete,
    /// Complete values, then the start of one that is cut off.
    Incomplete,
    /// Not JSON.
    Invalid,
}

fn status(text: &str) -> Status {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    loop {
        match stream.next() {
            None => return Status::Complete,
            Some(Ok(_)) => {}
            Some(Err(e)) if e.is_eof() => return Status::Incomplete,
            Some(Err(_)) => return Status::Invalid,
        }
    }
}

fn malformed(message: String) -> Error {
    Error::new(ErrorCode::MalformedInput, "", "", message)
}

/// Why the buffered value is parsed.
#[derive(Clone, Copy)]
enum End {
    /// More lines may follow: a value cut off at the end stays buffered.
    Open,
    /// It ended: the line with this number begins a new value or does not
    /// continue it.
    Before(usize),
    /// The input ended.
    InputEnded,
    /// One line outside any value, taken on its own.
    Alone,
}

impl StreamReader {
    /// A reader at the start of a stream.
    pub fn new() -> Self {
        StreamReader::default()
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> usize {
        self.line
    }

    /// Feeds bytes (any chunk of the stream); complete values go to `out`.
    pub fn push_bytes(&mut self, mut bytes: &[u8], out: &mut Vec<ReadValue>) {
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let (line, rest) = bytes.split_at(nl);
            bytes = &rest[1..];
            if self.partial.is_empty() {
                self.push_line_bytes(line, out);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.push_line_bytes(&whole, out);
            }
        }
        self.partial.extend_from_slice(bytes);
    }

    /// Feeds one line given as bytes (without its newline; a trailing
    /// `\r` is dropped). A line that is not UTF-8 is reported (see the
    /// module docs).
    pub fn push_line_bytes(&mut self, line: &[u8], out: &mut Vec<ReadValue>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match std::str::from_utf8(line) {
            Ok(s) => self.push_line(s, out),
            Err(_) => {
                if self.bad_utf8.is_none() {
                    self.bad_utf8 = Some(self.line + 1);
                }
                let text = String::from_utf8_lossy(line).into_owned();
                self.push_line(&text, out);
            }
        }
    }

    /// Takes one line as a whole value read by `read`, without buffering or
    /// copying it, when that is what the line-by-line rules would do with
    /// it: nothing is buffered, the line starts with `{`, and `read` takes
    /// it (it must take only text that is one whole JSON value, alone on
    /// the line). Returns the value's position and what `read` made of it;
    /// `None` (and nothing read) otherwise: feed the line as usual then.
    fn take_whole_line<T>(
        &mut self,
        line: &str,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> Option<(Position, T)> {
        if !self.buf.is_empty()
            || !self.partial.is_empty()
            || self.bad_utf8.is_some()
            || !line.starts_with('{')
        {
            return None;
        }
        let value = read(line)?;
        self.line += 1;
        let position = Position {
            value: self.index,
            line: self.line,
            multi_line: false,
        };
        self.index += 1;
        Some((position, value))
    }

    /// Feeds one line (without its newline); complete values go to `out`.
    pub fn push_line(&mut self, line: &str, out: &mut Vec<ReadValue>) {
        self.line += 1;
        if line.starts_with(['{', '[']) {
            // A new top-level value: what is buffered has ended, complete or not.
            self.end_value(false, out);
            self.begin(line);
            self.parse(End::Open, out);
        } else if self.buf.is_empty() {
            self.standalone(line, out);
        } else if self.pretty && !line.starts_with(char::is_whitespace) && !closes(line) {
            // Inside a pretty-printed value every line is indented but its
            // closing one: this line is not part of it.
            self.end_value(false, out);
            self.standalone(line, out);
        } else if self.pretty || self.buf_lines > MAX_CHECKED_CONTINUATION_LINES {
            self.append(line);
            if closes(line) {
                self.parse(End::Open, out);
            }
        } else {
            // A value begun on an earlier line, not pretty-printed: the line
            // belongs to it only if the text stays JSON.
            let mut candidate = String::with_capacity(self.buf.len() + line.len() + 1);
            candidate.push_str(&self.buf);
            candidate.push_str(line);
            candidate.push('\n');
            match status(&candidate) {
                Status::Invalid => {
                    self.end_value(false, out);
                    self.standalone(line, out);
                }
                Status::Incomplete => {
                    self.buf = candidate;
                    self.buf_lines += 1;
                }
                Status::Complete => {
                    self.buf = candidate;
                    self.buf_lines += 1;
                    self.parse(End::Open, out);
                }
            }
        }
    }

    /// End of input: reads a last line without a newline, then parses
    /// what is left.
    pub fn finish(&mut self, out: &mut Vec<ReadValue>) {
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.push_line_bytes(&last, out);
        }
        self.end_value(true, out);
    }

    fn begin(&mut self, line: &str) {
        self.buf.clear();
        self.buf_line = self.line;
        self.buf_lines = 0;
        self.pretty = matches!(line.trim_end(), "{" | "[");
        self.append(line);
    }

    fn append(&mut self, line: &str) {
        self.buf.push_str(line);
        self.buf.push('\n');
        self.buf_lines += 1;
    }

    /// A line outside any value that does not begin one: it stands alone
    /// (blank, a value that is indented, or garbage reported on its own).
    fn standalone(&mut self, line: &str, out: &mut Vec<ReadValue>) {
        if line.trim().is_empty() {
            return;
        }
        self.begin(line);
        self.pretty = false;
        self.parse(End::Alone, out);
    }

    /// The buffered value has ended: line `self.line` begins a new value or
    /// does not continue it (`at_end`: the input ended).
    fn end_value(&mut self, at_end: bool, out: &mut Vec<ReadValue>) {
        if !self.buf.is_empty() {
            let end = if at_end {
                End::InputEnded
            } else {
                End::Before(self.line)
            };
            self.parse(end, out);
        }
        self.buf.clear();
        self.buf_lines = 0;
    }

    /// Yields one value or rejection spanning lines `first..=last`: if a
    /// line in that span is not UTF-8, the value is rejected at that line.
    fn emit(
        &mut self,
        first: usize,
        last: usize,
        mut position: Position,
        mut value: Result<String, Error>,
        out: &mut Vec<ReadValue>,
    ) {
        if let Some(bad) = self.bad_utf8.filter(|b| (first..=last).contains(b)) {
            self.bad_utf8 = None;
            position.line = bad;
            position.multi_line = false;
            value = Err(malformed(
                "not valid UTF-8: the value on this line holds bytes that are not UTF-8".into(),
            ));
        }
        self.index += 1;
        out.push(ReadValue { position, value });
    }

    /// Parses the buffer: complete values are yielded; a value cut off at
    /// the end stays buffered while `end` is [`End::Open`], and is reported
    /// as cut off otherwise; text that is not JSON is reported once, with
    /// its line, and dropped with the rest of the buffer (it all belongs to
    /// the broken value: no other value begins inside the buffer).
    fn parse(&mut self, end: End, out: &mut Vec<ReadValue>) {
        let buf = std::mem::take(&mut self.buf);
        // The newline ending the last line is not part of the value: a
        // value cut off inside a string is cut off, not broken.
        let text = buf.strip_suffix('\n').unwrap_or(&buf);
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
        let mut consumed = 0;
        let buf_line = self.buf_line;
        let line_of = |offset: usize| {
            let rest = &buf[offset..];
            let lead = rest.len() - rest.trim_start().len();
            buf_line + buf[..offset + lead].matches('\n').count()
        };
        let last_line = buf_line + buf.matches('\n').count().saturating_sub(1);
        loop {
            match stream.next() {
                None => break,
                Some(Ok(raw)) => {
                    let start_line = line_of(consumed);
                    let end_offset = stream.byte_offset();
                    let end_line = buf_line + buf[..end_offset].matches('\n').count();
                    let multi = buf[consumed..end_offset].trim().contains('\n');
                    consumed = end_offset;
                    let position = Position {
                        value: self.index,
                        line: start_line,
                        multi_line: multi,
                    };
                    self.emit(
                        start_line,
                        end_line,
                        position,
                        Ok(raw.get().to_string()),
                        out,
                    );
                }
                Some(Err(e)) if e.is_eof() => {
                    let start_line = line_of(consumed);
                    let why = match end {
                        End::Open => {
                            // Cut off so far: keep the rest for the next lines.
                            let done = buf[..consumed].matches('\n').count();
                            self.buf_line += done;
                            self.buf_lines -= done;
                            self.buf = buf[consumed..].to_string();
                            return;
                        }
                        End::Before(next) => format!(
                            "truncated JSON: the value that starts on this line is cut off \
                             (line {next} does not continue it)"
                        ),
                        End::InputEnded => "truncated JSON: the value that starts on this line \
                                            is cut off at the end of the input"
                            .to_string(),
                        End::Alone => "not valid JSON: a line outside any value that is not \
                                       a whole value (a value starts with `{` or `[` in column 0)"
                            .to_string(),
                    };
                    let position = Position {
                        value: self.index,
                        line: start_line,
                        multi_line: false,
                    };
                    self.emit(start_line, last_line, position, Err(malformed(why)), out);
                    break;
                }
                Some(Err(e)) => {
                    let start_line = line_of(consumed);
                    let err_line = buf_line + e.line().saturating_sub(1);
                    let position = Position {
                        value: self.index,
                        line: err_line,
                        multi_line: false,
                    };
                    let err = malformed(format!("not valid JSON: {e}"));
                    self.emit(start_line, last_line, position, Err(err), out);
                    break;
                }
            }
        }
        // Everything in the buffer was read: keep its allocation for the
        // next value.
        drop(stream);
        let mut buf = buf;
        buf.clear();
        self.buf = buf;
        self.buf_lines = 0;
    }
}

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

    /// A chunk that is not a valid value.
    #[derive(Debug, Clone)]
    enum Junk {
        /// The first part of a value: cut off.
        Cut(Value, usize),
        /// Not JSON.
        Garbage(String),
    }

    fn junk() -> impl Strategy<Value = Junk> {
        prop_oneof![
            (value(), 0..10_000usize).prop_map(|(v, at)| Junk::Cut(v, at)),
            "[A-Z][a-zA-Z0-9 :().-]{0,40}".prop_map(Junk::Garbage),
        ]
    }

    fn lines_of(v: &Value, pretty: bool) -> Vec<String> {
        if pretty {
            serde_json::to_string_pretty(v)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect()
        } else {
            vec![v.to_string()]
        }
    }

    fn junk_lines(j: &Junk, pretty: bool) -> Vec<String> {
        match j {
            Junk::Garbage(g) => vec![g.clone()],
            Junk::Cut(v, at) => {
                let lines = lines_of(v, pretty);
                if pretty {
                    lines[..1 + at % (lines.len() - 1)].to_vec()
                } else {
                    vec![lines[0][..1 + at % (lines[0].len() - 1)].to_string()]
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Valid values interleaved with cut-off values and garbage lines:
        /// every valid value is read, unchanged and in order, and each junk
        /// chunk is reported once, at its own first line, with its index.
        #[test]
        fn junk_between_values_hides_nothing(
            valid in proptest::collection::vec(value(), 1..30),
            junks in proptest::collection::vec((0..30usize, junk()), 0..8),
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
