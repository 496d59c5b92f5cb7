//! Admin routes (`/api/v1/admin/...`), for admins only.
//!
//! - `GET /api/v1/admin/plugins`: loaded plugins with version, routes,
//!   limits and status, plus the plugins refused at start and why.
//! - `GET /api/v1/admin/routes`: the full route table with owners.
//! - `POST /api/v1/admin/plugins` (body: the `.wasm`, `Content-Type:
//!   application/wasm`; `?force=true`, `?confirm_destructive=true`):
//!   install or upgrade. 201 installed, 200 upgraded, 202 awaiting grants.
//!   A `wasi:http/proxy` component is installed with `?name=` and
//!   `?mount=` (and `public=true`, `outbound=<origin>,<origin>`,
//!   `version=`); an upgrade that gives only `name` keeps its mount.
//! - `GET /api/v1/admin/plugins/{name}`: one plugin with its history.
//! - `POST /api/v1/admin/plugins/{name}/disable|enable|rollback`.
//! - `DELETE /api/v1/admin/plugins/{name}` (`?purge=true` drops its tables).
//! - `POST /api/v1/admin/plugins/{name}/grants`: the operator's decision
//!   on what a plugin requested: `{"accept_requested": true}`, or
//!   `{"grant": {...}}` with a subset. A version waiting for grants goes
//!   live; a running one continues with the new grant.

use super::CoreApi;
use super::auth::AdminCaller;
use super::error::ApiError;
use super::extract::{ApiJson, PluginName, QueryParams, has_media_type};
use crate::domain::MountRequest;
use crate::plugins::PluginEntry;
use crate::plugins::grants::Grant;
use crate::plugins::lifecycle::{self, GrantChoice, InstallOptions, LifecycleError};
use crate::state::AppState;
use axum::Json;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn mount(api: CoreApi) -> CoreApi {
    api.route("GET", "/api/v1/admin/plugins", list_plugins)
        .route("POST", "/api/v1/admin/plugins", install)
        .route("GET", "/api/v1/admin/plugins/{name}", get_plugin)
        .route("POST", "/api/v1/admin/plugins/{name}/disable", disable)
        .route("POST", "/api/v1/admin/plugins/{name}/enable", enable)
        .route("POST", "/api/v1/admin/plugins/{name}/rollback", rollback)
        .route("DELETE", "/api/v1/admin/plugins/{name}", remove)
        .route("GET", "/api/v1/admin/routes", list_routes)
        .route("POST", "/api/v1/admin/plugins/{name}/grants", grant)
}

/// Largest plugin accepted, in bytes.
const MAX_PLUGIN_BYTES: usize = 64 << 20;

impl From<LifecycleError> for ApiError {
    fn from(error: LifecycleError) -> Self {
        match error {
            LifecycleError::Invalid(e) => ApiError::InvalidPlugin(e.to_string()),
            e @ LifecycleError::Version(_) => ApiError::Refused {
                code: "version_not_newer",
                message: e.to_string(),
            },
            e @ LifecycleError::NeedsConfirmation(_) => ApiError::Refused {
                code: "confirmation_required",
                message: e.to_string(),
            },
            LifecycleError::Migration(m) => ApiError::validation("plugin", m),
            LifecycleError::NotFound(m) => ApiError::NotFound(m),
            LifecycleError::InvalidInput { field, message } => ApiError::validation(field, message),
            LifecycleError::Internal(e) => ApiError::Internal(e),
            other => ApiError::Conflict(other.to_string()),
        }
    }
}

async fn install(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    uri: Uri,
    request: Request,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(
        &uri,
        &[
            "force",
            "confirm_destructive",
            "name",
            "mount",
            "public",
            "outbound",
            "version",
        ],
    )?;
    let http = http_install(&params)?;
    if !has_media_type(request.headers(), |t| t == "application/wasm") {
        return Err(ApiError::UnsupportedMediaType(
            "send the plugin's .wasm as the body with Content-Type: application/wasm".into(),
        ));
    }
    let wasm = axum::body::to_bytes(request.into_body(), MAX_PLUGIN_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge {
            limit: MAX_PLUGIN_BYTES,
        })?;
    let options = InstallOptions {
        force: params.flag("force")?,
        confirm_destructive: params.flag("confirm_destructive")?,
        actor: Some(admin.email),
        source: None,
        http,
    };
    let report = lifecycle::install(&state.control, wasm.to_vec(), options).await?;
    let status = match (report.status, report.action) {
        ("awaiting_grant", _) => StatusCode::ACCEPTED,
        (_, "installed") => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    tracing::info!(report = %lifecycle::describe(&report), "plugin installed");
    Ok((status, Json(report)).into_response())
}

/// The parameters that install the body as a `wasi:http` component, when
/// `name` is among them.
fn http_install(params: &QueryParams) -> Result<Option<MountRequest>, ApiError> {
    let Some(name) = params.get("name") else {
        if let Some(given) = ["mount", "public", "outbound", "version"]
            .into_iter()
            .find(|p| params.get(p).is_some())
        {
            return Err(ApiError::validation(
                "name",
                format!(
                    "required with `{given}`: name and mount install a wasi:http component; a kai:fusion plugin names itself"
                ),
            ));
        }
        return Ok(None);
    };
    Ok(Some(MountRequest {
        name: name.to_string(),
        mount: params.get("mount").map(str::to_string),
        public: params.parsed("public", "true or false")?,
        outbound_hosts: params.get("outbound").map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect()
        }),
        version: params.get("version").map(str::to_string),
    }))
}

async fn get_plugin(
    State(state): State<AppState>,
    _: AdminCaller,
    PluginName(name): PluginName,
) -> Result<Json<Value>, ApiError> {
    let set = state.control.plugins.snapshot();
    let pending = state.control.plugins.pending(&name);
    let history = lifecycle::history(&state.control, &name).await?;
    let mut body = match set.plugins.get(&name) {
        Some(entry) => plugin_summary(entry),
        None if pending.is_some() || !history.is_empty() => {
            json!({ "name": name, "status": "not_serving" })
        }
        None => return Err(ApiError::NotFound(format!("no plugin named `{name}`"))),
    };
    body["versions"] = json!(lifecycle::versions(&state.control, &name).await?);
    body["history"] = json!(history);
    if let Some(pending) = pending {
        body["pending"] = json!({
            "version": pending.plugin.manifest.version.to_string(),
            "requested": pending.requested,
            "missing": pending.missing,
        });
    }
    Ok(Json(body))
}

async fn disable(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PluginName(name): PluginName,
) -> Result<Json<Value>, ApiError> {
    lifecycle::set_enabled(&state.control, &name, false, Some(&admin.email)).await?;
    Ok(Json(json!({ "name": name, "status": "disabled" })))
}

async fn enable(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PluginName(name): PluginName,
) -> Result<Json<Value>, ApiError> {
    lifecycle::set_enabled(&state.control, &name, true, Some(&admin.email)).await?;
    Ok(Json(json!({ "name": name, "status": "active" })))
}

async fn rollback(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PluginName(name): PluginName,
) -> Result<Response, ApiError> {
    let report = lifecycle::rollback(&state.control, &name, Some(&admin.email)).await?;
    Ok(Json(report).into_response())
}

async fn remove(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PluginName(name): PluginName,
    uri: Uri,
) -> Result<StatusCode, ApiError> {
    let params = QueryParams::parse(&uri, &["purge"])?;
    lifecycle::remove(
        &state.control,
        &name,
        params.flag("purge")?,
        Some(&admin.email),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_plugins(_: AdminCaller, State(state): State<AppState>) -> Json<Value> {
    let set = state.control.plugins.snapshot();
    let plugins: Vec<Value> = set.plugins.values().map(plugin_summary).collect();
    let pending: Vec<Value> = state
        .control
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
        "refused": state.control.plugins.refusals(),
        "allocator": state.control.runtime.allocator(),
        "compile_cache": state.control.runtime.cache_stats(),
    }))
}

fn plugin_summary(entry: &PluginEntry) -> Value {
    let manifest = &entry.plugin.manifest;
    json!({
        "name": manifest.name,
        "kind": if manifest.mount.is_some() { "wasi-http" } else { "kai-fusion" },
        "mount": manifest.mount.as_ref().map(|m| &m.mount),
        "version": manifest.version.to_string(),
        "description": manifest.description,
        "status": if entry.enabled { "active" } else { "disabled" },
        "source": entry.source,
        "sha256": entry.plugin.sha256,
        "size_bytes": entry.plugin.size_bytes,
        "host_api": manifest.host_api.to_string(),
        "routes": manifest.routes,
        "limits": entry.plugin.limits,
        "requested": manifest.requested_grant(),
        "granted": *entry.grant,
    })
}

async fn list_routes(_: AdminCaller, State(state): State<AppState>) -> Json<Value> {
    let mut routes: Vec<Value> = state
        .control
        .plugins
        .core_routes()
        .iter()
        .map(|r| json!({ "method": r.method, "path": r.pattern.as_str(), "owner": "core" }))
        .collect();
    let set = state.control.plugins.snapshot();
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
    PluginName(name): PluginName,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<Json<Value>, ApiError> {
    let choice = match (body.accept_requested, body.grant) {
        (Some(true), None) => GrantChoice::AcceptRequested,
        (None | Some(false), Some(grant)) => GrantChoice::Grant(grant),
        _ => {
            return Err(ApiError::validation(
                "body",
                "send {\"accept_requested\": true} or {\"grant\": {...}}",
            ));
        }
    };
    let decision = lifecycle::decide_grants(&state.control, &name, choice, &admin.email).await?;
    tracing::info!(plugin = %name, by = %admin.email, "grants decided");
    Ok(Json(json!(decision)))
}
