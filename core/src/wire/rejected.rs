//! The rejected event of a batch apply.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::wire::event_reader::ReadEvent;

/// One event of a batch that was not applied:
///
/// ```json
/// {"index": 2, "line": 5, "code": "malformed_input", "number": 101,
///  "message": "truncated JSON: ...", "object": "", "field": ""}
/// ```
///
/// - `index`: the 0-based position of the event among the events of the
///   batch, as the [`EventReader`](crate::wire::EventReader) counts them:
///   every value read is one event, every rejected chunk of input (a cut-off
///   value, a line that is not JSON, a line that is not UTF-8) is one event,
///   and every item of a List is one event. Blank lines are not events.
///   For JSON lines without Lists this is the count of non-blank lines
///   before the event's line.
/// - `line`: the 1-based physical line of the input the event is reported
///   at: the line its value starts on (for a List item, the List's first
///   line), except that a syntax error inside a value is reported at the
///   line of the error and a line that is not valid UTF-8 at that line.
/// - `code`, `number`: the stable error code ([`ErrorCode`](crate::ErrorCode))
///   by name and number. Input that is cut off, not JSON or not UTF-8 is
///   `malformed_input` (101) in every binding.
/// - `message`, `object`, `field`: as in [`Error`]; `object` is
///   `Kind namespace/name` when known, `field` the path of the offending
///   field; both `""` when unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// 0-based position among the batch's events.
    pub index: usize,
    /// 1-based line the event is reported at.
    pub line: usize,
    /// The error code's name (`malformed_input`).
    pub code: String,
    /// The error code's number (101).
    pub number: u32,
    /// What is wrong.
    pub message: String,
    /// The object concerned, or `""`.
    pub object: String,
    /// The offending field, or `""`.
    pub field: String,
}

impl Rejected {
    /// The rejection of the event at `index`, reported at `line`.
    pub fn new(index: usize, line: usize, e: &Error) -> Rejected {
        Rejected {
            index,
            line,
            code: e.code.as_str().to_string(),
            number: e.code.number(),
            message: e.message.clone(),
            object: e.object.clone(),
            field: e.field.clone(),
        }
    }

    /// The rejection of a read event.
    pub fn of(event: &ReadEvent, e: &Error) -> Rejected {
        Rejected::new(event.index, event.position.line, e)
    }
}
