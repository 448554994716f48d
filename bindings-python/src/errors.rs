//! Exception classes and the mapping from core errors (stable codes kept).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use sliceplane::wire::Rejected;
use sliceplane::{Error, ErrorCode, ErrorFamily};

use crate::convert::ser_to_py;

create_exception!(
    sliceplane,
    SliceplaneError,
    PyException,
    "Base of every sliceplane error. Attributes: `code` (stable snake_case \
     string), `number` (stable int), `object` (e.g. `Pod ns/name`, may be \
     empty), `field` (JSON path, may be empty), `message`."
);
create_exception!(
    sliceplane,
    ParseError,
    SliceplaneError,
    "The input is not a usable document (codes 1xx: malformed_input, \
     unknown_kind, unknown_event_type)."
);
create_exception!(
    sliceplane,
    ValidationError,
    SliceplaneError,
    "A well-formed object with a bad field (codes 2xx)."
);
create_exception!(
    sliceplane,
    ConfigError,
    SliceplaneError,
    "The configuration is invalid (code 301 invalid_config)."
);
create_exception!(
    sliceplane,
    WritePathError,
    SliceplaneError,
    "A write outcome the engine cannot take, e.g. an unknown op id (codes 4xx)."
);
create_exception!(
    sliceplane,
    PolicyError,
    SliceplaneError,
    "A policy or probe the policy engine rejects (codes 5xx)."
);

/// The Python exception for a core error, with its attributes set.
pub fn to_pyerr(py: Python<'_>, e: &Error) -> PyErr {
    let msg = e.to_string();
    let err = match e.code.family() {
        ErrorFamily::Parse => ParseError::new_err(msg),
        ErrorFamily::Validation => ValidationError::new_err(msg),
        ErrorFamily::Config => ConfigError::new_err(msg),
        ErrorFamily::WritePath => WritePathError::new_err(msg),
        ErrorFamily::Policy => PolicyError::new_err(msg),
    };
    if let Err(set_err) = set_attrs(py, &err, e) {
        return set_err;
    }
    err
}

fn set_attrs(py: Python<'_>, err: &PyErr, e: &Error) -> PyResult<()> {
    let v = err.value(py);
    v.setattr("code", e.code.as_str())?;
    v.setattr("number", e.code.number())?;
    v.setattr("object", e.object.as_str())?;
    v.setattr("field", e.field.as_str())?;
    v.setattr("message", e.message.as_str())?;
    Ok(())
}

/// The exception instance (not raised), for batch results.
pub fn to_pyobj(py: Python<'_>, e: &Error) -> Py<PyAny> {
    to_pyerr(py, e).into_value(py).into_any()
}

/// The core error a rejection carries (its code is always a known one).
fn rejected_error(r: &Rejected) -> Error {
    let code = ErrorCode::from_str_code(&r.code).unwrap_or(ErrorCode::MalformedInput);
    Error::new(
        code,
        r.object.as_str(),
        r.field.as_str(),
        r.message.as_str(),
    )
}

/// Rejected events of a batch: the `wire` shape `{"index", "line", "code",
/// "number", "message", "object", "field"}`, plus `"error"`, the same
/// error as a `SliceplaneError` instance (not raised).
pub fn rejected_list<'py>(py: Python<'py>, rejected: &[Rejected]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for r in rejected {
        let d = ser_to_py(py, r)?.cast_into::<PyDict>()?;
        d.set_item("error", to_pyobj(py, &rejected_error(r)))?;
        list.append(d)?;
    }
    Ok(list)
}

/// Shorthand: a core result into a Python result.
pub trait IntoPy<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_pyerr(py, &e))
    }
}

/// Every stable code: `(code, number, family class name)`.
pub fn codes() -> Vec<(&'static str, u32, &'static str)> {
    ErrorCode::ALL
        .iter()
        .map(|c| {
            let family = match c.family() {
                ErrorFamily::Parse => "ParseError",
                ErrorFamily::Validation => "ValidationError",
                ErrorFamily::Config => "ConfigError",
                ErrorFamily::WritePath => "WritePathError",
                ErrorFamily::Policy => "PolicyError",
            };
            (c.as_str(), c.number(), family)
        })
        .collect()
}

/// A malformed-input error raised by the binding's own conversion.
pub fn malformed(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::new(ErrorCode::MalformedInput, "", field, message)
}
