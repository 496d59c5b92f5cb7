//! Errors from host calls, and how they become HTTP errors.
//!
//! Every host function returns `Result<T, HostError>`. With `?` in a
//! handler a host error becomes the matching HTTP error (not found stays
//! 404, denied is 403, a conflict 409, invalid input 422, an unavailable
//! database 503).

use crate::bindings::kai::fusion::types::Error as WitError;
use crate::http::Error;

/// A host call that failed, with the host's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    Denied(String),
    NotFound(String),
    Conflict(String),
    Invalid(String),
    Unavailable(String),
}

impl HostError {
    pub fn message(&self) -> &str {
        match self {
            HostError::Denied(m)
            | HostError::NotFound(m)
            | HostError::Conflict(m)
            | HostError::Invalid(m)
            | HostError::Unavailable(m) => m,
        }
    }

    /// Natively (in unit tests) there is no host to call. (Only native
    /// builds have a use for it: on wasm the host is always there.)
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn no_host() -> Self {
        HostError::Unavailable("host calls need the KAI-Fusion host; natively there is none".into())
    }
}

impl From<WitError> for HostError {
    fn from(error: WitError) -> Self {
        match error {
            WitError::Denied(m) => HostError::Denied(m),
            WitError::NotFound(m) => HostError::NotFound(m),
            WitError::Conflict(m) => HostError::Conflict(m),
            WitError::Invalid(m) => HostError::Invalid(m),
            WitError::Unavailable(m) => HostError::Unavailable(m),
        }
    }
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            HostError::Denied(_) => "denied",
            HostError::NotFound(_) => "not found",
            HostError::Conflict(_) => "conflict",
            HostError::Invalid(_) => "invalid",
            HostError::Unavailable(_) => "unavailable",
        };
        write!(f, "{kind}: {}", self.message())
    }
}

impl std::error::Error for HostError {}

impl From<HostError> for Error {
    fn from(error: HostError) -> Self {
        match error {
            HostError::Denied(m) => Error::new(403, "forbidden", m),
            HostError::NotFound(m) => Error::not_found(m),
            HostError::Conflict(m) => Error::conflict(m),
            HostError::Invalid(m) => Error::invalid(m),
            HostError::Unavailable(m) => Error::new(503, "unavailable", m),
        }
    }
}

/// Calls the host on wasm; natively returns [`HostError::no_host`].
macro_rules! host_call {
    ($call:expr) => {{
        #[cfg(target_arch = "wasm32")]
        {
            $call.map_err($crate::host::HostError::from)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            // Type-check the call, but there is no host to run it.
            let _call = || $call;
            Err($crate::host::HostError::no_host())
        }
    }};
}
pub(crate) use host_call;
