//! Emitting an event: transactional subscribers run now, inside the
//! change's transaction; after-commit ones get an outbox row in it.

use super::outbox;
use super::{Delivery, DeliveryError, Event, EventError, EventKind, MAX_DEPTH, Row};
use crate::services::Ctx;
use crate::util::now_micros;
use futures::future::BoxFuture;

/// Emits `kind` for `subject`: calls transactional subscribers now and
/// queues the event for after-commit ones, all within `ctx.session`.
///
/// Boxed: the hooks it calls may write and so emit again, and a concrete
/// `Send` future type here keeps that chain well-typed.
pub fn emit<'a>(
    ctx: &'a Ctx<'a>,
    kind: EventKind,
    subject: &'a str,
    old: Option<Row>,
    new: Option<Row>,
) -> BoxFuture<'a, Result<(), EventError>> {
    Box::pin(emit_now(ctx, kind, subject, old, new))
}

async fn emit_now(
    ctx: &Ctx<'_>,
    kind: EventKind,
    subject: &str,
    old: Option<Row>,
    new: Option<Row>,
) -> Result<(), EventError> {
    ctx.core
        .triggers
        .on_event(ctx, kind, old.as_ref(), new.as_ref())
        .await?;
    let subscribers = ctx.hooks.subscribers(kind);
    if subscribers.is_empty() {
        return Ok(());
    }
    if ctx.depth >= MAX_DEPTH {
        return Err(EventError::TooDeep);
    }
    let event = Event {
        id: uuid::Uuid::now_v7().to_string(),
        kind,
        subject: subject.to_string(),
        old,
        new,
        principal: Some(ctx.principal.clone()),
        occurred_at: now_micros(),
        attempt: 1,
        by_run: ctx.session.within_run(),
    };
    for subscriber in subscribers {
        match subscriber.delivery() {
            Delivery::Transactional => {
                let delivered = subscriber.deliver(&event, ctx.session, ctx.depth + 1).await;
                let plugin = subscriber.plugin().to_string();
                match delivered {
                    Ok(()) => {}
                    Err(DeliveryError::Refused(message)) => {
                        return Err(EventError::Refused {
                            plugin,
                            event: kind.as_str(),
                            message,
                        });
                    }
                    Err(DeliveryError::Failed(error)) => {
                        return Err(EventError::Failed {
                            plugin,
                            event: kind.as_str(),
                            error,
                        });
                    }
                }
            }
            Delivery::AfterCommit => {
                outbox::enqueue(ctx.session, subscriber.plugin(), &event).await?;
            }
        }
    }
    Ok(())
}
