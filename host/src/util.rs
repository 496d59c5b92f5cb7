//! Small helpers shared across modules: time and serialization.

use serde::Serializer;
use std::time::Duration;

/// Now, in microseconds since the Unix epoch (the host's timestamp unit).
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Formats a microsecond timestamp as RFC 3339 for API responses.
pub fn format_micros(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Serializes any `Display` value (versions, requirements, patterns) as a string.
pub fn serialize_display<T: std::fmt::Display, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Serializes a duration as whole milliseconds.
pub fn serialize_millis<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(value.as_millis() as u64)
}
