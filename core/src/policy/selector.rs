//! Label selectors over identity labels, and the selector cache.
//!
//! A [`Selector`] is a conjunction of [`Requirement`]s on an identity's
//! security labels. The [`SelectorCache`] holds one entry per distinct
//! selector with the set of identity numbers it selects, and keeps every
//! entry up to date incrementally as identities come and go. Selectors and
//! identities pinned to one namespace (`io.kubernetes.pod.namespace`) are
//! indexed by it, so a new identity is only tested against the selectors
//! that can possibly select it.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::{HashMap, HashSet};

use crate::labels::{LABEL_POD_NAMESPACE, LabelSet};

/// Label sources a selector key may be qualified with (`k8s:app`).
pub const KNOWN_SOURCES: &[&str] = &[
    "k8s",
    "any",
    "reserved",
    "container",
    "cni",
    "unspec",
    "cidr",
    "cidrgroup",
    "node",
    "fqdn",
    "gen",
    "directory",
];

/// What a requirement demands of a label's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// The value is one of these.
    In(Vec<String>),
    /// The label is absent or its value is none of these.
    NotIn(Vec<String>),
    /// The label is present, whatever its value.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One condition on one label key. `source: None` matches any source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Requirement {
    /// The label source (`k8s`, `reserved`, ...); `None` matches any.
    pub source: Option<String>,
    /// The label key.
    pub key: String,
    /// What the value must be.
    pub op: Operator,
}

impl Requirement {
    /// A requirement on `source:key` (`None`: any source).
    pub fn new(source: Option<&str>, key: &str, op: Operator) -> Self {
        Requirement {
            source: source.map(str::to_string),
            key: key.to_string(),
            op,
        }
    }

    /// `key` with an optional `source:` prefix, as CiliumNetworkPolicy
    /// selectors write it. `any:` and no prefix match every source.
    pub fn split_source(qualified: &str) -> (Option<&str>, &str) {
        match qualified.split_once(':') {
            Some((src, key)) if KNOWN_SOURCES.contains(&src) => {
                if src == "any" {
                    (None, key)
                } else {
                    (Some(src), key)
                }
            }
            _ => (None, qualified),
        }
    }

    /// Whether the labels meet this requirement.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        let value = labels
            .get(&self.key)
            .filter(|l| self.source.as_deref().is_none_or(|s| l.source == s))
            .map(|l| l.value.as_str());
        match (&self.op, value) {
            (Operator::In(values), Some(v)) => values.iter().any(|x| x == v),
            (Operator::In(_), None) => false,
            (Operator::NotIn(values), Some(v)) => !values.iter().any(|x| x == v),
            (Operator::NotIn(_), None) => true,
            (Operator::Exists, v) => v.is_some(),
            (Operator::DoesNotExist, v) => v.is_none(),
        }
    }
}

/// A conjunction of requirements; no requirement selects every identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Builds a selector; requirements are sorted and deduplicated so that
    /// the same conditions written in any order share one cache entry.
    pub fn new(mut requirements: Vec<Requirement>) -> Self {
        for r in &mut requirements {
            if let Operator::In(v) | Operator::NotIn(v) = &mut r.op {
                v.sort();
                v.dedup();
            }
        }
        requirements.sort();
        requirements.dedup();
        Selector { requirements }
    }

    /// Selects every identity.
    pub fn all() -> Self {
        Selector::default()
    }

    /// Selects identities carrying `source:key` (any value).
    pub fn has_label(source: &str, key: &str) -> Self {
        Selector::new(vec![Requirement::new(Some(source), key, Operator::Exists)])
    }

    /// The requirements, all of which must hold.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether the labels meet every requirement.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The one namespace this selector is pinned to, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.requirements.iter().find_map(|r| match &r.op {
            Operator::In(v)
                if r.key == LABEL_POD_NAMESPACE
                    && v.len() == 1
                    && r.source.as_deref().is_none_or(|s| s == "k8s") =>
            {
                v.first().map(String::as_str)
            }
            _ => None,
        })
    }
}

/// Index of a selector in the cache.
pub type SelectorId = u32;

#[derive(Debug, Clone)]
struct Entry {
    selector: Selector,
    selected: HashSet<u32>,
    users: usize,
}

/// A set of selector ids as a bitset. Ids are dense (freed ids are
/// reused), so a set takes about one bit per live selector; the last word
/// is never zero, so an empty set holds no memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SelectorSet {
    words: Vec<u64>,
}

impl SelectorSet {
    /// Adds an id.
    pub fn insert(&mut self, id: SelectorId) {
        let (word, bit) = ((id / 64) as usize, id % 64);
        if self.words.len() <= word {
            // Exact growth: most identities keep their set for long.
            self.words.reserve_exact(word + 1 - self.words.len());
            self.words.resize(word + 1, 0);
        }
        if let Some(w) = self.words.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    /// Removes an id.
    pub fn remove(&mut self, id: SelectorId) {
        let (word, bit) = ((id / 64) as usize, id % 64);
        if let Some(w) = self.words.get_mut(word) {
            *w &= !(1 << bit);
        }
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }

    /// Whether the set holds `id`.
    #[inline]
    pub fn contains(&self, id: SelectorId) -> bool {
        self.words
            .get((id / 64) as usize)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The ids, ascending.
    pub fn iter(&self) -> impl Iterator<Item = SelectorId> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let base = (i as SelectorId) * 64;
            let mut rest = w;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some(base + bit)
            })
        })
    }
}

/// The namespace of an identity (value of `io.kubernetes.pod.namespace`).
fn identity_namespace(labels: &LabelSet) -> Option<&str> {
    labels.get(LABEL_POD_NAMESPACE).map(|l| l.value.as_str())
}

/// Distinct selectors and the identities each selects, kept incrementally.
#[derive(Debug, Clone, Default)]
pub struct SelectorCache {
    entries: Vec<Option<Entry>>,
    free: Vec<SelectorId>,
    ids: HashMap<Selector, SelectorId>,
    pinned: HashMap<String, BTreeSet<SelectorId>>,
    unpinned: BTreeSet<SelectorId>,
    identities: BTreeMap<u32, LabelSet>,
    identities_by_ns: HashMap<String, BTreeSet<u32>>,
    /// Identity → the selectors selecting it, as a bitset: `decide` tests
    /// a rule's peer selectors against the remote identity's set.
    selected_by: HashMap<u32, SelectorSet>,
}

impl SelectorCache {
    /// An empty cache.
    pub fn new() -> Self {
        SelectorCache::default()
    }

    /// Number of distinct selectors in use.
    pub fn selector_count(&self) -> usize {
        self.ids.len()
    }

    /// Number of identities known.
    pub fn identity_count(&self) -> usize {
        self.identities.len()
    }

    /// The security labels of an identity.
    pub fn identity_labels(&self, id: u32) -> Option<&LabelSet> {
        self.identities.get(&id)
    }

    /// Every identity known, with its labels, by number.
    pub fn identities(&self) -> impl Iterator<Item = (u32, &LabelSet)> {
        self.identities.iter().map(|(id, l)| (*id, l))
    }

    /// Takes a reference on a selector, creating (and populating) its entry.
    pub fn acquire(&mut self, selector: &Selector) -> SelectorId {
        if let Some(&id) = self.ids.get(selector) {
            if let Some(Some(e)) = self.entries.get_mut(id as usize) {
                e.users += 1;
            }
            return id;
        }
        let mut selected = HashSet::new();
        match selector.namespace() {
            Some(ns) => {
                if let Some(ids) = self.identities_by_ns.get(ns) {
                    for id in ids {
                        if let Some(l) = self.identities.get(id)
                            && selector.matches(l)
                        {
                            selected.insert(*id);
                        }
                    }
                }
            }
            None => {
                for (id, l) in &self.identities {
                    if selector.matches(l) {
                        selected.insert(*id);
                    }
                }
            }
        }
        let entry = Entry {
            selector: selector.clone(),
            selected,
            users: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.entries.get_mut(id as usize) {
                    *slot = Some(entry);
                }
                id
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as SelectorId
            }
        };
        if let Some(Some(e)) = self.entries.get(id as usize) {
            for ident in &e.selected {
                self.selected_by.entry(*ident).or_default().insert(id);
            }
        }
        match selector.namespace() {
            Some(ns) => {
                self.pinned.entry(ns.to_string()).or_default().insert(id);
            }
            None => {
                self.unpinned.insert(id);
            }
        }
        self.ids.insert(selector.clone(), id);
        id
    }

    /// Drops a reference; the entry goes away with its last user.
    pub fn release(&mut self, id: SelectorId) {
        let Some(slot) = self.entries.get_mut(id as usize) else {
            return;
        };
        let Some(entry) = slot else {
            return;
        };
        entry.users = entry.users.saturating_sub(1);
        if entry.users > 0 {
            return;
        }
        let Some(entry) = slot.take() else {
            return;
        };
        for ident in &entry.selected {
            if let Some(set) = self.selected_by.get_mut(ident) {
                set.remove(id);
                if set.is_empty() {
                    self.selected_by.remove(ident);
                }
            }
        }
        match entry.selector.namespace() {
            Some(ns) => {
                if let Some(set) = self.pinned.get_mut(ns) {
                    set.remove(&id);
                    if set.is_empty() {
                        self.pinned.remove(ns);
                    }
                }
            }
            None => {
                self.unpinned.remove(&id);
            }
        }
        self.ids.remove(&entry.selector);
        self.free.push(id);
    }

    /// Whether selector `id` selects identity `identity`.
    #[inline]
    pub fn selects(&self, id: SelectorId, identity: u32) -> bool {
        match self.entries.get(id as usize) {
            Some(Some(e)) => e.selected.contains(&identity),
            _ => false,
        }
    }

    /// The identities a selector selects, sorted.
    pub fn selected(&self, id: SelectorId) -> Vec<u32> {
        let mut v: Vec<u32> = match self.entries.get(id as usize) {
            Some(Some(e)) => e.selected.iter().copied().collect(),
            _ => Vec::new(),
        };
        v.sort_unstable();
        v
    }

    /// The selectors that select an identity, sorted.
    pub fn selectors_of(&self, identity: u32) -> impl Iterator<Item = SelectorId> + '_ {
        self.selected_by
            .get(&identity)
            .into_iter()
            .flat_map(SelectorSet::iter)
    }

    /// The selectors that select an identity, as a set (`None`: none do).
    #[inline]
    pub(crate) fn membership(&self, identity: u32) -> Option<&SelectorSet> {
        self.selected_by.get(&identity)
    }

    /// Adds or relabels an identity; returns the selectors whose selection
    /// changed.
    pub fn upsert_identity(&mut self, identity: u32, labels: LabelSet) -> Vec<SelectorId> {
        let mut changed = BTreeSet::new();
        if let Some(old) = self.identities.get(&identity) {
            if *old == labels {
                return Vec::new();
            }
            changed.extend(self.remove_identity(identity));
        }
        let candidates: Vec<SelectorId> = {
            let pinned = identity_namespace(&labels)
                .and_then(|ns| self.pinned.get(ns))
                .into_iter()
                .flat_map(|s| s.iter().copied());
            self.unpinned.iter().copied().chain(pinned).collect()
        };
        let mut selected_by = SelectorSet::default();
        for sid in candidates {
            if let Some(Some(e)) = self.entries.get_mut(sid as usize)
                && e.selector.matches(&labels)
            {
                e.selected.insert(identity);
                selected_by.insert(sid);
                changed.insert(sid);
            }
        }
        if !selected_by.is_empty() {
            self.selected_by.insert(identity, selected_by);
        }
        if let Some(ns) = identity_namespace(&labels) {
            self.identities_by_ns
                .entry(ns.to_string())
                .or_default()
                .insert(identity);
        }
        self.identities.insert(identity, labels);
        changed.into_iter().collect()
    }

    /// Removes an identity; returns the selectors whose selection changed.
    pub fn remove_identity(&mut self, identity: u32) -> Vec<SelectorId> {
        let Some(labels) = self.identities.remove(&identity) else {
            return Vec::new();
        };
        if let Some(ns) = identity_namespace(&labels)
            && let Some(set) = self.identities_by_ns.get_mut(ns)
        {
            set.remove(&identity);
            if set.is_empty() {
                self.identities_by_ns.remove(ns);
            }
        }
        let sels = self.selected_by.remove(&identity).unwrap_or_default();
        for sid in sels.iter() {
            if let Some(Some(e)) = self.entries.get_mut(sid as usize) {
                e.selected.remove(&identity);
            }
        }
        sels.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Label;

    fn pod(ns: &str, app: &str) -> LabelSet {
        LabelSet::from_labels([Label::k8s("app", app), Label::k8s(LABEL_POD_NAMESPACE, ns)])
    }

    fn sel(ns: Option<&str>, app: &str) -> Selector {
        let mut r = vec![Requirement::new(
            None,
            "app",
            Operator::In(vec![app.to_string()]),
        )];
        if let Some(ns) = ns {
            r.push(Requirement::new(
                Some("k8s"),
                LABEL_POD_NAMESPACE,
                Operator::In(vec![ns.to_string()]),
            ));
        }
        Selector::new(r)
    }

    #[test]
    fn cache_tracks_identities_incrementally() {
        let mut c = SelectorCache::new();
        let s1 = c.acquire(&sel(Some("x"), "a"));
        let s2 = c.acquire(&sel(None, "a"));
        assert_eq!(c.acquire(&sel(Some("x"), "a")), s1);
        assert_eq!(c.selector_count(), 2);
        let changed = c.upsert_identity(300, pod("x", "a"));
        assert_eq!(changed, vec![s1, s2]);
        c.upsert_identity(301, pod("y", "a"));
        assert_eq!(c.selected(s1), vec![300]);
        assert_eq!(c.selected(s2), vec![300, 301]);
        // A selector created after the identities is populated by a scan.
        let s3 = c.acquire(&sel(Some("y"), "a"));
        assert_eq!(c.selected(s3), vec![301]);
        // Relabel.
        c.upsert_identity(300, pod("x", "b"));
        assert!(!c.selects(s1, 300));
        c.remove_identity(301);
        assert!(c.selected(s2).is_empty());
        c.release(s1);
        assert_eq!(c.selector_count(), 3);
        c.release(s1);
        assert_eq!(c.selector_count(), 2);
    }

    #[test]
    fn requirement_operators() {
        let l = pod("x", "a");
        let r = |op| Requirement::new(None, "app", op);
        assert!(r(Operator::In(vec!["a".into()])).matches(&l));
        assert!(!r(Operator::NotIn(vec!["a".into()])).matches(&l));
        assert!(r(Operator::Exists).matches(&l));
        assert!(!r(Operator::DoesNotExist).matches(&l));
        assert!(Requirement::new(None, "zzz", Operator::NotIn(vec!["a".into()])).matches(&l));
        assert!(!Requirement::new(Some("reserved"), "app", Operator::Exists).matches(&l));
        assert_eq!(Requirement::split_source("k8s:app"), (Some("k8s"), "app"));
        assert_eq!(Requirement::split_source("any:app"), (None, "app"));
        assert_eq!(Requirement::split_source("app"), (None, "app"));
    }
}
