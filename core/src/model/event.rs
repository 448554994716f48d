//! Watch events: every kind the engine takes ([`Object`], [`Kind`]), the
//! event ([`WatchEvent`]) and its JSON reader, which reads a kubectl watch
//! event or a bare object in one pass, and names the object and the field
//! of a value of the wrong JSON type (found by reading the document again
//! on the error path only).
//!
//! **Deletes.** The object of a DELETED event is read leniently: only `kind`
//! (and `apiVersion`), `metadata.name`, `metadata.namespace`, and
//! `metadata.uid` and `metadata.resourceVersion` when they are strings —
//! plus a CiliumEndpointSlice's top-level `namespace` when it is a string —
//! are read; the rest of the body is skipped unread, whatever its shape. The
//! parsed object holds those fields and defaults elsewhere (no labels, no
//! spec or status, no slice entries, no security labels). A delete carries
//! the last state the API server had, which may be one the engine rejected,
//! and it must still apply (DESIGN.md §2).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::*;
use crate::error::{Error, ErrorCode, Result};

/// Every kind of object the engine takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// A Namespace.
    Namespace(Namespace),
    /// A Node.
    Node(Node),
    /// A CiliumNode.
    CiliumNode(CiliumNode),
    /// A Pod.
    Pod(Pod),
    /// A CiliumEndpoint.
    CiliumEndpoint(CiliumEndpoint),
    /// A CiliumEndpointSlice.
    CiliumEndpointSlice(CiliumEndpointSlice),
    /// A CiliumIdentity.
    CiliumIdentity(CiliumIdentity),
}

/// The kind of an [`Object`], with its `apiVersion` and `kind` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `v1` Namespace.
    Namespace,
    /// `v1` Node.
    Node,
    /// `cilium.io/v2` CiliumNode.
    CiliumNode,
    /// `v1` Pod.
    Pod,
    /// `cilium.io/v2` CiliumEndpoint.
    CiliumEndpoint,
    /// `cilium.io/v2alpha1` CiliumEndpointSlice.
    CiliumEndpointSlice,
    /// `cilium.io/v2` CiliumIdentity.
    CiliumIdentity,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::Namespace,
        Kind::Node,
        Kind::CiliumNode,
        Kind::Pod,
        Kind::CiliumEndpoint,
        Kind::CiliumEndpointSlice,
        Kind::CiliumIdentity,
    ];

    /// The `kind` string, e.g. `Pod`.
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

    /// The `apiVersion` string, e.g. `v1`.
    pub const fn api_version(self) -> &'static str {
        match self {
            Kind::Namespace | Kind::Node | Kind::Pod => "v1",
            Kind::CiliumNode | Kind::CiliumEndpoint | Kind::CiliumIdentity => "cilium.io/v2",
            Kind::CiliumEndpointSlice => "cilium.io/v2alpha1",
        }
    }

    /// The kind of a `kind` string, if the engine takes it.
    pub fn from_kind_str(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

impl Object {
    /// The object's kind.
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

    /// The object's `metadata`.
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
        let any: AnyObjectFields =
            serde_json::from_slice(bytes).map_err(|e| parse_error("object", bytes, true, &e))?;
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
    /// `ADDED`.
    Added,
    /// `MODIFIED`.
    Modified,
    /// `DELETED`.
    Deleted,
}

impl EventType {
    /// `ADDED`, `MODIFIED` or `DELETED`.
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
    /// `type`.
    pub event_type: EventType,
    /// `object`.
    pub object: Object,
}

impl WatchEvent {
    /// An event of this type carrying this object.
    pub fn new(event_type: EventType, object: Object) -> Self {
        WatchEvent { event_type, object }
    }
    /// An `ADDED` event.
    pub fn added(object: Object) -> Self {
        WatchEvent::new(EventType::Added, object)
    }
    /// A `MODIFIED` event.
    pub fn modified(object: Object) -> Self {
        WatchEvent::new(EventType::Modified, object)
    }
    /// A `DELETED` event.
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
            serde_json::from_slice(bytes).map_err(|e| parse_error("event", bytes, false, &e))?;
        ev.into_event()
    }

    /// Reads one watch event as [`WatchEvent::from_json`] does, for stream
    /// readers that take a value straight from its bytes: `None` when the
    /// bytes are not one valid event, or when the value has a top-level
    /// `items` field (it may be a List, which a stream reader expands; see
    /// [`EventReader`](crate::wire::EventReader)). The caller then reads the
    /// value the slow way, which gives the precise error.
    pub(crate) fn from_json_unless_items(bytes: &[u8]) -> Option<WatchEvent> {
        let ev: EventOrObject = serde_json::from_slice(bytes).ok()?;
        if ev.has_items {
            return None;
        }
        ev.into_event().ok()
    }

    /// Parses an already-decoded JSON value (used for Lists and streams),
    /// with the same rules and errors as [`WatchEvent::from_json`]. The
    /// value is read in place: its `type` is looked up first, so a DELETED
    /// object is read leniently whatever the order of the map's keys.
    pub fn from_value(value: &serde_json::Value) -> Result<WatchEvent> {
        EventOrObject::from_value(value)
            .map_err(|e| {
                if e.classify() != serde_json::error::Category::Data {
                    return malformed("event", &e);
                }
                locate(value, false, e.to_string()).unwrap_or_else(|| malformed("event", &e))
            })?
            .into_event()
    }

    /// The event as `{"type", "object"}` JSON.
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::json!({"type": self.event_type.as_str(), "object": self.object.to_json_value()})
    }
}

/// `{"type", "object"}`, or a bare object: every top-level field of both.
///
/// Read by hand rather than derived so that the object of a DELETED event is
/// read leniently ([`DeletedFields`]): the type is known before the object
/// in every watch stream (the API server and `kubectl` print `type` first).
/// When `object` comes first, its value is held as JSON until the type is
/// known (slower, and rare).
#[derive(Default)]
struct EventOrObject<'de> {
    event_type: Option<String>,
    object: Option<ObjectBody<'de>>,
    bare: AnyObjectFields,
    /// A top-level `items` field was read (the value may be a List).
    has_items: bool,
}

/// The `object` of a watch event, read as its event type requires.
// One short-lived value per parse: boxing the large variant would only add
// an allocation to every event.
#[allow(clippy::large_enum_variant)]
enum ObjectBody<'de> {
    Full(AnyObjectFields),
    Deleted(DeletedFields),
    /// It came before `type` (in a decoded value): read once the type is
    /// known.
    Pending(serde_json::Value),
    /// It came before `type` (in JSON text): its text, read once the type
    /// is known.
    PendingText(&'de serde_json::value::RawValue),
}

/// A top-level key of an event or an object, matched without allocating.
#[derive(Clone, Copy)]
enum Key {
    Type,
    Object,
    Kind,
    ApiVersion,
    Metadata,
    Spec,
    Status,
    Namespace,
    Endpoints,
    SecurityLabels,
    /// `items` (of a List): skipped, but noted at the top level.
    Items,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(match s {
                    "type" => Key::Type,
                    "object" => Key::Object,
                    "kind" => Key::Kind,
                    "apiVersion" => Key::ApiVersion,
                    "metadata" => Key::Metadata,
                    "spec" => Key::Spec,
                    "status" => Key::Status,
                    "namespace" => Key::Namespace,
                    "endpoints" => Key::Endpoints,
                    "security-labels" => Key::SecurityLabels,
                    "items" => Key::Items,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for EventOrObject<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventOrObject<'de>, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = EventOrObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a watch event or a Kubernetes object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<EventOrObject<'de>, A::Error> {
                let mut ev = EventOrObject::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Type => ev.event_type = map.next_value()?,
                        Key::Object => {
                            ev.object = match ev.event_type.as_deref() {
                                Some("DELETED") => map
                                    .next_value::<Option<DeletedFields>>()?
                                    .map(ObjectBody::Deleted),
                                Some(_) => map
                                    .next_value::<Option<AnyObjectFields>>()?
                                    .map(ObjectBody::Full),
                                None => map
                                    .next_value::<Option<&'de serde_json::value::RawValue>>()?
                                    .map(ObjectBody::PendingText),
                            }
                        }
                        key => {
                            ev.has_items |= matches!(key, Key::Items);
                            ev.bare.read_field(key, &mut map)?
                        }
                    }
                }
                Ok(ev)
            }
        }
        d.deserialize_map(EventVisitor)
    }
}

impl EventOrObject<'_> {
    /// Reads an event from a decoded value: `type` first, then `object` as
    /// the type requires, then the fields of a bare object.
    fn from_value(value: &serde_json::Value) -> Result<EventOrObject<'_>, serde_json::Error> {
        use serde_json::Value;
        let Some(map) = value.as_object() else {
            return EventOrObject::deserialize(value);
        };
        let event_type = match map.get("type") {
            Some(t) => Option::<String>::deserialize(t)?,
            None => None,
        };
        let object = match (map.get("object"), event_type.as_deref()) {
            (None | Some(Value::Null), _) => None,
            (Some(o), Some("DELETED")) => Some(ObjectBody::Deleted(DeletedFields::deserialize(o)?)),
            (Some(o), Some(_)) => Some(ObjectBody::Full(AnyObjectFields::deserialize(o)?)),
            (Some(o), None) => Some(ObjectBody::Pending(o.clone())),
        };
        Ok(EventOrObject {
            event_type,
            object,
            bare: AnyObjectFields::deserialize(value)?,
            has_items: map.contains_key("items"),
        })
    }

    fn into_event(self) -> Result<WatchEvent> {
        match (self.event_type, self.object) {
            (Some(t), Some(body)) => {
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
                let object = match body {
                    ObjectBody::Full(fields) => fields.into_object()?,
                    ObjectBody::Deleted(fields) => fields.into_object()?,
                    ObjectBody::Pending(v) if event_type == EventType::Deleted => {
                        read_tracked::<DeletedFields>(&v)?.into_object()?
                    }
                    ObjectBody::Pending(v) => read_tracked::<AnyObjectFields>(&v)?.into_object()?,
                    ObjectBody::PendingText(raw) if event_type == EventType::Deleted => {
                        read_text::<DeletedFields>(raw)?.into_object()?
                    }
                    ObjectBody::PendingText(raw) => {
                        read_text::<AnyObjectFields>(raw)?.into_object()?
                    }
                };
                Ok(WatchEvent::new(event_type, object))
            }
            (None, None) => Ok(WatchEvent::added(self.bare.into_object()?)),
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
#[derive(Default)]
struct AnyObjectFields {
    kind: Option<String>,
    api_version: Option<String>,
    metadata: ObjectMeta,
    spec: AnySpec,
    status: AnyStatus,
    /// CiliumEndpointSlice.
    namespace: String,
    endpoints: Vec<CoreCiliumEndpoint>,
    /// CiliumIdentity.
    security_labels: Labels,
}

impl AnyObjectFields {
    /// Reads the value of the top-level field `key`; fields the engine does
    /// not model (and `type`/`object`) are skipped.
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: Key,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match key {
            Key::Kind => self.kind = map.next_value()?,
            Key::ApiVersion => self.api_version = map.next_value()?,
            Key::Metadata => self.metadata = map.next_value()?,
            Key::Spec => self.spec = map.next_value()?,
            Key::Status => self.status = map.next_value()?,
            Key::Namespace => self.namespace = map.next_value()?,
            Key::Endpoints => self.endpoints = map.next_value()?,
            Key::SecurityLabels => self.security_labels = map.next_value()?,
            Key::Type | Key::Object | Key::Items | Key::Other => {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for AnyObjectFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AnyObjectFields, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = AnyObjectFields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Kubernetes object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyObjectFields, A::Error> {
                let mut o = AnyObjectFields::default();
                while let Some(key) = map.next_key::<Key>()? {
                    o.read_field(key, &mut map)?;
                }
                Ok(o)
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}

/// The object of a DELETED event: only what a delete needs — `kind` (and
/// `apiVersion`), `metadata.name`, `metadata.namespace`, and `metadata.uid`
/// and `metadata.resourceVersion` when they are strings — plus a
/// CiliumEndpointSlice's top-level `namespace` when it is a string. Every
/// other field is skipped unread, whatever its shape: a delete carries the
/// last state the API server had, which may be one the engine rejected.
#[derive(Deserialize, Default)]
#[serde(expecting = "a Kubernetes object")]
struct DeletedFields {
    #[serde(default)]
    kind: Option<String>,
    #[serde(rename = "apiVersion", default, deserialize_with = "string_or_none")]
    api_version: Option<String>,
    #[serde(default)]
    metadata: DeletedMeta,
    #[serde(default, deserialize_with = "string_or_none")]
    namespace: Option<String>,
}

/// `metadata` of a DELETED event's object (see [`DeletedFields`]).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", expecting = "object metadata")]
struct DeletedMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    uid: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    resource_version: Option<String>,
}

/// A string, or `None` for a value of any other JSON type.
fn string_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

impl DeletedFields {
    fn into_object(self) -> Result<Object> {
        let kind = resolve_kind(self.kind.as_deref(), self.api_version.as_deref())?;
        let m = self.metadata;
        let metadata = ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            uid: m.uid,
            resource_version: m.resource_version,
            ..Default::default()
        };
        Ok(match kind {
            Kind::Namespace => Object::Namespace(Namespace { metadata }),
            Kind::Node => Object::Node(Node {
                metadata,
                ..Default::default()
            }),
            Kind::CiliumNode => Object::CiliumNode(CiliumNode {
                metadata,
                ..Default::default()
            }),
            Kind::Pod => Object::Pod(Pod {
                metadata,
                ..Default::default()
            }),
            Kind::CiliumEndpoint => Object::CiliumEndpoint(CiliumEndpoint {
                metadata,
                ..Default::default()
            }),
            Kind::CiliumEndpointSlice => {
                let mut s = CiliumEndpointSlice::new("", self.namespace.unwrap_or_default());
                s.metadata = metadata;
                Object::CiliumEndpointSlice(s)
            }
            Kind::CiliumIdentity => {
                let mut i = CiliumIdentity::new("");
                i.metadata = metadata;
                Object::CiliumIdentity(i)
            }
        })
    }
}

/// The kind named by `kind`, checked against `apiVersion` when given.
fn resolve_kind(kind: Option<&str>, api_version: Option<&str>) -> Result<Kind> {
    let kind_str = kind.unwrap_or("");
    let Some(kind) = Kind::from_kind_str(kind_str) else {
        return Err(Error::new(
            ErrorCode::UnknownKind,
            "",
            "kind",
            format!("kind {kind_str:?} is not one the engine takes"),
        ));
    };
    if let Some(v) = api_version
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
    Ok(kind)
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

impl AnyObjectFields {
    fn into_object(self) -> Result<Object> {
        let o = self;
        let kind = resolve_kind(o.kind.as_deref(), o.api_version.as_deref())?;
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

// ---------------------------------------------------------------- parse errors

fn malformed(what: &str, e: &serde_json::Error) -> Error {
    Error::new(
        ErrorCode::MalformedInput,
        "",
        "",
        format!("{what} is not valid JSON of the expected shape: {e}"),
    )
}

/// The error for bytes that did not parse. A value of the wrong JSON type
/// (a data error) is located: the document is read again with its path
/// tracked, which names the object and the field, as validation errors do.
/// Only this error path pays for it; the code stays `malformed_input`.
fn parse_error(what: &str, bytes: &[u8], bare: bool, e: &serde_json::Error) -> Error {
    if e.classify() != serde_json::error::Category::Data {
        return malformed(what, e);
    }
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return malformed(what, e);
    };
    locate(&doc, bare, e.to_string()).unwrap_or_else(|| malformed(what, e))
}

/// Which object and field of `doc` (a watch event, or a bare object when
/// `bare`) holds a value of the wrong type.
fn locate(doc: &serde_json::Value, bare: bool, message: String) -> Option<Error> {
    use serde_json::Value;
    let top = doc.as_object()?;
    let envelope = !bare && (top.contains_key("type") || top.contains_key("object"));
    let object = if envelope {
        top.get("object").filter(|o| !o.is_null())
    } else {
        Some(doc)
    };
    let subject = object.map(describe_value).unwrap_or_default();
    let at = |field: String| {
        Some(Error::new(
            ErrorCode::MalformedInput,
            &subject,
            field,
            &message,
        ))
    };
    if envelope {
        if let Some(t) = top.get("type")
            && !t.is_string()
            && !t.is_null()
        {
            return at("type".into());
        }
        if let Some(o) = object {
            let path = if top.get("type").and_then(Value::as_str) == Some("DELETED") {
                error_path::<DeletedFields>(o)
            } else {
                error_path::<AnyObjectFields>(o)
            };
            if let Some(path) = path {
                return at(if path.is_empty() {
                    "object".into()
                } else {
                    path
                });
            }
        }
    }
    // A bare object, or fields of the event beside `type` and `object`.
    at(error_path::<AnyObjectFields>(doc)?)
}

/// The path of the first error reading `v` as `T`, `""` for the value
/// itself; `None` when it reads.
fn error_path<T: de::DeserializeOwned>(v: &serde_json::Value) -> Option<String> {
    serde_path_to_error::deserialize::<_, T>(v)
        .err()
        .map(|e| path_string(e.path()))
}

fn path_string(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." { String::new() } else { p }
}

/// Reads `v` as `T` with its path tracked: for an object that came before
/// its event's `type`.
fn read_tracked<T: de::DeserializeOwned>(v: &serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        Error::new(
            ErrorCode::MalformedInput,
            describe_value(v),
            path_string(e.path()),
            e.inner().to_string(),
        )
    })
}

/// Reads the text of an object that came before its event's `type` as
/// `T`; if it does not read, it is read again as a value with its path
/// tracked ([`read_tracked`]), for the error that names the field.
fn read_text<T: de::DeserializeOwned>(raw: &serde_json::value::RawValue) -> Result<T> {
    serde_json::from_str::<T>(raw.get()).or_else(|_| {
        let v: serde_json::Value =
            serde_json::from_str(raw.get()).map_err(|e| malformed("event", &e))?;
        read_tracked::<T>(&v)
    })
}

/// `Kind namespace/name` (as [`describe`] writes it) from raw JSON, with
/// the parts that are strings; without a name, the kind alone.
fn describe_value(v: &serde_json::Value) -> String {
    fn text(v: Option<&serde_json::Value>) -> &str {
        v.and_then(serde_json::Value::as_str).unwrap_or("")
    }
    let kind = text(v.get("kind"));
    let meta = v.get("metadata");
    let name = text(meta.and_then(|m| m.get("name")));
    let namespace = text(meta.and_then(|m| m.get("namespace")));
    let id = match (namespace.is_empty(), name.is_empty()) {
        (_, true) => String::new(),
        (true, false) => name.to_string(),
        (false, false) => format!("{namespace}/{name}"),
    };
    match (kind.is_empty(), id.is_empty()) {
        (_, true) => kind.to_string(),
        (true, false) => id,
        (false, false) => format!("{kind} {id}"),
    }
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

    /// An object before its event's `type` is read from its text as when
    /// the type comes first; a DELETED one leniently; a field of the wrong
    /// type is named as before.
    #[test]
    fn object_before_type_reads_as_type_first() {
        let object = r#"{"kind":"Pod","metadata":{"name":"a","namespace":"n","labels":{"app":"web"}},"spec":{"nodeName":"n1"},"status":{"podIPs":[{"ip":"10.0.0.1"}]}}"#;
        let first = format!(r#"{{"type":"MODIFIED","object":{object}}}"#);
        let second = format!(r#"{{"object":{object},"type":"MODIFIED"}}"#);
        let ev = WatchEvent::from_json(second.as_bytes()).unwrap();
        assert_eq!(ev, WatchEvent::from_json(first.as_bytes()).unwrap());
        assert_eq!(ev.event_type, EventType::Modified);
        let deleted = r#"{"object":{"kind":"Pod","metadata":{"name":"a","namespace":"n"},"spec":5},"type":"DELETED"}"#;
        let ev = WatchEvent::from_json(deleted.as_bytes()).unwrap();
        assert_eq!(ev.object.describe(), "Pod n/a");
        let bad = r#"{"object":{"kind":"Pod","metadata":{"name":"a","namespace":"n"},"spec":{"nodeName":5}},"type":"ADDED"}"#;
        let e = WatchEvent::from_json(bad.as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedInput);
        assert_eq!(
            (e.object.as_str(), e.field.as_str()),
            ("Pod n/a", "spec.nodeName")
        );
        let null = r#"{"object":null,"type":"ADDED"}"#;
        let e = WatchEvent::from_json(null.as_bytes()).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_str()),
            (ErrorCode::MissingField, "object")
        );
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
