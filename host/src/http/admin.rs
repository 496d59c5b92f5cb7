//! Admin routes (`/api/v1/admin/...`), for admins only.
//!
//! - `GET /api/v1/admin/plugins`: loaded plugins with version, routes,
//!   limits and status, plus the plugins refused at start and why.
//! - `GET /api/v1/admin/routes`: the full route table with owners.
//! - `POST /api/v1/admin/plugins/{name}/grants`: the operator's decision
//!   on what a plugin requested: `{"accept_requested": true}`, or
//!   `{"grant": {...}}` with a subset. A version waiting for grants goes
//!   live; a running one continues with the new grant.

use super::CoreApi;
use super::auth::AdminCaller;
use super::error::ApiError;
use super::extract::ApiJson;
use crate::plugins::PluginEntry;
use crate::plugins::grants::{self, Grant};
use crate::plugins::install::{ActivateOptions, activate};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route("GET", "/api/v1/admin/plugins", list_plugins)
        .route("GET", "/api/v1/admin/routes", list_routes)
        .route("POST", "/api/v1/admin/plugins/{name}/grants", grant)
}

async fn list_plugins(_: AdminCaller, State(state): State<AppState>) -> Json<Value> {
    let set = state.plugins.snapshot();
    let plugins: Vec<Value> = set.plugins.values().map(plugin_summary).collect();
    let pending: Vec<Value> = state
        .plugins
        .all_pending()
        .iter()
        .map(|p| {
            json!({
                "name": p.plugin.manifest.name,
                "version": p.plugin.manifest.version.to_string(),
                "status": "awaiting_grant",
                "source": p.source,
                "requested": p.requested,
                "missing": p.missing,
            })
        })
        .collect();
    Json(json!({
        "plugins": plugins,
        "pending": pending,
        "refused": state.plugins.refusals(),
        "allocator": state.runtime.allocator(),
    }))
}

fn plugin_summary(entry: &PluginEntry) -> Value {
    let manifest = &entry.plugin.manifest;
    json!({
        "name": manifest.name,
        "version": manifest.version.to_string(),
        "description": manifest.description,
        "status": if entry.enabled { "active" } else { "disabled" },
        "source": entry.source,
        "sha256": entry.plugin.sha256,
        "size_bytes": entry.plugin.size_bytes,
        "host_api": manifest.host_api.to_string(),
        "routes": manifest.routes,
        "limits": entry.plugin.limits,
        "requested": Grant::requested_by(manifest),
        "granted": *entry.grant,
    })
}

async fn list_routes(_: AdminCaller, State(state): State<AppState>) -> Json<Value> {
    let mut routes: Vec<Value> = state
        .plugins
        .core_routes()
        .iter()
        .map(|r| json!({ "method": r.method, "path": r.pattern.as_str(), "owner": "core" }))
        .collect();
    let set = state.plugins.snapshot();
    routes.extend(set.routes.entries().iter().map(|e| {
        json!({
            "method": e.method,
            "path": e.pattern.as_str(),
            "owner": format!("plugin:{}", e.plugin.manifest.name),
            "version": e.plugin.manifest.version.to_string(),
            "public": e.public,
        })
    }));
    Json(json!({ "routes": routes }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    accept_requested: Option<bool>,
    grant: Option<Grant>,
}

async fn grant(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<Json<Value>, ApiError> {
    let pending = state.plugins.pending(&name);
    let set = state.plugins.snapshot();
    let active = set.plugins.get(&name);
    let (plugin, requested) = match (&pending, active) {
        (Some(pending), _) => (pending.plugin.clone(), pending.requested.clone()),
        (None, Some(entry)) => (
            entry.plugin.clone(),
            Grant::requested_by(&entry.plugin.manifest),
        ),
        (None, None) => return Err(ApiError::NotFound(format!("no plugin named `{name}`"))),
    };
    let granted = match (body.accept_requested, body.grant) {
        (Some(true), None) => requested.clone(),
        (None | Some(false), Some(grant)) => {
            let extra = grant.beyond(&requested);
            if !extra.is_empty() {
                return Err(ApiError::validation(
                    "grant",
                    format!(
                        "grants only what the plugin requested; not requested: {}",
                        serde_json::to_string(&extra).unwrap_or_default()
                    ),
                ));
            }
            grant
        }
        _ => {
            return Err(ApiError::validation(
                "body",
                "send {\"accept_requested\": true} or {\"grant\": {...}}",
            ));
        }
    };
    grants::save(&state.db, &name, &requested, &granted, Some(&admin.email)).await?;
    match pending {
        Some(pending) => {
            let options = ActivateOptions {
                confirm_destructive: false,
                enabled: true,
                trusted: false,
            };
            activate(
                &state.db,
                &state.plugins,
                pending.plugin,
                &pending.wasm,
                pending.source,
                options,
            )
            .await
            .map_err(|e| ApiError::Conflict(e.to_string()))?;
        }
        None => {
            let entry = active.expect("checked above");
            state
                .plugins
                .put(PluginEntry {
                    grant: Arc::new(granted.clone()),
                    ..entry.clone()
                })
                .await
                .map_err(|e| ApiError::Conflict(e.to_string()))?;
        }
    }
    tracing::info!(plugin = %name, by = %admin.email, "grants decided");
    Ok(Json(json!({
        "name": name,
        "version": plugin.manifest.version.to_string(),
        "status": "active",
        "requested": requested,
        "granted": granted,
    })))
}
