//! `Engine`: watch events in, write plans out, outcomes back.

use napi::Result;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde_json::{Value, json};
use sliceplane::error::{Error, ErrorCode};
use sliceplane::wire::{self, Rejected};
use sliceplane::{OpId, Outcome};

use crate::config::Config;
use crate::convert::{count, now_ms, rejected_json};
use crate::snapshot::{Snapshot, SnapshotReader};
use crate::to_napi;

/// The endpoint-slice engine.
#[napi(js_name = "NativeEngine")]
pub struct Engine {
    inner: sliceplane::Engine,
}

fn op_id(id: i64) -> Result<OpId> {
    u64::try_from(id).map(OpId).map_err(|_| {
        to_napi(Error::new(
            ErrorCode::UnknownOp,
            "",
            "opId",
            format!("op id {id} is negative"),
        ))
    })
}

#[napi]
impl Engine {
    /// A new engine (waiting for its initial sync); defaults without a config.
    #[napi(constructor)]
    pub fn new(config: Option<&Config>) -> Result<Self> {
        let config = config.map(|c| c.inner.clone()).unwrap_or_default();
        sliceplane::Engine::new(config)
            .map(|inner| Engine { inner })
            .map_err(to_napi)
    }

    /// Applies one watch event (`{type, object}`, or a bare object as ADDED).
    #[napi]
    pub fn apply(&mut self, event: Value, now_ms_: f64) -> Result<()> {
        let now = now_ms(now_ms_)?;
        let ev = sliceplane::WatchEvent::from_value(&event).map_err(to_napi)?;
        self.inner.apply(&ev, now).map_err(to_napi)
    }

    /// Parses and applies one watch event in JSON.
    #[napi]
    pub fn apply_json(&mut self, json: Buffer, now_ms_: f64) -> Result<()> {
        let now = now_ms(now_ms_)?;
        self.inner.apply_json(&json, now).map_err(to_napi)
    }

    /// Applies events given one per line (the wrapper's `applyMany`: each
    /// item JSON-encoded, which never holds a raw newline): line `i` is
    /// event `i`, applied alone. Returns the rejected ones as `wire`
    /// rejections with `index` = `i` and `line` = `i + 1`.
    #[napi]
    pub fn apply_json_items(&mut self, json: Buffer, now_ms_: f64) -> Result<Vec<Value>> {
        let now = now_ms(now_ms_)?;
        let mut out = Vec::new();
        for (i, item) in json.split(|&b| b == b'\n').enumerate() {
            if let Err(e) = self.inner.apply_json(item, now) {
                out.push(rejected_json(&Rejected::new(i, i + 1, &e)));
            }
        }
        Ok(out)
    }

    /// Applies a stream of watch events (JSON lines, pretty-printed values,
    /// Lists) read by the core's stream reader, as every binding and the
    /// CLI do; returns the rejected events (`wire` rejections: `index`
    /// among the events, 1-based `line`).
    #[napi]
    pub fn apply_json_lines(&mut self, json: Buffer, now_ms_: f64) -> Result<Vec<Value>> {
        let now = now_ms(now_ms_)?;
        let rejected = wire::apply_engine_batch(&mut self.inner, &json, now);
        Ok(rejected.iter().map(rejected_json).collect())
    }

    /// Ends the initial sync: adopts observed slices, plans the rest.
    #[napi]
    pub fn initial_sync_done(&mut self, now_ms_: f64) -> Result<()> {
        self.inner.initial_sync_done(now_ms(now_ms_)?);
        Ok(())
    }

    /// Whether the initial sync is done.
    #[napi(getter)]
    pub fn synced(&self) -> bool {
        self.inner.is_synced()
    }

    /// The writes due now, in order, ready for `CustomObjectsApi`: `wire`
    /// planned writes `{id, op, group, version, plural, kind, name, object,
    /// preconditions}` as one JSON array (the core's encoding, the bytes
    /// the C ABI and the CLI give; the wrapper parses it: `JSON.parse` is
    /// much faster than building the objects through napi). With
    /// `maxSliceWrites`, at most that many slice writes (`flushAtMost`).
    #[napi]
    pub fn flush_json(&mut self, now_ms_: f64, max_slice_writes: Option<f64>) -> Result<String> {
        let now = now_ms(now_ms_)?;
        let max = match max_slice_writes {
            None => usize::MAX,
            Some(n) => count(n, "maxSliceWrites")?,
        };
        let json = wire::LineEncoder::new().array(&self.inner.flush_at_most(now, max).writes);
        // The encoder writes JSON text: always UTF-8.
        String::from_utf8(json).map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// Reports an outcome: `{outcome: "success", resourceVersion?, uid?}`,
    /// `{outcome: "conflict" | "notFound" | "alreadyExists"}` or
    /// `{outcome: "error", message}`.
    #[napi]
    pub fn report(&mut self, op_id_: i64, outcome: Value, now_ms_: f64) -> Result<()> {
        let now = now_ms(now_ms_)?;
        let id = op_id(op_id_)?;
        let outcome: Outcome = serde_json::from_value(outcome).map_err(|e| {
            to_napi(Error::new(
                ErrorCode::MalformedInput,
                "",
                "outcome",
                format!("not an outcome: {e}"),
            ))
        })?;
        self.inner.report(id, &outcome, now).map_err(to_napi)
    }

    /// Reports a success from its parts, without building an outcome object.
    #[napi]
    pub fn report_success(
        &mut self,
        op_id_: i64,
        resource_version: Option<String>,
        uid: Option<String>,
        now_ms_: f64,
    ) -> Result<()> {
        let outcome = Outcome::Success {
            resource_version,
            uid,
        };
        self.report_outcome(op_id_, &outcome, now_ms_)
    }

    /// Reports a conflict (the object changed since it was read).
    #[napi]
    pub fn report_conflict(&mut self, op_id_: i64, now_ms_: f64) -> Result<()> {
        self.report_outcome(op_id_, &Outcome::Conflict, now_ms_)
    }

    /// Reports that the object was not found.
    #[napi]
    pub fn report_not_found(&mut self, op_id_: i64, now_ms_: f64) -> Result<()> {
        self.report_outcome(op_id_, &Outcome::NotFound, now_ms_)
    }

    /// Reports that the object already exists.
    #[napi]
    pub fn report_already_exists(&mut self, op_id_: i64, now_ms_: f64) -> Result<()> {
        self.report_outcome(op_id_, &Outcome::AlreadyExists, now_ms_)
    }

    /// Reports any other failure, with its message.
    #[napi]
    pub fn report_error(&mut self, op_id_: i64, message: String, now_ms_: f64) -> Result<()> {
        self.report_outcome(op_id_, &Outcome::Error { message }, now_ms_)
    }

    /// The slices the server should hold, sorted by name.
    #[napi]
    pub fn desired_slices(&self) -> Vec<Value> {
        self.inner
            .desired_slices()
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .collect()
    }

    /// The CiliumIdentities the server should hold (pods mode), by number.
    #[napi]
    pub fn desired_identities(&self) -> Vec<Value> {
        self.inner
            .desired_identities()
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .collect()
    }

    /// A summary of the engine's state.
    #[napi]
    pub fn stats(&self) -> Value {
        serde_json::to_value(self.inner.stats()).unwrap_or_default()
    }

    /// Counters of what the engine did; `writesPlanned` is keyed `kind/verb`.
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

    /// The earliest time (ms) at which `flush` could plan something not yet
    /// due; `null` when nothing is pending.
    #[napi]
    pub fn next_due(&self) -> Option<f64> {
        self.inner.next_due().map(|t| t as f64)
    }

    /// Ops awaiting an outcome.
    #[napi]
    pub fn in_flight(&self) -> u32 {
        u32::try_from(self.inner.in_flight()).unwrap_or(u32::MAX)
    }

    /// The slice and identity of an endpoint, or `null` if unknown.
    #[napi(ts_return_type = "{ slice: string | null; identity: number | null } | null")]
    pub fn endpoint(&self, namespace: String, name: String) -> Value {
        match self.inner.endpoint(&namespace, &name) {
            None => Value::Null,
            Some((slice, identity)) => json!({"slice": slice, "identity": identity}),
        }
    }

    /// The security labels of an identity (`source:key=value`), or `null`.
    #[napi]
    pub fn identity_labels(&self, id: u32) -> Option<Vec<String>> {
        self.inner
            .identity_labels(id)
            .map(|l| l.iter().map(ToString::to_string).collect())
    }

    /// Publishes a snapshot of the desired state (O(changes)).
    #[napi]
    pub fn publish(&mut self) -> Snapshot {
        Snapshot::new(self.inner.publish())
    }

    /// A handle that loads the latest published snapshot.
    #[napi]
    pub fn snapshot_reader(&self) -> SnapshotReader {
        SnapshotReader::new(self.inner.snapshot_reader())
    }

    /// All metrics in the Prometheus text exposition format.
    #[napi]
    pub fn metrics(&self) -> String {
        self.inner.metrics_text()
    }

    /// `{state: "healthy"}` or `{state: "degraded", reason}`.
    #[napi]
    pub fn health(&self) -> Value {
        serde_json::to_value(self.inner.health()).unwrap_or_default()
    }

    /// Marks every slice for comparison with the server at the next flush.
    #[napi]
    pub fn resync(&mut self, now_ms_: f64) -> Result<()> {
        self.inner.resync(now_ms(now_ms_)?);
        Ok(())
    }

    /// Records an apply duration the caller measured.
    #[napi]
    pub fn observe_apply_seconds(&mut self, seconds: f64) -> Result<()> {
        self.inner.observe_apply_seconds(seconds).map_err(to_napi)?;
        Ok(())
    }

    /// Records a snapshot publish duration the caller measured.
    #[napi]
    pub fn observe_publish_seconds(&mut self, seconds: f64) -> Result<()> {
        self.inner
            .observe_publish_seconds(seconds)
            .map_err(to_napi)?;
        Ok(())
    }
}

impl Engine {
    fn report_outcome(&mut self, op_id_: i64, outcome: &Outcome, now_ms_: f64) -> Result<()> {
        let now = now_ms(now_ms_)?;
        let id = op_id(op_id_)?;
        self.inner.report(id, outcome, now).map_err(to_napi)
    }
}
