//! The rules. The host's core models, collections and documents:
//! validation, ownership, optimistic concurrency, tags, and the events every
//! change emits. The REST API (`crate::http`) and the WIT `models` interface
//! (`crate::capabilities::models`) both go through here, so a plugin gets
//! exactly the rules a REST client gets. Also the events and their outbox,
//! and the credential store with its master keys.
//!
//! - [`validate`]: input rules, with errors naming the field.
//! - [`collections`], [`documents`]: the operations on the core models.
//! - [`aggregates`]: grouped figures over the core tables, scoped to the
//!   principal.
//! - [`plugin_data`]: rows of the models plugins declare.
//! - [`kv`]: a plugin's private key-value store, with its read cache.
//! - [`events`]: core events, transactional hooks and the durable outbox.
//! - [`secrets`]: the encrypted credential store and its master keys.
//! - [`state`]: the StateManager: threads of checkpoints, put by
//!   compare-and-swap, with pending writes, forks and retention.
//! - [`state_metrics`]: gauges of the pools and the outbox, for `/metrics`.
//! - [`executions`]: workflow executions: start, read, cancel, retry, and
//!   what the runner writes after each step.
//! - [`users`]: users and API tokens: visibility, unique emails, the last
//!   admin, token names and lifetimes.

pub mod aggregates;
pub mod collections;
pub mod documents;
pub mod events;
pub mod executions;
pub mod kv;
pub mod memory;
pub mod plugin_data;
pub mod secrets;
pub mod state;
pub mod state_metrics;
pub mod triggers;
pub mod users;
pub mod validate;
pub mod workflows;

use crate::domain::{EventKind, Filter, Op, Principal, Row, Value};
use crate::services::events::outbox::Outbox;
use crate::services::events::{EventError, Hooks};
use crate::services::secrets::Keys;
use crate::store::query::QueryError;
use crate::store::query::select::Scope;
use crate::store::{Db, StoreError};
use futures::future::BoxFuture;

/// The unit of work the rules run in: every write of one request, or of
/// one change and its transactional hooks, commits together or not at all.
pub use crate::store::session::Session;
use std::sync::Arc;

/// What the services share: the database, the credential store's keys,
/// the rules' settings and the outbox of after-commit events.
pub struct Core {
    pub db: Db,
    pub keys: Arc<Keys>,
    pub limits: Limits,
    pub outbox: Arc<Outbox>,
    /// The workflows' event triggers, matched in each change
    /// ([`triggers::TriggerIndex`]).
    pub triggers: Arc<dyn Triggers>,
}

impl Core {
    /// Commits `session`, then wakes the event worker if the session
    /// queued events: the one way a unit of work ends well.
    pub async fn commit(&self, session: &Session) -> Result<(), sqlx::Error> {
        session.commit().await?;
        if session.has_queued_events() {
            self.outbox.notify();
        }
        Ok(())
    }
}

/// The workflows a change starts: the WorkflowService's event triggers
/// (`services::triggers`), which the rules call without knowing.
pub trait Triggers: Send + Sync {
    /// Queues, in `ctx`'s transaction, the runs waiting for `kind` of the
    /// row that changed (`old` before, `new` after).
    fn on_event<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        kind: EventKind,
        old: Option<&'a Row>,
        new: Option<&'a Row>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;

    /// Reads the triggers from the database again.
    fn reload<'a>(&'a self, db: &'a Db) -> BoxFuture<'a, Result<(), ModelError>>;
}

/// Settings the rules enforce.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest document content accepted, in bytes.
    pub max_document_bytes: usize,
}

/// Who is acting, inside which unit of work, and how deep in a chain of
/// hooks (a hook's own writes emit events too; depth bounds the chain).
pub struct Ctx<'a> {
    pub core: &'a Core,
    /// The subscribers the changes' events go to.
    pub hooks: &'a dyn Hooks,
    pub session: &'a Arc<Session>,
    pub principal: &'a Principal,
    pub depth: u8,
}

impl Ctx<'_> {
    /// Runs `operation` (an operation of this context, not yet started)
    /// under a savepoint of the session: its writes, and those of the hooks
    /// it triggers, are kept if it succeeds and undone if it fails, while
    /// the rest of the unit of work carries on.
    pub async fn atomically<T, E: From<ModelError>>(
        &self,
        operation: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let savepoint = self.session.savepoint().await.map_err(ModelError::from)?;
        let result = operation.await;
        self.session
            .end_savepoint(savepoint, result.is_ok())
            .await
            .map_err(ModelError::from)?;
        result
    }
}

/// Why a model operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No such row, or not visible to the principal.
    #[error("{0}")]
    NotFound(String),
    /// Input broke a rule; `field` names where.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A uniqueness rule or the state of the row forbids it.
    #[error("{0}")]
    Conflict(String),
    /// The caller's expected version is stale.
    #[error("version mismatch: expected {expected}, current is {current}")]
    VersionMismatch { expected: i64, current: i64 },
    /// The principal may not do this.
    #[error("{0}")]
    Denied(String),
    /// A query was malformed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A transactional hook refused or failed.
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<StoreError> for ModelError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Query(error) => ModelError::Query(error),
            StoreError::Database(error) => ModelError::Database(error),
        }
    }
}

impl ModelError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The owner condition a query over documents (or their tags) needs. When
/// the filter pins the query to one collection the principal owns, the
/// condition is implied (a document's owner is its collection's owner) and
/// dropped, so the query can use the per-collection indexes alone.
pub async fn scope_within_collection(
    session: &Session,
    principal: &Principal,
    filter: &Filter,
) -> Result<Option<Scope>, sqlx::Error> {
    let Some(scope) = Scope::for_principal(principal) else {
        return Ok(None);
    };
    let Some(collection) = pinned_collection(filter) else {
        return Ok(Some(scope));
    };
    let owner = crate::store::collections::owner(session, collection).await?;
    Ok(if owner.as_deref() == Some(principal.user_id.as_str()) {
        None
    } else {
        Some(scope)
    })
}

/// The collection a filter requires with a top-level `collection_id eq`
/// (alone, or inside the root `all`).
fn pinned_collection(filter: &Filter) -> Option<&str> {
    filter.required().into_iter().find_map(|condition| {
        match (
            condition.field.as_str(),
            condition.op,
            condition.values.as_slice(),
        ) {
            ("collection_id", Op::Eq, [Value::Uuid(id) | Value::Text(id)]) => Some(id.as_str()),
            _ => None,
        }
    })
}
