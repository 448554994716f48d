//! `Snapshot` and `SnapshotReader`: immutable point-in-time views (DESIGN §6).
//!
//! A native snapshot holds the core's `Arc` clone, so it stays valid (and
//! unchanged) however the engine or consumer that published it moves on.

use std::net::IpAddr;

use napi::Result;
use napi_derive::napi;
use serde_json::{Value, json};
use sliceplane::error::{Error, ErrorCode};
use sliceplane::snapshot::{EndpointView, Fragmentation, SliceView};
use sliceplane::wire;

use crate::convert::{wire_json, wire_list};
use crate::to_napi;

/// Parses an IP argument; a bad one is an `invalid_ip` error.
pub(crate) fn parse_ip(ip: &str) -> Result<IpAddr> {
    ip.parse().map_err(|_| {
        to_napi(Error::new(
            ErrorCode::InvalidIp,
            "",
            "ip",
            format!("not an IP address: {ip:?}"),
        ))
    })
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The `wire` endpoint view `{namespace, name, slice, identity, ips,
/// nodeIp, encryptionKey, namedPorts, serviceAccount}`.
pub(crate) fn endpoint_json(e: &EndpointView) -> Value {
    wire_json(&wire::EndpointView::from(e))
}

/// The `wire` slice view `{name, namespace, endpoints}`.
fn slice_json(s: &SliceView) -> Value {
    wire_json(&wire::SliceView::from(s))
}

fn fragmentation_json(f: Fragmentation) -> Value {
    // ratio() is infinite for slices without endpoints; JSON has no
    // Infinity, so that case is null.
    let ratio = f.ratio();
    json!({
        "slices": f.slices,
        "ideal": f.ideal,
        "ratio": if ratio.is_finite() { json!(ratio) } else { Value::Null },
    })
}

/// An immutable snapshot: cheap to keep, unaffected by later changes.
#[napi(js_name = "NativeSnapshot")]
pub struct Snapshot {
    inner: sliceplane::snapshot::Snapshot,
}

impl Snapshot {
    pub(crate) fn new(inner: sliceplane::snapshot::Snapshot) -> Self {
        Snapshot { inner }
    }
}

#[napi]
impl Snapshot {
    /// Increases by one with every publish (0: nothing published yet).
    #[napi(getter)]
    pub fn version(&self) -> i64 {
        i64::try_from(self.inner.version()).unwrap_or(i64::MAX)
    }

    /// A slice `{name, namespace, endpoints}`, or `null`.
    #[napi]
    pub fn slice(&self, name: String) -> Value {
        self.inner
            .slice(&name)
            .map_or(Value::Null, |s| slice_json(s))
    }

    /// Every slice, sorted by name.
    #[napi]
    pub fn slices(&self) -> Vec<Value> {
        wire_list(&wire::slice_views(&self.inner, None))
    }

    /// The slice names of a namespace, sorted.
    #[napi]
    pub fn slices_in_namespace(&self, namespace: String) -> Vec<String> {
        self.inner
            .slices_in_namespace(&namespace)
            .map(ToString::to_string)
            .collect()
    }

    /// Namespace names with their slice and endpoint counts.
    #[napi]
    pub fn namespaces(&self) -> Vec<Value> {
        self.inner
            .namespaces()
            .map(|(name, n)| json!({"name": &**name, "slices": n.slices.len(), "endpoints": n.endpoints}))
            .collect()
    }

    /// An endpoint, or `null`.
    #[napi]
    pub fn endpoint(&self, namespace: String, name: String) -> Value {
        self.inner
            .endpoint(&namespace, &name)
            .map_or(Value::Null, |e| endpoint_json(e))
    }

    /// Every endpoint, sorted by namespace and name.
    #[napi]
    pub fn endpoints(&self) -> Vec<Value> {
        wire_list(&wire::endpoint_views(&self.inner, None))
    }

    /// The security labels of an identity (`source:key=value`), or `null`.
    #[napi]
    pub fn identity_labels(&self, id: u32) -> Option<Vec<String>> {
        self.inner
            .identity_labels(id)
            .map(|l| l.iter().map(ToString::to_string).collect())
    }

    /// The identity of a canonical labels key, or `null`.
    #[napi]
    pub fn identity_by_key(&self, key: String) -> Option<u32> {
        self.inner.identity_by_key(&key)
    }

    /// The identity numbers the endpoints use.
    #[napi]
    pub fn identities(&self) -> Vec<u32> {
        self.inner.identities().map(|(id, _)| *id).collect()
    }

    /// IP → the endpoint owning it, or `null`.
    #[napi]
    pub fn lookup_ip(&self, ip: String) -> Result<Value> {
        let ip = parse_ip(&ip)?;
        Ok(self
            .inner
            .lookup_ip(&ip)
            .map_or(Value::Null, |e| endpoint_json(e)))
    }

    /// IP → identity, or `null`.
    #[napi]
    pub fn identity_of_ip(&self, ip: String) -> Result<Option<u32>> {
        Ok(self.inner.identity_of_ip(&parse_ip(&ip)?))
    }

    /// `{endpoints, slices, identities, namespaces, ips}`.
    #[napi]
    pub fn counts(&self) -> Value {
        json!({
            "endpoints": self.inner.endpoint_count(),
            "slices": self.inner.slice_count(),
            "identities": self.inner.identity_count(),
            "namespaces": self.inner.namespace_count(),
            "ips": self.inner.ip_count(),
        })
    }

    #[napi]
    pub fn endpoint_count(&self) -> u32 {
        count(self.inner.endpoint_count())
    }
    #[napi]
    pub fn slice_count(&self) -> u32 {
        count(self.inner.slice_count())
    }
    #[napi]
    pub fn identity_count(&self) -> u32 {
        count(self.inner.identity_count())
    }
    #[napi]
    pub fn namespace_count(&self) -> u32 {
        count(self.inner.namespace_count())
    }
    #[napi]
    pub fn ip_count(&self) -> u32 {
        count(self.inner.ip_count())
    }

    /// `{slices, ideal, ratio}`, cluster-wide or for one namespace.
    #[napi]
    pub fn fragmentation(&self, namespace: Option<String>) -> Value {
        fragmentation_json(match namespace {
            Some(ns) => self.inner.namespace_fragmentation(&ns),
            None => self.inner.fragmentation(),
        })
    }
}

/// A handle that loads the latest published snapshot.
#[napi(js_name = "NativeSnapshotReader")]
pub struct SnapshotReader {
    inner: sliceplane::snapshot::SnapshotReader,
}

impl SnapshotReader {
    pub(crate) fn new(inner: sliceplane::snapshot::SnapshotReader) -> Self {
        SnapshotReader { inner }
    }
}

#[napi]
impl SnapshotReader {
    /// The latest published snapshot.
    #[napi]
    pub fn load(&self) -> Snapshot {
        Snapshot::new(self.inner.load())
    }

    /// IP → identity in the latest snapshot, or `null`.
    #[napi]
    pub fn identity_of_ip(&self, ip: String) -> Result<Option<u32>> {
        Ok(self.inner.identity_of_ip(&parse_ip(&ip)?))
    }

    /// IP → endpoint in the latest snapshot, or `null`.
    #[napi]
    pub fn lookup_ip(&self, ip: String) -> Result<Value> {
        let ip = parse_ip(&ip)?;
        Ok(self
            .inner
            .lookup_ip(&ip)
            .map_or(Value::Null, |e| endpoint_json(&e)))
    }

    /// The latest published version.
    #[napi(getter)]
    pub fn version(&self) -> i64 {
        i64::try_from(self.inner.version()).unwrap_or(i64::MAX)
    }
}
