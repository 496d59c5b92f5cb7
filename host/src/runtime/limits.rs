//! The limits one plugin's calls run under.

use std::time::Duration;

/// The limits a plugin's calls run under: what it asked for, capped by the
/// operator's configuration.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EffectiveLimits {
    #[serde(
        rename = "timeout_ms",
        serialize_with = "crate::util::serialize_millis"
    )]
    pub timeout: Duration,
    pub memory_bytes: usize,
    /// HTTP requests run at once; 0 for no limit.
    pub concurrent_requests: u32,
    /// Largest response body passed on to the client.
    pub max_response_bytes: usize,
}
