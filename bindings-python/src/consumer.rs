//! `sliceplane.Consumer`: the agent side (DESIGN.md §7), CiliumEndpointSlice
//! watch events in, endpoint changes and an IP cache out. The core consumer
//! sits behind a mutex; every call into it runs with the GIL released.

use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use sliceplane::consumer::{
    Consumer as CoreConsumer, ConsumerOptions, EndpointChange, SharedIpRelease,
};
use sliceplane::wire::{self, Change};

use crate::convert::{event_bytes, ser_to_py};
use crate::engine::with_bytes;
use crate::errors::{IntoPy, rejected_list};
use crate::snapshot::{PySnapshot, PySnapshotReader, opt_endpoint, parse_ip, ser_list};

/// Consumer changes of a single apply, as `wire` changes (`index` None).
fn changes_list<'py>(py: Python<'py>, cs: &[EndpointChange]) -> PyResult<Bound<'py, PyList>> {
    let changes: Vec<Change> = cs.iter().map(|c| Change::new(c, None)).collect();
    ser_list(py, &changes)
}

/// The node agent's view of CiliumEndpointSlices (DESIGN.md §7).
///
/// Feed it CiliumEndpointSlice watch events (dicts or JSON); it diffs
/// consecutive versions of each slice and returns endpoint changes, the
/// `wire` shape `{"index", "op": "upsert"|"delete", "old", "new"}`
/// (endpoint dicts or None; `index` is the event's in a batch, else None),
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

    /// Applies a stream of watch events (JSON lines, pretty-printed
    /// values, Lists; read by the core's stream reader like every binding
    /// and the CLI) in one crossing (GIL released). Does not raise for
    /// rejected events: returns `(changes, rejected)`, `changes` in order,
    /// each with its event's `index`, and `rejected` as `Engine.apply_json_lines`
    /// gives them.
    fn apply_json_lines<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let (changes, rejected) = with_bytes(data, |bytes| {
            self.with(py, |c| wire::apply_consumer_batch(c, bytes))
        })?;
        Ok((ser_list(py, &changes)?, rejected_list(py, &rejected)?))
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
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
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
    fn lookup_ip<'py>(&self, py: Python<'py>, ip: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
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
