//! Readers on other threads load snapshots while the writer churns and
//! publishes: every snapshot they see is internally consistent and versions
//! only grow. Bounded by iterations (the writer's), not by time.
//!
//! (loom is not used: the synchronisation is inside arc-swap, which is
//! loom-checked upstream; the core crate holds no atomics of its own.)

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;
use sliceplane::config::{SliceMode, Source};
use sliceplane::consumer::Consumer;
use sliceplane::mirror::Mirror;
use sliceplane::model::*;
use sliceplane::snapshot::Snapshot;
use sliceplane::{Engine, WatchEvent, WriteOp};

/// Checks one snapshot; `strict_slices`: every slice member points back at
/// the slice (true for the engine; the consumer may hold a stale copy).
fn check(s: &Snapshot, strict_slices: bool) {
    let mut total = 0;
    for v in s.endpoints() {
        total += 1;
        let slice = s.slice(&v.slice).expect("an endpoint's slice exists");
        assert_eq!(slice.namespace, v.namespace);
        assert!(
            slice.endpoints.binary_search(&v.name).is_ok(),
            "slice {} holds {}",
            slice.name,
            v.name
        );
        for ip in v.ips() {
            let owner = s.lookup_ip(&ip).expect("every endpoint IP is cached");
            assert!(
                Arc::ptr_eq(owner, v) || owner.name != v.name || owner.namespace != v.namespace
            );
        }
        assert!(
            s.slices_in_namespace(&v.namespace).any(|n| *n == v.slice),
            "namespace index holds the slice"
        );
    }
    assert_eq!(total, s.endpoint_count());
    for (ip, owner) in s.ip_cache() {
        let v = s
            .endpoint(&owner.namespace, &owner.name)
            .expect("IP owner is an endpoint");
        assert!(v.ips().any(|x| x == *ip));
        assert_eq!(v.identity, owner.identity);
    }
    let mut in_slices = 0;
    for sl in s.slices() {
        assert!(!sl.endpoints.is_empty());
        for name in sl.endpoints.iter() {
            if strict_slices {
                let v = s.endpoint(&sl.namespace, name).expect("member exists");
                assert_eq!(v.slice, sl.name);
            }
            in_slices += 1;
        }
    }
    if strict_slices {
        assert_eq!(in_slices, s.endpoint_count());
    }
    let ns_eps: usize = s.namespaces().map(|(_, n)| n.endpoints).sum();
    assert_eq!(ns_eps, s.endpoint_count());
    let ns_slices: usize = s.namespaces().map(|(_, n)| n.slices.len()).sum();
    assert_eq!(ns_slices, s.slice_count());
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn churn_event(r: &mut Lcg) -> WatchEvent {
    let p = r.next(300) as u32;
    let (ns, name) = (format!("ns{}", p % 7), format!("p{p}"));
    if r.next(4) == 0 {
        delete(Object::CiliumEndpoint(cep(&ns, &name, 1000, &ip(p))))
    } else {
        let id = 1000 + r.next(5) as i64;
        add(Object::CiliumEndpoint(cep(&ns, &name, id, &ip(p))))
    }
}

#[test]
fn readers_see_consistent_growing_snapshots_while_the_engine_publishes() {
    let mut e = Engine::new(config(Source::Ciliumendpoints, SliceMode::Identity, 8)).unwrap();
    e.initial_sync_done(0);
    e.publish();
    let reader = e.snapshot_reader();
    let done = Arc::new(AtomicBool::new(false));
    let loads = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..3 {
        let (reader, done, loads) = (reader.clone(), done.clone(), loads.clone());
        handles.push(std::thread::spawn(move || {
            let mut last = 0;
            let mut n = 0u64;
            // At least some loads even if the writer finishes first.
            while !done.load(Ordering::Acquire) || n < 50 {
                let s = reader.load();
                assert!(s.version() >= last, "versions only grow");
                last = s.version();
                if t == 0 {
                    check(&s, true);
                } else {
                    // Hot lookups on a possibly older snapshot.
                    for p in 0..300u32 {
                        let ip: IpAddr = ip(p).parse().unwrap();
                        if let Some(id) = reader.identity_of_ip(&ip) {
                            assert!((1000..1005).contains(&id));
                        }
                        if let Some(v) = s.lookup_ip(&ip) {
                            assert_eq!(v.name.as_ref(), format!("p{p}"));
                        }
                    }
                    check(&s, true);
                }
                n += 1;
            }
            loads.fetch_add(n, Ordering::Relaxed);
        }));
    }
    let mut r = Lcg(7);
    for round in 0..400u64 {
        let now = round + 1;
        for _ in 0..(1 + r.next(20)) {
            let _ = e.apply(&churn_event(&mut r), now);
        }
        if round % 3 == 0 {
            Mirror::new().settle(&mut e, now, 5).unwrap();
        }
        let s = e.publish();
        check(&s, true);
    }
    done.store(true, Ordering::Release);
    for h in handles {
        h.join().expect("reader thread");
    }
    assert!(loads.load(Ordering::Relaxed) >= 150);
    assert!(reader.version() >= 400);
}

#[test]
fn readers_see_consistent_snapshots_while_the_consumer_publishes() {
    let mut e = Engine::new(config(Source::Ciliumendpoints, SliceMode::Fcfs, 5)).unwrap();
    e.initial_sync_done(0);
    let mut m = Mirror::new();
    let mut c = Consumer::with_max_per_slice(5);
    let reader = c.snapshot_reader();
    let done = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..2 {
        let (reader, done) = (reader.clone(), done.clone());
        handles.push(std::thread::spawn(move || {
            let mut last = 0;
            let mut n = 0;
            while !done.load(Ordering::Acquire) || n < 50 {
                let s = reader.load();
                assert!(s.version() >= last);
                last = s.version();
                check(&s, false);
                n += 1;
            }
        }));
    }
    let mut r = Lcg(11);
    let mut seen = BTreeSet::new();
    for now in 1..300u64 {
        for _ in 0..(1 + r.next(10)) {
            let _ = e.apply(&churn_event(&mut r), now);
        }
        let plan = e.flush(now);
        for w in &plan.writes {
            let before = match &w.op {
                WriteOp::DeleteSlice { name, .. } => m.slices.get(name).cloned(),
                _ => None,
            };
            let out = m.apply(&w.op);
            e.report(w.id, &out, now).unwrap();
            let ev = match (&w.op, out.is_success()) {
                (WriteOp::CreateSlice(s) | WriteOp::UpdateSlice(s), true) => {
                    Some(WatchEvent::modified(Object::CiliumEndpointSlice(
                        m.slices[&s.metadata.name].clone(),
                    )))
                }
                (WriteOp::DeleteSlice { .. }, true) => {
                    before.map(|b| WatchEvent::deleted(Object::CiliumEndpointSlice(b)))
                }
                _ => None,
            };
            if let Some(ev) = ev {
                c.apply(&ev).unwrap();
            }
        }
        let s = c.publish();
        check(&s, false);
        seen.insert(s.version());
    }
    done.store(true, Ordering::Release);
    for h in handles {
        h.join().expect("reader thread");
    }
    assert_eq!(seen.len(), 299);
}
