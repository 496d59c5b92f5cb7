//! Requests to plugin routes: look the route up in the current plugin set
//! (one atomic load, no lock), authenticate (on a public route only when a
//! token is sent, which must then be valid),
//! hand the request to [`crate::plugins::invoke`] (which runs it as one
//! unit of work), and check and translate the plugin's answer.
//!
//! Plugins never see credentials: `Authorization` and `Cookie` headers are
//! stripped before the request crosses into the guest.
//!
//! A `wasi:http` component gets the request as it came, its path without
//! the mount (`/apps/app/x?q` arrives as `/x?q`), with `X-Forwarded-Prefix`
//! naming the mount and, for an authenticated caller, `X-Kai-User-Id` and
//! `X-Kai-User-Role` (headers of these names a client sends are dropped).

use super::REQUEST_ID;
use super::auth;
use super::error::ApiError;
use super::metrics::RouteTemplate;
use super::trace_context::{PluginCallSpan, ServerSpan, TRACEPARENT};
use crate::domain::{HttpMount, Principal};
use crate::plugins::invoke::{self, InvokeError, PluginRequest, PluginResponse};
use crate::plugins::routes::Lookup;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Request headers that stay on the host side.
const WITHHELD_HEADERS: &[HeaderName] = &[
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

/// The fallback of the core router: every request no core route took. An
/// answer from a plugin route carries its template, for the metrics.
pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let mut template = None;
    let mut response = serve(&state, request, &mut template).await.into_response();
    if let Some(template) = template {
        response.extensions_mut().insert(RouteTemplate(template));
    }
    response
}

/// Serves a request with the plugin route it matches, naming the route's
/// template in `template` once matched.
async fn serve(
    state: &AppState,
    request: Request,
    template: &mut Option<Arc<str>>,
) -> Result<Response, ApiError> {
    let set = state.control.plugins.snapshot();
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let (entry, raw_params) = match set.routes.lookup(&method, &path) {
        Lookup::Found { entry, params } => {
            *template = Some(entry.template.clone());
            (entry, params)
        }
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
        Some(auth::authenticate(&parts, state).await?.principal)
    };
    let call_span = PluginCallSpan::start(
        state.spans.as_ref(),
        parts.extensions.get::<ServerSpan>().copied(),
    );
    let own_traceparent = call_span.own_traceparent();
    if let Some(mount) = &plugin.manifest.mount {
        let mut request = component_request(state, mount, parts, body, principal.as_ref()).await?;
        if let Some(own) = own_traceparent {
            request.headers_mut().insert(TRACEPARENT, own.to_header());
        }
        let request_id = request_id_of(request.headers());
        let traceparent = traceparent_of(request.headers());
        let response = invoke::invoke_http(
            &state.hooks,
            &plugin,
            &grant,
            request,
            principal,
            request_id,
            traceparent,
        )
        .await;
        call_span.end(
            &plugin,
            entry.pattern.as_str(),
            outcome(&response, |r| r.status().as_u16()),
        );
        return from_component(&plugin.manifest.name, response?);
    }
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
        // The host passes the trace on with the plugin's outbound requests
        // itself; the plugin has the request id (lowering one more header
        // into the guest costs every call).
        .filter(|(name, _)| **name != TRACEPARENT)
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    let limit = state.config.max_body_bytes;
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?;
    let request_id = request_id_of(&parts.headers);
    let traceparent = match own_traceparent {
        Some(own) => Some(own.to_string()),
        None => traceparent_of(&parts.headers),
    };

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
        traceparent,
    };
    let response = invoke::invoke(&state.hooks, &plugin, &grant, request).await;
    call_span.end(
        &plugin,
        entry.pattern.as_str(),
        outcome(&response, |r| r.status),
    );
    into_http(&plugin.manifest.name, response?)
}

/// A plugin call's outcome, for its span: the plugin's status, or why it
/// gave no answer.
fn outcome<T>(result: &Result<T, InvokeError>, status: impl Fn(&T) -> u16) -> Result<u16, String> {
    match result {
        Ok(response) => Ok(status(response)),
        Err(error) => Err(error.to_string()),
    }
}

impl From<InvokeError> for ApiError {
    fn from(error: InvokeError) -> Self {
        match error {
            InvokeError::ResponseTooLarge { plugin, limit } => {
                ApiError::PluginResponseTooLarge { plugin, limit }
            }
            InvokeError::Call(error) => error.into(),
            InvokeError::Database(error) => error.into(),
            InvokeError::NoAnswer { plugin, reason } => {
                ApiError::BadPluginResponse { plugin, reason }
            }
        }
    }
}

/// The request id the request-id layer set.
fn request_id_of(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The `traceparent` the trace-context layer set: the server span's.
fn traceparent_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Request headers a component never receives from a client: the host sets
/// them.
fn host_set(name: &HeaderName) -> bool {
    name.as_str() == "x-forwarded-prefix" || name.as_str().starts_with("x-kai-")
}

/// The request as a `wasi:http` component sees it.
async fn component_request(
    state: &AppState,
    mount: &HttpMount,
    parts: axum::http::request::Parts,
    body: Body,
    principal: Option<&Principal>,
) -> Result<axum::http::Request<Bytes>, ApiError> {
    let limit = state.config.max_body_bytes;
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?;
    let inner = mount.inner_path(parts.uri.path());
    let target = match parts.uri.query() {
        Some(query) => format!("{inner}?{query}"),
        None => inner.to_string(),
    };
    let mut request = axum::http::Request::builder()
        .method(parts.method)
        .uri(&target)
        .body(body)
        .map_err(|e| ApiError::BadRequest(format!("the request target is invalid: {e}")))?;
    let headers = request.headers_mut();
    for (name, value) in &parts.headers {
        if !WITHHELD_HEADERS.contains(name) && !host_set(name) {
            headers.append(name, value.clone());
        }
    }
    if !headers.contains_key(header::HOST) {
        headers.insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    let prefix = HeaderValue::try_from(mount.mount.as_str()).expect("a mount is a valid header");
    headers.insert("x-forwarded-prefix", prefix);
    if let Some(principal) = principal {
        let id = HeaderValue::try_from(principal.user_id.as_str())
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("a user id is not a header value")))?;
        headers.insert("x-kai-user-id", id);
        headers.insert(
            "x-kai-user-role",
            HeaderValue::from_static(principal.role.as_str()),
        );
    }
    Ok(request)
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
        if !HOST_FRAMING.contains(&name) {
            http.headers_mut().append(name, value);
        }
    }
    Ok(http)
}

/// Response headers the host owns: framing and connection management.
const HOST_FRAMING: &[HeaderName] = &[
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
];

/// A `wasi:http` component's answer, already typed: the same status rule
/// and framing headers as a plugin's, without going through text.
fn from_component(
    plugin: &str,
    response: axum::http::Response<Bytes>,
) -> Result<Response, ApiError> {
    let (mut parts, body) = response.into_parts();
    if !(200..600).contains(&parts.status.as_u16()) {
        return Err(ApiError::BadPluginResponse {
            plugin: plugin.to_string(),
            reason: format!(
                "status {} is not a valid HTTP status",
                parts.status.as_u16()
            ),
        });
    }
    for name in HOST_FRAMING {
        parts.headers.remove(name);
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}
