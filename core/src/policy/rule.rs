//! The engine's internal form of a policy: validated rules with selectors,
//! CIDRs, entities and port matches, independent of the object kind.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::cidr::CidrMatch;
use super::model::PolicyKind;
use super::selector::Selector;

/// Transport protocol of a flow or a port rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// `TCP`, `UDP`, `SCTP` (case-insensitive).
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// `TCP`, `UDP` or `SCTP`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Traffic direction, from the point of view of the selected endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Traffic into the selected endpoint.
    Ingress,
    /// Traffic out of the selected endpoint.
    Egress,
}

impl Direction {
    /// 0 for ingress, 1 for egress (an index into per-direction arrays).
    pub const fn index(self) -> usize {
        match self {
            Direction::Ingress => 0,
            Direction::Egress => 1,
        }
    }
}

/// Which ports of a rule a flow's destination port must fall in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortSel {
    /// Inclusive range; `0..=65535` is every port.
    Range(u16, u16),
    /// A named container port of the destination endpoint.
    Named(String),
}

/// One port entry of a rule. `protocol: None` is any protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortMatch {
    pub protocol: Option<Protocol>,
    pub port: PortSel,
}

impl PortMatch {
    /// Whether a flow to `port`/`protocol` on a destination with these
    /// named ports matches.
    #[inline]
    pub fn matches(&self, port: u16, protocol: Protocol, dst_named: &[NamedPort]) -> bool {
        if self.protocol.is_some_and(|p| p != protocol) {
            return false;
        }
        match &self.port {
            PortSel::Range(lo, hi) => *lo <= port && port <= *hi,
            PortSel::Named(name) => dst_named
                .iter()
                .any(|n| n.port == port && n.protocol == protocol && n.name == *name),
        }
    }
}

/// A named container port of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NamedPort {
    /// The port's name.
    pub name: String,
    /// The port's number.
    pub port: u16,
    /// The port's protocol.
    pub protocol: Protocol,
}

impl NamedPort {
    /// A named port.
    pub fn new(name: &str, port: u16, protocol: Protocol) -> Self {
        NamedPort {
            name: name.to_string(),
            port,
            protocol,
        }
    }
}

impl From<(String, u16, Protocol)> for NamedPort {
    fn from((name, port, protocol): (String, u16, Protocol)) -> Self {
        NamedPort {
            name,
            port,
            protocol,
        }
    }
}

/// A Cilium entity (`fromEntities`/`toEntities`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    World,
    Cluster,
    Host,
    RemoteNode,
    KubeApiserver,
    Init,
    Health,
    Unmanaged,
    Ingress,
    All,
}

impl Entity {
    pub fn parse(s: &str) -> Option<Entity> {
        Some(match s {
            "world" | "world-ipv4" | "world-ipv6" => Entity::World,
            "cluster" => Entity::Cluster,
            "host" => Entity::Host,
            "remote-node" => Entity::RemoteNode,
            "kube-apiserver" => Entity::KubeApiserver,
            "init" => Entity::Init,
            "health" => Entity::Health,
            "unmanaged" => Entity::Unmanaged,
            "ingress" => Entity::Ingress,
            "all" => Entity::All,
            _ => return None,
        })
    }
}

/// Who a rule is about, on the other side of the flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerMatch {
    /// Identities selected by a selector.
    Selector(Selector),
    /// Addresses inside a prefix (minus exceptions).
    Cidr(CidrMatch),
    /// Anything: endpoints, nodes and outside addresses.
    Any,
}

/// Names the rule (or the default deny) that decided a direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleRef {
    /// The kind of the policy holding the rule.
    pub kind: PolicyKind,
    /// Empty for cluster-wide policies.
    pub namespace: String,
    /// The policy's name.
    pub name: String,
    /// The direction the rule is for.
    pub direction: Direction,
    /// What the rule did.
    pub effect: RuleEffect,
    /// Position of the rule in its list; `None` for a default deny.
    pub index: Option<usize>,
    /// JSON path of the rule, e.g. `spec.ingressDeny[0]`; for a default
    /// deny the path of the section that isolated the endpoint.
    pub path: String,
}

/// What a rule did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleEffect {
    /// An allow rule allowed the flow.
    Allow,
    /// A deny rule denied the flow.
    Deny,
    /// The direction was isolated and no rule allowed the flow.
    DefaultDeny,
}

/// One validated rule of one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRule {
    pub direction: Direction,
    pub deny: bool,
    /// An empty list matches nobody.
    pub peers: Vec<PeerMatch>,
    /// An empty list is every port and protocol.
    pub ports: Vec<PortMatch>,
    pub rule: RuleRef,
}

/// One subject of a policy (a `spec` or one of `specs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledPart {
    pub subject: Selector,
    /// Per direction (index [`Direction::index`]): `Some(path)` when this
    /// part isolates (default-denies) the direction.
    pub isolates: [Option<String>; 2],
    pub rules: Vec<CompiledRule>,
}

/// A validated policy in the engine's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledPolicy {
    pub key: PolicyKey,
    pub parts: Vec<CompiledPart>,
}

/// Identifies a policy object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyKey {
    /// The policy's kind.
    pub kind: PolicyKind,
    /// Empty for cluster-wide policies.
    pub namespace: String,
    /// The policy's name.
    pub name: String,
}

impl PolicyKey {
    /// The key of a policy; `namespace` is empty for cluster-wide ones.
    pub fn new(kind: PolicyKind, namespace: &str, name: &str) -> Self {
        PolicyKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for PolicyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind.as_str(), self.name)
        } else {
            write!(f, "{} {}/{}", self.kind.as_str(), self.namespace, self.name)
        }
    }
}
