//! Liveness and readiness, unauthenticated by design: load balancers and
//! orchestrators call them.
//!
//! - `GET /healthz`: the process answers.
//! - `GET /readyz`: the database answers and the plugins have been loaded.

use super::CoreApi;
use super::error::ApiError;
use super::openapi::NotReady;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(healthz)).route(routes!(readyz))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    status: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
    /// How many plugins are loaded.
    plugins: usize,
}

/// The process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "health", operation_id = "healthz", security(()),
    responses((status = 200, body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database answers and the plugins are loaded.
#[utoipa::path(
    get, path = "/readyz", tag = "health", operation_id = "readyz", security(()),
    responses((status = 200, body = Readiness), NotReady)
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    if let Err(error) = state.db.ping().await {
        tracing::warn!(%error, "readiness: database unreachable");
        return Err(ApiError::Unavailable("the database is unreachable".into()));
    }
    if !state.control.plugins.is_ready() {
        return Err(ApiError::Unavailable("plugins are still loading".into()));
    }
    let plugins = state.control.plugins.snapshot().plugins.len();
    Ok(Json(Readiness {
        status: "ready",
        database: state.db.backend().name(),
        plugins,
    }))
}
