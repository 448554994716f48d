//! The workload of `../shared/tools/cilium-bench/` (its README, exactly),
//! shared by the `cilium_workload` bench and the `cilium_phases` and
//! `render_cost` examples so the three time the same objects:
//! N CiliumEndpoints, N/100 namespaces; endpoint i is `ep-<i>` in
//! `ns-<i mod (N/100)>`, IPv4 `10.(128 + i>>16).((i>>8) & 255).(i & 255)`,
//! node IP from `m = i mod (N/10)`: `10.(m>>16).((m>>8) & 255).(m & 255)`.

use sliceplane::config::{Config, RateLimitStep, Source};
use sliceplane::model::{
    AddressPair, CiliumEndpoint, CiliumEndpointStatus, EndpointIdentity, EndpointNetworking,
    ObjectMeta,
};

/// The engine config of the comparison: CiliumEndpoint source, fcfs, 100
/// endpoints per slice, sync delay 0, no rate limit (the whole plan is due
/// at once).
pub fn config() -> Config {
    let mut c = Config {
        source: Source::Ciliumendpoints,
        ..Config::default()
    };
    c.write.sync_delay_ms = 0;
    c.write.rate_limits = vec![RateLimitStep {
        nodes: 0,
        limit: 1e12,
        burst: u32::MAX,
    }];
    c
}

/// Endpoint i's IPv4 address.
pub fn pod_ip(i: usize) -> String {
    format!("10.{}.{}.{}", 128 + (i >> 16), (i >> 8) & 255, i & 255)
}

/// The IPv4 address of node m.
pub fn node_ip(m: usize) -> String {
    format!("10.{}.{}.{}", m >> 16, (m >> 8) & 255, m & 255)
}

/// CiliumEndpoint i of an N-endpoint workload, with the given identity.
pub fn endpoint(i: usize, n: usize, identity: i64) -> CiliumEndpoint {
    CiliumEndpoint {
        metadata: ObjectMeta {
            name: format!("ep-{i}"),
            namespace: Some(format!("ns-{}", i % (n / 100))),
            ..Default::default()
        },
        status: CiliumEndpointStatus {
            identity: Some(EndpointIdentity {
                id: identity,
                labels: Vec::new(),
            }),
            networking: Some(EndpointNetworking {
                addressing: [AddressPair {
                    ipv4: Some(pod_ip(i).into()),
                    ipv6: None,
                }]
                .into(),
                node: Some(node_ip(i % (n / 10)).into()),
            }),
            ..Default::default()
        },
    }
}
