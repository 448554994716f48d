//! `Config`: parse, validate, defaults, back to a plain object.

use napi::Result;
use napi_derive::napi;
use serde_json::Value;

use crate::to_napi;

/// The engine configuration (DESIGN.md, camelCase keys).
#[napi(js_name = "NativeConfig")]
pub struct Config {
    pub(crate) inner: sliceplane::Config,
}

#[napi]
impl Config {
    /// The defaults (Cilium's behaviour).
    #[napi(constructor)]
    pub fn new() -> Self {
        Config {
            inner: sliceplane::Config::default(),
        }
    }

    /// Parses YAML (or JSON) and validates.
    #[napi(factory)]
    pub fn from_yaml(text: String) -> Result<Self> {
        sliceplane::Config::from_yaml(&text)
            .map(|inner| Config { inner })
            .map_err(to_napi)
    }

    /// Parses JSON and validates.
    #[napi(factory)]
    pub fn from_json(text: String) -> Result<Self> {
        sliceplane::Config::from_json(&text)
            .map(|inner| Config { inner })
            .map_err(to_napi)
    }

    /// From a plain object with the same keys as the JSON form.
    #[napi(factory)]
    pub fn from_object(object: Value) -> Result<Self> {
        Self::from_json(object.to_string())
    }

    /// The whole configuration, defaults filled in.
    #[napi]
    pub fn to_object(&self) -> Value {
        serde_json::to_value(&self.inner).unwrap_or(Value::Null)
    }

    /// The configuration as pretty JSON.
    #[napi]
    pub fn to_json(&self) -> String {
        self.inner.to_json()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}
