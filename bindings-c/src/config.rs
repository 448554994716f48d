//! `sp_config`: an engine configuration (DESIGN.md §9).

use sliceplane_core::Config;

use crate::ffi::{
    Failure, FfiResult, boundary, boundary_infallible, check_out, sp_buffer, sp_error, text,
    write_json, write_out,
};

/// An engine configuration. Immutable once built; free with
/// `sp_config_free`. It may be shared between threads for reading.
pub struct sp_config {
    pub(crate) inner: Config,
}

pub(crate) fn new_config(out: *mut *mut sp_config, inner: Config) {
    // SAFETY: every caller checked `out` with `check_out` first.
    unsafe { write_out(out, Box::into_raw(Box::new(sp_config { inner }))) };
}

/// The default configuration (Cilium's behaviour).
///
/// # Safety
/// `out` must be NULL (an error) or writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_config_new_default(
    out: *mut *mut sp_config,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        new_config(out, Config::default());
        Ok(())
    })
}

fn parse(
    ptr: *const u8,
    len: usize,
    out: *mut *mut sp_config,
    f: fn(&str) -> sliceplane_core::Result<Config>,
) -> FfiResult {
    check_out(out, "out")?;
    // SAFETY: the caller's contract on (ptr, len).
    let s = unsafe { text(ptr, len, "text") }?;
    new_config(out, f(s).map_err(Failure::from)?);
    Ok(())
}

/// Parses and validates a YAML (or JSON) configuration of `len` bytes.
/// Empty text gives the default. On failure `*out` is left untouched.
///
/// # Safety
/// `yaml` must point to `len` readable bytes (NULL only with `len == 0`);
/// `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_config_from_yaml(
    yaml: *const u8,
    len: usize,
    out: *mut *mut sp_config,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || parse(yaml, len, out, Config::from_yaml))
}

/// Parses and validates a JSON configuration of `len` bytes.
///
/// # Safety
/// As for `sp_config_from_yaml`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_config_from_json(
    json: *const u8,
    len: usize,
    out: *mut *mut sp_config,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || parse(json, len, out, Config::from_json))
}

/// The whole configuration, defaults filled in, as JSON.
///
/// # Safety
/// `config` must be a live config; `out` writable; `err` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_config_to_json(
    config: *const sp_config,
    out: *mut sp_buffer,
    err: *mut *mut sp_error,
) -> u32 {
    boundary(err, || {
        check_out(out, "out")?;
        // SAFETY: NULL or live, per the contract.
        let c = unsafe { config.as_ref() }.ok_or_else(|| Failure::null("config"))?;
        // SAFETY: `out` checked above.
        unsafe { write_json(out, &c.inner) }
    })
}

/// Frees a config. NULL is a no-op. Engines built from it keep their own copy.
///
/// # Safety
/// `config` must be NULL or a live config, not used after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_config_free(config: *mut sp_config) {
    boundary_infallible((), || {
        if !config.is_null() {
            // SAFETY: created by `Box::into_raw` in `new_config`.
            drop(unsafe { Box::from_raw(config) });
        }
    })
}
