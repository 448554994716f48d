//! The write plan: API writes the caller should send, and their outcomes.
//!
//! Every op carries an [`OpId`] and the full object. The caller sends the
//! writes (in plan order) and reports each outcome with
//! [`Engine::report`](crate::engine::Engine::report).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{CiliumEndpointSlice, CiliumIdentity, Kind};

/// Identifies one planned write until its outcome is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpId(pub u64);

/// Preconditions of a delete (the API server's `DeleteOptions.preconditions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    /// The uid the object must still have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The resourceVersion the object must still have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// One API write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Create a slice (the name must be free).
    CreateSlice(CiliumEndpointSlice),
    /// Carries `metadata.resourceVersion` as last seen.
    UpdateSlice(CiliumEndpointSlice),
    /// Delete a slice.
    DeleteSlice {
        /// The slice's name.
        name: String,
        /// The uid and resourceVersion last seen, so a newer slice is not deleted.
        preconditions: Preconditions,
    },
    /// Create an identity (the name is the identity number).
    CreateIdentity(CiliumIdentity),
    /// Delete an identity.
    DeleteIdentity {
        /// The identity's name (its number).
        name: String,
        /// The uid and resourceVersion last seen.
        preconditions: Preconditions,
    },
}

/// The verb of an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    /// A create (POST).
    Create,
    /// An update (PUT).
    Update,
    /// A delete (DELETE).
    Delete,
}

impl Verb {
    /// The verb in lower case: `create`, `update` or `delete`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Delete => "delete",
        }
    }
}

impl WriteOp {
    /// Whether the op creates, updates or deletes.
    pub fn verb(&self) -> Verb {
        match self {
            WriteOp::CreateSlice(_) | WriteOp::CreateIdentity(_) => Verb::Create,
            WriteOp::UpdateSlice(_) => Verb::Update,
            WriteOp::DeleteSlice { .. } | WriteOp::DeleteIdentity { .. } => Verb::Delete,
        }
    }

    /// The kind of object the op writes.
    pub fn kind(&self) -> Kind {
        match self {
            WriteOp::CreateSlice(_) | WriteOp::UpdateSlice(_) | WriteOp::DeleteSlice { .. } => {
                Kind::CiliumEndpointSlice
            }
            WriteOp::CreateIdentity(_) | WriteOp::DeleteIdentity { .. } => Kind::CiliumIdentity,
        }
    }

    /// `metadata.name` of the object written.
    pub fn name(&self) -> &str {
        match self {
            WriteOp::CreateSlice(s) | WriteOp::UpdateSlice(s) => &s.metadata.name,
            WriteOp::CreateIdentity(i) => &i.metadata.name,
            WriteOp::DeleteSlice { name, .. } | WriteOp::DeleteIdentity { name, .. } => name,
        }
    }

    /// The object as API-server JSON. Deletes give `{apiVersion, kind,
    /// metadata: {name, uid, resourceVersion}}`: the name and the
    /// preconditions.
    pub fn object_json(&self) -> Value {
        match self {
            WriteOp::CreateSlice(s) | WriteOp::UpdateSlice(s) => {
                serde_json::to_value(s).unwrap_or(Value::Null)
            }
            WriteOp::CreateIdentity(i) => serde_json::to_value(i).unwrap_or(Value::Null),
            WriteOp::DeleteSlice {
                name,
                preconditions,
            }
            | WriteOp::DeleteIdentity {
                name,
                preconditions,
            } => {
                let mut meta = json!({ "name": name });
                if let Some(uid) = &preconditions.uid {
                    meta["uid"] = json!(uid);
                }
                if let Some(rv) = &preconditions.resource_version {
                    meta["resourceVersion"] = json!(rv);
                }
                json!({
                    "apiVersion": self.kind().api_version(),
                    "kind": self.kind().as_str(),
                    "metadata": meta,
                })
            }
        }
    }

    /// Approximate bytes on the wire (the JSON body).
    pub fn body_len(&self) -> usize {
        serde_json::to_vec(&self.object_json())
            .map(|v| v.len())
            .unwrap_or(0)
    }
}

/// A write with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWrite {
    /// The id to report the outcome by.
    pub id: OpId,
    /// The write itself.
    pub op: WriteOp,
}

impl PlannedWrite {
    /// `{"op": "create"|"update"|"delete", "object": {...}}`, the CLI's line format.
    pub fn to_json(&self) -> Value {
        json!({ "op": self.op.verb().as_str(), "object": self.op.object_json() })
    }
}

/// The writes due now, in the order to send them: identity creates, then
/// slice writes (priority namespaces first, then oldest-dirty first), then
/// identity deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WritePlan {
    /// The writes, in sending order.
    pub writes: Vec<PlannedWrite>,
}

impl WritePlan {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
    /// How many writes there are.
    pub fn len(&self) -> usize {
        self.writes.len()
    }
    /// The writes, in sending order.
    pub fn iter(&self) -> impl Iterator<Item = &PlannedWrite> {
        self.writes.iter()
    }
    /// The plan as JSON lines.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for w in &self.writes {
            out.push_str(&w.to_json().to_string());
            out.push('\n');
        }
        out
    }
}

/// What the API server answered to a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// Accepted; for creates and updates, the object's new version and uid.
    Success {
        /// The object's new resourceVersion (creates and updates).
        #[serde(default, rename = "resourceVersion")]
        resource_version: Option<String>,
        /// The object's uid.
        #[serde(default)]
        uid: Option<String>,
    },
    /// 409 on update/delete: the resourceVersion or uid precondition failed.
    Conflict,
    /// 404.
    NotFound,
    /// 409 on create: the name is taken.
    AlreadyExists,
    /// Anything else (timeouts, 5xx, 403 ...).
    Error {
        /// The error as the caller saw it.
        message: String,
    },
}

impl Outcome {
    /// A success with the object's new resourceVersion and uid.
    pub fn success(resource_version: impl Into<String>, uid: impl Into<String>) -> Outcome {
        Outcome::Success {
            resource_version: Some(resource_version.into()),
            uid: Some(uid.into()),
        }
    }
    /// Whether the outcome is a success.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success { .. })
    }
}
