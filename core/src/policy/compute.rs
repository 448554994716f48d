//! Installed policies and the resolved policy of one identity per direction.
//!
//! An installed policy holds its selectors as ids in the
//! [`SelectorCache`]. An identity's resolved policy is the list of rules of
//! every policy part whose subject selects it, deny rules first, plus the
//! default denies that isolate it. It is computed once per identity and
//! shared by all endpoints of that identity; since rules refer to peers by
//! selector id, a new peer identity needs no recomputation: the selector
//! cache already knows whether it is selected.

use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use super::cidr::{CidrMatch, CidrMatchBits, address_bits};
use super::rule::{
    CompiledPolicy, Direction, NamedPort, PeerMatch, PolicyKey, PortMatch, PortSel, Protocol,
    RuleEffect, RuleRef,
};
use super::selector::{SelectorCache, SelectorId, SelectorSet};

/// A peer of a rule, with its selector bound in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BoundPeer {
    Selector(SelectorId),
    Cidr(CidrMatch),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BoundRule {
    pub deny: bool,
    pub peers: Vec<BoundPeer>,
    pub ports: Vec<PortMatch>,
    pub rule: RuleRef,
    pub audit: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct BoundPart {
    pub subject: SelectorId,
    /// Default-deny reference per direction, when the part isolates it.
    pub isolates: [Option<RuleRef>; 2],
    pub rules: [Vec<Arc<BoundRule>>; 2],
}

/// A policy as installed in the engine.
#[derive(Debug, Clone)]
pub(crate) struct InstalledPolicy {
    pub key: PolicyKey,
    pub audit: bool,
    pub parts: Vec<BoundPart>,
}

impl InstalledPolicy {
    /// Takes the selectors of a compiled policy from the cache.
    pub fn bind(compiled: &CompiledPolicy, audit: bool, cache: &mut SelectorCache) -> Self {
        let parts = compiled
            .parts
            .iter()
            .map(|part| {
                let subject = cache.acquire(&part.subject);
                let mut rules: [Vec<Arc<BoundRule>>; 2] = [Vec::new(), Vec::new()];
                for r in &part.rules {
                    let peers = r
                        .peers
                        .iter()
                        .map(|p| match p {
                            PeerMatch::Selector(s) => BoundPeer::Selector(cache.acquire(s)),
                            PeerMatch::Cidr(c) => BoundPeer::Cidr(c.clone()),
                            PeerMatch::Any => BoundPeer::Any,
                        })
                        .collect();
                    if let Some(list) = rules.get_mut(r.direction.index()) {
                        list.push(Arc::new(BoundRule {
                            deny: r.deny,
                            peers,
                            ports: r.ports.clone(),
                            rule: r.rule.clone(),
                            audit,
                        }));
                    }
                }
                let isolates = [Direction::Ingress, Direction::Egress].map(|d| {
                    part.isolates
                        .get(d.index())
                        .and_then(|p| p.as_ref())
                        .map(|path| RuleRef {
                            kind: compiled.key.kind,
                            namespace: compiled.key.namespace.clone(),
                            name: compiled.key.name.clone(),
                            direction: d,
                            effect: RuleEffect::DefaultDeny,
                            index: None,
                            path: path.clone(),
                        })
                });
                BoundPart {
                    subject,
                    isolates,
                    rules,
                }
            })
            .collect();
        InstalledPolicy {
            key: compiled.key.clone(),
            audit,
            parts,
        }
    }

    /// Gives the selectors back to the cache.
    pub fn unbind(&self, cache: &mut SelectorCache) {
        for part in &self.parts {
            cache.release(part.subject);
            for list in &part.rules {
                for r in list {
                    for p in &r.peers {
                        if let BoundPeer::Selector(id) = p {
                            cache.release(*id);
                        }
                    }
                }
            }
        }
    }
}

/// The other side of a flow, as a direction's policy sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remote<'a> {
    pub identity: u32,
    pub ips: &'a [IpAddr],
    /// The addresses belong to an endpoint or a node of the cluster.
    pub in_cluster: bool,
}

/// One direction's evaluation request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a> {
    /// The other side of the flow.
    pub remote: Remote<'a>,
    pub port: u16,
    pub protocol: Protocol,
    /// Named ports of the flow's destination endpoint.
    pub dst_named: &'a [NamedPort],
    pub ip_block_selects_cluster_ips: bool,
    pub global_audit: bool,
    /// Gather the deciding rule references (off for the fast path).
    pub collect: bool,
}

/// Why a direction decided as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionReason {
    /// This side of the flow is not an endpoint: no policy applies.
    NotAnEndpoint,
    /// No policy isolates the endpoint in this direction.
    NotIsolated,
    /// Traffic between a pod and its own node is always allowed.
    LocalNode,
    /// Traffic from an endpoint to itself is always allowed.
    Loopback,
    /// An allow rule matched.
    Allowed,
    /// A deny rule matched.
    Denied,
    /// Isolated and no rule allowed it.
    DefaultDeny,
}

/// A direction's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The flow is allowed.
    Allow,
    /// The flow is denied.
    Deny,
    /// Would be denied, but in audit mode (the policy's or the whole engine's): let through and reported.
    Audit,
}

/// The resolved policy of one identity in one direction.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirectionPolicy {
    /// Default denies that isolate the identity; empty = not isolated.
    pub isolating: Vec<(RuleRef, bool)>,
    /// Deny rules first, then allow rules, in policy order.
    pub rules: Vec<Arc<BoundRule>>,
    /// `None` when not isolated, else whether some isolating policy is
    /// enforced (not audit). Derived from `isolating` by [`Self::seal`].
    isolation: Option<bool>,
    /// The rules indexed by port for [`Self::decide`]; `None` when there
    /// are no rules. Derived from `rules` by [`Self::seal`].
    index: Option<Box<DecideIndex>>,
}

/// A direction's rules as [`DirectionPolicy::decide`] reads them: by the
/// port entry that takes a flow, the peers of the deny, audit-deny and
/// allow rules with that entry, merged. Only whether some rule of an
/// effect matches decides (not which, nor their order), so merging the
/// peers of rules that share a port entry loses nothing; a flow then tests
/// each distinct peer selector once, with one bit test.
#[derive(Debug, Clone, Default)]
struct DecideIndex {
    /// Exact ports (ranges of one port), by [`port_key`]; an entry without
    /// a protocol is filed under each protocol. Each entry also holds the
    /// peers of `any_port` and of the `ranges` covering its port, so a flow
    /// to an exact port reads one entry (and the named ports).
    exact: HashMap<u32, PortVerdicts>,
    /// Rules without a port list: every port and protocol.
    any_port: PortVerdicts,
    /// Port ranges, checked per flow to a port without an exact entry.
    ranges: Vec<(PortMatch, PortVerdicts)>,
    /// Named ports, checked per flow (they resolve on the destination).
    named: Vec<(PortMatch, PortVerdicts)>,
    /// Some rule denies (enforced), some audit-denies.
    has_deny: bool,
    has_audit_deny: bool,
}

/// The peers of the rules that take one port entry, by effect.
#[derive(Debug, Clone, Default)]
struct PortVerdicts {
    deny: PeerSet,
    audit_deny: PeerSet,
    allow: PeerSet,
}

/// Peers merged from several rules: a flow's remote matches if it matches
/// any of them.
#[derive(Debug, Clone, Default)]
struct PeerSet {
    /// Some rule takes every peer.
    any: bool,
    /// Sorted, without duplicates.
    selectors: Vec<SelectorId>,
    /// Sorted, without duplicates.
    cidrs: Vec<CidrMatchBits>,
}

impl PeerSet {
    fn add(&mut self, peers: &[BoundPeer]) {
        for p in peers {
            match p {
                BoundPeer::Any => self.any = true,
                BoundPeer::Selector(id) => self.selectors.push(*id),
                BoundPeer::Cidr(c) => self.cidrs.push(c.to_bits()),
            }
        }
    }

    fn seal(&mut self) {
        self.selectors.sort_unstable();
        self.selectors.dedup();
        self.selectors.shrink_to_fit();
        self.cidrs.sort_unstable();
        self.cidrs.dedup();
        self.cidrs.shrink_to_fit();
    }

    /// As [`DirectionPolicy::peer_matches`] over every peer merged here.
    #[inline]
    fn matches(&self, remote: &Remote<'_>, members: Option<&SelectorSet>, q: &Query<'_>) -> bool {
        self.any
            || members.is_some_and(|m| self.selectors.iter().any(|id| m.contains(*id)))
            || (!self.cidrs.is_empty()
                && (q.ip_block_selects_cluster_ips || !remote.in_cluster)
                && remote.ips.iter().any(|ip| {
                    let ip = address_bits(*ip);
                    self.cidrs.iter().any(|c| c.contains(ip))
                }))
    }
}

impl PortVerdicts {
    /// Adds the peers of `other` (before sealing).
    fn merge(&mut self, other: &PortVerdicts) {
        for (set, from) in [
            (&mut self.deny, &other.deny),
            (&mut self.audit_deny, &other.audit_deny),
            (&mut self.allow, &other.allow),
        ] {
            set.any |= from.any;
            set.selectors.extend_from_slice(&from.selectors);
            set.cidrs.extend_from_slice(&from.cidrs);
        }
    }

    fn add(&mut self, rule: &BoundRule) {
        let set = match (rule.deny, rule.audit) {
            (true, false) => &mut self.deny,
            (true, true) => &mut self.audit_deny,
            (false, _) => &mut self.allow,
        };
        set.add(&rule.peers);
    }

    fn seal(&mut self) {
        for set in [&mut self.deny, &mut self.audit_deny, &mut self.allow] {
            set.seal();
        }
    }
}

/// The key of an exact port in [`DecideIndex::exact`].
#[inline]
fn port_key(protocol: Protocol, port: u16) -> u32 {
    let p: u32 = match protocol {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        Protocol::Sctp => 2,
    };
    (p << 16) | u32::from(port)
}

const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// The protocol and port of a [`port_key`].
fn port_of_key(key: u32) -> (Protocol, u16) {
    let protocol = match key >> 16 {
        0 => Protocol::Tcp,
        1 => Protocol::Udp,
        _ => Protocol::Sctp,
    };
    (protocol, (key & 0xffff) as u16)
}

impl DecideIndex {
    fn build(rules: &[Arc<BoundRule>]) -> DecideIndex {
        let mut index = DecideIndex::default();
        for rule in rules {
            index.has_deny |= rule.deny && !rule.audit;
            index.has_audit_deny |= rule.deny && rule.audit;
            if rule.ports.is_empty() {
                index.any_port.add(rule);
            }
            for p in &rule.ports {
                match p.port {
                    PortSel::Range(lo, hi) if lo == hi => {
                        let protocols = match p.protocol {
                            Some(ref one) => std::slice::from_ref(one),
                            None => &PROTOCOLS[..],
                        };
                        for protocol in protocols {
                            index
                                .exact
                                .entry(port_key(*protocol, lo))
                                .or_default()
                                .add(rule);
                        }
                    }
                    _ => {
                        let list = match p.port {
                            PortSel::Range(..) => &mut index.ranges,
                            PortSel::Named(_) => &mut index.named,
                        };
                        match list.iter_mut().find(|(m, _)| m == p) {
                            Some((_, v)) => v.add(rule),
                            None => {
                                let mut v = PortVerdicts::default();
                                v.add(rule);
                                list.push((p.clone(), v));
                            }
                        }
                    }
                }
            }
        }
        for (key, v) in index.exact.iter_mut() {
            let (protocol, port) = port_of_key(*key);
            v.merge(&index.any_port);
            for (m, r) in &index.ranges {
                if m.matches(port, protocol, &[]) {
                    v.merge(r);
                }
            }
        }
        index.any_port.seal();
        for v in index.exact.values_mut() {
            v.seal();
        }
        for (_, v) in index.ranges.iter_mut().chain(index.named.iter_mut()) {
            v.seal();
        }
        index.exact.shrink_to_fit();
        index.ranges.shrink_to_fit();
        index.named.shrink_to_fit();
        index
    }

    /// Whether `f` holds for the verdicts of some port entry that takes
    /// the flow.
    #[inline]
    fn any(
        &self,
        exact: Option<&PortVerdicts>,
        q: &Query<'_>,
        f: impl Fn(&PortVerdicts) -> bool,
    ) -> bool {
        let by_number = match exact {
            Some(v) => f(v),
            None => {
                f(&self.any_port)
                    || self
                        .ranges
                        .iter()
                        .any(|(m, v)| m.matches(q.port, q.protocol, q.dst_named) && f(v))
            }
        };
        by_number
            || self
                .named
                .iter()
                .any(|(m, v)| m.matches(q.port, q.protocol, q.dst_named) && f(v))
    }
}

/// The outcome of evaluating one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectionOutcome {
    pub decision: Decision,
    pub reason: DecisionReason,
    pub rules: Vec<RuleRef>,
}

impl DirectionPolicy {
    fn peer_matches(
        peer: &BoundPeer,
        cache: &SelectorCache,
        remote: &Remote<'_>,
        ip_block_selects_cluster_ips: bool,
    ) -> bool {
        match peer {
            BoundPeer::Any => true,
            BoundPeer::Selector(id) => cache.selects(*id, remote.identity),
            BoundPeer::Cidr(m) => {
                (ip_block_selects_cluster_ips || !remote.in_cluster)
                    && remote.ips.iter().any(|ip| m.contains(*ip))
            }
        }
    }

    /// Derives the decision index and the isolation summary from `rules`
    /// and `isolating`; called once the lists are complete.
    fn seal(&mut self) {
        self.isolation = if self.isolating.is_empty() {
            None
        } else {
            Some(self.isolating.iter().any(|(_, audit)| !*audit))
        };
        self.index = if self.rules.is_empty() {
            None
        } else {
            Some(Box::new(DecideIndex::build(&self.rules)))
        };
    }

    /// The decision alone, as [`Self::evaluate`] without collecting makes
    /// it: a matching enforced deny rule decides, then an audit deny, then
    /// any allow rule, then the isolation. Reads only the port entries that
    /// take the flow, and tests each distinct peer once.
    /// `query` is only called when there are rules to read.
    #[inline]
    pub fn decide<'q>(
        &self,
        cache: &SelectorCache,
        global_audit: bool,
        query: impl FnOnce() -> Query<'q>,
    ) -> Decision {
        let audit_or_deny = |enforced: bool| {
            if enforced && !global_audit {
                Decision::Deny
            } else {
                Decision::Audit
            }
        };
        if let Some(index) = &self.index {
            let q = &query();
            let remote = &q.remote;
            let members = cache.membership(remote.identity);
            let exact = index.exact.get(&port_key(q.protocol, q.port));
            if index.has_deny && index.any(exact, q, |v| v.deny.matches(remote, members, q)) {
                return audit_or_deny(true);
            }
            if index.has_audit_deny
                && index.any(exact, q, |v| v.audit_deny.matches(remote, members, q))
            {
                return audit_or_deny(false);
            }
            if index.any(exact, q, |v| v.allow.matches(remote, members, q)) {
                return Decision::Allow;
            }
        }
        match self.isolation {
            None => Decision::Allow,
            Some(enforced) => audit_or_deny(enforced),
        }
    }

    /// Evaluates a flow against this direction's rules.
    pub fn evaluate(&self, cache: &SelectorCache, q: &Query<'_>) -> DirectionOutcome {
        let Query {
            remote,
            port,
            protocol,
            dst_named,
            ip_block_selects_cluster_ips,
            global_audit,
            collect,
        } = *q;
        let remote = &remote;
        let mut denied: Vec<RuleRef> = Vec::new();
        let mut any_denied = false;
        let mut deny_enforced = false;
        let mut allowed: Vec<RuleRef> = Vec::new();
        let mut any_allowed = false;
        for r in &self.rules {
            if !r.deny && any_denied {
                break;
            }
            let port_ok =
                r.ports.is_empty() || r.ports.iter().any(|p| p.matches(port, protocol, dst_named));
            if !port_ok {
                continue;
            }
            if !r
                .peers
                .iter()
                .any(|p| Self::peer_matches(p, cache, remote, ip_block_selects_cluster_ips))
            {
                continue;
            }
            if r.deny {
                any_denied = true;
                deny_enforced |= !r.audit;
                if collect {
                    denied.push(r.rule.clone());
                } else if deny_enforced {
                    break;
                }
            } else {
                any_allowed = true;
                if collect {
                    allowed.push(r.rule.clone());
                } else {
                    break;
                }
            }
        }
        let audit_or_deny = |enforced: bool| {
            if enforced && !global_audit {
                Decision::Deny
            } else {
                Decision::Audit
            }
        };
        if any_denied {
            return DirectionOutcome {
                decision: audit_or_deny(deny_enforced),
                reason: DecisionReason::Denied,
                rules: denied,
            };
        }
        if any_allowed {
            return DirectionOutcome {
                decision: Decision::Allow,
                reason: DecisionReason::Allowed,
                rules: allowed,
            };
        }
        if self.isolating.is_empty() {
            return DirectionOutcome {
                decision: Decision::Allow,
                reason: DecisionReason::NotIsolated,
                rules: Vec::new(),
            };
        }
        let enforced = self.isolating.iter().any(|(_, audit)| !*audit);
        DirectionOutcome {
            decision: audit_or_deny(enforced),
            reason: DecisionReason::DefaultDeny,
            rules: if collect {
                self.isolating.iter().map(|(r, _)| r.clone()).collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// The resolved policy of one identity, both directions.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdentityPolicy {
    pub directions: [DirectionPolicy; 2],
}

impl IdentityPolicy {
    pub fn direction(&self, d: Direction) -> Option<&DirectionPolicy> {
        self.directions.get(d.index())
    }

    /// Resolves the policy of `identity` from the policies that select it
    /// (given in a deterministic order).
    pub fn compute<'a>(
        identity: u32,
        cache: &SelectorCache,
        policies: impl Iterator<Item = &'a InstalledPolicy>,
    ) -> IdentityPolicy {
        let mut out = IdentityPolicy::default();
        let mut allows: [Vec<Arc<BoundRule>>; 2] = [Vec::new(), Vec::new()];
        for p in policies {
            for part in &p.parts {
                if !cache.selects(part.subject, identity) {
                    continue;
                }
                for d in [Direction::Ingress, Direction::Egress] {
                    let i = d.index();
                    let (Some(dir), Some(allow), Some(rules)) = (
                        out.directions.get_mut(i),
                        allows.get_mut(i),
                        part.rules.get(i),
                    ) else {
                        continue;
                    };
                    if let Some(Some(r)) = part.isolates.get(i) {
                        dir.isolating.push((r.clone(), p.audit));
                    }
                    for r in rules {
                        if r.deny {
                            dir.rules.push(r.clone());
                        } else {
                            allow.push(r.clone());
                        }
                    }
                }
            }
        }
        for (dir, allow) in out.directions.iter_mut().zip(allows) {
            dir.rules.extend(allow);
            dir.seal();
        }
        out
    }
}
