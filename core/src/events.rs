//! Structured events the caller drains (DESIGN.md §8).

use serde::{Deserialize, Serialize};

use crate::config::EventCategories;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Slices,
    Endpoints,
    Identities,
    Adoption,
    Health,
    Input,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Debug,
    Info,
    Warning,
    Error,
}

/// One record: when, what category and kind, how bad, about what, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Caller time (ms) of the call that produced it.
    pub time: u64,
    pub category: Category,
    /// A stable short name, e.g. `slice-created`, `identity-exhausted`.
    pub kind: String,
    pub severity: Severity,
    /// The object concerned, e.g. `CiliumEndpointSlice ces-...`.
    pub subject: String,
    pub message: String,
}

/// Collects events of the enabled categories until drained.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    enabled: EventCategories,
    pending: Vec<Event>,
    /// Events dropped because the caller did not drain (bounded memory).
    pub dropped: u64,
}

/// At most this many undrained events are kept.
pub const MAX_PENDING_EVENTS: usize = 100_000;

impl EventLog {
    pub fn new(enabled: EventCategories) -> Self {
        EventLog {
            enabled,
            pending: Vec::new(),
            dropped: 0,
        }
    }

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
        kind: &str,
        subject: impl FnOnce() -> String,
        message: impl FnOnce() -> String,
    ) {
        if !self.enabled(category) {
            return;
        }
        if self.pending.len() >= MAX_PENDING_EVENTS {
            self.dropped += 1;
            return;
        }
        self.pending.push(Event {
            time,
            category,
            kind: kind.to_string(),
            severity,
            subject: subject(),
            message: message(),
        });
    }

    pub fn drain(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.pending)
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}
