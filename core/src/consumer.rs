//! The agent side (DESIGN.md §7): what a node agent keeps from
//! CiliumEndpointSlice watch events.
//!
//! - Consecutive versions of a slice are diffed by `namespace/name`: names
//!   gone → delete, new names → add, names in both with other content →
//!   update (Cilium's `cesSubscriber`).
//! - An endpoint briefly in two slices during a move is handled as Cilium's
//!   `cepToCESmap`: the newest insert is current; a delete from a
//!   non-current slice changes nothing; a delete from the current slice
//!   switches to a remaining copy (an update), else deletes the endpoint.
//! - The IP cache: an upsert owns its IPs; an endpoint going away never
//!   removes an entry another endpoint now owns (the most recent remaining
//!   claimant takes over).
//!
//! Snapshots are published as the engine's ([`crate::snapshot`]); the
//! consumer's have no identity labels (slices do not carry them).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::config::EventCategories;
use crate::endpoint::{self, DataInterner, EndpointData, PortEntry, Protocol};
use crate::error::{Error, ErrorCode, Result};
use crate::events::{Category, Event, EventLog, Severity};
use crate::identity::IdentityId;
use crate::model::{CiliumEndpointSlice, CoreCiliumEndpoint, EventType, Object, WatchEvent};
use crate::snapshot::{
    EndpointKey, EndpointView, IpOwnership, SliceView, Snapshot, SnapshotBuilder, SnapshotReader,
};
use crate::validate;

/// One endpoint change, with the old and new views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointChange {
    /// Added (`old` is `None`) or changed, including a switch to another
    /// slice's copy.
    Upsert {
        old: Option<Arc<EndpointView>>,
        new: Arc<EndpointView>,
    },
    Delete {
        old: Arc<EndpointView>,
    },
}

/// Counters of what the consumer did. Serializes with camelCase keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerCounters {
    pub events_applied: u64,
    pub events_rejected: u64,
    pub upserts: u64,
    pub deletes: u64,
    /// Slice events seen (added, modified or deleted).
    pub slices_seen: u64,
    /// Deletes from a slice that was not the endpoint's current copy (no-ops).
    pub stale_deletes: u64,
    /// Slices held now.
    pub slices: usize,
    /// Endpoints held now.
    pub endpoints: usize,
    /// IP cache entries now.
    pub ip_cache_size: usize,
}

/// What one slice entry says, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    identity: IdentityId,
    data: EndpointData,
}

#[derive(Debug, Clone)]
struct StoredSlice {
    namespace: Arc<str>,
    entries: BTreeMap<Arc<str>, Entry>,
}

/// cepToCESmap: an endpoint's copies (slice, entry), oldest insert first,
/// and its current slice.
#[derive(Debug, Clone)]
struct Copies {
    copies: SmallVec<[(Arc<str>, Entry); 1]>,
    current: Arc<str>,
}

/// The node agent's view of CiliumEndpointSlices.
#[derive(Debug, Clone)]
pub struct Consumer {
    slices: HashMap<Arc<str>, StoredSlice>,
    ceps: HashMap<EndpointKey, Copies>,
    builder: SnapshotBuilder,
    interner: DataInterner,
    counters: ConsumerCounters,
    events: EventLog,
    now: u64,
}

impl Default for Consumer {
    fn default() -> Self {
        Consumer::new()
    }
}

impl Consumer {
    /// A consumer; fragmentation figures assume 100 endpoints per slice.
    pub fn new() -> Consumer {
        Consumer::with_max_per_slice(100)
    }

    pub fn with_max_per_slice(max: u32) -> Consumer {
        Consumer {
            slices: HashMap::new(),
            ceps: HashMap::new(),
            builder: SnapshotBuilder::new(max, IpOwnership::Newest),
            interner: DataInterner::default(),
            counters: ConsumerCounters::default(),
            events: EventLog::new(EventCategories::default()),
            now: 0,
        }
    }

    /// Which event categories are recorded.
    pub fn set_event_categories(&mut self, enabled: EventCategories) {
        self.events = EventLog::new(enabled);
    }

    /// The caller's time (ms) stamped on events from now on.
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// Parses and applies one watch event in JSON.
    pub fn apply_json(&mut self, bytes: &[u8]) -> Result<Vec<EndpointChange>> {
        let ev =
            WatchEvent::from_json(bytes).inspect_err(|_| self.counters.events_rejected += 1)?;
        self.apply(&ev)
    }

    /// Applies one CiliumEndpointSlice watch event and returns the endpoint
    /// changes it made. A rejected event (another kind, an invalid entry)
    /// changes nothing.
    pub fn apply(&mut self, event: &WatchEvent) -> Result<Vec<EndpointChange>> {
        let r = self.apply_inner(event);
        match &r {
            Ok(_) => self.counters.events_applied += 1,
            Err(e) => {
                self.counters.events_rejected += 1;
                let (subject, msg) = (e.object.clone(), e.to_string());
                self.events.record(
                    self.now,
                    Category::Input,
                    Severity::Warning,
                    "event-rejected",
                    || subject,
                    || msg,
                );
            }
        }
        self.counters.slices = self.slices.len();
        self.counters.endpoints = self.ceps.len();
        r
    }

    fn apply_inner(&mut self, event: &WatchEvent) -> Result<Vec<EndpointChange>> {
        let Object::CiliumEndpointSlice(ces) = &event.object else {
            return Err(Error::new(
                ErrorCode::UnknownKind,
                event.object.describe(),
                "kind",
                format!(
                    "the consumer takes CiliumEndpointSlice events, not {:?}",
                    event.object.kind()
                ),
            ));
        };
        let parsed = self.parse(ces)?;
        self.counters.slices_seen += 1;
        let name: Arc<str> = Arc::from(ces.metadata.name.as_str());
        let namespace: Arc<str> = Arc::from(ces.namespace.as_str());
        let mut changes = Vec::new();
        let old = self.slices.remove(&name);
        let new = if event.event_type == EventType::Deleted {
            None
        } else {
            Some(StoredSlice {
                namespace: namespace.clone(),
                entries: parsed,
            })
        };
        // Removed names first, then new and changed ones (cesSubscriber).
        if let Some(o) = &old {
            for ep in o.entries.keys() {
                let still = new
                    .as_ref()
                    .is_some_and(|n| n.namespace == o.namespace && n.entries.contains_key(ep));
                if !still {
                    self.delete_copy(&(o.namespace.clone(), ep.clone()), &name, &mut changes);
                }
            }
        }
        if let Some(n) = &new {
            let same_ns = old.as_ref().is_some_and(|o| o.namespace == n.namespace);
            for (ep, entry) in &n.entries {
                let before = old
                    .as_ref()
                    .filter(|_| same_ns)
                    .and_then(|o| o.entries.get(ep));
                if before != Some(entry) {
                    self.insert_copy(
                        (n.namespace.clone(), ep.clone()),
                        &name,
                        entry,
                        &mut changes,
                    );
                }
            }
        }
        match new {
            Some(n) => {
                let view = SliceView {
                    name: name.clone(),
                    namespace: n.namespace.clone(),
                    endpoints: n.entries.keys().cloned().collect(),
                };
                self.builder
                    .set_slice(&name, (!view.endpoints.is_empty()).then_some(view));
                self.slices.insert(name, n);
            }
            None => self.builder.set_slice(&name, None),
        }
        Ok(changes)
    }

    /// Validates every entry before anything changes.
    fn parse(&mut self, ces: &CiliumEndpointSlice) -> Result<BTreeMap<Arc<str>, Entry>> {
        let obj = validate::slice_header(ces)?;
        let mut out = BTreeMap::new();
        for (i, e) in ces.endpoints.iter().enumerate() {
            let (name, entry) = self.parse_entry(&obj, i, e)?;
            // Later entries of the same name win (Cilium builds a map).
            out.insert(name, entry);
        }
        Ok(out)
    }

    fn parse_entry(
        &mut self,
        obj: &str,
        i: usize,
        e: &CoreCiliumEndpoint,
    ) -> Result<(Arc<str>, Entry)> {
        let f = |s: &str| format!("endpoints[{i}].{s}");
        validate::require_name(obj, &f("name"), &e.name, true)?;
        let identity = IdentityId::try_from(e.id).map_err(|_| {
            Error::new(
                ErrorCode::InvalidValue,
                obj,
                f("id"),
                format!("identity {} is outside 0-4294967295", e.id),
            )
        })?;
        validate::too_large(
            obj,
            &f("networking.addressing"),
            e.networking.addressing.len(),
            validate::MAX_ADDRESSES,
        )?;
        let mut addressing = SmallVec::new();
        for (j, pair) in e.networking.addressing.iter().enumerate() {
            addressing.push(endpoint::address_pair(
                obj,
                &f(&format!("networking.addressing[{j}]")),
                pair,
            )?);
        }
        let node_ip = match e.networking.node.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(validate::parse_ip(obj, &f("networking.node"), s)?),
            None => None,
        };
        let encryption_key = endpoint::encryption_key(obj, &f("encryption.key"), e.encryption.key)?;
        validate::too_large(
            obj,
            &f("named-ports"),
            e.named_ports.len(),
            validate::MAX_NAMED_PORTS,
        )?;
        let mut ports = Vec::with_capacity(e.named_ports.len());
        for (j, p) in e.named_ports.iter().enumerate() {
            let field = f(&format!("named-ports[{j}]"));
            let port = validate::check_port(obj, &format!("{field}.port"), p.port)?;
            validate::check_protocol(
                obj,
                &format!("{field}.protocol"),
                &p.protocol,
                validate::CILIUM_PROTOCOLS,
            )?;
            let protocol = Protocol::parse(&p.protocol).ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidProtocol,
                    obj,
                    format!("{field}.protocol"),
                    "unknown protocol",
                )
            })?;
            ports.push(PortEntry {
                name: self.interner.strings.intern(&p.name),
                port,
                protocol,
            });
        }
        let data = EndpointData {
            addressing,
            node_ip,
            encryption_key,
            named_ports: self.interner.ports(ports),
            service_account: e
                .service_account
                .as_deref()
                .map(|s| self.interner.strings.intern(s)),
        };
        Ok((
            self.interner.strings.intern(&e.name),
            Entry { identity, data },
        ))
    }

    fn view(key: &EndpointKey, slice: &Arc<str>, entry: &Entry) -> EndpointView {
        EndpointView {
            namespace: key.0.clone(),
            name: key.1.clone(),
            slice: slice.clone(),
            identity: entry.identity,
            data: entry.data.clone(),
        }
    }

    /// cepToCESmap insert: the inserting slice becomes current.
    fn insert_copy(
        &mut self,
        key: EndpointKey,
        slice: &Arc<str>,
        entry: &Entry,
        changes: &mut Vec<EndpointChange>,
    ) {
        let c = self.ceps.entry(key.clone()).or_insert_with(|| Copies {
            copies: SmallVec::new(),
            current: slice.clone(),
        });
        c.copies.retain(|(s, _)| s != slice);
        c.copies.push((slice.clone(), entry.clone()));
        let moved = c.current != *slice;
        c.current = slice.clone();
        let new = Self::view(&key, slice, entry);
        self.upsert(key, new, moved, changes);
    }

    fn upsert(
        &mut self,
        key: EndpointKey,
        new: EndpointView,
        moved: bool,
        changes: &mut Vec<EndpointChange>,
    ) {
        if self.builder.endpoint(&key).is_some_and(|o| **o == new) {
            return;
        }
        let slice = new.slice.clone();
        let old = self.builder.set_endpoint(&key, Some(new), None);
        let Some(new) = self.builder.endpoint(&key).cloned() else {
            return;
        };
        self.counters.upserts += 1;
        if moved && old.is_some() {
            self.events.record(
                self.now,
                Category::Endpoints,
                Severity::Debug,
                "endpoint-moved",
                || format!("{}/{}", key.0, key.1),
                || format!("now read from CiliumEndpointSlice {slice}"),
            );
        }
        changes.push(EndpointChange::Upsert { old, new });
        self.counters.ip_cache_size = self.builder.peek_ip_count();
    }

    /// cepToCESmap delete.
    fn delete_copy(
        &mut self,
        key: &EndpointKey,
        slice: &Arc<str>,
        changes: &mut Vec<EndpointChange>,
    ) {
        let Some(c) = self.ceps.get_mut(key) else {
            return;
        };
        let Some(pos) = c.copies.iter().position(|(s, _)| s == slice) else {
            return;
        };
        c.copies.remove(pos);
        if c.current != *slice {
            self.counters.stale_deletes += 1;
            return;
        }
        match c.copies.last().cloned() {
            Some((other, entry)) => {
                c.current = other.clone();
                let new = Self::view(key, &other, &entry);
                self.upsert(key.clone(), new, true, changes);
            }
            None => {
                self.ceps.remove(key);
                if let Some(old) = self.builder.set_endpoint(key, None, None) {
                    self.counters.deletes += 1;
                    changes.push(EndpointChange::Delete { old });
                }
                self.counters.ip_cache_size = self.builder.peek_ip_count();
            }
        }
    }

    // ------------------------------------------------------------ queries

    /// Publishes a snapshot of what the consumer holds (O(changes)).
    pub fn publish(&mut self) -> Snapshot {
        self.builder.publish()
    }

    pub fn snapshot_reader(&self) -> SnapshotReader {
        self.builder.reader()
    }

    pub fn counters(&self) -> &ConsumerCounters {
        &self.counters
    }

    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.drain()
    }

    /// The current view of an endpoint (not waiting for a publish).
    pub fn endpoint(&self, namespace: &str, name: &str) -> Option<&Arc<EndpointView>> {
        self.builder
            .endpoint(&(Arc::from(namespace), Arc::from(name)))
    }

    /// The slices holding a copy of an endpoint, oldest insert first, and the current one.
    pub fn copies(&self, namespace: &str, name: &str) -> Option<(Vec<Arc<str>>, Arc<str>)> {
        let c = self.ceps.get(&(Arc::from(namespace), Arc::from(name)))?;
        Some((
            c.copies.iter().map(|(s, _)| s.clone()).collect(),
            c.current.clone(),
        ))
    }

    /// IP → owning endpoint, now (not waiting for a publish).
    pub fn lookup_ip(&self, ip: &IpAddr) -> Option<Arc<EndpointView>> {
        self.builder.peek_ip(ip)
    }
}
