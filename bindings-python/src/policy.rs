//! `sliceplane.PolicyCluster`: network-policy verdicts (DESIGN.md §13).

use std::sync::{Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyString};
use sliceplane::model::{Namespace, Pod};
use sliceplane::policy::{PolicyCluster, PolicyConfig, PolicyOptions, PortRef, Protocol};
use sliceplane::{Error, ErrorCode, Object};

use crate::convert::{ser_to_py, write_json};
use crate::errors::{IntoPy, to_pyerr};

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

fn port_ref(port: &Bound<'_, PyAny>) -> PyResult<PortRef> {
    if port.cast::<PyInt>().is_ok() {
        let n: u16 = port.extract()?;
        return Ok(PortRef::Number(n));
    }
    if let Ok(s) = port.cast::<PyString>() {
        return Ok(PortRef::parse(&s.to_cow()?));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "port must be an int or a str",
    ))
}

fn protocol(py: Python<'_>, p: &str) -> PyResult<Protocol> {
    Protocol::parse(p).ok_or_else(|| {
        to_pyerr(
            py,
            &Error::new(
                ErrorCode::InvalidProbe,
                "",
                "protocol",
                format!("protocol {p:?} is not TCP, UDP or SCTP"),
            ),
        )
    })
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
    /// `"namespace/pod"` or an IP) on `port` (number or named port of the
    /// destination) and `protocol`: a dict `{"verdict": "allow"|"deny"|
    /// "audit", "egress", "ingress", "deciding": [...]}`. Raises
    /// `PolicyError` (`invalid_probe`).
    #[pyo3(signature = (source, destination, port, protocol = "TCP"))]
    fn probe<'py>(
        &self,
        py: Python<'py>,
        source: &str,
        destination: &str,
        port: &Bound<'py, PyAny>,
        protocol: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let port = port_ref(port)?;
        let proto = self::protocol(py, protocol)?;
        let v = py
            .detach(|| self.lock().probe(source, destination, port, proto))
            .py_err(py)?;
        ser_to_py(py, &v)
    }

    /// The reachability matrix over every pod, as the Kubernetes e2e
    /// suite prints it (a truth table).
    #[pyo3(signature = (port, protocol = "TCP"))]
    fn truth_table(
        &self,
        py: Python<'_>,
        port: &Bound<'_, PyAny>,
        protocol: &str,
    ) -> PyResult<String> {
        let port = port_ref(port)?;
        let proto = self::protocol(py, protocol)?;
        Ok(py.detach(|| self.lock().matrix(port, proto).to_truth_table()))
    }

    /// The reachability matrix as a dict `{"peers", "port", "protocol",
    /// "cells"}` with `cells[from][to]` a verdict string or None.
    #[pyo3(signature = (port, protocol = "TCP"))]
    fn matrix<'py>(
        &self,
        py: Python<'py>,
        port: &Bound<'py, PyAny>,
        protocol: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let port = port_ref(port)?;
        let proto = self::protocol(py, protocol)?;
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
