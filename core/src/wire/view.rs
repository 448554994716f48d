//! Endpoint and slice views, and consumer changes.

use serde::{Deserialize, Serialize};

use crate::consumer::EndpointChange;
use crate::snapshot::{self, Snapshot};

/// An endpoint as a snapshot or a consumer change shows it:
///
/// ```json
/// {"namespace": "shop", "name": "cart-1", "slice": "ces-abc",
///  "identity": 1234, "ips": ["10.0.0.1"], "nodeIp": "192.168.0.1",
///  "encryptionKey": 0, "namedPorts": [{"name": "http", "port": 80,
///  "protocol": "TCP"}], "serviceAccount": "cart"}
/// ```
///
/// `nodeIp` and `serviceAccount` are `null` when unknown; `namedPorts` is
/// sorted by name then port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    /// Namespace.
    pub namespace: String,
    /// Endpoint (pod) name.
    pub name: String,
    /// The slice holding it (for a consumer: the current copy's slice).
    pub slice: String,
    /// Security identity.
    pub identity: u32,
    /// Addresses, IPv4 and IPv6, as text.
    pub ips: Vec<String>,
    /// The node's IP, or `null`.
    pub node_ip: Option<String>,
    /// IPsec/WireGuard key index (0: none).
    pub encryption_key: u8,
    /// Named ports.
    pub named_ports: Vec<NamedPort>,
    /// The pod's service account, or `null`.
    pub service_account: Option<String>,
}

/// One named port of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedPort {
    /// The port's name.
    pub name: String,
    /// The port number.
    pub port: u16,
    /// `TCP`, `UDP`, `SCTP`, ...
    pub protocol: String,
}

impl From<&snapshot::EndpointView> for EndpointView {
    fn from(e: &snapshot::EndpointView) -> EndpointView {
        EndpointView {
            namespace: e.namespace.to_string(),
            name: e.name.to_string(),
            slice: e.slice.to_string(),
            identity: e.identity,
            ips: e.ips().map(|ip| ip.to_string()).collect(),
            node_ip: e.node_ip().map(|ip| ip.to_string()),
            encryption_key: e.encryption_key(),
            named_ports: e
                .data
                .named_ports
                .iter()
                .map(|p| NamedPort {
                    name: p.name.to_string(),
                    port: p.port,
                    protocol: p.protocol.as_str().to_string(),
                })
                .collect(),
            service_account: e.data.service_account.as_deref().map(str::to_string),
        }
    }
}

/// A slice as a snapshot shows it: `{"name", "namespace", "endpoints"}`,
/// the endpoint names sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceView {
    /// Slice name.
    pub name: String,
    /// Namespace of its endpoints.
    pub namespace: String,
    /// Endpoint names, sorted.
    pub endpoints: Vec<String>,
}

impl From<&snapshot::SliceView> for SliceView {
    fn from(s: &snapshot::SliceView) -> SliceView {
        SliceView {
            name: s.name.to_string(),
            namespace: s.namespace.to_string(),
            endpoints: s.endpoints.iter().map(|e| e.to_string()).collect(),
        }
    }
}

/// The endpoints of a snapshot, sorted by namespace and name; only those
/// of `namespace` when given.
pub fn endpoint_views(s: &Snapshot, namespace: Option<&str>) -> Vec<EndpointView> {
    let mut eps: Vec<&snapshot::EndpointView> = s
        .endpoints()
        .map(|e| &**e)
        .filter(|e| namespace.is_none_or(|ns| &*e.namespace == ns))
        .collect();
    eps.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    eps.into_iter().map(EndpointView::from).collect()
}

/// The slices of a snapshot, sorted by name; only those of `namespace`
/// when given.
pub fn slice_views(s: &Snapshot, namespace: Option<&str>) -> Vec<SliceView> {
    let mut slices: Vec<&snapshot::SliceView> = match namespace {
        None => s.slices().map(|sl| &**sl).collect(),
        Some(ns) => s
            .slices_in_namespace(ns)
            .filter_map(|name| s.slice(name))
            .map(|sl| &**sl)
            .collect(),
    };
    slices.sort_by(|a, b| a.name.cmp(&b.name));
    slices.into_iter().map(SliceView::from).collect()
}

/// What a consumer change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    /// Added (`old` is `null`) or changed.
    Upsert,
    /// Removed (`new` is `null`).
    Delete,
}

/// One endpoint change of the consumer (DESIGN.md §7):
///
/// ```json
/// {"index": 0, "op": "upsert", "old": null, "new": {endpoint view}}
/// {"index": 2, "op": "delete", "old": {endpoint view}, "new": null}
/// ```
///
/// `index` is the 0-based index of the event that caused it in a batch
/// (as in [`Rejected`](crate::wire::Rejected)), `null` for a single apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The event's index in a batch; `null` outside a batch.
    pub index: Option<usize>,
    /// `upsert` or `delete`.
    pub op: ChangeOp,
    /// The endpoint before (`null` for an add).
    pub old: Option<EndpointView>,
    /// The endpoint after (`null` for a delete).
    pub new: Option<EndpointView>,
}

impl Change {
    /// The wire form of a consumer change, with its event's batch index.
    pub fn new(c: &EndpointChange, index: Option<usize>) -> Change {
        match c {
            EndpointChange::Upsert { old, new } => Change {
                index,
                op: ChangeOp::Upsert,
                old: old.as_deref().map(EndpointView::from),
                new: Some(EndpointView::from(&**new)),
            },
            EndpointChange::Delete { old } => Change {
                index,
                op: ChangeOp::Delete,
                old: Some(EndpointView::from(&**old)),
                new: None,
            },
        }
    }
}
