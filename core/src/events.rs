//! Structured events the caller drains (DESIGN.md §8).
// Every public item documented (lib.rs may still allow otherwise).
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

use crate::config::EventCategories;

/// What an event is about; each category can be turned off in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Slice writes and their outcomes, foreign and externally deleted slices.
    Slices,
    /// Endpoints moving between slices.
    Endpoints,
    /// Identity allocation, exhaustion, conflicts and release.
    Identities,
    /// The initial sync's adoption.
    Adoption,
    /// The write path turning degraded or healthy.
    Health,
    /// Rejected input.
    Input,
}

/// How bad an event is, from routine to needing attention (ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Routine detail (every successful write).
    Debug,
    /// Expected changes worth knowing.
    Info,
    /// Something unexpected the engine handles.
    Warning,
    /// Something that needs attention (exhaustion, dropped writes, degraded).
    Error,
}

/// What an event is about: a stable short name, as [`crate::ErrorCode`] is
/// for errors. [`EventKind::as_str`] is the name in [`Event::kind`] and in
/// JSON; names never change once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// `event-rejected`: An input event was rejected (engine and consumer).
    EventRejected,
    /// `rate-limit-changed`: The CiliumNode count moved the write rate limit to another step.
    RateLimitChanged,
    /// `endpoint-moved`: An endpoint moved to another slice (engine: its identity changed; consumer: read from another slice).
    EndpointMoved,
    /// `identity-allocated`: A new identity number was allocated.
    IdentityAllocated,
    /// `identity-exhausted`: No identity number was free; the endpoint waits.
    IdentityExhausted,
    /// `identity-conflict`: The server holds an identity number for other labels, or duplicate labels.
    IdentityConflict,
    /// `identity-released`: An unused identity was deleted after its grace period.
    IdentityReleased,
    /// `slice-deleted-externally`: A slice with members was deleted by someone else; it will be re-created.
    SliceDeletedExternally,
    /// `slice-foreign`: A slice the engine did not make was observed; it is planned for deletion.
    SliceForeign,
    /// `adoption`: The initial sync adopted the observed slices.
    Adoption,
    /// `healthy`: Writes succeed again.
    Healthy,
    /// `degraded`: The write path is degraded.
    Degraded,
    /// `slice-created`: A slice create succeeded.
    SliceCreated,
    /// `slice-updated`: A slice update succeeded.
    SliceUpdated,
    /// `slice-deleted`: A slice delete succeeded.
    SliceDeleted,
    /// `slice-dropped`: A slice write was dropped after its retries.
    SliceDropped,
    /// `slice-write-failed`: A slice write failed and will be retried.
    SliceWriteFailed,
    /// `entry-skipped`: The consumer skipped a slice entry it could not read.
    EntrySkipped,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 18] = [
        EventKind::EventRejected,
        EventKind::RateLimitChanged,
        EventKind::EndpointMoved,
        EventKind::IdentityAllocated,
        EventKind::IdentityExhausted,
        EventKind::IdentityConflict,
        EventKind::IdentityReleased,
        EventKind::SliceDeletedExternally,
        EventKind::SliceForeign,
        EventKind::Adoption,
        EventKind::Healthy,
        EventKind::Degraded,
        EventKind::SliceCreated,
        EventKind::SliceUpdated,
        EventKind::SliceDeleted,
        EventKind::SliceDropped,
        EventKind::SliceWriteFailed,
        EventKind::EntrySkipped,
    ];

    /// The stable name, e.g. `slice-created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::EventRejected => "event-rejected",
            EventKind::RateLimitChanged => "rate-limit-changed",
            EventKind::EndpointMoved => "endpoint-moved",
            EventKind::IdentityAllocated => "identity-allocated",
            EventKind::IdentityExhausted => "identity-exhausted",
            EventKind::IdentityConflict => "identity-conflict",
            EventKind::IdentityReleased => "identity-released",
            EventKind::SliceDeletedExternally => "slice-deleted-externally",
            EventKind::SliceForeign => "slice-foreign",
            EventKind::Adoption => "adoption",
            EventKind::Healthy => "healthy",
            EventKind::Degraded => "degraded",
            EventKind::SliceCreated => "slice-created",
            EventKind::SliceUpdated => "slice-updated",
            EventKind::SliceDeleted => "slice-deleted",
            EventKind::SliceDropped => "slice-dropped",
            EventKind::SliceWriteFailed => "slice-write-failed",
            EventKind::EntrySkipped => "entry-skipped",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One record: when, what category and kind, how bad, about what, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Caller time (ms) of the call that produced it.
    pub time: u64,
    /// What it is about.
    pub category: Category,
    /// A stable short name, e.g. `slice-created`, `identity-exhausted`
    /// (an [`EventKind`]'s name; a string so that the JSON shape is plain).
    pub kind: String,
    /// How bad.
    pub severity: Severity,
    /// The object concerned, e.g. `CiliumEndpointSlice ces-...`.
    pub subject: String,
    /// Why, in words.
    pub message: String,
}

/// An event's subject or message while it waits to be drained: its text,
/// or what the text is made of when that is cheaper to keep (rendered on
/// [`EventLog::drain`], byte for byte what the text would have been).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// The text itself.
    Owned(String),
    /// `CiliumIdentity {id}`.
    Identity(u32),
    /// `labels {key}`: a label set's canonical key, shared with the
    /// identity it names (thousands of identity allocations at a cold
    /// start would otherwise each keep a copy).
    Labels(std::sync::Arc<str>),
}

impl Text {
    fn render(self) -> String {
        match self {
            Text::Owned(s) => s,
            Text::Identity(id) => format!("CiliumIdentity {id}"),
            Text::Labels(key) => {
                let mut s = String::with_capacity("labels ".len() + key.len());
                s.push_str("labels ");
                s.push_str(&key);
                s
            }
        }
    }
}

/// An event as kept until drained (see [`Text`]).
#[derive(Debug, Clone)]
struct Pending {
    time: u64,
    category: Category,
    kind: EventKind,
    severity: Severity,
    subject: Text,
    message: Text,
}

/// Collects events of the enabled categories until drained.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    enabled: EventCategories,
    pending: Vec<Pending>,
    /// Events dropped because the caller did not drain (bounded memory).
    pub dropped: u64,
}

/// At most this many undrained events are kept.
pub const MAX_PENDING_EVENTS: usize = 100_000;

impl EventLog {
    /// An empty log recording the enabled categories.
    pub fn new(enabled: EventCategories) -> Self {
        EventLog {
            enabled,
            pending: Vec::new(),
            dropped: 0,
        }
    }

    /// Whether events of category `c` are recorded.
    pub fn enabled(&self, c: Category) -> bool {
        match c {
            Category::Slices => self.enabled.slices,
            Category::Endpoints => self.enabled.endpoints,
            Category::Identities => self.enabled.identities,
            Category::Adoption => self.enabled.adoption,
            Category::Health => self.enabled.health,
            Category::Input => self.enabled.input,
        }
    }

    /// Records an event; the message is built only when the category is on.
    pub fn record(
        &mut self,
        time: u64,
        category: Category,
        severity: Severity,
        kind: EventKind,
        subject: impl FnOnce() -> String,
        message: impl FnOnce() -> String,
    ) {
        self.record_text(
            time,
            category,
            severity,
            kind,
            || Text::Owned(subject()),
            || Text::Owned(message()),
        );
    }

    /// [`EventLog::record`] with the subject and message as [`Text`].
    pub fn record_text(
        &mut self,
        time: u64,
        category: Category,
        severity: Severity,
        kind: EventKind,
        subject: impl FnOnce() -> Text,
        message: impl FnOnce() -> Text,
    ) {
        if !self.enabled(category) {
            return;
        }
        if self.pending.len() >= MAX_PENDING_EVENTS {
            self.dropped += 1;
            return;
        }
        self.pending.push(Pending {
            time,
            category,
            kind,
            severity,
            subject: subject(),
            message: message(),
        });
    }

    /// The events recorded since the last drain, oldest first.
    pub fn drain(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|p| Event {
                time: p.time,
                category: p.category,
                kind: p.kind.as_str().to_string(),
                severity: p.severity,
                subject: p.subject.render(),
                message: p.message.render(),
            })
            .collect()
    }

    /// Events waiting to be drained.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// No event waits to be drained.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_distinct_kebab_case() {
        let names: std::collections::BTreeSet<&str> =
            EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), EventKind::ALL.len());
        for n in names {
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{n}"
            );
        }
    }

    #[test]
    fn recorded_kind_is_the_stable_name() {
        let mut log = EventLog::new(EventCategories::default());
        log.record(
            7,
            Category::Slices,
            Severity::Info,
            EventKind::SliceForeign,
            || "s".into(),
            String::new,
        );
        assert_eq!(log.drain()[0].kind, "slice-foreign");
    }

    #[test]
    fn texts_render_as_the_strings_they_stand_for() {
        let mut log = EventLog::new(EventCategories::default());
        let key: std::sync::Arc<str> = "k8s:app=web;".into();
        log.record_text(
            3,
            Category::Identities,
            Severity::Info,
            EventKind::IdentityAllocated,
            || Text::Identity(70000),
            || Text::Labels(key.clone()),
        );
        log.record(
            4,
            Category::Identities,
            Severity::Info,
            EventKind::IdentityAllocated,
            || format!("CiliumIdentity {}", 70000),
            || format!("labels {key}"),
        );
        let got = log.drain();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].subject, "CiliumIdentity 70000");
        assert_eq!(got[0].message, "labels k8s:app=web;");
        assert_eq!((got[0].time, got[1].time), (3, 4));
        assert_eq!(
            (&got[0].kind, &got[0].subject, &got[0].message),
            (&got[1].kind, &got[1].subject, &got[1].message)
        );
        assert!(log.is_empty());
    }
}
