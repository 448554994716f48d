//! Test support (feature `test-support`, and this crate's own tests): the
//! junk-line generator that the stream reader's property test and the CLI's
//! `run` property test share — values cut off part-way, and lines that are
//! not JSON at all — with the lines of a value as a stream carries them.

use proptest::prelude::*;
use serde_json::Value;

/// A chunk of input that is not a valid value.
#[derive(Debug, Clone)]
pub enum Junk {
    /// The first part of a value (the index picks where it is cut).
    Cut(Value, usize),
    /// Not JSON (as kubectl's warnings or a shell's noise would be).
    Garbage(String),
}

/// Junk made from `values` (cut off) or from garbage text.
pub fn junk(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Junk> {
    prop_oneof![
        (values, 0..10_000usize).prop_map(|(v, at)| Junk::Cut(v, at)),
        "[A-Z][a-zA-Z0-9 :().-]{0,40}".prop_map(Junk::Garbage),
    ]
}

/// The lines of one value, compact (one line) or pretty-printed.
pub fn lines_of(v: &Value, pretty: bool) -> Vec<String> {
    if pretty {
        serde_json::to_string_pretty(v)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    } else {
        vec![v.to_string()]
    }
}

/// The lines of a junk chunk: a cut value's first lines (pretty: without
/// its closing line) or its first bytes (compact), or the garbage line.
pub fn junk_lines(j: &Junk, pretty: bool) -> Vec<String> {
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
