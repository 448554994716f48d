//! Typed errors with stable codes.
//!
//! Every error names the object (`kind namespace/name`, or a position for
//! input that could not be parsed far enough to have a name), the field
//! (a JSON path such as `status.podIPs[1].ip`) and says what was wrong.
//! The [`ErrorCode`] is stable: bindings expose it as a string and as a
//! number, and both never change meaning once released.

use std::fmt;

/// The stable identity of an error. Strings (`as_str`) and numbers
/// (`number`) are part of the public contract of every binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorCode {
    // ---- parse (1xx): the bytes are not a usable document ----
    /// Not valid JSON or YAML, or the wrong JSON type for a field. For a
    /// value of the wrong type the error names the object and the field
    /// (`CiliumEndpoint shop/x field status.identity.id`); for bytes that
    /// are not JSON, the message gives the position.
    MalformedInput,
    /// `kind`/`apiVersion` not one the engine takes.
    UnknownKind,
    /// Watch event `type` other than ADDED, MODIFIED, DELETED.
    UnknownEventType,
    // ---- validation (2xx): a well-formed object with a bad field ----
    /// A required field is missing or empty.
    MissingField,
    /// A name is not a DNS-1123 label/subdomain as Kubernetes requires.
    InvalidName,
    /// A label key is not a valid qualified name.
    InvalidLabelKey,
    /// A label value is not valid.
    InvalidLabelValue,
    /// An IP address does not parse.
    InvalidIp,
    /// A port outside 1–65535.
    InvalidPort,
    /// A protocol outside the allowed enum.
    InvalidProtocol,
    /// A list or string beyond the engine's size bounds.
    TooLarge,
    /// Any other field with a value out of its domain.
    InvalidValue,
    // ---- config (3xx) ----
    /// The configuration is invalid.
    InvalidConfig,
    // ---- write path (4xx) ----
    /// An outcome was reported for an op the engine is not waiting on.
    UnknownOp,
    // ---- policy (5xx) ----
    /// A policy is malformed or uses a value out of range.
    InvalidPolicy,
    /// A policy uses a feature the engine does not evaluate (e.g. layer 7).
    UnsupportedPolicy,
    /// A probe names an endpoint or port that cannot be resolved.
    InvalidProbe,
}

/// Broad family of an error, used by bindings to pick an exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorFamily {
    /// Malformed input (1xx): not JSON, not UTF-8, wrong shape.
    Parse,
    /// A value out of its allowed range or form (2xx).
    Validation,
    /// A bad configuration (3xx).
    Config,
    /// A write outcome that makes no sense, e.g. an unknown op id (4xx).
    WritePath,
    /// A policy or probe the policy engine refuses (5xx).
    Policy,
}

impl ErrorCode {
    /// Every code, in number order.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::MalformedInput,
        ErrorCode::UnknownKind,
        ErrorCode::UnknownEventType,
        ErrorCode::MissingField,
        ErrorCode::InvalidName,
        ErrorCode::InvalidLabelKey,
        ErrorCode::InvalidLabelValue,
        ErrorCode::InvalidIp,
        ErrorCode::InvalidPort,
        ErrorCode::InvalidProtocol,
        ErrorCode::TooLarge,
        ErrorCode::InvalidValue,
        ErrorCode::InvalidConfig,
        ErrorCode::UnknownOp,
        ErrorCode::InvalidPolicy,
        ErrorCode::UnsupportedPolicy,
        ErrorCode::InvalidProbe,
    ];

    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedInput => "malformed_input",
            ErrorCode::UnknownKind => "unknown_kind",
            ErrorCode::UnknownEventType => "unknown_event_type",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidLabelKey => "invalid_label_key",
            ErrorCode::InvalidLabelValue => "invalid_label_value",
            ErrorCode::InvalidIp => "invalid_ip",
            ErrorCode::InvalidPort => "invalid_port",
            ErrorCode::InvalidProtocol => "invalid_protocol",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::InvalidPolicy => "invalid_policy",
            ErrorCode::UnsupportedPolicy => "unsupported_policy",
            ErrorCode::InvalidProbe => "invalid_probe",
        }
    }

    /// Stable number (C and Go result codes). 0 is reserved for success.
    pub const fn number(self) -> u32 {
        match self {
            ErrorCode::MalformedInput => 101,
            ErrorCode::UnknownKind => 102,
            ErrorCode::UnknownEventType => 103,
            ErrorCode::MissingField => 201,
            ErrorCode::InvalidName => 202,
            ErrorCode::InvalidLabelKey => 203,
            ErrorCode::InvalidLabelValue => 204,
            ErrorCode::InvalidIp => 205,
            ErrorCode::InvalidPort => 206,
            ErrorCode::InvalidProtocol => 207,
            ErrorCode::TooLarge => 208,
            ErrorCode::InvalidValue => 209,
            ErrorCode::InvalidConfig => 301,
            ErrorCode::UnknownOp => 401,
            ErrorCode::InvalidPolicy => 501,
            ErrorCode::UnsupportedPolicy => 502,
            ErrorCode::InvalidProbe => 503,
        }
    }

    /// The family of this code (its hundreds digit).
    pub const fn family(self) -> ErrorFamily {
        match self.number() / 100 {
            1 => ErrorFamily::Parse,
            2 => ErrorFamily::Validation,
            3 => ErrorFamily::Config,
            4 => ErrorFamily::WritePath,
            _ => ErrorFamily::Policy,
        }
    }

    /// The code for a stable string, if any.
    pub fn from_str_code(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from the engine: stable code, the object, the field, a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    /// What went wrong, as a stable code.
    pub code: ErrorCode,
    /// The object, e.g. `Pod default/web-1`; empty when there is none.
    pub object: String,
    /// The field as a JSON path, e.g. `status.podIPs[0].ip`; empty when none.
    pub field: String,
    /// What went wrong, in words for a person.
    pub message: String,
}

impl Error {
    /// An error with the given code, object, field (a JSON path) and message.
    pub fn new(
        code: ErrorCode,
        object: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error {
            code,
            object: object.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// An `invalid_config` error for a field of the `Config`.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidConfig, "Config", field, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.code)?;
        if !self.object.is_empty() {
            write!(f, " {}", self.object)?;
        }
        if !self.field.is_empty() {
            write!(f, " field {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A `Result` whose error is the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut numbers: Vec<u32> = ErrorCode::ALL.iter().map(|c| c.number()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), ErrorCode::ALL.len());
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_str_code(c.as_str()), Some(c));
        }
    }

    #[test]
    fn display_names_object_and_field() {
        let e = Error::new(
            ErrorCode::InvalidIp,
            "Pod ns/p",
            "status.podIPs[0].ip",
            "not an IP address: \"x\"",
        );
        assert_eq!(
            e.to_string(),
            "[invalid_ip] Pod ns/p field status.podIPs[0].ip: not an IP address: \"x\""
        );
    }
}
