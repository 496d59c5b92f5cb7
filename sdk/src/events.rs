//! Core events a plugin subscribes to with [`crate::Plugin::on_event`]:
//! `collection.created|updated|deleted` and
//! `document.created|updated|deleted`, with the row before (`old`) and
//! after (`new`); and `workflow.execution.succeeded|failed`, after commit
//! only, whose `subject` is the execution's id (no rows).
//!
//! - [`Delivery::Transactional`]: called inside the transaction of the
//!   change; your writes join it and returning `Err` aborts the change.
//! - [`Delivery::AfterCommit`]: delivered after commit from a durable
//!   outbox, at least once, in order per subject, retried on `Err`.

use crate::http::Principal;
use crate::models::{Collection, Document};

/// When a subscription's handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Inside the database transaction of the change, before commit.
    Transactional,
    /// After commit, from the durable outbox, at least once.
    AfterCommit,
}

/// The row of a core model an event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreRow {
    Collection(Collection),
    Document(Document),
}

/// A change to a core model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique per event; after-commit deliveries may repeat an id.
    pub id: String,
    /// e.g. `document.updated`.
    pub kind: String,
    /// Id of the row that changed.
    pub subject: String,
    /// The row before the change (updated and deleted events).
    pub old: Option<CoreRow>,
    /// The row after the change (created and updated events).
    pub new: Option<CoreRow>,
    /// Who made the change.
    pub principal: Option<Principal>,
    /// Microseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
    /// 1 for the first delivery; after-commit retries count up.
    pub attempt: u32,
}

impl Event {
    /// The document after the change (created/updated events).
    pub fn new_document(&self) -> Option<&Document> {
        match &self.new {
            Some(CoreRow::Document(doc)) => Some(doc),
            _ => None,
        }
    }

    /// The document before the change (updated/deleted events).
    pub fn old_document(&self) -> Option<&Document> {
        match &self.old {
            Some(CoreRow::Document(doc)) => Some(doc),
            _ => None,
        }
    }

    /// The collection after the change.
    pub fn new_collection(&self) -> Option<&Collection> {
        match &self.new {
            Some(CoreRow::Collection(c)) => Some(c),
            _ => None,
        }
    }
}
