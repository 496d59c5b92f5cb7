//! `/api/v1/credentials`: the encrypted credential store, per owner.
//!
//! The secret (a JSON object) is write-only: it goes in on create and
//! update and never comes back, in no response, log line or error message.
//! Answers show the name, the service type, timestamps, which plugins the
//! owner lets use it, and whether the stored secret opens (`readable`; a
//! damaged secret answers `409 credential_unreadable` where it is used, and
//! setting a new secret repairs it).

use super::CoreApi;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, path_id};
use crate::services::secrets::store::{self, CredentialError, CredentialInput};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route("POST", "/api/v1/credentials", create)
        .route("GET", "/api/v1/credentials", list)
        .route("GET", "/api/v1/credentials/{id}", get)
        .route("PATCH", "/api/v1/credentials/{id}", update)
        .route("DELETE", "/api/v1/credentials/{id}", delete)
}

/// The body of create and update. `secret` is taken as any JSON value and
/// checked by hand, so a wrong type is reported without echoing it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    name: Option<String>,
    service_type: Option<String>,
    secret: Option<Value>,
    allowed_plugins: Option<Vec<String>>,
}

impl Body {
    fn into_input(self) -> Result<CredentialInput, ApiError> {
        let secret = match self.secret {
            None => None,
            Some(value) if value.is_object() => Some(Zeroizing::new(value.to_string())),
            Some(_) => return Err(ApiError::validation("secret", "must be a JSON object")),
        };
        Ok(CredentialInput {
            name: self.name,
            service_type: self.service_type,
            secret,
            allowed_plugins: self.allowed_plugins,
        })
    }
}

impl From<CredentialError> for ApiError {
    fn from(error: CredentialError) -> Self {
        match error {
            CredentialError::NotFound(m) => ApiError::NotFound(m),
            CredentialError::Invalid { field, message } => ApiError::Validation { field, message },
            CredentialError::Conflict(m) => ApiError::Conflict(m),
            CredentialError::Denied(m) => ApiError::Forbidden(m),
            e @ CredentialError::Unreadable { .. } => ApiError::CredentialUnreadable(e.to_string()),
            e @ CredentialError::NoSealingKey(_) => {
                tracing::error!(error = %e, "a credential could not be sealed");
                ApiError::Unavailable(e.to_string())
            }
            CredentialError::Crypto(e) => {
                ApiError::Internal(anyhow::anyhow!("credential crypto: {e}"))
            }
            CredentialError::Database(e) => ApiError::Internal(e.into()),
        }
    }
}

async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiJson(body): ApiJson<Body>,
) -> Result<Response, ApiError> {
    let credential =
        store::create(&state.db, &state.core.keys, &principal, body.into_input()?).await?;
    Ok((StatusCode::CREATED, Json(credential.to_json())).into_response())
}

async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Json<Value>, ApiError> {
    let items: Vec<Value> = store::list(&state.db, &state.core.keys, &principal)
        .await?
        .iter()
        .map(|c| c.to_json())
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id("id", &id)?;
    Ok(Json(
        store::get(&state.db, &state.core.keys, &principal, &id)
            .await?
            .to_json(),
    ))
}

async fn update(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Body>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id("id", &id)?;
    let updated = store::update(
        &state.db,
        &state.core.keys,
        &principal,
        &id,
        body.into_input()?,
    )
    .await?;
    Ok(Json(updated.to_json()))
}

async fn delete(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("id", &id)?;
    store::delete(&state.db, &state.core.keys, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
