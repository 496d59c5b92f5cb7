//! `POST /api/v1/hooks/{workflow}/{secret}`: a workflow's webhook, public
//! by design (the secret in the path is the credential).
//!
//! A call with the right secret queues a run of the workflow, as its owner,
//! with `{"trigger": "webhook", "body": <the JSON body>}` as input, and
//! answers 202. A wrong secret, an unknown workflow and one without a
//! webhook all answer the same 404, and count as a failed authentication
//! of the client's address (past `auth_failures_per_minute`, its calls get
//! 429 for the rest of the minute). Right calls are limited per workflow
//! (`webhook_calls_per_minute`, then 429 with `Retry-After`).

use super::CoreApi;
use super::auth::client_address;
use super::connection::Peer;
use super::error::ApiError;
use super::openapi::WithBody;
use crate::services::triggers::{self, HookError};
use crate::services::{ModelError, Session};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(call))
}

/// `path` as logs and traces may hold it: a webhook's secret is replaced
/// by `[secret]` (the secret is a credential in the path).
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    const HOOKS: &str = "/api/v1/hooks/";
    match path.strip_prefix(HOOKS) {
        Some(rest) => {
            let workflow = rest.split('/').next().unwrap_or_default();
            std::borrow::Cow::Owned(format!("{HOOKS}{workflow}/[secret]"))
        }
        None => std::borrow::Cow::Borrowed(path),
    }
}

/// The answer to a webhook call.
#[derive(Serialize, ToSchema)]
pub struct HookAccepted {
    /// The run queued; its owner reads it at
    /// `/api/v1/workflows/{workflow_id}/executions/{execution_id}`.
    execution_id: String,
    workflow_id: String,
    /// `queued`.
    status: String,
}

/// Calls a workflow's webhook: queues a run with the JSON body (none:
/// `null`) as `body` in its input. Needs no token: the secret in the path,
/// shown once when the webhook was added or its secret renewed, is the
/// credential.
#[utoipa::path(
    post, path = "/api/v1/hooks/{workflow}/{secret}", tag = "workflows", operation_id = "hooks_call",
    security(()),
    params(
        ("workflow" = uuid::Uuid, Path, description = "The workflow's id"),
        ("secret" = String, Path, description = "The webhook's secret"),
    ),
    request_body(content = Object, description = "Any JSON, or nothing", content_type = "application/json"),
    responses(
        (status = 202, body = HookAccepted),
        (status = 404, description = "No such webhook, or the wrong secret", body = super::error::ErrorBody),
        (status = 429, description = "Too many calls of this webhook, or too many wrong secrets from this address", body = super::error::ErrorBody),
        WithBody,
    )
)]
async fn call(
    State(state): State<AppState>,
    Path((workflow, secret)): Path<(String, String)>,
    parts: Parts,
    body: Bytes,
) -> Result<Response, ApiError> {
    let client = parts
        .extensions
        .get::<ConnectInfo<Peer>>()
        .map(|info| client_address(info.0.0.ip(), &parts.headers, &state.config.trusted_proxies));
    if let Some(client) = client
        && state.auth_failures.is_blocked(client)
    {
        return Err(ApiError::TooManyRequests(
            "too many failed authentications from this address; try again in a minute".into(),
        ));
    }
    let session = Arc::new(Session::new(state.db.clone()));
    let workflow = match triggers::verify_webhook(&session, &workflow, &secret).await {
        Ok(workflow) => workflow,
        Err(HookError::NotFound) => {
            if let Some(client) = client {
                state.auth_failures.record(client);
            }
            return Err(ApiError::NotFound("no webhook here".into()));
        }
        Err(HookError::Model(error)) => return Err(error.into()),
    };
    if let Err(not_until) = state.webhook_calls.check_key(&workflow.id) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        let mut response = ApiError::TooManyRequests(format!(
            "this webhook takes {} calls a minute; try again later",
            state.config.webhook_calls_per_minute
        ))
        .into_response();
        if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation("body", format!("is not JSON: {e}")))?
    };
    let set = state.control.plugins.snapshot();
    let started = triggers::start_by_webhook(
        &state.core,
        &*state.hooks,
        &session,
        set.node_kinds(),
        &workflow,
        body,
    )
    .await;
    let execution = match started {
        Ok(execution) => execution,
        Err(error) => {
            session.rollback().await;
            return Err(ApiError::from(error));
        }
    };
    state
        .core
        .commit(&session)
        .await
        .map_err(ModelError::from)?;
    state.runner.wake();
    Ok((
        StatusCode::ACCEPTED,
        Json(HookAccepted {
            execution_id: execution.id,
            workflow_id: execution.workflow_id,
            status: execution.status.as_str().to_string(),
        }),
    )
        .into_response())
}
