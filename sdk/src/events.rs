//! Core events a plugin subscribes to with [`crate::Plugin::on_event`]:
//! `collection.created|updated|deleted` and
//! `document.created|updated|deleted`, with the row before (`old`) and
//! after (`new`).
//!
//! - [`Delivery::Transactional`]: called inside the transaction of the
//!   change; your writes join it and returning `Err` aborts the change.
//! - [`Delivery::AfterCommit`]: delivered after commit from a durable
//!   outbox, at least once, in order per subject, retried on `Err`.

use crate::models::{Collection, Document};
pub use crate::wit::exports::kai::fusion::describe::Delivery;
pub use crate::wit::exports::kai::fusion::events::{Event, Row};

impl Event {
    /// The document after the change (created/updated events).
    pub fn new_document(&self) -> Option<&Document> {
        match &self.new {
            Some(Row::Document(doc)) => Some(doc),
            _ => None,
        }
    }

    /// The document before the change (updated/deleted events).
    pub fn old_document(&self) -> Option<&Document> {
        match &self.old {
            Some(Row::Document(doc)) => Some(doc),
            _ => None,
        }
    }

    /// The collection after the change.
    pub fn new_collection(&self) -> Option<&Collection> {
        match &self.new {
            Some(Row::Collection(c)) => Some(c),
            _ => None,
        }
    }
}
