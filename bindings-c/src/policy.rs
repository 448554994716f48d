//! `sp_policy_cluster`: network-policy verdicts over a set of namespaces
//! and pods (DESIGN.md §13), as the CLI's `policy eval` does. Probes are
//! read and answered by the core's wire layer (`wire::Probe`,
//! `wire::ProbeAnswer`), the same rules in every binding.
//!
//! Thread safety as for `sp_engine`: `Send`, calls must not overlap.

use serde_json::Value;
use sliceplane_core::policy::{PolicyCluster, PolicyConfig};
use sliceplane_core::wire::{self, Probe};
use sliceplane_core::{Error, ErrorCode};

use crate::ffi::{
    Failure, FfiResult, boundary, boundary_infallible, bytes, check_out, sp_buffer, sp_error, text,
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

fn malformed(what: &str, message: String) -> Failure {
    Error::new(ErrorCode::MalformedInput, what, "", message).into()
}

/// The cluster behind `cluster`.
fn cluster_mut<'a>(cluster: *mut sp_policy_cluster) -> FfiResult<&'a mut PolicyCluster> {
    // SAFETY: callers promise NULL or a live cluster, not used concurrently.
    unsafe { cluster.as_mut() }
        .map(|c| &mut c.inner)
        .ok_or_else(|| Failure::null("cluster"))
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
        // SAFETY: the caller's contract on both (pointer, length) pairs.
        let (cluster, policies) = unsafe {
            (
                text(cluster_json, cluster_len, "cluster_json")?,
                text(policies_json, policies_len, "policies_json")?,
            )
        };
        let inner = wire::policy_cluster(cluster, policies, PolicyConfig::default())?;
        let h = Box::new(sp_policy_cluster { inner });
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(h)) };
        Ok(())
    })
}

/// Evaluates one flow. `probe_json` is `{"from": "ns/pod" | IP, "to":
/// "ns/pod" | IP, "port": 1-65535 | "1-65535" | "name", "protocol": "TCP"
/// | "UDP" | "SCTP"}` (protocol defaults to TCP, any case). `*out`
/// receives the verdict: `{"verdict", "egress", "ingress", "deciding"}`.
/// A bad probe or an unknown side fails with `SP_INVALID_PROBE`, the field
/// named.
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
        let c = cluster_mut(cluster)?;
        // SAFETY: the caller's contract on (probe_json, len).
        let s = unsafe { text(probe_json, len, "probe_json") }?;
        let v: Value = serde_json::from_str(s).map_err(|e| malformed("probe", e.to_string()))?;
        let verdict = Probe::from_value(&v)?.evaluate(c)?;
        // SAFETY: checked above.
        unsafe { write_json(out, &verdict) }
    })
}

/// Evaluates a stream of probes in one call: `len` bytes of JSON lines (or
/// concatenated values), read like watch events. `*out` receives one
/// answer per value, in order, the shape of every binding and of
/// `sliceplane policy eval`: the probe's `from`, `to`, `port`, `protocol`,
/// then the verdict's fields (`verdict`, `egress`, `ingress`, `deciding`)
/// or `"error": {"code", "number", "field", "message"}`. A bad probe does
/// not stop the others; the result is `SP_OK` unless the call itself
/// failed.
///
/// # Safety
/// `cluster` live and not used concurrently; `probes` readable for `len`
/// bytes; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_policy_cluster_eval(
    cluster: *mut sp_policy_cluster,
    probes: *const u8,
    len: usize,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let c = cluster_mut(cluster)?;
        // SAFETY: the caller's contract on (probes, len).
        let b = unsafe { bytes(probes, len, "probes") }?;
        let answers = wire::answer_probes(c, b);
        // SAFETY: checked above.
        unsafe { write_json(out, &answers) }
    })
}

/// The reachability matrix over every pod of the world, for one port and
/// protocol. `query_json` is `{"port": 1-65535 | "name", "protocol": "TCP"
/// | "UDP" | "SCTP"}` (the probe rules; protocol defaults to TCP). `*out`
/// receives `{"peers", "port", "protocol", "cells", "truthTable"}`:
/// `cells[from][to]` is `"allow"`, `"deny"`, `"audit"` or null (not
/// evaluable), and `truthTable` the text the Kubernetes e2e suite prints.
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
        let c = cluster_mut(cluster)?;
        // SAFETY: the caller's contract on (query_json, len).
        let s = unsafe { text(query_json, len, "query_json") }?;
        let v: Value =
            serde_json::from_str(s).map_err(|e| malformed("matrix query", e.to_string()))?;
        let port = Probe::port_from_value(v.get("port"))?;
        let protocol = Probe::protocol_from_value(v.get("protocol"))?;
        let m = c.matrix(port, protocol);
        let mut out_v = serde_json::to_value(&m).unwrap_or(Value::Null);
        out_v["truthTable"] = Value::String(m.to_truth_table());
        // SAFETY: checked above.
        unsafe { write_json(out, &out_v) }
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
