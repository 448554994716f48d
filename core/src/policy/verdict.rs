//! Flows, verdicts, the reachability matrix and verdict events.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::compute::{Decision, DecisionReason};
use super::rule::{Protocol, RuleRef};

/// One side of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    /// An endpoint by namespace and name.
    Endpoint {
        /// The endpoint's namespace.
        namespace: String,
        /// The endpoint's name.
        name: String,
    },
    /// An address: resolves to the endpoint or node that owns it, if any.
    Ip(IpAddr),
}

impl Peer {
    /// An endpoint peer by namespace and name.
    pub fn endpoint(namespace: &str, name: &str) -> Peer {
        Peer::Endpoint {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// `namespace/name` or an IP address.
    pub fn parse(s: &str) -> Option<Peer> {
        if let Ok(ip) = s.trim().parse::<IpAddr>() {
            return Some(Peer::Ip(ip));
        }
        let (ns, name) = s.split_once('/')?;
        if ns.is_empty() || name.is_empty() || name.contains('/') {
            return None;
        }
        Some(Peer::endpoint(ns, name))
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Endpoint { namespace, name } => write!(f, "{namespace}/{name}"),
            Peer::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A destination port: a number or a named port of the destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    /// A port number.
    Number(u16),
    /// A named port, resolved on the destination.
    Name(String),
}

impl PortRef {
    /// A number if `s` is one, else a name.
    pub fn parse(s: &str) -> PortRef {
        match s.trim().parse::<u16>() {
            Ok(n) => PortRef::Number(n),
            Err(_) => PortRef::Name(s.trim().to_string()),
        }
    }
}

impl From<u16> for PortRef {
    fn from(n: u16) -> Self {
        PortRef::Number(n)
    }
}

impl From<&str> for PortRef {
    fn from(s: &str) -> Self {
        PortRef::parse(s)
    }
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(s) => f.write_str(s),
        }
    }
}

/// A flow to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flow {
    /// The source.
    pub from: Peer,
    /// The destination.
    pub to: Peer,
    /// The destination port.
    pub port: PortRef,
    /// The protocol.
    pub protocol: Protocol,
}

impl Flow {
    /// A flow from `from` to `to` on a port and protocol.
    pub fn new(from: Peer, to: Peer, port: impl Into<PortRef>, protocol: Protocol) -> Flow {
        Flow {
            from,
            to,
            port: port.into(),
            protocol,
        }
    }
}

/// The decision of one direction (source egress or destination ingress).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DirectionDecision {
    /// What the direction decided.
    pub decision: Decision,
    /// Why.
    pub reason: DecisionReason,
}

/// What the policies decide for a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The flow's decision: both directions must allow.
    #[serde(rename = "verdict")]
    pub decision: Decision,
    /// The source's egress decision.
    pub egress: DirectionDecision,
    /// The destination's ingress decision.
    pub ingress: DirectionDecision,
    /// The rules behind the decision: the allow rules of both directions
    /// when allowed, else those of the direction(s) that denied/audited.
    pub deciding: Vec<RuleRef>,
}

/// Which evaluated flows are recorded as verdict events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictEventFilter {
    /// No flow is recorded.
    #[default]
    None,
    /// Denied and audited flows are recorded.
    DeniedAndAudit,
    /// Every flow is recorded.
    All,
}

impl VerdictEventFilter {
    /// Whether a flow with this decision is recorded.
    pub fn records(self, d: Decision) -> bool {
        match self {
            VerdictEventFilter::None => false,
            VerdictEventFilter::DeniedAndAudit => d != Decision::Allow,
            VerdictEventFilter::All => true,
        }
    }
}

/// A record of one evaluated flow, for audit logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictEvent {
    /// Sequence number of the evaluation (the engine reads no clock).
    pub seq: u64,
    /// The flow evaluated.
    pub flow: Flow,
    /// The flow's decision.
    #[serde(rename = "verdict")]
    pub decision: Decision,
    /// The rules behind the decision (as in [`Verdict::deciding`]).
    pub deciding: Vec<RuleRef>,
}

/// A reachability matrix: rows are sources, columns destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    /// The peers, in row and column order.
    pub peers: Vec<Peer>,
    /// The destination port of every cell.
    pub port: PortRef,
    /// The protocol of every cell.
    pub protocol: Protocol,
    /// `cells[from][to]`; `None` when the probe could not be evaluated
    /// (e.g. a named port the destination does not have).
    pub cells: Vec<Vec<Option<Decision>>>,
}

impl Matrix {
    /// The decision from row `from` to column `to`; `None` if out of range or not evaluated.
    pub fn get(&self, from: usize, to: usize) -> Option<Decision> {
        self.cells
            .get(from)
            .and_then(|r| r.get(to))
            .copied()
            .flatten()
    }

    /// The truth table as the Kubernetes e2e netpol suite prints it:
    /// a header of destinations, one row per source, `.` allowed, `X`
    /// denied, `A` audit (`?` could not evaluate), tab-separated.
    pub fn to_truth_table(&self) -> String {
        let mut out = String::from("-");
        for p in &self.peers {
            out.push('\t');
            out.push_str(&p.to_string());
        }
        out.push('\n');
        for (i, p) in self.peers.iter().enumerate() {
            out.push_str(&p.to_string());
            for j in 0..self.peers.len() {
                out.push('\t');
                out.push(match self.get(i, j) {
                    Some(Decision::Allow) => '.',
                    Some(Decision::Deny) => 'X',
                    Some(Decision::Audit) => 'A',
                    None => '?',
                });
            }
            out.push('\n');
        }
        out
    }
}
