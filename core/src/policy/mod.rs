//! Network-policy verdicts (DESIGN.md §13).
//!
//! The [`PolicyEngine`] takes identities (numbers with security labels),
//! endpoints, nodes and policies — `networking.k8s.io/v1` NetworkPolicy and
//! `cilium.io/v2` CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy,
//! layers 3 and 4 — and answers what they decide for a flow.
//!
//! * Validation (`parse`): bad values are `InvalidPolicy`; features the
//!   engine recognizes but does not evaluate (layer-7 `toPorts[].rules`,
//!   TLS, `toFQDNs`, `toServices`, `toGroups`, `from/toRequires`,
//!   `from/toNodes`, `icmps`, `authentication`, `nodeSelector`, CIDR
//!   groups) are `UnsupportedPolicy`. A rejected policy changes nothing.
//! * Selector cache ([`selector`]): one entry per distinct selector,
//!   updated incrementally as identities come and go, indexed by namespace.
//! * Per-identity policy (`compute`): computed once per identity and
//!   direction, shared by its endpoints, recomputed only for identities a
//!   policy change or relabel touches. With it, the verdict index
//!   [`PolicyEngine::decide`] reads: by exact (protocol, port), then
//!   any-port, range and named-port entries, the merged peers of the deny,
//!   audit-deny and allow rules that take the flow; a peer selector is one
//!   bit test in the remote identity's selector bitset, kept by the
//!   selector cache. [`PolicyEngine::evaluate`] scans the rules in order
//!   and names the deciding ones; the two agree (property-tested).
//! * Semantics: Kubernetes' by default — isolation per direction from
//!   `policyTypes`, union of allow rules, both the source's egress and the
//!   destination's ingress must allow, named ports resolve on the
//!   destination, `endPort` ranges, TCP/UDP/SCTP, ipBlock with `except`
//!   covering pod and node addresses (switch:
//!   [`PolicyConfig::ip_block_selects_cluster_ips`]). Cilium's additions:
//!   deny beats allow, `enableDefaultDeny`, entities, source-qualified
//!   selector keys, cluster-wide policies.
//! * Always allowed, as Kubernetes documents: an endpoint to itself, and
//!   traffic between a pod and the node it runs on.
//! * Audit: per policy with [`PolicyOptions::audit`] on
//!   [`PolicyEngine::upsert_policy_with`] (a deny or default deny that only
//!   audit-mode policies produce becomes `audit`), or globally with
//!   [`PolicyConfig::audit_mode`].
//! * Namespaced policies without `metadata.namespace` go to `default`.
//! * Entities: `world` is every address outside the cluster; `host` the
//!   node of the endpoint on the other side, `remote-node` any other node;
//!   `cluster` every pod and reserved identity but `world`; `all`
//!   everything. `init`, `health`, `unmanaged`, `kube-apiserver`, `ingress`
//!   select the reserved identities of those names.
//! * Selector keys: NetworkPolicy keys match `k8s` labels; Cilium keys may
//!   be `k8s:app`, `any:app` or `app` (any source). A CiliumNetworkPolicy's
//!   `endpointSelector` always applies in its own namespace (a namespace
//!   match in it is dropped, as Cilium does). Its peer selectors
//!   (`fromEndpoints`/`toEndpoints`, allow and deny) are pinned to that
//!   namespace as Cilium's `getEndpointSelector` pins them: unless they name
//!   `io.kubernetes.pod.namespace`, a namespace label
//!   `io.cilium.k8s.namespace.labels.<key>` (either in `matchLabels` or
//!   `matchExpressions`, source `k8s:`, `any:` or none) or a `reserved:`
//!   label. So a peer chosen by namespace labels spans every namespace whose
//!   labels match, and an `ingressDeny` on one denies them all. A
//!   clusterwide policy's selectors are not pinned to a namespace; its
//!   `endpointSelector` `{}` selects every identity, while its peer
//!   selectors, again as Cilium's, select pods only (identities with a
//!   namespace label) unless they name the namespace or a `reserved:` label
//!   or the policy's subject names `reserved:init`: a peer `{}` is every pod
//!   in every namespace, not the world or another node.
//! * A Cilium rule without `from*`/`to*` peers but with `toPorts` applies
//!   to every peer; an empty rule `{}` allows nothing (it only isolates).
//!
//! [`PolicyCluster`] builds an engine from Namespace and Pod objects for
//! the CLI's `policy eval` and `policy matrix`.
//!
//! ```
//! use serde_json::json;
//! use sliceplane::labels::{Label, LabelSet};
//! use sliceplane::policy::{
//!     Decision, Flow, Peer, PolicyConfig, PolicyEndpoint, PolicyEngine, Protocol,
//! };
//!
//! let mut engine = PolicyEngine::new(PolicyConfig::default());
//! for (id, app, ip) in [(256, "web", "10.0.0.1"), (257, "client", "10.0.0.2")] {
//!     engine.upsert_identity(
//!         id,
//!         LabelSet::from_labels([
//!             Label::k8s("app", app),
//!             Label::k8s("io.kubernetes.pod.namespace", "shop"),
//!         ]),
//!     );
//!     engine.upsert_endpoint(PolicyEndpoint {
//!         namespace: "shop".into(),
//!         name: app.into(),
//!         identity: id,
//!         ips: vec![ip.parse().unwrap()],
//!         named_ports: vec![],
//!         node: None,
//!     });
//! }
//! engine
//!     .upsert_policy(&json!({
//!         "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
//!         "metadata": {"name": "web", "namespace": "shop"},
//!         "spec": {"podSelector": {"matchLabels": {"app": "web"}},
//!                  "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
//!                               "ports": [{"port": 80}]}]}
//!     }))
//!     .unwrap();
//! let to_web = |port| {
//!     Flow::new(Peer::endpoint("shop", "client"), Peer::endpoint("shop", "web"), port, Protocol::Tcp)
//! };
//! assert_eq!(engine.verdict(&to_web(80)).unwrap().decision, Decision::Allow);
//! let v = engine.verdict(&to_web(443)).unwrap();
//! assert_eq!(v.decision, Decision::Deny);
//! assert_eq!(v.deciding[0].name, "web");
//! ```

pub(crate) mod cidr;
pub(crate) mod cluster;
pub(crate) mod compute;
pub(crate) mod engine;
pub mod model;
pub(crate) mod parse;
pub(crate) mod rule;
pub mod selector;
pub(crate) mod verdict;

pub use cluster::PolicyCluster;
pub use compute::{Decision, DecisionReason};
pub use engine::{PolicyConfig, PolicyEndpoint, PolicyEngine, PolicyOptions, PolicyStats};
pub use model::{PolicyKind, PolicyObject};
pub use rule::{Direction, NamedPort, PolicyKey, Protocol, RuleEffect, RuleRef};
pub use verdict::{
    DirectionDecision, Flow, Matrix, Peer, PortRef, Verdict, VerdictEvent, VerdictEventFilter,
};
