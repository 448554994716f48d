//! Serde types for the policy objects the engine reads, layers 3 and 4:
//! `networking.k8s.io/v1` NetworkPolicy and `cilium.io/v2`
//! CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy.
//!
//! Fields the engine recognizes but does not evaluate (layer 7, FQDN,
//! services, groups, ICMP, authentication, nodes, ...) are kept as raw JSON
//! so that validation can name them in an `UnsupportedPolicy` error instead
//! of dropping them silently. Unknown fields are ignored, as the API
//! server's clients do. Integers are `i64` so that out-of-range values reach
//! validation and get a precise error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorCode, Result};
use crate::model::ObjectMeta;

/// `intstr.IntOrString`: a port number or a named port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A port number.
    Int(i64),
    /// A port name.
    Str(String),
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// `matchLabels`: each key must have this value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`: each requirement must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` requirement of a label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelectorRequirement {
    /// The label key.
    #[serde(default)]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[serde(default)]
    pub operator: String,
    /// The values for `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

// ------------------------------------------------------ networking.k8s.io/v1

/// A `networking.k8s.io/v1` NetworkPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    /// `apiVersion`.
    #[serde(default)]
    pub api_version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// `metadata` (name, namespace, labels).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: NetworkPolicySpec,
}

/// The `spec` of a NetworkPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// `podSelector`: the pods the policy applies to (empty: all in its namespace).
    #[serde(default)]
    pub pod_selector: LabelSelector,
    /// `None` when absent: the types are then implied by the rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_types: Option<Vec<String>>,
    /// `ingress`: the allow rules for incoming traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<NetworkPolicyIngressRule>,
    /// `egress`: the allow rules for outgoing traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<NetworkPolicyEgressRule>,
}

/// One NetworkPolicy ingress rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicyIngressRule {
    /// `from`: the allowed sources (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<NetworkPolicyPeer>,
    /// `ports`: the allowed destination ports (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
}

/// One NetworkPolicy egress rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicyEgressRule {
    /// `to`: the allowed destinations (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<NetworkPolicyPeer>,
    /// `ports`: the allowed destination ports (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
}

/// One peer of a NetworkPolicy rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPeer {
    /// `podSelector`: pods selected by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// `namespaceSelector`: namespaces selected by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// `ipBlock`: an address range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

/// An `ipBlock`: a CIDR with exceptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpBlock {
    /// `cidr`.
    #[serde(default)]
    pub cidr: String,
    /// `except`: CIDRs inside `cidr` left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// One port of a NetworkPolicy rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPort {
    /// `protocol`: `TCP` (default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `port`: a number or a named port (absent: every port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// `endPort`: the end of a port range starting at `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i64>,
}

// ---------------------------------------------------------------- cilium.io/v2

/// CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy (same shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumPolicy {
    /// `apiVersion`.
    #[serde(default)]
    pub api_version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// `metadata` (name, namespace, labels).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`: one rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<CiliumRule>,
    /// `specs`: more rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specs: Vec<CiliumRule>,
}

/// `enableDefaultDeny`: whether a rule isolates its endpoints per direction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultDenyConfig {
    /// Ingress default deny (absent: on when the rule has `ingress` or `ingressDeny` rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<bool>,
    /// Egress default deny (absent: on when the rule has `egress` or `egressDeny` rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<bool>,
}

/// One rule of a Cilium policy (`spec` or an item of `specs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumRule {
    /// `endpointSelector`: the endpoints the rule applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_selector: Option<LabelSelector>,
    /// Host policies: not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<Value>,
    /// `ingress`: allow rules for incoming traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<CiliumIngressRule>>,
    /// `ingressDeny`: deny rules for incoming traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_deny: Option<Vec<CiliumIngressRule>>,
    /// `egress`: allow rules for outgoing traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<CiliumEgressRule>>,
    /// `egressDeny`: deny rules for outgoing traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_deny: Option<Vec<CiliumEgressRule>>,
    /// `enableDefaultDeny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_default_deny: Option<DefaultDenyConfig>,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One ingress or ingressDeny rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumIngressRule {
    /// `fromEndpoints`: sources selected by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_endpoints: Option<Vec<LabelSelector>>,
    /// `fromCIDR`: source address ranges.
    #[serde(default, rename = "fromCIDR", skip_serializing_if = "Option::is_none")]
    pub from_cidr: Option<Vec<String>>,
    #[serde(
        default,
        rename = "fromCIDRSet",
        skip_serializing_if = "Option::is_none"
    )]
    /// `fromCIDRSet`: source address ranges with exceptions.
    pub from_cidr_set: Option<Vec<CidrRule>>,
    /// `fromEntities`: sources by entity (`world`, `cluster`, `host`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_entities: Option<Vec<String>>,
    /// `toPorts`: the destination ports (absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ports: Option<Vec<CiliumPortRule>>,
    // Recognized, not evaluated.
    /// `fromRequires`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_requires: Option<Value>,
    /// `fromGroups`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_groups: Option<Value>,
    /// `fromNodes`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_nodes: Option<Value>,
    /// `icmps`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmps: Option<Value>,
    /// `authentication`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Value>,
}

/// One egress or egressDeny rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumEgressRule {
    /// `toEndpoints`: destinations selected by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_endpoints: Option<Vec<LabelSelector>>,
    /// `toCIDR`: destination address ranges.
    #[serde(default, rename = "toCIDR", skip_serializing_if = "Option::is_none")]
    pub to_cidr: Option<Vec<String>>,
    /// `toCIDRSet`: destination address ranges with exceptions.
    #[serde(default, rename = "toCIDRSet", skip_serializing_if = "Option::is_none")]
    pub to_cidr_set: Option<Vec<CidrRule>>,
    /// `toEntities`: destinations by entity (`world`, `cluster`, `host`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_entities: Option<Vec<String>>,
    /// `toPorts`: the destination ports (absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ports: Option<Vec<CiliumPortRule>>,
    // Recognized, not evaluated.
    /// `toRequires`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_requires: Option<Value>,
    /// `toFQDNs`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, rename = "toFQDNs", skip_serializing_if = "Option::is_none")]
    pub to_fqdns: Option<Value>,
    /// `toServices`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_services: Option<Value>,
    /// `toGroups`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_groups: Option<Value>,
    /// `toNodes`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_nodes: Option<Value>,
    /// `icmps`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmps: Option<Value>,
    /// `authentication`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Value>,
}

/// One item of `fromCIDRSet` / `toCIDRSet`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CidrRule {
    /// `cidr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// `except`: CIDRs inside `cidr` left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
    // Recognized, not evaluated.
    /// `cidrGroupRef`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_group_ref: Option<Value>,
    /// `cidrGroupSelector`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_group_selector: Option<Value>,
}

/// One item of `toPorts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumPortRule {
    /// `ports`: the ports and protocols.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<CiliumPortProtocol>,
    // Layer 7 and TLS: recognized, not evaluated.
    /// `rules` (layer 7). Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Value>,
    /// `terminatingTLS`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating_tls: Option<Value>,
    /// `originatingTLS`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originating_tls: Option<Value>,
    /// `serverNames`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_names: Option<Value>,
    /// `listener`. Recognized, not evaluated: a policy using it is `UnsupportedPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<Value>,
}

/// One port of a Cilium port rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumPortProtocol {
    /// `port`: a number or a named port (absent or 0: every port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// `endPort`: the end of a port range starting at `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i64>,
    /// `protocol`: `TCP`, `UDP`, `SCTP` or `ANY` (absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

// ---------------------------------------------------------------- any policy

/// The kind of a policy object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyKind {
    /// `networking.k8s.io/v1` NetworkPolicy.
    NetworkPolicy,
    /// `cilium.io/v2` CiliumNetworkPolicy (namespaced).
    CiliumNetworkPolicy,
    /// `cilium.io/v2` CiliumClusterwideNetworkPolicy.
    CiliumClusterwideNetworkPolicy,
}

impl PolicyKind {
    /// The kind's name, e.g. `NetworkPolicy`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PolicyKind::NetworkPolicy => "NetworkPolicy",
            PolicyKind::CiliumNetworkPolicy => "CiliumNetworkPolicy",
            PolicyKind::CiliumClusterwideNetworkPolicy => "CiliumClusterwideNetworkPolicy",
        }
    }
}

/// A policy object of any supported kind.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyObject {
    /// A NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
    /// A CiliumNetworkPolicy.
    CiliumNetworkPolicy(CiliumPolicy),
    /// A CiliumClusterwideNetworkPolicy.
    CiliumClusterwideNetworkPolicy(CiliumPolicy),
}

impl PolicyObject {
    /// Reads a policy from decoded JSON or YAML, dispatching on `kind`.
    pub fn from_value(value: &Value) -> Result<PolicyObject> {
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let malformed = |e: serde_json::Error| {
            Error::new(
                ErrorCode::InvalidPolicy,
                format!("{kind} {name}"),
                "",
                format!("not a valid {kind}: {e}"),
            )
        };
        match (kind, api_version) {
            ("NetworkPolicy", "networking.k8s.io/v1" | "") => serde_json::from_value(value.clone())
                .map(PolicyObject::NetworkPolicy)
                .map_err(malformed),
            ("CiliumNetworkPolicy", "cilium.io/v2" | "") => serde_json::from_value(value.clone())
                .map(PolicyObject::CiliumNetworkPolicy)
                .map_err(malformed),
            ("CiliumClusterwideNetworkPolicy", "cilium.io/v2" | "") => {
                serde_json::from_value(value.clone())
                    .map(PolicyObject::CiliumClusterwideNetworkPolicy)
                    .map_err(malformed)
            }
            _ => Err(Error::new(
                ErrorCode::UnknownKind,
                format!("{kind} {name}"),
                "kind",
                format!("not a policy kind the engine takes: {api_version} {kind}"),
            )),
        }
    }

    /// Reads every policy in a document: a single policy, a `List` (or
    /// `*List`) with `items`, or a watch event `{"type", "object"}`.
    /// Returns the policies with the watch event type (`None` outside a
    /// watch stream), in document order.
    pub fn list_from_value(value: &Value) -> Result<Vec<(Option<String>, PolicyObject)>> {
        if let (Some(t), Some(obj)) = (
            value.get("type").and_then(Value::as_str),
            value.get("object"),
        ) {
            return Ok(vec![(Some(t.to_string()), PolicyObject::from_value(obj)?)]);
        }
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind == "List" || kind.ends_with("List") {
            let items = value.get("items").and_then(Value::as_array);
            let mut out = Vec::new();
            for (i, item) in items.into_iter().flatten().enumerate() {
                let p = PolicyObject::from_value(item).map_err(|mut e| {
                    e.field = if e.field.is_empty() {
                        format!("items[{i}]")
                    } else {
                        format!("items[{i}].{}", e.field)
                    };
                    e
                })?;
                out.push((None, p));
            }
            return Ok(out);
        }
        Ok(vec![(None, PolicyObject::from_value(value)?)])
    }

    /// The object's kind.
    pub fn kind(&self) -> PolicyKind {
        match self {
            PolicyObject::NetworkPolicy(_) => PolicyKind::NetworkPolicy,
            PolicyObject::CiliumNetworkPolicy(_) => PolicyKind::CiliumNetworkPolicy,
            PolicyObject::CiliumClusterwideNetworkPolicy(_) => {
                PolicyKind::CiliumClusterwideNetworkPolicy
            }
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            PolicyObject::NetworkPolicy(p) => &p.metadata,
            PolicyObject::CiliumNetworkPolicy(p)
            | PolicyObject::CiliumClusterwideNetworkPolicy(p) => &p.metadata,
        }
    }
}
