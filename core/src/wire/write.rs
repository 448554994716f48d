//! The planned write: one shape for the CLI and every binding.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sorted::SortedJson;
use crate::model::Kind;
use crate::plan::{PlannedWrite, Verb, WriteOp};

/// One write the caller should send, in the order `flush` planned it:
///
/// ```json
/// {"id": 7, "op": "update", "group": "cilium.io", "version": "v2alpha1",
///  "plural": "ciliumendpointslices", "kind": "CiliumEndpointSlice",
///  "name": "ces-abc", "object": {...}, "preconditions": null}
/// ```
///
/// `group`, `version` and `plural` are what a dynamic client (Kubernetes'
/// `CustomObjectsApi`, client-go's dynamic client) takes; the objects are
/// cluster-scoped. `object` is the full object for a create or an update
/// (an update carries the `metadata.resourceVersion` last seen); for a
/// delete it is `{apiVersion, kind, metadata: {name, uid?,
/// resourceVersion?}}`. `preconditions` is set on deletes only (`null`
/// otherwise): send it as `DeleteOptions.preconditions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Write {
    /// The op's id: report its outcome with it.
    pub id: u64,
    /// `create`, `update` or `delete`.
    pub op: Verb,
    /// API group (`cilium.io`).
    pub group: String,
    /// API version (`v2` for identities, `v2alpha1` for slices).
    pub version: String,
    /// Resource plural (`ciliumendpointslices`, `ciliumidentities`).
    pub plural: String,
    /// Object kind (`CiliumEndpointSlice`, `CiliumIdentity`).
    pub kind: String,
    /// `metadata.name` of the object written.
    pub name: String,
    /// The object as API-server JSON (see the type docs for deletes).
    pub object: Value,
    /// The delete's preconditions; `null` for creates and updates.
    pub preconditions: Option<Preconditions>,
}

/// A delete's preconditions (the API server's `DeleteOptions.preconditions`);
/// both fields are always present, `null` when not set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    /// The object's uid, when known.
    pub uid: Option<String>,
    /// The object's resourceVersion, when known.
    pub resource_version: Option<String>,
}

/// Group, version and plural of a kind (what a dynamic client takes).
pub fn resource_of(kind: Kind) -> (&'static str, &'static str, &'static str) {
    let (group, version) = kind
        .api_version()
        .split_once('/')
        .unwrap_or(("", kind.api_version()));
    let plural = match kind {
        Kind::CiliumEndpointSlice => "ciliumendpointslices",
        Kind::CiliumIdentity => "ciliumidentities",
        Kind::CiliumEndpoint => "ciliumendpoints",
        Kind::CiliumNode => "ciliumnodes",
        Kind::Namespace => "namespaces",
        Kind::Node => "nodes",
        Kind::Pod => "pods",
    };
    (group, version, plural)
}

impl From<&PlannedWrite> for Write {
    fn from(w: &PlannedWrite) -> Write {
        let kind = w.op.kind();
        let (group, version, plural) = resource_of(kind);
        let preconditions = match &w.op {
            WriteOp::DeleteSlice { preconditions, .. }
            | WriteOp::DeleteIdentity { preconditions, .. } => Some(Preconditions {
                uid: preconditions.uid.clone(),
                resource_version: preconditions.resource_version.clone(),
            }),
            _ => None,
        };
        Write {
            id: w.id.0,
            op: w.op.verb(),
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            kind: kind.as_str().to_string(),
            name: w.op.name().to_string(),
            object: w.op.object_json(),
            preconditions,
        }
    }
}

impl Write {
    /// The write as one JSON line (no newline).
    pub fn to_json_line(&self) -> String {
        // A struct of strings, numbers and JSON values always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether this is a delete.
    pub fn is_delete(&self) -> bool {
        self.op == Verb::Delete
    }
}

/// Writes planned writes as JSON lines, byte for byte what
/// `Write::from(w).to_json_line()` gives, without building the write or a
/// `serde_json::Value` of its object: the object is serialized straight
/// from the typed slice or identity with its keys sorted (as the `Value`
/// holds them), into one buffer reused from line to line.
#[derive(Debug, Default)]
pub struct LineEncoder {
    json: SortedJson,
}

/// The fields of a [`Write`] before `object`, borrowed (same names, same order).
#[derive(Serialize)]
struct Head<'a> {
    id: u64,
    op: Verb,
    group: &'a str,
    version: &'a str,
    plural: &'a str,
    kind: &'a str,
    name: &'a str,
}

impl LineEncoder {
    /// An encoder with empty buffers.
    pub fn new() -> Self {
        LineEncoder::default()
    }

    /// The write as one JSON line (no newline); valid until the next call.
    pub fn line(&mut self, w: &PlannedWrite) -> &[u8] {
        let kind = w.op.kind();
        let (group, version, plural) = resource_of(kind);
        let head = Head {
            id: w.id.0,
            op: w.op.verb(),
            group,
            version,
            plural,
            kind: kind.as_str(),
            name: w.op.name(),
        };
        let buf = &mut self.json.buf;
        buf.clear();
        // Strings and numbers into a Vec: cannot fail.
        let _ = serde_json::to_writer(&mut *buf, &head);
        buf.pop(); // the head's closing brace
        buf.extend_from_slice(b",\"object\":");
        let preconditions = match &w.op {
            WriteOp::CreateSlice(s) | WriteOp::UpdateSlice(s) => {
                self.json.append_slice(s);
                None
            }
            WriteOp::CreateIdentity(i) => {
                self.json.append(i);
                None
            }
            WriteOp::DeleteSlice { preconditions, .. }
            | WriteOp::DeleteIdentity { preconditions, .. } => {
                let _ = serde_json::to_writer(&mut *buf, &w.op.object_json());
                Some(Preconditions {
                    uid: preconditions.uid.clone(),
                    resource_version: preconditions.resource_version.clone(),
                })
            }
        };
        let buf = &mut self.json.buf;
        buf.extend_from_slice(b",\"preconditions\":");
        let _ = serde_json::to_writer(&mut *buf, &preconditions);
        buf.push(b'}');
        buf
    }

    /// The writes as one JSON array, byte for byte what serializing
    /// `Vec<Write>` gives (the bindings' `flush` result).
    pub fn array<'a>(&mut self, writes: impl IntoIterator<Item = &'a PlannedWrite>) -> Vec<u8> {
        let mut out = vec![b'['];
        for (i, w) in writes.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.line(w));
        }
        out.push(b']');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{OpId, Preconditions as CorePre};
    use serde_json::json;

    #[test]
    fn a_delete_carries_its_preconditions_and_every_field() {
        let w = PlannedWrite {
            id: OpId(3),
            op: WriteOp::DeleteSlice {
                name: "ces-a".into(),
                preconditions: CorePre {
                    uid: Some("u".into()),
                    resource_version: None,
                },
            },
        };
        let v = serde_json::to_value(Write::from(&w)).unwrap();
        assert_eq!(
            v,
            json!({"id": 3, "op": "delete", "group": "cilium.io", "version": "v2alpha1",
                   "plural": "ciliumendpointslices", "kind": "CiliumEndpointSlice", "name": "ces-a",
                   "object": {"apiVersion": "cilium.io/v2alpha1", "kind": "CiliumEndpointSlice",
                              "metadata": {"name": "ces-a", "uid": "u"}},
                   "preconditions": {"uid": "u", "resourceVersion": null}})
        );
        let back: Write = serde_json::from_value(v).unwrap();
        assert_eq!(back, Write::from(&w));
    }

    use crate::model::{CiliumEndpointSlice, CiliumIdentity};
    use proptest::prelude::*;

    /// Strings that need escaping, and ones that do not.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9.-]{0,8}", ".{0,4}", "[\"\\\\\u{0}-\u{1f}/é]{0,3}"]
    }

    fn meta() -> impl Strategy<Value = serde_json::Value> {
        (
            text(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::collection::btree_map(text(), text(), 0..3),
            proptest::collection::btree_map(text(), text(), 0..2),
        )
            .prop_map(|(name, uid, rv, labels, annotations)| {
                json!({"name": name, "uid": uid, "resourceVersion": rv,
                       "labels": labels, "annotations": annotations,
                       "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "x", "uid": "y"}]})
            })
    }

    fn endpoint() -> impl Strategy<Value = serde_json::Value> {
        (
            text(),
            any::<i64>(),
            proptest::collection::vec(
                (proptest::option::of(text()), proptest::option::of(text())),
                0..3,
            ),
            proptest::option::of(text()),
            proptest::collection::vec((text(), any::<u16>(), text()), 0..3),
            proptest::option::of(text()),
            any::<i64>(),
        )
            .prop_map(|(name, id, pairs, node, ports, sa, key)| {
                let pairs: Vec<_> = pairs
                    .into_iter()
                    .map(|(v4, v6)| json!({"ipv4": v4, "ipv6": v6}))
                    .collect();
                let ports: Vec<_> = ports
                    .into_iter()
                    .map(|(n, p, t)| json!({"name": n, "port": p, "protocol": t}))
                    .collect();
                json!({"name": name, "id": id,
                       "networking": {"addressing": pairs, "node": node},
                       "encryption": {"key": key}, "named-ports": ports, "service-account": sa})
            })
    }

    fn slice() -> impl Strategy<Value = CiliumEndpointSlice> {
        (meta(), text(), proptest::collection::vec(endpoint(), 0..4)).prop_map(|(m, ns, eps)| {
            serde_json::from_value(json!({"metadata": m, "namespace": ns, "endpoints": eps}))
                .unwrap()
        })
    }

    fn pre() -> impl Strategy<Value = CorePre> {
        (proptest::option::of(text()), proptest::option::of(text())).prop_map(
            |(uid, resource_version)| CorePre {
                uid,
                resource_version,
            },
        )
    }

    fn op() -> impl Strategy<Value = WriteOp> {
        let identity = (
            meta(),
            proptest::collection::btree_map(text(), text(), 0..4),
        )
            .prop_map(|(m, l)| -> CiliumIdentity {
                serde_json::from_value(json!({"metadata": m, "security-labels": l})).unwrap()
            });
        prop_oneof![
            slice().prop_map(WriteOp::CreateSlice),
            slice().prop_map(WriteOp::UpdateSlice),
            identity.prop_map(WriteOp::CreateIdentity),
            (text(), pre()).prop_map(|(name, preconditions)| WriteOp::DeleteSlice {
                name,
                preconditions
            }),
            (text(), pre()).prop_map(|(name, preconditions)| WriteOp::DeleteIdentity {
                name,
                preconditions
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The encoder's line is byte for byte the write's JSON line,
        /// line after line through the same reused buffers.
        #[test]
        fn the_encoder_writes_what_to_json_line_writes(
            ops in proptest::collection::vec((any::<u64>(), op()), 1..4),
        ) {
            let mut enc = LineEncoder::new();
            for (id, op) in ops {
                let w = PlannedWrite { id: OpId(id), op };
                let want = Write::from(&w).to_json_line();
                prop_assert_eq!(std::str::from_utf8(enc.line(&w)).unwrap(), want.as_str());
            }
        }

        /// The encoder's array is byte for byte the serialized `Vec<Write>`.
        #[test]
        fn the_encoder_array_is_the_serialized_writes(
            ops in proptest::collection::vec((any::<u64>(), op()), 0..4),
        ) {
            let plan: Vec<PlannedWrite> =
                ops.into_iter().map(|(id, op)| PlannedWrite { id: OpId(id), op }).collect();
            let want = serde_json::to_vec(&plan.iter().map(Write::from).collect::<Vec<_>>()).unwrap();
            prop_assert_eq!(LineEncoder::new().array(&plan), want);
        }
    }
}
