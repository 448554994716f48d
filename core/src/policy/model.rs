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
    Int(i64),
    Str(String),
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelectorRequirement {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

// ------------------------------------------------------ networking.k8s.io/v1

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NetworkPolicySpec,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    #[serde(default)]
    pub pod_selector: LabelSelector,
    /// `None` when absent: the types are then implied by the rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<NetworkPolicyIngressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<NetworkPolicyEgressRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicyIngressRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<NetworkPolicyPeer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicyEgressRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<NetworkPolicyPeer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPeer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpBlock {
    #[serde(default)]
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i64>,
}

// ---------------------------------------------------------------- cilium.io/v2

/// CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy (same shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumPolicy {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<CiliumRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specs: Vec<CiliumRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultDenyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_selector: Option<LabelSelector>,
    /// Host policies: not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<CiliumIngressRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_deny: Option<Vec<CiliumIngressRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<CiliumEgressRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_deny: Option<Vec<CiliumEgressRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_default_deny: Option<DefaultDenyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One ingress or ingressDeny rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumIngressRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_endpoints: Option<Vec<LabelSelector>>,
    #[serde(default, rename = "fromCIDR", skip_serializing_if = "Option::is_none")]
    pub from_cidr: Option<Vec<String>>,
    #[serde(
        default,
        rename = "fromCIDRSet",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_cidr_set: Option<Vec<CidrRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_entities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ports: Option<Vec<CiliumPortRule>>,
    // Recognized, not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_requires: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_groups: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_nodes: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmps: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Value>,
}

/// One egress or egressDeny rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumEgressRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_endpoints: Option<Vec<LabelSelector>>,
    #[serde(default, rename = "toCIDR", skip_serializing_if = "Option::is_none")]
    pub to_cidr: Option<Vec<String>>,
    #[serde(default, rename = "toCIDRSet", skip_serializing_if = "Option::is_none")]
    pub to_cidr_set: Option<Vec<CidrRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_entities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ports: Option<Vec<CiliumPortRule>>,
    // Recognized, not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_requires: Option<Value>,
    #[serde(default, rename = "toFQDNs", skip_serializing_if = "Option::is_none")]
    pub to_fqdns: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_services: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_groups: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_nodes: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmps: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CidrRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
    // Recognized, not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_group_ref: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_group_selector: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumPortRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<CiliumPortProtocol>,
    // Layer 7 and TLS: recognized, not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating_tls: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originating_tls: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_names: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumPortProtocol {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

// ---------------------------------------------------------------- any policy

/// The kind of a policy object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyKind {
    NetworkPolicy,
    CiliumNetworkPolicy,
    CiliumClusterwideNetworkPolicy,
}

impl PolicyKind {
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
    NetworkPolicy(NetworkPolicy),
    CiliumNetworkPolicy(CiliumPolicy),
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

    pub fn kind(&self) -> PolicyKind {
        match self {
            PolicyObject::NetworkPolicy(_) => PolicyKind::NetworkPolicy,
            PolicyObject::CiliumNetworkPolicy(_) => PolicyKind::CiliumNetworkPolicy,
            PolicyObject::CiliumClusterwideNetworkPolicy(_) => {
                PolicyKind::CiliumClusterwideNetworkPolicy
            }
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            PolicyObject::NetworkPolicy(p) => &p.metadata,
            PolicyObject::CiliumNetworkPolicy(p)
            | PolicyObject::CiliumClusterwideNetworkPolicy(p) => &p.metadata,
        }
    }
}
