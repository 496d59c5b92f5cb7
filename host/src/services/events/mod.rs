//! Core events: every change of a collection or document emits one, with
//! the row before and after, to the plugins that subscribed.
//!
//! - transactional subscribers are called right away, inside the
//!   transaction of the change; their writes join it and their failure
//!   aborts it (the error names the plugin);
//! - after-commit subscribers get a row in the durable outbox, written in
//!   the same transaction, and [`outbox`] delivers it after commit.
//!
//! [`emit::emit`] is how a change announces itself.
//!
//! A hook's own writes emit events too; [`MAX_DEPTH`] bounds the chain so
//! hooks cannot loop forever.
//!
//! The rules do not call plugins themselves: [`Hooks`] is what they need of
//! whoever does (the plugin set, `crate::plugins::hooks`).

pub mod emit;
pub mod outbox;

pub use crate::domain::{Event, EventKind, Row};
use crate::store::session::Session;
use futures::future::BoxFuture;
use std::sync::Arc;

/// How deep hooks may nest (a change, a hook's write, its hook's write...).
pub const MAX_DEPTH: u8 = 4;

/// When a subscriber gets its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Inside the transaction of the change; a refusal aborts it.
    Transactional,
    /// From the durable outbox once the change committed, at least once.
    AfterCommit,
}

/// Why a subscriber did not take an event.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// The subscriber answered with an error of its own.
    #[error("{0}")]
    Refused(String),
    /// The call failed: a timeout, a trap, memory.
    #[error("{0}")]
    Failed(String),
}

/// One plugin's subscription to a kind of event.
pub trait Subscriber: Send + Sync {
    /// The subscribing plugin's name.
    fn plugin(&self) -> &str;

    fn delivery(&self) -> Delivery;

    /// Hands `event` to the plugin, `depth` hooks deep (1 for a hook of a
    /// change made by a request); its writes go into `session`.
    fn deliver<'a>(
        &'a self,
        event: &'a Event,
        session: &'a Arc<Session>,
        depth: u8,
    ) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

/// Who is subscribed to what, as of now.
pub trait Hooks: Send + Sync {
    /// The subscribers of `kind`, in a stable order.
    fn subscribers(&self, kind: EventKind) -> Vec<Arc<dyn Subscriber>>;

    /// The subscription of `plugin` to `kind`, if it still has one.
    fn subscriber(&self, kind: EventKind, plugin: &str) -> Option<Arc<dyn Subscriber>> {
        self.subscribers(kind)
            .into_iter()
            .find(|s| s.plugin() == plugin)
    }
}

/// Why a change could not complete because of its events.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("plugin `{plugin}` refused the change ({event}): {message}")]
    Refused {
        plugin: String,
        event: &'static str,
        message: String,
    },
    #[error("plugin `{plugin}` failed while handling {event}: {error}")]
    Failed {
        plugin: String,
        event: &'static str,
        error: String,
    },
    #[error("hooks nested deeper than {MAX_DEPTH} levels; a hook is probably writing in a loop")]
    TooDeep,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
