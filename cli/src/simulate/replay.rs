//! **Replay** (per configuration, [`run_config`]): the initial events are
//! applied, then `initial_sync_done`, and the initial build is settled
//! through a [`Mirror`] (every write succeeds). Each churn trace is then
//! replayed on its timestamps (shifted so that it starts once the previous
//! trace has settled): before each event, `flush(t)` runs at every
//! `next_due()` and at least every 100 ms of simulated time; after the last
//! event, time runs on until nothing is due. Writes go to the Mirror, and
//! to [`Propagation`] for the delays.
//!
//! **Engine figures** (wall clock, this process, the recommended
//! configuration's run): cold build; every trace event's `apply`; a
//! snapshot publish after every flush that planned writes (as an operator
//! serving readers does); IP → identity on the final snapshot.

use std::collections::HashMap;
use std::time::Instant;

use sliceplane::mirror::Mirror;
use sliceplane::{Engine, WritePlan};
use sliceplane_workload::{Cluster, Pacing, Source as WSource, TimedEvent, Trace};

use super::propagation::Propagation;
use super::results::{ConfigResult, PhaseResult, WriteCounts};
use super::setups::Setup;

/// (slices, ideal = sum over namespaces of ceil(endpoints / max), fill).
fn slices_vs_ideal(engine: &Engine) -> (usize, usize, Vec<usize>) {
    let max = engine.config().slicing.max_endpoints_per_slice.max(1) as usize;
    let mut per_ns: HashMap<String, usize> = HashMap::new();
    let slices = engine.desired_slices();
    let mut fill = Vec::with_capacity(slices.len());
    for s in &slices {
        *per_ns.entry(s.namespace.clone()).or_default() += s.endpoints.len();
        fill.push(s.endpoints.len());
    }
    let ideal = per_ns.values().map(|&n| n.div_ceil(max)).sum();
    (slices.len(), ideal, fill)
}

struct Replay {
    engine: Engine,
    mirror: Mirror,
    prop: Propagation,
    last_flush: u64,
    last_write: u64,
    writes_over_time: Vec<(u64, u64)>,
    t0: u64,
    apply_ns: Vec<u64>,
    publish_ns: Vec<u64>,
}

impl Replay {
    fn flush(&mut self, now: u64, counts: &mut WriteCounts, delays: &mut Vec<u64>) {
        let plan: WritePlan = self.engine.flush(now);
        self.last_flush = now;
        if plan.is_empty() {
            return;
        }
        self.last_write = now;
        for w in &plan.writes {
            counts.add(&w.op);
            self.prop.write(&w.op, now, delays);
        }
        self.writes_over_time
            .push((now.saturating_sub(self.t0), plan.len() as u64));
        // The Mirror accepts every write (reports cannot fail for its outcomes).
        let _ = self.mirror.apply_plan(&mut self.engine, &plan, now);
        let start = Instant::now();
        let _ = self.engine.publish();
        let took = start.elapsed();
        self.publish_ns.push(took.as_nanos() as u64);
        let _ = self.engine.observe_publish_seconds(took.as_secs_f64());
    }

    /// Flushes at every due time and every 100 ms up to `target`.
    fn advance(&mut self, target: u64, counts: &mut WriteCounts, delays: &mut Vec<u64>) {
        loop {
            let tick = self.last_flush + 100;
            let next = self
                .engine
                .next_due()
                .map_or(tick, |d| d.min(tick))
                .max(self.last_flush + 1);
            if next > target {
                break;
            }
            self.flush(next, counts, delays);
        }
    }

    /// Runs time on until nothing is due (or nothing more gets written);
    /// with `slices_only`, until no slice is dirty (identity deletes after
    /// their grace period, minutes later, are left for later).
    fn settle(&mut self, counts: &mut WriteCounts, delays: &mut Vec<u64>, slices_only: bool) {
        let mut idle = 0;
        for _ in 0..1_000_000 {
            if slices_only && self.engine.stats().dirty_slices == 0 {
                break;
            }
            let Some(due) = self.engine.next_due() else {
                break;
            };
            let before = counts.total;
            self.flush(due.max(self.last_flush + 1), counts, delays);
            if counts.total == before {
                idle += 1;
                if idle > 50 {
                    break;
                }
            } else {
                idle = 0;
            }
        }
    }

    fn apply(&mut self, ev: &TimedEvent) {
        self.prop.event(ev);
        let start = Instant::now();
        let _ = self.engine.apply(&ev.event, ev.at_ms);
        let took = start.elapsed();
        self.apply_ns.push(took.as_nanos() as u64);
        let _ = self.engine.observe_apply_seconds(took.as_secs_f64());
    }
}

pub(super) type TraceList = Vec<(String, u64)>;

pub(super) fn run_config(
    setup: Setup,
    mut cluster: Cluster,
    traces: &[Trace],
    source: WSource,
    pacing: Pacing,
    seed: u64,
    pb: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<(ConfigResult, TraceList)> {
    let engine =
        Engine::new(setup.config.clone()).map_err(|e| anyhow::anyhow!("{}: {e}", setup.key))?;
    if let Some(pb) = pb {
        pb.set_message(format!("{}: initial build", setup.key));
    }
    let start_ms = cluster.now_ms();
    let mut r = Replay {
        engine,
        mirror: Mirror::new(),
        prop: Propagation::default(),
        last_flush: start_ms,
        last_write: start_ms,
        writes_over_time: Vec::new(),
        t0: start_ms,
        apply_ns: Vec::new(),
        publish_ns: Vec::new(),
    };
    // Cold build: apply, initial sync, first plan (wall clock).
    let mut initial_events = 0u64;
    let cold = Instant::now();
    for ev in cluster.initial_events_iter(source) {
        let _ = r.engine.apply(&ev.event, ev.at_ms);
        initial_events += 1;
    }
    r.engine.initial_sync_done(start_ms);
    let t = start_ms + r.engine.config().write.sync_delay_ms;
    let first = r.engine.flush(t);
    let cold_build_ms = cold.elapsed().as_secs_f64() * 1e3;
    let mut initial_writes = WriteCounts::default();
    let mut none = Vec::new();
    for w in &first.writes {
        initial_writes.add(&w.op);
        r.prop.write(&w.op, t, &mut none);
    }
    let _ = r.mirror.apply_plan(&mut r.engine, &first, t);
    r.last_flush = t;
    r.last_write = t;
    r.settle(&mut initial_writes, &mut none, false);
    r.writes_over_time.clear();
    r.publish_ns.clear();
    let (slices0, ideal0, fill_before) = slices_vs_ideal(&r.engine);
    let mut phases = vec![PhaseResult {
        name: "initial build".into(),
        events: initial_events,
        wall_s: cold_build_ms / 1e3,
        writes: initial_writes,
        slices: slices0,
        ideal: ideal0,
        delays: Vec::new(),
        unwritten: 0,
        span_ms: r.last_write.saturating_sub(start_ms),
    }];
    if let Some(pb) = pb {
        pb.inc(cluster.spec().pods as u64);
    }
    r.t0 = r.last_flush + 1;
    let mut list = Vec::new();
    let mut churn_writes = WriteCounts::default();
    for (i, trace) in traces.iter().enumerate() {
        if let Some(pb) = pb {
            pb.set_message(format!("{}: {}", setup.key, trace.as_str()));
        }
        let mut events =
            cluster.churn_paced(*trace, source, seed.wrapping_add(i as u64 + 1), pacing);
        list.push((trace.as_str().to_string(), events.len() as u64));
        if let Some(pb) = pb {
            pb.inc_length(events.len() as u64);
        }
        // Start once the previous phase has settled.
        let shift = events
            .first()
            .map_or(0, |e| (r.last_flush + 1).saturating_sub(e.at_ms));
        for e in &mut events {
            e.at_ms += shift;
        }
        let first_at = events.first().map_or(r.last_flush, |e| e.at_ms);
        let mut counts = WriteCounts::default();
        let mut delays = Vec::new();
        let wall = Instant::now();
        r.last_write = first_at;
        for ev in &events {
            r.advance(ev.at_ms, &mut counts, &mut delays);
            r.apply(ev);
            if let Some(pb) = pb {
                pb.inc(1);
            }
        }
        r.settle(&mut counts, &mut delays, true);
        let wall_s = wall.elapsed().as_secs_f64();
        let unwritten = r.prop.take_unwritten();
        let (slices, ideal, _) = slices_vs_ideal(&r.engine);
        delays.sort_unstable();
        churn_writes.merge(&counts);
        phases.push(PhaseResult {
            name: trace.as_str().to_string(),
            events: events.len() as u64,
            wall_s,
            writes: counts,
            slices,
            ideal,
            delays,
            unwritten,
            span_ms: r.last_write.saturating_sub(first_at),
        });
    }
    // What is still due once the churn has settled: identity deletes after
    // their grace period (gcGraceMs), and anything else left.
    let later_from = r.last_flush;
    let mut later = WriteCounts::default();
    let mut none = Vec::new();
    let writes_so_far = r.writes_over_time.len();
    r.settle(&mut later, &mut none, false);
    r.writes_over_time.truncate(writes_so_far);
    if later.total > 0 {
        churn_writes.merge(&later);
        let (slices, ideal, _) = slices_vs_ideal(&r.engine);
        phases.push(PhaseResult {
            name: "identity gc".into(),
            events: 0,
            wall_s: 0.0,
            writes: later,
            slices,
            ideal,
            delays: Vec::new(),
            unwritten: r.prop.take_unwritten(),
            span_ms: r.last_write.saturating_sub(later_from),
        });
    }
    let (slices, ideal, fill_after) = slices_vs_ideal(&r.engine);
    let mut delays: Vec<u64> = phases.iter().flat_map(|p| p.delays.clone()).collect();
    delays.sort_unstable();
    // IP -> identity on the final snapshot: every endpoint IP, twice.
    let snap = r.engine.publish();
    let ips: Vec<std::net::IpAddr> = snap.ip_cache().map(|(ip, _)| *ip).collect();
    let lookups = ips.len() * 2;
    let start = Instant::now();
    let mut found = 0usize;
    for ip in ips.iter().chain(ips.iter()) {
        found += usize::from(std::hint::black_box(snap.identity_of_ip(ip)).is_some());
    }
    let ip_lookup_ns = if lookups == 0 {
        0.0
    } else {
        start.elapsed().as_nanos() as f64 / lookups as f64
    };
    anyhow::ensure!(
        found == lookups,
        "IP cache lookups missed: {found} of {lookups}"
    );
    let mut apply_ns = std::mem::take(&mut r.apply_ns);
    apply_ns.sort_unstable();
    let mut publish_ns = std::mem::take(&mut r.publish_ns);
    publish_ns.sort_unstable();
    Ok((
        ConfigResult {
            setup,
            phases,
            delays,
            churn_writes,
            slices,
            ideal,
            fill_before,
            fill_after,
            writes_over_time: r.writes_over_time,
            cold_build_ms,
            apply_ns,
            publish_ns,
            ip_lookup_ns,
            ip_lookups: lookups,
        },
        list,
    ))
}
