//! `sliceplane.Engine`: the core engine behind a mutex; every call into it
//! runs with the GIL released.

use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString};
use serde_json::Value;
use sliceplane::engine::Stats;
use sliceplane::wire::{self, Rejected};
use sliceplane::{Engine as CoreEngine, Object, OpId, Outcome};

use crate::config::PyConfig;
use crate::convert::{event_bytes, json_list, ser_to_py, to_py, write_json};
use crate::errors::{IntoPy, malformed, rejected_list, to_pyerr};
use crate::snapshot::{PySnapshot, PySnapshotReader};

/// Events converted per crossing in `apply_many` (bounds the buffer).
const BATCH: usize = 16_384;

/// The endpoint-slice engine (DESIGN.md §2–§5, §8).
///
/// Feed it watch events (dicts as `kubectl -o json` prints them, or JSON
/// bytes), say when the initial sync is done, then `flush(now_ms)` for the
/// writes due and `report(...)` each write's outcome. Time is always the
/// caller's, in milliseconds of a monotonic clock.
///
/// Methods may be called from any thread; calls are serialized by an
/// internal lock, and the GIL is released while the engine works.
#[pyclass(module = "sliceplane", name = "Engine", frozen)]
pub struct PyEngine {
    inner: Mutex<CoreEngine>,
}

impl PyEngine {
    fn lock(&self) -> MutexGuard<'_, CoreEngine> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the engine with the GIL released.
    fn with<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut CoreEngine) -> R + Send) -> R {
        py.detach(|| f(&mut self.lock()))
    }

    fn report_outcome(
        &self,
        py: Python<'_>,
        op_id: u64,
        outcome: Outcome,
        now_ms: u64,
    ) -> PyResult<()> {
        self.with(py, |e| e.report(OpId(op_id), &outcome, now_ms))
            .py_err(py)
    }
}

fn stats_dict<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("endpoints", s.endpoints)?;
    d.set_item("endpoints_waiting", s.endpoints_waiting)?;
    d.set_item("slices", s.slices)?;
    d.set_item("dirty_slices", s.dirty_slices)?;
    d.set_item("in_flight", s.in_flight)?;
    d.set_item("identities", s.identities)?;
    d.set_item("namespaces", s.namespaces)?;
    d.set_item("nodes", s.nodes)?;
    Ok(d)
}

/// A zero-copy view of a bytes-like or str argument.
pub fn with_bytes<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    if let Ok(b) = data.cast::<PyByteArray>() {
        return Ok(f(&b.to_vec()));
    }
    if let Ok(s) = data.cast::<PyString>() {
        return Ok(f(s.to_cow()?.as_bytes()));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "expected bytes, bytearray or str",
    ))
}

#[pymethods]
impl PyEngine {
    /// A new engine, waiting for its initial sync. `config` defaults to
    /// `Config()`. Raises `ConfigError`.
    #[new]
    #[pyo3(signature = (config = None))]
    fn new(py: Python<'_>, config: Option<&PyConfig>) -> PyResult<Self> {
        let c = config.map(|c| c.inner.clone()).unwrap_or_default();
        let inner = CoreEngine::new(c).py_err(py)?;
        Ok(PyEngine {
            inner: Mutex::new(inner),
        })
    }

    /// The configuration the engine runs with.
    #[getter]
    fn config(&self, py: Python<'_>) -> PyConfig {
        PyConfig {
            inner: self.with(py, |e| e.config().clone()),
        }
    }

    /// Whether `initial_sync_done` was called.
    #[getter]
    fn synced(&self, py: Python<'_>) -> bool {
        self.with(py, |e| e.is_synced())
    }

    /// Applies one watch event: a dict `{"type": "ADDED"|"MODIFIED"|"DELETED",
    /// "object": {...}}` (a bare object counts as ADDED), or its JSON as
    /// bytes/str. Raises a `SliceplaneError` subclass; a rejected event
    /// changes nothing.
    fn apply(&self, py: Python<'_>, event: &Bound<'_, PyAny>, now_ms: u64) -> PyResult<()> {
        let mut buf = Vec::with_capacity(512);
        event_bytes(event, &mut buf).py_err(py)?;
        self.with(py, |e| e.apply_json(&buf, now_ms)).py_err(py)
    }

    /// Applies one watch event given as JSON (bytes, bytearray or str).
    /// Raises like `apply`.
    fn apply_json(&self, py: Python<'_>, data: &Bound<'_, PyAny>, now_ms: u64) -> PyResult<()> {
        with_bytes(data, |b| self.with(py, |e| e.apply_json(b, now_ms)))?.py_err(py)
    }

    /// Applies many events (each a dict, or JSON bytes/str, one event
    /// each) in few crossings. Does not raise for rejected events: returns
    /// them as dicts `{"index", "line", "code", "number", "message",
    /// "object", "field", "error"}` (`index`: position in the iterable;
    /// `line`: `index + 1`, as if each item were one JSON line; `error`:
    /// the `SliceplaneError` instance); the other events are applied.
    /// Raises only if iterating `events` raises (events before that stay
    /// applied).
    fn apply_many<'py>(
        &self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
        now_ms: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut rejected: Vec<Rejected> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        // (index, start, end) into `buf`.
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        let run = |buf: &mut Vec<u8>,
                   spans: &mut Vec<(usize, usize, usize)>,
                   rejected: &mut Vec<Rejected>| {
            self.with(py, |e| {
                for &(i, a, b) in spans.iter() {
                    if let Err(err) = e.apply_json(&buf[a..b], now_ms) {
                        rejected.push(Rejected::new(i, i + 1, &err));
                    }
                }
            });
            buf.clear();
            spans.clear();
        };
        for (i, item) in events.try_iter()?.enumerate() {
            let item = item?;
            let start = buf.len();
            match event_bytes(&item, &mut buf) {
                Ok(()) => spans.push((i, start, buf.len())),
                Err(e) => {
                    buf.truncate(start);
                    rejected.push(Rejected::new(i, i + 1, &e));
                }
            }
            if spans.len() >= BATCH {
                run(&mut buf, &mut spans, &mut rejected);
            }
        }
        run(&mut buf, &mut spans, &mut rejected);
        rejected.sort_by_key(|r| r.index);
        rejected_list(py, &rejected)
    }

    /// Applies a stream of JSON watch events (bytes, bytearray or str):
    /// JSON lines as `kubectl get -w --output-watch-events -o json` prints
    /// them, pretty-printed values one after another, or Lists (each item
    /// an event), read by the core's stream reader like every binding and
    /// the CLI. One crossing, GIL released. Does not raise for rejected
    /// events: returns them like `apply_many`, with `index` the event's
    /// 0-based position among the stream's events (blank lines are not
    /// events) and `line` the 1-based line it is reported at; the other
    /// events are applied.
    fn apply_json_lines<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        now_ms: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        let rejected = with_bytes(data, |bytes| {
            self.with(py, |e| wire::apply_engine_batch(e, bytes, now_ms))
        })?;
        rejected_list(py, &rejected)
    }

    /// Everything observed at start-up has been fed: adopt existing
    /// slices, assign identities, place the rest. Idempotent.
    fn initial_sync_done(&self, py: Python<'_>, now_ms: u64) {
        self.with(py, |e| e.initial_sync_done(now_ms));
    }

    /// The writes due at `now_ms`, in the order to send them. Each is the
    /// `wire` planned write, a dict `{"id", "op": "create"|"update"|
    /// "delete", "group", "version", "plural", "kind", "name", "object",
    /// "preconditions"}`; `group`/`version`/`plural` are what
    /// `CustomObjectsApi` takes (the objects are cluster-scoped).
    /// `preconditions` is `{"uid", "resourceVersion"}` on deletes (send it
    /// as `DeleteOptions.preconditions`) and None otherwise. Every op stays
    /// in flight until `report`ed.
    fn flush<'py>(&self, py: Python<'py>, now_ms: u64) -> PyResult<Bound<'py, PyList>> {
        self.flush_at_most(py, now_ms, usize::MAX)
    }

    /// `flush`, planning at most `max_slice_writes` slice writes (the
    /// oldest due; identity writes are not counted). The slices left out
    /// stay dirty, so a caller with `n` idle writers asks for `n` and the
    /// changes that arrive meanwhile join those slices' one write. Raises
    /// `OverflowError` for a negative `max_slice_writes`.
    fn flush_at_most<'py>(
        &self,
        py: Python<'py>,
        now_ms: u64,
        max_slice_writes: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let json = self.with(py, |e| {
            wire::LineEncoder::new().array(&e.flush_at_most(now_ms, max_slice_writes).writes)
        });
        json_list(py, &json)
    }

    /// Reports what the API server answered to op `op_id`. `outcome` is a
    /// dict: `{"outcome": "success", "resourceVersion": str, "uid": str}`
    /// (both optional for deletes), `{"outcome": "conflict"}`,
    /// `{"outcome": "notFound"}`, `{"outcome": "alreadyExists"}` or
    /// `{"outcome": "error", "message": str}`. Raises `WritePathError`
    /// (`unknown_op`) for an op not in flight, `ParseError` for a bad dict.
    fn report(
        &self,
        py: Python<'_>,
        op_id: u64,
        outcome: &Bound<'_, PyAny>,
        now_ms: u64,
    ) -> PyResult<()> {
        let mut buf = Vec::new();
        write_json(outcome, &mut buf).py_err(py)?;
        let outcome: Outcome = serde_json::from_slice(&buf).map_err(|e| {
            to_pyerr(
                py,
                &malformed("outcome", format!("not a write outcome: {e}")),
            )
        })?;
        self.report_outcome(py, op_id, outcome, now_ms)
    }

    /// The write succeeded; `resource_version` and `uid` are the object's
    /// new ones (None for deletes).
    #[pyo3(signature = (op_id, resource_version, uid, now_ms))]
    fn report_success(
        &self,
        py: Python<'_>,
        op_id: u64,
        resource_version: Option<String>,
        uid: Option<String>,
        now_ms: u64,
    ) -> PyResult<()> {
        self.report_outcome(
            py,
            op_id,
            Outcome::Success {
                resource_version,
                uid,
            },
            now_ms,
        )
    }

    /// The write failed with 409 on an update/delete precondition.
    fn report_conflict(&self, py: Python<'_>, op_id: u64, now_ms: u64) -> PyResult<()> {
        self.report_outcome(py, op_id, Outcome::Conflict, now_ms)
    }

    /// The write failed with 404.
    fn report_not_found(&self, py: Python<'_>, op_id: u64, now_ms: u64) -> PyResult<()> {
        self.report_outcome(py, op_id, Outcome::NotFound, now_ms)
    }

    /// The create failed with 409: the name is taken.
    fn report_already_exists(&self, py: Python<'_>, op_id: u64, now_ms: u64) -> PyResult<()> {
        self.report_outcome(py, op_id, Outcome::AlreadyExists, now_ms)
    }

    /// The write failed otherwise (timeout, 5xx, 403 ...); retried with backoff.
    fn report_error(
        &self,
        py: Python<'_>,
        op_id: u64,
        message: String,
        now_ms: u64,
    ) -> PyResult<()> {
        self.report_outcome(py, op_id, Outcome::Error { message }, now_ms)
    }

    /// The desired CiliumEndpointSlices (what the server should hold once
    /// every due write succeeded), sorted by name, as dicts.
    fn desired_slices<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let v: Vec<Value> = self.with(py, |e| {
            e.desired_slices()
                .into_iter()
                .map(|s| Object::CiliumEndpointSlice(s).to_json_value())
                .collect()
        });
        values_list(py, &v)
    }

    /// The desired CiliumIdentities (pods mode), by number, as dicts.
    fn desired_identities<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let v: Vec<Value> = self.with(py, |e| {
            e.desired_identities()
                .into_iter()
                .map(|s| Object::CiliumIdentity(s).to_json_value())
                .collect()
        });
        values_list(py, &v)
    }

    /// A summary: `endpoints`, `endpoints_waiting`, `slices`,
    /// `dirty_slices`, `in_flight`, `identities`, `namespaces`, `nodes`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.with(py, |e| e.stats());
        stats_dict(py, &s)
    }

    /// Counters of what the engine did. `writes_planned` maps
    /// `"verb kind"`-style keys to counts.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.with(py, |e| e.counters().clone());
        let d = PyDict::new(py);
        d.set_item("events_applied", c.events_applied)?;
        d.set_item("events_rejected", c.events_rejected)?;
        d.set_item("events_ignored_other_shard", c.events_ignored_other_shard)?;
        d.set_item("events_ignored_other_source", c.events_ignored_other_source)?;
        let planned = PyDict::new(py);
        for ((a, b), n) in &c.writes_planned {
            planned.set_item(format!("{a} {b}"), n)?;
        }
        d.set_item("writes_planned", planned)?;
        d.set_item("writes_succeeded", c.writes_succeeded)?;
        d.set_item("writes_failed", c.writes_failed)?;
        d.set_item("no_op_skips", c.no_op_skips)?;
        d.set_item("identities_allocated", c.identities_allocated)?;
        d.set_item("identities_released", c.identities_released)?;
        d.set_item("identity_exhausted", c.identity_exhausted)?;
        d.set_item("compaction_moves", c.compaction_moves)?;
        Ok(d)
    }

    /// Events recorded since the last drain, as dicts `{"time",
    /// "category", "kind", "severity", "subject", "message"}`.
    fn drain_events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let ev = self.with(py, |e| e.drain_events());
        let list = PyList::empty(py);
        for x in &ev {
            list.append(ser_to_py(py, x)?)?;
        }
        Ok(list)
    }

    /// The earliest time (ms) at which `flush` could plan something not
    /// yet due, or None.
    fn next_due(&self, py: Python<'_>) -> Option<u64> {
        self.with(py, |e| e.next_due())
    }

    /// Ops awaiting an outcome.
    fn in_flight(&self, py: Python<'_>) -> usize {
        self.with(py, |e| e.in_flight())
    }

    /// `(slice_name, identity)` of an endpoint (either may be None while
    /// unplaced), or None if the engine has no such endpoint.
    fn endpoint(
        &self,
        py: Python<'_>,
        namespace: &str,
        name: &str,
    ) -> Option<(Option<String>, Option<u32>)> {
        self.with(py, |e| {
            e.endpoint(namespace, name)
                .map(|(s, id)| (s.map(str::to_string), id))
        })
    }

    /// The security labels (`"source:key"` -> value) of identity `id`, or None.
    fn identity_labels<'py>(
        &self,
        py: Python<'py>,
        id: u32,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let labels = self.with(py, |e| e.identity_labels(id).map(|l| l.security_labels()));
        labels.map(|l| l.into_bound_py_any(py)).transpose()
    }

    /// Publishes a snapshot of the desired state (DESIGN.md §6): applies
    /// what changed since the last publish (O(changes)). The snapshot is
    /// immutable and may be read from any thread.
    fn publish(&self, py: Python<'_>) -> PySnapshot {
        PySnapshot::new(self.with(py, |e| e.publish()))
    }

    /// A handle from which any thread loads the latest published snapshot
    /// without taking the engine's lock.
    fn snapshot_reader(&self, py: Python<'_>) -> PySnapshotReader {
        PySnapshotReader::new(self.with(py, |e| e.snapshot_reader()))
    }

    /// All metrics in the Prometheus text exposition format (DESIGN.md
    /// §8), Cilium-compatible names where the meaning is the same; the
    /// caller serves it.
    fn metrics(&self, py: Python<'_>) -> String {
        self.with(py, |e| e.metrics_text())
    }

    /// The write path's health: `{"state": "healthy"}` or `{"state":
    /// "degraded", "reason": str}`.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let h = self.with(py, |e| e.health().clone());
        ser_to_py(py, &h)
    }

    /// Marks every slice for comparison with the server at the next flush
    /// (level-triggered resync); equal slices cost no write.
    fn resync(&self, py: Python<'_>, now_ms: u64) {
        self.with(py, |e| e.resync(now_ms));
    }

    /// Records an apply duration the caller measured (the engine reads no
    /// clock). Raises `ValidationError` (`invalid_value`) unless `seconds`
    /// is finite and >= 0.
    fn observe_apply_seconds(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        self.with(py, |e| e.observe_apply_seconds(seconds))
            .py_err(py)
    }

    /// Records a snapshot publish duration the caller measured. Raises like
    /// `observe_apply_seconds`.
    fn observe_publish_seconds(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        self.with(py, |e| e.observe_publish_seconds(seconds))
            .py_err(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let s = self.with(py, |e| e.stats());
        format!(
            "<sliceplane.Engine endpoints={} slices={} identities={} in_flight={}>",
            s.endpoints, s.slices, s.identities, s.in_flight
        )
    }
}

fn values_list<'py>(py: Python<'py>, v: &[Value]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for x in v {
        list.append(to_py(py, x)?)?;
    }
    Ok(list)
}
