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

use crate::runtime::call::{CallContext, HostAccess};
use crate::state::AppState;
use crate::store::session::Session;
use crate::store::{Backend, Db};
use crate::util::now_micros;
use crate::wit::bindings::exports::kai::fusion::events::Event as WitEvent;
use sqlx::Row;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Key of the PostgreSQL advisory lock held while delivering.
const DELIVERY_LOCK: i64 = 0x6b61_694f_7574; // "kaiOut"
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
pub async fn enqueue(session: &Session, plugin: &str, event: &WitEvent) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_string(event).expect("events serialize");
    let now = now_micros();
    async {
        let mut conn = session.write_conn().await?;
        let conn = &mut *conn;
        sqlx::query(
            "INSERT INTO event_outbox (plugin, kind, subject, payload, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(plugin)
        .bind(&event.kind)
        .bind(&event.subject)
        .bind(payload)
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok::<_, sqlx::Error>(())
    }
    .await?;
    session.queued_event();
    Ok(())
}

/// Delivers outbox rows until `shutdown` resolves.
pub async fn run(state: AppState, poll: Duration, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        if let Err(error) = deliver_due(&state).await {
            tracing::warn!(error = %error, "event delivery round failed");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = state.outbox.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// One round: delivers every due row, in order.
pub async fn deliver_due(state: &AppState) -> Result<(), sqlx::Error> {
    let db = &state.db;
    // On PostgreSQL, hold a session-level advisory lock on a dedicated
    // connection for the round; another node holding it means it delivers.
    let mut lock = None;
    if db.backend() == Backend::Postgres {
        let mut conn = db.writer().acquire().await?;
        let acquired: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(DELIVERY_LOCK)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        if !acquired {
            return Ok(());
        }
        lock = Some(conn);
    }
    let result = deliver_rows(state, db).await;
    if let Some(mut conn) = lock {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(DELIVERY_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn deliver_rows(state: &AppState, db: &Db) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, plugin, subject, payload, attempts, next_attempt_at FROM event_outbox \
         WHERE delivered_at IS NULL AND attempts < $1 ORDER BY id LIMIT $2",
    )
    .bind(MAX_ATTEMPTS)
    .bind(BATCH)
    .fetch_all(db.reader())
    .await?;
    let now = now_micros();
    // (plugin, subject) pairs with an earlier event still pending: later
    // events of the pair wait, to keep their order.
    let mut blocked: HashSet<(String, String)> = HashSet::new();
    for row in rows {
        let id: i64 = row.try_get(0)?;
        let plugin: String = row.try_get(1)?;
        let subject: String = row.try_get(2)?;
        let payload: String = row.try_get(3)?;
        let attempts: i64 = row.try_get(4)?;
        let next_attempt_at: i64 = row.try_get(5)?;
        let key = (plugin.clone(), subject);
        if blocked.contains(&key) {
            continue;
        }
        if next_attempt_at > now {
            blocked.insert(key);
            continue;
        }
        if let Err(reason) = deliver_one(state, id, &plugin, &payload, attempts + 1).await {
            blocked.insert(key);
            let attempts = attempts + 1;
            let backoff = (FIRST_BACKOFF_MS << (attempts - 1).min(20)).min(MAX_BACKOFF_MS);
            tracing::warn!(event = id, plugin = %plugin, attempts, %reason, "event delivery failed; will retry");
            sqlx::query(
                "UPDATE event_outbox SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4",
            )
            .bind(attempts)
            .bind(now_micros() + backoff * 1000)
            .bind(&reason)
            .bind(id)
            .execute(db.writer())
            .await?;
        }
    }
    Ok(())
}

/// Calls the plugin and, in the same transaction as its writes, marks the
/// row delivered.
async fn deliver_one(
    state: &AppState,
    id: i64,
    plugin_name: &str,
    payload: &str,
    attempt: i64,
) -> Result<(), String> {
    let mut event: WitEvent =
        serde_json::from_str(payload).map_err(|e| format!("unreadable event payload: {e}"))?;
    event.attempt = attempt as u32;
    let set = state.plugins.snapshot();
    let subscriber = set
        .subscribers(&event.kind)
        .into_iter()
        .find(|s| s.plugin.manifest.name == plugin_name)
        .ok_or_else(|| format!("plugin `{plugin_name}` is not loaded or no longer subscribed"))?;
    let plugin = subscriber.plugin.clone();
    let session = Arc::new(Session::new(state.db.clone()));
    let context = CallContext {
        principal: event.principal.clone(),
        request_id: format!("event:{}", event.id),
        depth: 1,
        host: Some(HostAccess {
            state: state.clone(),
            session: session.clone(),
            plugin: plugin.clone(),
            grant: subscriber.grant.clone(),
        }),
    };
    let outcome = plugin.on_event(context, event).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(message)) => {
            session.rollback().await;
            return Err(format!("the plugin refused the event: {message}"));
        }
        Err(error) => {
            session.rollback().await;
            return Err(error.to_string());
        }
    }
    let marked = async {
        let mut conn = session.write_conn().await?;
        let conn = &mut *conn;
        sqlx::query(
            "UPDATE event_outbox SET delivered_at = $1, attempts = attempts + 1 WHERE id = $2",
        )
        .bind(now_micros())
        .bind(id)
        .execute(&mut *conn)
        .await
    }
    .await;
    if let Err(error) = marked {
        session.rollback().await;
        return Err(format!("could not record the delivery: {error}"));
    }
    session
        .commit()
        .await
        .map_err(|e| format!("commit failed: {e}"))?;
    // The plugin's own writes may have queued events of their own.
    state.outbox.notify();
    Ok(())
}
