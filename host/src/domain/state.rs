//! The StateManager's records: threads of checkpoints that let a
//! long-running piece of work survive a crash and never advance twice.
//!
//! A [`Thread`] is one run of some work, owned by a user and, when a plugin
//! made it, by that plugin. Its [`Checkpoint`]s form a chain: each names its
//! parent and carries the next step number. A checkpoint is put only on top
//! of the thread's head as its writer read it (compare-and-swap), so two
//! workers never both advance the same thread. [`PendingWrite`]s are what a
//! step did from a checkpoint before it finished.

use serde_json::Value;

/// One run of some work.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    pub id: String,
    /// The user on whose behalf it runs.
    pub owner: String,
    /// The plugin that made it; `None` when made through the REST API.
    pub plugin: Option<String>,
    /// A JSON object, serialized.
    pub metadata: String,
    /// How many checkpoints are kept, newest first; `None` keeps all.
    pub keep_last: Option<u32>,
    /// The newest checkpoint's id and step; `None` before the first.
    pub head: Option<Head>,
    /// The checkpoint this thread was forked from.
    pub forked_from: Option<CheckpointRef>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The newest checkpoint of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub checkpoint_id: String,
    pub step: i64,
}

/// A checkpoint of a thread, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRef {
    pub thread_id: String,
    pub checkpoint_id: String,
}

/// The state of a thread after one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub id: String,
    pub thread_id: String,
    /// The checkpoint this one was put on top of; `None` for a thread's
    /// first (and for the first of a fork, whose origin the thread names).
    pub parent_id: Option<String>,
    /// 0 for a thread's first checkpoint, then one more than the parent's.
    pub step: i64,
    /// Any JSON value, serialized.
    pub values: String,
    /// A JSON object, serialized.
    pub metadata: String,
    pub created_at: i64,
}

/// A write a step made from a checkpoint before it finished.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingWrite {
    /// Which task of the step made it.
    pub task: String,
    /// Its order among the task's writes, from 0.
    pub seq: i64,
    /// Where the write goes, as the step names it.
    pub channel: String,
    /// Any JSON value, serialized.
    pub value: String,
    pub created_at: i64,
}

/// A thread to make.
#[derive(Debug, Clone, Default)]
pub struct NewThread {
    pub metadata: Option<Value>,
    pub keep_last: Option<u32>,
}

/// A change to a thread's metadata or retention: each `Some` is set.
#[derive(Debug, Clone, Default)]
pub struct ThreadChange {
    pub metadata: Option<Value>,
    /// `Some(None)` keeps every checkpoint from now on.
    pub keep_last: Option<Option<u32>>,
}

/// A checkpoint to put on top of `parent`, which must still be the head.
#[derive(Debug, Clone)]
pub struct NewCheckpoint {
    /// The head as the writer read it; `None` for a thread's first.
    pub parent_id: Option<String>,
    pub values: Value,
    pub metadata: Option<Value>,
}
