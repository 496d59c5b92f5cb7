//! `/api/v1/workflows`: workflow definitions, each save a new version.
//! Members see their own workflows, admins all.

use super::CoreApi;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, JsonObject, QueryParams, path_id};
use super::listing::{Page, created};
use super::openapi::{Authenticated, BadParameters, NotFound, WithBody};
use super::unit::Unit;
use crate::domain::trigger::{Trigger, TriggerSpec};
use crate::domain::workflow::{Edge, Graph, Node, Retry, Workflow, WorkflowInput, WorkflowVersion};
use crate::services::workflows::{self, Saved};
use crate::state::AppState;
use crate::util::format_micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(create, list))
        .route(routes!(get, update, delete))
        .route(routes!(versions))
        .route(routes!(version))
        .route(routes!(rotate_webhook))
}

/// The body of `POST /api/v1/workflows` and `PUT /api/v1/workflows/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowBody {
    /// 1 to 200 characters.
    name: String,
    /// Up to 4000 characters; on `PUT`, the current one when left out.
    description: Option<String>,
    /// 1 to 500 nodes; the first is where a run starts.
    #[schema(value_type = Vec<NodeBody>)]
    nodes: Vec<JsonObject<NodeBody>>,
    /// Up to 2000 edges.
    #[serde(default)]
    #[schema(value_type = Vec<EdgeBody>)]
    edges: Vec<JsonObject<EdgeBody>>,
    /// Up to 20 triggers: what starts runs besides a request. On `PUT`,
    /// the current ones when left out.
    #[serde(default)]
    #[schema(value_type = Option<Vec<TriggerBody>>)]
    triggers: Option<Vec<JsonObject<TriggerBody>>>,
}

/// What starts a workflow's runs besides a request. Each run's input says
/// what started it: `{"trigger": "event", "event", "document", "old"}`,
/// `{"trigger": "schedule", "scheduled_at"}` or `{"trigger": "webhook",
/// "body"}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    /// `event`: a change of a document in a collection (its run is queued
    /// with the change; changes that runs make start nothing); `schedule`:
    /// a cron expression, UTC (a tick missed while no server ran runs once
    /// on start); `webhook`: `POST /api/v1/hooks/{workflow}/{secret}`, the
    /// secret shown once, in the answer of the save that adds it.
    #[serde(rename = "type")]
    #[schema(example = "event")]
    kind: String,
    /// For `event`: `document.created`, `document.updated` or
    /// `document.deleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    /// For `event`: the collection whose documents it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    collection_id: Option<String>,
    /// For `schedule`: five fields (minute hour day-of-month month
    /// day-of-week), or six with seconds first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "*/5 * * * *")]
    cron: Option<String>,
}

impl From<&Trigger> for TriggerBody {
    fn from(trigger: &Trigger) -> Self {
        let mut body = TriggerBody {
            kind: trigger.kind().to_string(),
            event: None,
            collection_id: None,
            cron: None,
        };
        match trigger {
            Trigger::Event {
                event,
                collection_id,
            } => {
                body.event = Some(event.as_str().to_string());
                body.collection_id = Some(collection_id.clone());
            }
            Trigger::Schedule { cron } => body.cron = Some(cron.clone()),
            Trigger::Webhook => {}
        }
        body
    }
}

/// One node of a graph.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeBody {
    /// Unique in the graph: 1 to 64 letters, digits, `_` or `-`.
    id: String,
    /// `http`, `transform`, `branch`, `loop`, `delay`, `parallel`, `join`,
    /// `memory.append`, `memory.window`, `document.create`,
    /// `document.update`, `document.search` or `workflow`.
    kind: String,
    /// What the kind needs (`url` for `http`, a jq `expression` for
    /// `transform`, `max_iterations` for `loop`, ...).
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Map<String, Value>,
    /// Tries a step that failed for now again, up to `max` (0 to 10) more
    /// times, waiting `backoff_ms` (default 1000) before the first retry
    /// and twice as long before each next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RetryBody>)]
    retry: Option<JsonObject<RetryBody>>,
    /// A deadline per attempt, 1 to 600,000 ms; the plugin's own when
    /// shorter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 600000)]
    timeout_ms: Option<u32>,
}

/// A node's retry policy.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// Retries after the first attempt, 0 to 10.
    #[schema(minimum = 0, maximum = 10)]
    max: u32,
    /// Milliseconds before the first retry, 0 to 3,600,000 (default 1000).
    #[serde(default = "default_backoff_ms")]
    #[schema(minimum = 0, maximum = 3600000)]
    backoff_ms: u32,
}

fn default_backoff_ms() -> u32 {
    1000
}

/// One edge of a graph.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeBody {
    from: String,
    to: String,
    /// On an edge leaving a `branch` or `loop` node: a jq expression over
    /// the run's data; the edge is taken when it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
}

/// A workflow at its newest version.
#[derive(Serialize, ToSchema)]
pub struct WorkflowView {
    id: String,
    /// The owner's user id.
    owner: String,
    name: String,
    description: String,
    /// 1 for the first save, one more for each save after.
    version: i64,
    nodes: Vec<NodeBody>,
    edges: Vec<EdgeBody>,
    triggers: Vec<TriggerBody>,
    /// The webhook's address with its secret: only in the answer of the
    /// save that adds a webhook trigger, and of `POST .../webhook`; it is
    /// not kept and cannot be read again.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_url: Option<String>,
    /// RFC 3339, UTC.
    created_at: String,
    updated_at: String,
}

/// One saved version of a workflow.
#[derive(Serialize, ToSchema)]
pub struct WorkflowVersionView {
    workflow_id: String,
    version: i64,
    name: String,
    description: String,
    nodes: Vec<NodeBody>,
    edges: Vec<EdgeBody>,
    /// When this version was saved.
    created_at: String,
}

fn node_views(graph: &Graph) -> (Vec<NodeBody>, Vec<EdgeBody>) {
    (
        graph
            .nodes
            .iter()
            .map(|n| NodeBody {
                id: n.id.clone(),
                kind: n.kind.clone(),
                config: n.config.clone(),
                retry: n.retry.map(|r| {
                    JsonObject(RetryBody {
                        max: r.max,
                        backoff_ms: r.backoff_ms,
                    })
                }),
                timeout_ms: n.timeout_ms,
            })
            .collect(),
        graph
            .edges
            .iter()
            .map(|e| EdgeBody {
                from: e.from.clone(),
                to: e.to.clone(),
                condition: e.condition.clone(),
            })
            .collect(),
    )
}

impl From<&Workflow> for WorkflowView {
    fn from(w: &Workflow) -> Self {
        let (nodes, edges) = node_views(&w.graph);
        WorkflowView {
            id: w.id.clone(),
            owner: w.owner.clone(),
            name: w.name.clone(),
            description: w.description.clone(),
            version: w.version,
            nodes,
            edges,
            triggers: w.triggers.iter().map(TriggerBody::from).collect(),
            webhook_url: None,
            created_at: format_micros(w.created_at),
            updated_at: format_micros(w.updated_at),
        }
    }
}

impl From<&Saved> for WorkflowView {
    fn from(saved: &Saved) -> Self {
        WorkflowView {
            webhook_url: saved
                .webhook_secret
                .as_ref()
                .map(|secret| webhook_url(&saved.workflow.id, secret)),
            ..WorkflowView::from(&saved.workflow)
        }
    }
}

/// The path a webhook is called at.
fn webhook_url(workflow: &str, secret: &str) -> String {
    format!("/api/v1/hooks/{workflow}/{secret}")
}

impl From<&WorkflowVersion> for WorkflowVersionView {
    fn from(v: &WorkflowVersion) -> Self {
        let (nodes, edges) = node_views(&v.graph);
        WorkflowVersionView {
            workflow_id: v.workflow_id.clone(),
            version: v.version,
            name: v.name.clone(),
            description: v.description.clone(),
            nodes,
            edges,
            created_at: format_micros(v.created_at),
        }
    }
}

impl From<WorkflowBody> for WorkflowInput {
    fn from(body: WorkflowBody) -> Self {
        WorkflowInput {
            name: body.name,
            description: body.description,
            graph: Graph {
                nodes: body
                    .nodes
                    .into_iter()
                    .map(|JsonObject(n)| Node {
                        id: n.id,
                        kind: n.kind,
                        config: n.config,
                        retry: n.retry.map(|JsonObject(r)| Retry {
                            max: r.max,
                            backoff_ms: r.backoff_ms,
                        }),
                        timeout_ms: n.timeout_ms,
                    })
                    .collect(),
                edges: body
                    .edges
                    .into_iter()
                    .map(|JsonObject(e)| Edge {
                        from: e.from,
                        to: e.to,
                        condition: e.condition,
                    })
                    .collect(),
            },
            triggers: body.triggers.map(|triggers| {
                triggers
                    .into_iter()
                    .map(|JsonObject(t)| TriggerSpec {
                        kind: t.kind,
                        event: t.event,
                        collection_id: t.collection_id,
                        cron: t.cron,
                    })
                    .collect()
            }),
        }
    }
}

const WORKFLOW_ID: &str = "The workflow's id";

/// Saves a new workflow (version 1) after checking its graph: unknown node
/// kinds, dangling edges, unreachable nodes, missing config and cycles
/// that pass through no `loop` node are 422s naming the node or edge.
#[utoipa::path(
    post, path = "/api/v1/workflows", tag = "workflows", operation_id = "workflows_create",
    request_body = WorkflowBody,
    responses(
        (status = 201, body = WorkflowView, headers(("Location" = String, description = "The new workflow"))),
        Authenticated, WithBody,
    )
)]
async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiJson(body): ApiJson<WorkflowBody>,
) -> Result<Response, ApiError> {
    let unit = Unit::new(&state, &principal);
    let saved = workflows::create(
        &unit.ctx(),
        body.into(),
        state.control.plugins.snapshot().node_kinds().clone(),
    )
    .await?;
    unit.commit().await?;
    reload_triggers(&state).await;
    Ok(created(
        format!("/api/v1/workflows/{}", saved.workflow.id),
        WorkflowView::from(&saved),
    ))
}

/// The caller's workflows (an admin's: all), oldest first.
#[utoipa::path(
    get, path = "/api/v1/workflows", tag = "workflows", operation_id = "workflows_list",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = Page<WorkflowView>), Authenticated, BadParameters)
)]
async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    uri: Uri,
) -> Result<Json<Page<WorkflowView>>, ApiError> {
    let params = QueryParams::parse(&uri, &["limit", "cursor"])?;
    let unit = Unit::new(&state, &principal);
    let (items, next) =
        workflows::list(&unit.ctx(), params.page_limit()?, params.get("cursor")).await?;
    Ok(Json(Page {
        items: items.iter().map(WorkflowView::from).collect(),
        next_cursor: next,
    }))
}

/// One workflow at its newest version.
#[utoipa::path(
    get, path = "/api/v1/workflows/{id}", tag = "workflows", operation_id = "workflows_get",
    params(("id" = uuid::Uuid, Path, description = WORKFLOW_ID)),
    responses((status = 200, body = WorkflowView), Authenticated, BadParameters, NotFound)
)]
async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkflowView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let workflow = workflows::get(&unit.ctx(), &id).await?;
    Ok(Json(WorkflowView::from(&workflow)))
}

/// Saves a new version of the workflow, checked as a new one is.
#[utoipa::path(
    put, path = "/api/v1/workflows/{id}", tag = "workflows", operation_id = "workflows_update",
    params(("id" = uuid::Uuid, Path, description = WORKFLOW_ID)),
    request_body = WorkflowBody,
    responses((status = 200, body = WorkflowView), Authenticated, WithBody, NotFound)
)]
async fn update(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WorkflowBody>,
) -> Result<Json<WorkflowView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let saved = workflows::update(
        &unit.ctx(),
        &id,
        body.into(),
        state.control.plugins.snapshot().node_kinds().clone(),
    )
    .await?;
    unit.commit().await?;
    reload_triggers(&state).await;
    Ok(Json(WorkflowView::from(&saved)))
}

/// After a save or a delete: this server's event triggers read again (the
/// other server nodes read them within a second).
async fn reload_triggers(state: &AppState) {
    if let Err(error) = state.core.triggers.reload(&state.db).await {
        tracing::warn!(%error, "reloading the workflows' event triggers failed");
    }
}

/// A new secret for the workflow's webhook: the answer holds its address,
/// shown this once; the old secret stops working.
#[utoipa::path(
    post, path = "/api/v1/workflows/{id}/webhook", tag = "workflows", operation_id = "workflows_rotate_webhook",
    params(("id" = uuid::Uuid, Path, description = WORKFLOW_ID)),
    responses(
        (status = 200, body = WorkflowView),
        (status = 409, description = "The workflow has no webhook trigger", body = super::error::ErrorBody),
        Authenticated, BadParameters, NotFound,
    )
)]
async fn rotate_webhook(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkflowView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let secret = workflows::rotate_webhook(&unit.ctx(), &id).await?;
    let workflow = workflows::get(&unit.ctx(), &id).await?;
    unit.commit().await?;
    Ok(Json(WorkflowView::from(&Saved {
        workflow,
        webhook_secret: Some(secret),
    })))
}

/// Deletes a workflow with every version of it.
#[utoipa::path(
    delete, path = "/api/v1/workflows/{id}", tag = "workflows", operation_id = "workflows_delete",
    params(("id" = uuid::Uuid, Path, description = WORKFLOW_ID)),
    responses((status = 204, description = "Deleted"), Authenticated, BadParameters, NotFound)
)]
async fn delete(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    workflows::delete(&unit.ctx(), &id).await?;
    unit.commit().await?;
    reload_triggers(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The workflow's versions, newest first.
#[utoipa::path(
    get, path = "/api/v1/workflows/{id}/versions", tag = "workflows", operation_id = "workflows_versions",
    params(
        ("id" = uuid::Uuid, Path, description = WORKFLOW_ID),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = Page<WorkflowVersionView>), Authenticated, BadParameters, NotFound)
)]
async fn versions(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<Page<WorkflowVersionView>>, ApiError> {
    let id = path_id("id", &id)?;
    let params = QueryParams::parse(&uri, &["limit", "cursor"])?;
    let unit = Unit::new(&state, &principal);
    let (items, next) =
        workflows::versions(&unit.ctx(), &id, params.page_limit()?, params.get("cursor")).await?;
    Ok(Json(Page {
        items: items.iter().map(WorkflowVersionView::from).collect(),
        next_cursor: next,
    }))
}

/// One saved version of the workflow, as a run that started on it sees it.
#[utoipa::path(
    get, path = "/api/v1/workflows/{id}/versions/{version}", tag = "workflows", operation_id = "workflows_version",
    params(
        ("id" = uuid::Uuid, Path, description = WORKFLOW_ID),
        ("version" = i64, Path, minimum = 1, description = "The version, from 1"),
    ),
    responses((status = 200, body = WorkflowVersionView), Authenticated, BadParameters, NotFound)
)]
async fn version(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path((id, version)): Path<(String, String)>,
) -> Result<Json<WorkflowVersionView>, ApiError> {
    let id = path_id("id", &id)?;
    let version: i64 = version.parse().ok().filter(|v| *v >= 1).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "path parameter `version`: `{version}` is not a version (a whole number from 1)"
        ))
    })?;
    let unit = Unit::new(&state, &principal);
    let found = workflows::version(&unit.ctx(), &id, version).await?;
    Ok(Json(WorkflowVersionView::from(&found)))
}
