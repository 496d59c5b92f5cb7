//! Who is calling: extractors that turn `Authorization: Bearer <token>` into
//! a [`Principal`], or refuse with 401 (no, wrong, expired or revoked
//! token, all with the same body) or 403 (a member on an admin route).

use super::error::ApiError;
use crate::db::users::{self, Principal};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

/// Any authenticated user.
pub struct Caller(pub Principal);

/// An authenticated admin.
pub struct AdminCaller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).await.map(Caller)
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(parts, state).await?;
        if !principal.is_admin() {
            return Err(ApiError::Forbidden("this route is for admins".into()));
        }
        Ok(AdminCaller(principal))
    }
}

/// The principal behind the request's bearer token.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    users::authenticate(&state.db, token)
        .await?
        .ok_or(ApiError::Unauthorized)
}
