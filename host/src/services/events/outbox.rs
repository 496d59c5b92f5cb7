//! The durable outbox of after-commit events.
//!
//! An event for an after-commit subscriber is a row in `event_outbox`,
//! written in the transaction of the change: it exists if and only if the
//! change committed, and it survives a crash. The worker delivers due rows
//! in id order. A delivery runs in its own session and marks its row
//! delivered in that same transaction, so the plugin's writes and the mark
//! commit together. A failure schedules a retry with exponential backoff,
//! and later events of the same plugin and subject wait behind it, so each
//! subject's events arrive in order. Delivery is at least once: a crash
//! between the plugin's call and the commit repeats the event.
//!
//! On PostgreSQL several nodes share the table; an advisory lock lets one
//! node deliver at a time, which keeps the per-subject order.

use super::{DeliveryError, Event, Hooks};
use crate::store::Db;
use crate::store::outbox::{self as rows, DeliveryLock};
use crate::store::session::Session;
use crate::util::now_micros;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Rows looked at per round.
const BATCH: i64 = 500;
/// After this many failed attempts an event is parked (kept, not retried).
pub const MAX_ATTEMPTS: i64 = 12;
const FIRST_BACKOFF_MS: i64 = 250;
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;

/// Wakes the worker when new rows were committed.
#[derive(Default)]
pub struct Outbox {
    wake: Notify,
}

impl Outbox {
    /// Tells the worker that rows may be waiting.
    pub fn notify(&self) {
        self.wake.notify_one();
    }
}

/// Writes `event` for `plugin` into the outbox, inside `session`.
pub async fn enqueue(session: &Session, plugin: &str, event: &Event) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_string(event).expect("events serialize");
    rows::enqueue(
        session,
        plugin,
        event.kind.as_str(),
        &event.subject,
        &payload,
    )
    .await?;
    session.queued_event();
    Ok(())
}

/// What the worker delivers with: the database, the subscribers, and the
/// outbox that wakes it.
pub struct Worker {
    pub db: Db,
    pub hooks: Arc<dyn Hooks>,
    pub outbox: Arc<Outbox>,
}

impl Worker {
    /// Delivers outbox rows until `shutdown` resolves.
    pub async fn run(self, poll: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(error) = self.deliver_due().await {
                tracing::warn!(error = %error, "event delivery round failed");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.outbox.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// One round: delivers every due row, in order. On PostgreSQL another
    /// node holding the delivery lock means it delivers this round.
    pub async fn deliver_due(&self) -> Result<(), sqlx::Error> {
        let Some(lock) = DeliveryLock::try_take(&self.db).await? else {
            return Ok(());
        };
        let result = self.deliver_rows().await;
        lock.release().await?;
        result
    }

    async fn deliver_rows(&self) -> Result<(), sqlx::Error> {
        let pending = rows::pending(&self.db, MAX_ATTEMPTS, BATCH).await?;
        let now = now_micros();
        // (plugin, subject) pairs with an earlier event still pending: later
        // events of the pair wait, to keep their order.
        let mut blocked: HashSet<(String, String)> = HashSet::new();
        for row in pending {
            let key = (row.plugin.clone(), row.subject.clone());
            if blocked.contains(&key) {
                continue;
            }
            if row.next_attempt_at > now {
                blocked.insert(key);
                continue;
            }
            let attempts = row.attempts + 1;
            if let Err(reason) = self.deliver_one(&row, attempts).await {
                blocked.insert(key);
                let backoff = (FIRST_BACKOFF_MS << (attempts - 1).min(20)).min(MAX_BACKOFF_MS);
                tracing::warn!(event = row.id, plugin = %row.plugin, attempts, %reason, "event delivery failed; will retry");
                metrics::counter!(
                    crate::telemetry::metrics::EVENT_DELIVERY_FAILURES,
                    "plugin" => row.plugin.clone()
                )
                .increment(1);
                rows::retry_later(
                    &self.db,
                    row.id,
                    attempts,
                    now_micros() + backoff * 1000,
                    &reason,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Calls the plugin and, in the same transaction as its writes, marks
    /// the row delivered.
    async fn deliver_one(&self, row: &rows::Pending, attempt: i64) -> Result<(), String> {
        let mut event: Event = serde_json::from_str(&row.payload)
            .map_err(|e| format!("unreadable event payload: {e}"))?;
        event.attempt = attempt as u32;
        let subscriber = self
            .hooks
            .subscriber(event.kind, &row.plugin)
            .ok_or_else(|| {
                format!(
                    "plugin `{}` is not loaded or no longer subscribed",
                    row.plugin
                )
            })?;
        let session = Arc::new(Session::new(self.db.clone()));
        if event.by_run {
            session.mark_within_run();
        }
        if let Err(error) = subscriber.deliver(&event, &session, 1).await {
            session.rollback().await;
            return Err(match error {
                DeliveryError::Refused(message) => {
                    format!("the plugin refused the event: {message}")
                }
                DeliveryError::Failed(message) => message,
            });
        }
        if let Err(error) = rows::mark_delivered(&session, row.id).await {
            session.rollback().await;
            return Err(format!("could not record the delivery: {error}"));
        }
        session
            .commit()
            .await
            .map_err(|e| format!("commit failed: {e}"))?;
        // The plugin's own writes may have queued events of their own.
        self.outbox.notify();
        Ok(())
    }
}
