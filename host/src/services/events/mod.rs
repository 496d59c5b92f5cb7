//! Core events: every change of a collection or document emits one, with
//! the row before and after, to the plugins that subscribed.
//!
//! - transactional subscribers are called right away, inside the
//!   transaction of the change; their writes join it and their failure
//!   aborts it (the error names the plugin);
//! - after-commit subscribers get a row in the durable outbox, written in
//!   the same transaction, and [`outbox`] delivers it after commit.
//!
//! A hook's own writes emit events too; [`MAX_DEPTH`] bounds the chain so
//! hooks cannot loop forever.

pub mod outbox;

pub use crate::domain::EventKind;
use crate::runtime::call::{CallContext, CallError, HostAccess};
use crate::services::Ctx;
use crate::util::now_micros;
use crate::wit::bindings::exports::kai::fusion::describe::Delivery;
use crate::wit::bindings::exports::kai::fusion::events::{Event as WitEvent, Row as WitRow};
use futures::future::BoxFuture;

/// How deep hooks may nest (a change, a hook's write, its hook's write...).
pub const MAX_DEPTH: u8 = 4;

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
        error: CallError,
    },
    #[error("hooks nested deeper than {MAX_DEPTH} levels; a hook is probably writing in a loop")]
    TooDeep,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Emits `kind` for `subject`: calls transactional subscribers now and
/// queues the event for after-commit ones, all within `ctx.session`.
///
/// Boxed: the hooks it calls may write and so emit again, and a concrete
/// `Send` future type here keeps that chain well-typed.
pub fn emit<'a>(
    ctx: &'a Ctx<'a>,
    kind: EventKind,
    subject: &'a str,
    old: Option<WitRow>,
    new: Option<WitRow>,
) -> BoxFuture<'a, Result<(), EventError>> {
    Box::pin(emit_now(ctx, kind, subject, old, new))
}

async fn emit_now(
    ctx: &Ctx<'_>,
    kind: EventKind,
    subject: &str,
    old: Option<WitRow>,
    new: Option<WitRow>,
) -> Result<(), EventError> {
    let set = ctx.state.plugins.snapshot();
    let subscribers = set.subscribers(kind.as_str());
    if subscribers.is_empty() {
        return Ok(());
    }
    if ctx.depth >= MAX_DEPTH {
        return Err(EventError::TooDeep);
    }
    let event = WitEvent {
        id: uuid::Uuid::now_v7().to_string(),
        kind: kind.as_str().to_string(),
        subject: subject.to_string(),
        old,
        new,
        principal: Some(ctx.principal.into()),
        occurred_at: now_micros(),
        attempt: 1,
    };
    for subscriber in subscribers {
        let plugin = &subscriber.plugin;
        match subscriber.delivery {
            Delivery::Transactional => {
                let context = CallContext {
                    principal: event.principal.clone(),
                    request_id: format!("event:{}", event.id),
                    depth: ctx.depth + 1,
                    host: Some(HostAccess {
                        state: ctx.state.clone(),
                        session: ctx.session.clone(),
                        plugin: plugin.clone(),
                        grant: subscriber.grant.clone(),
                    }),
                };
                let name = plugin.manifest.name.clone();
                match plugin.on_event(context, event.clone()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(message)) => {
                        return Err(EventError::Refused {
                            plugin: name,
                            event: kind.as_str(),
                            message,
                        });
                    }
                    Err(error) => {
                        return Err(EventError::Failed {
                            plugin: name,
                            event: kind.as_str(),
                            error,
                        });
                    }
                }
            }
            Delivery::AfterCommit => {
                outbox::enqueue(ctx.session, &plugin.manifest.name, &event).await?;
            }
        }
    }
    Ok(())
}
