//! Conversions between core types and JSON values (JS objects).

use serde_json::{Value, json};
use sliceplane::error::{Error, ErrorCode, ErrorFamily};
use sliceplane::model::Kind;
use sliceplane::plan::{PlannedWrite, Verb, WriteOp};

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

/// Group, version and plural of a written kind (CustomObjectsApi arguments).
fn resource(kind: Kind) -> (&'static str, &'static str, &'static str) {
    let (group, version) = kind
        .api_version()
        .split_once('/')
        .unwrap_or(("", kind.api_version()));
    let plural = match kind {
        Kind::CiliumEndpointSlice => "ciliumendpointslices",
        Kind::CiliumIdentity => "ciliumidentities",
        Kind::CiliumEndpoint => "ciliumendpoints",
        Kind::CiliumNode => "ciliumnodes",
        Kind::Namespace => "namespaces",
        Kind::Node => "nodes",
        Kind::Pod => "pods",
    };
    (group, version, plural)
}

/// `{id, op, kind, name, group, version, plural, object[, preconditions]}`.
pub(crate) fn write_json(w: &PlannedWrite) -> Value {
    let kind = w.op.kind();
    let (group, version, plural) = resource(kind);
    let mut v = json!({
        "id": w.id.0,
        "op": w.op.verb().as_str(),
        "kind": kind.as_str(),
        "name": w.op.name(),
        "group": group,
        "version": version,
        "plural": plural,
        "object": w.op.object_json(),
    });
    if w.op.verb() == Verb::Delete
        && let WriteOp::DeleteSlice { preconditions, .. }
        | WriteOp::DeleteIdentity { preconditions, .. } = &w.op
    {
        v["preconditions"] = serde_json::to_value(preconditions).unwrap_or(Value::Null);
    }
    v
}
