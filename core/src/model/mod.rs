//! The Kubernetes objects the engine reads and writes, in the JSON shape of
//! the API server. The watch events that carry them, and how their JSON is
//! read, are in [`event`] (re-exported here).
//!
//! Only the fields the engine uses are modelled; unknown fields are ignored
//! on input, as the API server's clients do. Integers that the engine
//! validates (ports, identity numbers, keys) are kept as `i64` so that an
//! out-of-range value reaches validation and gets a precise error instead of
//! a generic parse failure. A value of the wrong JSON type is a
//! `malformed_input` error that names the object and the field (found by
//! reading the document again on the error path only).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// A string kept inline when it is at most 24 bytes (most names and
/// every IPv4 address), on the heap otherwise; it reads, compares and
/// serializes as a `String` does. The slice entry fields use it so that
/// rendering and reading an entry allocate nothing for its usual strings.
pub use compact_str::CompactString;

pub mod event;
pub(crate) use event::describe;
pub use event::{EventType, Kind, Object, WatchEvent};

/// Label or annotation map: key → value, sorted by key.
pub type Labels = BTreeMap<String, String>;

fn is_false(b: &bool) -> bool {
    !*b
}

/// An entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// The owner's `apiVersion`.
    #[serde(default)]
    pub api_version: String,
    /// The owner's `kind`.
    #[serde(default)]
    pub kind: String,
    /// The owner's name.
    #[serde(default)]
    pub name: String,
    /// The owner's uid.
    #[serde(default)]
    pub uid: String,
}

/// `metadata` of any object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `namespace` (`None` for cluster-scoped objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `uid`, set by the API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `resourceVersion`, set by the API server on every change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// `labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: Labels,
    /// `annotations`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: Labels,
    /// `deletionTimestamp`: set when the object is being deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    /// `ownerReferences`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
}

impl ObjectMeta {
    /// Metadata with only a name.
    pub fn named(name: impl Into<String>) -> Self {
        ObjectMeta {
            name: name.into(),
            ..Default::default()
        }
    }
}

// ---------------------------------------------------------------- core/v1

/// A `v1` Namespace: its labels feed pod identities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

/// One entry of a Node's `status.addresses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddress {
    /// `type`, e.g. `InternalIP`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// `address`.
    #[serde(default)]
    pub address: String,
}

/// A Node's `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// `addresses`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
}

/// A `v1` Node: its addresses give the node IP of its pods.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `status`.
    #[serde(default)]
    pub status: NodeStatus,
}

/// One entry of a container's `ports`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// `name`: named ports are what policies and slices refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `containerPort`.
    #[serde(default)]
    pub container_port: i64,
    /// `protocol` (absent: TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// One entry of a pod's `spec.containers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `ports`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
}

/// A Pod's `spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// `nodeName`: the node the pod is scheduled on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// `serviceAccountName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// `hostNetwork`: such pods get no endpoint.
    #[serde(default, skip_serializing_if = "is_false")]
    pub host_network: bool,
    /// `containers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
}

/// One entry of a pod's `status.podIPs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodIp {
    /// `ip`.
    #[serde(default)]
    pub ip: String,
}

/// A Pod's `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// `phase`, e.g. `Running`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `podIP`.
    #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// `podIPs` (at most one per family).
    #[serde(default, rename = "podIPs", skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<PodIp>,
    /// `hostIP`.
    #[serde(default, rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

/// A `v1` Pod: in the `pods` source, one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: PodSpec,
    /// `status`.
    #[serde(default)]
    pub status: PodStatus,
}

// ---------------------------------------------------------------- cilium.io

/// `encryption`: the transparent-encryption key index of a node or endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionSpec {
    /// `key` (0: none).
    #[serde(default)]
    pub key: i64,
}

/// One entry of a CiliumNode's `spec.addresses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumNodeAddress {
    /// `type`, e.g. `InternalIP`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// `ip`.
    #[serde(default)]
    pub ip: String,
}

/// A CiliumNode's `spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumNodeSpec {
    /// `addresses`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<CiliumNodeAddress>,
    /// `encryption`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionSpec>,
}

/// A `cilium.io/v2` CiliumNode: node IP and encryption key of its pods.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumNode {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: CiliumNodeSpec,
}

/// `{ipv4, ipv6}`: one address pair of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    /// `ipv4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<CompactString>,
    /// `ipv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<CompactString>,
}

/// `addressing` of an endpoint: its address pairs, the usual single pair
/// held inline (it serializes as a JSON array, as a `Vec` does).
pub type AddressPairs = SmallVec<[AddressPair; 1]>;

/// `networking` of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointNetworking {
    /// `addressing`: the endpoint's address pairs.
    #[serde(default)]
    pub addressing: AddressPairs,
    /// `node`: the IP of the node the endpoint runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<CompactString>,
}

/// `{name, port, protocol}`: a named layer-4 port of an endpoint, raw, as
/// the API server stores it in a CiliumEndpoint's `status.named-ports` and
/// a slice entry's `named-ports` (any integer, any string, so that a reader
/// can name the bad field). Read by the slice entry codec into the
/// validated port entry (`endpoint::PortEntry`, internal).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NamedPort {
    /// `name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `port`.
    #[serde(default)]
    pub port: i64,
    /// `protocol`: `TCP`, `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
}

/// `identity` of a CiliumEndpoint: its security identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointIdentity {
    /// `id`: the identity number.
    #[serde(default)]
    pub id: i64,
    /// `labels`: the security labels, `source:key=value`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// A CiliumEndpoint's `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumEndpointStatus {
    /// `identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<EndpointIdentity>,
    /// `networking`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<EndpointNetworking>,
    /// `encryption`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionSpec>,
    /// `named-ports`.
    #[serde(default, rename = "named-ports", skip_serializing_if = "Vec::is_empty")]
    pub named_ports: Vec<NamedPort>,
    #[serde(
        default,
        rename = "service-account",
        skip_serializing_if = "Option::is_none"
    )]
    /// `service-account`.
    pub service_account: Option<String>,
}

/// A `cilium.io/v2` CiliumEndpoint: in the `ciliumendpoints` source, one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumEndpoint {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `status`.
    #[serde(default)]
    pub status: CiliumEndpointStatus,
}

/// One endpoint inside a CiliumEndpointSlice (Cilium's CoreCiliumEndpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreCiliumEndpoint {
    /// `name`: the endpoint's name (its namespace is the slice's).
    #[serde(default)]
    pub name: CompactString,
    /// `id`: the security identity number.
    #[serde(default)]
    pub id: i64,
    /// `networking`.
    #[serde(default)]
    pub networking: EndpointNetworking,
    /// `encryption`.
    #[serde(default)]
    pub encryption: EncryptionSpec,
    /// `named-ports`.
    #[serde(default, rename = "named-ports")]
    pub named_ports: Vec<NamedPort>,
    #[serde(
        default,
        rename = "service-account",
        skip_serializing_if = "Option::is_none"
    )]
    /// `service-account`.
    pub service_account: Option<String>,
}

/// A `cilium.io/v2alpha1` CiliumEndpointSlice: endpoints of one namespace, grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumEndpointSlice {
    /// `apiVersion` (`cilium.io/v2alpha1` when absent).
    #[serde(rename = "apiVersion", default = "ces_api_version")]
    pub api_version: String,
    /// `kind` (`CiliumEndpointSlice` when absent).
    #[serde(default = "ces_kind")]
    pub kind: String,
    /// `metadata` (cluster-scoped: no namespace).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `namespace`: the namespace of every endpoint in the slice.
    #[serde(default)]
    pub namespace: String,
    /// `endpoints`.
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

/// A `cilium.io/v2` CiliumIdentity: the labels behind a security identity number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiliumIdentity {
    /// `apiVersion` (`cilium.io/v2` when absent).
    #[serde(rename = "apiVersion", default = "cid_api_version")]
    pub api_version: String,
    /// `kind` (`CiliumIdentity` when absent).
    #[serde(default = "cid_kind")]
    pub kind: String,
    /// `metadata`: the name is the identity number.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `source:key` → value; the source of truth for the identity's labels.
    #[serde(default, rename = "security-labels")]
    pub security_labels: Labels,
}

impl CiliumEndpointSlice {
    /// An empty slice with this name and namespace.
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
    /// An identity with this name (its number) and no labels.
    pub fn new(name: impl Into<String>) -> Self {
        CiliumIdentity {
            api_version: cid_api_version(),
            kind: cid_kind(),
            metadata: ObjectMeta::named(name),
            security_labels: Labels::new(),
        }
    }
}
