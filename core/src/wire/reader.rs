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
//! [`EventReader`](super::EventReader) (`event_reader.rs`) goes one step
//! further: Lists become their items, and every event gets its index.

use serde_json::value::RawValue;

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
    pub(super) fn take_whole_line<T>(
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
