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
use super::listing::Items;
use super::openapi::{AdminOnly, Authenticated, BadParameters, Conflict, NotFound, WithBody};
use crate::domain::{Principal, Role};
use crate::services::users;
use crate::services::users::{TokenInfo, User};
use crate::state::AppState;
use crate::util::format_micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(me))
        .route(routes!(list_users, create_user))
        .route(routes!(get_user, update_user))
        .route(routes!(list_tokens, create_token))
        .route(routes!(revoke_token))
}

/// A user.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: String,
    email: String,
    role: Role,
    /// RFC 3339, UTC.
    created_at: String,
    disabled: bool,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        UserView {
            id: user.id.clone(),
            email: user.email.clone(),
            role: user.role,
            created_at: format_micros(user.created_at),
            disabled: user.disabled_at.is_some(),
        }
    }
}

/// A token as anyone may see it: never the secret.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    id: String,
    user_id: String,
    name: String,
    /// RFC 3339, UTC.
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
}

impl From<&TokenInfo> for TokenView {
    fn from(token: &TokenInfo) -> Self {
        TokenView {
            id: token.id.clone(),
            user_id: token.user_id.clone(),
            name: token.name.clone(),
            created_at: format_micros(token.created_at),
            expires_at: token.expires_at.map(format_micros),
            revoked_at: token.revoked_at.map(format_micros),
            last_used_at: token.last_used_at.map(format_micros),
        }
    }
}

/// A token just made, with its secret: shown this once; only its hash is
/// stored.
#[derive(Serialize, ToSchema)]
pub struct CreatedTokenView {
    id: String,
    user_id: String,
    name: String,
    expires_at: Option<String>,
    /// The bearer token (`kai_...`).
    token: String,
}

/// The caller.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "users", operation_id = "me",
    responses((status = 200, body = UserView), Authenticated)
)]
async fn me(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &users::me(&state.db, &principal).await?,
    )))
}

/// Every user.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users", operation_id = "users_list",
    responses((status = 200, body = Items<UserView>), AdminOnly)
)]
async fn list_users(
    State(state): State<AppState>,
    _: AdminCaller,
) -> Result<Json<Items<UserView>>, ApiError> {
    let items = users::list(&state.db)
        .await?
        .iter()
        .map(UserView::from)
        .collect();
    Ok(Json(Items { items }))
}

/// A new user; a member unless `role` says otherwise.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    #[serde(default)]
    role: Option<Role>,
}

/// Creates a user (who then needs a token: `POST /api/v1/tokens` with
/// `user_id`).
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users", operation_id = "users_create",
    request_body = NewUser,
    responses((status = 201, body = UserView), AdminOnly, WithBody, Conflict)
)]
async fn create_user(
    State(state): State<AppState>,
    _: AdminCaller,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<Response, ApiError> {
    let role = body.role.unwrap_or(Role::Member);
    let user = users::create(&state.db, &body.email, role).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))).into_response())
}

/// One user; a member may read only themself.
#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "users", operation_id = "users_get",
    params(("id" = uuid::Uuid, Path, description = "The user's id (a UUID)")),
    responses((status = 200, body = UserView), Authenticated, BadParameters, NotFound)
)]
async fn get_user(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let id = path_id("id", &id)?;
    Ok(Json(UserView::from(
        &users::get(&state.db, &principal, &id).await?,
    )))
}

/// The fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    role: Option<Role>,
    disabled: Option<bool>,
}

/// Changes a user's role or disables them; the last active admin stays.
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", tag = "users", operation_id = "users_update",
    params(("id" = uuid::Uuid, Path, description = "The user's id (a UUID)")),
    request_body = UserPatch,
    responses((status = 200, body = UserView), AdminOnly, WithBody, NotFound, Conflict)
)]
async fn update_user(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    let id = path_id("id", &id)?;
    let user = users::update(&state.db, &id, body.role, body.disabled).await?;
    Ok(Json(UserView::from(&user)))
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

/// The caller's tokens, or (for an admin) those of `user_id`.
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "tokens", operation_id = "tokens_list",
    params(("user_id" = Option<uuid::Uuid>, Query, description = "Admins: another user's tokens")),
    responses((status = 200, body = Items<TokenView>), Authenticated, BadParameters, (status = 403, description = "A member named another user", body = super::error::ErrorBody), NotFound)
)]
async fn list_tokens(
    State(state): State<AppState>,
    Caller(principal): Caller,
    uri: Uri,
) -> Result<Json<Items<TokenView>>, ApiError> {
    let params = QueryParams::parse(&uri, &["user_id"])?;
    let user_id = named_user(&principal, params.get("user_id"))?;
    let owner = users::token_owner(&state.db, &principal, user_id.as_deref()).await?;
    let items = users::tokens_of(&state.db, &owner)
        .await?
        .iter()
        .map(TokenView::from)
        .collect();
    Ok(Json(Items { items }))
}

/// A new token for the caller or (admins) for `user_id`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    expires_in_days: Option<u32>,
    user_id: Option<String>,
}

/// Makes a token; its secret is in this answer only.
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "tokens", operation_id = "tokens_create",
    request_body = NewToken,
    responses((status = 201, body = CreatedTokenView), Authenticated, WithBody, (status = 403, description = "A member named another user", body = super::error::ErrorBody), NotFound)
)]
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
        Json(CreatedTokenView {
            id: created.token.id,
            user_id: created.owner,
            name: created.name,
            expires_at: created.expires_at.map(format_micros),
            token: created.token.secret,
        }),
    )
        .into_response())
}

/// Revokes a token at once.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "tokens", operation_id = "tokens_revoke",
    params(("id" = uuid::Uuid, Path, description = "The token's id (a UUID)")),
    responses((status = 204, description = "Revoked"), Authenticated, BadParameters, NotFound)
)]
async fn revoke_token(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("id", &id)?;
    users::revoke_token(&state.db, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
