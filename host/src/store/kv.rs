//! The `plugin_kv` table: each plugin's private key-value entries, with
//! an optional expiry (microseconds since the epoch). Reads and writes go
//! through the caller's session, so writes join its transaction.

use super::session::Session;
use sqlx::Row;

/// The value of `plugin`'s `key` unless it expired by `now`, with its
/// expiry.
pub async fn get(
    session: &Session,
    plugin: &str,
    key: &str,
    now: i64,
) -> Result<Option<(Vec<u8>, Option<i64>)>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let row = sqlx::query(
        "SELECT value, expires_at FROM plugin_kv WHERE plugin = $1 AND key = $2 \
         AND (expires_at IS NULL OR expires_at > $3)",
    )
    .bind(plugin)
    .bind(key)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .transpose()
}

pub async fn set(
    session: &Session,
    plugin: &str,
    key: &str,
    value: &[u8],
    expires_at: Option<i64>,
) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query(
        "INSERT INTO plugin_kv (plugin, key, value, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, \
         expires_at = excluded.expires_at",
    )
    .bind(plugin)
    .bind(key)
    .bind(value)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes `plugin`'s `key`; whether it existed.
pub async fn delete(session: &Session, plugin: &str, key: &str) -> Result<bool, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    let result = sqlx::query("DELETE FROM plugin_kv WHERE plugin = $1 AND key = $2")
        .bind(plugin)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Up to `limit` of `plugin`'s live keys that start with `prefix` and sort
/// after `after`, in order.
pub async fn keys(
    session: &Session,
    plugin: &str,
    prefix: &str,
    after: &str,
    now: i64,
    limit: u32,
) -> Result<Vec<String>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let rows = sqlx::query(
        "SELECT key FROM plugin_kv WHERE plugin = $1 AND substr(key, 1, length($2)) = $2 \
         AND key > $3 AND (expires_at IS NULL OR expires_at > $4) ORDER BY key LIMIT $5",
    )
    .bind(plugin)
    .bind(prefix)
    .bind(after)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|row| row.try_get(0)).collect()
}
