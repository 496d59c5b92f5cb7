//! One HTTP request handled by a plugin, as one unit of work: a session
//! for everything the plugin writes through host calls, the call in a
//! fresh instance, then commit or roll back. The session commits only if
//! the plugin answers with a status below 400 and within its response
//! size; a trap, a timeout, an error answer or an oversized body rolls it
//! all back. Committed events wake the outbox.
//!
//! A request to a `wasi:http` component ([`invoke_http`]) is not a unit of
//! work: the component has no host interface that writes. It runs under
//! the same grant (its outbound origins) and limits.

use super::grants::Grant;
use super::hooks::PluginHooks;
use crate::capabilities::{HostAccess, Plugin};
use crate::domain::Principal;
use crate::domain::workflow::{NodeStep, StepFailure};
use crate::runtime::call::{CallContext, CallError};
use crate::runtime::wasi_http::HttpFailure;
use crate::store::session::Session;
use crate::util::now_micros;
use crate::wit::bindings::{WitNodeError, WitNodeRequest, WitPrincipal, WitRequest};
use std::sync::Arc;

/// A request for a plugin route, as the plugin will see it.
pub struct PluginRequest {
    pub method: String,
    pub path: String,
    /// The route pattern that matched, e.g. `/api/v1/hello/{name}`.
    pub route: String,
    /// Decoded path parameters.
    pub params: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    /// Headers the plugin may see (credentials withheld by the caller).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `None` on a public route.
    pub principal: Option<Principal>,
    pub request_id: String,
    /// The request's `traceparent`, for its outbound requests.
    pub traceparent: Option<String>,
}

/// A plugin's answer, unchecked: status, headers and body as it gave them.
pub struct PluginResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request to a plugin produced no answer to pass on.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("plugin `{plugin}` answered with more than {limit} bytes")]
    ResponseTooLarge { plugin: String, limit: usize },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A `wasi:http` component gave no usable answer.
    #[error("plugin `{plugin}` gave no answer: {reason}")]
    NoAnswer { plugin: String, reason: String },
}

/// Calls `plugin` with `request` under `grant`, as one unit of work.
pub async fn invoke(
    hooks: &PluginHooks,
    plugin: &Arc<Plugin>,
    grant: &Arc<Grant>,
    request: PluginRequest,
) -> Result<PluginResponse, InvokeError> {
    let services = hooks.services();
    let session = Arc::new(Session::new(services.core.db.clone()));
    let wit_request = WitRequest {
        method: request.method,
        path: request.path,
        route: request.route,
        params: request.params,
        query: request.query,
        headers: request.headers,
        body: request.body,
        principal: request.principal.as_ref().map(WitPrincipal::from),
        request_id: request.request_id.clone(),
        received_at: now_micros(),
    };
    let context = request_context(
        hooks,
        plugin,
        grant,
        session.clone(),
        request.principal,
        request.request_id,
        request.traceparent,
    );
    let limit = plugin.limits.max_response_bytes;
    let response = match plugin.handle(context, wit_request).await {
        Ok(response) if response.body.len() > limit => {
            tracing::warn!(
                bytes = response.body.len(),
                limit,
                "the plugin's response is over its limit"
            );
            drop(response);
            crate::runtime::engine::release_freed_memory();
            session.rollback().await;
            return Err(InvokeError::ResponseTooLarge {
                plugin: plugin.manifest.name.clone(),
                limit,
            });
        }
        Ok(response) => response,
        Err(error) => {
            session.rollback().await;
            return Err(error.into());
        }
    };
    if response.status < 400 {
        services.core.commit(&session).await?;
    } else {
        session.rollback().await;
    }
    Ok(PluginResponse {
        status: response.status,
        headers: response.headers,
        body: response.body,
    })
}

/// Serves `request` with the `wasi:http` component `plugin` under `grant`
/// (which decides its outbound requests).
pub async fn invoke_http(
    hooks: &PluginHooks,
    plugin: &Arc<Plugin>,
    grant: &Arc<Grant>,
    request: http::Request<bytes::Bytes>,
    principal: Option<Principal>,
    request_id: String,
    traceparent: Option<String>,
) -> Result<http::Response<bytes::Bytes>, InvokeError> {
    let session = Arc::new(Session::new(hooks.services().core.db.clone()));
    let context = request_context(
        hooks,
        plugin,
        grant,
        session,
        principal,
        request_id,
        traceparent,
    );
    match plugin.handle_http(context, request).await? {
        Ok(response) => Ok(response),
        Err(HttpFailure::TooLarge { limit }) => {
            crate::runtime::engine::release_freed_memory();
            Err(InvokeError::ResponseTooLarge {
                plugin: plugin.manifest.name.clone(),
                limit,
            })
        }
        Err(HttpFailure::Guest(reason)) => Err(InvokeError::NoAnswer {
            plugin: plugin.manifest.name.clone(),
            reason,
        }),
    }
}

/// Runs one workflow step with the plugin that runs its kind, under
/// `grant`, its host writes in `session`: the caller commits them with the
/// step's record when the step gives an output, and rolls them back when
/// it fails. The output must be JSON within the plugin's response cap. A
/// trap, a timeout or a busy plugin may pass on another attempt: the
/// runner's retry policy decides.
pub async fn run_node(
    hooks: &PluginHooks,
    plugin: &Arc<Plugin>,
    grant: &Arc<Grant>,
    session: Arc<Session>,
    step: NodeStep,
    timeout: Option<std::time::Duration>,
) -> Result<serde_json::Value, StepFailure> {
    let request = WitNodeRequest {
        kind: step.kind,
        config: serde_json::Value::Object(step.config).to_string(),
        input: step.input.to_string(),
        execution_id: step.execution_id,
        node_id: step.node_id,
        attempt: step.attempt,
        idempotency_key: step.idempotency_key,
        principal: Some(WitPrincipal::from(&step.principal)),
        request_id: step.request_id.clone(),
        received_at: now_micros(),
    };
    let context = request_context(
        hooks,
        plugin,
        grant,
        session,
        Some(step.principal),
        step.request_id,
        None,
    );
    let limit = plugin.limits.max_response_bytes;
    match plugin.run_node(context, request, timeout).await {
        Ok(Ok(text)) if text.len() > limit => Err(StepFailure::Failed(format!(
            "plugin `{}` gave an output over its limit of {limit} bytes",
            plugin.manifest.name
        ))),
        Ok(Ok(text)) => serde_json::from_str(&text).map_err(|_| {
            StepFailure::Failed(format!(
                "plugin `{}` gave an output that is not JSON",
                plugin.manifest.name
            ))
        }),
        Ok(Err(WitNodeError::Failed(message))) => Err(StepFailure::Failed(message)),
        Ok(Err(WitNodeError::Retry(message))) => Err(StepFailure::Retry(message)),
        Err(error) => Err(StepFailure::Retry(error.to_string())),
    }
}

/// What the host functions of a request's call work with: the services,
/// the request's session, the plugin, its grant and the caller.
fn request_context(
    hooks: &PluginHooks,
    plugin: &Plugin,
    grant: &Arc<Grant>,
    session: Arc<Session>,
    principal: Option<Principal>,
    request_id: String,
    traceparent: Option<String>,
) -> CallContext<HostAccess> {
    CallContext {
        request_id,
        traceparent,
        host: Some(HostAccess {
            services: hooks.services().clone(),
            hooks: hooks.handle(),
            session,
            plugin: plugin.data().clone(),
            grant: grant.clone(),
            principal,
            depth: 0,
        }),
    }
}
