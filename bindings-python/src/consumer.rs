//! `sliceplane.Consumer`: the agent side (DESIGN.md §7), CiliumEndpointSlice
//! watch events in, endpoint changes and an IP cache out. The core consumer
//! sits behind a mutex; every call into it runs with the GIL released.

use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use sliceplane::Error;
use sliceplane::consumer::{
    Consumer as CoreConsumer, ConsumerOptions, EndpointChange, SharedIpRelease,
};

use crate::convert::{event_bytes, ser_to_py};
use crate::engine::{errors_list, with_bytes};
use crate::errors::IntoPy;
use crate::snapshot::{PySnapshot, PySnapshotReader, endpoint_dict, opt_endpoint, parse_ip};

/// `{"type": "upsert", "old", "new"}` or `{"type": "delete", "old", "new": None}`.
fn change_dict<'py>(py: Python<'py>, c: &EndpointChange) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match c {
        EndpointChange::Upsert { old, new } => {
            d.set_item("type", "upsert")?;
            d.set_item("old", opt_endpoint(py, old.as_deref())?)?;
            d.set_item("new", endpoint_dict(py, new)?)?;
        }
        EndpointChange::Delete { old } => {
            d.set_item("type", "delete")?;
            d.set_item("old", endpoint_dict(py, old)?)?;
            d.set_item("new", py.None())?;
        }
    }
    Ok(d)
}

fn changes_list<'py>(py: Python<'py>, cs: &[EndpointChange]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for c in cs {
        list.append(change_dict(py, c)?)?;
    }
    Ok(list)
}

/// The node agent's view of CiliumEndpointSlices (DESIGN.md §7).
///
/// Feed it CiliumEndpointSlice watch events (dicts or JSON); it diffs
/// consecutive versions of each slice and returns endpoint changes
/// `{"type": "upsert"|"delete", "old", "new"}` (endpoint dicts or None),
/// keeps the IP cache, and publishes snapshots like the engine's.
///
/// Methods may be called from any thread; calls are serialized by an
/// internal lock, and the GIL is released while the consumer works.
#[pyclass(module = "sliceplane", name = "Consumer", frozen)]
pub struct PyConsumer {
    inner: Mutex<CoreConsumer>,
}

impl PyConsumer {
    fn lock(&self) -> MutexGuard<'_, CoreConsumer> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the consumer with the GIL released.
    fn with<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut CoreConsumer) -> R + Send) -> R {
        py.detach(|| f(&mut self.lock()))
    }
}

#[pymethods]
impl PyConsumer {
    /// A consumer; `max_per_slice` (default 100) only affects the
    /// snapshots' fragmentation figures. `shared_ip_release` is what
    /// happens to the IP-cache entry of an IP two live endpoints claim when
    /// its owner goes: `"handover"` (default: the remaining claimant takes
    /// it) or `"cilium"` (the entry is removed, as Cilium's agent does).
    /// Raises `ValidationError` (`invalid_value`) for another value.
    #[new]
    #[pyo3(signature = (max_per_slice = None, shared_ip_release = "handover"))]
    fn new(py: Python<'_>, max_per_slice: Option<u32>, shared_ip_release: &str) -> PyResult<Self> {
        let mut options = ConsumerOptions {
            shared_ip_release: SharedIpRelease::parse(shared_ip_release).py_err(py)?,
            ..ConsumerOptions::default()
        };
        if let Some(m) = max_per_slice {
            options.max_per_slice = m;
        }
        Ok(PyConsumer {
            inner: Mutex::new(CoreConsumer::with_options(options)),
        })
    }

    /// Applies one CiliumEndpointSlice watch event: a dict `{"type",
    /// "object"}` (a bare object counts as ADDED) or its JSON as
    /// bytes/str. Returns the endpoint changes. Raises a `SliceplaneError`
    /// subclass (`ParseError` `unknown_kind` for any other kind); a
    /// rejected event changes nothing.
    fn apply<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut buf = Vec::with_capacity(1024);
        event_bytes(event, &mut buf).py_err(py)?;
        let cs = self.with(py, |c| c.apply_json(&buf)).py_err(py)?;
        changes_list(py, &cs)
    }

    /// Applies one watch event given as JSON (bytes, bytearray or str).
    /// Returns and raises like `apply`.
    fn apply_json<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let cs = with_bytes(data, |b| self.with(py, |c| c.apply_json(b)))?.py_err(py)?;
        changes_list(py, &cs)
    }

    /// Applies newline-separated JSON watch events in one crossing (GIL
    /// released); blank lines are skipped. Does not raise for rejected
    /// events: returns `(changes, rejected)`, `changes` in order and
    /// `rejected` as `[(line_index, error), ...]` (0-based line numbers,
    /// `SliceplaneError` instances).
    fn apply_json_lines<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let (cs, errs) = with_bytes(data, |bytes| {
            self.with(py, |c| {
                let mut cs: Vec<EndpointChange> = Vec::new();
                let mut errs: Vec<(usize, Error)> = Vec::new();
                for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match c.apply_json(line) {
                        Ok(more) => cs.extend(more),
                        Err(err) => errs.push((i, err)),
                    }
                }
                (cs, errs)
            })
        })?;
        Ok((changes_list(py, &cs)?, errors_list(py, errs)?))
    }

    /// Publishes a snapshot of what the consumer holds (O(changes)).
    fn publish(&self, py: Python<'_>) -> PySnapshot {
        PySnapshot::new(self.with(py, |c| c.publish()))
    }

    /// A handle from which any thread loads the latest published snapshot.
    fn snapshot_reader(&self, py: Python<'_>) -> PySnapshotReader {
        PySnapshotReader::new(self.with(py, |c| c.snapshot_reader()))
    }

    /// Counters: `events_applied`, `events_rejected`, `entries_skipped`
    /// (malformed slice entries skipped, each also an `entry-skipped`
    /// event), `upserts`,
    /// `deletes`, `slices_seen`, `stale_deletes`, `slices`, `endpoints`,
    /// `ip_cache_size`.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.with(py, |c| c.counters().clone());
        let d = PyDict::new(py);
        d.set_item("events_applied", c.events_applied)?;
        d.set_item("events_rejected", c.events_rejected)?;
        d.set_item("entries_skipped", c.entries_skipped)?;
        d.set_item("upserts", c.upserts)?;
        d.set_item("deletes", c.deletes)?;
        d.set_item("slices_seen", c.slices_seen)?;
        d.set_item("stale_deletes", c.stale_deletes)?;
        d.set_item("slices", c.slices)?;
        d.set_item("endpoints", c.endpoints)?;
        d.set_item("ip_cache_size", c.ip_cache_size)?;
        Ok(d)
    }

    /// Events recorded since the last drain, as dicts `{"time",
    /// "category", "kind", "severity", "subject", "message"}`.
    fn drain_events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let ev = self.with(py, |c| c.drain_events());
        let list = PyList::empty(py);
        for x in &ev {
            list.append(ser_to_py(py, x)?)?;
        }
        Ok(list)
    }

    /// The caller's time (ms) stamped on events from now on.
    fn set_now(&self, py: Python<'_>, now_ms: u64) {
        self.with(py, |c| c.set_now(now_ms));
    }

    /// The current view of an endpoint (not waiting for a publish), as a
    /// dict, or None.
    fn endpoint<'py>(
        &self,
        py: Python<'py>,
        namespace: &str,
        name: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let e = self.with(py, |c| c.endpoint(namespace, name).cloned());
        opt_endpoint(py, e.as_deref())
    }

    /// The slices holding a copy of an endpoint: `{"copies": [slice, ...]
    /// (oldest insert first), "current": slice}`, or None.
    fn copies<'py>(
        &self,
        py: Python<'py>,
        namespace: &str,
        name: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some((copies, current)) = self.with(py, |c| c.copies(namespace, name)) else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        let names: Vec<&str> = copies.iter().map(|s| &**s).collect();
        d.set_item("copies", names)?;
        d.set_item("current", &*current)?;
        Ok(Some(d))
    }

    /// IP -> owning endpoint dict now (not waiting for a publish), or None.
    /// Raises `ValidationError` (`invalid_ip`) for a bad address.
    fn lookup_ip<'py>(&self, py: Python<'py>, ip: &str) -> PyResult<Option<Bound<'py, PyDict>>> {
        let ip = parse_ip(py, ip)?;
        let e = self.with(py, |c| c.lookup_ip(&ip));
        opt_endpoint(py, e.as_deref())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let c = self.with(py, |c| c.counters().clone());
        format!(
            "<sliceplane.Consumer slices={} endpoints={} ips={}>",
            c.slices, c.endpoints, c.ip_cache_size
        )
    }
}
