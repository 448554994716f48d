//! Resolving a flow and deciding it: the two verdict routes of
//! [`PolicyEngine`], `evaluate` (every deciding rule, the reference) and
//! `decide` (the decision alone, read from each identity's index by port),
//! which must agree.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::error::{Error, ErrorCode, Result};
use crate::policy::compute::{
    Decision, DecisionReason, DirectionOutcome, DirectionPolicy, Query, Remote,
};
use crate::policy::rule::{Direction, NamedPort, Protocol, RuleRef};
use crate::policy::verdict::{DirectionDecision, Flow, Peer, PortRef, Verdict};

use super::{
    IDENTITY_HOST, IDENTITY_REMOTE_NODE, IDENTITY_WORLD, IpOwner, PolicyEndpoint, PolicyEngine,
};

/// The port part of a flow, resolved, and whether to gather rules.
struct FlowPorts<'a> {
    port: u16,
    protocol: Protocol,
    dst_named: &'a [NamedPort],
    collect: bool,
}

/// What decides one direction of a flow.
#[derive(Clone, Copy)]
enum Applies<'a> {
    /// Allowed for this reason, whatever the policies say.
    Fixed(DecisionReason),
    /// The side's identity's policy in that direction.
    Policy(&'a DirectionPolicy),
}

/// One side of a flow, resolved.
#[derive(Debug, Clone, Copy)]
enum Side<'a> {
    Endpoint(&'a PolicyEndpoint, Option<&'a IpAddr>),
    Node(&'a str, Option<&'a IpAddr>),
    External(&'a IpAddr),
}

impl<'a> Side<'a> {
    fn node_of(&self) -> Option<&'a str> {
        match self {
            Side::Endpoint(ep, _) => ep.node.as_deref(),
            _ => None,
        }
    }

    /// This side seen as the remote of a rule on `other`'s side.
    fn as_remote(&self, other: &Side<'_>, nodes: &'a BTreeMap<String, Vec<IpAddr>>) -> Remote<'a> {
        match *self {
            Side::Endpoint(ep, ip) => Remote {
                identity: ep.identity,
                ips: ip.map_or(ep.ips.as_slice(), std::slice::from_ref),
                in_cluster: true,
            },
            Side::Node(name, ip) => Remote {
                identity: if other.node_of() == Some(name) {
                    IDENTITY_HOST
                } else {
                    IDENTITY_REMOTE_NODE
                },
                ips: match ip {
                    Some(ip) => std::slice::from_ref(ip),
                    None => nodes.get(name).map_or(&[], Vec::as_slice),
                },
                in_cluster: true,
            },
            Side::External(ip) => Remote {
                identity: IDENTITY_WORLD,
                ips: std::slice::from_ref(ip),
                in_cluster: false,
            },
        }
    }
}

impl PolicyEngine {
    fn resolve<'a>(&'a self, peer: &'a Peer) -> Result<Side<'a>> {
        self.side_of(peer).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidProbe,
                format!("Endpoint {peer}"),
                "",
                "no such endpoint",
            )
        })
    }

    /// A peer resolved; `None` for an endpoint the engine does not know.
    #[inline]
    fn side_of<'a>(&'a self, peer: &'a Peer) -> Option<Side<'a>> {
        match peer {
            Peer::Endpoint { namespace, name } => self
                .endpoint(namespace, name)
                .map(|ep| Side::Endpoint(ep, None)),
            Peer::Ip(ip) => Some(match self.ip_owners.get(ip) {
                Some(IpOwner::Endpoint(ns, name)) => match self.endpoint(ns, name) {
                    Some(ep) => Side::Endpoint(ep, Some(ip)),
                    None => Side::External(ip),
                },
                Some(IpOwner::Node(n)) => Side::Node(n.as_str(), Some(ip)),
                None => Side::External(ip),
            }),
        }
    }

    /// As [`applies`](Self::applies), with an unknown identity as the
    /// `InvalidProbe` error `evaluate` reports.
    fn direction_policy(
        &self,
        side: &Side<'_>,
        other: &Side<'_>,
        direction: Direction,
    ) -> Result<Applies<'_>> {
        self.applies(side, other, direction).ok_or_else(|| {
            let (namespace, name, identity) = match side {
                Side::Endpoint(ep, _) => (ep.namespace.as_str(), ep.name.as_str(), ep.identity),
                _ => ("", "", 0),
            };
            Error::new(
                ErrorCode::InvalidProbe,
                format!("Endpoint {namespace}/{name}"),
                "identity",
                format!("identity {identity} is not known"),
            )
        })
    }

    /// What applies to `side` in `direction` with `other` on the far end:
    /// a fixed reason (not an endpoint; its own node) or its identity's
    /// policy; `None` when the endpoint's identity is not known.
    #[inline]
    fn applies(
        &self,
        side: &Side<'_>,
        other: &Side<'_>,
        direction: Direction,
    ) -> Option<Applies<'_>> {
        let Side::Endpoint(ep, _) = side else {
            return Some(Applies::Fixed(DecisionReason::NotAnEndpoint));
        };
        if let Side::Node(n, _) = other
            && ep.node.as_deref() == Some(*n)
        {
            return Some(Applies::Fixed(DecisionReason::LocalNode));
        }
        self.identity_policies
            .get(&ep.identity)
            .and_then(|p| p.direction(direction))
            .map(Applies::Policy)
    }

    fn query<'a>(&'a self, side: &Side<'a>, other: &Side<'a>, flow: &FlowPorts<'a>) -> Query<'a> {
        Query {
            remote: other.as_remote(side, &self.nodes),
            port: flow.port,
            protocol: flow.protocol,
            dst_named: flow.dst_named,
            ip_block_selects_cluster_ips: self.config.ip_block_selects_cluster_ips,
            global_audit: self.config.audit_mode,
            collect: flow.collect,
        }
    }

    fn direction_outcome(
        &self,
        side: &Side<'_>,
        other: &Side<'_>,
        direction: Direction,
        flow: &FlowPorts<'_>,
    ) -> Result<DirectionOutcome> {
        Ok(match self.direction_policy(side, other, direction)? {
            Applies::Fixed(reason) => DirectionOutcome {
                decision: Decision::Allow,
                reason,
                rules: Vec::new(),
            },
            Applies::Policy(policy) => policy.evaluate(&self.cache, &self.query(side, other, flow)),
        })
    }

    /// The source and destination of a flow and its port, resolved; `None`
    /// for a flow from an endpoint to itself (always allowed).
    fn resolve_flow<'a>(
        &'a self,
        flow: &'a Flow,
        collect: bool,
    ) -> Result<Option<(Side<'a>, Side<'a>, FlowPorts<'a>)>> {
        let src = self.resolve(&flow.from)?;
        let dst = self.resolve(&flow.to)?;
        let dst_named: &[NamedPort] = match dst {
            Side::Endpoint(ep, _) => &ep.named_ports,
            _ => &[],
        };
        let port = match &flow.port {
            PortRef::Number(n) => *n,
            PortRef::Name(name) => dst_named
                .iter()
                .find(|p| p.name == *name && p.protocol == flow.protocol)
                .map(|p| p.port)
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::InvalidProbe,
                        format!("Endpoint {}", flow.to),
                        "port",
                        format!(
                            "the destination has no {} port named {name:?}",
                            flow.protocol
                        ),
                    )
                })?,
        };
        if let (Side::Endpoint(a, _), Side::Endpoint(b, _)) = (&src, &dst)
            && std::ptr::eq(*a, *b)
        {
            return Ok(None);
        }
        let ports = FlowPorts {
            port,
            protocol: flow.protocol,
            dst_named,
            collect,
        };
        Ok(Some((src, dst, ports)))
    }

    /// What the policies decide for a flow, with the deciding rules,
    /// without recording anything.
    pub fn evaluate(&self, flow: &Flow) -> Result<Verdict> {
        self.evaluate_inner(flow, true)
    }

    /// The decision alone: the fast path (no allocation, no rule
    /// references), equal to `evaluate(flow)?.decision`. Each direction
    /// reads its identity's rules indexed by port (see
    /// `DirectionPolicy::decide`), and a denying egress skips the
    /// ingress rules. A flow the fast path does not take (an unknown
    /// endpoint or identity: an error; a named probe port) goes the way of
    /// `evaluate`, so the errors are the same.
    pub fn decide(&self, flow: &Flow) -> Result<Decision> {
        match self.decide_fast(flow) {
            Some(decision) => Ok(decision),
            None => self.evaluate_inner(flow, false).map(|v| v.decision),
        }
    }

    /// [`decide`](Self::decide) for a numbered port and known endpoints
    /// and identities; `None` otherwise.
    #[inline]
    fn decide_fast(&self, flow: &Flow) -> Option<Decision> {
        let PortRef::Number(port) = flow.port else {
            return None;
        };
        let src = self.side_of(&flow.from)?;
        let dst = self.side_of(&flow.to)?;
        let dst_named: &[NamedPort] = match dst {
            Side::Endpoint(ep, _) => &ep.named_ports,
            _ => &[],
        };
        if let (Side::Endpoint(a, _), Side::Endpoint(b, _)) = (&src, &dst)
            && std::ptr::eq(*a, *b)
        {
            return Some(Decision::Allow);
        }
        let egress = self.applies(&src, &dst, Direction::Egress)?;
        let ingress = self.applies(&dst, &src, Direction::Ingress)?;
        let ports = FlowPorts {
            port,
            protocol: flow.protocol,
            dst_named,
            collect: false,
        };
        let decide = |applies: Applies<'_>, side: &Side<'_>, other: &Side<'_>| match applies {
            Applies::Fixed(_) => Decision::Allow,
            Applies::Policy(policy) => policy.decide(&self.cache, self.config.audit_mode, || {
                self.query(side, other, &ports)
            }),
        };
        let egress = decide(egress, &src, &dst);
        if egress == Decision::Deny {
            return Some(Decision::Deny);
        }
        let ingress = decide(ingress, &dst, &src);
        Some(combine_decisions(egress, ingress))
    }

    fn evaluate_inner(&self, flow: &Flow, collect: bool) -> Result<Verdict> {
        let Some((src, dst, ports)) = self.resolve_flow(flow, collect)? else {
            let d = DirectionDecision {
                decision: Decision::Allow,
                reason: DecisionReason::Loopback,
            };
            return Ok(Verdict {
                decision: Decision::Allow,
                egress: d,
                ingress: d,
                deciding: Vec::new(),
            });
        };
        let egress = self.direction_outcome(&src, &dst, Direction::Egress, &ports)?;
        let ingress = self.direction_outcome(&dst, &src, Direction::Ingress, &ports)?;
        Ok(combine(egress, ingress))
    }
}

/// A flow's decision from its two directions': both must allow; a deny
/// beats an audit.
fn combine_decisions(egress: Decision, ingress: Decision) -> Decision {
    if egress == Decision::Deny || ingress == Decision::Deny {
        Decision::Deny
    } else if egress == Decision::Audit || ingress == Decision::Audit {
        Decision::Audit
    } else {
        Decision::Allow
    }
}

fn combine(egress: DirectionOutcome, ingress: DirectionOutcome) -> Verdict {
    let decision = combine_decisions(egress.decision, ingress.decision);
    let mut deciding: Vec<RuleRef> = Vec::new();
    for o in [&egress, &ingress] {
        if o.decision == decision {
            deciding.extend(o.rules.iter().cloned());
        }
    }
    Verdict {
        decision,
        egress: DirectionDecision {
            decision: egress.decision,
            reason: egress.reason,
        },
        ingress: DirectionDecision {
            decision: ingress.decision,
            reason: ingress.reason,
        },
        deciding,
    }
}
