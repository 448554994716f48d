//! `sliceplane.Config`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use sliceplane::Config as CoreConfig;

use crate::convert::{to_py, write_json};
use crate::errors::{IntoPy, malformed, to_pyerr};

/// The engine configuration (DESIGN.md §9), immutable once built.
///
/// `Config()` gives the documented defaults (Cilium's behaviour). Build
/// one from YAML, JSON or a dict with camelCase keys, e.g.
/// `Config.from_dict({"slicing": {"maxEndpointsPerSlice": 50}})`.
/// Invalid values raise `ConfigError` naming the field.
#[pyclass(module = "sliceplane", name = "Config", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyConfig {
    pub inner: CoreConfig,
}

fn text_arg(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = text.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    if let Ok(b) = text.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map_err(|_| to_pyerr(py, &malformed("", "config text is not valid UTF-8")));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "expected str or bytes",
    ))
}

#[pymethods]
impl PyConfig {
    /// The default configuration.
    #[new]
    fn new() -> Self {
        PyConfig {
            inner: CoreConfig::default(),
        }
    }

    /// Parses and validates a YAML document (JSON is YAML too); an empty
    /// document gives the defaults. Raises `ConfigError`.
    #[staticmethod]
    fn from_yaml(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Self> {
        let t = text_arg(py, text)?;
        let inner = py.detach(|| CoreConfig::from_yaml(&t)).py_err(py)?;
        Ok(PyConfig { inner })
    }

    /// Parses and validates a JSON document (str or bytes). Raises `ConfigError`.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Self> {
        let t = text_arg(py, text)?;
        let inner = CoreConfig::from_json(&t).py_err(py)?;
        Ok(PyConfig { inner })
    }

    /// Validates a dict of the JSON shape (camelCase keys, unknown keys
    /// rejected). Raises `ConfigError`.
    #[staticmethod]
    fn from_dict(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut buf = Vec::new();
        write_json(data, &mut buf).map_err(|e| {
            to_pyerr(
                py,
                &sliceplane::Error::config(
                    e.field,
                    format!("config is not JSON data: {}", e.message),
                ),
            )
        })?;
        let t = String::from_utf8(buf).unwrap_or_default();
        let inner = CoreConfig::from_json(&t).py_err(py)?;
        Ok(PyConfig { inner })
    }

    /// The full configuration as a dict (every field, defaults included);
    /// `Config.from_dict(c.to_dict()) == c`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = serde_json::to_value(&self.inner).unwrap_or(serde_json::Value::Null);
        to_py(py, &v)
    }

    /// The configuration as pretty-printed JSON.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    fn __repr__(&self) -> String {
        let v = serde_json::to_string(&self.inner).unwrap_or_default();
        format!("Config.from_json({v:?})")
    }
}
