//! Reading a watch event from JSON: the one-pass reader behind
//! [`WatchEvent::from_json`] (the event or bare object read into a union of
//! every modelled field, a DELETED object read leniently), and, on the error
//! path only, locating the object and field a wrong-typed value belongs to.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::super::*;
use super::{Kind, Object, WatchEvent};
use crate::error::{Error, ErrorCode, Result};

/// `{"type", "object"}`, or a bare object: every top-level field of both.
///
/// Read by hand rather than derived so that the object of a DELETED event is
/// read leniently ([`DeletedFields`]): the type is known before the object
/// in every watch stream (the API server and `kubectl` print `type` first).
/// When `object` comes first, its value is held as JSON until the type is
/// known (slower, and rare).
#[derive(Default)]
pub(super) struct EventOrObject<'de> {
    /// Inline (at most 24 bytes), as `kind` and `apiVersion` below: no
    /// allocation for the strings every event has.
    event_type: Option<CompactString>,
    object: Option<ObjectBody<'de>>,
    bare: AnyObjectFields,
    /// A top-level `items` field was read (the value may be a List).
    pub(super) has_items: bool,
    /// `object` came before `type` and was read as the object of an
    /// event that is not a DELETED ([`read_guessing`]).
    guessed: bool,
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
        d.deserialize_map(EventVisitor {
            guess_not_deleted: false,
        })
    }
}

/// Reads an event; see [`EventOrObject`] and [`read_guessing`].
struct EventVisitor {
    /// An `object` that comes before `type` is read as the object of an
    /// event that is not a DELETED (in place, one pass), not held as text.
    guess_not_deleted: bool,
}

impl<'de> Visitor<'de> for EventVisitor {
    type Value = EventOrObject<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a watch event or a Kubernetes object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventOrObject<'de>, A::Error> {
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
                        None if self.guess_not_deleted => {
                            ev.guessed = true;
                            map.next_value::<Option<AnyObjectFields>>()?
                                .map(ObjectBody::Full)
                        }
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

/// Reads an event in one pass over text that is valid UTF-8, or `None`:
/// the caller then reads it as before ([`EventOrObject`] from the bytes),
/// which gives the same event or the precise error.
///
/// Two things make this pass cheaper than that reading, and neither
/// changes what is accepted:
///
/// - The text is checked as UTF-8 once, a word at a time, and then read
///   as a `&str`, so serde_json does not check every string it reads. Bytes
///   that are not UTF-8 (which the other reading accepts inside a skipped
///   string) are left to it.
/// - An `object` that comes before `type` (every serializer that sorts
///   keys: `object` < `type`) is read in place as the object of an event
///   that is not a DELETED, instead of being held as text and read again
///   once the type is known. When the text ends with a DELETED type, or the
///   type read is DELETED after all, or anything fails (a DELETED's body may
///   not read as a full object; nesting one level deeper may reach
///   serde_json's depth limit), the guess is dropped (`None`). Otherwise the
///   object read is the one the held text would have given: the same
///   serde_json reading of the same bytes.
pub(super) fn read_guessing(bytes: &[u8]) -> Option<EventOrObject<'_>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let guess_not_deleted = !ends_with_deleted(text);
    let mut d = serde_json::Deserializer::from_str(text);
    let ev = d.deserialize_map(EventVisitor { guess_not_deleted }).ok()?;
    d.end().ok()?;
    if ev.guessed && ev.event_type.as_deref() == Some("DELETED") {
        return None;
    }
    Some(ev)
}

/// Whether `text` ends with the string `"DELETED"` and the closing brace:
/// a watch event whose type comes last is a DELETED.
fn ends_with_deleted(text: &str) -> bool {
    let t = text.trim_end();
    let t = t.strip_suffix('}').unwrap_or(t).trim_end();
    t.ends_with("\"DELETED\"")
}

impl EventOrObject<'_> {
    /// Reads an event from a decoded value: `type` first, then `object` as
    /// the type requires, then the fields of a bare object.
    pub(super) fn from_value(
        value: &serde_json::Value,
    ) -> Result<EventOrObject<'_>, serde_json::Error> {
        use serde_json::Value;
        let Some(map) = value.as_object() else {
            return EventOrObject::deserialize(value);
        };
        let event_type = match map.get("type") {
            Some(t) => Option::<CompactString>::deserialize(t)?,
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
            guessed: false,
        })
    }

    pub(super) fn into_event(self) -> Result<WatchEvent> {
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
pub(super) struct AnyObjectFields {
    kind: Option<CompactString>,
    api_version: Option<CompactString>,
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
    pub(super) fn into_object(self) -> Result<Object> {
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

pub(super) fn malformed(what: &str, e: &serde_json::Error) -> Error {
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
pub(super) fn parse_error(what: &str, bytes: &[u8], bare: bool, e: &serde_json::Error) -> Error {
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
pub(super) fn locate(doc: &serde_json::Value, bare: bool, message: String) -> Option<Error> {
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

    /// The reading without the one-pass guess: the bytes as they come.
    fn plain(bytes: &[u8]) -> Result<WatchEvent> {
        let ev: EventOrObject =
            serde_json::from_slice(bytes).map_err(|e| parse_error("event", bytes, false, &e))?;
        ev.into_event()
    }

    /// The one-pass reading gives the same event, or the same error, as the
    /// plain reading: for every order of `type` and `object`, DELETED bodies
    /// that do not read as objects, other types, no type, bytes that are not
    /// UTF-8 in a skipped string, and nesting at serde_json's depth limit.
    #[test]
    fn guessing_reads_as_the_plain_reading() {
        let cep = r#"{"apiVersion":"cilium.io/v2","kind":"CiliumEndpoint","metadata":{"name":"a","namespace":"ns"},"status":{"identity":{"id":1000},"networking":{"addressing":[{"ipv4":"10.0.0.1"}],"node":"192.168.0.1"}}}"#;
        let bad = r#"{"kind":"CiliumEndpoint","metadata":{"name":"a","namespace":"ns"},"status":{"identity":{"id":"x"}}}"#;
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for t in ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"] {
            for o in [cep, bad] {
                cases.push(format!(r#"{{"object":{o},"type":"{t}"}}"#).into_bytes());
                cases.push(format!(r#"{{"type":"{t}","object":{o}}}"#).into_bytes());
                cases.push(format!("{{\"object\":{o} , \"type\" : \"{t}\" }}\n").into_bytes());
                cases.push(format!(r#"{{"object":{o},"type":"{t}","x":1}}"#).into_bytes());
                cases.push(format!(r#"{{"object":{o},"type":"{t}","object":{cep}}}"#).into_bytes());
            }
            for n in [100, 125, 126, 127, 128, 200] {
                let o = format!(
                    r#"{{"kind":"CiliumEndpoint","metadata":{{"name":"a","namespace":"ns"}},"x":{}}}"#,
                    deep(n)
                );
                cases.push(format!(r#"{{"object":{o},"type":"{t}"}}"#).into_bytes());
            }
            let mut not_utf8 = format!(r#"{{"object":{cep},"type":"{t}","x":"?"}}"#).into_bytes();
            let at = not_utf8.iter().rposition(|&b| b == b'?').unwrap();
            not_utf8[at] = 0xff;
            cases.push(not_utf8.clone());
            let mut in_object = format!(r#"{{"object":{cep},"type":"{t}"}}"#).into_bytes();
            let at = in_object.windows(2).position(|w| w == b"ns").unwrap();
            in_object[at] = 0xff;
            cases.push(in_object);
        }
        cases.push(format!(r#"{{"object":{cep}}}"#).into_bytes());
        cases.push(cep.as_bytes().to_vec());
        cases.push(br#"{"object":null,"type":"ADDED"}"#.to_vec());
        cases.push(br#"{"object":{"kind":"Nope"},"type":"ADDED"}"#.to_vec());
        for c in &cases {
            let text = String::from_utf8_lossy(c);
            assert_eq!(WatchEvent::from_json(c), plain(c), "{text}");
            assert_eq!(
                WatchEvent::from_json_unless_items(c),
                serde_json::from_slice::<EventOrObject>(c)
                    .ok()
                    .and_then(|ev| ev.into_event().ok()),
                "{text}"
            );
        }
    }
}
