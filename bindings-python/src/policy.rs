//! `sliceplane.PolicyCluster`: network-policy verdicts (DESIGN.md §13).

use std::sync::{Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyList;
use serde_json::{Map, Value};
use sliceplane::model::{Namespace, Pod};
use sliceplane::policy::{PolicyCluster, PolicyConfig, PolicyOptions, PortRef, Protocol};
use sliceplane::wire::{self, Probe};
use sliceplane::{Error, ErrorCode, Object};

use crate::convert::{json_value as probe_value, ser_to_py, write_json};
use crate::engine::with_bytes;
use crate::errors::{IntoPy, to_pyerr};
use crate::snapshot::ser_list;

/// Verdicts over a cluster given as Namespace and Pod objects: identities
/// are numbered from the pods' labels (256 + i), one endpoint per pod.
/// Add policies (NetworkPolicy, CiliumNetworkPolicy,
/// CiliumClusterwideNetworkPolicy dicts) and ask for verdicts.
#[pyclass(module = "sliceplane", name = "PolicyCluster", frozen)]
pub struct PyPolicyCluster {
    inner: Mutex<PolicyCluster>,
}

fn objects(py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<Vec<Object>> {
    let mut out = Vec::new();
    for item in items.try_iter()? {
        let mut buf = Vec::new();
        write_json(&item?, &mut buf).py_err(py)?;
        out.push(Object::from_json(&buf).py_err(py)?);
    }
    Ok(out)
}

fn json_value(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    let mut buf = Vec::new();
    write_json(obj, &mut buf).py_err(py)?;
    serde_json::from_slice(&buf).map_err(|e| {
        to_pyerr(
            py,
            &Error::new(ErrorCode::MalformedInput, "", "", e.to_string()),
        )
    })
}

/// A probe `{"from", "to", "port", "protocol"}` from Python values, checked
/// by the `wire` layer (its rules and errors, `invalid_probe` naming the
/// field, are every binding's). An int of any size is read as the same
/// JSON number would be, so a huge port is `invalid_probe`, not an
/// `OverflowError`.
fn probe(py: Python<'_>, fields: [(&str, &Bound<'_, PyAny>); 4]) -> PyResult<Probe> {
    let mut m = Map::new();
    for (field, obj) in fields {
        let v = probe_value(obj).map_err(|e| {
            let e = Error::new(ErrorCode::InvalidProbe, "", field, e.message);
            to_pyerr(py, &e)
        })?;
        m.insert(field.to_string(), v);
    }
    Probe::from_value(&Value::Object(m)).py_err(py)
}

/// A port and a protocol checked by the `wire` probe rules.
fn port_protocol(
    py: Python<'_>,
    port: &Bound<'_, PyAny>,
    protocol: &Bound<'_, PyAny>,
) -> PyResult<(PortRef, Protocol)> {
    let as_json = |field: &str, obj: &Bound<'_, PyAny>| {
        probe_value(obj).map_err(|e| {
            to_pyerr(
                py,
                &Error::new(ErrorCode::InvalidProbe, "", field, e.message),
            )
        })
    };
    let port = Probe::port_from_value(Some(&as_json("port", port)?)).py_err(py)?;
    let protocol = Probe::protocol_from_value(Some(&as_json("protocol", protocol)?)).py_err(py)?;
    Ok((port, protocol))
}

impl PyPolicyCluster {
    fn lock(&self) -> std::sync::MutexGuard<'_, PolicyCluster> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl PyPolicyCluster {
    /// Builds the cluster from Namespace and Pod dicts (any other kind is
    /// an error). `config` is a dict of the policy engine's settings
    /// (`auditMode`, `ipBlockSelectsClusterIps`, ...). Raises
    /// `SliceplaneError` subclasses.
    #[new]
    #[pyo3(signature = (namespaces, pods, config = None))]
    fn new(
        py: Python<'_>,
        namespaces: &Bound<'_, PyAny>,
        pods: &Bound<'_, PyAny>,
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let cfg: PolicyConfig = match config {
            Some(c) => serde_json::from_value(json_value(py, c)?).map_err(|e| {
                to_pyerr(
                    py,
                    &Error::config("", format!("invalid policy config: {e}")),
                )
            })?,
            None => PolicyConfig::default(),
        };
        let wrong = |o: &Object, want: &str| {
            Error::new(
                ErrorCode::UnknownKind,
                o.describe(),
                "kind",
                format!("expected a {want}"),
            )
        };
        let mut nss: Vec<Namespace> = Vec::new();
        for o in objects(py, namespaces)? {
            match o {
                Object::Namespace(n) => nss.push(n),
                other => return Err(to_pyerr(py, &wrong(&other, "Namespace"))),
            }
        }
        let mut ps: Vec<Pod> = Vec::new();
        for o in objects(py, pods)? {
            match o {
                Object::Pod(p) => ps.push(p),
                other => return Err(to_pyerr(py, &wrong(&other, "Pod"))),
            }
        }
        let c = py
            .detach(|| PolicyCluster::new(&nss, &ps, cfg))
            .py_err(py)?;
        Ok(PyPolicyCluster {
            inner: Mutex::new(c),
        })
    }

    /// Adds or replaces a policy (dict). Returns its key `{"kind",
    /// "namespace", "name"}`. Raises `PolicyError` (`invalid_policy`,
    /// `unsupported_policy`); a rejected policy changes nothing.
    #[pyo3(signature = (policy, audit = false))]
    fn upsert_policy<'py>(
        &self,
        py: Python<'py>,
        policy: &Bound<'py, PyAny>,
        audit: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = json_value(py, policy)?;
        let key = py
            .detach(|| self.lock().upsert_policy_with(&v, PolicyOptions { audit }))
            .py_err(py)?;
        ser_to_py(py, &key)
    }

    /// The identity number of pod `namespace/name`, or None.
    fn identity_of(&self, py: Python<'_>, namespace: &str, name: &str) -> Option<u32> {
        py.detach(|| self.lock().identity_of(namespace, name))
    }

    /// The verdict for a flow from `source` to `destination` (each
    /// `"namespace/pod"` or an IP) on `port` (a number 1-65535, or a named
    /// port of the destination) and `protocol` (`TCP`, `UDP` or `SCTP`, any
    /// case; None is TCP): a dict `{"verdict": "allow"|"deny"|"audit",
    /// "egress", "ingress", "deciding": [...]}`. The probe is checked by
    /// the core's `wire` rules, as in every binding and the CLI: anything
    /// else raises `PolicyError` (`invalid_probe`, `field` naming the
    /// argument: `from`, `to`, `port` or `protocol`).
    #[pyo3(signature = (source, destination, port, protocol = None))]
    fn probe<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        destination: &Bound<'py, PyAny>,
        port: &Bound<'py, PyAny>,
        protocol: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let none = py.None().into_bound(py);
        let p = probe(
            py,
            [
                ("from", source),
                ("to", destination),
                ("port", port),
                ("protocol", protocol.unwrap_or(&none)),
            ],
        )?;
        let v = py.detach(|| p.evaluate(&mut self.lock())).py_err(py)?;
        ser_to_py(py, &v)
    }

    /// Answers a stream of probes (JSON lines or concatenated JSON values,
    /// bytes or str, read like watch events), one answer per value, in
    /// order: `{"from", "to", "port", "protocol"}` as given, then either the
    /// verdict's fields (`verdict`, `egress`, `ingress`, `deciding`) or
    /// `error` `{"code", "number", "field", "message"}`. Never raises for a
    /// bad probe; GIL released.
    fn answer_probes<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let answers = with_bytes(data, |b| {
            py.detach(|| wire::answer_probes(&mut self.lock(), b))
        })?;
        ser_list(py, &answers)
    }

    /// The reachability matrix over every pod, as the Kubernetes e2e
    /// suite prints it (a truth table). `port` and `protocol` as for
    /// `probe`.
    #[pyo3(signature = (port, protocol = None))]
    fn truth_table(
        &self,
        py: Python<'_>,
        port: &Bound<'_, PyAny>,
        protocol: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let none = py.None().into_bound(py);
        let (port, proto) = port_protocol(py, port, protocol.unwrap_or(&none))?;
        Ok(py.detach(|| self.lock().matrix(port, proto).to_truth_table()))
    }

    /// The reachability matrix as a dict `{"peers", "port", "protocol",
    /// "cells"}` with `cells[from][to]` a verdict string or None. `port`
    /// and `protocol` as for `probe`.
    #[pyo3(signature = (port, protocol = None))]
    fn matrix<'py>(
        &self,
        py: Python<'py>,
        port: &Bound<'py, PyAny>,
        protocol: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let none = py.None().into_bound(py);
        let (port, proto) = port_protocol(py, port, protocol.unwrap_or(&none))?;
        let m = py.detach(|| self.lock().matrix(port, proto));
        ser_to_py(py, &m)
    }

    /// Every pod as `"namespace/name"` (host-network pods by address).
    fn pods<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let peers = py.detach(|| self.lock().pods());
        let list = PyList::empty(py);
        for p in peers {
            list.append(ser_to_py(py, &p)?)?;
        }
        Ok(list)
    }
}
