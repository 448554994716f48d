//! What the engine takes of a Pod or a CiliumEndpoint ([`PodInput`],
//! [`CepInput`]), checked, from either reading of the object: the owned
//! one ([`pod_input`], [`cep_input`] over a parsed [`Pod`] or
//! [`CiliumEndpoint`]) and the borrowed one (`Borrowed::pod_input` and
//! `cep_input` over what `model/event/borrowed.rs` read in place).
//!
//! **One set of checks.** Both readings go through the same helpers here
//! (name and namespace, node and service account names, addresses,
//! container ports, whether a Pod is an endpoint, and the one
//! [`EndpointData`] builder of a CiliumEndpoint); the owned reading names
//! the object and the field of a rejected value, the borrowed one answers
//! `None` on any error (its caller then takes the owned path, which gives
//! the error). An error is built only when a check fails, so the helpers
//! cost a valid event nothing for it.

use std::net::IpAddr;
use std::sync::Arc;

use super::{Addressing, DataInterner, EndpointData, PortEntry, Protocol};
use crate::entry::{self, Origin, under};
use crate::error::{Error, ErrorCode, Result};
use crate::identity::IdentityId;
use crate::labels::Interner;
use crate::model::event::borrowed::Borrowed;
use crate::model::{CiliumEndpoint, EndpointNetworking, Kind, ObjectMeta, Pod, describe};
use crate::validate;

/// A validated Pod, as the engine needs it (its strings borrowed from the Pod).
#[derive(Debug, Clone)]
pub struct PodInput<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub node_name: Option<&'a str>,
    pub service_account: &'a str,
    pub addressing: Addressing,
    pub named_ports: Vec<PortEntry>,
    pub host_ip: Option<IpAddr>,
    /// Has a node and an IP, is not host-network, not Succeeded/Failed.
    pub is_endpoint: bool,
}

/// A validated CiliumEndpoint. `None` data when Cilium would ignore it
/// (no identity or no networking yet).
#[derive(Debug, Clone)]
pub struct CepInput<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub identity: Option<IdentityId>,
    pub identity_labels: &'a [String],
    pub data: Option<EndpointData>,
}

/// Runs `check` with an empty object description and, only when it fails,
/// names the object in the error (`Kind namespace/name`): the description
/// is a `format!` that a valid event, the common case, never needs. Every
/// error `check` returns is about this object.
pub(crate) fn described<T>(
    kind: Kind,
    meta: &ObjectMeta,
    check: impl FnOnce(&str) -> Result<T>,
) -> Result<T> {
    check("").map_err(|mut e| {
        e.object = describe(kind, meta);
        e
    })
}

/// Checks the fields of `metadata` every namespaced kind shares (namespace
/// and name): all a DELETED event of a Pod or CiliumEndpoint needs.
pub(crate) fn check_namespaced(kind: Kind, meta: &ObjectMeta) -> Result<()> {
    described(kind, meta, |obj| {
        namespace_and_name(obj, meta.namespace.as_deref(), &meta.name).map(drop)
    })
}

// ------------------------------------------------------ the shared checks

/// `metadata.namespace` (required) and `metadata.name`; the namespace.
fn namespace_and_name<'a>(obj: &str, namespace: Option<&'a str>, name: &str) -> Result<&'a str> {
    let ns = namespace.unwrap_or("");
    if ns.is_empty() {
        return Err(Error::new(
            ErrorCode::MissingField,
            obj,
            "metadata.namespace",
            "namespace is required",
        ));
    }
    validate::require_name(obj, "metadata.namespace", ns, false)?;
    validate::require_name(obj, "metadata.name", name, true)?;
    Ok(ns)
}

/// A Pod's `spec.nodeName` (empty: none) and `spec.serviceAccountName`
/// (empty: none), checked.
fn pod_names<'a>(
    obj: &str,
    node_name: Option<&'a str>,
    service_account: Option<&'a str>,
) -> Result<(Option<&'a str>, &'a str)> {
    let node_name = node_name.filter(|n| !n.is_empty());
    if let Some(n) = node_name {
        validate::require_name(obj, "spec.nodeName", n, true)?;
    }
    let sa = service_account.unwrap_or_default();
    if !sa.is_empty() {
        validate::require_name(obj, "spec.serviceAccountName", sa, true)?;
    }
    Ok((node_name, sa))
}

/// Keeps the first IPv4 and the first IPv6 address of a Pod.
fn keep_address(addressing: &mut Addressing, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            addressing.ipv4.get_or_insert(v4);
        }
        IpAddr::V6(v6) => {
            addressing.ipv6.get_or_insert(v6);
        }
    }
}

/// `status.hostIP` (empty: none), checked.
fn host_ip(obj: &str, host_ip: Option<&str>) -> Result<Option<IpAddr>> {
    match host_ip.filter(|s| !s.is_empty()) {
        Some(s) => Ok(Some(validate::parse_ip(obj, "status.hostIP", s)?)),
        None => Ok(None),
    }
}

/// One container port, its fields (`containerPort`, `protocol`, `name`)
/// named relative to the port; a named one is kept.
fn container_port(
    obj: &str,
    port: i64,
    protocol: Option<&str>,
    name: Option<&str>,
    strings: &mut Interner,
) -> Result<Option<PortEntry>> {
    let port = validate::check_port(obj, "containerPort", port)?;
    let protocol = Protocol::parse_one_of(
        obj,
        "protocol",
        protocol.unwrap_or("TCP"),
        Protocol::CONTAINER_PORT,
    )?;
    match name.filter(|n| !n.is_empty()) {
        Some(name) => {
            validate::check_port_name(name)
                .map_err(|m| Error::new(ErrorCode::InvalidValue, obj, "name", m))?;
            Ok(Some(PortEntry {
                name: strings.intern(name),
                port,
                protocol,
            }))
        }
        None => Ok(None),
    }
}

/// Has a node and an IP, is not host-network, not Succeeded/Failed.
fn pod_is_endpoint(
    node_name: Option<&str>,
    addressing: &Addressing,
    host_network: bool,
    phase: Option<&str>,
) -> bool {
    let phase_done = matches!(phase, Some("Succeeded") | Some("Failed"));
    let has_ip = addressing.ipv4.is_some() || addressing.ipv6.is_some();
    node_name.is_some() && has_ip && !host_network && !phase_done
}

/// The one builder of a CiliumEndpoint's [`EndpointData`] from its checked
/// parts: `None` without `networking` (Cilium ignores the endpoint until
/// it has some); the networking's errors are named under `networking.`.
fn cep_data(
    obj: &str,
    networking: Option<&EndpointNetworking>,
    encryption_key: u8,
    named_ports: Vec<PortEntry>,
    service_account: Option<Arc<str>>,
    interner: &mut DataInterner,
) -> Result<Option<EndpointData>> {
    let Some(net) = networking else {
        return Ok(None);
    };
    let (addressing, node_ip) = entry::networking(obj, net)?;
    Ok(Some(EndpointData {
        addressing,
        node_ip,
        encryption_key,
        named_ports: interner.ports(named_ports),
        service_account,
    }))
}

// ------------------------------------------------------ the owned reading

/// Validates a Pod and extracts what the engine uses.
pub fn pod_input<'a>(pod: &'a Pod, strings: &mut Interner) -> Result<PodInput<'a>> {
    described(Kind::Pod, &pod.metadata, |obj| {
        pod_input_described(obj, pod, strings)
    })
}

fn pod_input_described<'a>(
    obj: &str,
    pod: &'a Pod,
    strings: &mut Interner,
) -> Result<PodInput<'a>> {
    let meta = &pod.metadata;
    let namespace = namespace_and_name(obj, meta.namespace.as_deref(), &meta.name)?;
    validate::check_labels(obj, "metadata.labels", &meta.labels)?;
    let (spec, status) = (&pod.spec, &pod.status);
    let (node_name, sa) = pod_names(
        obj,
        spec.node_name.as_deref(),
        spec.service_account_name.as_deref(),
    )?;
    validate::too_large(
        obj,
        "status.podIPs",
        status.pod_ips.len(),
        validate::MAX_POD_IPS,
    )?;
    let mut addressing = Addressing::default();
    for (i, p) in status.pod_ips.iter().enumerate() {
        // The field is named only when the address is rejected.
        let ip = validate::parse_ip(obj, "ip", &p.ip)
            .map_err(under(|| format!("status.podIPs[{i}].")))?;
        keep_address(&mut addressing, ip);
    }
    if status.pod_ips.is_empty()
        && let Some(ip) = status.pod_ip.as_deref().filter(|s| !s.is_empty())
    {
        keep_address(
            &mut addressing,
            validate::parse_ip(obj, "status.podIP", ip)?,
        );
    }
    let host_ip = host_ip(obj, status.host_ip.as_deref())?;
    let total_ports: usize = spec.containers.iter().map(|c| c.ports.len()).sum();
    validate::too_large(
        obj,
        "spec.containers[].ports",
        total_ports,
        validate::MAX_NAMED_PORTS,
    )?;
    let mut named_ports = Vec::new();
    for (ci, c) in spec.containers.iter().enumerate() {
        for (pi, p) in c.ports.iter().enumerate() {
            let at = || format!("spec.containers[{ci}].ports[{pi}].");
            let port = container_port(
                obj,
                p.container_port,
                p.protocol.as_deref(),
                p.name.as_deref(),
                strings,
            )
            .map_err(under(at))?;
            named_ports.extend(port);
        }
    }
    Ok(PodInput {
        namespace,
        name: &meta.name,
        is_endpoint: pod_is_endpoint(
            node_name,
            &addressing,
            spec.host_network,
            status.phase.as_deref(),
        ),
        node_name,
        service_account: sa,
        addressing,
        named_ports,
        host_ip,
    })
}

/// Validates a CiliumEndpoint and extracts what the engine uses; its
/// networking, encryption key, named ports and service account are read by
/// the slice entry codec (`core/src/entry.rs`) with the CiliumEndpoint rules.
pub fn cep_input<'a>(cep: &'a CiliumEndpoint, interner: &mut DataInterner) -> Result<CepInput<'a>> {
    described(Kind::CiliumEndpoint, &cep.metadata, |obj| {
        cep_input_described(obj, cep, interner)
    })
}

fn cep_input_described<'a>(
    obj: &str,
    cep: &'a CiliumEndpoint,
    interner: &mut DataInterner,
) -> Result<CepInput<'a>> {
    let meta = &cep.metadata;
    let namespace = namespace_and_name(obj, meta.namespace.as_deref(), &meta.name)?;
    let st = &cep.status;
    let identity = match &st.identity {
        Some(i) => {
            if !(1..=i64::from(u32::MAX)).contains(&i.id) {
                return Err(Error::new(
                    ErrorCode::InvalidValue,
                    obj,
                    "status.identity.id",
                    format!("identity {} is not a valid number", i.id),
                ));
            }
            validate::too_large(
                obj,
                "status.identity.labels",
                i.labels.len(),
                validate::MAX_LABELS,
            )?;
            validate::check_strings_size(obj, "status.identity.labels", &i.labels)?;
            Some(i.id as IdentityId)
        }
        None => None,
    };
    // The parts a slice entry also carries, read by the slice entry codec
    // with the CiliumEndpoint rules, in the order their errors are reported.
    let status = || "status.".to_string();
    let key = match &st.encryption {
        Some(e) => entry::encryption_key(obj, e.key).map_err(under(status))?,
        None => 0,
    };
    let sa = entry::service_account(
        obj,
        st.service_account.as_deref(),
        Origin::CiliumEndpoint,
        &mut interner.strings,
    )
    .map_err(under(status))?;
    let ports = entry::named_ports(
        obj,
        &st.named_ports,
        Origin::CiliumEndpoint,
        &mut interner.strings,
    )
    .map_err(under(status))?;
    let data =
        cep_data(obj, st.networking.as_ref(), key, ports, sa, interner).map_err(under(status))?;
    Ok(CepInput {
        namespace,
        name: &meta.name,
        identity,
        identity_labels: st.identity.as_ref().map_or(&[], |i| i.labels.as_slice()),
        data,
    })
}

// --------------------------------------------------- the borrowed reading

impl<'a> Borrowed<'a> {
    /// What [`pod_input`] gives for this Pod, or `None` when it would
    /// reject it.
    pub fn pod_input(&self, strings: &mut Interner) -> Option<PodInput<'a>> {
        let (meta, spec, status) = (&self.meta, &self.spec, &self.status);
        let namespace = namespace_and_name("", meta.namespace, meta.name).ok()?;
        // What `validate::check_labels` accepts.
        validate::labels_valid(meta.labels.iter().copied()).then_some(())?;
        let (node_name, sa) = pod_names("", spec.node_name, spec.service_account_name).ok()?;
        if status.pod_ips.len() > validate::MAX_POD_IPS {
            return None;
        }
        let mut addressing = Addressing::default();
        for ip in &status.pod_ips {
            keep_address(&mut addressing, validate::parse_ip("", "", ip).ok()?);
        }
        if status.pod_ips.is_empty()
            && let Some(ip) = status.pod_ip.filter(|s| !s.is_empty())
        {
            keep_address(&mut addressing, validate::parse_ip("", "", ip).ok()?);
        }
        let host_ip = host_ip("", status.host_ip).ok()?;
        if spec.ports.len() > validate::MAX_NAMED_PORTS {
            return None;
        }
        let mut named_ports = Vec::new();
        for &(name, port, protocol) in &spec.ports {
            named_ports.extend(container_port("", port, protocol, name, strings).ok()?);
        }
        Some(PodInput {
            namespace,
            name: meta.name,
            is_endpoint: pod_is_endpoint(node_name, &addressing, spec.host_network, status.phase),
            node_name,
            service_account: sa,
            addressing,
            named_ports,
            host_ip,
        })
    }

    /// The CiliumEndpoint's `status.identity.labels` (owned: `CepInput`
    /// borrows them as `String`s; empty in most events, then nothing is
    /// allocated).
    pub fn identity_labels(&self) -> Vec<String> {
        match &self.status.identity {
            Some((_, labels)) => labels.iter().map(|l| l.to_string()).collect(),
            None => Vec::new(),
        }
    }

    /// What [`cep_input`] gives for this CiliumEndpoint, with
    /// `identity_labels` from [`identity_labels`](Self::identity_labels),
    /// or `None` when it would reject it.
    pub fn cep_input<'l>(
        &self,
        identity_labels: &'l [String],
        interner: &mut DataInterner,
    ) -> Option<CepInput<'l>>
    where
        'a: 'l,
    {
        let namespace = namespace_and_name("", self.meta.namespace, self.meta.name).ok()?;
        let st = &self.status;
        let identity = match &st.identity {
            Some((id, labels)) => {
                if !(1..=i64::from(u32::MAX)).contains(id) || labels.len() > validate::MAX_LABELS {
                    return None;
                }
                // What `validate::check_strings_size` accepts.
                let bytes = labels.iter().fold(0usize, |sum, s| {
                    sum.saturating_add(s.len() + validate::STRING_ENTRY_OVERHEAD)
                });
                if bytes > validate::MAX_OBJECT_BYTES {
                    return None;
                }
                Some(*id as IdentityId)
            }
            None => None,
        };
        let key = match st.encryption {
            Some(k) => entry::encryption_key("", k).ok()?,
            None => 0,
        };
        let sa = entry::service_account(
            "",
            st.service_account,
            Origin::CiliumEndpoint,
            &mut interner.strings,
        )
        .ok()?;
        // What `entry::named_ports` accepts (it reads owned `NamedPort`s).
        if st.named_ports.len() > validate::MAX_NAMED_PORTS {
            return None;
        }
        let mut ports = Vec::with_capacity(st.named_ports.len());
        for &(name, port, protocol) in &st.named_ports {
            let port = validate::check_port("", "", port).ok()?;
            let protocol = match protocol {
                "" => Protocol::Tcp,
                s => Protocol::parse_one_of("", "", s, Protocol::NAMED_PORT).ok()?,
            };
            ports.push(PortEntry {
                name: interner.strings.intern(name),
                port,
                protocol,
            });
        }
        let data = cep_data("", st.networking.as_ref(), key, ports, sa, interner).ok()?;
        Some(CepInput {
            namespace,
            name: self.meta.name,
            identity,
            identity_labels,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::borrowed::{BorrowedKind, read};

    /// The usual events (sorted keys, `object` before `type`, as kubectl
    /// and the benches print them) take the borrowed path; the others
    /// are left to the owned one.
    #[test]
    fn usual_events_are_read_borrowed() {
        let pod = r#"{"object":{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web","tier":"db"},"name":"p0","namespace":"a","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u"}],"resourceVersion":"1","uid":"u1"},"spec":{"containers":[{"name":"app","ports":[{"containerPort":8080,"name":"http","protocol":"TCP"}]}],"nodeName":"n1","serviceAccountName":"sa"},"status":{"hostIP":"172.16.0.1","phase":"Running","podIP":"10.0.0.1","podIPs":[{"ip":"10.0.0.1"}]}},"type":"ADDED"}"#;
        let mut p = Borrowed::default();
        assert_eq!(read(pod.as_bytes(), &mut p), Some(BorrowedKind::Pod));
        let input = p.pod_input(&mut Interner::default()).unwrap();
        assert!(input.is_endpoint);
        assert_eq!((input.namespace, input.name), ("a", "p0"));
        assert_eq!(
            p.labels().collect::<Vec<_>>(),
            [("app", "web"), ("tier", "db")]
        );
        let cep = r#"{"object":{"apiVersion":"cilium.io/v2","kind":"CiliumEndpoint","metadata":{"name":"c0","namespace":"a"},"status":{"encryption":{"key":1},"identity":{"id":263,"labels":["k8s:app=api"]},"named-ports":[{"name":"http","port":8080,"protocol":"TCP"}],"networking":{"addressing":[{"ipv4":"10.0.0.145"}],"node":"172.16.0.145"},"service-account":"api-sa"}},"type":"MODIFIED"}"#;
        let mut c = Borrowed::default();
        assert_eq!(
            read(cep.as_bytes(), &mut c),
            Some(BorrowedKind::CiliumEndpoint)
        );
        let labels = c.identity_labels();
        let input = c.cep_input(&labels, &mut DataInterner::default()).unwrap();
        assert_eq!(input.identity, Some(263));
        assert_eq!(input.identity_labels, ["k8s:app=api".to_string()]);
        assert!(input.data.is_some());
        for other in [
            pod.replace("ADDED", "DELETED"),
            pod.replace("\"Pod\"", "\"Service\""),
            pod.replace("\"v1\"", "\"cilium.io/v2\""),
            pod.replace("\"p0\"", "\"p\\u0030\""),
            pod.replace("\"tier\"", "\"aaa\""),
            pod.replace("8080", "8080.0"),
            pod.replace("\"sa\"", "null"),
            format!("{pod}x"),
        ] {
            assert!(
                read(other.as_bytes(), &mut Borrowed::default()).is_none(),
                "{other}"
            );
        }
    }
}
