//! The consumer against a plain model of Cilium v1.20's agent (its CES
//! subscriber, `cepToCESmap` and IP cache), over random slice event
//! sequences: few names and few IPs (so endpoints move between slices and
//! share IPs), entries with and without a node IP, malformed entries,
//! repeated names, namespace changes, DELETED events with any body. After
//! every event: the same changes in the same order, the same endpoint set,
//! the same IP cache, in both shared-IP release modes; and the JSON path
//! agrees with the typed one.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sliceplane::WatchEvent;
use sliceplane::consumer::{Consumer, ConsumerOptions, EndpointChange, SharedIpRelease};
use sliceplane::model::*;

/// One generated slice entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Gen {
    name: u8,
    id: u8,
    ip: u8,
    node: bool,
    bad: bool,
}

#[derive(Debug, Clone)]
enum Ev {
    /// ADDED or MODIFIED (the consumer treats them alike).
    Upsert {
        slice: u8,
        ns: u8,
        modified: bool,
        entries: Vec<Gen>,
    },
    /// DELETED, with a body that may say anything.
    Delete { slice: u8, body: Vec<Gen> },
}

fn gen_g() -> impl Strategy<Value = Gen> {
    (
        0u8..5,
        0u8..3,
        0u8..4,
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(name, id, ip, node, bad)| Gen {
            name,
            id,
            ip,
            node,
            bad,
        })
}

fn ev_g() -> impl Strategy<Value = Ev> {
    prop_oneof![
        6 => (0u8..3, prop::bool::weighted(0.1), any::<bool>(), prop::collection::vec(gen_g(), 0..6))
            .prop_map(|(slice, other_ns, modified, entries)| Ev::Upsert {
                slice,
                ns: u8::from(other_ns),
                modified,
                entries,
            }),
        1 => (0u8..3, prop::collection::vec(gen_g(), 0..3)).prop_map(|(slice, body)| Ev::Delete { slice, body }),
    ]
}

fn name(n: u8) -> String {
    format!("p{n}")
}
fn ip(n: u8) -> String {
    format!("10.0.0.{}", n + 1)
}
fn slice_name(s: u8) -> String {
    format!("ces-{s}")
}
fn ns_name(n: u8) -> String {
    format!("ns{n}")
}

fn core(g: &Gen) -> CoreCiliumEndpoint {
    CoreCiliumEndpoint {
        name: name(g.name).into(),
        id: 1000 + i64::from(g.id),
        networking: EndpointNetworking {
            addressing: vec![AddressPair {
                ipv4: Some(ip(g.ip).into()),
                ipv6: None,
            }]
            .into(),
            node: g.node.then(|| "192.168.0.1".into()),
        },
        encryption: EncryptionSpec {
            key: if g.bad { 256 } else { 0 },
        },
        ..Default::default()
    }
}

fn watch(ev: &Ev) -> WatchEvent {
    match ev {
        Ev::Upsert {
            slice,
            ns,
            modified,
            entries,
        } => {
            let mut s = CiliumEndpointSlice::new(slice_name(*slice), ns_name(*ns));
            s.endpoints = entries.iter().map(core).collect();
            let obj = Object::CiliumEndpointSlice(s);
            if *modified {
                WatchEvent::modified(obj)
            } else {
                WatchEvent::added(obj)
            }
        }
        Ev::Delete { slice, body } => {
            let mut s = CiliumEndpointSlice::new(slice_name(*slice), "elsewhere");
            s.endpoints = body.iter().map(core).collect();
            WatchEvent::deleted(Object::CiliumEndpointSlice(s))
        }
    }
}

type Key = (String, String);

/// What an entry says, as the model keeps it: (identity, IP, has node IP).
type Entry = (u32, String, bool);

/// Cilium's agent, written out plainly.
#[derive(Default)]
struct Model {
    cilium_release: bool,
    /// Slice → (namespace, valid entries in array order, one per name).
    slices: BTreeMap<String, (String, Vec<(String, Entry)>)>,
    /// cepToCESmap: copies (oldest insert first) and the current slice.
    ceps: BTreeMap<Key, (Vec<(String, Entry)>, String)>,
    /// The endpoints: key → (slice, entry).
    live: BTreeMap<Key, (String, Entry)>,
    /// Per IP, its claimants, the owner last.
    claims: BTreeMap<String, Vec<Key>>,
    changes: Vec<String>,
}

impl Model {
    fn apply(&mut self, ev: &Ev) {
        self.changes.clear();
        let (slice, new) = match ev {
            Ev::Upsert {
                slice, ns, entries, ..
            } => {
                let mut valid: Vec<(String, Entry)> = Vec::new();
                for g in entries.iter().filter(|g| !g.bad) {
                    valid.retain(|(n, _)| *n != name(g.name));
                    valid.push((name(g.name), (1000 + u32::from(g.id), ip(g.ip), g.node)));
                }
                (slice_name(*slice), Some((ns_name(*ns), valid)))
            }
            Ev::Delete { slice, .. } => (slice_name(*slice), None),
        };
        let old = self.slices.remove(&slice);
        let same_ns = matches!((&old, &new), (Some(o), Some(n)) if o.0 == n.0);
        let in_new = |n: &str| {
            same_ns
                && new
                    .as_ref()
                    .is_some_and(|(_, es)| es.iter().any(|(x, _)| x == n))
        };
        let in_old = |n: &str| -> Option<Entry> {
            if !same_ns {
                return None;
            }
            let (_, es) = old.as_ref()?;
            es.iter().find(|(x, _)| x == n).map(|(_, e)| e.clone())
        };
        if let Some((ns, es)) = &old {
            for (n, _) in es {
                if !in_new(n) {
                    self.delete_copy((ns.clone(), n.clone()), &slice);
                }
            }
        }
        if let Some((ns, es)) = &new {
            for (n, e) in es {
                if in_old(n).is_none() {
                    self.insert_copy((ns.clone(), n.clone()), &slice, e.clone());
                }
            }
            for (n, e) in es {
                if in_old(n).is_some_and(|before| before != *e) {
                    self.insert_copy((ns.clone(), n.clone()), &slice, e.clone());
                }
            }
        }
        if let Some(n) = new {
            self.slices.insert(slice, n);
        }
    }

    fn insert_copy(&mut self, key: Key, slice: &str, e: Entry) {
        let c = self
            .ceps
            .entry(key.clone())
            .or_insert_with(|| (Vec::new(), slice.to_string()));
        c.0.retain(|(s, _)| s != slice);
        c.0.push((slice.to_string(), e.clone()));
        c.1 = slice.to_string();
        self.updated(key, slice.to_string(), e);
    }

    fn delete_copy(&mut self, key: Key, slice: &str) {
        let Some(c) = self.ceps.get_mut(&key) else {
            return;
        };
        let Some(pos) = c.0.iter().position(|(s, _)| s == slice) else {
            return;
        };
        c.0.remove(pos);
        if c.1 != slice {
            return;
        }
        match c.0.last().cloned() {
            Some((other, e)) => {
                c.1 = other.clone();
                self.updated(key, other, e);
            }
            None => {
                self.ceps.remove(&key);
                if let Some((_, old)) = self.live.remove(&key) {
                    self.changes.push(format!("delete {}/{}", key.0, key.1));
                    self.release_all(&key, &old);
                }
            }
        }
    }

    /// endpointUpdated: upsert the new IPs (with a node IP), then remove
    /// the old ones not re-added.
    fn updated(&mut self, key: Key, slice: String, e: Entry) {
        let view = (slice, e.clone());
        let old = self.live.get(&key).cloned();
        if old.as_ref() == Some(&view) {
            return;
        }
        self.changes.push(format!(
            "{} {}/{}",
            if old.is_some() { "update" } else { "add" },
            key.0,
            key.1
        ));
        self.live.insert(key.clone(), view);
        if e.2 {
            let stack = self.claims.entry(e.1.clone()).or_default();
            stack.retain(|k| *k != key);
            stack.push(key.clone());
        }
        if let Some((_, o)) = old.filter(|(_, o)| o.2 && !(e.2 && e.1 == o.1)) {
            self.release(&key, &o.1);
        }
    }

    fn release_all(&mut self, key: &Key, e: &Entry) {
        if e.2 {
            self.release(key, &e.1);
        }
    }

    /// DeleteOnMetadataMatch, plus the handover of the default mode.
    fn release(&mut self, key: &Key, ip: &str) {
        let Some(stack) = self.claims.get_mut(ip) else {
            return;
        };
        if stack.last() == Some(key) && self.cilium_release {
            stack.clear();
        } else {
            stack.retain(|k| k != key);
        }
        if stack.is_empty() {
            self.claims.remove(ip);
        }
    }

    fn ip_cache(&self) -> BTreeMap<String, (Key, u32)> {
        self.claims
            .iter()
            .filter_map(|(ip, stack)| {
                let k = stack.last()?;
                Some((ip.clone(), (k.clone(), self.live[k].1.0)))
            })
            .collect()
    }
}

fn changes(ch: &[EndpointChange]) -> Vec<String> {
    ch.iter()
        .map(|c| match c {
            EndpointChange::Upsert { old, new } => format!(
                "{} {}/{}",
                if old.is_some() { "update" } else { "add" },
                new.namespace,
                new.name
            ),
            EndpointChange::Delete { old } => format!("delete {}/{}", old.namespace, old.name),
        })
        .collect()
}

fn live(c: &mut Consumer) -> BTreeMap<Key, (String, Entry)> {
    c.publish()
        .endpoints()
        .map(|v| {
            (
                (v.namespace.to_string(), v.name.to_string()),
                (
                    v.slice.to_string(),
                    (
                        v.identity,
                        v.ips().next().unwrap().to_string(),
                        v.node_ip().is_some(),
                    ),
                ),
            )
        })
        .collect()
}

fn ip_cache(c: &mut Consumer) -> BTreeMap<String, (Key, u32)> {
    c.publish()
        .ip_cache()
        .map(|(ip, v)| {
            (
                ip.to_string(),
                ((v.namespace.to_string(), v.name.to_string()), v.identity),
            )
        })
        .collect()
}

fn run(events: &[Ev], release: SharedIpRelease) {
    let options = ConsumerOptions {
        shared_ip_release: release,
        ..ConsumerOptions::default()
    };
    let mut c = Consumer::with_options(options);
    let mut json = Consumer::with_options(options);
    let mut m = Model {
        cilium_release: release == SharedIpRelease::Cilium,
        ..Model::default()
    };
    let mut skipped = 0;
    for (i, ev) in events.iter().enumerate() {
        let w = watch(ev);
        let got = c.apply(&w).expect("a valid slice header");
        let bytes = serde_json::to_vec(&w.to_json_value()).unwrap();
        let got_json = json.apply_json(&bytes).expect("a valid slice header");
        m.apply(ev);
        if let Ev::Upsert { entries, .. } = ev {
            skipped += entries.iter().filter(|g| g.bad).count() as u64;
        }
        assert_eq!(changes(&got), m.changes, "changes after event {i}: {ev:?}");
        assert_eq!(got, got_json, "JSON path after event {i}");
        assert_eq!(live(&mut c), m.live, "endpoints after event {i}: {ev:?}");
        assert_eq!(
            ip_cache(&mut c),
            m.ip_cache(),
            "IP cache after event {i}: {ev:?}"
        );
        assert!(c.publish().same_content(&json.publish()));
        assert_eq!(c.counters().entries_skipped, skipped);
        assert_eq!(c.counters().endpoints, m.live.len());
        assert_eq!(c.counters().slices, m.slices.len());
    }
    // Deleting every slice leaves nothing, whatever came before.
    for s in 0..3 {
        c.apply(&watch(&Ev::Delete {
            slice: s,
            body: vec![],
        }))
        .unwrap();
    }
    assert_eq!(c.publish().endpoint_count(), 0);
    assert_eq!(c.counters().ip_cache_size, 0);
    assert_eq!(c.counters().slices, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn consumer_follows_the_cilium_agent_model(
        events in prop::collection::vec(ev_g(), 1..40),
        cilium in any::<bool>(),
    ) {
        let release = if cilium { SharedIpRelease::Cilium } else { SharedIpRelease::Handover };
        run(&events, release);
    }
}
