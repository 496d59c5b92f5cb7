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
use crate::state::AppState;
use crate::store::users::{self, UpdateOutcome};
use crate::util::{format_micros, now_micros};
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
    let user = users::get(&state.db, &principal.user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("user not found".into()))?;
    Ok(Json(user.to_json()))
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
    let email = valid_email(&body.email)?;
    if users::find_by_email(&state.db, &email).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "a user with email `{email}` exists"
        )));
    }
    let user = users::create(&state.db, &email, body.role.unwrap_or(Role::Member)).await?;
    Ok((StatusCode::CREATED, Json(user.to_json())).into_response())
}

/// A plausible email address, lower-cased.
pub fn valid_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_ascii_lowercase();
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email)
    } else {
        Err(ApiError::validation(
            "email",
            "is not a valid email address",
        ))
    }
}

async fn get_user(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id("id", &id)?;
    let user = users::get(&state.db, &id)
        .await?
        .filter(|u| principal.is_admin() || u.id == principal.user_id)
        .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))?;
    Ok(Json(user.to_json()))
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
    match users::update(&state.db, &id, body.role, body.disabled).await? {
        UpdateOutcome::Updated(user) => Ok(Json(user.to_json())),
        UpdateOutcome::NotFound => Err(ApiError::NotFound(format!("user {id} not found"))),
        UpdateOutcome::LastAdmin => Err(ApiError::Conflict(
            "this is the last active admin; make another admin first".into(),
        )),
    }
}

/// Whose tokens a request is about: the caller's, or (admins only) those
/// of `user_id`.
async fn token_owner(
    state: &AppState,
    principal: &Principal,
    user_id: Option<&str>,
) -> Result<String, ApiError> {
    match user_id {
        None => Ok(principal.user_id.clone()),
        Some(id) if id == principal.user_id => Ok(id.to_string()),
        Some(id) if principal.is_admin() => {
            let id = path_id("user_id", id)?;
            users::get(&state.db, &id)
                .await?
                .map(|u| u.id)
                .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))
        }
        Some(_) => Err(ApiError::Forbidden(
            "only admins manage other users' tokens".into(),
        )),
    }
}

async fn list_tokens(
    State(state): State<AppState>,
    Caller(principal): Caller,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let params = QueryParams::parse(&uri, &["user_id"])?;
    let owner = token_owner(&state, &principal, params.get("user_id")).await?;
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
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 || name.contains('\0') {
        return Err(ApiError::validation("name", "1 to 100 characters"));
    }
    if body.expires_in_days == Some(0) {
        return Err(ApiError::validation(
            "expires_in_days",
            "must be at least 1",
        ));
    }
    let owner = token_owner(&state, &principal, body.user_id.as_deref()).await?;
    let expires_at = body
        .expires_in_days
        .map(|days| now_micros() + i64::from(days) * 86_400_000_000);
    let token = users::create_token(&state.db, &owner, name, expires_at).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": token.id,
            "user_id": owner,
            "name": name,
            "expires_at": expires_at.map(format_micros),
            // Shown this once; only its hash is stored.
            "token": token.secret,
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
    let token = users::token(&state.db, &id)
        .await?
        .filter(|t| principal.is_admin() || t.user_id == principal.user_id)
        .ok_or_else(|| ApiError::NotFound(format!("token {id} not found")))?;
    users::revoke_token(&state.db, &token.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
