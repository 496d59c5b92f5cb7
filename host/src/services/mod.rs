//! The rules. The host's core models, collections and documents:
//! validation, ownership, optimistic concurrency, tags, and the events every
//! change emits. The REST API (`crate::http`) and the WIT `models` interface
//! (`crate::capabilities::models`) both go through here, so a plugin gets
//! exactly the rules a REST client gets. Also the events and their outbox,
//! and the credential store with its master keys.
//!
//! - [`actor`]: who is acting, and what they may see.
//! - [`validate`]: input rules, with errors naming the field.
//! - [`collections`], [`documents`]: the operations and their SQL.
//! - [`schemas`]: the core tables as the query layer sees them.
//! - [`stats`]: per-collection statistics kept in step with every change.
//! - [`events`]: core events, transactional hooks and the durable outbox.
//! - [`secrets`]: the encrypted credential store and its master keys.

pub mod actor;
pub mod collections;
pub mod documents;
pub mod events;
pub mod schemas;
pub mod secrets;
pub mod stats;
pub mod validate;

pub use actor::Actor;

use crate::domain::{Filter, Op, Value};
use crate::state::AppState;
use crate::store::query::select::Scope;
use crate::store::session::Session;

/// Who is acting, inside which unit of work, and how deep in a chain of
/// hooks (a hook's own writes emit events too; depth bounds the chain).
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub session: &'a std::sync::Arc<Session>,
    pub actor: &'a Actor,
    pub depth: u8,
}

use crate::services::events::EventError;
use crate::store::query::QueryError;

/// Why a model operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No such row, or not visible to the actor.
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
    /// The actor may not do this.
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

impl ModelError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The owner condition a query over documents (or their tags) needs. When
/// the filter pins the query to one collection the actor may see, the
/// condition is implied (a document's owner is its collection's owner) and
/// dropped, so the query can use the per-collection indexes alone.
pub async fn scope_within_collection(
    session: &Session,
    actor: &Actor,
    filter: &Filter,
) -> Result<Option<Scope>, sqlx::Error> {
    let Some(scope) = actor.scope() else {
        return Ok(None);
    };
    let Some(collection) = pinned_collection(filter) else {
        return Ok(Some(scope));
    };
    let mut conn = session.read_conn().await?;
    let owner: Option<String> = sqlx::query("SELECT owner FROM collections WHERE id = $1")
        .bind(collection)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| sqlx::Row::try_get(&row, 0))
        .transpose()?;
    Ok(if owner.as_deref() == Some(actor.user_id.as_str()) {
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
