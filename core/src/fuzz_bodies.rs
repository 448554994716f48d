//! Bodies of the fuzz targets in `fuzz/`. They live in the crate so the
//! seed corpus replays on stable (`tests/fuzz_corpus.rs`); each panics on a
//! broken property and must not panic otherwise.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{SliceMode, Source};
use crate::mirror::Mirror;
use crate::model::{
    AddressPair, CiliumEndpoint, CiliumEndpointSlice, CiliumEndpointStatus, CiliumNode,
    CiliumNodeAddress, CiliumNodeSpec, Container, ContainerPort, CoreCiliumEndpoint,
    EncryptionSpec, EndpointIdentity, EndpointNetworking, EventType, NamedPort, Namespace, Object,
    ObjectMeta, Pod, PodIp, PodSpec, PodStatus, WatchEvent,
};
use crate::plan::Outcome;
use crate::{Config, Engine};

/// A watch event that parses must survive a JSON round trip unchanged.
pub fn parse_event(data: &[u8]) {
    if let Ok(ev) = WatchEvent::from_json(data) {
        let v = ev.to_json_value();
        let again =
            WatchEvent::from_value(&v).unwrap_or_else(|e| panic!("re-parse of {v} failed: {e}"));
        assert_eq!(ev, again, "round trip changed the event");
        let bytes = serde_json::to_vec(&v).expect("serializable");
        let again = WatchEvent::from_json(&bytes).expect("re-parse from bytes");
        assert_eq!(ev, again, "round trip through bytes changed the event");
    }
}

/// Any text: a config parses or is rejected, never panics; an accepted
/// config makes an engine.
pub fn parse_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = Config::from_yaml(&text) {
        let json = c.to_json();
        let again = Config::from_json(&json).expect("an accepted config re-parses");
        assert_eq!(c.to_json(), again.to_json());
        Engine::new(c).expect("a validated config makes an engine");
    }
}

/// Reads bytes as small numbers; zeros once exhausted.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn below(&mut self, n: u8) -> u8 {
        self.u8() % n
    }
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

const NAMESPACES: [&str; 3] = ["ns-a", "ns-b", "Bad_NS"];
const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", ""];
const NODES: [&str; 3] = ["node-1", "node-2", "node-3"];

fn ns_of(b: &mut Bytes) -> String {
    // Mostly valid namespaces; sometimes an invalid one.
    let i = b.below(8);
    NAMESPACES[if i < 7 { (i % 2) as usize } else { 2 }].to_string()
}

fn name_of(b: &mut Bytes) -> String {
    let i = b.below(32) as usize;
    if i < 30 {
        NAMES[i % 5].to_string()
    } else {
        NAMES[5].to_string()
    }
}

fn ip_of(b: &mut Bytes) -> String {
    match b.below(16) {
        0 => "not-an-ip".into(),
        1 => String::new(),
        2 => format!("fd00::{:x}", b.u8()),
        3 => "300.1.1.1".into(),
        _ => format!("10.0.{}.{}", b.below(4), b.u8()),
    }
}

fn meta(ns: Option<String>, name: String) -> ObjectMeta {
    ObjectMeta {
        name,
        namespace: ns,
        ..Default::default()
    }
}

fn gen_cep(b: &mut Bytes) -> CiliumEndpoint {
    let ns = ns_of(b);
    let name = name_of(b);
    let flags = b.u8();
    let id = match b.below(8) {
        0 => 0,
        1 => -5,
        2 => i64::from(u32::MAX) + 1,
        n => 255 + i64::from(n),
    };
    let mut named_ports = Vec::new();
    if flags & 4 != 0 {
        named_ports.push(NamedPort {
            name: "http".into(),
            port: match b.below(4) {
                0 => 0,
                1 => 70_000,
                _ => 80,
            },
            protocol: ["TCP", "UDP", "FOO", ""][b.below(4) as usize].into(),
        });
    }
    CiliumEndpoint {
        metadata: meta(Some(ns), name),
        status: CiliumEndpointStatus {
            identity: (flags & 1 == 0).then(|| EndpointIdentity { id, labels: vec![] }),
            networking: (flags & 2 == 0).then(|| EndpointNetworking {
                addressing: [AddressPair {
                    ipv4: Some(ip_of(b).into()),
                    ipv6: None,
                }]
                .into(),
                node: Some("192.168.0.1".into()),
            }),
            encryption: (flags & 8 != 0).then(|| EncryptionSpec {
                key: i64::from(b.u8()) - 8,
            }),
            named_ports,
            service_account: (flags & 16 != 0)
                .then(|| ["default", "Bad SA"][b.below(2) as usize].into()),
        },
    }
}

fn gen_pod(b: &mut Bytes) -> Pod {
    let ns = ns_of(b);
    let name = name_of(b);
    let flags = b.u8();
    let mut labels = BTreeMap::new();
    labels.insert(
        "app".to_string(),
        ["web", "db", "bad value!"][b.below(3) as usize].to_string(),
    );
    if flags & 1 != 0 {
        labels.insert("bad key!".into(), "x".into());
    }
    let ip = ip_of(b);
    Pod {
        metadata: ObjectMeta {
            labels,
            ..meta(Some(ns), name)
        },
        spec: PodSpec {
            node_name: (flags & 2 == 0).then(|| NODES[b.below(3) as usize].to_string()),
            service_account_name: Some("default".into()),
            host_network: flags & 4 != 0 && flags & 8 != 0,
            containers: vec![Container {
                name: "c".into(),
                ports: vec![ContainerPort {
                    name: Some(["http", "Bad_Name", ""][b.below(3) as usize].into()),
                    container_port: [8080, 0, 70_000][b.below(3) as usize],
                    protocol: [None, Some("UDP".to_string()), Some("FOO".to_string())]
                        [b.below(3) as usize]
                        .clone(),
                }],
            }],
        },
        status: PodStatus {
            phase: Some(["Running", "Pending", "Succeeded", "Failed"][b.below(4) as usize].into()),
            pod_ip: Some(ip.clone()),
            pod_ips: if flags & 16 != 0 {
                vec![]
            } else {
                vec![PodIp { ip }]
            },
            host_ip: None,
        },
    }
}

fn gen_slice(b: &mut Bytes) -> CiliumEndpointSlice {
    let mut s = CiliumEndpointSlice::new(
        ["ces-bbbbbbbbb-bbbbb", "ces-ccccccccc-ccccc", "BAD"][b.below(3) as usize],
        ns_of(b),
    );
    for _ in 0..b.below(4) {
        s.endpoints.push(CoreCiliumEndpoint {
            name: name_of(b).into(),
            id: 255 + i64::from(b.below(4)),
            networking: EndpointNetworking {
                addressing: [AddressPair {
                    ipv4: Some(ip_of(b).into()),
                    ipv6: None,
                }]
                .into(),
                node: None,
            },
            ..Default::default()
        });
    }
    s
}

fn event_type(b: &mut Bytes) -> EventType {
    match b.below(4) {
        0 => EventType::Added,
        3 => EventType::Deleted,
        _ => EventType::Modified,
    }
}

/// What the engine was told, for the liveness oracle.
#[derive(Default)]
struct Model {
    /// (ns, name) → live as an endpoint.
    live: BTreeMap<(String, String), bool>,
}

fn live_cep(c: &CiliumEndpoint) -> bool {
    c.status.identity.is_some() && c.status.networking.is_some()
}

fn live_pod(p: &Pod) -> bool {
    let has_ip =
        !p.status.pod_ips.is_empty() || p.status.pod_ip.as_deref().is_some_and(|s| !s.is_empty());
    p.spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
        && has_ip
        && !p.spec.host_network
        && !matches!(p.status.phase.as_deref(), Some("Succeeded" | "Failed"))
}

fn check(engine: &Engine, model: &Model, max: usize, mode: SliceMode) {
    let mut seen = BTreeSet::new();
    for s in engine.desired_slices() {
        assert!(
            !s.endpoints.is_empty() && s.endpoints.len() <= max,
            "slice {} has {} endpoints",
            s.metadata.name,
            s.endpoints.len()
        );
        if mode == SliceMode::Identity {
            assert!(s.endpoints.iter().all(|x| x.id == s.endpoints[0].id));
        }
        for x in &s.endpoints {
            let k = (s.namespace.clone(), x.name.to_string());
            assert!(
                model.live.get(&k).copied().unwrap_or(false),
                "{k:?} in slice {} but not live",
                s.metadata.name
            );
            let (slice, _) = engine.endpoint(&k.0, &k.1).expect("endpoint known");
            assert_eq!(
                slice,
                Some(s.metadata.name.as_str()),
                "{k:?}: wrong namespace/slice"
            );
            assert!(seen.insert(k.clone()), "{k:?} in two slices");
        }
    }
    for (k, live) in &model.live {
        if *live {
            assert!(seen.contains(k), "live endpoint {k:?} in no slice");
        }
    }
}

/// Applies an event; a rejected one must change nothing (DESIGN.md §2).
fn apply_checked(engine: &mut Engine, ev: &WatchEvent, now: u64) -> bool {
    let before = (
        engine.desired_slices(),
        engine.desired_identities(),
        engine.next_due(),
        engine.stats(),
    );
    match engine.apply(ev, now) {
        Ok(()) => true,
        Err(err) => {
            let after = (
                engine.desired_slices(),
                engine.desired_identities(),
                engine.next_due(),
                engine.stats(),
            );
            assert!(before == after, "rejected input changed the engine: {err}");
            false
        }
    }
}

/// Random engine operations; no panic and the key slice invariants.
pub fn event_sequence(data: &[u8]) {
    let mut b = Bytes { data, pos: 0 };
    let head = b.u8();
    let config = fuzz_config(head);
    let max = config.slicing.max_endpoints_per_slice as usize;
    let (source, mode) = (config.source, config.slicing.mode);
    let mut engine = fresh_engine(head, config);
    let mut mirror = Mirror::new();
    let mut model = Model::default();
    let mut now = 0u64;
    let mut synced = false;
    let mut steps = 0;
    while !b.done() && steps < 64 {
        steps += 1;
        match b.below(9) {
            0 | 1 => {
                let ty = event_type(&mut b);
                let c = gen_cep(&mut b);
                let key = (
                    c.metadata.namespace.clone().unwrap_or_default(),
                    c.metadata.name.clone(),
                );
                let live = ty != EventType::Deleted && live_cep(&c);
                let ok = apply_checked(
                    &mut engine,
                    &WatchEvent::new(ty, Object::CiliumEndpoint(c)),
                    now,
                );
                if ok && source == Source::Ciliumendpoints {
                    model.live.insert(key, live);
                }
            }
            2 | 3 => {
                let ty = event_type(&mut b);
                let p = gen_pod(&mut b);
                let key = (
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone(),
                );
                let live = ty != EventType::Deleted && live_pod(&p);
                let ok = apply_checked(&mut engine, &WatchEvent::new(ty, Object::Pod(p)), now);
                if ok && source == Source::Pods {
                    model.live.insert(key, live);
                }
            }
            4 => {
                let ev = gen_namespace_event(&mut b);
                apply_checked(&mut engine, &ev, now);
            }
            5 => {
                let ev = gen_cilium_node_event(&mut b);
                apply_checked(&mut engine, &ev, now);
            }
            6 => {
                let ty = event_type(&mut b);
                let s = gen_slice(&mut b);
                apply_checked(
                    &mut engine,
                    &WatchEvent::new(ty, Object::CiliumEndpointSlice(s)),
                    now,
                );
            }
            7 => {
                if !synced {
                    engine.initial_sync_done(now);
                    synced = true;
                }
            }
            _ => {
                now += u64::from(b.u8()) * 100;
                flush_with_fuzzed_outcomes(&mut engine, &mut mirror, &mut b, now);
            }
        }
        if synced {
            check(&engine, &model, max, mode);
        }
    }
    if !synced {
        engine.initial_sync_done(now);
    }
    check(&engine, &model, max, mode);
    settle(&mut engine, &mut mirror, now);
    check(&engine, &model, max, mode);
}

/// The engine config chosen by a sequence's first byte.
fn fuzz_config(head: u8) -> Config {
    let mut config = Config {
        source: if head & 1 == 0 {
            Source::Ciliumendpoints
        } else {
            Source::Pods
        },
        ..Config::default()
    };
    config.slicing.mode = if head & 2 == 0 {
        SliceMode::Fcfs
    } else {
        SliceMode::Identity
    };
    config.slicing.max_endpoints_per_slice = u32::from((head >> 2) % 4) + 1;
    config.write.sync_delay_ms = if head & 0x40 == 0 { 0 } else { 500 };
    config.write.empty_before_delete_threshold = u32::from(head >> 7);
    config.identity.gc_grace_ms = 10_000;
    config
}

/// A new engine for `config`. `Engine::new` compiles the label filter's
/// regexes, which dominates a fuzz run: clone a fresh engine from a
/// per-config cache instead.
fn fresh_engine(head: u8, config: Config) -> Engine {
    thread_local! {
        static FRESH: std::cell::RefCell<BTreeMap<u8, Engine>> =
            const { std::cell::RefCell::new(BTreeMap::new()) };
    }
    FRESH.with(|f| {
        f.borrow_mut()
            .entry(head)
            .or_insert_with(|| Engine::new(config).expect("valid config"))
            .clone()
    })
}

fn gen_namespace_event(b: &mut Bytes) -> WatchEvent {
    let ty = event_type(b);
    let mut labels = BTreeMap::new();
    match b.below(3) {
        0 => {}
        1 => {
            labels.insert("team".to_string(), "a".to_string());
        }
        _ => {
            labels.insert("-bad".to_string(), "a".to_string());
        }
    }
    let ns = Namespace {
        metadata: ObjectMeta {
            labels,
            ..meta(None, ns_of(b))
        },
    };
    WatchEvent::new(ty, Object::Namespace(ns))
}

fn gen_cilium_node_event(b: &mut Bytes) -> WatchEvent {
    let ty = event_type(b);
    let n = CiliumNode {
        metadata: ObjectMeta::named(NODES[b.below(3) as usize]),
        spec: CiliumNodeSpec {
            addresses: vec![CiliumNodeAddress {
                kind: "InternalIP".into(),
                ip: ip_of(b),
            }],
            encryption: Some(EncryptionSpec {
                key: i64::from(b.u8()) - 8,
            }),
        },
    };
    WatchEvent::new(ty, Object::CiliumNode(n))
}

/// Flushes and reports each write's outcome as the fuzz input chooses:
/// a failure, or the mirror's answer.
fn flush_with_fuzzed_outcomes(engine: &mut Engine, mirror: &mut Mirror, b: &mut Bytes, now: u64) {
    let plan = engine.flush(now);
    for w in &plan.writes {
        let outcome = match b.below(8) {
            0 => Outcome::Error {
                message: "fuzz".into(),
            },
            1 => Outcome::Conflict,
            2 => Outcome::NotFound,
            3 => Outcome::AlreadyExists,
            _ => mirror.apply(&w.op),
        };
        engine.report(w.id, &outcome, now).expect("op in flight");
    }
}

/// Settles with every write succeeding; the engine must converge.
fn settle(engine: &mut Engine, mirror: &mut Mirror, now: u64) {
    let mut t = now + 1_000_000;
    for _ in 0..200 {
        t += 200_000;
        let plan = engine.flush(t);
        if plan.is_empty() {
            break;
        }
        mirror.apply_plan(engine, &plan, t).expect("reports");
    }
    assert!(engine.flush(t + 1_000_000).is_empty(), "no convergence");
}
