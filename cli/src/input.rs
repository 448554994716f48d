//! Reading watch streams: JSON lines, concatenated (pretty-printed) JSON
//! values as `kubectl get -w --output-watch-events -o json` prints them, and
//! `kubectl get -o json` Lists (each item is read as ADDED).
//!
//! Input is fed line by line to a [`Parser`]. The rules:
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
//!   else is reported once, with its line.
//!
//! So every rejected value gets one report with its own position, and every
//! valid value is read. Positions: the line number for a value on one line
//! (JSON lines) and for every error, or `#N`, the 1-based index of the value
//! in the source, for a value spanning several lines (a pretty-printed
//! stream). Items of a List get the List's position with `[i]` appended.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use serde_json::Value;
use sliceplane::{Error, ErrorCode, WatchEvent};

/// One value read from a source.
pub struct Item {
    /// `file:position`.
    pub at: String,
    pub event: Result<WatchEvent, Error>,
}

/// One JSON value read from a source, before it is read as an event.
pub struct RawItem {
    /// `file:position`.
    pub at: String,
    pub value: Result<Value, Error>,
}

/// Splits lines into JSON values (see the module docs for the rules).
pub struct Parser {
    source: String,
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
    /// Values and rejected values so far (for the `#N` positions).
    index: usize,
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

impl Parser {
    pub fn new(source: impl Into<String>) -> Self {
        Parser {
            source: source.into(),
            buf: String::new(),
            buf_line: 0,
            buf_lines: 0,
            pretty: false,
            line: 0,
            index: 0,
        }
    }

    /// Feeds one line (without its newline); returns completed items.
    pub fn push_line(&mut self, line: &str, out: &mut Vec<Item>) {
        let mut raw = Vec::new();
        self.push_line_raw(line, &mut raw);
        expand_all(raw, out);
    }

    /// End of input: parses what is left.
    pub fn finish(&mut self, out: &mut Vec<Item>) {
        let mut raw = Vec::new();
        self.finish_raw(&mut raw);
        expand_all(raw, out);
    }

    /// As [`push_line`](Self::push_line), yielding the values themselves.
    pub fn push_line_raw(&mut self, line: &str, out: &mut Vec<RawItem>) {
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

    /// As [`finish`](Self::finish), yielding the values themselves.
    pub fn finish_raw(&mut self, out: &mut Vec<RawItem>) {
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
    fn standalone(&mut self, line: &str, out: &mut Vec<RawItem>) {
        if line.trim().is_empty() {
            return;
        }
        self.begin(line);
        self.pretty = false;
        self.parse(End::Alone, out);
    }

    /// The buffered value has ended: line `self.line` begins a new value or
    /// does not continue it (`at_end`: the input ended).
    fn end_value(&mut self, at_end: bool, out: &mut Vec<RawItem>) {
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

    /// Parses the buffer: complete values are yielded; a value cut off at
    /// the end stays buffered while `end` is [`End::Open`], and is reported
    /// as cut off otherwise; text that is not JSON is reported once, with
    /// its line, and dropped with the rest of the buffer (it all belongs to
    /// the broken value: no other value begins inside the buffer).
    fn parse(&mut self, end: End, out: &mut Vec<RawItem>) {
        let buf = std::mem::take(&mut self.buf);
        // The newline ending the last line is not part of the value: a
        // value cut off inside a string is cut off, not broken.
        let text = buf.strip_suffix('\n').unwrap_or(&buf);
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        let mut consumed = 0;
        let line_of = |offset: usize| {
            let rest = &buf[offset..];
            let lead = rest.len() - rest.trim_start().len();
            self.buf_line + buf[..offset + lead].matches('\n').count()
        };
        loop {
            match stream.next() {
                None => break,
                Some(Ok(v)) => {
                    let start_line = line_of(consumed);
                    let end_offset = stream.byte_offset();
                    let multi = buf[consumed..end_offset].trim().contains('\n');
                    consumed = end_offset;
                    self.index += 1;
                    let at = if multi {
                        format!("{}:#{}", self.source, self.index)
                    } else {
                        format!("{}:{}", self.source, start_line)
                    };
                    out.push(RawItem { at, value: Ok(v) });
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
                    self.index += 1;
                    out.push(RawItem {
                        at: format!("{}:{}", self.source, start_line),
                        value: Err(malformed(why)),
                    });
                    break;
                }
                Some(Err(e)) => {
                    self.index += 1;
                    let err_line = self.buf_line + e.line().saturating_sub(1);
                    out.push(RawItem {
                        at: format!("{}:{}", self.source, err_line),
                        value: Err(malformed(format!("not valid JSON: {e}"))),
                    });
                    break;
                }
            }
        }
        self.buf_lines = 0;
    }
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

fn expand_all(raw: Vec<RawItem>, out: &mut Vec<Item>) {
    for r in raw {
        match r.value {
            Ok(v) => expand(r.at, v, out),
            Err(e) => out.push(Item {
                at: r.at,
                event: Err(e),
            }),
        }
    }
}

/// A value is a watch event, a bare object (ADDED), or a List of objects.
fn expand(pos: String, v: Value, out: &mut Vec<Item>) {
    let is_list = v
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && v.get("items").is_some_and(Value::is_array);
    if is_list {
        if let Some(Value::Array(items)) = v.get("items") {
            for (i, item) in items.iter().enumerate() {
                out.push(Item {
                    at: format!("{pos}[{i}]"),
                    event: WatchEvent::from_value(item),
                });
            }
        }
        return;
    }
    out.push(Item {
        at: pos,
        event: WatchEvent::from_value(&v),
    });
}

/// Reads a whole source (`-` is stdin) into items.
pub fn read_all(path: &str) -> anyhow::Result<Vec<Item>> {
    let mut out = Vec::new();
    expand_all(read_values(path)?, &mut out);
    Ok(out)
}

/// The display name of a source: `<stdin>` for `-`.
pub fn source_name(path: &str) -> &str {
    if path == "-" { "<stdin>" } else { path }
}

/// Reads a whole source (`-` is stdin) into JSON values, without reading
/// them as events (Lists are not expanded).
pub fn read_values(path: &str) -> anyhow::Result<Vec<RawItem>> {
    let reader: Box<dyn Read> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(path).map_err(|e| anyhow::anyhow!("cannot open {path}: {e}"))?)
    };
    let name = source_name(path);
    let mut parser = Parser::new(name);
    let mut out = Vec::new();
    for line in BufReader::new(reader).lines() {
        let line = line.map_err(|e| anyhow::anyhow!("cannot read {name}: {e}"))?;
        parser.push_line_raw(&line, &mut out);
    }
    parser.finish_raw(&mut out);
    Ok(out)
}

/// Parses text into JSON values: YAML documents separated by `---` (each
/// may be a List), or, when the text starts with `{` or `[`, JSON lines or
/// a concatenated JSON stream. Empty YAML documents are skipped; a YAML
/// syntax error ends the source (the YAML parser cannot resume).
pub fn parse_documents(name: &str, text: &str) -> Vec<RawItem> {
    let mut out = Vec::new();
    if text.trim_start().starts_with(['{', '[']) {
        let mut parser = Parser::new(name);
        for line in text.lines() {
            parser.push_line_raw(line, &mut out);
        }
        parser.finish_raw(&mut out);
        return out;
    }
    use serde::Deserialize;
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let at = format!("{name}:doc{}", i + 1);
        match Value::deserialize(doc) {
            Ok(Value::Null) => {}
            Ok(v) => out.push(RawItem { at, value: Ok(v) }),
            Err(e) => {
                let at = match e.location() {
                    Some(l) => format!("{name}:{}", l.line()),
                    None => at,
                };
                out.push(RawItem {
                    at,
                    value: Err(Error::new(
                        ErrorCode::MalformedInput,
                        "",
                        "",
                        format!("not valid YAML: {e}"),
                    )),
                });
                break;
            }
        }
    }
    out
}

/// Reads a whole source (`-` is stdin) as YAML documents or JSON values
/// (see [`parse_documents`]).
pub fn read_documents(path: &str) -> anyhow::Result<Vec<RawItem>> {
    let mut text = String::new();
    let name = source_name(path);
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| anyhow::anyhow!("cannot read {name}: {e}"))?;
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
    }
    Ok(parse_documents(name, &text))
}

/// Reads an engine config file (YAML or JSON).
pub fn read_config(path: Option<&str>) -> anyhow::Result<sliceplane::Config> {
    let Some(path) = path else {
        return Ok(sliceplane::Config::default());
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
    sliceplane::Config::from_yaml(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Item> {
        let mut p = Parser::new("t");
        let mut out = Vec::new();
        for l in text.lines() {
            p.push_line(l, &mut out);
        }
        p.finish(&mut out);
        out
    }

    fn positions(items: &[Item]) -> Vec<(String, bool)> {
        items
            .iter()
            .map(|i| (i.at.clone(), i.event.is_ok()))
            .collect()
    }

    fn expect(items: &[Item], want: &[(&str, bool)]) {
        let want: Vec<(String, bool)> = want.iter().map(|(a, ok)| (a.to_string(), *ok)).collect();
        assert_eq!(positions(items), want);
    }

    fn message(item: &Item) -> String {
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
        expect(&items, &[("t:1", true), ("t:2", false), ("t:3", true)]);
        let p = pretty();
        let items = parse(&format!("{p}\n{p}\n"));
        expect(&items, &[("t:#1", true), ("t:#2", true)]);
    }

    #[test]
    fn a_cut_off_line_does_not_swallow_the_next_event() {
        let items = parse(&format!("{NS}\n{CUT}\n{NS}\n"));
        expect(&items, &[("t:1", true), ("t:2", false), ("t:3", true)]);
        let m = message(&items[1]);
        assert!(
            m.starts_with("[malformed_input]") && m.contains("truncated") && m.contains("line 3"),
            "{m}"
        );
        // Cut off at the very end.
        let items = parse(&format!("{NS}\n{CUT}\n"));
        expect(&items, &[("t:1", true), ("t:2", false)]);
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
            assert_eq!(items[0].at, "t:1");
            assert_eq!(items.len(), if next.is_empty() { 1 } else { 2 });
        }
        // Two cut-off lines in a row, each reported on its own.
        let items = parse(&format!("{CUT}\n{CUT}\n{NS}\n"));
        expect(&items, &[("t:1", false), ("t:2", false), ("t:3", true)]);
    }

    #[test]
    fn garbage_lines_are_reported_once_each() {
        let items = parse(&format!("nope\n{NS}\nstill nope\n\n{NS}\n}}\n"));
        expect(
            &items,
            &[
                ("t:1", false),
                ("t:2", true),
                ("t:3", false),
                ("t:5", true),
                ("t:6", false),
            ],
        );
        // After a cut-off line: the garbage line does not continue it.
        let items = parse(&format!("{CUT}\nnope\n{NS}\n"));
        expect(&items, &[("t:1", false), ("t:2", false), ("t:3", true)]);
        assert!(message(&items[0]).contains("truncated") && message(&items[0]).contains("line 2"));
        assert!(message(&items[1]).contains("not valid JSON"));
        // An indented whole value outside any value is still read.
        let items = parse(&format!("  {NS}\n"));
        expect(&items, &[("t:1", true)]);
    }

    #[test]
    fn a_value_may_go_on_over_lines_while_it_stays_json() {
        let (head, tail) = NS.split_at(39);
        let items = parse(&format!("{head}\n  {tail}\n{NS}\n"));
        expect(&items, &[("t:#1", true), ("t:3", true)]);
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
            &[
                ("t:1", false),
                ("t:#2", true),
                (&format!("t:{}", 5 + n), true),
            ],
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
        expect(&items, &[(&format!("t:{bad_line}"), false), ("t:#2", true)]);
        // Broken and cut off: reported once, as the syntax error.
        let head: Vec<&str> = broken.lines().take(bad_line + 1).collect();
        let items = parse(&format!("{}\n{p}\n", head.join("\n")));
        expect(&items, &[(&format!("t:{bad_line}"), false), ("t:#2", true)]);
        // A line in column 0 inside a pretty value is not part of it.
        let items = parse(&format!("{cut}\nError from server (NotFound)\n{p}\n"));
        expect(&items, &[("t:1", false), ("t:5", false), ("t:#3", true)]);
        assert!(message(&items[0]).contains("truncated") && message(&items[0]).contains("line 5"));
        // A pretty List is still read as its items.
        let list = r#"{"kind": "List", "items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}]}"#;
        let v: Value = serde_json::from_str(list).unwrap();
        let items = parse(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap()));
        expect(&items, &[("t:#1[0]", true)]);
    }
}
