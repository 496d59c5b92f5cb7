//! Durable checkpoints of long-running work: the host's StateManager
//! (needs `Plugin::state()`).
//!
//! A [`Thread`] is one run of some work, owned by the caller. Each step
//! ends by putting a [`Checkpoint`] on top of the one it started from:
//! [`put`] succeeds only if that one is still the thread's newest, so of
//! two workers that read the same checkpoint exactly one advances the
//! thread and the other gets [`HostError::Conflict`]. A step can record
//! what it did before it finished ([`put_writes`]) so that, resumed after a
//! crash, it sees that in [`pending_writes`]. The plugin sees only the
//! threads it made, and of those only its caller's (an admin's: all).
//!
//! ```ignore
//! let thread = state::create_thread(&json!({"job": "import"}), Some(10))?;
//! let first = state::put(&thread.id, None, &json!({"done": 0}), &json!({}))?;
//! let second = state::put(&thread.id, Some(&first.id), &json!({"done": 1}), &json!({}))?;
//! assert_eq!(state::latest(&thread.id)?.unwrap().step, 1);
//! ```

#[cfg(not(target_arch = "wasm32"))]
use crate::__private::native::state as wit;
use crate::host::{HostError, host_call};
#[cfg(target_arch = "wasm32")]
use crate::wit::kai::fusion::state as wit;
use serde_json::Value;

/// One run of some work.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    pub id: String,
    /// The user on whose behalf it runs.
    pub owner: String,
    pub metadata: Value,
    /// How many checkpoints are kept, newest first; `None`: all.
    pub keep_last: Option<u32>,
    /// The newest checkpoint's id and step; `None` before the first.
    pub head: Option<(String, i64)>,
    /// The (thread, checkpoint) this thread was forked from.
    pub forked_from: Option<(String, String)>,
    /// Microseconds since the Unix epoch, UTC.
    pub created_at: i64,
    pub updated_at: i64,
}

/// The state of a thread after one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub id: String,
    pub thread_id: String,
    /// `None` for a thread's first checkpoint (and a fork's first).
    pub parent_id: Option<String>,
    /// 0 for a thread's first, then one more than the parent's.
    pub step: i64,
    pub values: Value,
    pub metadata: Value,
    pub created_at: i64,
}

/// A write a step made before it finished.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingWrite {
    pub task: String,
    /// Its order among the task's writes, from 0.
    pub seq: i64,
    pub channel: String,
    pub value: Value,
    pub created_at: i64,
}

/// A page of a listing, and the cursor of the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl From<wit::Thread> for Thread {
    fn from(t: wit::Thread) -> Self {
        Thread {
            metadata: json(&t.metadata),
            id: t.id,
            owner: t.owner,
            keep_last: t.keep_last,
            head: t.head.map(|h| (h.checkpoint_id, h.step)),
            forked_from: t.forked_from.map(|f| (f.thread_id, f.checkpoint_id)),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

impl From<wit::Checkpoint> for Checkpoint {
    fn from(c: wit::Checkpoint) -> Self {
        Checkpoint {
            values: json(&c.values),
            metadata: json(&c.metadata),
            id: c.id,
            thread_id: c.thread_id,
            parent_id: c.parent_id,
            step: c.step,
            created_at: c.created_at,
        }
    }
}

impl From<wit::PendingWrite> for PendingWrite {
    fn from(w: wit::PendingWrite) -> Self {
        PendingWrite {
            value: json(&w.value),
            task: w.task,
            seq: w.seq,
            channel: w.channel,
            created_at: w.created_at,
        }
    }
}

/// A new thread owned by the caller. `metadata` must be a JSON object;
/// `keep_last` keeps only that many checkpoints, newest first.
pub fn create_thread(metadata: &Value, keep_last: Option<u32>) -> Result<Thread, HostError> {
    let input = wit::NewThread {
        metadata: metadata.to_string(),
        keep_last,
    };
    host_call!(wit::create_thread(&input), Thread::from)
}

pub fn get_thread(id: &str) -> Result<Thread, HostError> {
    host_call!(wit::get_thread(id), Thread::from)
}

/// This plugin's threads of the caller, oldest first.
pub fn list_threads(limit: u32, cursor: Option<&str>) -> Result<Page<Thread>, HostError> {
    host_call!(wit::list_threads(limit, cursor), |page| Page {
        items: page.items.into_iter().map(Thread::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// Sets the metadata (when given) and the retention (`None`: keep all).
pub fn update_thread(
    id: &str,
    metadata: Option<&Value>,
    keep_last: Option<u32>,
) -> Result<Thread, HostError> {
    let metadata = metadata.map(Value::to_string);
    host_call!(
        wit::update_thread(id, metadata.as_deref(), keep_last),
        Thread::from
    )
}

pub fn delete_thread(id: &str) -> Result<(), HostError> {
    host_call!(wit::delete_thread(id))
}

/// Puts a checkpoint on top of `parent` (`None` for a thread's first) if
/// it is still the thread's newest; [`HostError::Conflict`] otherwise, and
/// nothing written.
pub fn put(
    thread_id: &str,
    parent: Option<&str>,
    values: &Value,
    metadata: &Value,
) -> Result<Checkpoint, HostError> {
    host_call!(
        wit::put(
            thread_id,
            parent,
            &values.to_string(),
            &metadata.to_string()
        ),
        Checkpoint::from
    )
}

/// The newest checkpoint; `None` before the first.
pub fn latest(thread_id: &str) -> Result<Option<Checkpoint>, HostError> {
    host_call!(wit::latest(thread_id), |c| c.map(Checkpoint::from))
}

pub fn get_checkpoint(thread_id: &str, checkpoint_id: &str) -> Result<Checkpoint, HostError> {
    host_call!(
        wit::get_checkpoint(thread_id, checkpoint_id),
        Checkpoint::from
    )
}

/// The thread's checkpoints, newest first.
pub fn history(
    thread_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<Checkpoint>, HostError> {
    host_call!(wit::history(thread_id, limit, cursor), |page| Page {
        items: page.items.into_iter().map(Checkpoint::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// Records writes (channel, value) that `task` of the step running from
/// `checkpoint_id` made, after its earlier ones; [`HostError::Conflict`]
/// when the checkpoint is no longer the thread's newest.
pub fn put_writes(
    thread_id: &str,
    checkpoint_id: &str,
    task: &str,
    writes: &[(&str, Value)],
) -> Result<(), HostError> {
    let writes: Vec<(String, String)> = writes
        .iter()
        .map(|(channel, value)| (channel.to_string(), value.to_string()))
        .collect();
    host_call!(wit::put_writes(thread_id, checkpoint_id, task, &writes))
}

/// What unfinished steps wrote from a checkpoint, by task, in order.
pub fn pending_writes(
    thread_id: &str,
    checkpoint_id: &str,
) -> Result<Vec<PendingWrite>, HostError> {
    host_call!(wit::pending_writes(thread_id, checkpoint_id), |writes| {
        writes.into_iter().map(PendingWrite::from).collect()
    })
}

/// A new thread whose first checkpoint copies `checkpoint_id` of
/// `thread_id`; the original is not touched. `metadata` `None` keeps the
/// original's.
pub fn fork(
    thread_id: &str,
    checkpoint_id: &str,
    metadata: Option<&Value>,
) -> Result<Thread, HostError> {
    let metadata = metadata.map(Value::to_string);
    host_call!(
        wit::fork(thread_id, checkpoint_id, metadata.as_deref()),
        Thread::from
    )
}
