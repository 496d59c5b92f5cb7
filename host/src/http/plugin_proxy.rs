//! Requests to plugin routes: look the route up in the current plugin set
//! (one atomic load, no lock), authenticate (on a public route only when a
//! token is sent, which must then be valid),
//! hand the request to [`crate::plugins::invoke`] (which runs it as one
//! unit of work), and check and translate the plugin's answer.
//!
//! Plugins never see credentials: `Authorization` and `Cookie` headers are
//! stripped before the request crosses into the guest.

use super::REQUEST_ID;
use super::auth;
use super::error::ApiError;
use crate::plugins::invoke::{self, InvokeError, PluginRequest, PluginResponse};
use crate::plugins::routes::Lookup;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

/// Request headers that stay on the host side.
const WITHHELD_HEADERS: &[HeaderName] = &[
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

/// The fallback of the core router: every request no core route took.
pub async fn dispatch(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let set = state.control.plugins.snapshot();
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let (entry, raw_params) = match set.routes.lookup(&method, &path) {
        Lookup::Found { entry, params } => (entry, params),
        Lookup::MethodNotAllowed { allowed } => {
            return Err(ApiError::MethodNotAllowed { method, allowed });
        }
        Lookup::NotFound => {
            return Err(ApiError::NotFound(format!("no route for {method} {path}")));
        }
    };
    let plugin = entry.plugin.clone();
    let grant = entry.grant.clone();
    tracing::Span::current().record("plugin", plugin.manifest.name.as_str());

    let (parts, body) = request.into_parts();
    // A public route needs no token, but one that is sent must be valid:
    // the plugin then sees who calls, as on any other route.
    let principal = if entry.public && !parts.headers.contains_key(header::AUTHORIZATION) {
        None
    } else {
        Some(auth::authenticate(&parts, &state).await?.principal)
    };
    let params = raw_params
        .into_iter()
        .map(|(name, raw)| {
            percent_encoding::percent_decode_str(&raw)
                .decode_utf8()
                .map(|value| (name.clone(), value.into_owned()))
                .map_err(|_| {
                    ApiError::BadRequest(format!("path parameter `{name}` is not valid UTF-8"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let query = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !WITHHELD_HEADERS.contains(name))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    let limit = state.config.max_body_bytes;
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?;
    let request_id = parts
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();

    let request = PluginRequest {
        method,
        path,
        route: entry.pattern.as_str().to_string(),
        params,
        query,
        headers,
        body: body.to_vec(),
        principal,
        request_id,
    };
    let name = &plugin.manifest.name;
    match invoke::invoke(&state.hooks, &plugin, &grant, request).await {
        Ok(response) => into_http(name, response),
        Err(InvokeError::ResponseTooLarge { plugin, limit }) => {
            Err(ApiError::PluginResponseTooLarge { plugin, limit })
        }
        Err(InvokeError::Call(error)) => Err(error.into()),
        Err(InvokeError::Database(error)) => Err(error.into()),
    }
}

/// Checks and converts a plugin's response.
fn into_http(plugin: &str, response: PluginResponse) -> Result<Response, ApiError> {
    let bad = |reason: String| ApiError::BadPluginResponse {
        plugin: plugin.to_string(),
        reason,
    };
    let status = StatusCode::from_u16(response.status)
        .ok()
        .filter(|s| (200..600).contains(&s.as_u16()))
        .ok_or_else(|| {
            bad(format!(
                "status {} is not a valid HTTP status",
                response.status
            ))
        })?;
    let mut http = Response::new(Body::from(response.body));
    *http.status_mut() = status;
    for (name, value) in response.headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| bad(format!("`{name}` is not a valid header name")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| bad(format!("the value of header `{name}` is not valid")))?;
        // The host owns framing and connection management.
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        http.headers_mut().append(name, value);
    }
    Ok(http)
}
