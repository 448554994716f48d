//! Watch events: every kind the engine takes ([`Object`], [`Kind`]), the
//! event ([`WatchEvent`]) and its JSON reader (`event/json.rs`), which reads a kubectl watch
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

use super::*;
use crate::error::Result;

pub(crate) mod borrowed;
mod json;
mod scan;
use json::{AnyObjectFields, EventOrObject, locate, malformed, parse_error, read_guessing};

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
        if let Some(ev) = read_guessing(bytes) {
            return ev.into_event();
        }
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
        let ev = match read_guessing(bytes) {
            Some(ev) => ev,
            None => serde_json::from_slice::<EventOrObject>(bytes).ok()?,
        };
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

/// The reading and checks [`Engine::apply_json`](crate::Engine::apply_json)
/// does before it applies an event, without an engine: the borrowed
/// reading (`event/borrowed.rs`), then a Pod's or CiliumEndpoint's input
/// checked and built (`endpoint/input.rs`), interning into this reader's
/// own tables as the engine does into its. For the benches' `read_borrowed`
/// row and `json_cost read`, which time what `apply_json` does up to the
/// engine's own apply.
#[doc(hidden)]
#[derive(Default)]
pub struct BorrowedReader {
    interner: crate::endpoint::DataInterner,
}

impl BorrowedReader {
    /// Reads and checks one event as `apply_json` does for `source`: true
    /// when it takes the borrowed path to the engine's apply (a valid Pod
    /// or CiliumEndpoint of that source, or a Namespace, Node or CiliumNode
    /// made into its owned event), false when `apply_json` would read it
    /// the owned way.
    pub fn read(&mut self, bytes: &[u8], source: crate::config::Source) -> bool {
        use crate::config::Source;
        use borrowed::{Borrowed, BorrowedKind};
        let mut p = Borrowed::default();
        match borrowed::read(bytes, &mut p) {
            Some(BorrowedKind::Pod) if source == Source::Pods => {
                let input = p.pod_input(&mut self.interner.strings);
                std::hint::black_box(&input);
                input.is_some()
            }
            Some(BorrowedKind::CiliumEndpoint) if source == Source::Ciliumendpoints => {
                let labels = p.identity_labels();
                let input = p.cep_input(&labels, &mut self.interner);
                std::hint::black_box(&input);
                input.is_some()
            }
            Some(BorrowedKind::Other(kind)) => {
                let event = p.event(kind);
                std::hint::black_box(&event);
                event.is_some()
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

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
