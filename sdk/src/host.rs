//! Errors from host calls, and how they become HTTP errors.
//!
//! Every host function returns `Result<T, HostError>`. A host error the
//! handler passes on with `?` is the plugin's own failure: the client gets
//! `500 plugin_failed` with a generic message, and the host's message (which
//! names the plugin's models and fields) goes to the log with the request
//! id. Two cases are not the plugin's doing and keep their meaning: a
//! listing cursor the client sent that the host refused is `400
//! invalid_cursor`, and a host that is unavailable right now is `503
//! unavailable`.
//!
//! To pass a case on to the client, map it where it happens:
//! `models::get_collection(id).map_err(HostError::expose)?` answers with
//! the host's status (403, 404, 409, 422, 503) and message, or match on the
//! variant for a message of the plugin's own. A plugin whose routes are a
//! thin layer over the host can expose every host error with
//! [`Plugin::expose_host_errors`](crate::Plugin::expose_host_errors).

use crate::http::Error;
use crate::wit::kai::fusion::types::Error as WitError;

/// A host call that failed, with the host's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    Denied(String),
    NotFound(String),
    Conflict(String),
    Invalid(String),
    Unavailable(String),
}

/// How a host error's message starts when the host refused a listing
/// cursor (see the WIT `persistence` interface).
const INVALID_CURSOR: &str = "invalid cursor";

thread_local! {
    /// Set by [`Plugin::expose_host_errors`](crate::Plugin::expose_host_errors)
    /// for the plugin being run.
    pub(crate) static EXPOSE_ALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl HostError {
    /// The error as the client should see it: the host's message with the
    /// status of its kind (403 denied, 404 not found, 409 conflict, 422
    /// invalid, 503 unavailable), and a refused listing cursor as `400
    /// invalid_cursor`, as the host's own listings answer it.
    pub fn expose(self) -> Error {
        if self.is_invalid_cursor() {
            return Error::new(400, "invalid_cursor", self.message().to_string());
        }
        match self {
            HostError::Denied(m) => Error::new(403, "forbidden", m),
            HostError::NotFound(m) => Error::not_found(m),
            HostError::Conflict(m) => Error::conflict(m),
            HostError::Invalid(m) => Error::invalid(m),
            HostError::Unavailable(m) => Error::new(503, "unavailable", m),
        }
    }

    /// Whether the host refused a listing cursor: one the client sent was
    /// edited, or belongs to another listing.
    pub fn is_invalid_cursor(&self) -> bool {
        matches!(self, HostError::Invalid(m) if m.starts_with(INVALID_CURSOR))
    }

    pub fn message(&self) -> &str {
        match self {
            HostError::Denied(m)
            | HostError::NotFound(m)
            | HostError::Conflict(m)
            | HostError::Invalid(m)
            | HostError::Unavailable(m) => m,
        }
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
    /// A host error the handler did not handle (see the module docs).
    fn from(error: HostError) -> Self {
        if EXPOSE_ALL.get() {
            return error.expose();
        }
        if error.is_invalid_cursor() {
            return Error::new(400, "invalid_cursor", error.message().to_string());
        }
        crate::log::error(&format!(
            "a host call failed and the handler passed it on: {error}"
        ));
        match error {
            HostError::Unavailable(_) => Error::new(
                503,
                "unavailable",
                "a service this plugin needs is unavailable; try again",
            ),
            _ => Error::new(
                500,
                "plugin_failed",
                "the plugin could not complete the request; the cause is in the server's log",
            ),
        }
    }
}

/// Calls the host: the generated import on wasm, natively the stand-in of
/// the same name (`crate::__private::native`), which a test host answers.
/// The second argument, when given, turns the host's answer into the SDK's
/// own type.
macro_rules! host_call {
    ($call:expr, $convert:expr) => {{ $call.map($convert).map_err($crate::host::HostError::from) }};
    ($call:expr) => {
        $crate::host::host_call!($call, ::std::convert::identity)
    };
}
pub(crate) use host_call;
