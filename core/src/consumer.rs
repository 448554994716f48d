//! The agent side (DESIGN.md §7): what a node agent keeps from
//! CiliumEndpointSlice watch events. The reference is Cilium v1.20's own
//! agent: its CES subscriber (`cesSubscriber`, `cepToCESmap`) feeding its IP
//! cache (`endpointUpdated` / `endpointDeleted`).
//!
//! # Slices and endpoints
//!
//! - A slice the consumer has not seen is applied entry by entry in array
//!   order (Cilium's `OnAdd`). A slice it has seen is diffed against its
//!   stored copy by `namespace/name`, in Cilium's `OnUpdate` order: first
//!   names gone (deletes, in the old array order), then new names (adds, in
//!   the new array order), then names in both whose content changed
//!   (updates, in the new array order). ADDED and MODIFIED mean the same
//!   (Cilium's watcher also keys on what it has seen, not the event type).
//!   Cilium walks Go maps in these three passes, so its order inside one pass
//!   is random; array order is the deterministic choice that agrees with
//!   `OnAdd`. A name repeated in one slice counts once, at its last position,
//!   with its last content.
//! - A DELETED slice removes the endpoints of the consumer's stored copy of
//!   that slice. Only the slice's name is read from the event; the rest of
//!   its body (entries, namespace) is ignored, valid or not, as Cilium
//!   removes by name. A DELETED for a slice never seen changes nothing.
//! - An endpoint briefly in two slices during a move is handled as Cilium's
//!   `cepToCESmap`: the newest insert is current; a delete from a
//!   non-current slice changes nothing; a delete from the current slice
//!   switches to a remaining copy (an update), else deletes the endpoint.
//!
//! # Malformed entries
//!
//! One bad entry never costs its neighbours: an entry that does not decode
//! or does not validate (empty or invalid name, identity outside
//! 0..2^32, encryption key outside 0..=255, a bad pod or node IP, a named
//! port outside 1..=65535, a protocol other than Cilium's upper-case
//! TCP/UDP/SCTP/ICMP/ICMPV6/ANY, ...) is skipped: it is counted in
//! [`ConsumerCounters::entries_skipped`] and reported as an `entry-skipped`
//! event (category input, warning), and the rest of the slice applies.
//! A skipped entry is treated as absent from that version of the slice: an
//! endpoint whose entry turns malformed in a MODIFIED leaves that slice (it
//! is deleted, or switches to another slice's copy), and comes back as an
//! add when a later version carries a valid entry again. This follows
//! Cilium in the one respect both can share: Cilium's agent never keeps the
//! previous version of a changed entry (a changed entry replaces the old one
//! in `cepToCESmap`, and `endpointUpdated` removes the old IP-cache entries
//! even when it then gives up, as it does on a node IP it cannot parse).
//! Where Cilium goes on with a value it has wrapped or cannot use (an
//! identity of −1 becomes 4294967295, key 256 becomes 0), the consumer does
//! not install a value it cannot represent. Only the slice itself (its
//! name, namespace, the event's shape) can reject a whole event.
//!
//! Entries are read by the slice entry codec (`core/src/entry.rs`), the one
//! the engine also uses for a CiliumEndpoint's parts and for adopting the
//! slices the server holds; its docs list where those readings differ (an
//! empty named-port protocol, the service account, identity 0) and why.
//!
//! # The IP cache
//!
//! - An endpoint whose entry has no node IP is live (in the endpoint set, in
//!   changes and snapshots, with its addresses) but has no IP-cache entries
//!   until a version with a node IP arrives; a version without a node IP
//!   removes the entries it had (Cilium's `endpointUpdated` returns before
//!   its upserts, and its deferred cleanup removes the old IPs).
//! - Two live endpoints claiming one IP: the last upsert owns it (Cilium's
//!   ipcache `Upsert`). With the diff order above, the last entry in array
//!   order of a new slice wins, and in a changed slice an updated entry wins
//!   over an added one.
//! - An endpoint going away (or dropping an IP) never removes an entry
//!   another endpoint owns (Cilium's `DeleteOnMetadataMatch`).
//! - When the owner of an IP that other live endpoints also claim goes, the
//!   options differ ([`SharedIpRelease`]):
//!   - `Handover` (the default): the most recent remaining claimant takes
//!     the entry over.
//!   - `Cilium`: the entry is removed, as Cilium's ipcache does; the IP has
//!     no entry until a claimant is upserted again.
//!
//!   Handover is the default because the remaining claimant's slice still
//!   says it holds the IP: the cache then agrees with what the slices say
//!   after every event, independent of which event came last, and traffic
//!   from that IP keeps its identity instead of falling to `world` until
//!   the claimant happens to change. Two claimants are a transient state
//!   (an IP reused before the old endpoint's delete arrived), and the usual
//!   end of it is exactly this: the stale claimant is deleted and the live
//!   one keeps the IP. Cilium's behaviour is there for comparing against its
//!   agent.
//!
//! Snapshots are published as the engine's ([`crate::snapshot`]); the
//! consumer's have no identity labels (slices do not carry them).

use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use serde::Deserialize;
use smallvec::SmallVec;

use crate::config::EventCategories;
use crate::endpoint::{DataInterner, EndpointData};
use crate::entry;
use crate::error::{Error, ErrorCode, Result};
use crate::events::{Category, Event, EventKind, EventLog, Severity};
use crate::identity::IdentityId;
use crate::model::{
    CiliumEndpointSlice, CoreCiliumEndpoint, EventType, Kind, Object, ObjectMeta, WatchEvent,
};
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
        /// The endpoint's view before, `None` if it was not known.
        old: Option<Arc<EndpointView>>,
        /// The endpoint's view now.
        new: Arc<EndpointView>,
    },
    /// The endpoint is gone from every slice.
    Delete {
        /// The endpoint's last view.
        old: Arc<EndpointView>,
    },
}

/// What happens to the IP-cache entry of an IP two live endpoints claim
/// when its owner (the one upserted last) goes. See the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SharedIpRelease {
    /// The most recent remaining claimant takes the entry over.
    #[default]
    Handover,
    /// The entry is removed (Cilium v1.20's agent).
    Cilium,
}

impl SharedIpRelease {
    /// `"handover"` or `"cilium"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SharedIpRelease::Handover => "handover",
            SharedIpRelease::Cilium => "cilium",
        }
    }

    /// Parses `"handover"` or `"cilium"`; anything else is `invalid_value`.
    pub fn parse(s: &str) -> Result<SharedIpRelease> {
        match s {
            "handover" => Ok(SharedIpRelease::Handover),
            "cilium" => Ok(SharedIpRelease::Cilium),
            other => Err(Error::new(
                ErrorCode::InvalidValue,
                "Consumer",
                "sharedIpRelease",
                format!("{other:?} is not \"handover\" or \"cilium\""),
            )),
        }
    }
}

/// How a [`Consumer`] is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// Only affects the snapshots' fragmentation figures (default 100).
    pub max_per_slice: u32,
    /// See [`SharedIpRelease`] (default `Handover`).
    pub shared_ip_release: SharedIpRelease,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            max_per_slice: 100,
            shared_ip_release: SharedIpRelease::Handover,
        }
    }
}

/// Counters of what the consumer did. Serializes with camelCase keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerCounters {
    /// Slice events applied.
    pub events_applied: u64,
    /// Events refused with an error (they changed nothing).
    pub events_rejected: u64,
    /// Slice entries skipped as malformed (their events applied the rest).
    pub entries_skipped: u64,
    /// Endpoint upserts reported.
    pub upserts: u64,
    /// Endpoint deletes reported.
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

/// The consumer's copy of a slice: its valid entries, one per name, in
/// array order (a repeated name at its last position).
#[derive(Debug, Clone)]
struct StoredSlice {
    namespace: Arc<str>,
    entries: Vec<(Arc<str>, Entry)>,
}

/// cepToCESmap: an endpoint's copies (slice, entry), oldest insert first,
/// and its current slice.
#[derive(Debug, Clone)]
struct Copies {
    copies: SmallVec<[(Arc<str>, Entry); 1]>,
    current: Arc<str>,
}

/// A slice event as the consumer reads it.
enum SliceEvent<'a> {
    /// ADDED or MODIFIED: the slice and its entries, each decoded or not.
    Upsert {
        header: &'a CiliumEndpointSlice,
        entries: Vec<std::result::Result<&'a CoreCiliumEndpoint, String>>,
    },
    /// DELETED: the name is all that is read.
    Delete { name: &'a str },
}

/// The top level of a slice, read from JSON without its entries.
#[derive(Deserialize)]
struct SliceHeaderJson {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    namespace: Option<String>,
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
    options: ConsumerOptions,
}

impl Default for Consumer {
    fn default() -> Self {
        Consumer::new()
    }
}

impl Consumer {
    /// A consumer with the default [`ConsumerOptions`].
    pub fn new() -> Consumer {
        Consumer::with_options(ConsumerOptions::default())
    }

    /// A consumer whose fragmentation figures assume `max` endpoints per slice.
    pub fn with_max_per_slice(max: u32) -> Consumer {
        Consumer::with_options(ConsumerOptions {
            max_per_slice: max,
            ..ConsumerOptions::default()
        })
    }

    /// A consumer set up by `options`.
    pub fn with_options(options: ConsumerOptions) -> Consumer {
        let mut builder = SnapshotBuilder::new(options.max_per_slice, IpOwnership::Newest);
        builder.set_ip_rules(true, options.shared_ip_release == SharedIpRelease::Handover);
        Consumer {
            slices: HashMap::new(),
            ceps: HashMap::new(),
            builder,
            interner: DataInterner::default(),
            counters: ConsumerCounters::default(),
            events: EventLog::new(EventCategories::default()),
            now: 0,
            options,
        }
    }

    /// The options this consumer was made with.
    pub fn options(&self) -> &ConsumerOptions {
        &self.options
    }

    /// Which event categories are recorded.
    pub fn set_event_categories(&mut self, enabled: EventCategories) {
        self.events = EventLog::new(enabled);
    }

    /// The caller's time (ms) stamped on events from now on.
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// Parses and applies one watch event in JSON. A slice entry that does
    /// not decode (a value of the wrong type, an identity beyond i64) is
    /// skipped like an invalid one; a DELETED slice needs only its name.
    pub fn apply_json(&mut self, bytes: &[u8]) -> Result<Vec<EndpointChange>> {
        let typed_err = match WatchEvent::from_json(bytes) {
            Ok(ev) => return self.apply(&ev),
            Err(e) => e,
        };
        // The typed reader takes the event whole; read a slice event entry
        // by entry instead, so that one undecodable entry costs only itself.
        let value: Option<serde_json::Value> = serde_json::from_slice(bytes).ok();
        let lenient = value.as_ref().and_then(lenient_slice_event);
        let Some((event_type, header, entries)) = lenient else {
            return self.reject(typed_err);
        };
        let r = match event_type {
            EventType::Deleted => self.apply_slice_event(SliceEvent::Delete {
                name: &header.metadata.name,
            }),
            _ => {
                let decoded: Vec<std::result::Result<CoreCiliumEndpoint, String>> = entries
                    .iter()
                    .map(|v| CoreCiliumEndpoint::deserialize(*v).map_err(|e| e.to_string()))
                    .collect();
                self.apply_slice_event(SliceEvent::Upsert {
                    header: &header,
                    entries: decoded
                        .iter()
                        .map(|r| r.as_ref().map_err(|e| e.clone()))
                        .collect(),
                })
            }
        };
        self.finish(r)
    }

    /// Applies one CiliumEndpointSlice watch event and returns the endpoint
    /// changes it made. A rejected event (another kind, a slice without a
    /// valid name or namespace) changes nothing; a malformed entry is
    /// skipped and reported, and the rest of the slice applies.
    pub fn apply(&mut self, event: &WatchEvent) -> Result<Vec<EndpointChange>> {
        let Object::CiliumEndpointSlice(ces) = &event.object else {
            return self.reject(Error::new(
                ErrorCode::UnknownKind,
                event.object.describe(),
                "kind",
                format!(
                    "the consumer takes CiliumEndpointSlice events, not {:?}",
                    event.object.kind()
                ),
            ));
        };
        let ev = match event.event_type {
            EventType::Deleted => SliceEvent::Delete {
                name: &ces.metadata.name,
            },
            _ => SliceEvent::Upsert {
                header: ces,
                entries: ces.endpoints.iter().map(Ok).collect(),
            },
        };
        let r = self.apply_slice_event(ev);
        self.finish(r)
    }

    /// Counts and reports input that never became an event (not JSON, cut
    /// off, not UTF-8) with the reader's error, as
    /// [`apply_json`](Self::apply_json) does for what it cannot read.
    pub fn reject_unreadable_input(&mut self, e: &Error) {
        let _ = self.reject(e.clone());
    }

    fn reject(&mut self, e: Error) -> Result<Vec<EndpointChange>> {
        self.finish(Err(e))
    }

    /// Counts and reports the outcome of one event.
    fn finish(&mut self, r: Result<Vec<EndpointChange>>) -> Result<Vec<EndpointChange>> {
        match &r {
            Ok(_) => self.counters.events_applied += 1,
            Err(e) => {
                self.counters.events_rejected += 1;
                let (subject, msg) = (e.object.clone(), e.to_string());
                self.events.record(
                    self.now,
                    Category::Input,
                    Severity::Warning,
                    EventKind::EventRejected,
                    || subject,
                    || msg,
                );
            }
        }
        self.counters.slices = self.slices.len();
        self.counters.endpoints = self.ceps.len();
        self.counters.ip_cache_size = self.builder.peek_ip_count();
        r
    }

    fn apply_slice_event(&mut self, ev: SliceEvent<'_>) -> Result<Vec<EndpointChange>> {
        let (name, new) = match ev {
            SliceEvent::Delete { name } => {
                let obj = format!("{} {}", Kind::CiliumEndpointSlice.as_str(), name);
                validate::require_name(&obj, "metadata.name", name, true)?;
                (name, None)
            }
            SliceEvent::Upsert { header, entries } => {
                let obj = validate::slice_header(header)?;
                validate::too_large(
                    &obj,
                    "endpoints",
                    entries.len(),
                    validate::MAX_ENDPOINTS_IN_OBSERVED_SLICE,
                )?;
                let entries = self.parse_entries(&obj, &entries);
                let stored = StoredSlice {
                    namespace: Arc::from(header.namespace.as_str()),
                    entries,
                };
                (header.metadata.name.as_str(), Some(stored))
            }
        };
        self.counters.slices_seen += 1;
        let name: Arc<str> = Arc::from(name);
        let old = self.slices.remove(&name);
        let changes = self.diff(&name, old.as_ref(), new.as_ref());
        match new {
            Some(n) => {
                let view = SliceView {
                    name: name.clone(),
                    namespace: n.namespace.clone(),
                    endpoints: n.entries.iter().map(|(ep, _)| ep.clone()).collect(),
                };
                self.builder
                    .set_slice(&name, (!view.endpoints.is_empty()).then_some(view));
                self.slices.insert(name, n);
            }
            None => self.builder.set_slice(&name, None),
        }
        Ok(changes)
    }

    /// Cilium's `OnUpdate` (`OnAdd` when there is no old copy, `OnDelete`
    /// when there is no new one): names gone, then new names, then changed
    /// entries.
    fn diff(
        &mut self,
        slice: &Arc<str>,
        old: Option<&StoredSlice>,
        new: Option<&StoredSlice>,
    ) -> Vec<EndpointChange> {
        let mut changes = Vec::new();
        // Endpoints are keyed by namespace/name: a slice that changed its
        // namespace holds none of the old endpoints.
        let same_ns = matches!((old, new), (Some(o), Some(n)) if o.namespace == n.namespace);
        let old_entries: HashMap<&Arc<str>, &Entry> = match old {
            Some(o) if same_ns => o.entries.iter().map(|(ep, e)| (ep, e)).collect(),
            _ => HashMap::new(),
        };
        let new_names: HashSet<&Arc<str>> = match new {
            Some(n) if same_ns => n.entries.iter().map(|(ep, _)| ep).collect(),
            _ => HashSet::new(),
        };
        if let Some(o) = old {
            for (ep, _) in &o.entries {
                if !new_names.contains(ep) {
                    self.delete_copy(&(o.namespace.clone(), ep.clone()), slice, &mut changes);
                }
            }
        }
        let Some(n) = new else {
            return changes;
        };
        for (ep, entry) in &n.entries {
            if !old_entries.contains_key(ep) {
                self.insert_copy(
                    (n.namespace.clone(), ep.clone()),
                    slice,
                    entry,
                    &mut changes,
                );
            }
        }
        for (ep, entry) in &n.entries {
            if old_entries.get(ep).is_some_and(|before| *before != entry) {
                self.insert_copy(
                    (n.namespace.clone(), ep.clone()),
                    slice,
                    entry,
                    &mut changes,
                );
            }
        }
        changes
    }

    /// The valid entries, one per name (the last one of a repeated name, at
    /// its position), in array order; invalid ones are skipped and reported.
    fn parse_entries(
        &mut self,
        obj: &str,
        entries: &[std::result::Result<&CoreCiliumEndpoint, String>],
    ) -> Vec<(Arc<str>, Entry)> {
        let mut parsed: Vec<Option<(Arc<str>, Entry)>> = Vec::with_capacity(entries.len());
        let mut position: HashMap<Arc<str>, usize> = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let r = match e {
                Ok(e) => self.parse_entry(obj, i, e),
                Err(msg) => Err(Error::new(
                    ErrorCode::MalformedInput,
                    obj,
                    format!("endpoints[{i}]"),
                    format!("entry is not a CoreCiliumEndpoint: {msg}"),
                )),
            };
            match r {
                Ok((name, entry)) => {
                    if let Some(earlier) = position.insert(name.clone(), parsed.len()) {
                        parsed[earlier] = None;
                    }
                    parsed.push(Some((name, entry)));
                }
                Err(err) => self.skip_entry(obj, &err),
            }
        }
        parsed.into_iter().flatten().collect()
    }

    fn skip_entry(&mut self, obj: &str, err: &Error) {
        self.counters.entries_skipped += 1;
        let msg = err.to_string();
        self.events.record(
            self.now,
            Category::Input,
            Severity::Warning,
            EventKind::EntrySkipped,
            || obj.to_string(),
            || msg,
        );
    }

    /// Entry `i` of a slice by the slice entry codec ([`crate::entry`]).
    fn parse_entry(
        &mut self,
        obj: &str,
        i: usize,
        e: &CoreCiliumEndpoint,
    ) -> Result<(Arc<str>, Entry)> {
        let (identity, data) = entry::decode(obj, i, e, &mut self.interner)?;
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
                EventKind::EndpointMoved,
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

    /// A reader that always sees the latest published snapshot.
    pub fn snapshot_reader(&self) -> SnapshotReader {
        self.builder.reader()
    }

    /// What the consumer did so far.
    pub fn counters(&self) -> &ConsumerCounters {
        &self.counters
    }

    /// Takes the events recorded since the last call, oldest first.
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

/// A CiliumEndpointSlice watch event (`{"type", "object"}`, or a bare
/// object as ADDED) read as JSON: its type, its top level, and its entries
/// undecoded (none for a DELETED, which is read for its name alone).
/// `None` when the value is not one (the typed reader's error stands).
fn lenient_slice_event(
    value: &serde_json::Value,
) -> Option<(EventType, CiliumEndpointSlice, Vec<&serde_json::Value>)> {
    let top = value.as_object()?;
    let (event_type, object) = match (top.get("type"), top.get("object")) {
        (Some(t), Some(object)) => {
            let t = match t.as_str()? {
                "ADDED" => EventType::Added,
                "MODIFIED" => EventType::Modified,
                "DELETED" => EventType::Deleted,
                _ => return None,
            };
            (t, object)
        }
        (None, None) => (EventType::Added, value),
        _ => return None,
    };
    let kind = Kind::CiliumEndpointSlice;
    let text = |key: &str| object.get(key).and_then(serde_json::Value::as_str);
    if text("kind") != Some(kind.as_str()) {
        return None;
    }
    if object.get("apiVersion").is_some() && text("apiVersion") != Some(kind.api_version()) {
        return None;
    }
    if event_type == EventType::Deleted {
        let name = object.pointer("/metadata/name")?.as_str()?;
        return Some((event_type, CiliumEndpointSlice::new(name, ""), Vec::new()));
    }
    let header = SliceHeaderJson::deserialize(object).ok()?;
    let entries = match object.get("endpoints") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(a)) => a.iter().collect(),
        Some(_) => return None,
    };
    let mut ces = CiliumEndpointSlice::new(header.metadata.name.clone(), "");
    ces.metadata = header.metadata;
    ces.namespace = header.namespace.unwrap_or_default();
    Some((event_type, ces, entries))
}
