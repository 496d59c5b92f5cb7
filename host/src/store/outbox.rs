//! The `event_outbox` table: events waiting for after-commit delivery, one
//! row per subscribing plugin, and the lock that lets one node deliver at a
//! time on PostgreSQL.

use super::session::Session;
use super::{Backend, Db};
use crate::util::now_micros;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Row};

/// Key of the PostgreSQL advisory lock held while delivering.
const DELIVERY_LOCK: i64 = 0x6b61_694f_7574; // "kaiOut"

/// An event waiting for a plugin.
#[derive(sqlx::FromRow)]
pub struct Pending {
    pub id: i64,
    pub plugin: String,
    pub subject: String,
    /// The event, as JSON.
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
}

/// Writes an event for `plugin` inside `session`, due at once.
pub async fn enqueue(
    session: &Session,
    plugin: &str,
    kind: &str,
    subject: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    let now = now_micros();
    let mut conn = session.write_conn().await?;
    sqlx::query(
        "INSERT INTO event_outbox (plugin, kind, subject, payload, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(plugin)
    .bind(kind)
    .bind(subject)
    .bind(payload)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Undelivered events with fewer than `max_attempts` attempts, oldest
/// first, at most `limit`.
pub async fn pending(db: &Db, max_attempts: i64, limit: i64) -> Result<Vec<Pending>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, plugin, subject, payload, attempts, next_attempt_at FROM event_outbox \
         WHERE delivered_at IS NULL AND attempts < $1 ORDER BY id LIMIT $2",
    )
    .bind(max_attempts)
    .bind(limit)
    .fetch_all(db.reader())
    .await
}

/// How many events wait for delivery, and when the oldest was written
/// (microseconds since the epoch).
pub async fn backlog(db: &Db) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM event_outbox WHERE delivered_at IS NULL")
        .fetch_one(db.reader())
        .await
}

/// Records a failed attempt and when to try again.
pub async fn retry_later(
    db: &Db,
    id: i64,
    attempts: i64,
    next_attempt_at: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE event_outbox SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4",
    )
    .bind(attempts)
    .bind(next_attempt_at)
    .bind(reason)
    .bind(id)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Marks event `id` delivered inside `session`, so it commits together with
/// what the plugin wrote while handling it.
pub async fn mark_delivered(session: &Session, id: i64) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query("UPDATE event_outbox SET delivered_at = $1, attempts = attempts + 1 WHERE id = $2")
        .bind(now_micros())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The right to deliver, held until [`DeliveryLock::release`]: on
/// PostgreSQL a session-level advisory lock on a dedicated connection; on
/// SQLite, where one process owns the database, nothing.
pub struct DeliveryLock(Option<PoolConnection<Any>>);

impl DeliveryLock {
    /// The lock, or `None` when another node holds it (and so delivers).
    pub async fn try_take(db: &Db) -> Result<Option<DeliveryLock>, sqlx::Error> {
        if db.backend() != Backend::Postgres {
            return Ok(Some(DeliveryLock(None)));
        }
        let mut conn = db.writer().acquire().await?;
        let acquired: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(DELIVERY_LOCK)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        Ok(acquired.then_some(DeliveryLock(Some(conn))))
    }

    pub async fn release(self) -> Result<(), sqlx::Error> {
        if let Some(mut conn) = self.0 {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(DELIVERY_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}
