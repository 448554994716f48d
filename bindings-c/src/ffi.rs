//! The plumbing every entry point shares: result codes, the error object,
//! library-owned buffers, argument checks and the panic boundary.

use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use sliceplane_core::{Error, ErrorCode};

/// Success.
pub const SP_OK: u32 = 0;

// The core's stable error numbers (`ErrorCode::number`), repeated here so
// that the header names them. A test checks they match the core.

/// Not valid JSON or YAML, or the wrong JSON type for a field.
pub const SP_MALFORMED_INPUT: u32 = 101;
/// `kind`/`apiVersion` not one the engine takes.
pub const SP_UNKNOWN_KIND: u32 = 102;
/// Watch event `type` other than ADDED, MODIFIED, DELETED.
pub const SP_UNKNOWN_EVENT_TYPE: u32 = 103;
/// A required field is missing or empty.
pub const SP_MISSING_FIELD: u32 = 201;
/// A name is not a DNS-1123 label/subdomain.
pub const SP_INVALID_NAME: u32 = 202;
/// A label key is not a valid qualified name.
pub const SP_INVALID_LABEL_KEY: u32 = 203;
/// A label value is not valid.
pub const SP_INVALID_LABEL_VALUE: u32 = 204;
/// An IP address does not parse.
pub const SP_INVALID_IP: u32 = 205;
/// A port outside 1-65535.
pub const SP_INVALID_PORT: u32 = 206;
/// A protocol outside the allowed enum.
pub const SP_INVALID_PROTOCOL: u32 = 207;
/// A list or string beyond the engine's size bounds.
pub const SP_TOO_LARGE: u32 = 208;
/// Any other field with a value out of its domain.
pub const SP_INVALID_VALUE: u32 = 209;
/// The configuration is invalid.
pub const SP_INVALID_CONFIG: u32 = 301;
/// An outcome was reported for an op the engine is not waiting on.
pub const SP_UNKNOWN_OP: u32 = 401;
/// A policy is malformed or uses a value out of range.
pub const SP_INVALID_POLICY: u32 = 501;
/// A policy uses a feature the engine does not evaluate.
pub const SP_UNSUPPORTED_POLICY: u32 = 502;
/// A probe names an endpoint or port that cannot be resolved.
pub const SP_INVALID_PROBE: u32 = 503;

// Codes of the C ABI itself (9xx).

/// A required pointer argument was NULL.
pub const SP_NULL_ARGUMENT: u32 = 901;
/// Text input (JSON, YAML) was not valid UTF-8.
pub const SP_INVALID_UTF8: u32 = 902;
/// Any other argument out of its domain.
pub const SP_INVALID_ARGUMENT: u32 = 903;
/// A panic inside the library was caught at the ABI boundary. The handle
/// it happened on is poisoned: every later call on it returns this code.
pub const SP_PANIC: u32 = 999;

/// The stable name of a result code: the core's code names
/// (`"malformed_input"`, ...), `"ok"`, `"null_argument"`, `"invalid_utf8"`,
/// `"invalid_argument"`, `"panic"`; `"unknown"` for any other number.
pub(crate) fn code_name(number: u32) -> &'static str {
    match number {
        SP_OK => "ok",
        SP_NULL_ARGUMENT => "null_argument",
        SP_INVALID_UTF8 => "invalid_utf8",
        SP_INVALID_ARGUMENT => "invalid_argument",
        SP_PANIC => "panic",
        n => ErrorCode::ALL
            .into_iter()
            .find(|c| c.number() == n)
            .map_or("unknown", ErrorCode::as_str),
    }
}

/// An error returned by a failed call, from that same call. Owned by the
/// caller; free with `sp_error_free`. Its strings live as long as it does.
pub struct sp_error {
    pub(crate) number: u32,
    pub(crate) code: CString,
    pub(crate) object: CString,
    pub(crate) field: CString,
    pub(crate) message: CString,
}

/// A C string of `s`; interior NUL bytes become U+FFFD.
pub(crate) fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

/// A failure inside the library, before it becomes an `sp_error`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub number: u32,
    pub object: String,
    pub field: String,
    pub message: String,
}

impl Failure {
    pub fn abi(number: u32, field: &str, message: impl Into<String>) -> Failure {
        Failure {
            number,
            object: String::new(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn null(arg: &str) -> Failure {
        Failure::abi(SP_NULL_ARGUMENT, arg, format!("argument `{arg}` is NULL"))
    }

    fn into_error(self) -> sp_error {
        sp_error {
            number: self.number,
            code: cstring(code_name(self.number)),
            object: cstring(&self.object),
            field: cstring(&self.field),
            message: cstring(&self.message),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure {
            number: e.code.number(),
            object: e.object,
            field: e.field,
            message: e.message,
        }
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, Failure>;

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Runs `body` inside the panic boundary and turns its result into a result
/// code, writing `*err` (when `err` is not NULL) on failure only.
pub(crate) fn boundary(err: *mut *mut sp_error, body: impl FnOnce() -> FfiResult) -> u32 {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err(Failure::abi(
            SP_PANIC,
            "",
            format!("panic in sliceplane: {}", panic_message(&*payload)),
        ))
    });
    match outcome {
        Ok(()) => SP_OK,
        Err(f) => {
            let number = f.number;
            if !err.is_null() {
                // Building the error allocates; a panic there must not
                // cross the ABI either.
                if let Ok(e) = catch_unwind(AssertUnwindSafe(|| Box::new(f.into_error()))) {
                    // SAFETY: `err` is non-NULL and the caller promises it
                    // points to writable storage for one pointer.
                    unsafe { *err = Box::into_raw(e) };
                }
            }
            number
        }
    }
}

/// Like [`boundary`] for functions that cannot fail: a panic gives `default`.
pub(crate) fn boundary_infallible<T>(default: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(default)
}

/// The bytes `(ptr, len)`. A NULL `ptr` is accepted only when `len` is 0.
///
/// # Safety
/// `ptr` must be NULL or point to `len` readable bytes that stay valid and
/// unmodified for `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, arg: &str) -> FfiResult<&'a [u8]> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Failure::null(arg));
    }
    // SAFETY: non-NULL, and the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The text `(ptr, len)`: like [`bytes`], checked to be UTF-8.
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn text<'a>(ptr: *const u8, len: usize, arg: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded contract.
    let b = unsafe { bytes(ptr, len, arg) }?;
    std::str::from_utf8(b).map_err(|e| {
        Failure::abi(
            SP_INVALID_UTF8,
            arg,
            format!("argument `{arg}` is not valid UTF-8: {e}"),
        )
    })
}

/// Writes `value` to the out-parameter `out`, which must not be NULL
/// (checked before any work is done, with [`check_out`]).
///
/// # Safety
/// `out` must be non-NULL and point to writable storage for a `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: the caller's contract.
    unsafe { out.write(value) };
}

/// Fails if the out-parameter `out` is NULL.
pub(crate) fn check_out<T>(out: *mut T, arg: &str) -> FfiResult {
    if out.is_null() {
        Err(Failure::null(arg))
    } else {
        Ok(())
    }
}

/// A library-owned byte buffer (UTF-8 JSON for every function that returns
/// one). `data[len]` is a NUL byte, not counted in `len`, so `data` can be
/// used as a C string. Free with `sp_buffer_free`.
#[repr(C)]
pub struct sp_buffer {
    /// The bytes; NULL only for an empty (zeroed or freed) buffer.
    pub data: *mut u8,
    /// Number of bytes, without the trailing NUL.
    pub len: usize,
}

impl sp_buffer {
    pub(crate) fn from_vec(mut v: Vec<u8>) -> sp_buffer {
        let len = v.len();
        v.push(0);
        let boxed: Box<[u8]> = v.into_boxed_slice();
        sp_buffer {
            data: Box::into_raw(boxed).cast::<u8>(),
            len,
        }
    }
}

/// Serializes `value` into a new buffer written to `*out`.
///
/// # Safety
/// `out` must be non-NULL and writable.
pub(crate) unsafe fn write_json(out: *mut sp_buffer, value: &impl serde::Serialize) -> FfiResult {
    let v = serde_json::to_vec(value).map_err(|e| {
        Failure::abi(
            SP_INVALID_ARGUMENT,
            "",
            format!("cannot serialize output: {e}"),
        )
    })?;
    // SAFETY: forwarded contract.
    unsafe { write_out(out, sp_buffer::from_vec(v)) };
    Ok(())
}

/// Frees the bytes of `buf` and sets it to `{NULL, 0}`. NULL `buf`, or a
/// buffer already freed or zeroed, is a no-op.
///
/// # Safety
/// `buf` must be NULL or point to a buffer filled by this library (or
/// zeroed), not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_buffer_free(buf: *mut sp_buffer) {
    boundary_infallible((), || {
        if buf.is_null() {
            return;
        }
        // SAFETY: non-NULL; the caller promises a valid buffer.
        let b = unsafe { &mut *buf };
        if !b.data.is_null() {
            let slice = std::ptr::slice_from_raw_parts_mut(b.data, b.len + 1);
            // SAFETY: allocated by `from_vec` as a boxed slice of len + 1.
            drop(unsafe { Box::from_raw(slice) });
        }
        b.data = std::ptr::null_mut();
        b.len = 0;
    })
}

/// The result code's number (`SP_OK`, a core code, or an ABI code).
/// NULL gives 0.
///
/// # Safety
/// `err` must be NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_error_number(err: *const sp_error) -> u32 {
    // SAFETY: NULL or live, per the contract.
    boundary_infallible(0, || unsafe { err.as_ref() }.map_or(0, |e| e.number))
}

fn str_field(err: *const sp_error, f: impl FnOnce(&sp_error) -> &CString) -> *const c_char {
    static EMPTY: &[u8] = b"\0";
    // SAFETY: callers pass NULL or a live error.
    match unsafe { err.as_ref() } {
        Some(e) => f(e).as_ptr(),
        None => EMPTY.as_ptr().cast(),
    }
}

/// The stable code name, e.g. `"invalid_ip"`, `"null_argument"`. Valid
/// until `sp_error_free`; NULL `err` gives `""`.
///
/// # Safety
/// `err` must be NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_error_code(err: *const sp_error) -> *const c_char {
    boundary_infallible(std::ptr::null(), || str_field(err, |e| &e.code))
}

/// The human message. Valid until `sp_error_free`; NULL `err` gives `""`.
///
/// # Safety
/// `err` must be NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_error_message(err: *const sp_error) -> *const c_char {
    boundary_infallible(std::ptr::null(), || str_field(err, |e| &e.message))
}

/// The object concerned, e.g. `"Pod default/web-1"`; `""` when none.
/// Valid until `sp_error_free`.
///
/// # Safety
/// `err` must be NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_error_object(err: *const sp_error) -> *const c_char {
    boundary_infallible(std::ptr::null(), || str_field(err, |e| &e.object))
}

/// The field as a JSON path, e.g. `"status.podIPs[0].ip"` (for ABI errors,
/// the argument name); `""` when none. Valid until `sp_error_free`.
///
/// # Safety
/// `err` must be NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_error_field(err: *const sp_error) -> *const c_char {
    boundary_infallible(std::ptr::null(), || str_field(err, |e| &e.field))
}

/// Frees an error. NULL is a no-op.
///
/// # Safety
/// `err` must be NULL or a live error from this library, not used after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sp_error_free(err: *mut sp_error) {
    boundary_infallible((), || {
        if !err.is_null() {
            // SAFETY: created by `Box::into_raw` in `boundary`.
            drop(unsafe { Box::from_raw(err) });
        }
    })
}

/// The stable name of any result code (see `sp_error_code`); `"unknown"`
/// for numbers no function returns. A static string: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn sp_result_name(code: u32) -> *const c_char {
    boundary_infallible(std::ptr::null(), || {
        static NAMES: std::sync::OnceLock<Vec<(u32, CString)>> = std::sync::OnceLock::new();
        let names = NAMES.get_or_init(|| {
            let mut v: Vec<(u32, CString)> = ErrorCode::ALL
                .iter()
                .map(|c| c.number())
                .chain([
                    SP_OK,
                    SP_NULL_ARGUMENT,
                    SP_INVALID_UTF8,
                    SP_INVALID_ARGUMENT,
                    SP_PANIC,
                ])
                .map(|n| (n, cstring(code_name(n))))
                .collect();
            v.push((u32::MAX, cstring("unknown")));
            v
        });
        names
            .iter()
            .find(|(n, _)| *n == code)
            .or_else(|| names.last())
            .map_or(std::ptr::null(), |(_, s)| s.as_ptr())
    })
}

/// The library version, `"MAJOR.MINOR.PATCH"`; compare it with the
/// `SLICEPLANE_VERSION_*` macros of the header you compiled against.
#[unsafe(no_mangle)]
pub extern "C" fn sp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn a_panic_becomes_sp_panic_with_its_message() {
        let mut err: *mut sp_error = std::ptr::null_mut();
        let rc = boundary(&mut err, || panic!("boom"));
        assert_eq!(rc, SP_PANIC);
        assert!(!err.is_null());
        // SAFETY: `err` was just written by `boundary`; freed once below.
        unsafe {
            assert_eq!(CStr::from_ptr(sp_error_code(err)).to_str(), Ok("panic"));
            let msg = CStr::from_ptr(sp_error_message(err)).to_str().unwrap();
            assert!(msg.contains("boom"), "{msg}");
            sp_error_free(err);
        }
        assert_eq!(boundary_infallible(7, || panic!("x")), 7);
    }

    #[test]
    fn every_code_has_a_name() {
        for c in ErrorCode::ALL {
            assert_eq!(code_name(c.number()), c.as_str());
        }
        for (n, name) in [
            (SP_OK, "ok"),
            (SP_NULL_ARGUMENT, "null_argument"),
            (SP_INVALID_UTF8, "invalid_utf8"),
            (SP_INVALID_ARGUMENT, "invalid_argument"),
            (SP_PANIC, "panic"),
            (4242, "unknown"),
        ] {
            assert_eq!(code_name(n), name);
            // SAFETY: static NUL-terminated strings.
            let s = unsafe { CStr::from_ptr(sp_result_name(n)) };
            assert_eq!(s.to_str(), Ok(name));
        }
    }

    #[test]
    fn interior_nul_is_replaced_and_buffers_are_nul_terminated() {
        assert_eq!(cstring("a\0b").to_str(), Ok("a\u{FFFD}b"));
        let mut b = sp_buffer::from_vec(b"[]".to_vec());
        assert_eq!(b.len, 2);
        // SAFETY: `from_vec` allocates len + 1 bytes.
        assert_eq!(unsafe { *b.data.add(2) }, 0);
        // SAFETY: a live buffer, freed twice (the second is a no-op).
        unsafe {
            sp_buffer_free(&mut b);
            sp_buffer_free(&mut b);
        }
        assert!(b.data.is_null());
    }
}
