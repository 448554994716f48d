//! Node.js bindings for sliceplane (napi-rs v3).
//!
//! Thin: conversion and error mapping only, every decision is the core's.
//! The native classes are wrapped by `index.js`, which rebuilds the typed
//! `SliceplaneError` subclasses from the reason string that [`to_napi`]
//! encodes (see [`ERROR_PREFIX`]).
//!
//! Layout, one file per core concept: `config.rs`, `engine.rs`,
//! `snapshot.rs` (`Snapshot`, `SnapshotReader`), `consumer.rs`, `policy.rs`.

// The Rust side allocates through mimalloc, as the CLI and the core's
// benches do: the same allocator as the figures the bindings are held to.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod config;
mod consumer;
mod convert;
mod engine;
mod policy;
mod snapshot;

pub use config::Config;
pub use consumer::Consumer;
pub use engine::Engine;
pub use policy::PolicyCluster;
pub use snapshot::{Snapshot, SnapshotReader};

/// Prefix of a napi error reason that carries a core error as JSON.
pub const ERROR_PREFIX: &str = "\u{1}sliceplane-error:";

/// The stable error codes, as `[{code, number, family}]` (for tests and docs).
#[napi_derive::napi]
pub fn error_codes() -> serde_json::Value {
    serde_json::Value::Array(
        sliceplane::ErrorCode::ALL
            .iter()
            .map(|c| convert::code_json(*c))
            .collect(),
    )
}

/// The version of the core crate.
#[napi_derive::napi]
pub fn core_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Encodes a core error as a napi error the JS wrapper decodes.
pub(crate) fn to_napi(e: sliceplane::Error) -> napi::Error {
    napi::Error::from_reason(format!("{ERROR_PREFIX}{}", convert::error_json(&e)))
}
