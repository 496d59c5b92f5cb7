//! The MemoryManager: conversation memory for agents and workflows.
//!
//! A session belongs to the user who made it; its owner sees it, an admin
//! sees every session. A plugin granted the `memory` service acts as its
//! caller on the caller's sessions, whoever made them (a workflow and the
//! REST client that started it share one conversation); the plugin that
//! made a session is kept as its label.
//!
//! Messages are appended in a strict order: an append reserves its seqs by
//! moving the session's counter in one conditional update, so concurrent
//! appends to one session queue behind each other and never interleave
//! within a batch. Retention (most messages, oldest age) is applied in the
//! same transaction; it never removes the session's first system message,
//! which a window can pin.

use super::validate;
use super::{Ctx, ModelError};
use crate::domain::memory::{
    Labels, Message, NewMessage, NewSession, Retention, Role, Session, SessionChange, Summary,
    Window, WindowRequest, WindowSize, estimate_tokens,
};
use crate::domain::search::SearchQuery;
use crate::store::memory::{self as rows, MessageHit, MessageSearch};
use crate::store::query::select::Scope;
use crate::util::now_micros;
use serde_json::{Value, json};

/// Most messages in one append.
pub const MAX_APPEND: usize = 1000;
/// Largest message content, in bytes.
pub const MAX_CONTENT_BYTES: usize = 1024 * 1024;
/// Largest tool calls of a message, as JSON.
pub const MAX_TOOL_CALLS_BYTES: usize = 256 * 1024;
/// Largest summary, in bytes.
pub const MAX_SUMMARY_BYTES: usize = 256 * 1024;
/// Longest session name, label, message name or tool call id.
pub const MAX_NAME_CHARS: usize = 200;
/// Most messages a window holds.
pub const MAX_WINDOW: u32 = 1000;
/// The largest token budget of a window, and token count of a message.
pub const MAX_TOKENS: u32 = 10_000_000;
/// The largest `max_messages` of a retention.
pub const MAX_RETAINED: u32 = 1_000_000;
/// The largest `max_age_seconds` of a retention: 100 years.
pub const MAX_AGE_SECONDS: u64 = 100 * 365 * 24 * 3600;

/// Makes a session owned by the caller; `plugin` names the plugin that
/// makes it, if one does.
pub async fn create_session(
    ctx: &Ctx<'_>,
    plugin: Option<&str>,
    input: NewSession,
) -> Result<Session, ModelError> {
    let name = session_name("name", input.name.as_deref().unwrap_or(""))?;
    let workflow = optional_name("workflow", input.workflow.as_deref())?;
    let agent = optional_name("agent", input.agent.as_deref())?;
    let metadata = validate::metadata("metadata", &input.metadata.unwrap_or_else(|| json!({})))?;
    let retention = retention(input.retention)?;
    let now = now_micros();
    let session = Session {
        id: uuid::Uuid::now_v7().to_string(),
        owner: ctx.principal.user_id.clone(),
        name,
        plugin: plugin.map(str::to_string),
        workflow,
        agent,
        metadata,
        retention,
        summary: None,
        next_seq: 0,
        message_count: 0,
        created_at: now,
        updated_at: now,
    };
    rows::insert_session(ctx.session, &session).await?;
    Ok(session)
}

pub async fn get_session(ctx: &Ctx<'_>, id: &str) -> Result<Session, ModelError> {
    Ok(visible(ctx, id).await?.session)
}

/// A page of the sessions the caller sees, newest first, narrowed to
/// `labels`.
pub async fn list_sessions(
    ctx: &Ctx<'_>,
    labels: Labels<'_>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Session>, Option<String>), ModelError> {
    let scope = Scope::for_principal(ctx.principal);
    Ok(rows::page_sessions(ctx.session, scope.as_ref(), labels, limit, cursor).await?)
}

/// Renames a session, sets its metadata or replaces its retention; a
/// tighter retention removes messages at once.
pub async fn update_session(
    ctx: &Ctx<'_>,
    id: &str,
    change: SessionChange,
) -> Result<Session, ModelError> {
    let stored = to_change(ctx, id).await?;
    let mut session = stored.session;
    if let Some(name) = &change.name {
        session.name = session_name("name", name)?;
    }
    if let Some(metadata) = &change.metadata {
        session.metadata = validate::metadata("metadata", metadata)?;
    }
    if let Some(new) = change.retention {
        session.retention = retention(new)?;
    }
    let now = now_micros().max(session.updated_at + 1);
    session.updated_at = now;
    rows::update_session(ctx.session, &session).await?;
    if change.retention.is_some() {
        let removed = apply_retention(ctx, &session, stored.system_seq, now).await?;
        session.message_count -= removed as i64;
    }
    Ok(session)
}

/// Deletes a session with its messages.
pub async fn delete_session(ctx: &Ctx<'_>, id: &str) -> Result<(), ModelError> {
    let stored = to_change(ctx, id).await?;
    rows::delete_session(ctx.session, &stored.session.id).await?;
    Ok(())
}

/// Appends `messages` to a session, all or none, after every message
/// before them; returns them with their seqs (those retention removed at
/// once left out).
pub async fn append(
    ctx: &Ctx<'_>,
    id: &str,
    messages: Vec<NewMessage>,
) -> Result<Vec<Message>, ModelError> {
    let id = validate::uuid("session_id", id)?;
    if messages.is_empty() || messages.len() > MAX_APPEND {
        return Err(ModelError::invalid(
            "messages",
            format!("give 1 to {MAX_APPEND} messages, got {}", messages.len()),
        ));
    }
    let now = now_micros();
    let mut checked = messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| checked_message(&format!("messages[{i}]"), &id, message, now))
        .collect::<Result<Vec<_>, _>>()?;
    let first_system = checked.iter().position(|m| m.role == Role::System);
    let owner = (!ctx.principal.is_admin()).then_some(ctx.principal.user_id.as_str());
    let Some(reserved) =
        rows::reserve_seqs(ctx.session, &id, owner, checked.len(), first_system, now).await?
    else {
        return Err(session_not_found(&id));
    };
    for (i, message) in checked.iter_mut().enumerate() {
        message.seq = reserved.first_seq + i as i64;
        message.created_at = reserved.at;
    }
    rows::insert_messages(ctx.session, &checked).await?;
    let next_seq = reserved.first_seq + checked.len() as i64;
    let (before_seq, before_time) = cutoffs(&reserved.retention, next_seq, reserved.at);
    if rows::trim(
        ctx.session,
        &id,
        before_seq,
        before_time,
        reserved.system_seq,
    )
    .await?
        > 0
    {
        checked.retain(|m| {
            Some(m.seq) == reserved.system_seq
                || (before_seq.is_none_or(|s| m.seq >= s)
                    && before_time.is_none_or(|t| m.created_at >= t))
        });
    }
    Ok(checked)
}

/// A page of a session's messages, oldest first.
pub async fn messages(
    ctx: &Ctx<'_>,
    id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Message>, Option<String>), ModelError> {
    let stored = visible(ctx, id).await?;
    Ok(rows::page_messages(ctx.session, &stored.session.id, limit, cursor).await?)
}

/// Removes every message of a session and its summary; the session stays,
/// and its next message takes the next seq. Returns how many went.
pub async fn clear(ctx: &Ctx<'_>, id: &str) -> Result<u64, ModelError> {
    let stored = to_change(ctx, id).await?;
    Ok(rows::clear(ctx.session, &stored.session.id, now_micros()).await?)
}

/// Sets a session's summary (`None` removes it).
pub async fn set_summary(
    ctx: &Ctx<'_>,
    id: &str,
    summary: Option<(String, Option<i64>)>,
) -> Result<Session, ModelError> {
    let mut session = to_change(ctx, id).await?.session;
    let now = now_micros().max(session.updated_at + 1);
    let summary = match summary {
        Some((content, through_seq)) => {
            if content.len() > MAX_SUMMARY_BYTES || content.contains('\0') {
                return Err(ModelError::invalid(
                    "content",
                    format!("must be at most {MAX_SUMMARY_BYTES} bytes without NUL"),
                ));
            }
            if let Some(seq) = through_seq
                && (seq < 0 || seq >= session.next_seq)
            {
                return Err(ModelError::invalid(
                    "through_seq",
                    format!(
                        "must be the seq of a message appended so far (0 to {}), got {seq}",
                        session.next_seq - 1
                    ),
                ));
            }
            Some(Summary {
                content,
                through_seq,
                updated_at: now,
            })
        }
        None => None,
    };
    rows::set_summary(ctx.session, &session.id, summary.as_ref(), now).await?;
    session.summary = summary;
    session.updated_at = now;
    Ok(session)
}

/// The messages to give a model: the newest by count or by token budget
/// (whole messages, oldest first), after the pinned system message and the
/// summary when asked. The pinned message and the summary count against a
/// budget first; they are given even when they alone exceed it.
pub async fn window(ctx: &Ctx<'_>, id: &str, request: WindowRequest) -> Result<Window, ModelError> {
    match request.size {
        WindowSize::Last(n) if n == 0 || n > MAX_WINDOW => {
            return Err(ModelError::invalid(
                "last",
                format!("must be 1 to {MAX_WINDOW}, got {n}"),
            ));
        }
        WindowSize::Tokens(n) if n == 0 || n > MAX_TOKENS => {
            return Err(ModelError::invalid(
                "max_tokens",
                format!("must be 1 to {MAX_TOKENS}, got {n}"),
            ));
        }
        _ => {}
    }
    let stored = visible(ctx, id).await?;
    let session = &stored.session;
    let pinned = match (request.pin_system, stored.system_seq) {
        (true, Some(seq)) => rows::get_message(ctx.session, &session.id, seq).await?,
        _ => None,
    };
    let summary = request
        .with_summary
        .then(|| session.summary.clone())
        .flatten();
    let mut tokens = pinned.as_ref().map_or(0, |m| m.tokens)
        + summary
            .as_ref()
            .map_or(0, |s| estimate_tokens(&[&s.content]));
    let except = pinned.as_ref().map(|m| m.seq);
    let mut messages = match request.size {
        WindowSize::Last(n) => rows::newest(ctx.session, &session.id, i64::MAX, except, n).await?,
        WindowSize::Tokens(budget) => {
            let mut left = i64::from(budget) - tokens;
            let mut taken = Vec::new();
            let mut before = i64::MAX;
            let mut chunk = 64;
            'read: while left > 0 && taken.len() < MAX_WINDOW as usize {
                let batch = rows::newest(ctx.session, &session.id, before, except, chunk).await?;
                let complete = batch.len() < chunk as usize;
                for message in batch {
                    if message.tokens > left || taken.len() == MAX_WINDOW as usize {
                        break 'read;
                    }
                    left -= message.tokens;
                    before = message.seq;
                    taken.push(message);
                }
                if complete {
                    break;
                }
                chunk = (chunk * 2).min(MAX_WINDOW);
            }
            taken
        }
    };
    messages.reverse();
    tokens += messages.iter().map(|m| m.tokens).sum::<i64>();
    Ok(Window {
        pinned,
        summary,
        messages,
        tokens,
    })
}

/// One search of the caller's messages (an admin's: everyone's).
pub struct MessageSearchRequest {
    pub text: String,
    pub session_id: Option<String>,
    pub role: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// Messages that match `request.text` (the document search's query
/// language), best first, with snippets.
pub async fn search(
    ctx: &Ctx<'_>,
    request: &MessageSearchRequest,
) -> Result<(Vec<MessageHit>, Option<String>), ModelError> {
    let query = SearchQuery::parse(&request.text).map_err(|e| ModelError::invalid("q", e.0))?;
    let session_id = match &request.session_id {
        Some(id) => Some(visible(ctx, id).await?.session.id),
        None => None,
    };
    let role = request.role.as_deref().map(role).transpose()?;
    let owner = (!ctx.principal.is_admin()).then_some(ctx.principal.user_id.as_str());
    let spec = MessageSearch {
        query: &query,
        text: &request.text,
        session_id: session_id.as_deref(),
        role,
        owner,
        limit: request.limit,
        cursor: request.cursor.as_deref(),
    };
    Ok(rows::search(ctx.session, &spec).await?)
}

/// The session, if the caller sees it.
async fn visible(ctx: &Ctx<'_>, id: &str) -> Result<rows::StoredSession, ModelError> {
    find(ctx, id, false).await
}

/// The session, locked for a change, if the caller sees it.
async fn to_change(ctx: &Ctx<'_>, id: &str) -> Result<rows::StoredSession, ModelError> {
    find(ctx, id, true).await
}

async fn find(ctx: &Ctx<'_>, id: &str, lock: bool) -> Result<rows::StoredSession, ModelError> {
    let id = validate::uuid("session_id", id)?;
    let found = if lock {
        rows::get_session_for_change(ctx.session, &id).await?
    } else {
        rows::get_session(ctx.session, &id).await?
    };
    found
        .filter(|stored| ctx.principal.can_see(&stored.session.owner))
        .ok_or_else(|| session_not_found(&id))
}

/// Removes what `session`'s retention no longer keeps; how many went.
async fn apply_retention(
    ctx: &Ctx<'_>,
    session: &Session,
    system_seq: Option<i64>,
    now: i64,
) -> Result<u64, ModelError> {
    let (before_seq, before_time) = cutoffs(&session.retention, session.next_seq, now);
    Ok(rows::trim(
        ctx.session,
        &session.id,
        before_seq,
        before_time,
        system_seq,
    )
    .await?)
}

/// The oldest seq and time a retention keeps, given the next seq.
fn cutoffs(retention: &Retention, next_seq: i64, now: i64) -> (Option<i64>, Option<i64>) {
    (
        retention
            .max_messages
            .map(|keep| next_seq - i64::from(keep)),
        retention
            .max_age_seconds
            .map(|age| now.saturating_sub((age as i64).saturating_mul(1_000_000))),
    )
}

fn checked_message(
    field: &str,
    session_id: &str,
    input: NewMessage,
    now: i64,
) -> Result<Message, ModelError> {
    let role = role(&input.role).map_err(|_| {
        ModelError::invalid(
            format!("{field}.role"),
            format!(
                "unknown role `{}`; use system, user, assistant or tool",
                input.role
            ),
        )
    })?;
    if input.content.len() > MAX_CONTENT_BYTES || input.content.contains('\0') {
        return Err(ModelError::invalid(
            format!("{field}.content"),
            format!(
                "must be at most {MAX_CONTENT_BYTES} bytes without NUL, got {} bytes",
                input.content.len()
            ),
        ));
    }
    let name = optional_name(&format!("{field}.name"), input.name.as_deref())?;
    let tool_call_id = optional_name(
        &format!("{field}.tool_call_id"),
        input.tool_call_id.as_deref(),
    )?;
    match (role, &tool_call_id) {
        (Role::Tool, None) => {
            return Err(ModelError::invalid(
                format!("{field}.tool_call_id"),
                "is required on a tool message: name the call it answers",
            ));
        }
        (Role::System | Role::User | Role::Assistant, Some(_)) => {
            return Err(ModelError::invalid(
                format!("{field}.tool_call_id"),
                "belongs only on a tool message",
            ));
        }
        _ => {}
    }
    let tool_calls = match input.tool_calls {
        None | Some(Value::Null) => None,
        Some(_) if role != Role::Assistant => {
            return Err(ModelError::invalid(
                format!("{field}.tool_calls"),
                "belong only on an assistant message",
            ));
        }
        Some(calls) => {
            if !calls.is_array() {
                return Err(ModelError::invalid(
                    format!("{field}.tool_calls"),
                    "must be a JSON array of the calls",
                ));
            }
            let text = calls.to_string();
            if text.len() > MAX_TOOL_CALLS_BYTES {
                return Err(ModelError::invalid(
                    format!("{field}.tool_calls"),
                    format!("must be at most {MAX_TOOL_CALLS_BYTES} bytes as JSON"),
                ));
            }
            Some(text)
        }
    };
    let metadata = validate::metadata(
        &format!("{field}.metadata"),
        &input.metadata.unwrap_or_else(|| json!({})),
    )?;
    let tokens = match input.tokens {
        Some(n) if n > MAX_TOKENS => {
            return Err(ModelError::invalid(
                format!("{field}.tokens"),
                format!("must be at most {MAX_TOKENS}, got {n}"),
            ));
        }
        Some(n) => i64::from(n),
        None => estimate_tokens(&[
            &input.content,
            name.as_deref().unwrap_or(""),
            tool_calls.as_deref().unwrap_or(""),
        ]),
    };
    Ok(Message {
        session_id: session_id.to_string(),
        seq: 0,
        role,
        content: input.content,
        name,
        tool_calls,
        tool_call_id,
        metadata,
        tokens,
        created_at: now,
    })
}

fn role(text: &str) -> Result<Role, ModelError> {
    Role::parse(text).ok_or_else(|| {
        ModelError::invalid(
            "role",
            format!("unknown role `{text}`; use system, user, assistant or tool"),
        )
    })
}

fn retention(retention: Retention) -> Result<Retention, ModelError> {
    if let Some(n) = retention.max_messages
        && (n == 0 || n > MAX_RETAINED)
    {
        return Err(ModelError::invalid(
            "retention.max_messages",
            format!("must be 1 to {MAX_RETAINED} (leave it out to keep every message), got {n}"),
        ));
    }
    if let Some(n) = retention.max_age_seconds
        && (n == 0 || n > MAX_AGE_SECONDS)
    {
        return Err(ModelError::invalid(
            "retention.max_age_seconds",
            format!("must be 1 to {MAX_AGE_SECONDS} (leave it out for no age limit), got {n}"),
        ));
    }
    Ok(retention)
}

/// A session name: up to [`MAX_NAME_CHARS`] characters, trimmed.
fn session_name(field: &str, value: &str) -> Result<String, ModelError> {
    let trimmed = value.trim();
    if trimmed.chars().count() > MAX_NAME_CHARS || trimmed.contains('\0') {
        return Err(ModelError::invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters without NUL"),
        ));
    }
    Ok(trimmed.to_string())
}

/// A label or name: 1 to [`MAX_NAME_CHARS`] characters when given.
fn optional_name(field: &str, value: Option<&str>) -> Result<Option<String>, ModelError> {
    match value {
        None => Ok(None),
        Some(text)
            if text.is_empty() || text.chars().count() > MAX_NAME_CHARS || text.contains('\0') =>
        {
            Err(ModelError::invalid(
                field,
                format!("must be 1 to {MAX_NAME_CHARS} characters without NUL"),
            ))
        }
        Some(text) => Ok(Some(text.to_string())),
    }
}

fn session_not_found(id: &str) -> ModelError {
    ModelError::NotFound(format!("memory session {id} not found"))
}
