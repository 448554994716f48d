//! The Kubernetes objects the engine reads and writes, in the JSON shape of
//! the API server, and the watch events that carry them.
//!
//! Only the fields the engine uses are modelled; unknown fields are ignored
//! on input, as the API server's clients do. Integers that the engine
//! validates (ports, identity numbers, keys) are kept as `i64` so that an
//! out-of-range value reaches validation and gets a precise error instead of
//! a generic parse failure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};

pub type Labels = BTreeMap<String, String>;

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uid: String,
}

/// `metadata` of any object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
}

impl ObjectMeta {
    pub fn named(name: impl Into<String>) -> Self {
        ObjectMeta {
            name: name.into(),
            ..Default::default()
        }
    }
}

// ---------------------------------------------------------------- core/v1

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    #[serde(default)]
    pub metadata: ObjectMeta,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddress {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub container_port: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub host_network: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodIp {
    #[serde(default)]
    pub ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    #[serde(default, rename = "podIPs", skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<PodIp>,
    #[serde(default, rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

// ---------------------------------------------------------------- cilium.io

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionSpec {
    #[serde(default)]
    pub key: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumNodeAddress {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumNodeSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<CiliumNodeAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumNode {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: CiliumNodeSpec,
}

/// `{ipv4, ipv6}`: one address pair of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointNetworking {
    #[serde(default)]
    pub addressing: Vec<AddressPair>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// `{name, port, protocol}`: a named layer-4 port of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NamedPort {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub port: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointIdentity {
    #[serde(default)]
    pub id: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumEndpointStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<EndpointIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<EndpointNetworking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionSpec>,
    #[serde(default, rename = "named-ports", skip_serializing_if = "Vec::is_empty")]
    pub named_ports: Vec<NamedPort>,
    #[serde(
        default,
        rename = "service-account",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_account: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumEndpoint {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: CiliumEndpointStatus,
}

/// One endpoint inside a CiliumEndpointSlice (Cilium's CoreCiliumEndpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreCiliumEndpoint {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub networking: EndpointNetworking,
    #[serde(default)]
    pub encryption: EncryptionSpec,
    #[serde(default, rename = "named-ports")]
    pub named_ports: Vec<NamedPort>,
    #[serde(
        default,
        rename = "service-account",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_account: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumEndpointSlice {
    #[serde(rename = "apiVersion", default = "ces_api_version")]
    pub api_version: String,
    #[serde(default = "ces_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub endpoints: Vec<CoreCiliumEndpoint>,
}

fn ces_api_version() -> String {
    "cilium.io/v2alpha1".to_string()
}
fn ces_kind() -> String {
    "CiliumEndpointSlice".to_string()
}
fn cid_api_version() -> String {
    "cilium.io/v2".to_string()
}
fn cid_kind() -> String {
    "CiliumIdentity".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumIdentity {
    #[serde(rename = "apiVersion", default = "cid_api_version")]
    pub api_version: String,
    #[serde(default = "cid_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `source:key` → value; the source of truth for the identity's labels.
    #[serde(default, rename = "security-labels")]
    pub security_labels: Labels,
}

impl CiliumEndpointSlice {
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        CiliumEndpointSlice {
            api_version: ces_api_version(),
            kind: ces_kind(),
            metadata: ObjectMeta::named(name),
            namespace: namespace.into(),
            endpoints: Vec::new(),
        }
    }
}

impl CiliumIdentity {
    pub fn new(name: impl Into<String>) -> Self {
        CiliumIdentity {
            api_version: cid_api_version(),
            kind: cid_kind(),
            metadata: ObjectMeta::named(name),
            security_labels: Labels::new(),
        }
    }
}

// ---------------------------------------------------------------- events

/// Every kind of object the engine takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Namespace(Namespace),
    Node(Node),
    CiliumNode(CiliumNode),
    Pod(Pod),
    CiliumEndpoint(CiliumEndpoint),
    CiliumEndpointSlice(CiliumEndpointSlice),
    CiliumIdentity(CiliumIdentity),
}

/// The kind of an [`Object`], with its `apiVersion` and `kind` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Namespace,
    Node,
    CiliumNode,
    Pod,
    CiliumEndpoint,
    CiliumEndpointSlice,
    CiliumIdentity,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Namespace,
        Kind::Node,
        Kind::CiliumNode,
        Kind::Pod,
        Kind::CiliumEndpoint,
        Kind::CiliumEndpointSlice,
        Kind::CiliumIdentity,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::CiliumNode => "CiliumNode",
            Kind::Pod => "Pod",
            Kind::CiliumEndpoint => "CiliumEndpoint",
            Kind::CiliumEndpointSlice => "CiliumEndpointSlice",
            Kind::CiliumIdentity => "CiliumIdentity",
        }
    }

    pub const fn api_version(self) -> &'static str {
        match self {
            Kind::Namespace | Kind::Node | Kind::Pod => "v1",
            Kind::CiliumNode | Kind::CiliumEndpoint | Kind::CiliumIdentity => "cilium.io/v2",
            Kind::CiliumEndpointSlice => "cilium.io/v2alpha1",
        }
    }

    pub fn from_kind_str(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Namespace(_) => Kind::Namespace,
            Object::Node(_) => Kind::Node,
            Object::CiliumNode(_) => Kind::CiliumNode,
            Object::Pod(_) => Kind::Pod,
            Object::CiliumEndpoint(_) => Kind::CiliumEndpoint,
            Object::CiliumEndpointSlice(_) => Kind::CiliumEndpointSlice,
            Object::CiliumIdentity(_) => Kind::CiliumIdentity,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Namespace(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
            Object::CiliumNode(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::CiliumEndpoint(o) => &o.metadata,
            Object::CiliumEndpointSlice(o) => &o.metadata,
            Object::CiliumIdentity(o) => &o.metadata,
        }
    }

    /// `Kind namespace/name` or `Kind name`, for error messages and events.
    pub fn describe(&self) -> String {
        describe(self.kind(), self.metadata())
    }

    /// Parses one object from JSON; `kind` (and `apiVersion` if present)
    /// select the type.
    pub fn from_json(bytes: &[u8]) -> Result<Object> {
        let any: AnyObject = serde_json::from_slice(bytes).map_err(|e| malformed("object", &e))?;
        any.into_object()
    }

    /// The object as API-server JSON (with `apiVersion` and `kind`).
    pub fn to_json_value(&self) -> serde_json::Value {
        let mut v = match self {
            Object::Namespace(o) => serde_json::to_value(o),
            Object::Node(o) => serde_json::to_value(o),
            Object::CiliumNode(o) => serde_json::to_value(o),
            Object::Pod(o) => serde_json::to_value(o),
            Object::CiliumEndpoint(o) => serde_json::to_value(o),
            Object::CiliumEndpointSlice(o) => serde_json::to_value(o),
            Object::CiliumIdentity(o) => serde_json::to_value(o),
        }
        .unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut v {
            map.insert("apiVersion".into(), self.kind().api_version().into());
            map.insert("kind".into(), self.kind().as_str().into());
        }
        v
    }
}

pub(crate) fn describe(kind: Kind, meta: &ObjectMeta) -> String {
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{} {}/{}", kind.as_str(), ns, meta.name),
        _ => format!("{} {}", kind.as_str(), meta.name),
    }
}

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// `{"type": ..., "object": {...}}` as `kubectl get -w --output-watch-events -o json` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub event_type: EventType,
    pub object: Object,
}

impl WatchEvent {
    pub fn new(event_type: EventType, object: Object) -> Self {
        WatchEvent { event_type, object }
    }
    pub fn added(object: Object) -> Self {
        WatchEvent::new(EventType::Added, object)
    }
    pub fn modified(object: Object) -> Self {
        WatchEvent::new(EventType::Modified, object)
    }
    pub fn deleted(object: Object) -> Self {
        WatchEvent::new(EventType::Deleted, object)
    }

    /// Parses one watch event. A bare object (no `type`) is taken as ADDED,
    /// which is how `kubectl get -o json` items are read.
    ///
    /// One pass over the bytes: the event is read into a union of every
    /// field the engine models (no two kinds use one name for different
    /// things), then moved into the object its `kind` names.
    pub fn from_json(bytes: &[u8]) -> Result<WatchEvent> {
        let ev: EventOrObject =
            serde_json::from_slice(bytes).map_err(|e| malformed("event", &e))?;
        ev.into_event()
    }

    /// Parses an already-decoded JSON value (used for Lists and streams).
    pub fn from_value(value: &serde_json::Value) -> Result<WatchEvent> {
        // Values arrive from callers that already hold parsed JSON (bindings,
        // streams); re-encoding keeps one parsing path with one set of errors.
        let bytes = serde_json::to_vec(value).map_err(|e| malformed("event", &e))?;
        WatchEvent::from_json(&bytes)
    }

    /// The event as `{"type", "object"}` JSON.
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::json!({"type": self.event_type.as_str(), "object": self.object.to_json_value()})
    }
}

/// `{"type", "object"}`, or a bare object: every top-level field of both.
#[derive(Deserialize)]
struct EventOrObject {
    #[serde(rename = "type", default)]
    event_type: Option<String>,
    #[serde(default)]
    object: Option<AnyObject>,
    #[serde(flatten)]
    bare: AnyObjectFields,
}

impl EventOrObject {
    fn into_event(self) -> Result<WatchEvent> {
        match (self.event_type, self.object) {
            (Some(t), Some(object)) => {
                let event_type = match t.as_str() {
                    "ADDED" => EventType::Added,
                    "MODIFIED" => EventType::Modified,
                    "DELETED" => EventType::Deleted,
                    other => {
                        return Err(Error::new(
                            ErrorCode::UnknownEventType,
                            "",
                            "type",
                            format!("watch event type {other:?} is not ADDED, MODIFIED or DELETED"),
                        ));
                    }
                };
                Ok(WatchEvent::new(event_type, object.into_object()?))
            }
            (None, None) => Ok(WatchEvent::added(AnyObject(self.bare).into_object()?)),
            (Some(_), None) => Err(Error::new(
                ErrorCode::MissingField,
                "",
                "object",
                "watch event has a type but no object",
            )),
            (None, Some(_)) => Err(Error::new(
                ErrorCode::MissingField,
                "",
                "type",
                "watch event has an object but no type",
            )),
        }
    }
}

/// Any object the engine takes, before its kind picks the type.
#[derive(Deserialize)]
#[serde(transparent)]
struct AnyObject(AnyObjectFields);

#[derive(Deserialize, Default)]
struct AnyObjectFields {
    #[serde(default)]
    kind: Option<String>,
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: AnySpec,
    #[serde(default)]
    status: AnyStatus,
    /// CiliumEndpointSlice.
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    endpoints: Vec<CoreCiliumEndpoint>,
    /// CiliumIdentity.
    #[serde(default, rename = "security-labels")]
    security_labels: Labels,
}

/// `spec` of Pod and CiliumNode.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AnySpec {
    #[serde(default)]
    node_name: Option<String>,
    #[serde(default)]
    service_account_name: Option<String>,
    #[serde(default)]
    host_network: bool,
    #[serde(default)]
    containers: Vec<Container>,
    #[serde(default)]
    addresses: Vec<CiliumNodeAddress>,
    #[serde(default)]
    encryption: Option<EncryptionSpec>,
}

/// `status` of Pod, Node and CiliumEndpoint.
#[derive(Deserialize, Default)]
struct AnyStatus {
    #[serde(default)]
    phase: Option<String>,
    #[serde(default, rename = "podIP")]
    pod_ip: Option<String>,
    #[serde(default, rename = "podIPs")]
    pod_ips: Vec<PodIp>,
    #[serde(default, rename = "hostIP")]
    host_ip: Option<String>,
    #[serde(default)]
    addresses: Vec<NodeAddress>,
    #[serde(default)]
    identity: Option<EndpointIdentity>,
    #[serde(default)]
    networking: Option<EndpointNetworking>,
    #[serde(default)]
    encryption: Option<EncryptionSpec>,
    #[serde(default, rename = "named-ports")]
    named_ports: Vec<NamedPort>,
    #[serde(default, rename = "service-account")]
    service_account: Option<String>,
}

impl AnyObject {
    fn into_object(self) -> Result<Object> {
        let o = self.0;
        let kind_str = o.kind.as_deref().unwrap_or("");
        let Some(kind) = Kind::from_kind_str(kind_str) else {
            return Err(Error::new(
                ErrorCode::UnknownKind,
                "",
                "kind",
                format!("kind {kind_str:?} is not one the engine takes"),
            ));
        };
        if let Some(v) = o.api_version.as_deref()
            && v != kind.api_version()
        {
            return Err(Error::new(
                ErrorCode::UnknownKind,
                kind.as_str(),
                "apiVersion",
                format!(
                    "apiVersion {v:?} is not served for {}; expected {:?}",
                    kind.as_str(),
                    kind.api_version()
                ),
            ));
        }
        let (spec, status, metadata) = (o.spec, o.status, o.metadata);
        Ok(match kind {
            Kind::Namespace => Object::Namespace(Namespace { metadata }),
            Kind::Node => Object::Node(Node {
                metadata,
                status: NodeStatus {
                    addresses: status.addresses,
                },
            }),
            Kind::CiliumNode => Object::CiliumNode(CiliumNode {
                metadata,
                spec: CiliumNodeSpec {
                    addresses: spec.addresses,
                    encryption: spec.encryption,
                },
            }),
            Kind::Pod => Object::Pod(Pod {
                metadata,
                spec: PodSpec {
                    node_name: spec.node_name,
                    service_account_name: spec.service_account_name,
                    host_network: spec.host_network,
                    containers: spec.containers,
                },
                status: PodStatus {
                    phase: status.phase,
                    pod_ip: status.pod_ip,
                    pod_ips: status.pod_ips,
                    host_ip: status.host_ip,
                },
            }),
            Kind::CiliumEndpoint => Object::CiliumEndpoint(CiliumEndpoint {
                metadata,
                status: CiliumEndpointStatus {
                    identity: status.identity,
                    networking: status.networking,
                    encryption: status.encryption,
                    named_ports: status.named_ports,
                    service_account: status.service_account,
                },
            }),
            Kind::CiliumEndpointSlice => Object::CiliumEndpointSlice(CiliumEndpointSlice {
                api_version: ces_api_version(),
                kind: ces_kind(),
                metadata,
                namespace: o.namespace,
                endpoints: o.endpoints,
            }),
            Kind::CiliumIdentity => Object::CiliumIdentity(CiliumIdentity {
                api_version: cid_api_version(),
                kind: cid_kind(),
                metadata,
                security_labels: o.security_labels,
            }),
        })
    }
}

fn malformed(what: &str, e: &serde_json::Error) -> Error {
    Error::new(
        ErrorCode::MalformedInput,
        "",
        "",
        format!("{what} is not valid JSON of the expected shape: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_watch_event() {
        let ev = WatchEvent::from_json(
            br#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"shop","labels":{"app":"web"}},"spec":{"nodeName":"n1","containers":[{"name":"c","ports":[{"name":"http","containerPort":80}]}]},"status":{"phase":"Running","podIPs":[{"ip":"10.0.0.1"}]},"unknownField":1}}"#,
        )
        .unwrap();
        assert_eq!(ev.event_type, EventType::Added);
        let Object::Pod(p) = ev.object else {
            panic!("not a pod")
        };
        assert_eq!(p.metadata.name, "web-1");
        assert_eq!(p.spec.containers[0].ports[0].container_port, 80);
        assert_eq!(p.status.pod_ips[0].ip, "10.0.0.1");
    }

    #[test]
    fn bare_object_is_added() {
        let ev = WatchEvent::from_json(br#"{"kind":"Namespace","metadata":{"name":"a"}}"#).unwrap();
        assert_eq!(ev.event_type, EventType::Added);
        assert_eq!(ev.object.describe(), "Namespace a");
    }

    #[test]
    fn bad_event_type_and_kind_have_codes() {
        let e = WatchEvent::from_json(br#"{"type":"BOOKED","object":{"kind":"Pod"}}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownEventType);
        let e =
            WatchEvent::from_json(br#"{"type":"ADDED","object":{"kind":"Service"}}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownKind);
        let e =
            WatchEvent::from_json(br#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v2"}}"#)
                .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownKind);
        assert_eq!(e.field, "apiVersion");
        let e = WatchEvent::from_json(b"{not json").unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedInput);
        let e = WatchEvent::from_json(
            br#"{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":5}}}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedInput);
    }

    #[test]
    fn slice_serializes_empty_endpoints() {
        let s = CiliumEndpointSlice::new("ces-abc", "ns");
        let v = Object::CiliumEndpointSlice(s).to_json_value();
        assert_eq!(v["endpoints"], serde_json::json!([]));
        assert_eq!(v["apiVersion"], "cilium.io/v2alpha1");
    }
}
