//! What the database records about the credential store's master keys
//! (`master_keys`: check values, retirement) and the servers that use them
//! (`key_ring_nodes`: heartbeats). The rules around them are
//! `crate::services::secrets::registry`'s.

use super::Db;
use crate::util::now_micros;
use sqlx::{AnyConnection, Connection, Row};
use std::time::Duration;

/// A heartbeat younger than this counts as a running server.
pub const NODE_LIVE_WITHIN: Duration = Duration::from_secs(20);

/// One row of `master_keys`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRecord {
    #[sqlx(try_from = "i64")]
    pub key_id: u32,
    pub check_value: Vec<u8>,
    pub retired_at: Option<i64>,
}

/// A running server as its heartbeat describes it.
#[derive(Debug, Clone)]
pub struct NodeRecord {
    pub node_id: String,
    pub description: String,
    pub sealing_key: u32,
    pub key_ids: Vec<u32>,
    /// Microseconds since the heartbeat.
    pub age_micros: i64,
}

/// A stored key id as the `u32` it was written from.
fn key_id(row: &sqlx::any::AnyRow, index: usize) -> Result<u32, sqlx::Error> {
    Ok(u32::try_from(row.try_get::<i64, _>(index)?).unwrap_or(u32::MAX))
}

/// Every key record, by id.
pub async fn records(db: &Db) -> Result<Vec<KeyRecord>, sqlx::Error> {
    sqlx::query_as("SELECT key_id, check_value, retired_at FROM master_keys ORDER BY key_id")
        .fetch_all(db.reader())
        .await
}

/// The record of key `id`, if the database has one.
pub async fn record(db: &Db, id: u32) -> Result<Option<KeyRecord>, sqlx::Error> {
    sqlx::query_as("SELECT key_id, check_value, retired_at FROM master_keys WHERE key_id = $1")
        .bind(i64::from(id))
        .fetch_optional(db.reader())
        .await
}

/// Records key `id` with its check value, unless a record exists (another
/// server may have registered the id at the same moment: the stored record
/// decides).
pub async fn register(db: &Db, id: u32, check_value: Vec<u8>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO master_keys (key_id, check_value, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key_id) DO NOTHING",
    )
    .bind(i64::from(id))
    .bind(check_value)
    .bind(now_micros())
    .execute(db.writer())
    .await?;
    Ok(())
}

/// The highest key id the database has seen (0 if none).
pub async fn highest_id(db: &Db) -> Result<u32, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COALESCE(MAX(k), 0) FROM (SELECT MAX(key_id) AS k FROM master_keys \
         UNION ALL SELECT MAX(key_id) AS k FROM credentials) AS ids",
    )
    .fetch_one(db.reader())
    .await?;
    key_id(&row, 0)
}

/// How many credentials each key seals, by key id.
pub async fn key_usage(db: &Db) -> Result<Vec<(u32, i64)>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT key_id, COUNT(*) FROM credentials GROUP BY key_id ORDER BY key_id")
            .fetch_all(db.reader())
            .await?;
    rows.iter()
        .map(|row| Ok((key_id(row, 0)?, row.try_get(1)?)))
        .collect()
}

/// Inside a credential write's transaction: locks the record of key `id`
/// until the transaction ends and says whether the key may seal (it is
/// registered and not retired). The lock is a write to the record, the
/// same on both databases: retiring a key writes the same record.
pub async fn lock_for_sealing(conn: &mut AnyConnection, id: u32) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE master_keys SET retired_at = retired_at WHERE key_id = $1 AND retired_at IS NULL",
    )
    .bind(i64::from(id))
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Writes the heartbeat of node `node_id`, which seals under `sealing_key`
/// and holds `key_ids`.
pub async fn heartbeat(
    db: &Db,
    node_id: &str,
    description: &str,
    sealing_key: u32,
    key_ids: &[u32],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO key_ring_nodes (node_id, description, sealing_key, key_ids, seen_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node_id) DO UPDATE SET \
         description = excluded.description, sealing_key = excluded.sealing_key, \
         key_ids = excluded.key_ids, seen_at = excluded.seen_at",
    )
    .bind(node_id)
    .bind(description)
    .bind(i64::from(sealing_key))
    .bind(serde_json::to_string(key_ids).expect("ids serialize"))
    .bind(now_micros())
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Removes a stopping node's heartbeat.
pub async fn forget_node(db: &Db, node_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM key_ring_nodes WHERE node_id = $1")
        .bind(node_id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// The nodes whose heartbeat is recent.
pub async fn live_nodes(db: &Db) -> Result<Vec<NodeRecord>, sqlx::Error> {
    live_nodes_on(&mut *db.reader().acquire().await?).await
}

async fn live_nodes_on(conn: &mut AnyConnection) -> Result<Vec<NodeRecord>, sqlx::Error> {
    /// A row of `key_ring_nodes`, with the heartbeat's age worked out.
    #[derive(sqlx::FromRow)]
    struct Heartbeat {
        node_id: String,
        description: String,
        #[sqlx(try_from = "i64")]
        sealing_key: u32,
        /// A JSON array of key ids.
        key_ids: String,
        age_micros: i64,
    }
    let now = now_micros();
    let since = now - NODE_LIVE_WITHIN.as_micros() as i64;
    let rows: Vec<Heartbeat> = sqlx::query_as(
        "SELECT node_id, description, sealing_key, key_ids, $1 - seen_at AS age_micros \
         FROM key_ring_nodes WHERE seen_at > $2 ORDER BY description, node_id",
    )
    .bind(now)
    .bind(since)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| NodeRecord {
            node_id: row.node_id,
            description: row.description,
            sealing_key: row.sealing_key,
            key_ids: serde_json::from_str(&row.key_ids).unwrap_or_default(),
            age_micros: row.age_micros,
        })
        .collect())
}

/// Retires key `id` in one transaction, storing `check_value` if the
/// database had no record of it, unless `refuse` (given how many
/// credentials the key seals and the running servers) says no: then
/// nothing changes. The write comes first, so it locks the record (and, on
/// SQLite, the database) before anything is counted.
pub async fn retire<E: From<sqlx::Error>>(
    db: &Db,
    id: u32,
    check_value: Vec<u8>,
    refuse: impl FnOnce(i64, &[NodeRecord]) -> Result<(), E>,
) -> Result<(), E> {
    let mut conn = db.writer().acquire().await?;
    let mut tx = conn.begin().await?;
    let now = now_micros();
    sqlx::query(
        "INSERT INTO master_keys (key_id, check_value, created_at, retired_at) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (key_id) DO UPDATE SET \
         retired_at = COALESCE(master_keys.retired_at, excluded.retired_at)",
    )
    .bind(i64::from(id))
    .bind(check_value)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let sealed: i64 = sqlx::query("SELECT COUNT(*) FROM credentials WHERE key_id = $1")
        .bind(i64::from(id))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let nodes = live_nodes_on(&mut tx).await?;
    refuse(sealed, &nodes)?;
    tx.commit().await?;
    Ok(())
}
