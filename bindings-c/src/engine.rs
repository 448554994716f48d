//! `sp_engine`: the endpoint-slice engine (DESIGN.md §2-§5, §8).
//!
//! Thread safety: an engine may move between threads (it is `Send`), but
//! calls on one engine must not overlap. Callers serialize access (a mutex
//! around every call; the Go package does this). Functions taking a
//! `const sp_engine *` do not mutate and may run concurrently with each
//! other, never with a mutating call.

use std::panic::{AssertUnwindSafe, catch_unwind};

use sliceplane_core::wire;
use sliceplane_core::{Engine, Error, ErrorCode, OpId, Outcome};

use crate::config::sp_config;
use crate::ffi::{
    Failure, FfiResult, SP_INVALID_UTF8, SP_PANIC, boundary, boundary_infallible, bytes, check_out,
    sp_buffer, sp_error, write_json, write_out,
};
use crate::snapshot::{new_reader, new_snapshot, sp_snapshot, sp_snapshot_reader};

/// An engine. Free with `sp_engine_free`. It may move between threads, but
/// calls on it must not overlap: callers serialize access (a mutex). Calls
/// taking a `const sp_engine *` do not mutate and may overlap each other.
pub struct sp_engine {
    inner: Engine,
    /// Set when a panic was caught inside a call on this engine: its state
    /// may be half-updated, so every later call fails with `SP_PANIC`.
    poisoned: bool,
}

// `Send`: an engine may move between threads. `Sync`: read-only calls
// (`const sp_engine *`) may overlap each other.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<sp_engine>();
};

fn poisoned() -> Failure {
    Failure::abi(
        SP_PANIC,
        "engine",
        "the engine is poisoned by an earlier panic; free it and build a new one",
    )
}

/// Runs `f` on the engine behind `engine`, poisoning it if `f` panics.
fn with_mut<T>(
    engine: *mut sp_engine,
    f: impl FnOnce(&mut Engine) -> FfiResult<T>,
) -> FfiResult<T> {
    // SAFETY: callers promise NULL or a live engine, not used concurrently.
    let e = unsafe { engine.as_mut() }.ok_or_else(|| Failure::null("engine"))?;
    if e.poisoned {
        return Err(poisoned());
    }
    match catch_unwind(AssertUnwindSafe(|| f(&mut e.inner))) {
        Ok(r) => r,
        Err(_) => {
            e.poisoned = true;
            Err(Failure::abi(
                SP_PANIC,
                "engine",
                "panic in sliceplane engine",
            ))
        }
    }
}

/// Runs `f` on the engine behind `engine`, read-only.
fn with_ref<T>(engine: *const sp_engine, f: impl FnOnce(&Engine) -> FfiResult<T>) -> FfiResult<T> {
    // SAFETY: callers promise NULL or a live engine, not mutated concurrently.
    let e = unsafe { engine.as_ref() }.ok_or_else(|| Failure::null("engine"))?;
    if e.poisoned {
        return Err(poisoned());
    }
    f(&e.inner)
}

/// A new engine with a copy of `config`, waiting for its initial sync.
///
/// # Safety
/// `config` must be a live config; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_new(
    config: *const sp_config,
    out: *mut *mut sp_engine,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        // SAFETY: NULL or live, per the contract.
        let c = unsafe { config.as_ref() }.ok_or_else(|| Failure::null("config"))?;
        let inner = Engine::new(c.inner.clone())?;
        let e = Box::new(sp_engine {
            inner,
            poisoned: false,
        });
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(e)) };
        Ok(())
    })
}

/// Frees an engine. NULL is a no-op.
///
/// # Safety
/// `engine` must be NULL or a live engine, not used after (nor during).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_free(engine: *mut sp_engine) {
    boundary_infallible((), || {
        if !engine.is_null() {
            // SAFETY: created by `Box::into_raw` in `sp_engine_new`.
            drop(unsafe { Box::from_raw(engine) });
        }
    })
}

pub(crate) fn utf8(b: &[u8], arg: &str) -> FfiResult<()> {
    std::str::from_utf8(b).map(|_| ()).map_err(|e| {
        Failure::abi(
            SP_INVALID_UTF8,
            arg,
            format!("argument `{arg}` is not valid UTF-8: {e}"),
        )
    })
}

/// Applies one watch event (`{"type": "ADDED"|"MODIFIED"|"DELETED",
/// "object": {...}}`) of `len` bytes at caller time `now_ms`. A rejected
/// event changes nothing; the result is its error code.
///
/// # Safety
/// `engine` live and not used concurrently; `json` points to `len` bytes;
/// `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_apply_json(
    engine: *mut sp_engine,
    json: *const u8,
    len: usize,
    now_ms: u64,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        // SAFETY: the caller's contract on (json, len).
        let b = unsafe { bytes(json, len, "json") }?;
        // Not UTF-8 is `malformed_input`, as for an event of a batch.
        with_mut(engine, |e| Ok(e.apply_json(b, now_ms)?))
    })
}

/// Applies many watch events in one call: `len` bytes of a watch stream
/// (JSON lines, concatenated pretty-printed values or Lists, read by the
/// core's stream reader exactly as every binding and the CLI read it). One
/// bad event does not stop the others. `*out_rejected` receives a JSON
/// array of the events rejected, each `{"index", "line", "code", "number",
/// "message", "object", "field"}` (`index`: 0-based among the batch's
/// events, blank lines not counted, each List item counted; `line`: the
/// 1-based line reported; input cut off, not JSON or not UTF-8 is
/// `malformed_input`); `[]` when all were applied. The result is `SP_OK`
/// unless the call itself failed.
///
/// # Safety
/// `engine` live and not used concurrently; `json_lines` points to `len`
/// bytes; `out_rejected` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_apply_json_lines(
    engine: *mut sp_engine,
    json_lines: *const u8,
    len: usize,
    now_ms: u64,
    out_rejected: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out_rejected, "out_rejected")?;
        // SAFETY: the caller's contract on (json_lines, len).
        let b = unsafe { bytes(json_lines, len, "json_lines") }?;
        let rejects = with_mut(engine, |e| Ok(wire::apply_engine_batch(e, b, now_ms)))?;
        // SAFETY: checked above.
        unsafe { write_json(out_rejected, &rejects) }
    })
}

/// Tells the engine the initial list of every watched kind was applied:
/// it adopts what the server holds and starts planning writes.
///
/// # Safety
/// `engine` live and not used concurrently; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_initial_sync_done(
    engine: *mut sp_engine,
    now_ms: u64,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        with_mut(engine, |e| {
            e.initial_sync_done(now_ms);
            Ok(())
        })
    })
}

/// The writes due at `now_ms`, in the order to send them, as a JSON array
/// of planned writes `{"id", "op": "create"|"update"|"delete", "group",
/// "version", "plural", "kind", "name", "object", "preconditions"}` (the
/// shape of every binding; `preconditions` is `{"uid", "resourceVersion"}`
/// on deletes, `null` otherwise). Report each outcome with
/// `sp_engine_report`.
///
/// # Safety
/// `engine` live and not used concurrently; `out` writable; `err` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_flush(
    engine: *mut sp_engine,
    now_ms: u64,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    // SAFETY: the caller's contract is this function's.
    unsafe { flush_json(engine, now_ms, usize::MAX, out, err) }
}

/// `sp_engine_flush`, planning at most `max_slice_writes` slice writes (the
/// oldest due; identity writes are not counted). The slices left out stay
/// dirty, so a caller with `n` idle writers asks for `n` and later changes
/// join those slices' one write.
///
/// # Safety
/// `engine` live and not used concurrently; `out` writable; `err` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_flush_at_most(
    engine: *mut sp_engine,
    now_ms: u64,
    max_slice_writes: u32,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    // SAFETY: the caller's contract is this function's.
    unsafe { flush_json(engine, now_ms, max_slice_writes as usize, out, err) }
}

/// `Engine::flush_at_most` written to `out` as the planned writes' JSON
/// array: the body of `sp_engine_flush` (no bound) and
/// `sp_engine_flush_at_most`.
///
/// # Safety
/// As `sp_engine_flush`.
unsafe fn flush_json(
    engine: *mut sp_engine,
    now_ms: u64,
    max_slice_writes: usize,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let json = with_mut(engine, |e| {
            let plan = e.flush_at_most(now_ms, max_slice_writes);
            Ok(wire::LineEncoder::new().array(plan.iter()))
        })?;
        // SAFETY: checked above.
        unsafe { write_out(out, sp_buffer::from_vec(json)) };
        Ok(())
    })
}

/// Reports what the API server answered to op `op_id`; `outcome_json` is
/// `{"outcome": "success", "resourceVersion", "uid"}`, `{"outcome":
/// "conflict"}`, `{"outcome": "notFound"}`, `{"outcome": "alreadyExists"}`
/// or `{"outcome": "error", "message"}`. An op not in flight gives
/// `SP_UNKNOWN_OP`.
///
/// # Safety
/// `engine` live and not used concurrently; `outcome_json` points to `len`
/// bytes; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_report(
    engine: *mut sp_engine,
    op_id: u64,
    outcome_json: *const u8,
    len: usize,
    now_ms: u64,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        // SAFETY: the caller's contract on (outcome_json, len).
        let b = unsafe { bytes(outcome_json, len, "outcome_json") }?;
        utf8(b, "outcome_json")?;
        let outcome: Outcome = serde_json::from_slice(b).map_err(|e| {
            Error::new(
                ErrorCode::MalformedInput,
                "Outcome",
                "outcome",
                format!("not an outcome: {e}"),
            )
        })?;
        with_mut(engine, |e| Ok(e.report(OpId(op_id), &outcome, now_ms)?))
    })
}

/// The desired CiliumEndpointSlices (sorted by name) as a JSON array.
///
/// # Safety
/// `engine` live and not mutated concurrently; `out` writable; `err` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_desired_slices(
    engine: *const sp_engine,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let v = with_ref(engine, |e| Ok(e.desired_slices()))?;
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}

/// The desired CiliumIdentities (pods source, by number) as a JSON array.
///
/// # Safety
/// As for `sp_engine_desired_slices`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_desired_identities(
    engine: *const sp_engine,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let v = with_ref(engine, |e| Ok(e.desired_identities()))?;
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}

/// A summary of the engine's state as a JSON object: `endpoints`,
/// `endpointsWaiting`, `slices`, `dirtySlices`, `inFlight`, `identities`,
/// `namespaces`, `nodes`, `synced`.
///
/// # Safety
/// As for `sp_engine_desired_slices`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_stats(
    engine: *const sp_engine,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let v = with_ref(engine, |e| {
            Ok(serde_json::to_value(e.stats()).unwrap_or_default())
        })?;
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}

/// The earliest time at which `sp_engine_flush` could plan something not
/// due yet: `*out_has` is false when nothing is pending, else `*out_ms`
/// holds the time.
///
/// # Safety
/// `engine` live and not mutated concurrently; `out_has`, `out_ms`
/// writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_next_due(
    engine: *const sp_engine,
    out_has: *mut bool,
    out_ms: *mut u64,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out_has, "out_has")?;
        check_out(out_ms, "out_ms")?;
        let due = with_ref(engine, |e| Ok(e.next_due()))?;
        // SAFETY: both checked above.
        unsafe {
            write_out(out_has, due.is_some());
            write_out(out_ms, due.unwrap_or(0));
        }
        Ok(())
    })
}

/// The structured events recorded since the last drain (DESIGN.md §8), as
/// a JSON array of `{"time", "category", "kind", "severity", "subject",
/// "message"}`.
///
/// # Safety
/// `engine` live and not used concurrently; `out` writable; `err` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_drain_events(
    engine: *mut sp_engine,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let v = with_mut(engine, |e| Ok(e.drain_events()))?;
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}

/// Publishes a snapshot of the desired state (O(what changed since the
/// last publish)) into a new handle. The snapshot shares nothing mutable
/// with the engine: use it from any thread, keep it past `sp_engine_free`.
///
/// # Safety
/// `engine` live and not used concurrently; `out` writable; `err` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_publish(
    engine: *mut sp_engine,
    out: *mut *mut sp_snapshot,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let s = with_mut(engine, |e| Ok(e.publish()))?;
        new_snapshot(out, s);
        Ok(())
    })
}

/// A reader of the engine's published snapshots. It shares nothing mutable
/// with the engine: any thread may load snapshots from it, without locks,
/// while the engine's owner keeps applying events and publishing (and
/// after the engine is freed).
///
/// # Safety
/// `engine` live and not mutated concurrently; `out` writable; `err` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_snapshot_reader(
    engine: *const sp_engine,
    out: *mut *mut sp_snapshot_reader,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let r = with_ref(engine, |e| Ok(e.snapshot_reader()))?;
        new_reader(out, r);
        Ok(())
    })
}

/// All metrics in the Prometheus text exposition format (version 0.0.4),
/// UTF-8 text (not JSON) in `*out`; serve it as `text/plain; version=0.0.4`.
///
/// # Safety
/// As for `sp_engine_desired_slices`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_metrics(
    engine: *const sp_engine,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let text = with_ref(engine, |e| Ok(e.metrics_text()))?;
        // SAFETY: checked above.
        unsafe { write_out(out, sp_buffer::from_vec(text.into_bytes())) };
        Ok(())
    })
}

/// The write path's health as JSON: `{"state": "healthy"}` or
/// `{"state": "degraded", "reason": "..."}`.
///
/// # Safety
/// As for `sp_engine_desired_slices`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_health(
    engine: *const sp_engine,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let v = with_ref(engine, |e| Ok(e.health().clone()))?;
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}

/// What the engine did, as a JSON object with camelCase keys
/// (`eventsApplied`, `eventsRejected`, `writesPlanned` keyed `kind/verb`,
/// `writesSucceeded`, `writesFailed`, `noOpSkips`, ...).
///
/// # Safety
/// As for `sp_engine_desired_slices`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_counters(
    engine: *const sp_engine,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let v = with_ref(engine, |e| {
            Ok(serde_json::to_value(e.counters()).unwrap_or_default())
        })?;
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}

/// Marks every slice for comparison with the server at the next flush
/// (level-triggered resync); slices dropped after their retries are picked
/// up again.
///
/// # Safety
/// `engine` live and not used concurrently; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_resync(
    engine: *mut sp_engine,
    now_ms: u64,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        with_mut(engine, |e| {
            e.resync(now_ms);
            Ok(())
        })
    })
}

/// Records an apply duration the caller measured, in seconds (the engine
/// reads no clock). A negative or non-finite value gives
/// `SP_INVALID_VALUE` (field `seconds`).
///
/// # Safety
/// `engine` live and not used concurrently; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_engine_observe_apply_seconds(
    engine: *mut sp_engine,
    seconds: f64,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        with_mut(engine, |e| Ok(e.observe_apply_seconds(seconds)?))
    })
}
