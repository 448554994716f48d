//! `PolicyCluster`: network-policy verdicts over Namespace and Pod objects.

use napi::Result;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde_json::Value;
use sliceplane::error::{Error, ErrorCode};
use sliceplane::model::{Namespace, Object, Pod};
use sliceplane::policy::{PolicyConfig, PolicyKey, PolicyOptions, PortRef, Protocol};
use sliceplane::wire::{self, Probe};

use crate::convert::wire_list;
use crate::to_napi;

/// Namespaces and pods turned into identities and endpoints, plus policies.
#[napi(js_name = "NativePolicyCluster")]
pub struct PolicyCluster {
    inner: sliceplane::policy::PolicyCluster,
}

fn parse_object(v: &Value, field: &str) -> Result<Object> {
    let bytes = serde_json::to_vec(v).map_err(|e| {
        to_napi(Error::new(
            ErrorCode::MalformedInput,
            "",
            field,
            e.to_string(),
        ))
    })?;
    // A parse error names the object, not its position in the list.
    Object::from_json(&bytes).map_err(|mut e| {
        if e.field.is_empty() {
            e.field = field.to_string();
        }
        to_napi(e)
    })
}

fn wrong_kind(field: &str, want: &str, got: &Object) -> napi::Error {
    to_napi(Error::new(
        ErrorCode::UnknownKind,
        got.describe(),
        field,
        format!("expected a {want}, got a {}", got.kind().as_str()),
    ))
}

/// A port and a protocol checked by the `wire` probe rules (as for a
/// probe): `query` is `{port, protocol?}`.
fn port_protocol(query: &Value) -> Result<(PortRef, Protocol)> {
    let port = Probe::port_from_value(query.get("port")).map_err(to_napi)?;
    let protocol = Probe::protocol_from_value(query.get("protocol")).map_err(to_napi)?;
    Ok((port, protocol))
}

fn key_json(k: &PolicyKey) -> Value {
    serde_json::to_value(k).unwrap_or(Value::Null)
}

#[napi]
impl PolicyCluster {
    /// Builds the world from Namespace and Pod objects; `config` is the
    /// policy engine config (`auditMode`, `ipBlockSelectsClusterIps`, ...).
    #[napi(constructor)]
    pub fn new(namespaces: Vec<Value>, pods: Vec<Value>, config: Option<Value>) -> Result<Self> {
        let mut ns: Vec<Namespace> = Vec::with_capacity(namespaces.len());
        for (i, v) in namespaces.iter().enumerate() {
            let field = format!("namespaces[{i}]");
            match parse_object(v, &field)? {
                Object::Namespace(n) => ns.push(n),
                other => return Err(wrong_kind(&field, "Namespace", &other)),
            }
        }
        let mut ps: Vec<Pod> = Vec::with_capacity(pods.len());
        for (i, v) in pods.iter().enumerate() {
            let field = format!("pods[{i}]");
            match parse_object(v, &field)? {
                Object::Pod(p) => ps.push(p),
                other => return Err(wrong_kind(&field, "Pod", &other)),
            }
        }
        let config: PolicyConfig = match config {
            None | Some(Value::Null) => PolicyConfig::default(),
            Some(v) => serde_json::from_value(v).map_err(|e| {
                to_napi(Error::new(
                    ErrorCode::InvalidConfig,
                    "PolicyConfig",
                    "",
                    e.to_string(),
                ))
            })?,
        };
        sliceplane::policy::PolicyCluster::new(&ns, &ps, config)
            .map(|inner| PolicyCluster { inner })
            .map_err(to_napi)
    }

    /// Adds or replaces a NetworkPolicy, CiliumNetworkPolicy or
    /// CiliumClusterwideNetworkPolicy; returns its key `{kind, namespace, name}`.
    #[napi]
    pub fn upsert_policy(&mut self, policy: Value, audit: Option<bool>) -> Result<Value> {
        let options = PolicyOptions {
            audit: audit.unwrap_or(false),
        };
        self.inner
            .upsert_policy_with(&policy, options)
            .map(|k| key_json(&k))
            .map_err(to_napi)
    }

    /// Removes a policy by key; whether it was there.
    #[napi]
    pub fn remove_policy(&mut self, key: Value) -> Result<bool> {
        let key: PolicyKey = serde_json::from_value(key).map_err(|e| {
            to_napi(Error::new(
                ErrorCode::InvalidPolicy,
                "",
                "key",
                format!("not a policy key: {e}"),
            ))
        })?;
        Ok(self.inner.engine_mut().remove_policy(&key))
    }

    /// The identity number of a pod (`null` for unknown or host-network).
    #[napi]
    pub fn identity_of(&self, namespace: String, name: String) -> Option<u32> {
        self.inner.identity_of(&namespace, &name)
    }

    /// The verdict for one probe `{from, to, port, protocol?}` (`from`,
    /// `to`: `"namespace/pod"` or an IP; `port`: 1-65535 or a named port;
    /// `protocol`: TCP (default), UDP or SCTP, any case), checked by the
    /// core's `wire` rules: a bad probe is `invalid_probe` naming the field.
    #[napi]
    pub fn probe(&mut self, probe: Value) -> Result<Value> {
        let p = Probe::from_value(&probe).map_err(to_napi)?;
        p.evaluate(&mut self.inner)
            .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
            .map_err(to_napi)
    }

    /// Answers a stream of probes (JSON lines or concatenated values), one
    /// `wire` probe answer per value; never throws for a bad probe.
    #[napi]
    pub fn answer_probes(&mut self, probes: Buffer) -> Vec<Value> {
        wire_list(&wire::answer_probes(&mut self.inner, &probes))
    }

    /// The reachability matrix over every pod for `{port, protocol?}`
    /// (checked as for a probe): `{peers, port, protocol, cells, truthTable}`.
    #[napi]
    pub fn matrix(&mut self, query: Value) -> Result<Value> {
        let (port, protocol) = port_protocol(&query)?;
        let m = self.inner.matrix(port, protocol);
        let mut v = serde_json::to_value(&m).unwrap_or(Value::Null);
        v["truthTable"] = Value::String(m.to_truth_table());
        Ok(v)
    }
}
