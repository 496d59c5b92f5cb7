//! Liveness and readiness, unauthenticated by design: load balancers and
//! orchestrators call them.
//!
//! - `GET /healthz`: the process answers.
//! - `GET /readyz`: the database answers and the plugins have been loaded.

use super::CoreApi;
use super::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub fn mount(api: CoreApi) -> CoreApi {
    api.route("GET", "/healthz", healthz)
        .route("GET", "/readyz", readyz)
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if let Err(error) = state.db.ping().await {
        tracing::warn!(%error, "readiness: database unreachable");
        return Err(ApiError::Unavailable("the database is unreachable".into()));
    }
    if !state.control.plugins.is_ready() {
        return Err(ApiError::Unavailable("plugins are still loading".into()));
    }
    let plugins = state.control.plugins.snapshot().plugins.len();
    Ok(Json(
        json!({ "status": "ready", "database": state.db.backend(), "plugins": plugins }),
    ))
}
