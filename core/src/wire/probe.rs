//! Policy probes and their answers (DESIGN.md §13).

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, ErrorCode};
use crate::model::{Namespace, Object, Pod};
use crate::policy::{PolicyCluster, PolicyConfig, PortRef, Protocol, Verdict};
use crate::wire::reader::StreamReader;

/// A probe, checked: `{"from", "to", "port", "protocol"}`.
///
/// - `from`, `to`: strings, each `"namespace/pod"` or an IP address
///   (resolved against the cluster when the probe is evaluated).
/// - `port`: a number in 1..=65535, a string holding one, or a port name
///   (a non-empty string that is not all digits). A number outside the
///   range, of any size or sign, or a fraction, is rejected.
/// - `protocol`: `TCP`, `UDP` or `SCTP` (any case); absent or `null` is
///   `TCP`.
///
/// Every problem is `invalid_probe` (503) with `field` naming the field
/// (`""` when the probe is not an object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The source.
    pub from: String,
    /// The destination.
    pub to: String,
    /// The destination port.
    pub port: PortRef,
    /// The protocol.
    pub protocol: Protocol,
}

fn probe_error(field: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidProbe, "", field, message)
}

impl Probe {
    /// Checks a probe given as JSON (see the type docs for the rules).
    pub fn from_value(v: &Value) -> Result<Probe, Error> {
        if !v.is_object() {
            return Err(probe_error(
                "",
                "a probe is an object {from, to, port, protocol}",
            ));
        }
        let side = |f: &str| match v.get(f) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(probe_error(
                f,
                "expected \"namespace/pod\" or an IP address",
            )),
            None => Err(probe_error(f, "missing")),
        };
        let from = side("from")?;
        let to = side("to")?;
        let port = Probe::port_from_value(v.get("port"))?;
        let protocol = Probe::protocol_from_value(v.get("protocol"))?;
        Ok(Probe {
            from,
            to,
            port,
            protocol,
        })
    }

    /// A probe's `port` (see the type docs); `None` when absent.
    pub fn port_from_value(v: Option<&Value>) -> Result<PortRef, Error> {
        match v {
            None => Err(probe_error("port", "missing")),
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| u16::try_from(n).ok()) {
                Some(p) if p >= 1 => Ok(PortRef::Number(p)),
                _ => Err(probe_error("port", format!("port {n} outside 1-65535"))),
            },
            Some(Value::String(s)) => Probe::port_from_str(s),
            Some(other) => Err(probe_error(
                "port",
                format!("expected a number or a name, got {other}"),
            )),
        }
    }

    /// A probe's `protocol` (see the type docs); `None` when absent.
    pub fn protocol_from_value(v: Option<&Value>) -> Result<Protocol, Error> {
        match v {
            None | Some(Value::Null) => Ok(Protocol::Tcp),
            Some(Value::String(s)) => Protocol::parse(s)
                .ok_or_else(|| probe_error("protocol", format!("unknown protocol {s:?}"))),
            Some(other) => Err(probe_error(
                "protocol",
                format!("expected TCP, UDP or SCTP, got {other}"),
            )),
        }
    }

    /// A port given as text: a number in 1..=65535 or a port name.
    pub fn port_from_str(s: &str) -> Result<PortRef, Error> {
        match PortRef::parse(s) {
            PortRef::Number(0) => Err(probe_error("port", "port 0 outside 1-65535")),
            PortRef::Name(n) if n.is_empty() || n.chars().all(|c| c.is_ascii_digit()) => Err(
                probe_error("port", format!("not a port number or name: {s:?}")),
            ),
            p => Ok(p),
        }
    }

    /// Evaluates the probe; an unknown `from` or `to` is `invalid_probe`
    /// with that field.
    pub fn evaluate(&self, cluster: &mut PolicyCluster) -> Result<Verdict, Error> {
        // Resolve each side first to name the field that fails.
        for (field, side) in [("from", &self.from), ("to", &self.to)] {
            cluster.peer(side).map_err(|mut e| {
                e.field = field.to_string();
                e
            })?;
        }
        cluster.probe(&self.from, &self.to, self.port.clone(), self.protocol)
    }
}

/// Why a probe has no verdict: `{"code", "number", "field", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeError {
    /// The error code's name (`invalid_probe`).
    pub code: String,
    /// The error code's number.
    pub number: u32,
    /// The offending field of the probe, or `""`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl From<&Error> for ProbeError {
    fn from(e: &Error) -> ProbeError {
        ProbeError {
            code: e.code.as_str().to_string(),
            number: e.code.number(),
            field: e.field.clone(),
            message: e.message.clone(),
        }
    }
}

/// The answer to one probe, as `sliceplane policy eval` prints it: the
/// probe's `from`, `to`, `port` and `protocol` as given (`null` when
/// absent; on success `protocol` is the protocol evaluated, `TCP` by
/// default), then either the verdict's fields (`verdict`, `egress`,
/// `ingress`, `deciding`) or `error`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeAnswer {
    /// The probe's `from`.
    pub from: Value,
    /// The probe's `to`.
    pub to: Value,
    /// The probe's `port`.
    pub port: Value,
    /// The probe's `protocol` (on success: the protocol evaluated).
    pub protocol: Value,
    /// The verdict, when the probe was evaluated.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why not, otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ProbeError>,
}

impl ProbeAnswer {
    /// The answer to input that is not a probe at all (unreadable).
    pub fn unreadable(e: &Error) -> ProbeAnswer {
        ProbeAnswer {
            from: Value::Null,
            to: Value::Null,
            port: Value::Null,
            protocol: Value::Null,
            verdict: None,
            error: Some(ProbeError::from(e)),
        }
    }
}

/// Evaluates one probe given as JSON.
pub fn answer_probe(cluster: &mut PolicyCluster, v: &Value) -> ProbeAnswer {
    let field = |f: &str| v.get(f).cloned().unwrap_or(Value::Null);
    let mut answer = ProbeAnswer {
        from: field("from"),
        to: field("to"),
        port: field("port"),
        protocol: field("protocol"),
        verdict: None,
        error: None,
    };
    match Probe::from_value(v).and_then(|p| Ok((p.protocol, p.evaluate(cluster)?))) {
        Ok((protocol, verdict)) => {
            answer.protocol = Value::String(protocol.as_str().to_string());
            answer.verdict = Some(verdict);
        }
        Err(e) => answer.error = Some(ProbeError::from(&e)),
    }
    answer
}

/// Evaluates a stream of probes (JSON lines or concatenated values, read
/// like watch events): one answer per value, in order. A value that cannot
/// be read is answered with its error (`malformed_input`), its message
/// starting with `line N: `.
pub fn answer_probes(cluster: &mut PolicyCluster, bytes: &[u8]) -> Vec<ProbeAnswer> {
    let mut reader = StreamReader::new();
    let mut values = Vec::new();
    reader.push_bytes(bytes, &mut values);
    reader.finish(&mut values);
    values
        .into_iter()
        .map(|rv| {
            let read = rv
                .value
                .and_then(|text| {
                    serde_json::from_str::<Value>(&text).map_err(|e| {
                        Error::new(
                            ErrorCode::MalformedInput,
                            "",
                            "",
                            format!("not valid JSON: {e}"),
                        )
                    })
                })
                .map_err(|mut e| {
                    e.message = format!("line {}: {}", rv.position.line, e.message);
                    e
                });
            match read {
                Ok(v) => answer_probe(cluster, &v),
                Err(e) => ProbeAnswer::unreadable(&e),
            }
        })
        .collect()
}

fn malformed(what: &str, field: &str, message: String) -> Error {
    Error::new(ErrorCode::MalformedInput, what, field, message)
}

/// The items of a JSON array or a List (`{"items": [...]}`); blank text
/// is no items.
fn items(text: &str, what: &str) -> Result<Vec<Value>, Error> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let not_a_list = |field: &str| malformed(what, field, "expected a JSON array or a List".into());
    match serde_json::from_str::<Value>(text).map_err(|e| malformed(what, "", e.to_string()))? {
        Value::Array(v) => Ok(v),
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(v)) => Ok(v),
            _ => Err(not_a_list("items")),
        },
        _ => Err(not_a_list("")),
    }
}

/// A policy cluster from JSON, as the bindings build one: `cluster` holds
/// Namespaces and Pods, `policies` NetworkPolicies and Cilium policies,
/// each a JSON array or a List (blank: none). Another kind in `cluster` is
/// `unknown_kind` (field `[i].kind`); the first invalid policy fails the
/// whole call.
pub fn policy_cluster(
    cluster: &str,
    policies: &str,
    config: PolicyConfig,
) -> Result<PolicyCluster, Error> {
    let mut namespaces: Vec<Namespace> = Vec::new();
    let mut pods: Vec<Pod> = Vec::new();
    for (i, item) in items(cluster, "cluster")?.iter().enumerate() {
        let bytes =
            serde_json::to_vec(item).map_err(|e| malformed("cluster", "", e.to_string()))?;
        match Object::from_json(&bytes)? {
            Object::Namespace(n) => namespaces.push(n),
            Object::Pod(p) => pods.push(p),
            o => {
                return Err(Error::new(
                    ErrorCode::UnknownKind,
                    o.describe(),
                    format!("[{i}].kind"),
                    "the cluster takes Namespace and Pod objects",
                ));
            }
        }
    }
    let mut inner = PolicyCluster::new(&namespaces, &pods, config)?;
    for p in items(policies, "policies")? {
        inner.upsert_policy(&p)?;
    }
    Ok(inner)
}
