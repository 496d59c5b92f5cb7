//! Users and API tokens.
//!
//! - `GET /api/v1/me`: the caller.
//! - `GET|POST /api/v1/users`, `GET|PATCH /api/v1/users/{id}`: admins
//!   manage users (a member may read only themself). The last active admin
//!   cannot be demoted or disabled.
//! - `GET|POST /api/v1/tokens`, `DELETE /api/v1/tokens/{id}`: a user's own
//!   tokens; admins may name another user with `user_id`. A new token is
//!   shown once, in the creation answer, and stored only as a hash.

use super::CoreApi;
use super::auth::{AdminCaller, Caller};
use super::error::ApiError;
use super::extract::{ApiJson, QueryParams, path_id};
use crate::domain::{Principal, Role};
use crate::services::users;
use crate::state::AppState;
use crate::util::format_micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn mount(api: CoreApi) -> CoreApi {
    api.route("GET", "/api/v1/me", me)
        .route("GET", "/api/v1/users", list_users)
        .route("POST", "/api/v1/users", create_user)
        .route("GET", "/api/v1/users/{id}", get_user)
        .route("PATCH", "/api/v1/users/{id}", update_user)
        .route("GET", "/api/v1/tokens", list_tokens)
        .route("POST", "/api/v1/tokens", create_token)
        .route("DELETE", "/api/v1/tokens/{id}", revoke_token)
}

async fn me(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(users::me(&state.db, &principal).await?.to_json()))
}

async fn list_users(
    State(state): State<AppState>,
    _: AdminCaller,
) -> Result<Json<Value>, ApiError> {
    let items: Vec<Value> = users::list(&state.db)
        .await?
        .iter()
        .map(|u| u.to_json())
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    #[serde(default)]
    role: Option<Role>,
}

async fn create_user(
    State(state): State<AppState>,
    _: AdminCaller,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<Response, ApiError> {
    let role = body.role.unwrap_or(Role::Member);
    let user = users::create(&state.db, &body.email, role).await?;
    Ok((StatusCode::CREATED, Json(user.to_json())).into_response())
}

async fn get_user(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id("id", &id)?;
    Ok(Json(
        users::get(&state.db, &principal, &id).await?.to_json(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    role: Option<Role>,
    disabled: Option<bool>,
}

async fn update_user(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserPatch>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id("id", &id)?;
    let user = users::update(&state.db, &id, body.role, body.disabled).await?;
    Ok(Json(user.to_json()))
}

/// `user_id` as given, checked to be an id when an admin names it (only an
/// admin's choice of user is looked up; a member naming another user is
/// refused whatever they wrote).
fn named_user(principal: &Principal, user_id: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(match user_id {
        Some(id) if principal.is_admin() => Some(path_id("user_id", id)?),
        other => other.map(str::to_string),
    })
}

async fn list_tokens(
    State(state): State<AppState>,
    Caller(principal): Caller,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let params = QueryParams::parse(&uri, &["user_id"])?;
    let user_id = named_user(&principal, params.get("user_id"))?;
    let owner = users::token_owner(&state.db, &principal, user_id.as_deref()).await?;
    let items: Vec<Value> = users::tokens_of(&state.db, &owner)
        .await?
        .iter()
        .map(|t| t.to_json())
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    expires_in_days: Option<u32>,
    user_id: Option<String>,
}

async fn create_token(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<Response, ApiError> {
    let user_id = named_user(&principal, body.user_id.as_deref())?;
    let owner = users::token_owner(&state.db, &principal, user_id.as_deref()).await?;
    let created = users::create_token(&state.db, &owner, &body.name, body.expires_in_days).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": created.token.id,
            "user_id": created.owner,
            "name": created.name,
            "expires_at": created.expires_at.map(format_micros),
            // Shown this once; only its hash is stored.
            "token": created.token.secret,
        })),
    )
        .into_response())
}

async fn revoke_token(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("id", &id)?;
    users::revoke_token(&state.db, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
