//! The host's core models, collections and documents: validation,
//! ownership, optimistic concurrency, tags, and the events every change
//! emits. The REST API (`crate::http`) and the WIT `models` interface
//! (`crate::capabilities::models`) both go through here, so a plugin gets
//! exactly the rules a REST client gets.
//!
//! - [`actor`]: who is acting, and what they may see.
//! - [`validate`]: input rules, with errors naming the field.
//! - [`collections`], [`documents`]: the operations and their SQL.
//! - [`schemas`]: the core tables as the query layer sees them.

pub mod actor;
pub mod collections;
pub mod documents;
pub mod schemas;
pub mod validate;

pub use actor::Actor;

use crate::db::session::Session;
use crate::state::AppState;

/// Who is acting, inside which unit of work, and how deep in a chain of
/// hooks (a hook's own writes emit events too; depth bounds the chain).
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub session: &'a std::sync::Arc<Session>,
    pub actor: &'a Actor,
    pub depth: u8,
}

use crate::events::EventError;
use crate::query::QueryError;

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
