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
use super::openapi::{AdminOnly, BadParameters, Conflict, NotFound, WithBody};
use crate::domain::MountRequest;
use crate::plugins::PluginEntry;
use crate::plugins::grants::Grant;
use crate::plugins::lifecycle::{
    self, GrantChoice, GrantDecision, InstallOptions, LifecycleError, Report,
};
use crate::plugins::registry::Refusal;
use crate::runtime::cache::CacheStats;
use crate::runtime::engine::AllocatorKind;
use crate::state::AppState;
use axum::Json;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(list_plugins, install))
        .route(routes!(get_plugin))
        .route(routes!(disable))
        .route(routes!(enable))
        .route(routes!(rollback))
        .route(routes!(remove))
        .route(routes!(list_routes))
        .route(routes!(grant))
}

/// A plugin's state after enable or disable.
#[derive(Serialize, ToSchema)]
pub struct PluginState {
    name: String,
    /// `active` or `disabled`.
    status: &'static str,
}

/// One route of the table.
#[derive(Serialize, ToSchema)]
pub struct RouteView {
    method: String,
    /// The path pattern; `{name}` is a parameter, `{*name}` the rest of the
    /// path below a mounted component.
    path: String,
    /// `core`, or `plugin:<name>`.
    owner: String,
    /// The plugin's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// A plugin route callable without a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    public: Option<bool>,
}

/// The route table.
#[derive(Serialize, ToSchema)]
pub struct RouteTable {
    routes: Vec<RouteView>,
}

/// The `{name}` of the plugin routes.
const NAME: &str = "The plugin's name";

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

/// Installs or upgrades a plugin from its `.wasm`.
#[utoipa::path(
    post, path = "/api/v1/admin/plugins", tag = "admin", operation_id = "plugins_install",
    params(
        ("force" = Option<bool>, Query, description = "Install a version that is not newer"),
        ("confirm_destructive" = Option<bool>, Query, description = "Apply a migration plan that drops data"),
        ("name" = Option<String>, Query, description = "A wasi:http component: its name"),
        ("mount" = Option<String>, Query, description = "A wasi:http component: the path it answers under"),
        ("public" = Option<bool>, Query, description = "A wasi:http component: callable without a token"),
        ("outbound" = Option<String>, Query, description = "A wasi:http component: origins it may call, comma-separated"),
        ("version" = Option<String>, Query, description = "A wasi:http component: its version"),
    ),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The plugin's component"),
    responses(
        (status = 201, description = "Installed: the install report", body = Report),
        (status = 200, description = "Upgraded: the install report, with the migration plan applied", body = Report),
        (status = 202, description = "Awaiting the operator's grant of what it requests", body = Report),
        AdminOnly, WithBody,
        (status = 409, description = "Not newer than the version installed (`version_not_newer`), a destructive migration unconfirmed (`confirmation_required`), or a route conflict", body = super::error::ErrorBody),
    )
)]
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

/// One plugin: what it serves, its versions, its history, a pending grant.
#[utoipa::path(
    get, path = "/api/v1/admin/plugins/{name}", tag = "admin", operation_id = "plugins_get",
    params(("name" = String, Path, pattern = r"^[a-z][a-z0-9-]{0,62}$", description = NAME)),
    responses((status = 200, body = PluginDetail), AdminOnly, BadParameters, NotFound)
)]
async fn get_plugin(
    State(state): State<AppState>,
    _: AdminCaller,
    PluginName(name): PluginName,
) -> Result<Json<PluginDetail>, ApiError> {
    let set = state.control.plugins.snapshot();
    let pending = state.control.plugins.pending(&name);
    let history = lifecycle::history(&state.control, &name).await?;
    let plugin = match set.plugins.get(&name) {
        Some(entry) => PluginOrName::Installed(Box::new(PluginView::of(entry))),
        None if pending.is_some() || !history.is_empty() => PluginOrName::NotServing {
            name: name.clone(),
            status: NotServing::NotServing,
        },
        None => return Err(ApiError::NotFound(format!("no plugin named `{name}`"))),
    };
    Ok(Json(PluginDetail {
        plugin,
        versions: lifecycle::versions(&state.control, &name).await?,
        history: history
            .into_iter()
            .map(|event| HistoryView {
                action: event.action,
                from_version: event.from_version,
                to_version: event.to_version,
                actor: event.actor,
                plan: event.plan,
                at: event.at,
            })
            .collect(),
        pending: pending.map(|p| PendingGrant {
            version: p.plugin.manifest.version.to_string(),
            requested: p.requested,
            missing: p.missing,
        }),
    }))
}

/// One plugin, with its versions and history.
#[derive(Serialize, ToSchema)]
pub struct PluginDetail {
    #[serde(flatten)]
    plugin: PluginOrName,
    /// The versions stored, oldest first.
    versions: Vec<String>,
    /// Every change of the plugin, oldest first.
    history: Vec<HistoryView>,
    /// A version awaiting the operator's grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<PendingGrant>,
}

/// One change of a plugin, as recorded.
#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    /// `installed`, `upgraded`, `reinstalled`, `rolled_back`, `disabled`,
    /// `enabled`, `removed`, `granted`, ...
    action: String,
    from_version: Option<String>,
    to_version: Option<String>,
    /// The admin who made it (none for the server itself).
    actor: Option<String>,
    /// The migration plan it applied.
    #[schema(value_type = Option<Object>)]
    plan: Option<serde_json::Value>,
    /// RFC 3339.
    at: String,
}

/// An installed plugin, or the name of one that serves no version.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum PluginOrName {
    Installed(Box<PluginView>),
    /// Removed, or awaiting a grant before its first version serves.
    NotServing {
        name: String,
        status: NotServing,
    },
}

/// The status of a plugin that serves no version.
#[derive(Serialize, ToSchema)]
pub enum NotServing {
    #[serde(rename = "not_serving")]
    NotServing,
}

/// What a version awaiting the operator's grant asks.
#[derive(Serialize, ToSchema)]
pub struct PendingGrant {
    version: String,
    requested: Grant,
    missing: Grant,
}

/// Stops serving a plugin's routes and events; its data stays.
#[utoipa::path(
    post, path = "/api/v1/admin/plugins/{name}/disable", tag = "admin", operation_id = "plugins_disable",
    params(("name" = String, Path, pattern = r"^[a-z][a-z0-9-]{0,62}$", description = NAME)),
    responses((status = 200, body = PluginState), AdminOnly, BadParameters, NotFound, Conflict)
)]
async fn disable(
    State(state): State<AppState>,
    admin: AdminCaller,
    PluginName(name): PluginName,
) -> Result<Json<PluginState>, ApiError> {
    set_enabled(&state, admin, name, false).await
}

/// Serves a disabled plugin again.
#[utoipa::path(
    post, path = "/api/v1/admin/plugins/{name}/enable", tag = "admin", operation_id = "plugins_enable",
    params(("name" = String, Path, pattern = r"^[a-z][a-z0-9-]{0,62}$", description = NAME)),
    responses((status = 200, body = PluginState), AdminOnly, BadParameters, NotFound, Conflict)
)]
async fn enable(
    State(state): State<AppState>,
    admin: AdminCaller,
    PluginName(name): PluginName,
) -> Result<Json<PluginState>, ApiError> {
    set_enabled(&state, admin, name, true).await
}

async fn set_enabled(
    state: &AppState,
    AdminCaller(admin): AdminCaller,
    name: String,
    enabled: bool,
) -> Result<Json<PluginState>, ApiError> {
    lifecycle::set_enabled(&state.control, &name, enabled, Some(&admin.email)).await?;
    let status = if enabled { "active" } else { "disabled" };
    Ok(Json(PluginState { name, status }))
}

/// Goes back to the version before the current one.
#[utoipa::path(
    post, path = "/api/v1/admin/plugins/{name}/rollback", tag = "admin", operation_id = "plugins_rollback",
    params(("name" = String, Path, pattern = r"^[a-z][a-z0-9-]{0,62}$", description = NAME)),
    responses((status = 200, description = "The rollback report", body = Report), AdminOnly, BadParameters, NotFound, Conflict)
)]
async fn rollback(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PluginName(name): PluginName,
) -> Result<Response, ApiError> {
    let report = lifecycle::rollback(&state.control, &name, Some(&admin.email)).await?;
    Ok(Json(report).into_response())
}

/// Removes a plugin; `purge=true` drops its tables too.
#[utoipa::path(
    delete, path = "/api/v1/admin/plugins/{name}", tag = "admin", operation_id = "plugins_remove",
    params(
        ("name" = String, Path, pattern = r"^[a-z][a-z0-9-]{0,62}$", description = NAME),
        ("purge" = Option<bool>, Query, description = "Drop the plugin's tables and data"),
    ),
    responses((status = 204, description = "Removed"), AdminOnly, BadParameters, NotFound, Conflict)
)]
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

/// The plugins: serving, awaiting a grant, and refused at start.
#[utoipa::path(
    get, path = "/api/v1/admin/plugins", tag = "admin", operation_id = "plugins_list",
    responses((status = 200, body = PluginList), AdminOnly)
)]
async fn list_plugins(_: AdminCaller, State(state): State<AppState>) -> Json<PluginList> {
    let set = state.control.plugins.snapshot();
    Json(PluginList {
        plugins: set.plugins.values().map(PluginView::of).collect(),
        pending: state
            .control
            .plugins
            .all_pending()
            .iter()
            .map(|p| PendingView {
                name: p.plugin.manifest.name.clone(),
                version: p.plugin.manifest.version.to_string(),
                status: "awaiting_grant",
                source: p.source.as_str(),
                requested: p.requested.clone(),
                missing: p.missing.clone(),
            })
            .collect(),
        refused: state.control.plugins.refusals(),
        allocator: match state.control.runtime.allocator() {
            AllocatorKind::Pooling => "pooling",
            AllocatorKind::OnDemand => "on_demand",
        },
        compile_cache: state.control.runtime.cache_stats().into(),
    })
}

/// The plugins of the server.
#[derive(Serialize, ToSchema)]
pub struct PluginList {
    /// Installed plugins, serving or disabled.
    plugins: Vec<PluginView>,
    /// Versions awaiting the operator's grant.
    pending: Vec<PendingView>,
    /// Plugins refused at start, and why.
    refused: Vec<Refusal>,
    /// The instance allocator: `pooling` or `on_demand`.
    allocator: &'static str,
    compile_cache: CompileCache,
}

/// An installed plugin.
#[derive(Serialize, ToSchema)]
pub struct PluginView {
    name: String,
    /// `kai-fusion`, or `wasi-http` for a mounted component.
    kind: &'static str,
    /// A mounted component's path.
    mount: Option<String>,
    version: String,
    description: String,
    /// `active` or `disabled`.
    status: &'static str,
    /// `bundled`, `directory` or `upload`.
    source: &'static str,
    /// Of the component's bytes, hex.
    sha256: String,
    size_bytes: u64,
    /// The host API range it needs.
    host_api: String,
    routes: Vec<DeclaredRoute>,
    limits: LimitsView,
    requested: Grant,
    granted: Grant,
}

impl PluginView {
    fn of(entry: &PluginEntry) -> Self {
        let manifest = &entry.plugin.manifest;
        let limits = &entry.plugin.limits;
        PluginView {
            name: manifest.name.clone(),
            kind: if manifest.mount.is_some() {
                "wasi-http"
            } else {
                "kai-fusion"
            },
            mount: manifest.mount.as_ref().map(|m| m.mount.clone()),
            version: manifest.version.to_string(),
            description: manifest.description.clone(),
            status: if entry.enabled { "active" } else { "disabled" },
            source: entry.source.as_str(),
            sha256: entry.plugin.sha256.clone(),
            size_bytes: entry.plugin.size_bytes as u64,
            host_api: manifest.host_api.to_string(),
            routes: manifest
                .routes
                .iter()
                .map(|r| DeclaredRoute {
                    method: r.method.clone(),
                    path: r.path.as_str().to_string(),
                    public: r.public,
                })
                .collect(),
            limits: LimitsView {
                timeout_ms: limits.timeout.as_millis() as u64,
                memory_bytes: limits.memory_bytes as u64,
                concurrent_requests: limits.concurrent_requests,
                max_response_bytes: limits.max_response_bytes as u64,
            },
            requested: manifest.requested_grant(),
            granted: (*entry.grant).clone(),
        }
    }
}

/// A route as the plugin declares it.
#[derive(Serialize, ToSchema)]
pub struct DeclaredRoute {
    method: String,
    path: String,
    /// Asked to be reachable without a token (served so only if granted).
    public: bool,
}

/// The limits a plugin's calls run under: what it asked, capped by the
/// server's settings.
#[derive(Serialize, ToSchema)]
pub struct LimitsView {
    timeout_ms: u64,
    memory_bytes: u64,
    /// HTTP requests run at once; 0 for no limit.
    concurrent_requests: u32,
    max_response_bytes: u64,
}

/// A version awaiting the operator's grant.
#[derive(Serialize, ToSchema)]
pub struct PendingView {
    name: String,
    version: String,
    /// `awaiting_grant`.
    status: &'static str,
    source: &'static str,
    requested: Grant,
    /// What it asks beyond what was granted.
    missing: Grant,
}

/// The compiled-code cache since start.
#[derive(Serialize, ToSchema)]
pub struct CompileCache {
    hits: u64,
    misses: u64,
}

impl From<CacheStats> for CompileCache {
    fn from(stats: CacheStats) -> Self {
        CompileCache {
            hits: stats.hits,
            misses: stats.misses,
        }
    }
}

/// Every route the server answers, core and plugin, with its owner.
#[utoipa::path(
    get, path = "/api/v1/admin/routes", tag = "admin", operation_id = "routes_list",
    responses((status = 200, body = RouteTable), AdminOnly)
)]
async fn list_routes(_: AdminCaller, State(state): State<AppState>) -> Json<RouteTable> {
    let mut routes: Vec<RouteView> = state
        .control
        .plugins
        .core_routes()
        .iter()
        .map(|r| RouteView {
            method: r.method.to_string(),
            path: r.pattern.as_str().to_string(),
            owner: "core".into(),
            version: None,
            public: None,
        })
        .collect();
    let set = state.control.plugins.snapshot();
    routes.extend(set.routes.entries().iter().map(|e| RouteView {
        method: e.method.clone(),
        path: e.pattern.as_str().to_string(),
        owner: format!("plugin:{}", e.plugin.manifest.name),
        version: Some(e.plugin.manifest.version.to_string()),
        public: Some(e.public),
    }));
    Json(RouteTable { routes })
}

/// The operator's decision: `{"accept_requested": true}`, or
/// `{"grant": {...}}` with a subset of what the plugin requested.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    accept_requested: Option<bool>,
    /// The capabilities granted, in the shape of the plugin's `requested`.
    grant: Option<Grant>,
}

/// Grants what a plugin requested (or a subset); a version waiting for it
/// goes live.
#[utoipa::path(
    post, path = "/api/v1/admin/plugins/{name}/grants", tag = "admin", operation_id = "plugins_grant",
    params(("name" = String, Path, pattern = r"^[a-z][a-z0-9-]{0,62}$", description = NAME)),
    request_body = GrantBody,
    responses((status = 200, description = "The decision and the plugin's state", body = GrantDecision), AdminOnly, WithBody, NotFound, Conflict)
)]
async fn grant(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PluginName(name): PluginName,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<Json<GrantDecision>, ApiError> {
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
    Ok(Json(decision))
}
