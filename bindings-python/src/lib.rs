//! Python bindings for sliceplane (module `sliceplane._sliceplane`,
//! re-exported by the `sliceplane` package). Conversion and error mapping
//! only: all logic lives in the core crate.

use pyo3::prelude::*;

// The Rust side allocates through mimalloc, as the CLI and the core's
// benches do: the same allocator as the figures the bindings are held to.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod config;
mod consumer;
mod convert;
mod engine;
mod errors;
mod policy;
mod snapshot;

/// Stable error codes: `[(code, number, exception class name), ...]`.
#[pyfunction]
fn error_codes() -> Vec<(&'static str, u32, &'static str)> {
    errors::codes()
}

#[pymodule(gil_used = false)]
fn _sliceplane(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<config::PyConfig>()?;
    m.add_class::<engine::PyEngine>()?;
    m.add_class::<policy::PyPolicyCluster>()?;
    m.add_class::<snapshot::PySnapshot>()?;
    m.add_class::<snapshot::PySnapshotReader>()?;
    m.add_class::<consumer::PyConsumer>()?;
    m.add("SliceplaneError", py.get_type::<errors::SliceplaneError>())?;
    m.add("ParseError", py.get_type::<errors::ParseError>())?;
    m.add("ValidationError", py.get_type::<errors::ValidationError>())?;
    m.add("ConfigError", py.get_type::<errors::ConfigError>())?;
    m.add("WritePathError", py.get_type::<errors::WritePathError>())?;
    m.add("PolicyError", py.get_type::<errors::PolicyError>())?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    Ok(())
}
