//! The policy engine: identities, endpoints, nodes and policies in; verdicts
//! out. See the module documentation of [`crate::policy`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::labels::{Label, LabelSet, SOURCE_RESERVED};

use super::compute::{Decision, IdentityPolicy, InstalledPolicy};
use super::model::{PolicyKind, PolicyObject};
use super::parse::compile;
use super::rule::{NamedPort, PolicyKey, Protocol};
use super::selector::{SelectorCache, SelectorId};
use super::verdict::{Flow, Matrix, Peer, PortRef, Verdict, VerdictEvent, VerdictEventFilter};

mod flow;

/// Reserved identity numbers (as Cilium).
pub const IDENTITY_HOST: u32 = 1;
pub const IDENTITY_WORLD: u32 = 2;
pub const IDENTITY_UNMANAGED: u32 = 3;
pub const IDENTITY_HEALTH: u32 = 4;
pub const IDENTITY_INIT: u32 = 5;
pub const IDENTITY_REMOTE_NODE: u32 = 6;
pub const IDENTITY_KUBE_APISERVER: u32 = 7;
pub const IDENTITY_INGRESS: u32 = 8;

/// The reserved identities the engine knows from the start, with the key
/// of their one `reserved:` label.
pub const RESERVED_IDENTITIES: &[(u32, &str)] = &[
    (IDENTITY_HOST, "host"),
    (IDENTITY_WORLD, "world"),
    (IDENTITY_UNMANAGED, "unmanaged"),
    (IDENTITY_HEALTH, "health"),
    (IDENTITY_INIT, "init"),
    (IDENTITY_REMOTE_NODE, "remote-node"),
    (IDENTITY_KUBE_APISERVER, "kube-apiserver"),
    (IDENTITY_INGRESS, "ingress"),
];

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PolicyConfig {
    /// Global audit mode: every would-be deny is let through as `audit`.
    pub audit_mode: bool,
    /// Kubernetes conformance (default): ipBlock/CIDR rules covering pod
    /// and node addresses select those endpoints and nodes. `false` is
    /// Cilium's behaviour: CIDR rules only match addresses outside the
    /// cluster (world).
    pub ip_block_selects_cluster_ips: bool,
    /// Which evaluations are recorded as verdict events.
    pub verdict_events: VerdictEventFilter,
    /// Bound on undrained verdict events; the oldest are dropped beyond it.
    pub max_verdict_events: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            audit_mode: false,
            ip_block_selects_cluster_ips: true,
            verdict_events: VerdictEventFilter::None,
            max_verdict_events: 65_536,
        }
    }
}

/// Per-policy options given on upsert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyOptions {
    /// Audit this policy: flows it alone would deny get verdict `audit`.
    pub audit: bool,
}

/// An endpoint (pod) as the policy engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyEndpoint {
    /// The endpoint's namespace.
    pub namespace: String,
    /// The endpoint's name.
    pub name: String,
    /// The endpoint's security identity.
    pub identity: u32,
    /// The endpoint's IP addresses.
    pub ips: Vec<IpAddr>,
    /// Named container ports (resolve named ports of rules and probes).
    pub named_ports: Vec<NamedPort>,
    /// The node the endpoint runs on.
    pub node: Option<String>,
}

/// Counters for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStats {
    /// NetworkPolicies held.
    pub network_policies: usize,
    /// CiliumNetworkPolicies held.
    pub cilium_network_policies: usize,
    /// CiliumClusterwideNetworkPolicies held.
    pub cilium_clusterwide_network_policies: usize,
    /// Distinct selectors in the selector cache.
    pub selectors: usize,
    /// Identities known.
    pub identities: usize,
    /// Endpoints known.
    pub endpoints: usize,
    /// Nodes known.
    pub nodes: usize,
    /// Per-identity policy computations so far.
    pub recomputations: u64,
    /// Flows evaluated as allowed.
    pub verdicts_allow: u64,
    /// Flows evaluated as denied.
    pub verdicts_deny: u64,
    /// Flows evaluated as audited.
    pub verdicts_audit: u64,
    /// Verdict events not kept because the buffer was full.
    pub verdict_events_dropped: u64,
}

/// Endpoint map key; looked up without allocating through [`EndpointRef`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EndpointKey {
    namespace: String,
    name: String,
}

/// Borrowed form of [`EndpointKey`]; hashes the same way.
#[derive(Hash)]
struct EndpointRef<'a> {
    namespace: &'a str,
    name: &'a str,
}

impl hashbrown::Equivalent<EndpointKey> for EndpointRef<'_> {
    #[inline]
    fn equivalent(&self, key: &EndpointKey) -> bool {
        str_eq(self.name, &key.name) && str_eq(self.namespace, &key.namespace)
    }
}

/// `a == b`, comparing strings of up to 16 bytes (as names and namespaces
/// mostly are) as two overlapping words instead of calling `memcmp`: the
/// endpoint lookup is most of what `decide` costs.
#[inline]
fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let w4 = |c: Option<&[u8; 4]>| c.map(|c| u32::from_ne_bytes(*c));
    let w8 = |c: Option<&[u8; 8]>| c.map(|c| u64::from_ne_bytes(*c));
    match a.len() {
        // The first, middle and last bytes are every byte of 1 to 3.
        0..4 => {
            a.first() == b.first()
                && a.get(a.len() / 2) == b.get(b.len() / 2)
                && a.last() == b.last()
        }
        4..=8 => {
            w4(a.first_chunk()) == w4(b.first_chunk()) && w4(a.last_chunk()) == w4(b.last_chunk())
        }
        9..=16 => {
            w8(a.first_chunk()) == w8(b.first_chunk()) && w8(a.last_chunk()) == w8(b.last_chunk())
        }
        _ => a == b,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum IpOwner {
    Endpoint(String, String),
    Node(String),
}

/// The network-policy verdict engine.
#[derive(Debug, Clone)]
pub struct PolicyEngine {
    config: PolicyConfig,
    cache: SelectorCache,
    policies: BTreeMap<PolicyKey, InstalledPolicy>,
    /// Subject selector → the policies using it as a subject.
    subject_users: HashMap<SelectorId, BTreeSet<PolicyKey>>,
    identity_policies: HashMap<u32, IdentityPolicy>,
    endpoints: HashMap<EndpointKey, PolicyEndpoint>,
    nodes: BTreeMap<String, Vec<IpAddr>>,
    ip_owners: HashMap<IpAddr, IpOwner>,
    recomputations: u64,
    verdict_counts: [u64; 3],
    events: VecDeque<VerdictEvent>,
    events_dropped: u64,
    seq: u64,
}

impl Default for PolicyEngine {
    fn default() -> Self {
        PolicyEngine::new(PolicyConfig::default())
    }
}

impl PolicyEngine {
    /// A new engine knowing the reserved identities.
    pub fn new(config: PolicyConfig) -> Self {
        let mut engine = PolicyEngine {
            config,
            cache: SelectorCache::new(),
            policies: BTreeMap::new(),
            subject_users: HashMap::new(),
            identity_policies: HashMap::new(),
            endpoints: HashMap::new(),
            nodes: BTreeMap::new(),
            ip_owners: HashMap::new(),
            recomputations: 0,
            verdict_counts: [0; 3],
            events: VecDeque::new(),
            events_dropped: 0,
            seq: 0,
        };
        for (id, key) in RESERVED_IDENTITIES {
            engine.upsert_identity(
                *id,
                LabelSet::from_labels([Label::new(SOURCE_RESERVED, key, "")]),
            );
        }
        engine
    }

    /// The configuration the engine was made with.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    // ------------------------------------------------------------ identities

    /// Adds an identity or changes its labels. Only this identity's policy
    /// is computed; selections of existing selectors are updated in place.
    pub fn upsert_identity(&mut self, id: u32, labels: LabelSet) {
        if self.cache.identity_labels(id) == Some(&labels) {
            return;
        }
        self.cache.upsert_identity(id, labels);
        self.recompute(id);
    }

    /// Removes an identity (nothing happens if it is unknown).
    pub fn remove_identity(&mut self, id: u32) {
        self.cache.remove_identity(id);
        self.identity_policies.remove(&id);
    }

    fn recompute(&mut self, id: u32) {
        if self.cache.identity_labels(id).is_none() {
            self.identity_policies.remove(&id);
            return;
        }
        let mut keys: BTreeSet<&PolicyKey> = BTreeSet::new();
        for sid in self.cache.selectors_of(id) {
            if let Some(users) = self.subject_users.get(&sid) {
                keys.extend(users.iter());
            }
        }
        let policies = keys.into_iter().filter_map(|k| self.policies.get(k));
        let computed = IdentityPolicy::compute(id, &self.cache, policies);
        self.identity_policies.insert(id, computed);
        self.recomputations += 1;
    }

    // ------------------------------------------------------------ endpoints

    /// Adds or replaces an endpoint (by namespace and name).
    pub fn upsert_endpoint(&mut self, endpoint: PolicyEndpoint) {
        self.remove_endpoint(&endpoint.namespace, &endpoint.name);
        for ip in &endpoint.ips {
            self.ip_owners.insert(
                *ip,
                IpOwner::Endpoint(endpoint.namespace.clone(), endpoint.name.clone()),
            );
        }
        self.endpoints.insert(
            EndpointKey {
                namespace: endpoint.namespace.clone(),
                name: endpoint.name.clone(),
            },
            endpoint,
        );
    }

    /// Removes an endpoint; returns it if it was known.
    pub fn remove_endpoint(&mut self, namespace: &str, name: &str) -> Option<PolicyEndpoint> {
        let old = self.endpoints.remove(&EndpointRef { namespace, name })?;
        for ip in &old.ips {
            if self.ip_owners.get(ip)
                == Some(&IpOwner::Endpoint(old.namespace.clone(), old.name.clone()))
            {
                self.ip_owners.remove(ip);
            }
        }
        Some(old)
    }

    /// An endpoint by namespace and name.
    pub fn endpoint(&self, namespace: &str, name: &str) -> Option<&PolicyEndpoint> {
        self.endpoints.get(&EndpointRef { namespace, name })
    }

    // ------------------------------------------------------------ nodes

    /// Adds or replaces a node and its addresses.
    pub fn upsert_node(&mut self, name: &str, ips: Vec<IpAddr>) {
        self.remove_node(name);
        for ip in &ips {
            self.ip_owners.insert(*ip, IpOwner::Node(name.to_string()));
        }
        self.nodes.insert(name.to_string(), ips);
    }

    /// Removes a node and the addresses it owned.
    pub fn remove_node(&mut self, name: &str) {
        if let Some(old) = self.nodes.remove(name) {
            for ip in &old {
                if self.ip_owners.get(ip) == Some(&IpOwner::Node(name.to_string())) {
                    self.ip_owners.remove(ip);
                }
            }
        }
    }

    // ------------------------------------------------------------ policies

    /// Validates and installs (or replaces) a policy from decoded JSON/YAML.
    pub fn upsert_policy(&mut self, value: &serde_json::Value) -> Result<PolicyKey> {
        self.upsert_policy_with(value, PolicyOptions::default())
    }

    /// As [`upsert_policy`](Self::upsert_policy), with per-policy options.
    pub fn upsert_policy_with(
        &mut self,
        value: &serde_json::Value,
        options: PolicyOptions,
    ) -> Result<PolicyKey> {
        let object = PolicyObject::from_value(value)?;
        self.upsert_policy_object(&object, options)
    }

    /// Validates and installs a typed policy. A rejected policy changes
    /// nothing (a previous version with the same name stays in force).
    pub fn upsert_policy_object(
        &mut self,
        policy: &PolicyObject,
        options: PolicyOptions,
    ) -> Result<PolicyKey> {
        let compiled = compile(policy)?;
        let installed = InstalledPolicy::bind(&compiled, options.audit, &mut self.cache);
        let key = compiled.key.clone();
        let mut affected: BTreeSet<u32> = BTreeSet::new();
        if let Some(old) = self.policies.remove(&key) {
            self.detach(&old, &mut affected);
        }
        for part in &installed.parts {
            affected.extend(self.cache.selected(part.subject));
            self.subject_users
                .entry(part.subject)
                .or_default()
                .insert(key.clone());
        }
        self.policies.insert(key.clone(), installed);
        for id in affected {
            self.recompute(id);
        }
        Ok(key)
    }

    fn detach(&mut self, old: &InstalledPolicy, affected: &mut BTreeSet<u32>) {
        for part in &old.parts {
            affected.extend(self.cache.selected(part.subject));
            if let Some(users) = self.subject_users.get_mut(&part.subject) {
                users.remove(&old.key);
                if users.is_empty() {
                    self.subject_users.remove(&part.subject);
                }
            }
        }
        old.unbind(&mut self.cache);
    }

    /// Removes a policy; `false` if it was not installed.
    pub fn remove_policy(&mut self, key: &PolicyKey) -> bool {
        let Some(old) = self.policies.remove(key) else {
            return false;
        };
        let mut affected = BTreeSet::new();
        self.detach(&old, &mut affected);
        for id in affected {
            self.recompute(id);
        }
        true
    }

    /// The keys of every policy held.
    pub fn policy_keys(&self) -> impl Iterator<Item = &PolicyKey> {
        self.policies.keys()
    }

    // ------------------------------------------------------------ verdicts
    // (evaluate, decide and resolving a flow: `engine/flow.rs`)

    /// Evaluates a flow, counts it and records a verdict event if the
    /// configured filter asks for it.
    pub fn verdict(&mut self, flow: &Flow) -> Result<Verdict> {
        let v = self.evaluate(flow)?;
        let slot = match v.decision {
            Decision::Allow => 0,
            Decision::Deny => 1,
            Decision::Audit => 2,
        };
        if let Some(c) = self.verdict_counts.get_mut(slot) {
            *c += 1;
        }
        self.seq += 1;
        if self.config.verdict_events.records(v.decision) {
            if self.events.len() >= self.config.max_verdict_events {
                self.events.pop_front();
                self.events_dropped += 1;
            }
            if self.config.max_verdict_events > 0 {
                self.events.push_back(VerdictEvent {
                    seq: self.seq,
                    flow: flow.clone(),
                    decision: v.decision,
                    deciding: v.deciding.clone(),
                });
            }
        }
        Ok(v)
    }

    /// Takes the recorded verdict events, oldest first.
    pub fn drain_verdict_events(&mut self) -> Vec<VerdictEvent> {
        self.events.drain(..).collect()
    }

    /// The reachability matrix over `peers` (rows from, columns to).
    pub fn matrix(&mut self, peers: &[Peer], port: PortRef, protocol: Protocol) -> Matrix {
        let mut cells = Vec::with_capacity(peers.len());
        for from in peers {
            let mut row = Vec::with_capacity(peers.len());
            for to in peers {
                let flow = Flow {
                    from: from.clone(),
                    to: to.clone(),
                    port: port.clone(),
                    protocol,
                };
                row.push(self.verdict(&flow).ok().map(|v| v.decision));
            }
            cells.push(row);
        }
        Matrix {
            peers: peers.to_vec(),
            port,
            protocol,
            cells,
        }
    }

    /// Counters for metrics.
    pub fn stats(&self) -> PolicyStats {
        let count = |k: PolicyKind| self.policies.keys().filter(|p| p.kind == k).count();
        PolicyStats {
            network_policies: count(PolicyKind::NetworkPolicy),
            cilium_network_policies: count(PolicyKind::CiliumNetworkPolicy),
            cilium_clusterwide_network_policies: count(PolicyKind::CiliumClusterwideNetworkPolicy),
            selectors: self.cache.selector_count(),
            identities: self.cache.identity_count(),
            endpoints: self.endpoints.len(),
            nodes: self.nodes.len(),
            recomputations: self.recomputations,
            verdicts_allow: self.verdict_counts[0],
            verdicts_deny: self.verdict_counts[1],
            verdicts_audit: self.verdict_counts[2],
            verdict_events_dropped: self.events_dropped,
        }
    }

    /// The identities a policy's subject selects (sorted), for inspection.
    pub fn selected_identities(&self, key: &PolicyKey) -> Vec<u32> {
        let mut out = BTreeSet::new();
        if let Some(p) = self.policies.get(key) {
            for part in &p.parts {
                out.extend(self.cache.selected(part.subject));
            }
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::str_eq;

    #[test]
    fn str_eq_is_string_equality() {
        let words = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abc",
            "abd",
            "xbc",
            "abcd",
            "abce",
            "zbcd",
            "abcde",
            "abcdf",
            "abcdefgh",
            "abcdefgi",
            "bbcdefgh",
            "abcdefghi",
            "abcdefghj",
            "bbcdefghi",
            "abcdxfghi",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "abcdefgXijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnopr",
            "ns0",
            "ns1",
            "pod10",
            "pod11",
            "ünï",
        ];
        for a in words {
            for b in words {
                assert_eq!(str_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
