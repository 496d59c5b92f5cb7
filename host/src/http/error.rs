//! The one error type of the HTTP layer. Every failure a client can see is a
//! variant here, rendered as `{"error": {"code": "...", "message": "..."}}`
//! with its status. 5xx causes are logged in full and answered with a
//! generic message, so internals never leak.
//!
//! [`json_errors`] rewrites the plain-text rejections axum produces on its
//! own (405, 413, 415...) into the same JSON shape.

use crate::runtime::call::CallError;
use crate::services::ModelError;
use crate::services::events::EventError;
use crate::services::users::UserError;
use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `validation_failed`, `not_found`.
    pub code: String,
    /// For people; names the field or parameter at fault.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: String) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 400: a listing's `cursor` was edited or belongs to another listing.
    #[error("{0}")]
    InvalidCursor(String),
    /// 401: no valid token. The message is the same whatever the reason.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource (or not the caller's).
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists with other methods.
    #[error("method {method} is not allowed here; allowed: {}", .allowed.join(", "))]
    MethodNotAllowed {
        method: String,
        allowed: Vec<String>,
    },
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 409: refused as it stands; `code` says what would change that (an
    /// explicit `force`, a confirmation).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// 422: the uploaded plugin cannot be loaded; the message says why.
    #[error("{0}")]
    InvalidPlugin(String),
    /// 409: a credential's stored secret cannot be decrypted (damaged or
    /// tampered); its owner can set a new one.
    #[error("{0}")]
    CredentialUnreadable(String),
    /// 412: `If-Match` named a stale version.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413: the body is over the configured limit.
    #[error("the request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415: the body is not in a format the route accepts.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid; names the field.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// 500: a transactional hook failed, so the change did not happen.
    #[error("plugin `{plugin}` failed while handling {event}; the change was not made")]
    HookFailed { plugin: String, event: &'static str },
    /// 429: too many attempts.
    #[error("{0}")]
    TooManyRequests(String),
    /// 500, 503 or 504: a plugin call failed.
    #[error(transparent)]
    Plugin(#[from] CallError),
    /// 502: a plugin answered with something that is not a valid response.
    #[error("plugin `{plugin}` returned an invalid response: {reason}")]
    BadPluginResponse { plugin: String, reason: String },
    /// 502: a plugin answered with a body over its limit; nothing it wrote
    /// was kept.
    #[error("plugin `{plugin}` answered with more than its limit of {limit} bytes")]
    PluginResponseTooLarge { plugin: String, limit: usize },
    /// 503: not ready (database unreachable, plugins loading).
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure; logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidCursor(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_)
            | ApiError::CredentialUnreadable(_)
            | ApiError::Refused { .. } => StatusCode::CONFLICT,
            ApiError::InvalidPlugin(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::HookFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Plugin(CallError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Plugin(CallError::Busy { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Plugin(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::BadPluginResponse { .. } | ApiError::PluginResponseTooLarge { .. } => {
                StatusCode::BAD_GATEWAY
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidCursor(_) => "invalid_cursor",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::CredentialUnreadable(_) => "credential_unreadable",
            ApiError::Refused { code, .. } => code,
            ApiError::InvalidPlugin(_) => "invalid_plugin",
            ApiError::PreconditionFailed(_) => "precondition_failed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Validation { .. } => "validation_failed",
            ApiError::HookFailed { .. } => "hook_failed",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Plugin(CallError::Timeout { .. }) => "plugin_timeout",
            ApiError::Plugin(CallError::MemoryExhausted { .. }) => "plugin_memory_exceeded",
            ApiError::Plugin(CallError::Trap { .. }) => "plugin_failed",
            ApiError::Plugin(CallError::Busy { .. }) => "plugin_busy",
            ApiError::BadPluginResponse { .. } => "bad_plugin_response",
            ApiError::PluginResponseTooLarge { .. } => "plugin_response_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The message a client may see.
    fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "an internal error occurred; it has been logged".into(),
            // The trap text is the plugin's internals: logged, not shown.
            ApiError::Plugin(CallError::Trap { plugin, .. }) => {
                format!("plugin `{plugin}` failed while handling the request")
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "internal error");
        }
        let body = ErrorBody::new(self.code(), self.public_message());
        let mut response = (status, Json(body)).into_response();
        if matches!(self, ApiError::TooManyRequests(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        if let ApiError::MethodNotAllowed { allowed, .. } = &self
            && let Ok(value) = HeaderValue::from_str(&allowed.join(", "))
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    }
}

impl From<ModelError> for ApiError {
    fn from(error: ModelError) -> Self {
        match error {
            ModelError::NotFound(m) => ApiError::NotFound(m),
            ModelError::Invalid { field, message } => ApiError::Validation { field, message },
            ModelError::Conflict(m) => ApiError::Conflict(m),
            e @ ModelError::VersionMismatch { .. } => ApiError::PreconditionFailed(e.to_string()),
            ModelError::Denied(m) => ApiError::Forbidden(m),
            ModelError::Query(e) if e.is_invalid_cursor() => ApiError::InvalidCursor(e.0),
            ModelError::Query(e) => ApiError::BadRequest(e.0),
            ModelError::Event(EventError::Failed {
                plugin,
                event,
                error,
            }) => {
                tracing::warn!(%plugin, event, %error, "transactional hook failed");
                ApiError::HookFailed { plugin, event }
            }
            ModelError::Event(EventError::Database(e)) => ApiError::Internal(e.into()),
            ModelError::Event(e) => ApiError::Conflict(e.to_string()),
            ModelError::Database(e) => ApiError::Internal(e.into()),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        match error {
            UserError::NotFound(m) => ApiError::NotFound(m),
            UserError::Invalid { field, message } => ApiError::validation(field, message),
            UserError::Conflict(m) => ApiError::Conflict(m),
            UserError::Denied(m) => ApiError::Forbidden(m),
            UserError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::Internal(error.into())
    }
}

/// Middleware: turns axum's own plain-text error responses (unknown method
/// on a core path, oversized or unparseable body...) into the JSON shape.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        StatusCode::NOT_FOUND => "not_found",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    };
    let message = if status.is_server_error() || text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let body = serde_json::to_string(&ErrorBody::new(code, message)).expect("strings serialize");
    let mut response = Response::from_parts(parts, Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}
