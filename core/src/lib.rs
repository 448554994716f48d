//! # sliceplane
//!
//! An embeddable engine that turns the endpoint churn of a Kubernetes
//! cluster into CiliumEndpointSlices: it assigns security identities from
//! labels, groups endpoints into slices and plans the minimal set of API
//! writes that keeps the API server equal to the desired state.
//!
//! The crate does no I/O, reads no clock and spawns no threads: time is
//! always a parameter and randomness comes from the seed in the config.
//!
//! ## The public API
//!
//! The names an embedder needs are re-exported here; the modules below
//! hold the rest of each concept.
//!
//! * **[`Config`]** ([`config`]): everything the engine is told up front —
//!   source, slicing mode and size, identity range, rate limits, retries.
//!   Parsed from YAML or JSON and validated once.
//! * **[`Engine`]** ([`engine`]): the state machine. Feed it watch events,
//!   let it maintain itself as time passes, poll it for a [`WritePlan`],
//!   report each write's [`Outcome`], and query it (stats, metrics,
//!   events, snapshots). The [`Engine`] docs give the call order.
//! * **[`WatchEvent`] / [`Object`]** ([`model`]): the Kubernetes and Cilium
//!   objects the engine reads (pods, namespaces, nodes, CiliumEndpoints,
//!   slices, identities) and the ADDED / MODIFIED / DELETED events that
//!   carry them.
//! * **[`WritePlan`] / [`PlannedWrite`] / [`Outcome`]** ([`plan`]): the
//!   writes the engine wants made, each with an [`OpId`] to report its
//!   result by.
//! * **[`Snapshot`](snapshot::Snapshot) /
//!   [`SnapshotReader`](snapshot::SnapshotReader)** ([`snapshot`]): an
//!   immutable, cheaply cloned view of endpoints and slices that other
//!   threads read while the engine keeps working.
//! * **[`Consumer`](consumer::Consumer)** ([`consumer`]): the agent's side —
//!   reads CiliumEndpointSlices and reports which endpoints appeared,
//!   changed or went away.
//! * **[`policy`]**: network-policy verdicts (NetworkPolicy and
//!   CiliumNetworkPolicy, layers 3 and 4) over the same identities.
//! * **[`wire`]**: every JSON shape that crosses a binding or the CLI
//!   (planned write, rejected event, views, consumer changes, policy
//!   probes) and the stream reader for batches of events.
//! * **[`mirror`]**: an in-memory API server for tests and simulators;
//!   applies a plan with the server's rules and answers with outcomes.
//! * **[`Error`] / [`ErrorCode`]** ([`error`]): every failure is a typed
//!   error with a stable code.
//!
//! [`health`], [`events`] and [`labels`] are public for the engine's query
//! methods and for policy inputs; everything else is internal.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod consumer;
pub(crate) mod endpoint;
pub mod engine;
mod entry;
pub mod error;
pub mod events;
// Public only for the fuzz targets (`fuzz/`) and the corpus replay test.
#[doc(hidden)]
pub mod fuzz_bodies;
pub mod health;
pub(crate) mod identity;
pub mod labels;
pub(crate) mod metrics;
pub mod mirror;
pub mod model;
pub mod plan;
pub mod policy;
pub(crate) mod ratelimit;
pub(crate) mod slicing;
pub mod snapshot;
mod snaptable;
pub(crate) mod validate;
pub mod wire;

pub use config::Config;
pub use engine::Engine;
pub use error::{Error, ErrorCode, ErrorFamily, Result};
pub use model::{EventType, Object, WatchEvent};
pub use plan::{OpId, Outcome, PlannedWrite, WriteOp, WritePlan};
pub use validate::MAX_OBJECT_BYTES;
