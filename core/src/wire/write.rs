//! The planned write: one shape for the CLI and every binding.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
}
