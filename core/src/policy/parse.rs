//! Validation: policy objects → [`CompiledPolicy`].
//!
//! Bad values are `InvalidPolicy`, recognized features the engine does not
//! evaluate (layer 7, FQDN, services, ...) are `UnsupportedPolicy`; both
//! name the object and the field. Nothing is ever dropped silently.

use crate::error::{Error, ErrorCode, Result};
use crate::labels::{LABEL_NAMESPACE_PREFIX, LABEL_POD_NAMESPACE};

use super::cidr::{Cidr, CidrMatch};
use super::model::{
    CidrRule, CiliumEgressRule, CiliumIngressRule, CiliumPolicy, CiliumPortRule, CiliumRule,
    IntOrString, LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, PolicyKind,
    PolicyObject,
};
use super::rule::{
    CompiledPart, CompiledPolicy, CompiledRule, Direction, Entity, PeerMatch, PolicyKey, PortMatch,
    PortSel, Protocol, RuleEffect, RuleRef,
};
use super::selector::{Operator, Requirement, Selector};

/// Namespace given to namespaced policies that do not name one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Validates a policy object and translates it into the engine's form.
pub fn compile(policy: &PolicyObject) -> Result<CompiledPolicy> {
    match policy {
        PolicyObject::NetworkPolicy(np) => compile_network_policy(np),
        PolicyObject::CiliumNetworkPolicy(p) => compile_cilium(p, PolicyKind::CiliumNetworkPolicy),
        PolicyObject::CiliumClusterwideNetworkPolicy(p) => {
            compile_cilium(p, PolicyKind::CiliumClusterwideNetworkPolicy)
        }
    }
}

/// Error context: the object being validated.
struct Ctx {
    key: PolicyKey,
}

impl Ctx {
    fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::new(
            ErrorCode::InvalidPolicy,
            self.key.to_string(),
            field,
            message,
        )
    }

    fn unsupported(&self, field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::new(
            ErrorCode::UnsupportedPolicy,
            self.key.to_string(),
            field,
            message,
        )
    }

    fn rule_ref(
        &self,
        direction: Direction,
        effect: RuleEffect,
        index: usize,
        path: &str,
    ) -> RuleRef {
        RuleRef {
            kind: self.key.kind,
            namespace: self.key.namespace.clone(),
            name: self.key.name.clone(),
            direction,
            effect,
            index: Some(index),
            path: path.to_string(),
        }
    }
}

fn policy_key(kind: PolicyKind, meta: &crate::model::ObjectMeta) -> Result<PolicyKey> {
    let namespace = match kind {
        PolicyKind::CiliumClusterwideNetworkPolicy => String::new(),
        _ => meta
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
    };
    let key = PolicyKey {
        kind,
        namespace,
        name: meta.name.clone(),
    };
    if meta.name.is_empty() {
        return Err(Error::new(
            ErrorCode::InvalidPolicy,
            key.to_string(),
            "metadata.name",
            "a policy needs a name",
        ));
    }
    Ok(key)
}

/// `source:key` handling for selector keys.
#[derive(Clone, Copy)]
enum KeyStyle {
    /// NetworkPolicy pod labels: plain keys, source `k8s`.
    K8sPod,
    /// NetworkPolicy namespace labels: rewritten to the namespace-label key.
    K8sNamespace,
    /// Cilium: optional `source:` prefix; none or `any:` matches any source.
    Cilium,
}

fn requirement(style: KeyStyle, key: &str, op: Operator) -> Requirement {
    match style {
        KeyStyle::K8sPod => Requirement::new(Some("k8s"), key, op),
        KeyStyle::K8sNamespace => {
            Requirement::new(Some("k8s"), &format!("{LABEL_NAMESPACE_PREFIX}{key}"), op)
        }
        KeyStyle::Cilium => {
            let (source, k) = Requirement::split_source(key);
            Requirement::new(source, k, op)
        }
    }
}

fn selector_requirements(
    ctx: &Ctx,
    sel: &LabelSelector,
    path: &str,
    style: KeyStyle,
) -> Result<Vec<Requirement>> {
    let mut out = Vec::new();
    for (k, v) in &sel.match_labels {
        if k.is_empty() {
            return Err(ctx.invalid(format!("{path}.matchLabels"), "empty label key"));
        }
        out.push(requirement(style, k, Operator::In(vec![v.clone()])));
    }
    for (i, e) in sel.match_expressions.iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        if e.key.is_empty() {
            return Err(ctx.invalid(format!("{p}.key"), "empty label key"));
        }
        let op = match e.operator.as_str() {
            "In" | "NotIn" => {
                if e.values.is_empty() {
                    return Err(ctx.invalid(
                        format!("{p}.values"),
                        format!("operator {} needs at least one value", e.operator),
                    ));
                }
                if e.operator == "In" {
                    Operator::In(e.values.clone())
                } else {
                    Operator::NotIn(e.values.clone())
                }
            }
            "Exists" | "DoesNotExist" => {
                if !e.values.is_empty() {
                    return Err(ctx.invalid(
                        format!("{p}.values"),
                        format!("operator {} takes no values", e.operator),
                    ));
                }
                if e.operator == "Exists" {
                    Operator::Exists
                } else {
                    Operator::DoesNotExist
                }
            }
            other => {
                return Err(ctx.invalid(
                    format!("{p}.operator"),
                    format!("unknown operator {other:?} (In, NotIn, Exists, DoesNotExist)"),
                ));
            }
        };
        out.push(requirement(style, &e.key, op));
    }
    Ok(out)
}

/// How a Cilium rule's peer selectors (`fromEndpoints`/`toEndpoints`,
/// allow and deny) are scoped, as Cilium's `getEndpointSelector`
/// (`pkg/k8s/apis/cilium.io/utils/utils.go`) scopes them.
#[derive(Clone, Copy)]
enum PeerScope<'a> {
    /// A CiliumNetworkPolicy: confined to its namespace.
    Namespace(&'a str),
    /// A CiliumClusterwideNetworkPolicy: every namespace, pods only.
    Pods,
    /// A CiliumClusterwideNetworkPolicy whose subject names `reserved:init`
    /// (initializing endpoints carry no namespace label): as written.
    AsWritten,
}

impl PeerScope<'_> {
    /// Adds the scope's condition to a peer selector's requirements. A
    /// selector naming a reserved label is taken as written (reserved
    /// identities are in no namespace), as is one naming the namespace
    /// (`io.kubernetes.pod.namespace`, source `k8s:`, `any:` or none, in
    /// `matchLabels` or `matchExpressions`). Otherwise a CiliumNetworkPolicy
    /// pins it to its namespace unless it names a namespace label
    /// (`io.cilium.k8s.namespace.labels.<key>`, same spellings) — a peer
    /// chosen by namespace labels spans every namespace whose labels match —
    /// and a clusterwide policy confines it to pods (identities with a
    /// namespace label), so its `{}` selects every pod but no reserved
    /// identity.
    fn apply(self, reqs: &mut Vec<Requirement>) {
        let k8s_or_any = |r: &Requirement| r.source.as_deref().is_none_or(|s| s == "k8s");
        let reserved = reqs.iter().any(|r| r.source.as_deref() == Some("reserved"));
        let names_namespace = reqs
            .iter()
            .any(|r| k8s_or_any(r) && r.key == LABEL_POD_NAMESPACE);
        if reserved || names_namespace {
            return;
        }
        match self {
            PeerScope::Namespace(ns) => {
                let names_namespace_label = reqs
                    .iter()
                    .any(|r| k8s_or_any(r) && r.key.starts_with(LABEL_NAMESPACE_PREFIX));
                if !names_namespace_label {
                    reqs.push(namespace_pin(ns));
                }
            }
            PeerScope::Pods => reqs.push(Requirement::new(
                Some("k8s"),
                LABEL_POD_NAMESPACE,
                Operator::Exists,
            )),
            PeerScope::AsWritten => {}
        }
    }
}

fn namespace_pin(ns: &str) -> Requirement {
    Requirement::new(
        Some("k8s"),
        LABEL_POD_NAMESPACE,
        Operator::In(vec![ns.to_string()]),
    )
}

fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

fn parse_cidr(ctx: &Ctx, s: &str, field: &str) -> Result<Cidr> {
    Cidr::parse(s).ok_or_else(|| ctx.invalid(field, format!("not a CIDR: {s:?}")))
}

fn cidr_match(
    ctx: &Ctx,
    cidr: &str,
    except: &[String],
    path: &str,
    cidr_field: &str,
) -> Result<CidrMatch> {
    let c = parse_cidr(ctx, cidr, &format!("{path}.{cidr_field}"))?;
    let mut ex = Vec::new();
    for (j, e) in except.iter().enumerate() {
        let field = format!("{path}.except[{j}]");
        let ec = parse_cidr(ctx, e, &field)?;
        if !c.covers(&ec) || ec.prefix == c.prefix {
            return Err(ctx.invalid(field, format!("{ec} is not a strict subset of {c}")));
        }
        ex.push(ec);
    }
    ex.sort();
    ex.dedup();
    Ok(CidrMatch {
        cidr: c,
        except: ex,
    })
}

// ------------------------------------------------------------ NetworkPolicy

fn np_port(ctx: &Ctx, p: &NetworkPolicyPort, path: &str) -> Result<PortMatch> {
    let protocol = match &p.protocol {
        None => Protocol::Tcp,
        Some(s) => Protocol::parse(s).ok_or_else(|| {
            ctx.invalid(
                format!("{path}.protocol"),
                format!("unknown protocol {s:?} (TCP, UDP, SCTP)"),
            )
        })?,
    };
    let number = |n: i64, field: &str| -> Result<u16> {
        u16::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
            ctx.invalid(
                format!("{path}.{field}"),
                format!("port {n} outside 1-65535"),
            )
        })
    };
    let port = match &p.port {
        None => {
            if p.end_port.is_some() {
                return Err(ctx.invalid(format!("{path}.endPort"), "endPort needs a numeric port"));
            }
            PortSel::Range(0, u16::MAX)
        }
        Some(IntOrString::Int(n)) => {
            let lo = number(*n, "port")?;
            match p.end_port {
                None => PortSel::Range(lo, lo),
                Some(e) => {
                    let hi = number(e, "endPort")?;
                    if hi < lo {
                        return Err(ctx.invalid(
                            format!("{path}.endPort"),
                            format!("endPort {hi} is less than port {lo}"),
                        ));
                    }
                    PortSel::Range(lo, hi)
                }
            }
        }
        Some(IntOrString::Str(s)) => {
            if let Ok(n) = s.parse::<i64>() {
                let lo = number(n, "port")?;
                PortSel::Range(lo, lo)
            } else if !is_port_name(s) {
                return Err(ctx.invalid(
                    format!("{path}.port"),
                    format!("not a port number or name: {s:?}"),
                ));
            } else if p.end_port.is_some() {
                return Err(ctx.invalid(
                    format!("{path}.endPort"),
                    "endPort cannot be used with a named port",
                ));
            } else {
                PortSel::Named(s.clone())
            }
        }
    };
    Ok(PortMatch {
        protocol: Some(protocol),
        port,
    })
}

fn np_peer(ctx: &Ctx, peer: &NetworkPolicyPeer, path: &str) -> Result<PeerMatch> {
    if let Some(block) = &peer.ip_block {
        if peer.pod_selector.is_some() || peer.namespace_selector.is_some() {
            return Err(ctx.invalid(
                path,
                "ipBlock cannot be combined with podSelector or namespaceSelector",
            ));
        }
        let m = cidr_match(
            ctx,
            &block.cidr,
            &block.except,
            &format!("{path}.ipBlock"),
            "cidr",
        )?;
        return Ok(PeerMatch::Cidr(m));
    }
    let mut reqs = Vec::new();
    match (&peer.pod_selector, &peer.namespace_selector) {
        (None, None) => {
            return Err(ctx.invalid(
                path,
                "a peer needs podSelector, namespaceSelector or ipBlock",
            ));
        }
        (Some(pod), None) => {
            reqs.extend(selector_requirements(
                ctx,
                pod,
                &format!("{path}.podSelector"),
                KeyStyle::K8sPod,
            )?);
            reqs.push(namespace_pin(&ctx.key.namespace));
        }
        (pod, Some(ns)) => {
            if let Some(pod) = pod {
                reqs.extend(selector_requirements(
                    ctx,
                    pod,
                    &format!("{path}.podSelector"),
                    KeyStyle::K8sPod,
                )?);
            }
            reqs.extend(selector_requirements(
                ctx,
                ns,
                &format!("{path}.namespaceSelector"),
                KeyStyle::K8sNamespace,
            )?);
            // Only pods: every pod carries its namespace label.
            reqs.push(Requirement::new(
                Some("k8s"),
                LABEL_POD_NAMESPACE,
                Operator::Exists,
            ));
        }
    }
    Ok(PeerMatch::Selector(Selector::new(reqs)))
}

fn np_rule(
    ctx: &Ctx,
    direction: Direction,
    index: usize,
    peers: &[NetworkPolicyPeer],
    ports: &[NetworkPolicyPort],
) -> Result<CompiledRule> {
    let (section, peer_field) = match direction {
        Direction::Ingress => ("ingress", "from"),
        Direction::Egress => ("egress", "to"),
    };
    let path = format!("spec.{section}[{index}]");
    let mut compiled_peers = Vec::new();
    if peers.is_empty() {
        compiled_peers.push(PeerMatch::Any);
    }
    for (i, p) in peers.iter().enumerate() {
        compiled_peers.push(np_peer(ctx, p, &format!("{path}.{peer_field}[{i}]"))?);
    }
    let mut compiled_ports = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        compiled_ports.push(np_port(ctx, p, &format!("{path}.ports[{i}]"))?);
    }
    Ok(CompiledRule {
        direction,
        deny: false,
        peers: compiled_peers,
        ports: compiled_ports,
        rule: ctx.rule_ref(direction, RuleEffect::Allow, index, &path),
    })
}

fn compile_network_policy(np: &NetworkPolicy) -> Result<CompiledPolicy> {
    let ctx = Ctx {
        key: policy_key(PolicyKind::NetworkPolicy, &np.metadata)?,
    };
    let spec = &np.spec;
    let mut subject = selector_requirements(
        &ctx,
        &spec.pod_selector,
        "spec.podSelector",
        KeyStyle::K8sPod,
    )?;
    subject.push(namespace_pin(&ctx.key.namespace));

    // An empty list counts as absent, as the API server's defaulting does.
    let (ingress, egress) = match spec.policy_types.as_ref().filter(|t| !t.is_empty()) {
        None => (true, !spec.egress.is_empty()),
        Some(types) => {
            let mut ingress = false;
            let mut egress = false;
            for (i, t) in types.iter().enumerate() {
                match t.as_str() {
                    "Ingress" => ingress = true,
                    "Egress" => egress = true,
                    other => {
                        return Err(ctx.invalid(
                            format!("spec.policyTypes[{i}]"),
                            format!("unknown policy type {other:?} (Ingress, Egress)"),
                        ));
                    }
                }
            }
            (ingress, egress)
        }
    };
    let mut rules = Vec::new();
    if ingress {
        for (i, r) in spec.ingress.iter().enumerate() {
            rules.push(np_rule(&ctx, Direction::Ingress, i, &r.from, &r.ports)?);
        }
    }
    if egress {
        for (i, r) in spec.egress.iter().enumerate() {
            rules.push(np_rule(&ctx, Direction::Egress, i, &r.to, &r.ports)?);
        }
    }
    Ok(CompiledPolicy {
        key: ctx.key.clone(),
        parts: vec![CompiledPart {
            subject: Selector::new(subject),
            isolates: [
                ingress.then(|| "spec.ingress".to_string()),
                egress.then(|| "spec.egress".to_string()),
            ],
            rules,
        }],
    })
}

// ------------------------------------------------------------ Cilium

fn unsupported_fields(ctx: &Ctx, path: &str, fields: &[(&str, bool)]) -> Result<()> {
    for (name, present) in fields {
        if *present {
            return Err(ctx.unsupported(
                format!("{path}.{name}"),
                format!("{name} is not evaluated by the engine (layers 3-4 only)"),
            ));
        }
    }
    Ok(())
}

fn cilium_ports(ctx: &Ctx, rules: &[CiliumPortRule], path: &str) -> Result<Vec<PortMatch>> {
    let mut out = Vec::new();
    for (i, pr) in rules.iter().enumerate() {
        let p = format!("{path}[{i}]");
        unsupported_fields(
            ctx,
            &p,
            &[
                ("rules", pr.rules.is_some()),
                ("terminatingTLS", pr.terminating_tls.is_some()),
                ("originatingTLS", pr.originating_tls.is_some()),
                ("serverNames", pr.server_names.is_some()),
                ("listener", pr.listener.is_some()),
            ],
        )?;
        if pr.ports.is_empty() {
            // No ports: every port.
            out.push(PortMatch {
                protocol: None,
                port: PortSel::Range(0, u16::MAX),
            });
        }
        for (j, pp) in pr.ports.iter().enumerate() {
            let pp_path = format!("{p}.ports[{j}]");
            let protocol = match pp.protocol.as_deref() {
                None | Some("ANY") | Some("") => None,
                Some(s) => Some(Protocol::parse(s).ok_or_else(|| {
                    ctx.invalid(
                        format!("{pp_path}.protocol"),
                        format!("unknown protocol {s:?} (TCP, UDP, SCTP, ANY)"),
                    )
                })?),
            };
            let number = match &pp.port {
                None => Some(0i64),
                Some(IntOrString::Int(n)) => Some(*n),
                Some(IntOrString::Str(s)) if s.is_empty() => Some(0),
                Some(IntOrString::Str(s)) => s.parse::<i64>().ok(),
            };
            let port = match number {
                Some(n) => {
                    let lo = u16::try_from(n).map_err(|_| {
                        ctx.invalid(
                            format!("{pp_path}.port"),
                            format!("port {n} outside 0-65535"),
                        )
                    })?;
                    let end = pp.end_port.unwrap_or(0);
                    if lo == 0 {
                        if end != 0 {
                            return Err(ctx.invalid(
                                format!("{pp_path}.endPort"),
                                "endPort needs a non-zero port",
                            ));
                        }
                        PortSel::Range(0, u16::MAX)
                    } else if end == 0 {
                        PortSel::Range(lo, lo)
                    } else {
                        let hi = u16::try_from(end)
                            .ok()
                            .filter(|&h| h >= lo)
                            .ok_or_else(|| {
                                ctx.invalid(
                                    format!("{pp_path}.endPort"),
                                    format!("endPort {end} is not in {lo}-65535"),
                                )
                            })?;
                        PortSel::Range(lo, hi)
                    }
                }
                None => {
                    let Some(IntOrString::Str(name)) = &pp.port else {
                        return Err(ctx.invalid(format!("{pp_path}.port"), "bad port"));
                    };
                    let name = name.to_ascii_lowercase();
                    if !is_port_name(&name) {
                        return Err(ctx.invalid(
                            format!("{pp_path}.port"),
                            format!("not a port number or name: {name:?}"),
                        ));
                    }
                    if pp.end_port.is_some_and(|e| e != 0) {
                        return Err(ctx.invalid(
                            format!("{pp_path}.endPort"),
                            "endPort cannot be used with a named port",
                        ));
                    }
                    PortSel::Named(name)
                }
            };
            out.push(PortMatch { protocol, port });
        }
    }
    Ok(out)
}

fn entity_peers(entity: Entity) -> Vec<PeerMatch> {
    let reserved = |k: &str| PeerMatch::Selector(Selector::has_label("reserved", k));
    match entity {
        Entity::World => vec![reserved("world")],
        Entity::Host => vec![reserved("host")],
        Entity::RemoteNode => vec![reserved("remote-node")],
        Entity::KubeApiserver => vec![reserved("kube-apiserver")],
        Entity::Init => vec![reserved("init")],
        Entity::Health => vec![reserved("health")],
        Entity::Unmanaged => vec![reserved("unmanaged")],
        Entity::Ingress => vec![reserved("ingress")],
        Entity::Cluster => vec![
            reserved("host"),
            reserved("remote-node"),
            reserved("kube-apiserver"),
            reserved("init"),
            reserved("health"),
            reserved("unmanaged"),
            reserved("ingress"),
            PeerMatch::Selector(Selector::has_label("k8s", LABEL_POD_NAMESPACE)),
        ],
        Entity::All => vec![PeerMatch::Any],
    }
}

/// The layer-3 part of a Cilium rule, either direction.
struct CiliumL3<'a> {
    endpoints: Option<&'a Vec<LabelSelector>>,
    cidrs: Option<&'a Vec<String>>,
    cidr_sets: Option<&'a Vec<CidrRule>>,
    entities: Option<&'a Vec<String>>,
    ports: Option<&'a Vec<CiliumPortRule>>,
    scope: PeerScope<'a>,
}

fn cilium_rule(
    ctx: &Ctx,
    l3: CiliumL3<'_>,
    direction: Direction,
    deny: bool,
    index: usize,
    path: &str,
) -> Result<CompiledRule> {
    let prefix = match direction {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    let mut peers = Vec::new();
    let mut has_l3 = false;
    if let Some(eps) = l3.endpoints {
        for (i, s) in eps.iter().enumerate() {
            has_l3 = true;
            let field = format!("{path}.{prefix}Endpoints[{i}]");
            let mut reqs = selector_requirements(ctx, s, &field, KeyStyle::Cilium)?;
            l3.scope.apply(&mut reqs);
            peers.push(PeerMatch::Selector(Selector::new(reqs)));
        }
    }
    if let Some(cidrs) = l3.cidrs {
        for (i, c) in cidrs.iter().enumerate() {
            has_l3 = true;
            let field = format!("{path}.{prefix}CIDR[{i}]");
            let cidr = parse_cidr(ctx, c, &field)?;
            peers.push(PeerMatch::Cidr(CidrMatch {
                cidr,
                except: Vec::new(),
            }));
        }
    }
    if let Some(sets) = l3.cidr_sets {
        for (i, s) in sets.iter().enumerate() {
            has_l3 = true;
            let p = format!("{path}.{prefix}CIDRSet[{i}]");
            unsupported_fields(
                ctx,
                &p,
                &[
                    ("cidrGroupRef", s.cidr_group_ref.is_some()),
                    ("cidrGroupSelector", s.cidr_group_selector.is_some()),
                ],
            )?;
            let Some(c) = &s.cidr else {
                return Err(ctx.invalid(format!("{p}.cidr"), "cidr is required"));
            };
            peers.push(PeerMatch::Cidr(cidr_match(ctx, c, &s.except, &p, "cidr")?));
        }
    }
    if let Some(entities) = l3.entities {
        for (i, e) in entities.iter().enumerate() {
            has_l3 = true;
            let field = format!("{path}.{prefix}Entities[{i}]");
            let entity = Entity::parse(e)
                .ok_or_else(|| ctx.invalid(field, format!("unknown entity {e:?}")))?;
            peers.extend(entity_peers(entity));
        }
    }
    let ports = match l3.ports {
        Some(p) => cilium_ports(ctx, p, &format!("{path}.toPorts"))?,
        None => Vec::new(),
    };
    if !has_l3 && !ports.is_empty() {
        // A layer-4-only rule applies to every peer.
        peers.push(PeerMatch::Any);
    }
    peers.sort();
    peers.dedup();
    let effect = if deny {
        RuleEffect::Deny
    } else {
        RuleEffect::Allow
    };
    Ok(CompiledRule {
        direction,
        deny,
        peers,
        ports,
        rule: ctx.rule_ref(direction, effect, index, path),
    })
}

fn ingress_rule(
    ctx: &Ctx,
    r: &CiliumIngressRule,
    deny: bool,
    index: usize,
    path: &str,
    scope: PeerScope<'_>,
) -> Result<CompiledRule> {
    unsupported_fields(
        ctx,
        path,
        &[
            ("fromRequires", r.from_requires.is_some()),
            ("fromGroups", r.from_groups.is_some()),
            ("fromNodes", r.from_nodes.is_some()),
            ("icmps", r.icmps.is_some()),
            ("authentication", r.authentication.is_some()),
        ],
    )?;
    let l3 = CiliumL3 {
        endpoints: r.from_endpoints.as_ref(),
        cidrs: r.from_cidr.as_ref(),
        cidr_sets: r.from_cidr_set.as_ref(),
        entities: r.from_entities.as_ref(),
        ports: r.to_ports.as_ref(),
        scope,
    };
    cilium_rule(ctx, l3, Direction::Ingress, deny, index, path)
}

fn egress_rule(
    ctx: &Ctx,
    r: &CiliumEgressRule,
    deny: bool,
    index: usize,
    path: &str,
    scope: PeerScope<'_>,
) -> Result<CompiledRule> {
    unsupported_fields(
        ctx,
        path,
        &[
            ("toRequires", r.to_requires.is_some()),
            ("toFQDNs", r.to_fqdns.is_some()),
            ("toServices", r.to_services.is_some()),
            ("toGroups", r.to_groups.is_some()),
            ("toNodes", r.to_nodes.is_some()),
            ("icmps", r.icmps.is_some()),
            ("authentication", r.authentication.is_some()),
        ],
    )?;
    let l3 = CiliumL3 {
        endpoints: r.to_endpoints.as_ref(),
        cidrs: r.to_cidr.as_ref(),
        cidr_sets: r.to_cidr_set.as_ref(),
        entities: r.to_entities.as_ref(),
        ports: r.to_ports.as_ref(),
        scope,
    };
    cilium_rule(ctx, l3, Direction::Egress, deny, index, path)
}

fn cilium_part(ctx: &Ctx, rule: &CiliumRule, path: &str) -> Result<CompiledPart> {
    if rule.node_selector.is_some() {
        return Err(ctx.unsupported(
            format!("{path}.nodeSelector"),
            "host policies (nodeSelector) are not evaluated by the engine",
        ));
    }
    let Some(es) = &rule.endpoint_selector else {
        return Err(ctx.invalid(
            format!("{path}.endpointSelector"),
            "endpointSelector is required",
        ));
    };
    let mut subject = selector_requirements(
        ctx,
        es,
        &format!("{path}.endpointSelector"),
        KeyStyle::Cilium,
    )?;
    let scope = if ctx.key.kind == PolicyKind::CiliumNetworkPolicy {
        PeerScope::Namespace(&ctx.key.namespace)
    } else if subject
        .iter()
        .any(|r| r.source.as_deref() == Some("reserved") && r.key == "init")
    {
        PeerScope::AsWritten
    } else {
        PeerScope::Pods
    };
    if ctx.key.kind == PolicyKind::CiliumNetworkPolicy {
        // As Cilium: the subject always lives in the policy's namespace; a
        // namespace match of its own is dropped.
        subject.retain(|r| r.key != LABEL_POD_NAMESPACE);
        subject.push(namespace_pin(&ctx.key.namespace));
    }
    let mut rules = Vec::new();
    let sections_ingress = [
        (false, "ingress", &rule.ingress),
        (true, "ingressDeny", &rule.ingress_deny),
    ];
    for (deny, name, list) in sections_ingress {
        for (i, r) in list.iter().flatten().enumerate() {
            rules.push(ingress_rule(
                ctx,
                r,
                deny,
                i,
                &format!("{path}.{name}[{i}]"),
                scope,
            )?);
        }
    }
    let sections_egress = [
        (false, "egress", &rule.egress),
        (true, "egressDeny", &rule.egress_deny),
    ];
    for (deny, name, list) in sections_egress {
        for (i, r) in list.iter().flatten().enumerate() {
            rules.push(egress_rule(
                ctx,
                r,
                deny,
                i,
                &format!("{path}.{name}[{i}]"),
                scope,
            )?);
        }
    }
    let non_empty = |a: &Option<Vec<CiliumIngressRule>>| a.as_ref().is_some_and(|v| !v.is_empty());
    let non_empty_e = |a: &Option<Vec<CiliumEgressRule>>| a.as_ref().is_some_and(|v| !v.is_empty());
    let dd = rule.enable_default_deny.clone().unwrap_or_default();
    let ingress_isolates =
        dd.ingress.unwrap_or(true) && (non_empty(&rule.ingress) || non_empty(&rule.ingress_deny));
    let egress_isolates =
        dd.egress.unwrap_or(true) && (non_empty_e(&rule.egress) || non_empty_e(&rule.egress_deny));
    let section = |plain: &str, deny: &str, has_plain: bool| {
        if has_plain {
            format!("{path}.{plain}")
        } else {
            format!("{path}.{deny}")
        }
    };
    Ok(CompiledPart {
        subject: Selector::new(subject),
        isolates: [
            ingress_isolates.then(|| section("ingress", "ingressDeny", non_empty(&rule.ingress))),
            egress_isolates.then(|| section("egress", "egressDeny", non_empty_e(&rule.egress))),
        ],
        rules,
    })
}

fn compile_cilium(p: &CiliumPolicy, kind: PolicyKind) -> Result<CompiledPolicy> {
    let ctx = Ctx {
        key: policy_key(kind, &p.metadata)?,
    };
    let mut parts = Vec::new();
    if let Some(spec) = &p.spec {
        parts.push(cilium_part(&ctx, spec, "spec")?);
    }
    for (i, spec) in p.specs.iter().enumerate() {
        parts.push(cilium_part(&ctx, spec, &format!("specs[{i}]"))?);
    }
    if parts.is_empty() {
        return Err(ctx.invalid("spec", "a policy needs spec or specs"));
    }
    Ok(CompiledPolicy {
        key: ctx.key.clone(),
        parts,
    })
}
