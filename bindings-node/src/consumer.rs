//! `Consumer`: the agent side, CiliumEndpointSlice events in, endpoint
//! changes and an IP cache out (DESIGN §7).

use napi::Result;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde_json::{Value, json};
use sliceplane::WatchEvent;
use sliceplane::consumer::{ConsumerOptions, EndpointChange, SharedIpRelease};
use sliceplane::wire::{self, Change};

use crate::convert::{now_ms, rejected_json, wire_json, wire_list};
use crate::snapshot::{Snapshot, SnapshotReader, endpoint_json, parse_ip};
use crate::to_napi;

/// The changes of a single apply, as `wire` changes (`index` null).
fn changes_json(cs: &[EndpointChange]) -> Vec<Value> {
    cs.iter()
        .map(|c| wire_json(&Change::new(c, None)))
        .collect()
}

/// The node agent's view of CiliumEndpointSlices.
#[napi(js_name = "NativeConsumer")]
pub struct Consumer {
    inner: sliceplane::consumer::Consumer,
}

#[napi]
impl Consumer {
    /// A consumer; `maxPerSlice` (default 100) only affects fragmentation.
    /// `sharedIpRelease` (default `"handover"`, or `"cilium"`) is what
    /// happens to the IP-cache entry of an IP two live endpoints claim when
    /// its owner goes; another value is an `invalid_value` error.
    #[napi(constructor)]
    pub fn new(max_per_slice: Option<u32>, shared_ip_release: Option<String>) -> Result<Self> {
        let mut options = ConsumerOptions {
            shared_ip_release: match shared_ip_release {
                Some(r) => SharedIpRelease::parse(&r).map_err(to_napi)?,
                None => SharedIpRelease::Handover,
            },
            ..ConsumerOptions::default()
        };
        if let Some(m) = max_per_slice {
            options.max_per_slice = m;
        }
        Ok(Consumer {
            inner: sliceplane::consumer::Consumer::with_options(options),
        })
    }

    /// Applies one CiliumEndpointSlice watch event; returns the changes.
    #[napi]
    pub fn apply(&mut self, event: Value) -> Result<Vec<Value>> {
        let ev = WatchEvent::from_value(&event).map_err(to_napi)?;
        self.inner
            .apply(&ev)
            .map(|cs| changes_json(&cs))
            .map_err(to_napi)
    }

    /// Parses and applies one watch event in JSON.
    #[napi]
    pub fn apply_json(&mut self, json: Buffer) -> Result<Vec<Value>> {
        self.inner
            .apply_json(&json)
            .map(|cs| changes_json(&cs))
            .map_err(to_napi)
    }

    /// Applies a stream of watch events (JSON lines, pretty-printed values,
    /// Lists) read by the core's stream reader: `{changes, rejected}`, each
    /// change with its event's `index`, `rejected` as for the engine.
    #[napi]
    pub fn apply_json_lines(&mut self, json: Buffer) -> Value {
        let (changes, rejected) = wire::apply_consumer_batch(&mut self.inner, &json);
        let rejected: Vec<Value> = rejected.iter().map(rejected_json).collect();
        json!({"changes": wire_list(&changes), "rejected": rejected})
    }

    /// Publishes a snapshot of what the consumer holds.
    #[napi]
    pub fn publish(&mut self) -> Snapshot {
        Snapshot::new(self.inner.publish())
    }

    /// A handle that loads the latest published snapshot.
    #[napi]
    pub fn snapshot_reader(&self) -> SnapshotReader {
        SnapshotReader::new(self.inner.snapshot_reader())
    }

    /// Counters of what the consumer did.
    #[napi]
    pub fn counters(&self) -> Value {
        serde_json::to_value(self.inner.counters()).unwrap_or_default()
    }

    /// Events recorded since the last drain.
    #[napi]
    pub fn drain_events(&mut self) -> Vec<Value> {
        self.inner
            .drain_events()
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect()
    }

    /// The caller's time (ms) stamped on events from now on.
    #[napi]
    pub fn set_now(&mut self, now_ms_: f64) -> Result<()> {
        self.inner.set_now(now_ms(now_ms_)?);
        Ok(())
    }

    /// The current view of an endpoint (not waiting for a publish), or `null`.
    #[napi]
    pub fn endpoint(&self, namespace: String, name: String) -> Value {
        self.inner
            .endpoint(&namespace, &name)
            .map_or(Value::Null, |e| endpoint_json(e))
    }

    /// The slices holding a copy of an endpoint: `{copies, current}`, or `null`.
    #[napi]
    pub fn copies(&self, namespace: String, name: String) -> Value {
        self.inner
            .copies(&namespace, &name)
            .map_or(Value::Null, |(copies, current)| {
                json!({
                    "copies": copies.iter().map(|s| &**s).collect::<Vec<_>>(),
                    "current": &*current,
                })
            })
    }

    /// IP → owning endpoint now (not waiting for a publish), or `null`.
    #[napi]
    pub fn lookup_ip(&self, ip: String) -> Result<Value> {
        let ip = parse_ip(&ip)?;
        Ok(self
            .inner
            .lookup_ip(&ip)
            .map_or(Value::Null, |e| endpoint_json(&e)))
    }
}
