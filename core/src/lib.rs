//! # sliceplane
//!
//! An embeddable engine that turns the endpoint churn of a Kubernetes
//! cluster into CiliumEndpointSlices: it assigns security identities from
//! labels, groups endpoints into slices and plans the minimal set of API
//! writes that keeps the API server equal to the desired state.
//!
//! The crate does no I/O, reads no clock and spawns no threads: time is
//! always a parameter and randomness comes from the seed in the config.
#![forbid(unsafe_code)]

pub mod config;
pub mod consumer;
pub mod endpoint;
pub mod engine;
mod entry;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzz_bodies;
pub mod health;
pub mod identity;
pub mod labels;
pub mod metrics;
pub mod mirror;
pub mod model;
pub mod plan;
pub mod policy;
pub mod ratelimit;
pub mod slicing;
pub mod snapshot;
mod snaptable;
pub mod validate;
pub mod wire;

pub use config::Config;
pub use engine::Engine;
pub use error::{Error, ErrorCode, ErrorFamily, Result};
pub use model::{EventType, Object, WatchEvent};
pub use plan::{OpId, Outcome, PlannedWrite, WriteOp, WritePlan};
