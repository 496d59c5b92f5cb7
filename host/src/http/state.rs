//! `/api/v1/state/threads`: the StateManager's threads and checkpoints,
//! for inspection, administration and clients that checkpoint their own
//! work. Members see their own threads, admins all; a plugin's threads
//! are read and deleted here but advance only through the plugin.

use super::CoreApi;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, JsonObject, QueryParams, path_id};
use super::listing::{Page, created};
use super::openapi::{Authenticated, BadParameters, Conflict, NotFound, WithBody};
use super::unit::Unit;
use crate::domain::state::{
    Checkpoint, NewCheckpoint, NewThread, PendingWrite, Thread, ThreadChange,
};
use crate::services::state::{self, Actor};
use crate::state::AppState;
use crate::util::format_micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(create_thread, list_threads))
        .route(routes!(get_thread, update_thread, delete_thread))
        .route(routes!(put_checkpoint, history))
        .route(routes!(latest))
        .route(routes!(get_checkpoint))
        .route(routes!(put_writes))
        .route(routes!(fork))
}

/// The body of `POST /api/v1/state/threads`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewThreadBody {
    /// A JSON object.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// How many checkpoints to keep, newest first; all when left out.
    #[schema(minimum = 1, maximum = 1000000)]
    keep_last: Option<u32>,
}

/// The body of `PATCH /api/v1/state/threads/{id}`: each field given is set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadPatch {
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// How many checkpoints to keep; `null` keeps all from now on. A smaller
    /// number removes the older checkpoints at once.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    keep_last: Option<Option<u32>>,
}

/// A field given (`Some`, possibly `null`), as opposed to left out.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The body of `POST .../checkpoints`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCheckpointBody {
    /// The thread's newest checkpoint as the caller read it; left out (or
    /// null) for a thread's first. Anything else is a 409.
    parent_id: Option<String>,
    /// The state after the step: any JSON value (required).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = serde_json::Value)]
    values: Option<Option<Value>>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// The body of `POST .../checkpoints/{checkpoint_id}/writes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WritesBody {
    /// Which task of the step wrote them.
    task: String,
    #[schema(value_type = Vec<WriteBody>)]
    writes: Vec<JsonObject<WriteBody>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteBody {
    channel: String,
    #[schema(value_type = serde_json::Value)]
    value: Value,
}

/// The body of `POST .../checkpoints/{checkpoint_id}/fork`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkBody {
    /// The new thread's metadata; the original's when left out.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// A thread as the REST API shows it.
#[derive(Serialize, ToSchema)]
pub struct ThreadView {
    id: String,
    /// The owner's user id.
    owner: String,
    /// The plugin that made it; null when made through the REST API.
    plugin: Option<String>,
    #[schema(value_type = Object)]
    metadata: Value,
    /// Checkpoints kept, newest first; null keeps all.
    keep_last: Option<u32>,
    /// The newest checkpoint; null before the first.
    head: Option<HeadView>,
    /// The checkpoint this thread was forked from.
    forked_from: Option<CheckpointRefView>,
    /// RFC 3339, UTC.
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct HeadView {
    checkpoint_id: String,
    step: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CheckpointRefView {
    thread_id: String,
    checkpoint_id: String,
}

/// A checkpoint as the REST API shows it.
#[derive(Serialize, ToSchema)]
pub struct CheckpointView {
    id: String,
    thread_id: String,
    /// Null for a thread's first checkpoint.
    parent_id: Option<String>,
    step: i64,
    #[schema(value_type = serde_json::Value)]
    values: Value,
    #[schema(value_type = Object)]
    metadata: Value,
    created_at: String,
}

/// A checkpoint with what unfinished steps wrote from it.
#[derive(Serialize, ToSchema)]
pub struct CheckpointDetail {
    #[serde(flatten)]
    checkpoint: CheckpointView,
    pending_writes: Vec<PendingWriteView>,
}

#[derive(Serialize, ToSchema)]
pub struct PendingWriteView {
    task: String,
    /// Its order among the task's writes, from 0.
    seq: i64,
    channel: String,
    #[schema(value_type = serde_json::Value)]
    value: Value,
    created_at: String,
}

fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl From<&Thread> for ThreadView {
    fn from(t: &Thread) -> Self {
        ThreadView {
            id: t.id.clone(),
            owner: t.owner.clone(),
            plugin: t.plugin.clone(),
            metadata: serde_json::from_str(&t.metadata).unwrap_or_else(|_| json!({})),
            keep_last: t.keep_last,
            head: t.head.as_ref().map(|h| HeadView {
                checkpoint_id: h.checkpoint_id.clone(),
                step: h.step,
            }),
            forked_from: t.forked_from.as_ref().map(|f| CheckpointRefView {
                thread_id: f.thread_id.clone(),
                checkpoint_id: f.checkpoint_id.clone(),
            }),
            created_at: format_micros(t.created_at),
            updated_at: format_micros(t.updated_at),
        }
    }
}

impl From<&Checkpoint> for CheckpointView {
    fn from(c: &Checkpoint) -> Self {
        CheckpointView {
            id: c.id.clone(),
            thread_id: c.thread_id.clone(),
            parent_id: c.parent_id.clone(),
            step: c.step,
            values: json_text(&c.values),
            metadata: serde_json::from_str(&c.metadata).unwrap_or_else(|_| json!({})),
            created_at: format_micros(c.created_at),
        }
    }
}

impl From<&PendingWrite> for PendingWriteView {
    fn from(w: &PendingWrite) -> Self {
        PendingWriteView {
            task: w.task.clone(),
            seq: w.seq,
            channel: w.channel.clone(),
            value: json_text(&w.value),
            created_at: format_micros(w.created_at),
        }
    }
}

/// Makes a thread owned by the caller.
#[utoipa::path(
    post, path = "/api/v1/state/threads", tag = "state", operation_id = "state_threads_create",
    request_body = NewThreadBody,
    responses(
        (status = 201, body = ThreadView, headers(("Location" = String, description = "The new thread"))),
        Authenticated, WithBody,
    )
)]
async fn create_thread(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiJson(body): ApiJson<NewThreadBody>,
) -> Result<Response, ApiError> {
    let unit = Unit::new(&state, &principal);
    let thread = state::create_thread(
        &unit.ctx(),
        Actor::Rest,
        NewThread {
            metadata: body.metadata,
            keep_last: body.keep_last,
        },
    )
    .await?;
    unit.commit().await?;
    Ok(created(
        format!("/api/v1/state/threads/{}", thread.id),
        ThreadView::from(&thread),
    ))
}

/// The caller's threads (an admin's: all), oldest first.
#[utoipa::path(
    get, path = "/api/v1/state/threads", tag = "state", operation_id = "state_threads_list",
    params(
        ("plugin" = Option<String>, Query, description = "Only the threads this plugin made; empty for those made through the REST API"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = Page<ThreadView>), Authenticated, BadParameters)
)]
async fn list_threads(
    State(state): State<AppState>,
    Caller(principal): Caller,
    uri: Uri,
) -> Result<Json<Page<ThreadView>>, ApiError> {
    let params = QueryParams::parse(&uri, &["plugin", "limit", "cursor"])?;
    let limit = params.page_limit()?;
    let unit = Unit::new(&state, &principal);
    let (items, next) = state::list_threads(
        &unit.ctx(),
        Actor::Rest,
        params.get("plugin"),
        limit,
        params.get("cursor"),
    )
    .await?;
    Ok(Json(Page {
        items: items.iter().map(ThreadView::from).collect(),
        next_cursor: next,
    }))
}

/// One thread, with its newest checkpoint's id and step.
#[utoipa::path(
    get, path = "/api/v1/state/threads/{id}", tag = "state", operation_id = "state_threads_get",
    params(("id" = uuid::Uuid, Path, description = "The thread's id")),
    responses((status = 200, body = ThreadView), Authenticated, BadParameters, NotFound)
)]
async fn get_thread(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<ThreadView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let thread = state::get_thread(&unit.ctx(), Actor::Rest, &id).await?;
    Ok(Json(ThreadView::from(&thread)))
}

/// Sets a thread's metadata or retention.
#[utoipa::path(
    patch, path = "/api/v1/state/threads/{id}", tag = "state", operation_id = "state_threads_update",
    params(("id" = uuid::Uuid, Path, description = "The thread's id")),
    request_body = ThreadPatch,
    responses((status = 200, body = ThreadView), Authenticated, WithBody, NotFound, Conflict)
)]
async fn update_thread(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ThreadPatch>,
) -> Result<Json<ThreadView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let thread = state::update_thread(
        &unit.ctx(),
        Actor::Rest,
        &id,
        ThreadChange {
            metadata: body.metadata,
            keep_last: body.keep_last,
        },
    )
    .await?;
    unit.commit().await?;
    Ok(Json(ThreadView::from(&thread)))
}

/// Deletes a thread, its checkpoints and their pending writes.
#[utoipa::path(
    delete, path = "/api/v1/state/threads/{id}", tag = "state", operation_id = "state_threads_delete",
    params(("id" = uuid::Uuid, Path, description = "The thread's id")),
    responses((status = 204, description = "Deleted"), Authenticated, BadParameters, NotFound)
)]
async fn delete_thread(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    state::delete_thread(&unit.ctx(), Actor::Rest, &id).await?;
    unit.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Puts a checkpoint on top of `parent_id` if it is still the thread's
/// newest: of writers that read the same head, one gets 201 and the
/// others 409.
#[utoipa::path(
    post, path = "/api/v1/state/threads/{id}/checkpoints", tag = "state", operation_id = "state_checkpoints_put",
    params(("id" = uuid::Uuid, Path, description = "The thread's id")),
    request_body = NewCheckpointBody,
    responses(
        (status = 201, body = CheckpointView, headers(("Location" = String, description = "The new checkpoint"))),
        Authenticated, WithBody, NotFound, Conflict,
    )
)]
async fn put_checkpoint(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewCheckpointBody>,
) -> Result<Response, ApiError> {
    let id = path_id("id", &id)?;
    let Some(values) = body.values else {
        return Err(ApiError::validation("values", "is required"));
    };
    let unit = Unit::new(&state, &principal);
    let checkpoint = state::put(
        &unit.ctx(),
        Actor::Rest,
        &id,
        NewCheckpoint {
            parent_id: body.parent_id,
            values: values.unwrap_or(Value::Null),
            metadata: body.metadata,
        },
    )
    .await?;
    unit.commit().await?;
    Ok(created(
        format!("/api/v1/state/threads/{id}/checkpoints/{}", checkpoint.id),
        CheckpointView::from(&checkpoint),
    ))
}

/// The thread's checkpoints, newest first.
#[utoipa::path(
    get, path = "/api/v1/state/threads/{id}/checkpoints", tag = "state", operation_id = "state_checkpoints_list",
    params(
        ("id" = uuid::Uuid, Path, description = "The thread's id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = Page<CheckpointView>), Authenticated, BadParameters, NotFound)
)]
async fn history(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<Page<CheckpointView>>, ApiError> {
    let id = path_id("id", &id)?;
    let params = QueryParams::parse(&uri, &["limit", "cursor"])?;
    let limit = params.page_limit()?;
    let unit = Unit::new(&state, &principal);
    let (items, next) =
        state::history(&unit.ctx(), Actor::Rest, &id, limit, params.get("cursor")).await?;
    Ok(Json(Page {
        items: items.iter().map(CheckpointView::from).collect(),
        next_cursor: next,
    }))
}

/// The thread's newest checkpoint, with its pending writes; 204 while the
/// thread has none.
#[utoipa::path(
    get, path = "/api/v1/state/threads/{id}/latest", tag = "state", operation_id = "state_checkpoints_latest",
    params(("id" = uuid::Uuid, Path, description = "The thread's id")),
    responses(
        (status = 200, body = CheckpointDetail),
        (status = 204, description = "The thread has no checkpoint yet"),
        Authenticated, BadParameters, NotFound,
    )
)]
async fn latest(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let ctx = unit.ctx();
    match state::latest(&ctx, Actor::Rest, &id).await? {
        Some(checkpoint) => Ok(detail(&ctx, checkpoint).await?.into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// One checkpoint, with what unfinished steps wrote from it.
#[utoipa::path(
    get, path = "/api/v1/state/threads/{id}/checkpoints/{checkpoint_id}", tag = "state", operation_id = "state_checkpoints_get",
    params(
        ("id" = uuid::Uuid, Path, description = "The thread's id"),
        ("checkpoint_id" = uuid::Uuid, Path, description = "The checkpoint's id"),
    ),
    responses((status = 200, body = CheckpointDetail), Authenticated, BadParameters, NotFound)
)]
async fn get_checkpoint(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path((id, checkpoint_id)): Path<(String, String)>,
) -> Result<Json<CheckpointDetail>, ApiError> {
    let id = path_id("id", &id)?;
    let checkpoint_id = path_id("checkpoint_id", &checkpoint_id)?;
    let unit = Unit::new(&state, &principal);
    let ctx = unit.ctx();
    let checkpoint = state::get_checkpoint(&ctx, Actor::Rest, &id, &checkpoint_id).await?;
    detail(&ctx, checkpoint).await
}

async fn detail(
    ctx: &crate::services::Ctx<'_>,
    checkpoint: Checkpoint,
) -> Result<Json<CheckpointDetail>, ApiError> {
    let writes = state::pending_writes_of(ctx, &checkpoint).await?;
    Ok(Json(CheckpointDetail {
        checkpoint: CheckpointView::from(&checkpoint),
        pending_writes: writes.iter().map(PendingWriteView::from).collect(),
    }))
}

/// Records writes a step running from the thread's newest checkpoint made
/// before it finished (409 when the checkpoint is no longer the newest).
#[utoipa::path(
    post, path = "/api/v1/state/threads/{id}/checkpoints/{checkpoint_id}/writes", tag = "state", operation_id = "state_writes_put",
    params(
        ("id" = uuid::Uuid, Path, description = "The thread's id"),
        ("checkpoint_id" = uuid::Uuid, Path, description = "The checkpoint the step runs from"),
    ),
    request_body = WritesBody,
    responses((status = 204, description = "Recorded"), Authenticated, WithBody, NotFound, Conflict)
)]
async fn put_writes(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path((id, checkpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<WritesBody>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("id", &id)?;
    let checkpoint_id = path_id("checkpoint_id", &checkpoint_id)?;
    let unit = Unit::new(&state, &principal);
    state::put_writes(
        &unit.ctx(),
        Actor::Rest,
        &id,
        &checkpoint_id,
        &body.task,
        body.writes
            .into_iter()
            .map(|JsonObject(w)| (w.channel, w.value))
            .collect(),
    )
    .await?;
    unit.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new thread starting from this checkpoint; the original is untouched.
#[utoipa::path(
    post, path = "/api/v1/state/threads/{id}/checkpoints/{checkpoint_id}/fork", tag = "state", operation_id = "state_threads_fork",
    params(
        ("id" = uuid::Uuid, Path, description = "The thread's id"),
        ("checkpoint_id" = uuid::Uuid, Path, description = "The checkpoint to start from"),
    ),
    request_body = ForkBody,
    responses(
        (status = 201, body = ThreadView, headers(("Location" = String, description = "The new thread"))),
        Authenticated, WithBody, NotFound, Conflict,
    )
)]
async fn fork(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path((id, checkpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ForkBody>,
) -> Result<Response, ApiError> {
    let id = path_id("id", &id)?;
    let checkpoint_id = path_id("checkpoint_id", &checkpoint_id)?;
    let unit = Unit::new(&state, &principal);
    let thread = state::fork(&unit.ctx(), Actor::Rest, &id, &checkpoint_id, body.metadata).await?;
    unit.commit().await?;
    Ok(created(
        format!("/api/v1/state/threads/{}", thread.id),
        ThreadView::from(&thread),
    ))
}
