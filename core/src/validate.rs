//! Validation of every input, by Kubernetes' rules.
//!
//! Each check returns the message only; callers attach the object and the
//! field, so that an error always says which object and which field.
//!
//! Sizes are bounded by what the API server itself accepts, never by a
//! count Kubernetes does not impose: a label map by its encoded size
//! against [`MAX_OBJECT_BYTES`], lists by the most entries an object of
//! that size can hold ([`MAX_LIST_ENTRIES`]). Per-item rules are
//! Kubernetes' own: label key prefix at most 253 characters, name and value
//! at most 63, names DNS-1123, port names IANA service names.

use std::net::IpAddr;

use crate::error::{Error, ErrorCode, Result};
use crate::model::Labels;

// Size bounds.
//
// Kubernetes sets no count limit on labels, addresses, container ports or
// slice entries; what bounds an object is its size. The API server takes
// request bodies of at most 3 MiB (`MaxRequestBodyBytes` in k8s.io/apiserver,
// twice etcd's default `--max-request-bytes` of 1.5 MiB, because a JSON body
// grows when converted), and etcd stores nothing larger than its request
// limit. So an object Kubernetes stores is never larger than
// [`MAX_OBJECT_BYTES`], and the bounds below are derived from it: each is the
// most entries that could fit in an object of that size, so a stored object
// never exceeds one, while hostile input (megabytes of labels, millions of
// entries) is refused with `too_large` before it is kept.

/// The largest object the API server accepts: its 3 MiB request body limit.
pub const MAX_OBJECT_BYTES: usize = 3 * 1024 * 1024;

/// The fewest bytes one entry of a list or map takes in any encoding the API
/// server reads or stores: a protobuf field tag and length, or JSON `{}`/`""`
/// and a separator.
pub const MIN_ENTRY_BYTES: usize = 2;

/// The most entries one list or map of a stored object can hold.
pub const MAX_LIST_ENTRIES: usize = MAX_OBJECT_BYTES / MIN_ENTRY_BYTES;

/// The bytes one label takes beyond its key and value, at the least: in JSON
/// `"k":"v",` (four quotes, a colon, a separator); in protobuf the map
/// entry's tag and length and the key's and value's tags and lengths.
pub const LABEL_ENTRY_OVERHEAD: usize = 6;

/// Label maps and lists of label strings (`status.identity.labels`,
/// `security-labels`). Label maps are also bounded by their size, see
/// [`check_labels`].
pub const MAX_LABELS: usize = MAX_LIST_ENTRIES;

/// Named ports of a pod (all its containers) or of an endpoint.
pub const MAX_NAMED_PORTS: usize = MAX_LIST_ENTRIES;

/// Entries of a CiliumEndpointSlice read from the API server.
pub const MAX_ENDPOINTS_IN_OBSERVED_SLICE: usize = MAX_LIST_ENTRIES;

/// A pod's `status.podIPs`: Kubernetes allows at most one IP per family.
pub const MAX_POD_IPS: usize = 2;

/// Address lists: a Node's `status.addresses`, a CiliumNode's
/// `spec.addresses`, an endpoint's `networking.addressing`. Kubernetes sets
/// no count (nodes with many interfaces report dozens), so only the object
/// size bounds them. A Pod's `status.podIPs` has its own bound,
/// [`MAX_POD_IPS`].
pub const MAX_ADDRESSES: usize = MAX_LIST_ENTRIES;

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// DNS-1123 label: at most 63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn check_dns1123_label(s: &str) -> Result<(), String> {
    if is_dns1123_label(s.as_bytes()) {
        return Ok(());
    }
    dns1123_label_error(s)
}

/// The message for a name [`is_dns1123_label`] refused (the rules spelled
/// out one by one, so the message says which was broken).
fn dns1123_label_error(s: &str) -> Result<(), String> {
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
    if is_dns1123_subdomain(s.as_bytes()) {
        return Ok(());
    }
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 253 {
        return Err(format!("{s:?} is longer than 253 characters"));
    }
    for part in s.split('.') {
        dns1123_label_error(part).map_err(|_| format!("{s:?} is not a DNS-1123 subdomain"))?;
    }
    Ok(())
}

/// Byte classes for the one-pass name checks: 1 lower-case alphanumeric,
/// 2 `-`, 3 `.`, 0 anything else.
const NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_lowercase() || b.is_ascii_digit() {
            1
        } else if b == b'-' {
            2
        } else if b == b'.' {
            3
        } else {
            0
        };
        c += 1;
    }
    t
};

/// Whether `b` is a DNS-1123 label, in one pass over its bytes.
fn is_dns1123_label(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) if b.len() <= 63 => {
            NAME_CLASS[first as usize] == 1
                && NAME_CLASS[last as usize] == 1
                && b.iter().all(|&c| matches!(NAME_CLASS[c as usize], 1 | 2))
        }
        _ => false,
    }
}

/// Whether `b` is a DNS-1123 subdomain (at most 253 bytes, labels of 1–63
/// of `[a-z0-9-]` starting and ending alphanumeric, joined by `.`), in one
/// pass over its bytes.
fn is_dns1123_subdomain(b: &[u8]) -> bool {
    if b.is_empty() || b.len() > 253 {
        return false;
    }
    // The previous byte's class; a label starts as if after a dot.
    let mut prev = 3u8;
    let mut label_start = 0;
    for (i, &c) in b.iter().enumerate() {
        let class = NAME_CLASS[c as usize];
        match class {
            1 => {}
            // Not at a label's start.
            2 if prev != 3 => {}
            // Ends a non-empty label that ends alphanumeric.
            3 if prev == 1 && i - label_start <= 63 => label_start = i + 1,
            _ => return false,
        }
        prev = class;
    }
    prev == 1 && b.len() - label_start <= 63
}

/// Byte classes for the one-pass label checks: 1 alphanumeric, 2 `-`,
/// `_` or `.`, 0 anything else (a qualified name part is `[A-Za-z0-9-_.]`).
const QUALIFIED_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphanumeric() {
            1
        } else if b == b'-' || b == b'_' || b == b'.' {
            2
        } else {
            0
        };
        c += 1;
    }
    t
};

/// Whether `b`, known to hold only `[A-Za-z0-9-_.]`, is a qualified name
/// part: 1 to 63 bytes, alphanumeric at both ends.
fn qualified_ends(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            b.len() <= 63
                && QUALIFIED_CLASS[first as usize] == 1
                && QUALIFIED_CLASS[last as usize] == 1
        }
        _ => false,
    }
}

/// Whether [`check_label_key`] accepts `key`, in one pass over its bytes
/// (the name part scanned from the end up to the last `/`, then the prefix
/// by [`is_dns1123_subdomain`]).
fn is_label_key(key: &[u8]) -> bool {
    let mut i = key.len();
    while let Some(&c) = key.get(i.wrapping_sub(1)) {
        if QUALIFIED_CLASS[c as usize] != 0 {
            i -= 1;
        } else if c == b'/' {
            let (prefix, name) = (&key[..i - 1], &key[i..]);
            return qualified_ends(name) && is_dns1123_subdomain(prefix);
        } else {
            return false;
        }
    }
    qualified_ends(key)
}

/// Whether [`check_labels`] accepts a label map given as borrowed pairs
/// with distinct keys (the borrowed event reader's): the one-pass check.
pub(crate) fn labels_valid<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
    let mut bytes = 0usize;
    for (k, v) in labels {
        bytes = bytes.saturating_add(k.len() + v.len() + LABEL_ENTRY_OVERHEAD);
        if !(is_label_key(k.as_bytes()) && is_label_value(v.as_bytes())) {
            return false;
        }
    }
    bytes <= MAX_OBJECT_BYTES
}

/// Whether [`check_label_value`] accepts `v`, in one pass over its bytes.
fn is_label_value(v: &[u8]) -> bool {
    v.is_empty() || (qualified_ends(v) && v.iter().all(|&c| QUALIFIED_CLASS[c as usize] != 0))
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

/// The fewest bytes a label map takes as the API server reads or stores it:
/// each label's key and value plus [`LABEL_ENTRY_OVERHEAD`].
pub fn labels_encoded_bytes(labels: &Labels) -> usize {
    labels.iter().fold(0usize, |sum, (k, v)| {
        sum.saturating_add(k.len() + v.len() + LABEL_ENTRY_OVERHEAD)
    })
}

/// Checks that a map of strings — a label map, a CiliumIdentity's
/// `security-labels` — fits in an object the API server accepts
/// ([`MAX_OBJECT_BYTES`]), whatever the number of entries.
pub fn check_labels_size(object: &str, field: &str, labels: &Labels) -> Result<()> {
    let bytes = labels_encoded_bytes(labels);
    if bytes > MAX_OBJECT_BYTES {
        return Err(Error::new(
            ErrorCode::TooLarge,
            object,
            field,
            format!(
                "{} labels take at least {bytes} bytes, more than the {MAX_OBJECT_BYTES} bytes of the largest object the API server accepts",
                labels.len()
            ),
        ));
    }
    Ok(())
}

/// The bytes one string of a list takes beyond its text, at the least:
/// JSON `"",` (custom resources are stored as JSON).
pub const STRING_ENTRY_OVERHEAD: usize = 3;

/// Checks that a list of strings — a CiliumEndpoint's
/// `status.identity.labels` — fits in an object the API server accepts.
pub fn check_strings_size(object: &str, field: &str, items: &[String]) -> Result<()> {
    let bytes = items.iter().fold(0usize, |sum, s| {
        sum.saturating_add(s.len() + STRING_ENTRY_OVERHEAD)
    });
    if bytes > MAX_OBJECT_BYTES {
        return Err(Error::new(
            ErrorCode::TooLarge,
            object,
            field,
            format!(
                "{} entries take at least {bytes} bytes, more than the {MAX_OBJECT_BYTES} bytes of the largest object the API server accepts",
                items.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a label map: any number of labels, as long as they fit in an
/// object the API server accepts ([`check_labels_size`]), each key and
/// value by Kubernetes' rules. The error names `field` for the size,
/// `field[key]` for one label.
pub fn check_labels(object: &str, field: &str, labels: &Labels) -> Result<()> {
    // The common case in one pass without messages: every label valid and
    // the map within size. Otherwise the checks below, one by one, say
    // what is wrong (the size first, then the first label in key order).
    let mut bytes = 0usize;
    let mut valid = true;
    for (k, v) in labels {
        bytes = bytes.saturating_add(k.len() + v.len() + LABEL_ENTRY_OVERHEAD);
        valid &= is_label_key(k.as_bytes()) && is_label_value(v.as_bytes());
    }
    if valid && bytes <= MAX_OBJECT_BYTES {
        return Ok(());
    }
    check_labels_size(object, field, labels)?;
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

/// A dotted-decimal IPv4 address in its plain form (four numbers 0–255,
/// no leading zeros), read in one pass: the form nearly every address
/// takes. Anything else is `None` and left to the standard parser, so
/// what is accepted, and as what, is the standard parser's rule.
fn plain_ipv4(b: &[u8]) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut k = 0;
    let mut i = 0;
    while k < 4 {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut n: u32 = 0;
        while let Some(&c) = b.get(i)
            && c.is_ascii_digit()
            && i - start < 3
        {
            n = n * 10 + u32::from(c - b'0');
            i += 1;
        }
        let len = i - start;
        if len == 0 || (len > 1 && b[start] == b'0') || n > 255 {
            return None;
        }
        octets[k] = n as u8;
        k += 1;
    }
    (i == b.len()).then(|| std::net::Ipv4Addr::from(octets))
}

pub fn parse_ip(object: &str, field: &str, s: &str) -> Result<IpAddr> {
    if let Some(v4) = plain_ipv4(s.as_bytes()) {
        return Ok(IpAddr::V4(v4));
    }
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
    use proptest::prelude::*;

    /// The subdomain rule as written before the one-pass check: labels split at dots.
    fn subdomain_by_labels(s: &str) -> bool {
        !s.is_empty() && s.len() <= 253 && s.split('.').all(|p| dns1123_label_error(p).is_ok())
    }

    proptest! {
        /// The one-pass checks accept exactly the names the rule-by-rule
        /// checks accept (short strings over the bytes that matter).
        #[test]
        fn one_pass_name_checks_agree(s in "[a-c0-9.\\-A_]{0,12}", long in 60usize..70) {
            prop_assert_eq!(is_dns1123_label(s.as_bytes()), dns1123_label_error(&s).is_ok());
            prop_assert_eq!(is_dns1123_subdomain(s.as_bytes()), subdomain_by_labels(&s));
            let labels = format!("{}.{s}", "a".repeat(long));
            prop_assert_eq!(is_dns1123_subdomain(labels.as_bytes()), subdomain_by_labels(&labels));
        }

        /// The one-pass label checks accept exactly what the rule-by-rule
        /// checks accept.
        #[test]
        fn one_pass_label_checks_agree(
            s in "[a-cA-C0-9./\\-_ ]{0,12}",
            prefix in "[a-c0-9.\\-]{0,6}",
            long in 60usize..70,
        ) {
            prop_assert_eq!(is_label_key(s.as_bytes()), check_label_key(&s).is_ok(), "{:?}", s);
            prop_assert_eq!(is_label_value(s.as_bytes()), check_label_value(&s).is_ok(), "{:?}", s);
            for key in [format!("{prefix}/{s}"), format!("{}/{s}", "a".repeat(long)), "a".repeat(long)] {
                prop_assert_eq!(is_label_key(key.as_bytes()), check_label_key(&key).is_ok(), "{:?}", key);
                prop_assert_eq!(is_label_value(key.as_bytes()), check_label_value(&key).is_ok(), "{:?}", key);
            }
            let labels: Labels = [(s.clone(), prefix.clone()), (prefix.clone(), s.clone())].into_iter().collect();
            let one_by_one = labels.iter().find_map(|(k, v)| {
                check_label_key(k).err().or_else(|| check_label_value(v).err())
            });
            let got = check_labels("o", "metadata.labels", &labels);
            prop_assert_eq!(got.err().map(|e| e.message), one_by_one);
        }

        /// The plain IPv4 reader accepts only what the standard parser
        /// accepts, as the same address, and every address's usual spelling.
        #[test]
        fn plain_ipv4_is_the_standard_parser(
            s in "[0-9.]{0,16}",
            dotted in "[0-9]{1,4}(\\.[0-9]{1,4}){2,4}",
            octets in any::<[u8; 4]>(),
        ) {
            for s in [&s, &dotted] {
                if let Some(ip) = plain_ipv4(s.as_bytes()) {
                    prop_assert_eq!(s.parse::<std::net::Ipv4Addr>().ok(), Some(ip));
                }
            }
            let ip = std::net::Ipv4Addr::from(octets);
            prop_assert_eq!(plain_ipv4(ip.to_string().as_bytes()), Some(ip));
        }
    }

    #[test]
    fn long_names_and_odd_addresses() {
        let max_label = "a".repeat(63);
        assert!(check_dns1123_subdomain(&format!("{max_label}.{max_label}")).is_ok());
        assert!(check_dns1123_subdomain(&format!("{max_label}a.b")).is_err());
        assert!(check_dns1123_subdomain(&"a.".repeat(126)).is_err());
        assert!(check_dns1123_subdomain(&format!("{}a", "a.".repeat(126))).is_ok());
        assert!(check_dns1123_subdomain(&format!("{}ab", "a.".repeat(126))).is_err());
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.",
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3.4 ",
            "1..2.3",
        ] {
            assert_eq!(plain_ipv4(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(
            parse_ip("o", "f", "::1").unwrap(),
            "::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_ip("o", "f", "0.10.255.9").unwrap(),
            IpAddr::from([0, 10, 255, 9])
        );
    }

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

    /// A label with the longest key and value Kubernetes allows: a
    /// 253-character prefix, a 63-character name, a 63-character value.
    fn longest_label(i: usize) -> (String, String) {
        let prefix = format!("{a}.{a}.{a}.{b}", a = "a".repeat(63), b = "b".repeat(61));
        assert_eq!(prefix.len(), 253);
        (format!("{prefix}/n{i:062}"), "v".repeat(63))
    }

    #[test]
    fn labels_are_bounded_by_object_size_not_count() {
        // 1,000 short labels: fine (the old bound refused more than 256).
        let many: Labels = (0..1000)
            .map(|i| (format!("key-{i}"), "value".to_string()))
            .collect();
        assert!(check_labels("o", "metadata.labels", &many).is_ok());

        // The most labels of the longest kind that fit in the largest
        // object: accepted; one more: refused, naming the map.
        let per_label = 253 + 1 + 63 + 63 + LABEL_ENTRY_OVERHEAD;
        let fit = MAX_OBJECT_BYTES / per_label;
        let mut labels: Labels = (0..fit).map(longest_label).collect();
        assert_eq!(labels_encoded_bytes(&labels), fit * per_label);
        assert!(check_labels("o", "metadata.labels", &labels).is_ok());
        labels.extend([longest_label(fit)]);
        let e = check_labels("o", "metadata.labels", &labels).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_str()),
            (ErrorCode::TooLarge, "metadata.labels")
        );
        assert!(e.message.contains(&format!("{} labels", fit + 1)), "{e}");
    }

    #[test]
    fn string_lists_and_maps_are_bounded_by_size() {
        // security-labels: any number, any text, within the object size.
        let ok: Labels = (0..10_000)
            .map(|i| (format!("k8s:key-{i}"), "v".repeat(200)))
            .collect();
        assert!(check_labels_size("o", "security-labels", &ok).is_ok());
        let hostile: Labels = (0..20_000)
            .map(|i| (format!("k8s:key-{i}"), "v".repeat(500)))
            .collect();
        let e = check_labels_size("o", "security-labels", &hostile).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_str()),
            (ErrorCode::TooLarge, "security-labels")
        );

        // A list of strings at the edge: accepted; one byte more: refused.
        let item = "k8s:app=web".to_string();
        let per = item.len() + STRING_ENTRY_OVERHEAD;
        let mut list = vec![item; MAX_OBJECT_BYTES / per];
        let rest = MAX_OBJECT_BYTES - list.len() * per;
        if rest >= STRING_ENTRY_OVERHEAD {
            list.push("x".repeat(rest - STRING_ENTRY_OVERHEAD));
        }
        assert!(check_strings_size("o", "status.identity.labels", &list).is_ok());
        list.push(String::new());
        let e = check_strings_size("o", "status.identity.labels", &list).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_str()),
            (ErrorCode::TooLarge, "status.identity.labels")
        );
    }

    #[test]
    fn count_bounds_follow_the_object_size() {
        assert_eq!(MAX_LIST_ENTRIES, 1_572_864);
        for bound in [MAX_LABELS, MAX_NAMED_PORTS, MAX_ENDPOINTS_IN_OBSERVED_SLICE] {
            assert_eq!(bound, MAX_LIST_ENTRIES);
        }
        assert!(too_large("o", "f", MAX_LIST_ENTRIES, MAX_LIST_ENTRIES).is_ok());
        let e = too_large("o", "f", MAX_LIST_ENTRIES + 1, MAX_LIST_ENTRIES).unwrap_err();
        assert_eq!((e.code, e.field.as_str()), (ErrorCode::TooLarge, "f"));
    }

    #[test]
    fn ports_and_port_names() {
        assert_eq!(check_port("o", "f", 80).unwrap(), 80);
        assert_eq!(
            check_port("o", "f", 0).unwrap_err().code,
            ErrorCode::InvalidPort
        );
        assert_eq!(
            check_port("o", "f", 65536).unwrap_err().code,
            ErrorCode::InvalidPort
        );
        assert!(check_port_name("http").is_ok());
        assert!(check_port_name("http--x").is_err());
        assert!(check_port_name("8080").is_err());
    }
}
