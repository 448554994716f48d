//! Validation of every input, by Kubernetes' rules.
//!
//! Each check returns the message only; callers attach the object and the
//! field, so that an error always says which object and which field.

use std::net::IpAddr;

use crate::error::{Error, ErrorCode, Result};
use crate::model::Labels;

/// Bounds that keep one object from holding unbounded memory.
pub const MAX_LABELS: usize = 256;
pub const MAX_ADDRESSES: usize = 16;
pub const MAX_NAMED_PORTS: usize = 256;
pub const MAX_ENDPOINTS_IN_OBSERVED_SLICE: usize = 10_000;

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// DNS-1123 label: at most 63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn check_dns1123_label(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err("must not be empty".into());
    }
    if b.len() > 63 {
        return Err(format!("{s:?} is longer than 63 characters"));
    }
    if !is_alnum_lower(b[0])
        || !is_alnum_lower(b[b.len() - 1])
        || !b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
    {
        return Err(format!(
            "{s:?} is not a DNS-1123 label (lower-case alphanumerics and '-', starting and ending alphanumeric)"
        ));
    }
    Ok(())
}

/// DNS-1123 subdomain: at most 253, dot-separated DNS-1123 labels.
pub fn check_dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 253 {
        return Err(format!("{s:?} is longer than 253 characters"));
    }
    for part in s.split('.') {
        check_dns1123_label(part).map_err(|_| format!("{s:?} is not a DNS-1123 subdomain"))?;
    }
    Ok(())
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'
}

/// The name part of a qualified name / a label value: at most 63 of
/// `[A-Za-z0-9-_.]`, alphanumeric at both ends.
fn check_qualified_part(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    if b.len() > 63 {
        return Err(format!("{s:?} is longer than 63 characters"));
    }
    if b.is_empty() {
        return Err("must not be empty".into());
    }
    if !b[0].is_ascii_alphanumeric()
        || !b[b.len() - 1].is_ascii_alphanumeric()
        || !b.iter().all(|&c| is_name_char(c))
    {
        return Err(format!(
            "{s:?} must be alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
        ));
    }
    Ok(())
}

/// Label key: `[prefix/]name`, prefix a DNS-1123 subdomain.
pub fn check_label_key(key: &str) -> Result<(), String> {
    match key.rsplit_once('/') {
        Some((prefix, name)) => {
            check_dns1123_subdomain(prefix).map_err(|m| format!("label key prefix: {m}"))?;
            check_qualified_part(name).map_err(|m| format!("label key {key:?}: {m}"))
        }
        None => check_qualified_part(key).map_err(|m| format!("label key: {m}")),
    }
}

/// Label value: empty, or a qualified name part.
pub fn check_label_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    check_qualified_part(v).map_err(|m| format!("label value: {m}"))
}

/// Checks a label map; the error names `field.key`.
pub fn check_labels(object: &str, field: &str, labels: &Labels) -> Result<()> {
    if labels.len() > MAX_LABELS {
        return Err(Error::new(
            ErrorCode::TooLarge,
            object,
            field,
            format!("{} labels, at most {MAX_LABELS} allowed", labels.len()),
        ));
    }
    for (k, v) in labels {
        check_label_key(k).map_err(|m| {
            Error::new(
                ErrorCode::InvalidLabelKey,
                object,
                format!("{field}[{k:?}]"),
                m,
            )
        })?;
        check_label_value(v).map_err(|m| {
            Error::new(
                ErrorCode::InvalidLabelValue,
                object,
                format!("{field}[{k:?}]"),
                m,
            )
        })?;
    }
    Ok(())
}

pub fn parse_ip(object: &str, field: &str, s: &str) -> Result<IpAddr> {
    s.parse::<IpAddr>().map_err(|_| {
        Error::new(
            ErrorCode::InvalidIp,
            object,
            field,
            format!("not an IP address: {s:?}"),
        )
    })
}

pub fn check_port(object: &str, field: &str, port: i64) -> Result<u16> {
    if (1..=65535).contains(&port) {
        Ok(port as u16)
    } else {
        Err(Error::new(
            ErrorCode::InvalidPort,
            object,
            field,
            format!("port {port} is outside 1-65535"),
        ))
    }
}

/// Layer-4 protocols of container ports.
pub const POD_PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
/// Protocols Cilium allows in `named-ports`.
pub const CILIUM_PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP", "ICMP", "ICMPV6", "ANY"];

pub fn check_protocol(object: &str, field: &str, p: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&p) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::InvalidProtocol,
            object,
            field,
            format!("protocol {p:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

/// A port name: IANA_SVC_NAME (at most 15, `[a-z0-9-]`, a letter, no `--`).
pub fn check_port_name(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 15 {
        return Err(format!("port name {s:?} must be 1-15 characters"));
    }
    if !b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
        || b[0] == b'-'
        || b[b.len() - 1] == b'-'
        || s.contains("--")
        || !b.iter().any(|c| c.is_ascii_lowercase())
    {
        return Err(format!(
            "port name {s:?} must be lower-case alphanumerics and '-', contain a letter, no '--' and not start or end with '-'"
        ));
    }
    Ok(())
}

pub fn require_name(object: &str, field: &str, name: &str, subdomain: bool) -> Result<()> {
    if name.is_empty() {
        return Err(Error::new(
            ErrorCode::MissingField,
            object,
            field,
            "name is required",
        ));
    }
    let r = if subdomain {
        check_dns1123_subdomain(name)
    } else {
        check_dns1123_label(name)
    };
    r.map_err(|m| Error::new(ErrorCode::InvalidName, object, field, m))
}

pub fn too_large(object: &str, field: &str, n: usize, max: usize) -> Result<()> {
    if n > max {
        Err(Error::new(
            ErrorCode::TooLarge,
            object,
            field,
            format!("{n} entries, at most {max} allowed"),
        ))
    } else {
        Ok(())
    }
}

/// Checks a CiliumEndpointSlice's own fields (name, namespace, size) and
/// returns its description for errors on its entries.
pub fn slice_header(ces: &crate::model::CiliumEndpointSlice) -> Result<String> {
    let obj = crate::model::describe(crate::model::Kind::CiliumEndpointSlice, &ces.metadata);
    require_name(&obj, "metadata.name", &ces.metadata.name, true)?;
    if !ces.namespace.is_empty() {
        require_name(&obj, "namespace", &ces.namespace, false)?;
    }
    too_large(
        &obj,
        "endpoints",
        ces.endpoints.len(),
        MAX_ENDPOINTS_IN_OBSERVED_SLICE,
    )?;
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_dns1123_label("web-1").is_ok());
        assert!(check_dns1123_label("Web").is_err());
        assert!(check_dns1123_label("-a").is_err());
        assert!(check_dns1123_label(&"a".repeat(64)).is_err());
        assert!(check_dns1123_subdomain("a.b-c.d").is_ok());
        assert!(check_dns1123_subdomain("a..b").is_err());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(check_label_key("app").is_ok());
        assert!(check_label_key("app.kubernetes.io/name").is_ok());
        assert!(check_label_key("a/b/c").is_err());
        assert!(check_label_key("/x").is_err());
        assert!(check_label_key("x/").is_err());
        assert!(check_label_key("Bad Key").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("v1.2_3-x").is_ok());
        assert!(check_label_value("-x").is_err());
        assert!(check_label_value(&"v".repeat(64)).is_err());
    }

    #[test]
    fn ports_protocols() {
        assert_eq!(check_port("o", "f", 80).unwrap(), 80);
        assert_eq!(
            check_port("o", "f", 0).unwrap_err().code,
            ErrorCode::InvalidPort
        );
        assert_eq!(
            check_port("o", "f", 65536).unwrap_err().code,
            ErrorCode::InvalidPort
        );
        assert!(check_protocol("o", "f", "TCP", POD_PROTOCOLS).is_ok());
        assert_eq!(
            check_protocol("o", "f", "tcp", POD_PROTOCOLS)
                .unwrap_err()
                .code,
            ErrorCode::InvalidProtocol
        );
        assert!(check_port_name("http").is_ok());
        assert!(check_port_name("http--x").is_err());
        assert!(check_port_name("8080").is_err());
    }
}
