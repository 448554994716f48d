//! Conversions between core types and JSON values (JS objects): the
//! core's `wire` shapes are passed through unchanged.

use serde_json::{Value, json};
use sliceplane::error::{Error, ErrorCode, ErrorFamily};
use sliceplane::wire::Rejected;

pub(crate) fn family_str(f: ErrorFamily) -> &'static str {
    match f {
        ErrorFamily::Parse => "parse",
        ErrorFamily::Validation => "validation",
        ErrorFamily::Config => "config",
        ErrorFamily::WritePath => "write_path",
        ErrorFamily::Policy => "policy",
    }
}

pub(crate) fn code_json(c: ErrorCode) -> Value {
    json!({"code": c.as_str(), "number": c.number(), "family": family_str(c.family())})
}

pub(crate) fn error_json(e: &Error) -> Value {
    json!({
        "code": e.code.as_str(),
        "number": e.code.number(),
        "family": family_str(e.code.family()),
        "object": e.object,
        "field": e.field,
        "message": e.message,
        "display": e.to_string(),
    })
}

/// A caller time in ms from a JS number: finite, not negative; fractions
/// are truncated.
pub(crate) fn now_ms(now: f64) -> napi::Result<u64> {
    if now.is_finite() && now >= 0.0 {
        // Saturating float-to-int cast; values above 2^64 clamp.
        Ok(now as u64)
    } else {
        Err(crate::to_napi(Error::new(
            ErrorCode::InvalidValue,
            "",
            "nowMs",
            format!("nowMs must be a finite number >= 0, got {now}"),
        )))
    }
}

/// A count from a JS number: finite, not negative; fractions are
/// truncated, values past the platform's range saturate.
pub(crate) fn count(n: f64, field: &str) -> napi::Result<usize> {
    if n.is_finite() && n >= 0.0 {
        // Saturating float-to-int cast.
        Ok(n as usize)
    } else {
        Err(crate::to_napi(Error::new(
            ErrorCode::InvalidValue,
            "",
            field,
            format!("{field} must be a finite number >= 0, got {n}"),
        )))
    }
}

/// A rejected event of a batch: the `wire` shape `{index, line, code,
/// number, message, object, field}`, plus `error`, the error's encoded
/// info (the JS wrapper turns it into a typed `SliceplaneError`).
pub(crate) fn rejected_json(r: &Rejected) -> Value {
    let code = ErrorCode::from_str_code(&r.code).unwrap_or(ErrorCode::MalformedInput);
    let e = Error::new(
        code,
        r.object.as_str(),
        r.field.as_str(),
        r.message.as_str(),
    );
    let mut v = wire_json(r);
    v["error"] = error_json(&e);
    v
}

/// A `wire` value as a JS value (its fields and their names unchanged).
pub(crate) fn wire_json<T: serde::Serialize>(t: &T) -> Value {
    // The wire types are plain data: serializing them cannot fail.
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// A list of `wire` values as JS values.
pub(crate) fn wire_list<T: serde::Serialize>(items: &[T]) -> Vec<Value> {
    items.iter().map(wire_json).collect()
}
