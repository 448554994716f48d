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

pub mod error;
pub mod labels;
pub mod model;
pub mod policy;

pub use error::{Error, ErrorCode, ErrorFamily, Result};
