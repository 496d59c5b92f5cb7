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
use super::listing::Items;
use super::openapi::{Authenticated, BadParameters, Conflict, NotFound, WithBody};
use crate::services::secrets::store::{self, Credential, CredentialError, CredentialInput};
use crate::state::AppState;
use crate::util::format_micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::routes;
use zeroize::Zeroizing;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(create, list))
        .route(routes!(get, update, delete))
}

/// The body of create (`name`, `service_type` and `secret` required) and
/// update (each field given is set). `secret` is taken as any JSON value
/// and checked by hand, so a wrong type is reported without echoing it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Body {
    name: Option<String>,
    service_type: Option<String>,
    /// A JSON object; write-only.
    #[schema(value_type = Option<Object>)]
    secret: Option<Value>,
    /// The plugins the owner lets use it.
    allowed_plugins: Option<Vec<String>>,
}

/// A credential's metadata: never its secret.
#[derive(Serialize, ToSchema)]
pub struct CredentialView {
    id: String,
    /// The owner's user id.
    owner: String,
    name: String,
    service_type: String,
    allowed_plugins: Vec<String>,
    /// The master key that seals the secret.
    key_id: i64,
    /// Whether the stored secret opens with this server's keys.
    readable: Option<bool>,
    /// RFC 3339, UTC.
    created_at: String,
    updated_at: String,
}

impl From<&Credential> for CredentialView {
    fn from(c: &Credential) -> Self {
        CredentialView {
            id: c.id.clone(),
            owner: c.owner.clone(),
            name: c.name.clone(),
            service_type: c.service_type.clone(),
            allowed_plugins: c.allowed_plugins.clone(),
            key_id: c.key_id,
            readable: c.readable,
            created_at: format_micros(c.created_at),
            updated_at: format_micros(c.updated_at),
        }
    }
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

/// Stores a credential, its secret sealed.
#[utoipa::path(
    post, path = "/api/v1/credentials", tag = "credentials", operation_id = "credentials_create",
    request_body = Body,
    responses((status = 201, body = CredentialView), Authenticated, WithBody, Conflict, (status = 503, description = "No master key can seal it", body = super::error::ErrorBody))
)]
async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiJson(body): ApiJson<Body>,
) -> Result<Response, ApiError> {
    let credential =
        store::create(&state.db, &state.core.keys, &principal, body.into_input()?).await?;
    Ok((StatusCode::CREATED, Json(CredentialView::from(&credential))).into_response())
}

/// The caller's credentials (an admin's: all).
#[utoipa::path(
    get, path = "/api/v1/credentials", tag = "credentials", operation_id = "credentials_list",
    responses((status = 200, body = Items<CredentialView>), Authenticated)
)]
async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Json<Items<CredentialView>>, ApiError> {
    let items = store::list(&state.db, &state.core.keys, &principal)
        .await?
        .iter()
        .map(CredentialView::from)
        .collect();
    Ok(Json(Items { items }))
}

/// One credential's metadata.
#[utoipa::path(
    get, path = "/api/v1/credentials/{id}", tag = "credentials", operation_id = "credentials_get",
    params(("id" = uuid::Uuid, Path, description = "The credential's id (a UUID)")),
    responses((status = 200, body = CredentialView), Authenticated, BadParameters, NotFound)
)]
async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<CredentialView>, ApiError> {
    let id = path_id("id", &id)?;
    Ok(Json(CredentialView::from(
        &store::get(&state.db, &state.core.keys, &principal, &id).await?,
    )))
}

/// Changes the fields given; a new `secret` is sealed with the current key.
#[utoipa::path(
    patch, path = "/api/v1/credentials/{id}", tag = "credentials", operation_id = "credentials_update",
    params(("id" = uuid::Uuid, Path, description = "The credential's id (a UUID)")),
    request_body = Body,
    responses((status = 200, body = CredentialView), Authenticated, WithBody, NotFound, Conflict, (status = 503, description = "No master key can seal it", body = super::error::ErrorBody))
)]
async fn update(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Body>,
) -> Result<Json<CredentialView>, ApiError> {
    let id = path_id("id", &id)?;
    let updated = store::update(
        &state.db,
        &state.core.keys,
        &principal,
        &id,
        body.into_input()?,
    )
    .await?;
    Ok(Json(CredentialView::from(&updated)))
}

/// Deletes a credential.
#[utoipa::path(
    delete, path = "/api/v1/credentials/{id}", tag = "credentials", operation_id = "credentials_delete",
    params(("id" = uuid::Uuid, Path, description = "The credential's id (a UUID)")),
    responses((status = 204, description = "Deleted"), Authenticated, BadParameters, NotFound)
)]
async fn delete(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("id", &id)?;
    store::delete(&state.db, &state.core.keys, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
