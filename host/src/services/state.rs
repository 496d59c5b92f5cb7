//! The StateManager: threads of checkpoints for long-running work.
//!
//! Who acts is an [`Actor`]: a REST client, or a plugin on behalf of its
//! caller. A plugin sees only the threads it made, and of those only its
//! caller's (an admin caller's: all of them). A REST client sees every
//! thread of its own (an admin: every thread), may delete any of them, and
//! writes only those made through the REST API: a plugin's threads advance
//! through the plugin, whose steps they record.
//!
//! A checkpoint is put on top of the head its writer read, or not at all:
//! the head moves by compare-and-swap in the same transaction as the
//! insert, so of two writers that read the same head exactly one wins and
//! the other gets a conflict naming the head it must read again.

use super::validate;
use super::{Ctx, ModelError};
use crate::domain::state::{
    Checkpoint, CheckpointRef, Head, NewCheckpoint, NewThread, PendingWrite, Thread, ThreadChange,
};
use crate::store::query::select::Scope;
use crate::store::state::{self as rows, Writer};
use crate::util::now_micros;
use serde_json::{Value, json};

/// Largest checkpoint values, and largest pending write, serialized.
pub const MAX_VALUES_BYTES: usize = 4 * 1024 * 1024;
/// Most pending writes in one call.
pub const MAX_WRITES: usize = 1000;
/// The largest retention a thread can name; leave it out to keep all.
pub const MAX_KEEP_LAST: u32 = 1_000_000;
/// Longest task or channel name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Who acts on threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A client of the REST API.
    Rest,
    /// A plugin, on behalf of its caller.
    Plugin(&'a str),
}

impl Actor<'_> {
    /// The `plugin` column of the threads this actor writes.
    fn plugin_column(&self) -> &str {
        match self {
            Actor::Rest => "",
            Actor::Plugin(name) => name,
        }
    }
}

pub async fn create_thread(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    input: NewThread,
) -> Result<Thread, ModelError> {
    let metadata = validate::metadata("metadata", &input.metadata.unwrap_or_else(|| json!({})))?;
    let keep_last = keep_last("keep_last", input.keep_last)?;
    let now = now_micros();
    let thread = Thread {
        id: uuid::Uuid::now_v7().to_string(),
        owner: ctx.principal.user_id.clone(),
        plugin: match actor {
            Actor::Rest => None,
            Actor::Plugin(name) => Some(name.to_string()),
        },
        metadata,
        keep_last,
        head: None,
        forked_from: None,
        created_at: now,
        updated_at: now,
    };
    rows::insert_thread(ctx.session, &thread).await?;
    Ok(thread)
}

pub async fn get_thread(ctx: &Ctx<'_>, actor: Actor<'_>, id: &str) -> Result<Thread, ModelError> {
    let id = validate::uuid("thread_id", id)?;
    rows::get_thread(ctx.session, &id)
        .await?
        .filter(|thread| visible(ctx, actor, thread))
        .ok_or_else(|| thread_not_found(&id))
}

/// A page of the threads `actor` sees, oldest first. A REST client may
/// narrow it to one plugin's (`""`: those made through the REST API).
pub async fn list_threads(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    plugin: Option<&str>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Thread>, Option<String>), ModelError> {
    let plugin = match actor {
        Actor::Plugin(name) => Some(name),
        Actor::Rest => plugin,
    };
    let scope = Scope::for_principal(ctx.principal);
    Ok(rows::page_threads(ctx.session, scope.as_ref(), plugin, limit, cursor).await?)
}

/// Sets a thread's metadata or retention; a smaller retention trims at once.
pub async fn update_thread(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    id: &str,
    change: ThreadChange,
) -> Result<Thread, ModelError> {
    let mut thread = thread_to_write(ctx, actor, id).await?;
    if let Some(metadata) = &change.metadata {
        thread.metadata = validate::metadata("metadata", metadata)?;
    }
    if let Some(keep) = change.keep_last {
        thread.keep_last = keep_last("keep_last", keep)?;
    }
    thread.updated_at = now_micros().max(thread.updated_at + 1);
    rows::update_thread(ctx.session, &thread).await?;
    if let (Some(keep), Some(head)) = (thread.keep_last, &thread.head) {
        rows::trim(ctx.session, &thread.id, oldest_kept(head.step, keep)).await?;
    }
    Ok(thread)
}

/// Deletes a thread with its checkpoints and pending writes. A REST client
/// may delete any thread it sees, a plugin's included.
pub async fn delete_thread(ctx: &Ctx<'_>, actor: Actor<'_>, id: &str) -> Result<(), ModelError> {
    let id = validate::uuid("thread_id", id)?;
    rows::get_thread_for_change(ctx.session, &id)
        .await?
        .filter(|thread| visible(ctx, actor, thread))
        .ok_or_else(|| thread_not_found(&id))?;
    rows::delete_thread(ctx.session, &id).await?;
    Ok(())
}

/// Puts a checkpoint on top of `input.parent_id`, which must still be the
/// thread's newest (or `None` while it has none); a conflict otherwise.
/// Every refusal comes before the first write, so a failed put wrote
/// nothing unless the database itself failed (`ModelError::Database`).
pub async fn put(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    thread_id: &str,
    input: NewCheckpoint,
) -> Result<Checkpoint, ModelError> {
    let thread_id = validate::uuid("thread_id", thread_id)?;
    let parent_id = input
        .parent_id
        .as_deref()
        .map(|id| validate::uuid("parent_id", id))
        .transpose()?;
    let values = json_value("values", &input.values)?;
    let metadata = validate::metadata("metadata", &input.metadata.unwrap_or_else(|| json!({})))?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_micros();
    let owner = (!ctx.principal.is_admin()).then_some(ctx.principal.user_id.as_str());
    let writer = Writer {
        plugin: actor.plugin_column(),
        owner,
    };
    let expected = parent_id.as_deref().unwrap_or("");
    let Some(advanced) =
        rows::advance_head(ctx.session, &thread_id, &writer, expected, &id, now).await?
    else {
        return Err(why_not_advanced(ctx, actor, &thread_id, parent_id.as_deref()).await);
    };
    let checkpoint = Checkpoint {
        id,
        thread_id,
        parent_id,
        step: advanced.step,
        values,
        metadata,
        created_at: now,
    };
    rows::insert_checkpoint(ctx.session, &checkpoint).await?;
    if let Some(keep) = advanced.keep_last {
        rows::trim(
            ctx.session,
            &checkpoint.thread_id,
            oldest_kept(checkpoint.step, keep),
        )
        .await?;
    }
    Ok(checkpoint)
}

/// The thread's newest checkpoint; `None` before its first.
pub async fn latest(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    thread_id: &str,
) -> Result<Option<Checkpoint>, ModelError> {
    let thread = get_thread(ctx, actor, thread_id).await?;
    let Some(head) = thread.head else {
        return Ok(None);
    };
    Ok(rows::get_checkpoint(ctx.session, &thread.id, &head.checkpoint_id).await?)
}

pub async fn get_checkpoint(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    thread_id: &str,
    id: &str,
) -> Result<Checkpoint, ModelError> {
    let thread = get_thread(ctx, actor, thread_id).await?;
    let id = validate::uuid("checkpoint_id", id)?;
    rows::get_checkpoint(ctx.session, &thread.id, &id)
        .await?
        .ok_or_else(|| checkpoint_not_found(&thread.id, &id))
}

/// A page of the thread's checkpoints, newest first.
pub async fn history(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    thread_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Checkpoint>, Option<String>), ModelError> {
    let thread = get_thread(ctx, actor, thread_id).await?;
    Ok(rows::page_checkpoints(ctx.session, &thread.id, limit, cursor).await?)
}

/// Records what `task` of the step running from checkpoint `checkpoint_id`
/// wrote, after its earlier writes. The checkpoint must be the thread's
/// newest: a step from an older one has lost its race (a conflict).
pub async fn put_writes(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    thread_id: &str,
    checkpoint_id: &str,
    task: &str,
    writes: Vec<(String, Value)>,
) -> Result<(), ModelError> {
    let thread = thread_to_write(ctx, actor, thread_id).await?;
    let checkpoint_id = validate::uuid("checkpoint_id", checkpoint_id)?;
    let task = name("task", task)?;
    if writes.is_empty() || writes.len() > MAX_WRITES {
        return Err(ModelError::invalid(
            "writes",
            format!("give 1 to {MAX_WRITES} writes, got {}", writes.len()),
        ));
    }
    let writes = writes
        .iter()
        .enumerate()
        .map(|(i, (channel, value))| {
            Ok((
                name(&format!("writes[{i}].channel"), channel)?,
                json_value(&format!("writes[{i}].value"), value)?,
            ))
        })
        .collect::<Result<Vec<_>, ModelError>>()?;
    match &thread.head {
        Some(head) if head.checkpoint_id == checkpoint_id => {}
        head => {
            rows::get_checkpoint(ctx.session, &thread.id, &checkpoint_id)
                .await?
                .ok_or_else(|| checkpoint_not_found(&thread.id, &checkpoint_id))?;
            return Err(moved_on(&thread.id, head.as_ref()));
        }
    }
    rows::append_pending_writes(ctx.session, &checkpoint_id, &task, &writes, now_micros()).await?;
    Ok(())
}

/// What was written from checkpoint `checkpoint_id` by steps that have not
/// finished, by task, each in the order it was written.
pub async fn pending_writes(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    thread_id: &str,
    checkpoint_id: &str,
) -> Result<Vec<PendingWrite>, ModelError> {
    let checkpoint = get_checkpoint(ctx, actor, thread_id, checkpoint_id).await?;
    pending_writes_of(ctx, &checkpoint).await
}

/// What unfinished steps wrote from `checkpoint`, one the caller has
/// already read through this module (so it is visible to them).
pub async fn pending_writes_of(
    ctx: &Ctx<'_>,
    checkpoint: &Checkpoint,
) -> Result<Vec<PendingWrite>, ModelError> {
    Ok(rows::pending_writes(ctx.session, &checkpoint.id).await?)
}

/// A new thread that starts from checkpoint `checkpoint_id` of `thread_id`:
/// its first checkpoint is a copy of that one (same step, values and
/// metadata); the original thread is not touched.
pub async fn fork(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    thread_id: &str,
    checkpoint_id: &str,
    metadata: Option<Value>,
) -> Result<Thread, ModelError> {
    let source = thread_to_write(ctx, actor, thread_id).await?;
    let checkpoint_id = validate::uuid("checkpoint_id", checkpoint_id)?;
    let origin = rows::get_checkpoint(ctx.session, &source.id, &checkpoint_id)
        .await?
        .ok_or_else(|| checkpoint_not_found(&source.id, &checkpoint_id))?;
    let metadata = match metadata {
        Some(metadata) => validate::metadata("metadata", &metadata)?,
        None => source.metadata.clone(),
    };
    let now = now_micros();
    let first = Checkpoint {
        id: uuid::Uuid::now_v7().to_string(),
        thread_id: uuid::Uuid::now_v7().to_string(),
        parent_id: None,
        step: origin.step,
        values: origin.values,
        metadata: origin.metadata,
        created_at: now,
    };
    let thread = Thread {
        id: first.thread_id.clone(),
        owner: source.owner,
        plugin: source.plugin,
        metadata,
        keep_last: source.keep_last,
        head: Some(Head {
            checkpoint_id: first.id.clone(),
            step: first.step,
        }),
        forked_from: Some(CheckpointRef {
            thread_id: source.id,
            checkpoint_id: origin.id,
        }),
        created_at: now,
        updated_at: now,
    };
    rows::insert_thread(ctx.session, &thread).await?;
    rows::insert_checkpoint(ctx.session, &first).await?;
    Ok(thread)
}

/// Whether `actor`, acting for the context's principal, sees `thread`.
fn visible(ctx: &Ctx<'_>, actor: Actor<'_>, thread: &Thread) -> bool {
    ctx.principal.can_see(&thread.owner)
        && match actor {
            Actor::Rest => true,
            Actor::Plugin(name) => thread.plugin.as_deref() == Some(name),
        }
}

/// The thread, locked, if `actor` sees it and may write it.
async fn thread_to_write(ctx: &Ctx<'_>, actor: Actor<'_>, id: &str) -> Result<Thread, ModelError> {
    let id = validate::uuid("thread_id", id)?;
    let thread = rows::get_thread_for_change(ctx.session, &id)
        .await?
        .filter(|thread| visible(ctx, actor, thread))
        .ok_or_else(|| thread_not_found(&id))?;
    writable(actor, &thread)?;
    Ok(thread)
}

/// A REST client writes only the threads made through the REST API.
fn writable(actor: Actor<'_>, thread: &Thread) -> Result<(), ModelError> {
    match (actor, &thread.plugin) {
        (Actor::Rest, Some(plugin)) => Err(ModelError::Conflict(format!(
            "thread {} belongs to plugin `{plugin}`: it advances through the plugin; \
             through the REST API it can be read and deleted",
            thread.id
        ))),
        _ => Ok(()),
    }
}

/// Why a compare-and-swap found nothing to move: no such thread for this
/// actor, a thread it may not write, or a head other than the one read.
async fn why_not_advanced(
    ctx: &Ctx<'_>,
    actor: Actor<'_>,
    thread_id: &str,
    parent_id: Option<&str>,
) -> ModelError {
    let thread = match rows::get_thread(ctx.session, thread_id).await {
        Ok(thread) => thread,
        Err(error) => return error.into(),
    };
    let Some(thread) = thread.filter(|thread| visible(ctx, actor, thread)) else {
        return thread_not_found(thread_id);
    };
    if let Err(error) = writable(actor, &thread) {
        return error;
    }
    match (parent_id, &thread.head) {
        (Some(parent), None) => ModelError::Conflict(format!(
            "thread {thread_id} has no checkpoint yet, so `{parent}` cannot be its parent: \
             put the first checkpoint with no parent"
        )),
        _ => moved_on(thread_id, thread.head.as_ref()),
    }
}

fn moved_on(thread_id: &str, head: Option<&Head>) -> ModelError {
    ModelError::Conflict(match head {
        Some(head) => format!(
            "thread {thread_id} has moved on: its newest checkpoint is {} (step {}); \
             read it and continue from there",
            head.checkpoint_id, head.step
        ),
        None => format!("thread {thread_id} has no checkpoint yet"),
    })
}

/// The first step kept when the newest is `head` and `keep` are kept.
fn oldest_kept(head: i64, keep: u32) -> i64 {
    head - i64::from(keep) + 1
}

fn keep_last(field: &str, keep: Option<u32>) -> Result<Option<u32>, ModelError> {
    match keep {
        Some(keep) if keep == 0 || keep > MAX_KEEP_LAST => Err(ModelError::invalid(
            field,
            format!(
                "must be 1 to {MAX_KEEP_LAST} (leave it out to keep every checkpoint), got {keep}"
            ),
        )),
        keep => Ok(keep),
    }
}

/// A JSON value as stored, within [`MAX_VALUES_BYTES`].
fn json_value(field: &str, value: &Value) -> Result<String, ModelError> {
    let text = serde_json::to_string(value).expect("a JSON value serializes");
    if text.len() > MAX_VALUES_BYTES {
        return Err(ModelError::invalid(
            field,
            format!(
                "is {} bytes as JSON; the most is {MAX_VALUES_BYTES}",
                text.len()
            ),
        ));
    }
    Ok(text)
}

/// A task or channel name: 1 to [`MAX_NAME_CHARS`] characters, no NUL.
fn name(field: &str, value: &str) -> Result<String, ModelError> {
    if value.is_empty() || value.chars().count() > MAX_NAME_CHARS || value.contains('\0') {
        return Err(ModelError::invalid(
            field,
            format!("must be 1 to {MAX_NAME_CHARS} characters without NUL"),
        ));
    }
    Ok(value.to_string())
}

fn thread_not_found(id: &str) -> ModelError {
    ModelError::NotFound(format!("thread {id} not found"))
}

fn checkpoint_not_found(thread_id: &str, id: &str) -> ModelError {
    ModelError::NotFound(format!(
        "checkpoint {id} not found in thread {thread_id} (retention may have removed it)"
    ))
}
