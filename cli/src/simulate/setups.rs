//! The configurations, side by side in one run, each on its own copy of
//! the cluster and the very same events:
//! - `cilium-code`: Cilium v1.20.2's CES controller as the engine models it
//!   (`fcfs` plans the same writes as v1.20.2's manager, measured), with its
//!   code defaults: 500 ms sync delay, `ces-rate-limits` 10 writes/s burst 20;
//! - `cilium-helm`: the same with the Helm chart's default
//!   `ciliumEndpointSlice.rateLimits` (10/s burst 20; from 100 nodes 50/s
//!   burst 100);
//! - `sliceplane`: the recommended config ([`recommended_config`]);
//! - `yours`: `--config FILE`, when given.
//!
//! Also the write budget a configuration gives at a node count
//! ([`active_step`]).

use sliceplane::Config;
use sliceplane::config::{Compaction, RateLimitStep};

/// One configuration of the side-by-side run.
#[derive(Clone)]
pub struct Setup {
    /// Short key: `cilium-code`, `cilium-helm`, `sliceplane`, `yours`.
    pub key: String,
    /// Human name.
    pub label: String,
    /// What it is, in one line.
    pub description: String,
    pub config: Config,
}

/// Cilium's Helm default `ciliumEndpointSlice.rateLimits`, as the current
/// chart's values reference lists it: 10/s burst 20; from 100 nodes 50/s
/// burst 100 (the controller's caps). (The v1.16 chart had lower steps,
/// 7/15 from 100 nodes and 5/10 from 500.)
pub fn helm_rate_limits() -> Vec<RateLimitStep> {
    vec![
        RateLimitStep {
            nodes: 0,
            limit: 10.0,
            burst: 20,
        },
        RateLimitStep {
            nodes: 100,
            limit: 50.0,
            burst: 100,
        },
    ]
}

/// sliceplane's recommended config, and why:
/// - **syncDelayMs 50**: every update waits the coalescing window first, and
///   Cilium's 500 ms alone is five times NFR1's 100 ms. 50 ms still folds a
///   burst of events into one write per slice and leaves 50 ms for the queue.
/// - **rateLimits 100 writes/s, burst 200**: NFR1 needs every changed slice
///   written within 100 ms; during a rollout tens of slices change at once,
///   and Cilium's ceiling (50/s, burst 100) queues them for seconds. Twice
///   that drains a scale-S rollout in time; the API server takes it easily
///   (its default allows 200 mutating requests in flight).
/// - **compaction on** (minFragmentation 1.05, moveBudget 100): slices stay
///   within 5% of the ideal count instead of fragmenting under churn.
/// - fcfs, 100 endpoints per slice, priority namespaces: Cilium's.
pub fn recommended_config() -> Config {
    let mut c = Config::default();
    c.write.sync_delay_ms = 50;
    c.write.rate_limits = vec![RateLimitStep {
        nodes: 0,
        limit: 100.0,
        burst: 200,
    }];
    c.slicing.compaction = Compaction {
        enabled: true,
        min_fragmentation: 1.05,
        move_budget: 100,
    };
    c
}

/// The configurations compared: Cilium's code defaults, Cilium's Helm
/// defaults, sliceplane's recommendation, and `yours` when given.
pub fn setups(yours: Option<(String, Config)>) -> Vec<Setup> {
    let code = Config::default();
    let mut helm = Config::default();
    helm.write.rate_limits = helm_rate_limits();
    let mut v = vec![
        Setup {
            key: "cilium-code".into(),
            label: "Cilium, code defaults".into(),
            description: "Cilium v1.20.2's controller (fcfs model): 500 ms sync delay, \
                          ces-rate-limits code default 10 writes/s burst 20"
                .into(),
            config: code,
        },
        Setup {
            key: "cilium-helm".into(),
            label: "Cilium, Helm defaults".into(),
            description: "the same with the Helm chart's ciliumEndpointSlice.rateLimits: \
                          10/s burst 20, from 100 nodes 50/s burst 100"
                .into(),
            config: helm,
        },
        Setup {
            key: "sliceplane".into(),
            label: "sliceplane recommended".into(),
            description: "fcfs + compaction (slices within 5% of ideal), 50 ms sync delay, \
                          100 writes/s burst 200"
                .into(),
            config: recommended_config(),
        },
    ];
    if let Some((path, config)) = yours {
        v.push(Setup {
            key: "yours".into(),
            label: "yours".into(),
            description: format!("--config {path}"),
            config,
        });
    }
    v
}

/// The write budget (limit, burst) the config's steps give at `nodes` nodes.
pub fn active_step(c: &Config, nodes: u32) -> (f64, u32) {
    let mut steps = c.write.rate_limits.clone();
    steps.sort_by_key(|s| s.nodes);
    let s = steps
        .iter()
        .rev()
        .find(|s| s.nodes <= nodes)
        .or(steps.first())
        .copied();
    s.map_or((0.0, 0), |s| (s.limit, s.burst))
}
