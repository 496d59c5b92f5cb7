//! `/api/v1/workflows/{id}/executions`: starting runs of a workflow, and
//! reading, listing, cancelling and retrying them. A run is queued and
//! answered `202` at once; the runner's workers (on any node) run it, and
//! its status and timeline show how far it is.

use super::CoreApi;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, QueryParams, path_id};
use super::listing::Page;
use super::openapi::{Authenticated, BadParameters, Conflict, NotFound, WithBody};
use super::unit::Unit;
use crate::domain::execution::{Execution, ExecutionStatus, StepRecord};
use crate::services::executions;
use crate::state::AppState;
use crate::util::format_micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(start, list))
        .route(routes!(get))
        .route(routes!(cancel))
        .route(routes!(retry))
}

/// The body of `POST /api/v1/workflows/{id}/executions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// What the first node gets (any JSON, up to 1 MiB); null when left out.
    #[serde(default)]
    #[schema(value_type = serde_json::Value)]
    input: Value,
}

/// An execution of a workflow.
#[derive(Serialize, ToSchema)]
pub struct ExecutionView {
    id: String,
    workflow_id: String,
    /// The workflow version it runs, pinned when it started.
    version: i64,
    /// Who started it: its steps act as them.
    owner: String,
    /// `queued`, `running`, `waiting` (a delay, a retry's backoff, a
    /// sub-run), `succeeded`, `failed` or `cancelled`.
    status: String,
    /// What started it: `manual`, `event`, `schedule`, `webhook` or
    /// `workflow` (a sub-run).
    trigger: String,
    /// For a sub-run: the execution whose `workflow` node started it.
    parent_id: Option<String>,
    /// What it started with (left out of lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    input: Option<Value>,
    /// Once succeeded: the output of the step that ended the run, or an
    /// object of them by node when several ways through the graph ended
    /// (left out of lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    output: Option<Value>,
    /// Once failed: which node failed, and why.
    error: Option<String>,
    /// Attempts in its timeline.
    steps: i64,
    /// The StateManager thread holding its checkpoints (readable through
    /// `/api/v1/state/threads/{id}`).
    thread_id: String,
    /// RFC 3339, UTC.
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    updated_at: String,
    /// Every attempt of every step, oldest first (on `GET` of one
    /// execution): the first 1,000 after `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<Vec<StepView>>,
    /// When the timeline goes on past this answer: pass it as `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline_next: Option<i64>,
}

/// One attempt of one step.
#[derive(Serialize, ToSchema)]
pub struct StepView {
    seq: i64,
    node_id: String,
    kind: String,
    /// 1 on the first attempt.
    attempt: u32,
    /// `succeeded`, `retrying` (failed for now; another attempt follows),
    /// `failed`, or `waiting` (a `workflow` node started the sub-run its
    /// output names, and waits for it).
    status: String,
    #[schema(value_type = serde_json::Value)]
    input: Value,
    #[schema(value_type = Option<serde_json::Value>)]
    output: Option<Value>,
    error: Option<String>,
    /// RFC 3339, UTC.
    started_at: String,
    duration_ms: f64,
    /// The worker that ran it: `<server node id>/<n>`.
    worker: String,
}

impl ExecutionView {
    /// One execution; with its data and a page of its timeline when
    /// `timeline` is given (a listing gives neither).
    fn of(execution: &Execution, timeline: Option<&[StepRecord]>) -> Self {
        ExecutionView {
            id: execution.id.clone(),
            workflow_id: execution.workflow_id.clone(),
            version: execution.version,
            owner: execution.owner.clone(),
            status: execution.status.as_str().to_string(),
            trigger: execution.started_by.as_str().to_string(),
            parent_id: execution.parent_id.clone(),
            input: timeline.map(|_| execution.input.clone()),
            output: timeline.and(execution.output.clone()),
            error: execution.error.clone(),
            steps: execution.steps,
            thread_id: execution.thread_id.clone(),
            created_at: format_micros(execution.created_at),
            started_at: execution.started_at.map(format_micros),
            finished_at: execution.finished_at.map(format_micros),
            updated_at: format_micros(execution.updated_at),
            timeline_next: timeline
                .filter(|steps| steps.len() as u32 == executions::TIMELINE_PAGE)
                .and_then(|steps| steps.last())
                .map(|step| step.seq),
            timeline: timeline.map(|steps| {
                steps
                    .iter()
                    .map(|s| StepView {
                        seq: s.seq,
                        node_id: s.node_id.clone(),
                        kind: s.kind.clone(),
                        attempt: s.attempt,
                        status: s.status.as_str().to_string(),
                        input: s.input.clone(),
                        output: s.output.clone(),
                        error: s.error.clone(),
                        started_at: format_micros(s.started_at),
                        duration_ms: s.duration_us as f64 / 1000.0,
                        worker: s.worker.clone(),
                    })
                    .collect()
            }),
        }
    }
}

/// The workflow's and the execution's ids from the path, checked.
fn ids(id: &str, execution_id: &str) -> Result<(String, String), ApiError> {
    Ok((path_id("id", id)?, path_id("execution_id", execution_id)?))
}

const WORKFLOW_ID: &str = "The workflow's id";
const EXECUTION_ID: &str = "The execution's id";

/// The answer `202 Accepted` with the execution and where to follow it.
fn accepted(execution: &Execution) -> Response {
    (
        StatusCode::ACCEPTED,
        [(
            header::LOCATION,
            format!(
                "/api/v1/workflows/{}/executions/{}",
                execution.workflow_id, execution.id
            ),
        )],
        Json(ExecutionView::of(execution, None)),
    )
        .into_response()
}

/// Starts a run of the workflow's newest version with `input`. It is
/// queued and answered at once; a node kind the server does not run, or a
/// plugin's kind no enabled plugin runs, is a 422 naming the node.
#[utoipa::path(
    post, path = "/api/v1/workflows/{id}/executions", tag = "workflows",
    operation_id = "executions_start",
    params(("id" = uuid::Uuid, Path, description = WORKFLOW_ID)),
    request_body = StartBody,
    responses(
        (status = 202, body = ExecutionView, headers(("Location" = String, description = "The execution"))),
        Authenticated, WithBody, NotFound,
    )
)]
async fn start(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<Response, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let kinds = state.control.plugins.snapshot();
    let execution = executions::start(
        &unit.ctx(),
        &id,
        body.input,
        Some(kinds.node_kinds()),
        executions::Origin::MANUAL,
    )
    .await?;
    unit.commit().await?;
    state.runner.wake();
    Ok(accepted(&execution))
}

/// The workflow's executions the caller started (an admin's: all), newest
/// first.
#[utoipa::path(
    get, path = "/api/v1/workflows/{id}/executions", tag = "workflows",
    operation_id = "executions_list",
    params(
        ("id" = uuid::Uuid, Path, description = WORKFLOW_ID),
        ("status" = Option<String>, Query, description = "Only executions in this status: queued, running, waiting, succeeded, failed or cancelled"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = Page<ExecutionView>), Authenticated, BadParameters, NotFound)
)]
async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<Page<ExecutionView>>, ApiError> {
    let id = path_id("id", &id)?;
    let params = QueryParams::parse(&uri, &["status", "limit", "cursor"])?;
    let status = params
        .get("status")
        .map(|text| {
            ExecutionStatus::parse(text).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "query parameter `status`: `{text}` is not a status; use one of {}",
                    ExecutionStatus::ALL.map(|s| s.as_str()).join(", ")
                ))
            })
        })
        .transpose()?;
    let unit = Unit::new(&state, &principal);
    let (items, next) = executions::list(
        &unit.ctx(),
        &id,
        status,
        params.page_limit()?,
        params.get("cursor"),
    )
    .await?;
    Ok(Json(Page {
        items: items.iter().map(|e| ExecutionView::of(e, None)).collect(),
        next_cursor: next,
    }))
}

/// One execution with its timeline: each step's attempts, with input,
/// output, error, start and duration.
#[utoipa::path(
    get, path = "/api/v1/workflows/{id}/executions/{execution_id}", tag = "workflows",
    operation_id = "executions_get",
    params(
        ("id" = uuid::Uuid, Path, description = WORKFLOW_ID),
        ("execution_id" = uuid::Uuid, Path, description = EXECUTION_ID),
        ("after" = Option<u32>, Query, minimum = 0, maximum = 2147483647, description = "The timeline from the attempt after this seq (`timeline_next` of the previous answer); from the first by default"),
    ),
    responses((status = 200, body = ExecutionView), Authenticated, BadParameters, NotFound)
)]
async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path((id, execution_id)): Path<(String, String)>,
    uri: Uri,
) -> Result<Json<ExecutionView>, ApiError> {
    let (id, execution_id) = ids(&id, &execution_id)?;
    let params = QueryParams::parse(&uri, &["after"])?;
    let after = params.parsed::<u32>("after", "a step's seq")?.unwrap_or(0);
    if after > i32::MAX as u32 {
        return Err(ApiError::BadRequest(format!(
            "query parameter `after`: {after} is past the largest seq, {}",
            i32::MAX
        )));
    }
    let unit = Unit::new(&state, &principal);
    let (execution, timeline) =
        executions::get_with_timeline(&unit.ctx(), &id, &execution_id, i64::from(after)).await?;
    Ok(Json(ExecutionView::of(&execution, Some(&timeline))))
}

/// Cancels a queued, running or waiting execution: nothing more of it
/// runs, and a step running now is not kept. An ended one is a 409.
#[utoipa::path(
    post, path = "/api/v1/workflows/{id}/executions/{execution_id}/cancel", tag = "workflows",
    operation_id = "executions_cancel",
    params(
        ("id" = uuid::Uuid, Path, description = WORKFLOW_ID),
        ("execution_id" = uuid::Uuid, Path, description = EXECUTION_ID),
    ),
    responses((status = 200, body = ExecutionView), Authenticated, BadParameters, NotFound, Conflict)
)]
async fn cancel(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path((id, execution_id)): Path<(String, String)>,
) -> Result<Json<ExecutionView>, ApiError> {
    let (id, execution_id) = ids(&id, &execution_id)?;
    let unit = Unit::new(&state, &principal);
    let execution = executions::cancel(&unit.ctx(), &id, &execution_id).await?;
    unit.commit().await?;
    Ok(Json(ExecutionView::of(&execution, None)))
}

/// Runs a failed execution again from the node that failed it (its
/// attempts counted on); the steps before it are not run again. Any other
/// status is a 409.
#[utoipa::path(
    post, path = "/api/v1/workflows/{id}/executions/{execution_id}/retry", tag = "workflows",
    operation_id = "executions_retry",
    params(
        ("id" = uuid::Uuid, Path, description = WORKFLOW_ID),
        ("execution_id" = uuid::Uuid, Path, description = EXECUTION_ID),
    ),
    responses(
        (status = 202, body = ExecutionView, headers(("Location" = String, description = "The execution"))),
        Authenticated, BadParameters, NotFound, Conflict,
    )
)]
async fn retry(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path((id, execution_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (id, execution_id) = ids(&id, &execution_id)?;
    let unit = Unit::new(&state, &principal);
    let execution = executions::retry(&unit.ctx(), &id, &execution_id).await?;
    unit.commit().await?;
    state.runner.wake();
    Ok(accepted(&execution))
}
