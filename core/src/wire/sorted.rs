//! JSON with every object's keys in sorted order, written straight from a
//! `Serialize` value: the bytes of `serde_json::to_value(v)` serialized
//! (serde_json's `Value` keeps object keys in a `BTreeMap`), without
//! building the `Value` (no map inserts, no per-string copies).
//!
//! How: a serde_json [`Formatter`] that writes into its own buffer and
//! records where each key and value of the open objects start and end.
//! When an object closes and its keys were not already in order, its body
//! is laid out again in key order (one copy through a scratch buffer, same
//! length, so the enclosing objects' records stay valid). Everything else
//! is serde_json's compact output, byte for byte.
//!
//! What `to_value` does differently, done here too: an `f32` becomes the
//! `f64` of the same value; an integer beyond 64 bits fails (`null` for the
//! whole value, as `to_value(..).unwrap_or(Value::Null)`) unless it is a map
//! key; of two equal keys in one object the last wins.

use std::cmp::Ordering;
use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

use crate::model::{
    AddressPair, CiliumEndpointSlice, CoreCiliumEndpoint, EncryptionSpec, EndpointNetworking,
    NamedPort,
};

/// Reusable buffers of the sorted-keys writer.
#[derive(Debug, Default)]
pub(crate) struct SortedJson {
    /// The output.
    pub(crate) buf: Vec<u8>,
    scratch: Vec<u8>,
    frames: Vec<Frame>,
    entries: Vec<Entry>,
    in_key: bool,
}

/// An open object: where its body starts in `buf` (just after `{`) and
/// where its entries start in `entries`.
#[derive(Debug, Clone, Copy)]
struct Frame {
    body: usize,
    from: usize,
}

/// One key and value of an open object, as ranges of `buf` (the key with
/// its quotes).
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    key: (usize, usize),
    val: (usize, usize),
    /// The key has an escape (`\\`) in it: compare what it decodes to.
    escaped: bool,
}

impl SortedJson {
    /// Appends `value` to `buf` with sorted object keys; a value that does
    /// not serialize (or that `to_value` would refuse) is written `null`.
    pub(crate) fn append<T: Serialize + ?Sized>(&mut self, value: &T) {
        let start = self.buf.len();
        self.frames.clear();
        self.entries.clear();
        self.in_key = false;
        let mut ser = serde_json::Serializer::with_formatter(io::sink(), Sorting(self));
        if value.serialize(&mut ser).is_err() || !self.frames.is_empty() {
            self.buf.truncate(start);
            self.buf.extend_from_slice(b"null");
        }
    }

    /// Closes the innermost object: puts its entries in key order.
    fn close(&mut self) {
        let Some(frame) = self.frames.pop() else {
            return;
        };
        let SortedJson {
            buf,
            scratch,
            entries,
            ..
        } = self;
        let from = frame.from.min(entries.len());
        let es = &mut entries[from..];
        // Insertion sort, stable: n - 1 comparisons when already in order
        // (the usual case for maps), a few more for a struct's fields.
        let (mut moved, mut equal) = (false, false);
        for i in 1..es.len() {
            let mut j = i;
            while j > 0 {
                match key_cmp(buf, &es[j - 1], &es[j]) {
                    Ordering::Greater => {
                        es.swap(j - 1, j);
                        moved = true;
                        j -= 1;
                    }
                    Ordering::Equal => {
                        equal = true;
                        break;
                    }
                    Ordering::Less => break,
                }
            }
        }
        if moved || equal {
            let base = frame.body;
            scratch.clear();
            scratch.extend_from_slice(buf.get(base..).unwrap_or_default());
            buf.truncate(base);
            let mut first = true;
            for (i, e) in es.iter().enumerate() {
                // Of equal keys the last one wins (as in a map insert).
                if equal
                    && es
                        .get(i + 1)
                        .is_some_and(|n| key_cmp_in(scratch, base, e, n) == Ordering::Equal)
                {
                    continue;
                }
                if !first {
                    buf.push(b',');
                }
                first = false;
                buf.extend_from_slice(range(scratch, base, e.key));
                buf.push(b':');
                buf.extend_from_slice(range(scratch, base, e.val));
            }
        }
        entries.truncate(from);
    }
}

impl SortedJson {
    /// Appends a slice as [`append`](Self::append) would, its endpoints
    /// written by hand (keys are constants in sorted order, strings that
    /// need no escaping copied as they are, the rest through serde_json's
    /// escaping): the bulk of every line `run` prints. Every field is
    /// named (no `..`), so a field added to the model fails to compile
    /// here; a property test checks the bytes against the `Value` path.
    pub(crate) fn append_slice(&mut self, s: &CiliumEndpointSlice) {
        let CiliumEndpointSlice {
            api_version,
            kind,
            metadata,
            namespace,
            endpoints,
        } = s;
        self.buf.extend_from_slice(b"{\"apiVersion\":");
        push_str(&mut self.buf, api_version);
        self.buf.extend_from_slice(b",\"endpoints\":[");
        for (i, ep) in endpoints.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            push_endpoint(&mut self.buf, ep);
        }
        self.buf.extend_from_slice(b"],\"kind\":");
        push_str(&mut self.buf, kind);
        self.buf.extend_from_slice(b",\"metadata\":");
        self.append(metadata);
        self.buf.extend_from_slice(b",\"namespace\":");
        push_str(&mut self.buf, namespace);
        self.buf.push(b'}');
    }
}

/// A JSON string as serde_json writes it.
fn push_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Strings into a Vec: cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

fn push_i64(out: &mut Vec<u8>, n: i64) {
    let _ = serde_json::to_writer(&mut *out, &n);
}

/// One slice entry, keys sorted: encryption, id, name, named-ports,
/// networking, service-account.
fn push_endpoint(out: &mut Vec<u8>, ep: &CoreCiliumEndpoint) {
    let CoreCiliumEndpoint {
        name,
        id,
        networking,
        encryption,
        named_ports,
        service_account,
    } = ep;
    let EncryptionSpec { key } = encryption;
    out.extend_from_slice(b"{\"encryption\":{\"key\":");
    push_i64(out, *key);
    out.extend_from_slice(b"},\"id\":");
    push_i64(out, *id);
    out.extend_from_slice(b",\"name\":");
    push_str(out, name);
    out.extend_from_slice(b",\"named-ports\":[");
    for (i, port) in named_ports.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let NamedPort {
            name,
            port,
            protocol,
        } = port;
        // name, port, protocol; empty strings are left out.
        out.push(b'{');
        if !name.is_empty() {
            out.extend_from_slice(b"\"name\":");
            push_str(out, name);
            out.push(b',');
        }
        out.extend_from_slice(b"\"port\":");
        push_i64(out, *port);
        if !protocol.is_empty() {
            out.extend_from_slice(b",\"protocol\":");
            push_str(out, protocol);
        }
        out.push(b'}');
    }
    let EndpointNetworking { addressing, node } = networking;
    out.extend_from_slice(b"],\"networking\":{\"addressing\":[");
    for (i, pair) in addressing.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let AddressPair { ipv4, ipv6 } = pair;
        out.push(b'{');
        if let Some(v4) = ipv4 {
            out.extend_from_slice(b"\"ipv4\":");
            push_str(out, v4);
        }
        if let Some(v6) = ipv6 {
            if ipv4.is_some() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"ipv6\":");
            push_str(out, v6);
        }
        out.push(b'}');
    }
    out.push(b']');
    if let Some(node) = node {
        out.extend_from_slice(b",\"node\":");
        push_str(out, node);
    }
    out.push(b'}');
    if let Some(sa) = service_account {
        out.extend_from_slice(b",\"service-account\":");
        push_str(out, sa);
    }
    out.push(b'}');
}

/// `buf[r]` for a range recorded as offsets into a buffer that starts at `base`.
fn range(bytes: &[u8], base: usize, r: (usize, usize)) -> &[u8] {
    bytes
        .get(r.0.saturating_sub(base)..r.1.saturating_sub(base))
        .unwrap_or_default()
}

fn key_cmp(buf: &[u8], a: &Entry, b: &Entry) -> Ordering {
    key_cmp_in(buf, 0, a, b)
}

/// Compares two keys (JSON strings with their quotes) as the strings they
/// encode, as a `BTreeMap<String, _>` orders them.
fn key_cmp_in(bytes: &[u8], base: usize, a: &Entry, b: &Entry) -> Ordering {
    let (ka, kb) = (range(bytes, base, a.key), range(bytes, base, b.key));
    if !a.escaped && !b.escaped {
        // Unescaped, the bytes between the quotes are the string's.
        fn inner(k: &[u8]) -> &[u8] {
            k.get(1..k.len().saturating_sub(1)).unwrap_or_default()
        }
        return inner(ka).cmp(inner(kb));
    }
    match (
        serde_json::from_slice::<String>(ka),
        serde_json::from_slice::<String>(kb),
    ) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => ka.cmp(kb),
    }
}

/// The formatter: writes to the [`SortedJson`] buffer, not to the writer.
struct Sorting<'a>(&'a mut SortedJson);

fn too_large() -> io::Error {
    io::Error::other("number out of range")
}

macro_rules! plain {
    ($($name:ident($t:ty)),* $(,)?) => {$(
        #[inline]
        fn $name<W: ?Sized + io::Write>(&mut self, _w: &mut W, value: $t) -> io::Result<()> {
            CompactFormatter.$name(&mut self.0.buf, value)
        }
    )*};
}

impl Formatter for Sorting<'_> {
    plain!(
        write_bool(bool),
        write_i8(i8),
        write_i16(i16),
        write_i32(i32),
        write_i64(i64),
        write_u8(u8),
        write_u16(u16),
        write_u32(u32),
        write_u64(u64),
        write_f64(f64),
        write_number_str(&str),
        write_string_fragment(&str),
        write_raw_fragment(&str),
        begin_array_value(bool),
    );

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        _w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let s = &mut *self.0;
        if s.in_key
            && let Some(e) = s.entries.last_mut()
        {
            e.escaped = true;
        }
        CompactFormatter.write_char_escape(&mut s.buf, escape)
    }

    #[inline]
    fn write_null<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        CompactFormatter.write_null(&mut self.0.buf)
    }

    fn write_i128<W: ?Sized + io::Write>(&mut self, _w: &mut W, value: i128) -> io::Result<()> {
        let buf = &mut self.0.buf;
        if self.0.in_key {
            CompactFormatter.write_i128(buf, value)
        } else if let Ok(v) = u64::try_from(value) {
            CompactFormatter.write_u64(buf, v)
        } else if let Ok(v) = i64::try_from(value) {
            CompactFormatter.write_i64(buf, v)
        } else {
            Err(too_large())
        }
    }

    fn write_u128<W: ?Sized + io::Write>(&mut self, _w: &mut W, value: u128) -> io::Result<()> {
        let buf = &mut self.0.buf;
        if self.0.in_key {
            CompactFormatter.write_u128(buf, value)
        } else if let Ok(v) = u64::try_from(value) {
            CompactFormatter.write_u64(buf, v)
        } else {
            Err(too_large())
        }
    }

    /// As `to_value` does: the `f64` of the same value.
    fn write_f32<W: ?Sized + io::Write>(&mut self, _w: &mut W, value: f32) -> io::Result<()> {
        CompactFormatter.write_f64(&mut self.0.buf, f64::from(value))
    }

    #[inline]
    fn begin_string<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        CompactFormatter.begin_string(&mut self.0.buf)
    }

    #[inline]
    fn end_string<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        CompactFormatter.end_string(&mut self.0.buf)
    }

    #[inline]
    fn begin_array<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        CompactFormatter.begin_array(&mut self.0.buf)
    }

    #[inline]
    fn end_array<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        CompactFormatter.end_array(&mut self.0.buf)
    }

    #[inline]
    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        let s = &mut *self.0;
        s.buf.push(b'{');
        s.frames.push(Frame {
            body: s.buf.len(),
            from: s.entries.len(),
        });
        Ok(())
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.0.close();
        self.0.buf.push(b'}');
        Ok(())
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        _w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        let s = &mut *self.0;
        if !first {
            s.buf.push(b',');
        }
        let at = s.buf.len();
        s.entries.push(Entry {
            key: (at, at),
            val: (at, at),
            escaped: false,
        });
        s.in_key = true;
        Ok(())
    }

    fn end_object_key<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        let s = &mut *self.0;
        s.in_key = false;
        let at = s.buf.len();
        if let Some(e) = s.entries.last_mut() {
            e.key.1 = at;
        }
        Ok(())
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        let s = &mut *self.0;
        s.buf.push(b':');
        let at = s.buf.len();
        if let Some(e) = s.entries.last_mut() {
            e.val = (at, at);
        }
        Ok(())
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        let s = &mut *self.0;
        let at = s.buf.len();
        if let Some(e) = s.entries.last_mut() {
            e.val.1 = at;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::Value;

    use super::SortedJson;

    /// What the sorted writer must equal: through a `Value`.
    fn via_value<T: Serialize>(v: &T) -> String {
        serde_json::to_string(&serde_json::to_value(v).unwrap_or(Value::Null)).unwrap()
    }

    fn sorted<T: Serialize>(v: &T) -> String {
        let mut s = SortedJson::default();
        s.buf.extend_from_slice(b"prefix ");
        s.append(v);
        let out = String::from_utf8(s.buf).unwrap();
        out.strip_prefix("prefix ").unwrap().to_string()
    }

    #[derive(Debug, Clone, Serialize)]
    enum E {
        Unit,
        New(u8),
        Tuple(i32, String),
        Struct { zz: bool, aa: Option<f32> },
    }

    #[derive(Debug, Clone, Serialize)]
    struct Inner {
        z: String,
        #[serde(rename = "a-b")]
        a_b: Vec<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        m: Option<i64>,
        e: E,
        empty: Empty,
    }

    #[derive(Debug, Clone, Serialize)]
    struct Empty {}

    #[derive(Debug, Clone, Serialize)]
    struct Outer {
        zeta: Vec<Inner>,
        #[serde(rename = "\u{1}ctl")]
        ctl: u8,
        alpha: BTreeMap<String, Inner>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        bytes: Vec<u8>,
        f: f64,
        g: f32,
        #[serde(flatten)]
        extra: BTreeMap<String, i64>,
        big: i128,
    }

    fn e() -> impl Strategy<Value = E> {
        prop_oneof![
            Just(E::Unit),
            any::<u8>().prop_map(E::New),
            (any::<i32>(), ".{0,4}").prop_map(|(a, b)| E::Tuple(a, b)),
            (any::<bool>(), any::<Option<f32>>()).prop_map(|(zz, aa)| E::Struct { zz, aa }),
        ]
    }

    fn inner() -> impl Strategy<Value = Inner> {
        (
            ".{0,6}",
            proptest::collection::vec(any::<u32>(), 0..3),
            any::<Option<i64>>(),
            e(),
        )
            .prop_map(|(z, a_b, m, e)| Inner {
                z,
                a_b,
                m,
                e,
                empty: Empty {},
            })
    }

    /// Keys that sort differently escaped and unescaped, or collide.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-c\"\\\\\u{1}\u{7f}é!]{0,3}",
            Just("zeta".to_string()),
            Just("big".to_string()),
            Just("f".to_string()),
        ]
    }

    fn outer() -> impl Strategy<Value = Outer> {
        (
            proptest::collection::vec(inner(), 0..3),
            any::<u8>(),
            proptest::collection::btree_map(key(), inner(), 0..4),
            proptest::collection::vec(any::<u8>(), 0..3),
            any::<f64>(),
            any::<f32>(),
            proptest::collection::btree_map(key(), any::<i64>(), 0..4),
            prop_oneof![any::<i64>().prop_map(i128::from), any::<i128>()],
        )
            .prop_map(|(zeta, ctl, alpha, bytes, f, g, extra, big)| Outer {
                zeta,
                ctl,
                alpha,
                bytes,
                f,
                g,
                extra,
                big,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Byte for byte what serializing through a `Value` gives: nested
        /// structs, maps, escaped keys, flattened duplicates, enums,
        /// floats, integers `to_value` refuses.
        #[test]
        fn equals_serializing_through_a_value(v in outer()) {
            prop_assert_eq!(sorted(&v), via_value(&v));
        }

        #[test]
        fn equals_through_a_value_for_any_json(v in arb_json()) {
            prop_assert_eq!(sorted(&v), via_value(&v));
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,5}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn keys_come_out_sorted_and_the_rest_as_serde_json_writes_it() {
        #[derive(Serialize)]
        struct S {
            b: u8,
            a: &'static str,
            c: Vec<Empty>,
        }
        let s = S {
            b: 1,
            a: "x\"y",
            c: vec![Empty {}],
        };
        assert_eq!(sorted(&s), r#"{"a":"x\"y","b":1,"c":[{}]}"#);
        assert_eq!(sorted(&i128::MAX), "null");
        assert_eq!(sorted(&0.1f32), via_value(&0.1f32));
    }
}
