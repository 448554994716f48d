//! `sp_consumer`: the node agent's view of CiliumEndpointSlices (DESIGN.md §7).
//!
//! Thread safety: as for `sp_engine`: a consumer may move between threads,
//! calls on it must not overlap (callers serialize them), and calls taking
//! a `const sp_consumer *` may overlap each other. Snapshots and readers it
//! hands out are independent of it (see `sp_snapshot`).

use std::panic::{AssertUnwindSafe, catch_unwind};

use sliceplane_core::consumer::{Consumer, ConsumerOptions, SharedIpRelease};
use sliceplane_core::wire;

use crate::ffi::{
    Failure, FfiResult, SP_PANIC, boundary, boundary_infallible, bytes, check_out, sp_buffer,
    sp_error, text, write_json, write_out,
};
use crate::snapshot::{new_reader, new_snapshot, sp_snapshot, sp_snapshot_reader};

/// A consumer of CiliumEndpointSlice watch events. Free with
/// `sp_consumer_free`. It may move between threads, but calls on it must
/// not overlap; calls taking a `const sp_consumer *` may overlap each other.
pub struct sp_consumer {
    inner: Consumer,
    poisoned: bool,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<sp_consumer>();
};

fn poisoned() -> Failure {
    Failure::abi(
        SP_PANIC,
        "consumer",
        "the consumer is poisoned by an earlier panic; free it and build a new one",
    )
}

fn with_mut<T>(
    consumer: *mut sp_consumer,
    f: impl FnOnce(&mut Consumer) -> FfiResult<T>,
) -> FfiResult<T> {
    // SAFETY: callers promise NULL or a live consumer, not used concurrently.
    let c = unsafe { consumer.as_mut() }.ok_or_else(|| Failure::null("consumer"))?;
    if c.poisoned {
        return Err(poisoned());
    }
    match catch_unwind(AssertUnwindSafe(|| f(&mut c.inner))) {
        Ok(r) => r,
        Err(_) => {
            c.poisoned = true;
            Err(Failure::abi(
                SP_PANIC,
                "consumer",
                "panic in sliceplane consumer",
            ))
        }
    }
}

fn with_ref<T>(
    consumer: *const sp_consumer,
    f: impl FnOnce(&Consumer) -> FfiResult<T>,
) -> FfiResult<T> {
    // SAFETY: callers promise NULL or a live consumer, not mutated concurrently.
    let c = unsafe { consumer.as_ref() }.ok_or_else(|| Failure::null("consumer"))?;
    if c.poisoned {
        return Err(poisoned());
    }
    f(&c.inner)
}

/// A new consumer. `max_per_slice` is the slice size its fragmentation
/// figures assume (0: the default, 100).
///
/// # Safety
/// `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_consumer_new(
    max_per_slice: u32,
    out: *mut *mut sp_consumer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let inner = if max_per_slice == 0 {
            Consumer::new()
        } else {
            Consumer::with_max_per_slice(max_per_slice)
        };
        let c = Box::new(sp_consumer {
            inner,
            poisoned: false,
        });
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(c)) };
        Ok(())
    })
}

/// A new consumer with options. `max_per_slice` as for `sp_consumer_new`
/// (0: 100). `shared_ip_release` (UTF-8, `shared_ip_release_len` bytes; NULL
/// with length 0 means `"handover"`) is what happens to the IP-cache entry
/// of an IP two live endpoints claim when its owner goes: `"handover"` (the
/// remaining claimant takes it) or `"cilium"` (the entry is removed, as
/// Cilium's agent does). Another value fails with `SP_INVALID_VALUE`
/// (`invalid_value`, field `sharedIpRelease`) and creates nothing.
///
/// # Safety
/// `shared_ip_release` NULL (length 0) or `shared_ip_release_len` readable
/// bytes; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_consumer_new_with_options(
    max_per_slice: u32,
    shared_ip_release: *const u8,
    shared_ip_release_len: usize,
    out: *mut *mut sp_consumer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        // SAFETY: the caller's contract.
        let release = unsafe {
            text(
                shared_ip_release,
                shared_ip_release_len,
                "shared_ip_release",
            )
        }?;
        let mut options = ConsumerOptions {
            shared_ip_release: if release.is_empty() && shared_ip_release.is_null() {
                SharedIpRelease::Handover
            } else {
                SharedIpRelease::parse(release)?
            },
            ..ConsumerOptions::default()
        };
        if max_per_slice != 0 {
            options.max_per_slice = max_per_slice;
        }
        let c = Box::new(sp_consumer {
            inner: Consumer::with_options(options),
            poisoned: false,
        });
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(c)) };
        Ok(())
    })
}

/// Frees a consumer. NULL is a no-op. Snapshots and readers it handed out
/// stay valid.
///
/// # Safety
/// `consumer` must be NULL or a live consumer, not used after (nor during).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_consumer_free(consumer: *mut sp_consumer) {
    boundary_infallible((), || {
        if !consumer.is_null() {
            // SAFETY: created by `Box::into_raw` in `sp_consumer_new`.
            drop(unsafe { Box::from_raw(consumer) });
        }
    })
}

/// Sets the consumer's clock (caller time in ms, used for event times).
///
/// # Safety
/// `consumer` live and not used concurrently; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_consumer_set_now(
    consumer: *mut sp_consumer,
    now_ms: u64,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        with_mut(consumer, |c| {
            c.set_now(now_ms);
            Ok(())
        })
    })
}

/// Applies one CiliumEndpointSlice watch event of `len` bytes. On success
/// `*out_changes` receives the endpoint changes it made, a JSON array of
/// `{"index": null, "op": "upsert", "old": endpoint|null, "new": endpoint}`
/// and `{"index": null, "op": "delete", "old": endpoint, "new": null}`
/// (endpoints as in `sp_snapshot_lookup_ip`). A rejected event changes
/// nothing.
///
/// # Safety
/// `consumer` live and not used concurrently; `json` points to `len` bytes;
/// `out_changes` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_consumer_apply_json(
    consumer: *mut sp_consumer,
    json: *const u8,
    len: usize,
    out_changes: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out_changes, "out_changes")?;
        // SAFETY: the caller's contract on (json, len).
        let b = unsafe { bytes(json, len, "json") }?;
        // Not UTF-8 is `malformed_input`, as for an event of a batch.
        let changes = with_mut(consumer, |c| Ok(c.apply_json(b)?))?;
        let v: Vec<wire::Change> = changes.iter().map(|c| wire::Change::new(c, None)).collect();
        // SAFETY: checked above.
        unsafe { write_json(out_changes, &v) }
    })
}

/// Applies many watch events in one call: `len` bytes of a watch stream,
/// read as for `sp_engine_apply_json_lines`. One bad event does not stop
/// the others. `*out_changes` receives every change in order, each with
/// the `"index"` of its event (as in the rejections); `*out_rejected` the
/// events rejected, as for `sp_engine_apply_json_lines`.
///
/// # Safety
/// `consumer` live and not used concurrently; `json_lines` points to `len`
/// bytes; `out_changes`, `out_rejected` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_consumer_apply_json_lines(
    consumer: *mut sp_consumer,
    json_lines: *const u8,
    len: usize,
    out_changes: *mut sp_buffer,
    out_rejected: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out_changes, "out_changes")?;
        check_out(out_rejected, "out_rejected")?;
        // SAFETY: the caller's contract on (json_lines, len).
        let b = unsafe { bytes(json_lines, len, "json_lines") }?;
        let (changes, rejects) = with_mut(consumer, |c| Ok(wire::apply_consumer_batch(c, b)))?;
        let changes = serde_json::to_vec(&changes).map_err(|e| {
            Failure::abi(
                crate::ffi::SP_INVALID_ARGUMENT,
                "",
                format!("cannot serialize output: {e}"),
            )
        })?;
        // SAFETY: both checked above; written only once nothing can fail.
        unsafe {
            write_json(out_rejected, &rejects)?;
            write_out(out_changes, sp_buffer::from_vec(changes));
        }
        Ok(())
    })
}

/// Publishes a snapshot of what the consumer holds (O(changes)) into a new
/// handle.
///
/// # Safety
/// `consumer` live and not used concurrently; `out` writable; `err` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_consumer_publish(
    consumer: *mut sp_consumer,
    out: *mut *mut sp_snapshot,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let s = with_mut(consumer, |c| Ok(c.publish()))?;
        new_snapshot(out, s);
        Ok(())
    })
}

/// A reader of the consumer's published snapshots, usable from any thread
/// while the consumer's owner keeps applying and publishing.
///
/// # Safety
/// `consumer` live and not mutated concurrently; `out` writable; `err` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_consumer_snapshot_reader(
    consumer: *const sp_consumer,
    out: *mut *mut sp_snapshot_reader,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let r = with_ref(consumer, |c| Ok(c.snapshot_reader()))?;
        new_reader(out, r);
        Ok(())
    })
}

/// The consumer's counters as a JSON object: `eventsApplied`,
/// `eventsRejected`, `upserts`, `deletes`, `slicesSeen`, `staleDeletes`,
/// `slices`, `endpoints`, `ipCacheSize`.
///
/// # Safety
/// `consumer` live and not mutated concurrently; `out` writable; `err` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_consumer_counters(
    consumer: *const sp_consumer,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let v = with_ref(consumer, |c| {
            Ok(serde_json::to_value(c.counters()).unwrap_or_default())
        })?;
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}

/// The structured events recorded since the last drain, as for
/// `sp_engine_drain_events`.
///
/// # Safety
/// `consumer` live and not used concurrently; `out` writable; `err` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_consumer_drain_events(
    consumer: *mut sp_consumer,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let v = with_mut(consumer, |c| Ok(c.drain_events()))?;
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}
