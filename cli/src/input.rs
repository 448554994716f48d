//! Reading watch streams from files and stdin: a thin adapter over core's
//! push parser, [`sliceplane::wire::EventReader`] (JSON lines,
//! concatenated pretty-printed JSON values as `kubectl get -w
//! --output-watch-events -o json` prints them, and `kubectl get -o json`
//! Lists, each item read as ADDED). The reader's rules (a line that starts
//! with `{` or `[` in column 0 begins a new value; a cut-off value, a line
//! that is not JSON or not UTF-8 is reported once, at its own line) are
//! documented there; every binding's batch apply uses the same reader.
//!
//! Positions (`file:position`): the line number for a value on one line
//! (JSON lines) and for every error, or `#N`, the 1-based index of the
//! value in the source, for a value spanning several lines (a
//! pretty-printed stream). Items of a List get the List's position with
//! `[i]` appended.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use serde_json::Value;
use sliceplane::wire::{EventReader, Position, ReadEvent, ReadValue, StreamReader, WholeLine};
use sliceplane::{Engine, Error, ErrorCode, WatchEvent};

/// One event read from a source.
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

fn malformed(message: String) -> Error {
    Error::new(ErrorCode::MalformedInput, "", "", message)
}

/// The value of JSON text the reader has checked.
fn to_value(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| malformed(format!("not valid JSON: {e}")))
}

/// Splits one source's lines into events, labelled with the source's name.
pub struct Parser {
    source: String,
    reader: EventReader,
    events: Vec<ReadEvent>,
}

impl Parser {
    pub fn new(source: impl Into<String>) -> Self {
        Parser {
            source: source.into(),
            reader: EventReader::new(),
            events: Vec::new(),
        }
    }

    /// Feeds one line (without its newline; it need not be UTF-8);
    /// returns completed items. A JSON line that is one whole event is
    /// read straight into it (one parse, no copy); every other value is
    /// read from its text as a JSON value first, which gives the errors
    /// their object and field.
    pub fn push_line(&mut self, line: &[u8], out: &mut Vec<Item>) {
        if let Some((_, position, event)) = self.reader.push_line_event(line, &mut self.events) {
            out.push(Item {
                at: format!("{}:{}", self.source, position.label()),
                event: Ok(event),
            });
        }
        self.take(out);
    }

    /// [`push_line`](Self::push_line) for a file read into `engine` at
    /// `now`: a line that is one whole Pod, CiliumEndpoint, Namespace, Node
    /// or CiliumNode event is applied by the engine straight from its text
    /// (no event built; the engine counts it as `apply` would) and its
    /// outcome returned with its label; every other event becomes an item
    /// as usual. The returned outcome comes before the items in input order.
    pub fn push_line_applying(
        &mut self,
        line: &[u8],
        out: &mut Vec<Item>,
        engine: &mut Engine,
        now: u64,
    ) -> Option<(Position, Result<(), Error>)> {
        let mut applied = None;
        match self
            .reader
            .push_line_applying(line, &mut self.events, engine, now)
        {
            Some((_, position, WholeLine::Applied(r))) => applied = Some((position, r)),
            Some((_, position, WholeLine::Event(event))) => out.push(Item {
                at: self.label(&position),
                event: Ok(event),
            }),
            None => {}
        }
        self.take(out);
        applied
    }

    /// `source:position`, the label of a whole-line event.
    pub fn label(&self, position: &Position) -> String {
        format!("{}:{}", self.source, position.label())
    }

    /// End of input: reads what is left.
    pub fn finish(&mut self, out: &mut Vec<Item>) {
        self.reader.finish(&mut self.events);
        self.take(out);
    }

    fn take(&mut self, out: &mut Vec<Item>) {
        for e in self.events.drain(..) {
            let at = format!("{}:{}", self.source, e.label());
            let event = e
                .event
                .and_then(|text| to_value(&text))
                .and_then(|v| WatchEvent::from_value(&v));
            out.push(Item { at, event });
        }
    }
}

/// Reads a whole source (`-` is stdin) into items.
pub fn read_all(path: &str) -> anyhow::Result<Vec<Item>> {
    let name = source_name(path);
    let mut parser = Parser::new(name);
    let mut out = Vec::new();
    for line in BufReader::new(open(path)?).split(b'\n') {
        let line = line.map_err(|e| anyhow::anyhow!("cannot read {name}: {e}"))?;
        parser.push_line(&line, &mut out);
    }
    parser.finish(&mut out);
    Ok(out)
}

/// The display name of a source: `<stdin>` for `-`.
pub fn source_name(path: &str) -> &str {
    if path == "-" { "<stdin>" } else { path }
}

fn open(path: &str) -> anyhow::Result<Box<dyn Read>> {
    Ok(if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(path).map_err(|e| anyhow::anyhow!("cannot open {path}: {e}"))?)
    })
}

fn raw_items(name: &str, values: Vec<ReadValue>, out: &mut Vec<RawItem>) {
    for v in values {
        out.push(RawItem {
            at: format!("{name}:{}", v.position.label()),
            value: v.value.and_then(|text| to_value(&text)),
        });
    }
}

/// Reads a whole source (`-` is stdin) into JSON values, without reading
/// them as events (Lists are not expanded).
pub fn read_values(path: &str) -> anyhow::Result<Vec<RawItem>> {
    let name = source_name(path);
    let mut reader = StreamReader::new();
    let mut values = Vec::new();
    for line in BufReader::new(open(path)?).split(b'\n') {
        let line = line.map_err(|e| anyhow::anyhow!("cannot read {name}: {e}"))?;
        reader.push_line_bytes(&line, &mut values);
    }
    reader.finish(&mut values);
    let mut out = Vec::new();
    raw_items(name, values, &mut out);
    Ok(out)
}

/// Parses text into JSON values: YAML documents separated by `---` (each
/// may be a List), or, when the text starts with `{` or `[`, JSON lines or
/// a concatenated JSON stream. Empty YAML documents are skipped; a YAML
/// syntax error ends the source (the YAML parser cannot resume).
pub fn parse_documents(name: &str, text: &str) -> Vec<RawItem> {
    let mut out = Vec::new();
    if text.trim_start().starts_with(['{', '[']) {
        let mut reader = StreamReader::new();
        let mut values = Vec::new();
        for line in text.lines() {
            reader.push_line(line, &mut values);
        }
        reader.finish(&mut values);
        raw_items(name, values, &mut out);
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
                    value: Err(malformed(format!("not valid YAML: {e}"))),
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

    /// The adapter labels positions with the source, keeps the reader's
    /// order, and reads events as the engine does (a List item is ADDED).
    #[test]
    fn items_carry_the_source_and_the_reader_position() {
        let ns = r#"{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}}"#;
        let list = r#"{"kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"b"}}]}"#;
        let mut p = Parser::new("f");
        let mut out = Vec::new();
        for l in [ns.as_bytes(), b"", b"nope \xff", list.as_bytes()] {
            p.push_line(l, &mut out);
        }
        p.finish(&mut out);
        let at: Vec<&str> = out.iter().map(|i| i.at.as_str()).collect();
        assert_eq!(at, ["f:1", "f:3", "f:4[0]"]);
        let ev = out[0].event.as_ref().unwrap();
        assert_eq!(ev.event_type, sliceplane::EventType::Modified);
        let e = out[1].event.as_ref().unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedInput);
        assert!(e.message.contains("UTF-8"), "{}", e.message);
        let item = out[2].event.as_ref().unwrap();
        assert_eq!(item.event_type, sliceplane::EventType::Added);
        // Raw values: Lists stay whole, positions as for events.
        let raw = parse_documents("g", &format!("{list}\n{{cut\n"));
        let at: Vec<&str> = raw.iter().map(|i| i.at.as_str()).collect();
        assert_eq!(at, ["g:1", "g:2"]);
        assert!(raw[0].value.as_ref().unwrap()["items"].is_array());
        assert!(raw[1].value.is_err());
    }
}
