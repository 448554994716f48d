//! `sliceplane.Snapshot` and `sliceplane.SnapshotReader` (DESIGN.md §6):
//! immutable point-in-time views. A `Snapshot` holds the core's `Arc`
//! clone, so it stays valid and unchanged however the engine or consumer
//! that published it moves on; neither class takes any engine lock, so
//! any Python thread may read while another changes the engine.

use std::net::IpAddr;

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use sliceplane::snapshot::{
    EndpointView, Fragmentation, SliceView, Snapshot as CoreSnapshot, SnapshotReader as CoreReader,
};
use sliceplane::{Error, ErrorCode, wire};

use crate::convert::ser_to_py;
use crate::errors::to_pyerr;

/// Parses an IP argument; a bad one raises `ValidationError` (`invalid_ip`).
pub fn parse_ip(py: Python<'_>, ip: &str) -> PyResult<IpAddr> {
    ip.parse().map_err(|_| {
        to_pyerr(
            py,
            &Error::new(
                ErrorCode::InvalidIp,
                "",
                "ip",
                format!("not an IP address: {ip:?}"),
            ),
        )
    })
}

/// The `wire` endpoint view: `{"namespace", "name", "slice", "identity",
/// "ips", "nodeIp", "encryptionKey", "namedPorts", "serviceAccount"}`.
pub fn endpoint_dict<'py>(py: Python<'py>, e: &EndpointView) -> PyResult<Bound<'py, PyAny>> {
    ser_to_py(py, &wire::EndpointView::from(e))
}

/// An endpoint dict, or None.
pub fn opt_endpoint<'py>(
    py: Python<'py>,
    e: Option<&EndpointView>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    e.map(|e| endpoint_dict(py, e)).transpose()
}

/// The `wire` slice view: `{"name", "namespace", "endpoints"}`.
fn slice_dict<'py>(py: Python<'py>, s: &SliceView) -> PyResult<Bound<'py, PyAny>> {
    ser_to_py(py, &wire::SliceView::from(s))
}

/// A list of `wire` values as Python.
pub fn ser_list<'py, T: serde::Serialize>(
    py: Python<'py>,
    items: &[T],
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for x in items {
        list.append(ser_to_py(py, x)?)?;
    }
    Ok(list)
}

/// `{slices, ideal, ratio}`; `ratio` is `inf` for slices without endpoints.
fn fragmentation_dict(py: Python<'_>, f: Fragmentation) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("slices", f.slices)?;
    d.set_item("ideal", f.ideal)?;
    d.set_item("ratio", f.ratio())?;
    Ok(d)
}

/// An immutable snapshot of the desired state (engine) or of what a
/// consumer holds (DESIGN.md §6). Cheap to keep; unaffected by later
/// changes; safe to share between threads (no lock is taken to read it).
///
/// Endpoints are the `wire` endpoint view, dicts `{"namespace", "name",
/// "slice", "identity", "ips", "nodeIp", "encryptionKey", "namedPorts",
/// "serviceAccount"}` (camelCase, like the Kubernetes JSON the engine
/// takes).
#[pyclass(module = "sliceplane", name = "Snapshot", frozen)]
pub struct PySnapshot {
    inner: CoreSnapshot,
}

impl PySnapshot {
    pub fn new(inner: CoreSnapshot) -> Self {
        PySnapshot { inner }
    }
}

#[pymethods]
impl PySnapshot {
    /// Increases by one with every publish (0: nothing published yet).
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version()
    }

    /// Whether `other` holds the same content (versions aside).
    fn same_content(&self, other: &PySnapshot) -> bool {
        self.inner.same_content(&other.inner)
    }

    /// A slice `{"name", "namespace", "endpoints"}` (endpoint names,
    /// sorted), or None.
    fn slice<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .slice(name)
            .map(|s| slice_dict(py, s))
            .transpose()
    }

    /// Every slice, as `slice()` gives it, sorted by name.
    fn slices<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        ser_list(py, &wire::slice_views(&self.inner, None))
    }

    /// The slice names of a namespace, sorted.
    fn slices_in_namespace(&self, namespace: &str) -> Vec<String> {
        self.inner
            .slices_in_namespace(namespace)
            .map(ToString::to_string)
            .collect()
    }

    /// Every namespace as `{"name", "slices", "endpoints"}` (counts).
    fn namespaces<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (name, n) in self.inner.namespaces() {
            let d = PyDict::new(py);
            d.set_item("name", &**name)?;
            d.set_item("slices", n.slices.len())?;
            d.set_item("endpoints", n.endpoints)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// An endpoint dict, or None.
    fn endpoint<'py>(
        &self,
        py: Python<'py>,
        namespace: &str,
        name: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        opt_endpoint(py, self.inner.endpoint(namespace, name).map(|e| &**e))
    }

    /// Every endpoint, as dicts, sorted by namespace and name.
    fn endpoints<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        ser_list(py, &wire::endpoint_views(&self.inner, None))
    }

    /// The security labels (`"source:key"` -> value) of identity `id`, or
    /// None (a consumer's snapshots have no labels).
    fn identity_labels<'py>(
        &self,
        py: Python<'py>,
        id: u32,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .identity_labels(id)
            .map(|l| l.security_labels().into_bound_py_any(py))
            .transpose()
    }

    /// The identity of a canonical labels key, or None.
    fn identity_by_key(&self, key: &str) -> Option<u32> {
        self.inner.identity_by_key(key)
    }

    /// The identity numbers with labels in the snapshot.
    fn identities(&self) -> Vec<u32> {
        self.inner.identities().map(|(id, _)| *id).collect()
    }

    /// IP -> the endpoint owning it, or None. O(1). Raises
    /// `ValidationError` (`invalid_ip`) for a bad address.
    fn lookup_ip<'py>(&self, py: Python<'py>, ip: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let ip = parse_ip(py, ip)?;
        opt_endpoint(py, self.inner.lookup_ip(&ip).map(|e| &**e))
    }

    /// IP -> identity, or None. O(1). Raises like `lookup_ip`.
    fn identity_of_ip(&self, py: Python<'_>, ip: &str) -> PyResult<Option<u32>> {
        Ok(self.inner.identity_of_ip(&parse_ip(py, ip)?))
    }

    /// `{"endpoints", "slices", "identities", "namespaces", "ips"}`.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("endpoints", self.inner.endpoint_count())?;
        d.set_item("slices", self.inner.slice_count())?;
        d.set_item("identities", self.inner.identity_count())?;
        d.set_item("namespaces", self.inner.namespace_count())?;
        d.set_item("ips", self.inner.ip_count())?;
        Ok(d)
    }

    /// Endpoints in the snapshot.
    fn endpoint_count(&self) -> usize {
        self.inner.endpoint_count()
    }

    /// Slices in the snapshot.
    fn slice_count(&self) -> usize {
        self.inner.slice_count()
    }

    /// Distinct identities the endpoints use.
    fn identity_count(&self) -> usize {
        self.inner.identity_count()
    }

    /// Namespaces with endpoints or slices.
    fn namespace_count(&self) -> usize {
        self.inner.namespace_count()
    }

    /// Entries in the IP cache.
    fn ip_count(&self) -> usize {
        self.inner.ip_count()
    }

    /// The maximum endpoints per slice the fragmentation figures assume.
    fn max_per_slice(&self) -> u32 {
        self.inner.max_per_slice()
    }

    /// `{"slices", "ideal", "ratio"}`: slices against the ideal count
    /// (ceil(endpoints / max per slice)), cluster-wide or for namespace
    /// `ns`. `ratio` is 1.0 when both are 0 and `inf` for slices without
    /// endpoints.
    #[pyo3(signature = (ns = None))]
    fn fragmentation<'py>(
        &self,
        py: Python<'py>,
        ns: Option<&str>,
    ) -> PyResult<Bound<'py, PyDict>> {
        fragmentation_dict(
            py,
            match ns {
                Some(ns) => self.inner.namespace_fragmentation(ns),
                None => self.inner.fragmentation(),
            },
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "<sliceplane.Snapshot version={} endpoints={} slices={} ips={}>",
            self.inner.version(),
            self.inner.endpoint_count(),
            self.inner.slice_count(),
            self.inner.ip_count()
        )
    }
}

/// A handle from which any thread loads the latest published snapshot
/// without locks and without stalling the writer (DESIGN.md §6).
#[pyclass(module = "sliceplane", name = "SnapshotReader", frozen)]
pub struct PySnapshotReader {
    inner: CoreReader,
}

impl PySnapshotReader {
    pub fn new(inner: CoreReader) -> Self {
        PySnapshotReader { inner }
    }
}

#[pymethods]
impl PySnapshotReader {
    /// The latest published snapshot.
    fn load(&self) -> PySnapshot {
        PySnapshot::new(self.inner.load())
    }

    /// IP -> identity in the latest snapshot, or None. Raises
    /// `ValidationError` (`invalid_ip`) for a bad address.
    fn identity_of_ip(&self, py: Python<'_>, ip: &str) -> PyResult<Option<u32>> {
        Ok(self.inner.identity_of_ip(&parse_ip(py, ip)?))
    }

    /// IP -> endpoint dict in the latest snapshot, or None. Raises like
    /// `identity_of_ip`.
    fn lookup_ip<'py>(&self, py: Python<'py>, ip: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let ip = parse_ip(py, ip)?;
        opt_endpoint(py, self.inner.lookup_ip(&ip).as_deref())
    }

    /// The latest published version.
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version()
    }

    fn __repr__(&self) -> String {
        format!(
            "<sliceplane.SnapshotReader version={}>",
            self.inner.version()
        )
    }
}
