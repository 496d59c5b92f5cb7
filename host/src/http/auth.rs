//! Who is calling: extractors that turn `Authorization: Bearer <token>` into
//! a [`Principal`], or refuse with 401 (no, wrong, expired or revoked
//! token, all with the same body) or 403 (a member on an admin route).
//!
//! Wrong tokens are counted per client address; past the configured number
//! per minute, that address gets 429 until the minute is over, whatever
//! token it presents, so tokens cannot be guessed at speed.

use super::error::ApiError;
use crate::db::users::{self, Principal};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(client) = client
        && state.auth_failures.is_blocked(client)
    {
        return Err(ApiError::TooManyRequests(
            "too many failed authentications from this address; try again in a minute".into(),
        ));
    }
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    match users::authenticate(&state.db, token).await? {
        Some(principal) => Ok(principal),
        None => {
            if let Some(client) = client {
                state.auth_failures.record(client);
            }
            Err(ApiError::Unauthorized)
        }
    }
}

/// Failed authentications per client address in the current minute.
pub struct FailureLimiter {
    per_minute: u32,
    counts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl FailureLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            counts: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_blocked(&self, client: IpAddr) -> bool {
        let counts = self.counts.lock().unwrap();
        counts
            .get(&client)
            .is_some_and(|(since, count)| since.elapsed() < WINDOW && *count >= self.per_minute)
    }

    pub fn record(&self, client: IpAddr) {
        let mut counts = self.counts.lock().unwrap();
        if counts.len() > 100_000 {
            counts.retain(|_, (since, _)| since.elapsed() < WINDOW);
        }
        let entry = counts.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}
