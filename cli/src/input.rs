//! Reading watch streams: JSON lines, concatenated (pretty-printed) JSON
//! values as `kubectl get -w --output-watch-events -o json` prints them, and
//! `kubectl get -o json` Lists (each item is read as ADDED).
//!
//! Input is fed line by line to a [`Parser`], which yields complete values
//! with their position: the line number for a value on one line (JSON
//! lines), or `#N`, the 1-based index of the value in the source, for a value
//! spanning several lines (a pretty-printed stream). Items of a List get the
//! List's position with `[i]` appended. A syntax error is reported with its
//! position and the parser resumes at the next line.

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

/// Splits lines into JSON values.
pub struct Parser {
    source: String,
    buf: String,
    buf_line: usize,
    line: usize,
    index: usize,
}

impl Parser {
    pub fn new(source: impl Into<String>) -> Self {
        Parser {
            source: source.into(),
            buf: String::new(),
            buf_line: 0,
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
        if self.buf.trim().is_empty() {
            self.buf.clear();
            self.buf_line = self.line;
        }
        let single = self.buf.is_empty();
        self.buf.push_str(line);
        self.buf.push('\n');
        // A value on one line (JSON lines) or the closing brace of a
        // pretty-printed top-level value: try to parse what is buffered.
        if single || line.starts_with('}') || line.starts_with(']') {
            self.parse(false, out);
        }
    }

    /// As [`finish`](Self::finish), yielding the values themselves.
    pub fn finish_raw(&mut self, out: &mut Vec<RawItem>) {
        self.parse(true, out);
    }

    fn parse(&mut self, eof: bool, out: &mut Vec<RawItem>) {
        let buf = std::mem::take(&mut self.buf);
        let mut stream = serde_json::Deserializer::from_str(&buf).into_iter::<Value>();
        let mut consumed = 0;
        loop {
            match stream.next() {
                None => break,
                Some(Ok(v)) => {
                    let end = stream.byte_offset();
                    let text = &buf[consumed..end];
                    let lead = text.len() - text.trim_start().len();
                    let start_line = self.buf_line + buf[..consumed + lead].matches('\n').count();
                    let multi = text.trim().contains('\n');
                    consumed = end;
                    self.index += 1;
                    let pos = if multi {
                        format!("{}:#{}", self.source, self.index)
                    } else {
                        format!("{}:{}", self.source, start_line)
                    };
                    out.push(RawItem {
                        at: pos,
                        value: Ok(v),
                    });
                }
                Some(Err(e)) if e.is_eof() && !eof => {
                    // Incomplete: keep the rest for the next lines.
                    break;
                }
                Some(Err(e)) => {
                    let err_line = self.buf_line + e.line().saturating_sub(1);
                    self.index += 1;
                    out.push(RawItem {
                        at: format!("{}:{}", self.source, err_line),
                        value: Err(Error::new(
                            ErrorCode::MalformedInput,
                            "",
                            "",
                            format!("not valid JSON: {e}"),
                        )),
                    });
                    // Resume after the line of the error.
                    let mut skip = consumed;
                    for _ in 0..e.line().max(1) {
                        match buf[skip..].find('\n') {
                            Some(i) => skip += i + 1,
                            None => {
                                skip = buf.len();
                                break;
                            }
                        }
                    }
                    consumed = skip;
                    break;
                }
            }
        }
        let rest = &buf[consumed..];
        self.buf_line += buf[..consumed].matches('\n').count();
        if rest.trim().is_empty() {
            self.buf.clear();
        } else if !eof {
            self.buf = rest.to_string();
        } else if consumed > 0 {
            self.buf = rest.to_string();
            self.parse(true, out);
        }
    }
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

    #[test]
    fn lines_pretty_and_errors() {
        let ns = r#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}}"#;
        let items = parse(&format!("{ns}\n{{oops\n{ns}\n"));
        let at: Vec<&str> = items.iter().map(|i| i.at.as_str()).collect();
        assert_eq!(at, ["t:1", "t:2", "t:3"]);
        assert!(items[0].event.is_ok() && items[1].event.is_err() && items[2].event.is_ok());
        let v: Value = serde_json::from_str(ns).unwrap();
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let items = parse(&format!("{pretty}\n{pretty}\n"));
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].at, "t:#2");
        assert!(items.iter().all(|i| i.event.is_ok()));
    }
}
