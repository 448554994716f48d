//! Python objects <-> JSON: dicts, lists, str, int, float, bool and None
//! are written straight to JSON bytes (the engine parses those), and the
//! engine's JSON values (and the core's `wire` shapes, serialized) come
//! back as the same Python types, keys unchanged.

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use serde_json::Value;
use sliceplane::Error;

use crate::errors::malformed;

/// Deeper documents than this are rejected (no stack exhaustion).
const MAX_DEPTH: usize = 128;
/// Error paths name at most this many levels.
const MAX_PATH_SEGMENTS: usize = 16;

struct ConvError {
    /// Path segments, innermost first.
    path: Vec<String>,
    message: String,
}

impl ConvError {
    fn new(message: String) -> Self {
        ConvError {
            path: Vec::new(),
            message,
        }
    }
    fn at(mut self, seg: String) -> Self {
        self.path.push(seg);
        self
    }
    fn into_error(self) -> Error {
        let mut field = String::new();
        // Outermost segments first; very deep paths are cut short.
        let deep = self.path.len() > MAX_PATH_SEGMENTS;
        for seg in self.path.iter().rev().take(MAX_PATH_SEGMENTS) {
            if !seg.starts_with('[') && !field.is_empty() {
                field.push('.');
            }
            field.push_str(seg);
        }
        if deep {
            field.push_str("...");
        }
        malformed(field, self.message)
    }
}

/// What the encoder does with an int outside the 64-bit range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BigInts {
    /// `malformed_input`: the engine's documents hold no such numbers.
    Reject,
    /// Written as its digits (valid JSON), so that the reader decides
    /// about it as about the same JSON text (probes).
    Digits,
}

/// Appends `obj` as JSON to `out`. On error `out` may hold a partial document.
pub fn write_json(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Result<(), Error> {
    write_value(obj, out, 0, BigInts::Reject).map_err(ConvError::into_error)
}

/// `obj` as a JSON value, read back exactly as the same JSON text would be
/// (an int of any size included: beyond 64 bits it becomes a float, as in
/// every JSON reader), for inputs the `wire` layer checks itself.
pub fn json_value(obj: &Bound<'_, PyAny>) -> Result<Value, Error> {
    let mut out = Vec::new();
    write_value(obj, &mut out, 0, BigInts::Digits).map_err(ConvError::into_error)?;
    serde_json::from_slice(&out).map_err(|e| malformed("", format!("not a JSON value: {e}")))
}

/// `obj` as JSON bytes: a dict (or list...) is encoded; `bytes`,
/// `bytearray` and `str` are taken as JSON text already.
pub fn event_bytes(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Result<(), Error> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        out.extend_from_slice(b.as_bytes());
        Ok(())
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        out.extend_from_slice(&b.to_vec());
        Ok(())
    } else if let Ok(s) = obj.cast::<PyString>() {
        let s = s
            .to_cow()
            .map_err(|e| malformed("", format!("string is not valid UTF-8: {e}")))?;
        out.extend_from_slice(s.as_bytes());
        Ok(())
    } else {
        write_json(obj, out)
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn write_str(s: &Bound<'_, PyString>, out: &mut Vec<u8>) -> Result<(), ConvError> {
    // The UTF-8 bytes borrowed from one `bytes` object (the abi3 floor has
    // no borrowed UTF-8 view of a `str`), not copied again into a String.
    let utf8 = s
        .encode_utf8()
        .map_err(|e| ConvError::new(format!("string is not valid UTF-8: {e}")))?;
    let b = utf8.as_bytes();
    // One pass without early exit (it vectorizes); most strings are short.
    let plain = b
        .iter()
        .fold(true, |ok, &c| ok & (c >= 0x20) & (c != b'"') & (c != b'\\'));
    if plain {
        // Nothing to escape (the usual key or value): the bytes as they are,
        // what serde_json writes for them.
        out.reserve(b.len() + 2);
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
        return Ok(());
    }
    // `encode_utf8` succeeded: the bytes are UTF-8.
    let text = std::str::from_utf8(b).map_err(|e| ConvError::new(e.to_string()))?;
    serde_json::to_writer(&mut *out, text).map_err(|e| ConvError::new(e.to_string()))
}

fn write_value(
    obj: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
    depth: usize,
    big: BigInts,
) -> Result<(), ConvError> {
    if depth > MAX_DEPTH {
        return Err(ConvError::new(format!(
            "document nested deeper than {MAX_DEPTH} levels"
        )));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return write_str(s, out);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        out.push(b'{');
        for (i, (k, v)) in d.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let Ok(ks) = k.cast::<PyString>() else {
                return Err(ConvError::new(format!(
                    "dict key {} is a {}, not a str",
                    k.repr().map(|r| r.to_string()).unwrap_or_default(),
                    type_name(&k)
                )));
            };
            write_str(ks, out)?;
            out.push(b':');
            write_value(&v, out, depth + 1, big).map_err(|e| {
                let key = ks.to_cow().map(|c| c.into_owned()).unwrap_or_default();
                e.at(key)
            })?;
        }
        out.push(b'}');
        return Ok(());
    }
    if let Ok(l) = obj.cast::<PyList>() {
        out.push(b'[');
        for (i, v) in l.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(&v, out, depth + 1, big).map_err(|e| e.at(format!("[{i}]")))?;
        }
        out.push(b']');
        return Ok(());
    }
    if obj.is_none() {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        return Ok(());
    }
    if obj.cast::<PyInt>().is_ok() {
        if let Ok(n) = obj.extract::<i64>() {
            out.extend_from_slice(n.to_string().as_bytes());
            return Ok(());
        }
        if let Ok(n) = obj.extract::<u64>() {
            out.extend_from_slice(n.to_string().as_bytes());
            return Ok(());
        }
        if big == BigInts::Digits {
            let digits = obj.str().map_err(|e| ConvError::new(e.to_string()))?;
            write_digits(&digits, out)?;
            return Ok(());
        }
        return Err(ConvError::new("integer out of the 64-bit range".into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let f = f.value();
        if !f.is_finite() {
            return Err(ConvError::new(format!("{f} is not a JSON number")));
        }
        return serde_json::to_writer(&mut *out, &f).map_err(|e| ConvError::new(e.to_string()));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        out.push(b'[');
        for (i, v) in t.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(&v, out, depth + 1, big).map_err(|e| e.at(format!("[{i}]")))?;
        }
        out.push(b']');
        return Ok(());
    }
    Err(ConvError::new(format!(
        "a {} cannot be taken as JSON (pass dicts, lists, str, int, float, bool or None, \
         e.g. from ApiClient().sanitize_for_serialization())",
        type_name(obj)
    )))
}

/// An int's decimal text (`str(n)`: an optional `-`, then digits) as JSON.
fn write_digits(digits: &Bound<'_, PyString>, out: &mut Vec<u8>) -> Result<(), ConvError> {
    let text = digits.to_cow().map_err(|e| ConvError::new(e.to_string()))?;
    let body = text.strip_prefix('-').unwrap_or(&text);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConvError::new(format!("{text} is not a JSON number")));
    }
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// A JSON value as the matching Python object.
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)
            } else if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)
            }
        }
        Value::String(s) => s.as_str().into_bound_py_any(py),
        Value::Array(a) => {
            let list = PyList::empty(py);
            for x in a {
                list.append(to_py(py, x)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, to_py(py, x)?)?;
            }
            Ok(d.into_any())
        }
    }
}

/// Any serializable core value as Python.
pub fn ser_to_py<'py, T: serde::Serialize>(py: Python<'py>, t: &T) -> PyResult<Bound<'py, PyAny>> {
    let v = serde_json::to_value(t).unwrap_or(Value::Null);
    to_py(py, &v)
}

/// A JSON array (the core's encoding of a `wire` list) as a Python list,
/// read by the standard library's `json` module (its C decoder).
pub fn json_list<'py>(py: Python<'py>, json: &[u8]) -> PyResult<Bound<'py, PyList>> {
    let loads = pyo3::intern!(py, "loads");
    let v = py
        .import(pyo3::intern!(py, "json"))?
        .call_method1(loads, (PyBytes::new(py, json),))?;
    Ok(v.cast_into::<PyList>()?)
}
