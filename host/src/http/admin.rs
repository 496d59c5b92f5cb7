//! Admin routes (`/api/v1/admin/...`), for admins only.
//!
//! - `GET /api/v1/admin/plugins`: loaded plugins with version, routes,
//!   limits and status, plus the plugins refused at start and why.
//! - `GET /api/v1/admin/routes`: the full route table with owners.

use super::CoreApi;
use super::auth::AdminCaller;
use crate::plugins::PluginEntry;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub fn mount(api: CoreApi) -> CoreApi {
    api.route("GET", "/api/v1/admin/plugins", list_plugins)
        .route("GET", "/api/v1/admin/routes", list_routes)
}

async fn list_plugins(_: AdminCaller, State(state): State<AppState>) -> Json<Value> {
    let set = state.plugins.snapshot();
    let plugins: Vec<Value> = set.plugins.values().map(plugin_summary).collect();
    Json(json!({
        "plugins": plugins,
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
