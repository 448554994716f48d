//! `sp_policy_cluster`: network-policy verdicts over a set of namespaces
//! and pods (DESIGN.md §13), as the CLI's `policy eval` does.
//!
//! Thread safety as for `sp_engine`: `Send`, calls must not overlap.

use serde_json::Value;
use sliceplane_core::model::{Namespace, Object, Pod};
use sliceplane_core::policy::{PolicyCluster, PolicyConfig, PortRef, Protocol};
use sliceplane_core::{Error, ErrorCode};

use crate::ffi::{
    Failure, FfiResult, boundary, boundary_infallible, check_out, sp_buffer, sp_error, text,
    write_json, write_out,
};

/// A policy world. Free with `sp_policy_cluster_free`.
pub struct sp_policy_cluster {
    inner: PolicyCluster,
}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<sp_policy_cluster>();
};

fn malformed(what: &str, field: &str, message: String) -> Failure {
    Error::new(ErrorCode::MalformedInput, what, field, message).into()
}

/// A JSON array, or the `items` of a `{"kind": "List", "items": [...]}`.
fn items(s: &str, what: &str) -> FfiResult<Vec<Value>> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(s).map_err(|e| malformed(what, "", e.to_string()))? {
        Value::Array(v) => Ok(v),
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(v)) => Ok(v),
            _ => Err(malformed(
                what,
                "items",
                "expected a JSON array or a List".into(),
            )),
        },
        _ => Err(malformed(
            what,
            "",
            "expected a JSON array or a List".into(),
        )),
    }
}

/// Builds a policy world from `cluster_json` (a JSON array, or a `List`,
/// of Namespace and Pod objects) and `policies_json` (a JSON array or
/// `List` of NetworkPolicy / CiliumNetworkPolicy /
/// CiliumClusterwideNetworkPolicy objects; NULL with length 0 for none).
/// The first invalid object or policy fails the call.
///
/// # Safety
/// The `(pointer, length)` pairs must be readable; `out` writable; `err`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_policy_cluster_new(
    cluster_json: *const u8,
    cluster_len: usize,
    policies_json: *const u8,
    policies_len: usize,
    out: *mut *mut sp_policy_cluster,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        // SAFETY: the caller's contract on both pairs.
        let (cluster, policies) = unsafe {
            (
                text(cluster_json, cluster_len, "cluster_json")?,
                text(policies_json, policies_len, "policies_json")?,
            )
        };
        let mut namespaces: Vec<Namespace> = Vec::new();
        let mut pods: Vec<Pod> = Vec::new();
        for (i, item) in items(cluster, "cluster")?.iter().enumerate() {
            let bytes =
                serde_json::to_vec(item).map_err(|e| malformed("cluster", "", e.to_string()))?;
            match Object::from_json(&bytes)? {
                Object::Namespace(n) => namespaces.push(n),
                Object::Pod(p) => pods.push(p),
                o => {
                    return Err(Error::new(
                        ErrorCode::UnknownKind,
                        o.describe(),
                        format!("[{i}].kind"),
                        "the cluster takes Namespace and Pod objects",
                    )
                    .into());
                }
            }
        }
        let mut inner = PolicyCluster::new(&namespaces, &pods, PolicyConfig::default())?;
        for p in items(policies, "policies")? {
            inner.upsert_policy(&p)?;
        }
        let h = Box::new(sp_policy_cluster { inner });
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(h)) };
        Ok(())
    })
}

/// Evaluates one flow. `probe_json` is `{"from": "ns/pod" | IP, "to":
/// "ns/pod" | IP, "port": number | "name", "protocol": "TCP" | "UDP" |
/// "SCTP"}` (protocol defaults to TCP). `*out` receives the verdict:
/// `{"verdict", "egress", "ingress", "deciding"}`.
///
/// # Safety
/// `cluster` live and not used concurrently; `probe_json` readable for
/// `len` bytes; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_policy_cluster_probe(
    cluster: *mut sp_policy_cluster,
    probe_json: *const u8,
    len: usize,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        // SAFETY: NULL or live, per the contract.
        let c = unsafe { cluster.as_mut() }.ok_or_else(|| Failure::null("cluster"))?;
        // SAFETY: the caller's contract.
        let s = unsafe { text(probe_json, len, "probe_json") }?;
        let v: Value =
            serde_json::from_str(s).map_err(|e| malformed("probe", "", e.to_string()))?;
        let field = |k: &str| -> FfiResult<&str> {
            v.get(k).and_then(Value::as_str).ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidProbe,
                    "probe",
                    k,
                    format!("`{k}` must be a string"),
                )
                .into()
            })
        };
        let (from, to) = (field("from")?, field("to")?);
        let (port, protocol) = (port_of(&v)?, protocol_of(&v)?);
        let verdict = c.inner.probe(from, to, port, protocol)?;
        // SAFETY: checked above.
        unsafe { write_json(out, &verdict) }
    })
}

/// The reachability matrix over every pod of the world, for one port and
/// protocol. `query_json` is `{"port": number | "name", "protocol": "TCP" |
/// "UDP" | "SCTP"}` (protocol defaults to TCP). `*out` receives `{"peers",
/// "port", "protocol", "cells", "truthTable"}`: `cells[from][to]` is
/// `"allow"`, `"deny"`, `"audit"` or null (not evaluable), and `truthTable`
/// the text the Kubernetes e2e suite prints.
///
/// # Safety
/// `cluster` live and not used concurrently; `query_json` readable for
/// `len` bytes; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_policy_cluster_matrix(
    cluster: *mut sp_policy_cluster,
    query_json: *const u8,
    len: usize,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        // SAFETY: NULL or live, per the contract.
        let c = unsafe { cluster.as_mut() }.ok_or_else(|| Failure::null("cluster"))?;
        // SAFETY: the caller's contract.
        let s = unsafe { text(query_json, len, "query_json") }?;
        let v: Value =
            serde_json::from_str(s).map_err(|e| malformed("matrix query", "", e.to_string()))?;
        let (port, protocol) = (port_of(&v)?, protocol_of(&v)?);
        let m = c.inner.matrix(port, protocol);
        let mut out_v = serde_json::to_value(&m).unwrap_or(Value::Null);
        out_v["truthTable"] = Value::String(m.to_truth_table());
        // SAFETY: checked above.
        unsafe { write_json(out, &out_v) }
    })
}

/// `port`: a number 0–65535 or a port name.
fn port_of(v: &Value) -> FfiResult<PortRef> {
    match v.get("port") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(PortRef::Number),
        Some(Value::String(s)) => Some(PortRef::parse(s)),
        _ => None,
    }
    .ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidProbe,
            "probe",
            "port",
            "`port` must be a number in 0-65535 or a port name",
        )
        .into()
    })
}

/// `protocol`: TCP (default), UDP or SCTP.
fn protocol_of(v: &Value) -> FfiResult<Protocol> {
    match v.get("protocol") {
        None | Some(Value::Null) => Some(Protocol::Tcp),
        Some(Value::String(s)) => Protocol::parse(s),
        _ => None,
    }
    .ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidProtocol,
            "probe",
            "protocol",
            "`protocol` must be TCP, UDP or SCTP",
        )
        .into()
    })
}

/// Frees a policy world. NULL is a no-op.
///
/// # Safety
/// `cluster` must be NULL or live, not used after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_policy_cluster_free(cluster: *mut sp_policy_cluster) {
    boundary_infallible((), || {
        if !cluster.is_null() {
            // SAFETY: created by `Box::into_raw` in `sp_policy_cluster_new`.
            drop(unsafe { Box::from_raw(cluster) });
        }
    })
}
