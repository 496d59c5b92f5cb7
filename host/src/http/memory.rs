//! `/api/v1/memory`: the MemoryManager's conversation sessions, their
//! messages, windows and summaries, and search over a user's messages.
//! Members see their own sessions, admins all.

use super::CoreApi;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, JsonObject, QueryParams, path_id};
use super::listing::{Page, created};
use super::openapi::{Authenticated, BadParameters, NotFound, WithBody};
use super::unit::Unit;
use crate::domain::memory::{
    Labels, Message, NewMessage, NewSession, Retention, Session, SessionChange, Summary, Window,
    WindowRequest, WindowSize,
};
use crate::domain::search::snippet_html;
use crate::services::memory::{self, MessageSearchRequest};
use crate::state::AppState;
use crate::util::format_micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(create_session, list_sessions))
        .route(routes!(get_session, update_session, delete_session))
        .route(routes!(append, list_messages, clear))
        .route(routes!(window))
        .route(routes!(set_summary, delete_summary))
        .route(routes!(search))
}

/// What a session keeps; each limit left out (or null) is no limit.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// Keep at most this many messages, the newest (the first system
    /// message is always kept).
    #[schema(minimum = 1, maximum = 1000000)]
    max_messages: Option<u32>,
    /// Remove messages older than this many seconds as new ones arrive.
    #[schema(minimum = 1, maximum = 3153600000_u64)]
    max_age_seconds: Option<u64>,
}

impl From<RetentionBody> for Retention {
    fn from(r: RetentionBody) -> Self {
        Retention {
            max_messages: r.max_messages,
            max_age_seconds: r.max_age_seconds,
        }
    }
}

/// The body of `POST /api/v1/memory/sessions`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSessionBody {
    /// Up to 200 characters; empty when left out.
    name: Option<String>,
    /// The workflow that uses it, as a label.
    workflow: Option<String>,
    /// The agent that uses it, as a label.
    agent: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    #[schema(value_type = Option<RetentionBody>)]
    retention: Option<JsonObject<RetentionBody>>,
}

/// The body of `PATCH /api/v1/memory/sessions/{id}`: each field given is set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionPatch {
    /// A new name (rename).
    name: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// Replaces the retention; a tighter one removes messages at once.
    #[schema(value_type = Option<RetentionBody>)]
    retention: Option<JsonObject<RetentionBody>>,
}

/// One message to append.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageBody {
    /// `system`, `user`, `assistant` or `tool`.
    role: String,
    /// Up to 1 MiB; may be empty (an assistant message that only calls tools).
    #[serde(default)]
    content: String,
    /// The speaker's name, up to 200 characters.
    name: Option<String>,
    /// An assistant message's tool calls: a JSON array.
    #[schema(value_type = Option<Vec<Object>>)]
    tool_calls: Option<Value>,
    /// The call a tool message answers: required on a tool message, and
    /// only there.
    tool_call_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// Its size in tokens; estimated (about four characters a token) when
    /// left out.
    #[schema(maximum = 10000000)]
    tokens: Option<u32>,
}

/// The body of `POST .../messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendBody {
    /// 1 to 1000 messages, appended in this order, all or none.
    #[schema(value_type = Vec<NewMessageBody>)]
    messages: Vec<JsonObject<NewMessageBody>>,
}

/// The body of `PUT .../summary`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryBody {
    /// Up to 256 KiB.
    content: String,
    /// The newest message the summary covers.
    #[schema(minimum = 0)]
    through_seq: Option<i64>,
}

/// A session as the REST API shows it.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    id: String,
    /// The owner's user id.
    owner: String,
    name: String,
    /// The plugin that made it; null when made through the REST API.
    plugin: Option<String>,
    workflow: Option<String>,
    agent: Option<String>,
    #[schema(value_type = Object)]
    metadata: Value,
    retention: RetentionBody,
    summary: Option<SummaryView>,
    /// Messages held now.
    message_count: i64,
    /// The seq the next message gets.
    next_seq: i64,
    /// RFC 3339, UTC.
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct SummaryView {
    content: String,
    through_seq: Option<i64>,
    updated_at: String,
}

/// A message as the REST API shows it.
#[derive(Serialize, ToSchema)]
pub struct MessageView {
    session_id: String,
    /// Its place in the session, from 0.
    seq: i64,
    role: String,
    content: String,
    name: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    tool_calls: Option<Value>,
    tool_call_id: Option<String>,
    #[schema(value_type = Object)]
    metadata: Value,
    tokens: i64,
    created_at: String,
}

/// A window: in the order to give a model, `pinned`, `summary`, then
/// `messages` (oldest first).
#[derive(Serialize, ToSchema)]
pub struct WindowView {
    /// The session's first system message, when asked for and present.
    pinned: Option<MessageView>,
    /// The session's summary, when asked for and present.
    summary: Option<SummaryView>,
    messages: Vec<MessageView>,
    /// The tokens of all three.
    tokens: i64,
}

/// A message found by a search.
#[derive(Serialize, ToSchema)]
pub struct MessageHitView {
    #[serde(flatten)]
    message: MessageView,
    /// Where the query matched, as HTML: the text escaped, each match in
    /// `<mark>`, `…` where text was left out.
    snippet: String,
    /// Higher is a better match; comparable within one search only.
    score: f64,
}

/// The answer of `DELETE .../messages`.
#[derive(Serialize, ToSchema)]
pub struct Cleared {
    /// How many messages were removed.
    removed: u64,
}

fn object(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}

impl From<&Summary> for SummaryView {
    fn from(s: &Summary) -> Self {
        SummaryView {
            content: s.content.clone(),
            through_seq: s.through_seq,
            updated_at: format_micros(s.updated_at),
        }
    }
}

impl From<&Session> for SessionView {
    fn from(s: &Session) -> Self {
        SessionView {
            id: s.id.clone(),
            owner: s.owner.clone(),
            name: s.name.clone(),
            plugin: s.plugin.clone(),
            workflow: s.workflow.clone(),
            agent: s.agent.clone(),
            metadata: object(&s.metadata),
            retention: RetentionBody {
                max_messages: s.retention.max_messages,
                max_age_seconds: s.retention.max_age_seconds,
            },
            summary: s.summary.as_ref().map(SummaryView::from),
            message_count: s.message_count,
            next_seq: s.next_seq,
            created_at: format_micros(s.created_at),
            updated_at: format_micros(s.updated_at),
        }
    }
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        MessageView {
            session_id: m.session_id.clone(),
            seq: m.seq,
            role: m.role.as_str().to_string(),
            content: m.content.clone(),
            name: m.name.clone(),
            tool_calls: m
                .tool_calls
                .as_deref()
                .map(|text| serde_json::from_str(text).unwrap_or(Value::Null)),
            tool_call_id: m.tool_call_id.clone(),
            metadata: object(&m.metadata),
            tokens: m.tokens,
            created_at: format_micros(m.created_at),
        }
    }
}

impl From<&Window> for WindowView {
    fn from(w: &Window) -> Self {
        WindowView {
            pinned: w.pinned.as_ref().map(MessageView::from),
            summary: w.summary.as_ref().map(SummaryView::from),
            messages: w.messages.iter().map(MessageView::from).collect(),
            tokens: w.tokens,
        }
    }
}

const SESSION_ID: &str = "The session's id";

/// Makes a conversation session owned by the caller.
#[utoipa::path(
    post, path = "/api/v1/memory/sessions", tag = "memory", operation_id = "memory_sessions_create",
    request_body = NewSessionBody,
    responses(
        (status = 201, body = SessionView, headers(("Location" = String, description = "The new session"))),
        Authenticated, WithBody,
    )
)]
async fn create_session(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiJson(body): ApiJson<NewSessionBody>,
) -> Result<Response, ApiError> {
    let unit = Unit::new(&state, &principal);
    let session = memory::create_session(
        &unit.ctx(),
        None,
        NewSession {
            name: body.name,
            workflow: body.workflow,
            agent: body.agent,
            metadata: body.metadata,
            retention: body.retention.map(|r| r.0.into()).unwrap_or_default(),
        },
    )
    .await?;
    unit.commit().await?;
    Ok(created(
        format!("/api/v1/memory/sessions/{}", session.id),
        SessionView::from(&session),
    ))
}

/// The caller's sessions (an admin's: all), newest first.
#[utoipa::path(
    get, path = "/api/v1/memory/sessions", tag = "memory", operation_id = "memory_sessions_list",
    params(
        ("plugin" = Option<String>, Query, description = "Only the sessions this plugin made; empty for those made through the REST API"),
        ("workflow" = Option<String>, Query, description = "Only the sessions with this workflow label"),
        ("agent" = Option<String>, Query, description = "Only the sessions with this agent label"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = Page<SessionView>), Authenticated, BadParameters)
)]
async fn list_sessions(
    State(state): State<AppState>,
    Caller(principal): Caller,
    uri: Uri,
) -> Result<Json<Page<SessionView>>, ApiError> {
    let params = QueryParams::parse(&uri, &["plugin", "workflow", "agent", "limit", "cursor"])?;
    let labels = Labels {
        plugin: params.get("plugin"),
        workflow: params.get("workflow"),
        agent: params.get("agent"),
    };
    let unit = Unit::new(&state, &principal);
    let (items, next) = memory::list_sessions(
        &unit.ctx(),
        labels,
        params.page_limit()?,
        params.get("cursor"),
    )
    .await?;
    Ok(Json(Page {
        items: items.iter().map(SessionView::from).collect(),
        next_cursor: next,
    }))
}

/// One session, with its summary.
#[utoipa::path(
    get, path = "/api/v1/memory/sessions/{id}", tag = "memory", operation_id = "memory_sessions_get",
    params(("id" = uuid::Uuid, Path, description = SESSION_ID)),
    responses((status = 200, body = SessionView), Authenticated, BadParameters, NotFound)
)]
async fn get_session(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let session = memory::get_session(&unit.ctx(), &id).await?;
    Ok(Json(SessionView::from(&session)))
}

/// Renames a session, sets its metadata or replaces its retention.
#[utoipa::path(
    patch, path = "/api/v1/memory/sessions/{id}", tag = "memory", operation_id = "memory_sessions_update",
    params(("id" = uuid::Uuid, Path, description = SESSION_ID)),
    request_body = SessionPatch,
    responses((status = 200, body = SessionView), Authenticated, WithBody, NotFound)
)]
async fn update_session(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SessionPatch>,
) -> Result<Json<SessionView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let session = memory::update_session(
        &unit.ctx(),
        &id,
        SessionChange {
            name: body.name,
            metadata: body.metadata,
            retention: body.retention.map(|r| r.0.into()),
        },
    )
    .await?;
    unit.commit().await?;
    Ok(Json(SessionView::from(&session)))
}

/// Deletes a session with its messages.
#[utoipa::path(
    delete, path = "/api/v1/memory/sessions/{id}", tag = "memory", operation_id = "memory_sessions_delete",
    params(("id" = uuid::Uuid, Path, description = SESSION_ID)),
    responses((status = 204, description = "Deleted"), Authenticated, BadParameters, NotFound)
)]
async fn delete_session(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    memory::delete_session(&unit.ctx(), &id).await?;
    unit.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Appends messages after every earlier one, all or none; retention is
/// applied in the same transaction.
#[utoipa::path(
    post, path = "/api/v1/memory/sessions/{id}/messages", tag = "memory", operation_id = "memory_messages_append",
    params(("id" = uuid::Uuid, Path, description = SESSION_ID)),
    request_body = AppendBody,
    responses(
        (status = 201, body = Vec<MessageView>, description = "The messages appended, with their seqs (those retention removed at once left out)"),
        Authenticated, WithBody, NotFound,
    )
)]
async fn append(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AppendBody>,
) -> Result<Response, ApiError> {
    let id = path_id("id", &id)?;
    let messages = body
        .messages
        .into_iter()
        .map(|JsonObject(m)| NewMessage {
            role: m.role,
            content: m.content,
            name: m.name,
            tool_calls: m.tool_calls,
            tool_call_id: m.tool_call_id,
            metadata: m.metadata,
            tokens: m.tokens,
        })
        .collect();
    let unit = Unit::new(&state, &principal);
    let appended = memory::append(&unit.ctx(), &id, messages).await?;
    unit.commit().await?;
    let views: Vec<MessageView> = appended.iter().map(MessageView::from).collect();
    Ok((StatusCode::CREATED, Json(views)).into_response())
}

/// The session's messages, oldest first.
#[utoipa::path(
    get, path = "/api/v1/memory/sessions/{id}/messages", tag = "memory", operation_id = "memory_messages_list",
    params(
        ("id" = uuid::Uuid, Path, description = SESSION_ID),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = Page<MessageView>), Authenticated, BadParameters, NotFound)
)]
async fn list_messages(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let id = path_id("id", &id)?;
    let params = QueryParams::parse(&uri, &["limit", "cursor"])?;
    let unit = Unit::new(&state, &principal);
    let (items, next) =
        memory::messages(&unit.ctx(), &id, params.page_limit()?, params.get("cursor")).await?;
    Ok(Json(Page {
        items: items.iter().map(MessageView::from).collect(),
        next_cursor: next,
    }))
}

/// Removes every message of the session and its summary; the session
/// stays and numbers its next message after the last one removed.
#[utoipa::path(
    delete, path = "/api/v1/memory/sessions/{id}/messages", tag = "memory", operation_id = "memory_messages_clear",
    params(("id" = uuid::Uuid, Path, description = SESSION_ID)),
    responses((status = 200, body = Cleared), Authenticated, BadParameters, NotFound)
)]
async fn clear(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<Cleared>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let removed = memory::clear(&unit.ctx(), &id).await?;
    unit.commit().await?;
    Ok(Json(Cleared { removed }))
}

/// The messages to give a model: the newest `last` messages, or the newest
/// that fit `max_tokens` (whole messages), oldest first; after the pinned
/// system message (`pin_system=true`) and the summary (`summary=true`),
/// which count against a budget first.
#[utoipa::path(
    get, path = "/api/v1/memory/sessions/{id}/window", tag = "memory", operation_id = "memory_window",
    params(
        ("id" = uuid::Uuid, Path, description = SESSION_ID),
        ("last" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "The newest this many messages; 20 when neither this nor `max_tokens` is given"),
        ("max_tokens" = Option<u32>, Query, minimum = 1, maximum = 10000000, description = "The newest messages that fit this many tokens"),
        ("pin_system" = Option<bool>, Query, description = "Give the session's first system message first"),
        ("summary" = Option<bool>, Query, description = "Give the session's summary before the messages"),
    ),
    responses(
        (status = 200, body = WindowView),
        (status = 422, description = "`last` or `max_tokens` is out of range; `message` names it", body = super::error::ErrorBody),
        Authenticated, BadParameters, NotFound,
    )
)]
async fn window(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<WindowView>, ApiError> {
    let id = path_id("id", &id)?;
    let params = QueryParams::parse(&uri, &["last", "max_tokens", "pin_system", "summary"])?;
    let size = match (
        params.parsed::<u32>("last", "a number")?,
        params.parsed::<u32>("max_tokens", "a number")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give `last` or `max_tokens`, not both".into(),
            ));
        }
        (Some(n), None) => WindowSize::Last(n),
        (None, Some(n)) => WindowSize::Tokens(n),
        (None, None) => WindowSize::Last(20),
    };
    let request = WindowRequest {
        size,
        pin_system: params
            .parsed::<bool>("pin_system", "true or false")?
            .unwrap_or(false),
        with_summary: params
            .parsed::<bool>("summary", "true or false")?
            .unwrap_or(false),
    };
    let unit = Unit::new(&state, &principal);
    let window = memory::window(&unit.ctx(), &id, request).await?;
    Ok(Json(WindowView::from(&window)))
}

/// Sets the session's summary, as a summarizer wrote it.
#[utoipa::path(
    put, path = "/api/v1/memory/sessions/{id}/summary", tag = "memory", operation_id = "memory_summary_set",
    params(("id" = uuid::Uuid, Path, description = SESSION_ID)),
    request_body = SummaryBody,
    responses((status = 200, body = SessionView), Authenticated, WithBody, NotFound)
)]
async fn set_summary(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SummaryBody>,
) -> Result<Json<SessionView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let session =
        memory::set_summary(&unit.ctx(), &id, Some((body.content, body.through_seq))).await?;
    unit.commit().await?;
    Ok(Json(SessionView::from(&session)))
}

/// Removes the session's summary.
#[utoipa::path(
    delete, path = "/api/v1/memory/sessions/{id}/summary", tag = "memory", operation_id = "memory_summary_delete",
    params(("id" = uuid::Uuid, Path, description = SESSION_ID)),
    responses((status = 200, body = SessionView), Authenticated, BadParameters, NotFound)
)]
async fn delete_summary(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let session = memory::set_summary(&unit.ctx(), &id, None).await?;
    unit.commit().await?;
    Ok(Json(SessionView::from(&session)))
}

/// Full-text search over the caller's messages (an admin's: everyone's),
/// best match first, in the query language of document search. A query
/// that matches more than 10,000 messages ranks the newest 10,000 of them.
#[utoipa::path(
    get, path = "/api/v1/memory/messages:search", tag = "memory", operation_id = "memory_messages_search",
    params(
        ("q" = String, Query, description = "The query: `refund \"order number\" deliv* -spam`"),
        ("session_id" = Option<uuid::Uuid>, Query, description = "Only this session's messages"),
        ("role" = Option<String>, Query, description = "Only messages of this role: system, user, assistant or tool"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, body = Page<MessageHitView>),
        (status = 422, description = "The query does not parse, or `session_id` or `role` is not valid; `message` names the problem", body = super::error::ErrorBody),
        Authenticated, BadParameters, NotFound,
    )
)]
async fn search(
    State(state): State<AppState>,
    Caller(principal): Caller,
    uri: Uri,
) -> Result<Json<Page<MessageHitView>>, ApiError> {
    let params = QueryParams::parse(&uri, &["q", "session_id", "role", "limit", "cursor"])?;
    let Some(text) = params.get("q") else {
        return Err(ApiError::validation(
            "q",
            "is required: the words to look for",
        ));
    };
    let request = MessageSearchRequest {
        text: text.to_string(),
        session_id: params.get("session_id").map(str::to_string),
        role: params.get("role").map(str::to_string),
        limit: params.page_limit()?,
        cursor: params.get("cursor").map(str::to_string),
    };
    let unit = Unit::new(&state, &principal);
    let (hits, next) = memory::search(&unit.ctx(), &request).await?;
    Ok(Json(Page {
        items: hits
            .iter()
            .map(|hit| MessageHitView {
                message: MessageView::from(&hit.message),
                snippet: snippet_html(&hit.snippet),
                score: -hit.rank,
            })
            .collect(),
        next_cursor: next,
    }))
}
