//! The wire layer: every JSON shape that crosses a binding or the CLI,
//! defined once (DESIGN.md §10).
//!
//! The CLI and the C, Go, Python and Node bindings convert these values to
//! their language and nothing else, so the languages cannot drift apart.
//! The shared conformance fixtures in `tests/conformance/` (see its
//! README) pin every shape; each language's suite runs them.
//!
//! | Shape | Type | Produced by |
//! |---|---|---|
//! | planned write | [`Write`] | `flush` |
//! | rejected event | [`Rejected`] | batch apply ([`apply_engine_batch`], [`apply_consumer_batch`]) |
//! | endpoint view | [`EndpointView`] | snapshot lookups, consumer changes |
//! | slice view | [`SliceView`] | snapshot listings |
//! | consumer change | [`Change`] | consumer apply |
//! | policy probe / answer | [`Probe`] / [`ProbeAnswer`] | policy eval |
//! | watch stream | [`StreamReader`] / [`EventReader`] | every batch apply, the CLI |
//!
//! Conventions: field names are camelCase as in Kubernetes; every field of
//! a shape is always present (`null` when it has no value), so a binding
//! that drops a field fails the conformance suite.
#![warn(missing_docs)]

mod batch;
mod event_reader;
mod probe;
mod reader;
mod rejected;
mod sorted;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
mod view;
mod write;

pub use batch::{apply_consumer_batch, apply_engine_batch};
pub use event_reader::{EventReader, ReadEvent, WholeLine};
pub use probe::{Probe, ProbeAnswer, ProbeError, answer_probe, answer_probes, policy_cluster};
pub use reader::{Position, ReadValue, StreamReader};
pub use rejected::Rejected;
pub use view::{Change, ChangeOp, EndpointView, NamedPort, SliceView, endpoint_views, slice_views};
pub use write::{LineEncoder, Preconditions, Write, resource_of};
