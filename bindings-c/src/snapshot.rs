//! `sp_snapshot` and `sp_snapshot_reader`: lock-free snapshots (DESIGN.md §6).
//!
//! Thread safety: a snapshot is immutable and a reader only loads the
//! latest published snapshot atomically. Neither shares anything mutable
//! with the engine (or consumer) that made it: both may be used from any
//! thread, concurrently with each other and with calls on the engine by
//! its owner, and they stay valid after the engine is freed. Only freeing
//! a handle must not overlap another call on that same handle.

use std::net::{IpAddr, Ipv6Addr};

use serde_json::json;
use sliceplane_core::snapshot::{EndpointView, Snapshot, SnapshotReader};
use sliceplane_core::wire;

use crate::ffi::{
    Failure, FfiResult, SP_INVALID_IP, boundary, boundary_infallible, check_out, sp_buffer,
    sp_error, text, write_json, write_out,
};

/// An immutable point-in-time view of endpoints, slices, identities and
/// the IP cache. Free with `sp_snapshot_free`. Safe to use from any thread,
/// concurrently, while the engine that published it keeps changing (or
/// after it is freed).
pub struct sp_snapshot {
    pub(crate) inner: Snapshot,
}

/// A handle from which any thread loads the latest published snapshot,
/// without locks and without making the writer wait. Free with
/// `sp_snapshot_reader_free`. Safe to use from any thread, concurrently,
/// while the engine (or consumer) it came from is mutated by its owner, and
/// after it is freed (it then keeps the last published snapshot).
pub struct sp_snapshot_reader {
    pub(crate) inner: SnapshotReader,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<sp_snapshot>();
    assert_send_sync::<sp_snapshot_reader>();
};

pub(crate) fn new_snapshot(out: *mut *mut sp_snapshot, inner: Snapshot) {
    // SAFETY: every caller checked `out` with `check_out` first.
    unsafe { write_out(out, Box::into_raw(Box::new(sp_snapshot { inner }))) };
}

pub(crate) fn new_reader(out: *mut *mut sp_snapshot_reader, inner: SnapshotReader) {
    // SAFETY: every caller checked `out` with `check_out` first.
    unsafe { write_out(out, Box::into_raw(Box::new(sp_snapshot_reader { inner }))) };
}

/// An endpoint as JSON, the shape of every binding: `{"namespace",
/// "name", "slice", "identity", "ips", "nodeIp", "encryptionKey",
/// "namedPorts": [{"name", "port", "protocol"}], "serviceAccount"}`
/// (`nodeIp` and `serviceAccount` are null when unknown).
pub(crate) fn view_json(v: &EndpointView) -> wire::EndpointView {
    wire::EndpointView::from(v)
}

/// The IP of 16 bytes in network order; IPv4-mapped addresses
/// (`::ffff:a.b.c.d`) are IPv4.
///
/// # Safety
/// `ip` must be NULL (an error) or point to 16 readable bytes.
unsafe fn ip16(ip: *const u8) -> FfiResult<IpAddr> {
    if ip.is_null() {
        return Err(Failure::null("ip"));
    }
    let mut b = [0u8; 16];
    // SAFETY: non-NULL and 16 readable bytes per the contract; `b` is a
    // distinct local array.
    unsafe { std::ptr::copy_nonoverlapping(ip, b.as_mut_ptr(), 16) };
    Ok(IpAddr::V6(Ipv6Addr::from(b)).to_canonical())
}

/// The IP written as text (`"10.0.0.1"`, `"fd00::1"`) in `(ip, len)`.
///
/// # Safety
/// As for `ffi::text`.
pub(crate) unsafe fn ip_text(ip: *const u8, len: usize) -> FfiResult<IpAddr> {
    // SAFETY: forwarded contract.
    let s = unsafe { text(ip, len, "ip") }?;
    s.parse::<IpAddr>().map_err(|_| {
        Failure::abi(
            SP_INVALID_IP,
            "ip",
            format!(
                "{:?} is not an IP address",
                s.chars().take(64).collect::<String>()
            ),
        )
    })
}

fn snap<'a>(s: *const sp_snapshot) -> FfiResult<&'a Snapshot> {
    // SAFETY: callers promise NULL or a live snapshot.
    unsafe { s.as_ref() }
        .map(|s| &s.inner)
        .ok_or_else(|| Failure::null("snapshot"))
}

fn reader_ref<'a>(r: *const sp_snapshot_reader) -> FfiResult<&'a SnapshotReader> {
    // SAFETY: callers promise NULL or a live reader.
    unsafe { r.as_ref() }
        .map(|r| &r.inner)
        .ok_or_else(|| Failure::null("reader"))
}

/// Writes the identity lookup's outputs.
fn write_identity(found: Option<u32>, out_identity: *mut u32, out_found: *mut bool) -> FfiResult {
    check_out(out_identity, "out_identity")?;
    check_out(out_found, "out_found")?;
    // SAFETY: both checked above.
    unsafe {
        write_out(out_identity, found.unwrap_or(0));
        write_out(out_found, found.is_some());
    }
    Ok(())
}

/// Writes a found/not-found JSON output: `*out_found`, and `*out` (set to
/// `{NULL, 0}` when not found).
fn write_found(
    value: Option<impl serde::Serialize>,
    out_found: *mut bool,
    out: *mut sp_buffer,
) -> FfiResult {
    check_out(out_found, "out_found")?;
    check_out(out, "out")?;
    let found = value.is_some();
    match value {
        // SAFETY: checked above.
        Some(v) => unsafe { write_json(out, &v) }?,
        // SAFETY: checked above.
        None => unsafe {
            write_out(
                out,
                sp_buffer {
                    data: std::ptr::null_mut(),
                    len: 0,
                },
            )
        },
    }
    // SAFETY: checked above.
    unsafe { write_out(out_found, found) };
    Ok(())
}

/// Frees a snapshot. NULL is a no-op. Other snapshots and readers are not
/// affected.
///
/// # Safety
/// `snapshot` must be NULL or a live snapshot, not used after (nor during).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_free(snapshot: *mut sp_snapshot) {
    boundary_infallible((), || {
        if !snapshot.is_null() {
            // SAFETY: created by `Box::into_raw` in `new_snapshot`.
            drop(unsafe { Box::from_raw(snapshot) });
        }
    })
}

/// The snapshot's version: increases by one with every publish (0: nothing
/// published yet). NULL gives 0.
///
/// # Safety
/// `snapshot` must be NULL or a live snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_version(snapshot: *const sp_snapshot) -> u64 {
    boundary_infallible(0, || snap(snapshot).map_or(0, Snapshot::version))
}

/// IP → identity in O(1), allocating nothing: `ip` points to 16 bytes in
/// network order (an IPv4 address as `::ffff:a.b.c.d`, as Go's `net.IP`
/// and `netip.Addr.As16` give it). On success `*out_found` tells whether
/// the IP is known and `*out_identity` holds its identity (0 when not).
///
/// # Safety
/// `snapshot` live; `ip` points to 16 readable bytes; `out_identity`,
/// `out_found` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_identity_of_ip(
    snapshot: *const sp_snapshot,
    ip: *const u8,
    out_identity: *mut u32,
    out_found: *mut bool,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        let s = snap(snapshot)?;
        // SAFETY: the caller's contract on `ip`.
        let ip = unsafe { ip16(ip) }?;
        write_identity(s.identity_of_ip(&ip), out_identity, out_found)
    })
}

/// As `sp_snapshot_identity_of_ip` with the IP as text of `len` bytes
/// (`"10.0.0.1"`, `"fd00::1"`). Text that is not an IP gives `SP_INVALID_IP`.
/// Allocates nothing on success.
///
/// # Safety
/// `snapshot` live; `ip` points to `len` bytes; `out_identity`, `out_found`
/// writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_identity_of_ip_str(
    snapshot: *const sp_snapshot,
    ip: *const u8,
    len: usize,
    out_identity: *mut u32,
    out_found: *mut bool,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        let s = snap(snapshot)?;
        // SAFETY: the caller's contract on (ip, len).
        let ip = unsafe { ip_text(ip, len) }?;
        write_identity(s.identity_of_ip(&ip), out_identity, out_found)
    })
}

/// IP → the endpoint owning it, in O(1). The IP is text of `len` bytes.
/// On success `*out_found` tells whether the IP is known; if so `*out`
/// receives the endpoint `{"namespace", "name", "slice", "identity", "ips",
/// "nodeIp", "encryptionKey", "namedPorts", "serviceAccount"}`, else `*out`
/// is set to `{NULL, 0}`. Text that is not an IP gives `SP_INVALID_IP`.
///
/// # Safety
/// `snapshot` live; `ip` points to `len` bytes; `out_found`, `out`
/// writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_lookup_ip(
    snapshot: *const sp_snapshot,
    ip: *const u8,
    len: usize,
    out_found: *mut bool,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        let s = snap(snapshot)?;
        // SAFETY: the caller's contract on (ip, len).
        let ip = unsafe { ip_text(ip, len) }?;
        write_found(s.lookup_ip(&ip).map(|v| view_json(v)), out_found, out)
    })
}

/// The endpoint `namespace/name` (texts of `namespace_len` and `name_len`
/// bytes), as for `sp_snapshot_lookup_ip`.
///
/// # Safety
/// `snapshot` live; `namespace`, `name` point to their lengths in bytes;
/// `out_found`, `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_endpoint(
    snapshot: *const sp_snapshot,
    namespace: *const u8,
    namespace_len: usize,
    name: *const u8,
    name_len: usize,
    out_found: *mut bool,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        let s = snap(snapshot)?;
        // SAFETY: the caller's contract on (namespace, namespace_len).
        let ns = unsafe { text(namespace, namespace_len, "namespace") }?;
        // SAFETY: the caller's contract on (name, name_len).
        let n = unsafe { text(name, name_len, "name") }?;
        write_found(s.endpoint(ns, n).map(|v| view_json(v)), out_found, out)
    })
}

/// The slices as a JSON array of `{"name", "namespace", "endpoints"}`
/// (endpoint names sorted), sorted by name. `namespace` of `namespace_len`
/// bytes restricts them to one namespace; `namespace_len == 0` gives all.
///
/// # Safety
/// `snapshot` live; `namespace` points to `namespace_len` bytes (NULL only
/// with 0); `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_slices_json(
    snapshot: *const sp_snapshot,
    namespace: *const u8,
    namespace_len: usize,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let s = snap(snapshot)?;
        // SAFETY: the caller's contract on (namespace, namespace_len).
        let ns = unsafe { text(namespace, namespace_len, "namespace") }?;
        let v = wire::slice_views(s, (!ns.is_empty()).then_some(ns));
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}

/// The endpoints as a JSON array of endpoints (as in
/// `sp_snapshot_lookup_ip`), sorted by namespace and name. `namespace` of
/// `namespace_len` bytes restricts them to one namespace;
/// `namespace_len == 0` gives all.
///
/// # Safety
/// As for `sp_snapshot_slices_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_endpoints_json(
    snapshot: *const sp_snapshot,
    namespace: *const u8,
    namespace_len: usize,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let s = snap(snapshot)?;
        // SAFETY: the caller's contract on (namespace, namespace_len).
        let ns = unsafe { text(namespace, namespace_len, "namespace") }?;
        let v = wire::endpoint_views(s, (!ns.is_empty()).then_some(ns));
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}

/// The snapshot's counts as a JSON object: `version`, `endpoints`,
/// `slices`, `identities` (in use), `namespaces`, `ips`, `maxPerSlice` and
/// `fragmentation` `{"slices", "ideal", "ratio"}` (ratio = slices / ideal).
///
/// # Safety
/// `snapshot` live; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_counts_json(
    snapshot: *const sp_snapshot,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let s = snap(snapshot)?;
        let f = s.fragmentation();
        let v = json!({
            "version": s.version(),
            "endpoints": s.endpoint_count(),
            "slices": s.slice_count(),
            "identities": s.identity_count(),
            "namespaces": s.namespace_count(),
            "ips": s.ip_count(),
            "maxPerSlice": s.max_per_slice(),
            "fragmentation": {"slices": f.slices, "ideal": f.ideal, "ratio": f.ratio()},
        });
        // SAFETY: checked above.
        unsafe { write_json(out, &v) }
    })
}

/// The labels of identity `id` as a JSON array of labels. `*out_found` is
/// false (and `*out` `{NULL, 0}`) when the snapshot does not know `id`.
///
/// # Safety
/// `snapshot` live; `out_found`, `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_identity_labels(
    snapshot: *const sp_snapshot,
    id: u32,
    out_found: *mut bool,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        let s = snap(snapshot)?;
        let v = match s.identity_labels(id) {
            Some(l) => Some(serde_json::to_value(&**l).map_err(|e| {
                Failure::abi(
                    crate::ffi::SP_INVALID_ARGUMENT,
                    "",
                    format!("cannot serialize labels: {e}"),
                )
            })?),
            None => None,
        };
        write_found(v, out_found, out)
    })
}

/// Loads the latest published snapshot into a new handle (an O(1) shared
/// reference; never blocks the writer).
///
/// # Safety
/// `reader` live; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_reader_load(
    reader: *const sp_snapshot_reader,
    out: *mut *mut sp_snapshot,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        let r = reader_ref(reader)?;
        new_snapshot(out, r.load());
        Ok(())
    })
}

/// IP → identity on the latest published snapshot, allocating nothing (no
/// snapshot handle is made). `ip` as for `sp_snapshot_identity_of_ip`.
///
/// # Safety
/// `reader` live; `ip` points to 16 bytes; `out_identity`, `out_found`
/// writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_reader_identity_of_ip(
    reader: *const sp_snapshot_reader,
    ip: *const u8,
    out_identity: *mut u32,
    out_found: *mut bool,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        let r = reader_ref(reader)?;
        // SAFETY: the caller's contract on `ip`.
        let ip = unsafe { ip16(ip) }?;
        write_identity(r.identity_of_ip(&ip), out_identity, out_found)
    })
}

/// The version of the latest published snapshot. NULL gives 0.
///
/// # Safety
/// `reader` must be NULL or a live reader.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_reader_version(reader: *const sp_snapshot_reader) -> u64 {
    boundary_infallible(0, || reader_ref(reader).map_or(0, SnapshotReader::version))
}

/// Frees a reader. NULL is a no-op. Snapshots loaded from it stay valid.
///
/// # Safety
/// `reader` must be NULL or a live reader, not used after (nor during).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_snapshot_reader_free(reader: *mut sp_snapshot_reader) {
    boundary_infallible((), || {
        if !reader.is_null() {
            // SAFETY: created by `Box::into_raw` in `new_reader`.
            drop(unsafe { Box::from_raw(reader) });
        }
    })
}
