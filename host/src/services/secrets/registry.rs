//! What the database records about the master keys (`master_keys`) and the
//! servers that use them (`key_ring_nodes`).
//!
//! - **Check values.** The first time a key id is seen, a fixed text is
//!   sealed under it and stored. A server opens the check value of every key
//!   it holds when it starts: a key that fails is the wrong key, and the
//!   server refuses to start naming it. No user's secret is read for that,
//!   so one damaged credential stays that credential's problem.
//! - **Retired keys.** `kai keys remove` retires a key (its row stays, so
//!   the id is never given to another key). A credential write locks the
//!   record of the key it seals under and checks it is not retired, in the
//!   transaction that writes the secret; the removal locks the same record
//!   while it checks that nothing uses the key. One of the two waits for
//!   the other, so no secret is ever written under a removed key.
//! - **Nodes.** Every running server writes a heartbeat row naming the key
//!   it seals under and the keys it holds, so `kai keys remove` and
//!   `kai keys rotate` can refuse while a running server would be hurt.

use super::cipher::{Binding, CryptoError};
use super::keys::Keys;
use crate::store::Db;
use crate::util::now_micros;
use sqlx::{AnyConnection, Connection, Row};
use std::collections::BTreeSet;
use std::time::Duration;

/// The text every check value seals.
const CHECK_TEXT: &[u8] = b"kai-fusion master key check";

/// How often a running server refreshes its heartbeat (and re-reads its key
/// file and the retired keys).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// A heartbeat younger than this counts as a running server.
pub const NODE_LIVE_WITHIN: Duration = Duration::from_secs(20);

/// One row of `master_keys`.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub key_id: u32,
    pub check_value: Vec<u8>,
    pub retired_at: Option<i64>,
}

/// How a key of the ring compares with the database's record of its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Its check value opens: it is the key the database knows by this id.
    Matches,
    /// Retired by `kai keys remove`: opens old secrets, seals nothing.
    Retired,
    /// Its check value does not open: another key holds this id.
    Mismatch,
}

/// Every key record, by id.
pub async fn records(db: &Db) -> Result<Vec<KeyRecord>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT key_id, check_value, retired_at FROM master_keys ORDER BY key_id")
            .fetch_all(db.reader())
            .await?;
    rows.iter()
        .map(|row| {
            Ok(KeyRecord {
                key_id: u32::try_from(row.try_get::<i64, _>(0)?).unwrap_or(u32::MAX),
                check_value: row.try_get(1)?,
                retired_at: row.try_get(2)?,
            })
        })
        .collect()
}

/// The highest key id the database has seen (0 if none): a new key gets a
/// higher one.
pub async fn highest_id(db: &Db) -> Result<u32, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COALESCE(MAX(k), 0) FROM (SELECT MAX(key_id) AS k FROM master_keys \
         UNION ALL SELECT MAX(key_id) AS k FROM credentials) AS ids",
    )
    .fetch_one(db.reader())
    .await?;
    Ok(u32::try_from(row.try_get::<i64, _>(0)?).unwrap_or(u32::MAX))
}

/// Compares key `id` of `keys` with its record, registering the key when
/// the database has none for that id.
///
/// A database from before check values has credentials but no records:
/// there the key is right if one of its credentials opens with it.
pub async fn check(db: &Db, keys: &Keys, id: u32) -> Result<KeyStatus, sqlx::Error> {
    if let Some(record) = record(db, id).await? {
        return Ok(status_of(keys, &record));
    }
    if !opens_a_legacy_credential(db, keys, id).await? {
        return Ok(KeyStatus::Mismatch);
    }
    let Ok(check_value) = keys.seal_under(id, Binding::KeyCheck, CHECK_TEXT) else {
        return Ok(KeyStatus::Mismatch);
    };
    sqlx::query(
        "INSERT INTO master_keys (key_id, check_value, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key_id) DO NOTHING",
    )
    .bind(i64::from(id))
    .bind(check_value)
    .bind(now_micros())
    .execute(db.writer())
    .await?;
    // Another server may have registered a different key under this id
    // at the same moment: what is stored decides.
    let record = record(db, id).await?.expect("the record was just written");
    Ok(status_of(keys, &record))
}

async fn record(db: &Db, id: u32) -> Result<Option<KeyRecord>, sqlx::Error> {
    let row = sqlx::query("SELECT check_value, retired_at FROM master_keys WHERE key_id = $1")
        .bind(i64::from(id))
        .fetch_optional(db.reader())
        .await?;
    row.map(|row| {
        Ok(KeyRecord {
            key_id: id,
            check_value: row.try_get(0)?,
            retired_at: row.try_get(1)?,
        })
    })
    .transpose()
}

fn status_of(keys: &Keys, record: &KeyRecord) -> KeyStatus {
    if record.retired_at.is_some() {
        KeyStatus::Retired
    } else if keys.open(Binding::KeyCheck, &record.check_value).is_ok() {
        KeyStatus::Matches
    } else {
        KeyStatus::Mismatch
    }
}

/// True when no credential uses key `id`, or one of them opens with it.
async fn opens_a_legacy_credential(db: &Db, keys: &Keys, id: u32) -> Result<bool, sqlx::Error> {
    let rows = sqlx::query("SELECT id, owner, secret FROM credentials WHERE key_id = $1")
        .bind(i64::from(id))
        .fetch_all(db.reader())
        .await?;
    if rows.is_empty() {
        return Ok(true);
    }
    for row in &rows {
        let (credential_id, owner, sealed): (String, String, Vec<u8>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let binding = Binding::Credential {
            credential_id: &credential_id,
            owner: &owner,
        };
        if keys.open(binding, &sealed).is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Brings `keys` in line with the database: re-reads the key file if it
/// changed, registers keys the database has not seen, and marks retired
/// keys. Returns the ids of keys whose check value does not open, which
/// never seal either.
pub async fn sync(db: &Db, keys: &Keys) -> Result<Vec<u32>, sqlx::Error> {
    keys.refresh();
    let mut unusable = BTreeSet::new();
    let mut mismatched = Vec::new();
    for id in keys.ids() {
        match check(db, keys, id).await? {
            KeyStatus::Matches => {}
            KeyStatus::Retired => {
                unusable.insert(id);
            }
            KeyStatus::Mismatch => {
                unusable.insert(id);
                mismatched.push(id);
            }
        }
    }
    keys.set_retired(unusable);
    Ok(mismatched)
}

/// The start-up check: every key the server holds is the one the database
/// knows by its id, and every key a credential needs is held. Credentials
/// themselves are not opened: a damaged one answers for itself.
pub async fn verify_at_start(db: &Db, keys: &Keys) -> anyhow::Result<()> {
    let mismatched = sync(db, keys).await?;
    if let Some(id) = mismatched.first() {
        anyhow::bail!(
            "master key {id} (from KAI_MASTER_KEY or {}) is not the key {id} this database's \
             credentials were sealed with; refusing to start. Configure the right key",
            keys.file().display()
        );
    }
    let held: BTreeSet<u32> = keys.ids().into_iter().collect();
    let missing: Vec<String> = keys_in_use(db)
        .await?
        .into_iter()
        .filter(|id| !held.contains(id))
        .map(|id| id.to_string())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "stored credentials need master key(s) {}, which neither KAI_MASTER_KEY nor {} \
             holds; refusing to start. Configure those keys",
            missing.join(", "),
            keys.file().display()
        );
    }
    if keys.sealing_key_id().is_none() {
        anyhow::bail!(
            "every configured master key is retired; refusing to start. \
             Run `kai keys generate` to add a new one"
        );
    }
    Ok(())
}

/// The ids of the keys stored credentials use.
pub async fn keys_in_use(db: &Db) -> Result<Vec<u32>, sqlx::Error> {
    Ok(key_usage(db).await?.into_iter().map(|(id, _)| id).collect())
}

/// How many credentials each key seals, by key id.
pub async fn key_usage(db: &Db) -> Result<Vec<(u32, i64)>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT key_id, COUNT(*) FROM credentials GROUP BY key_id ORDER BY key_id")
            .fetch_all(db.reader())
            .await?;
    rows.iter()
        .map(|r| {
            Ok((
                u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(u32::MAX),
                r.try_get(1)?,
            ))
        })
        .collect()
}

/// Inside a credential write's transaction: locks the record of key `id`
/// until the transaction ends and says whether the key may seal (it is
/// registered and not retired). The lock is a write to the record, the
/// same on both databases: `kai keys remove` writes the same record.
pub async fn lock_for_sealing(conn: &mut AnyConnection, id: u32) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE master_keys SET retired_at = retired_at WHERE key_id = $1 AND retired_at IS NULL",
    )
    .bind(i64::from(id))
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
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

/// Writes the heartbeat of node `node_id`.
pub async fn heartbeat(
    db: &Db,
    keys: &Keys,
    node_id: &str,
    description: &str,
) -> Result<(), sqlx::Error> {
    sync(db, keys).await?;
    let Some(sealing) = keys.sealing_key_id() else {
        return Ok(());
    };
    let ids = serde_json::to_string(&keys.ids()).expect("ids serialize");
    sqlx::query(
        "INSERT INTO key_ring_nodes (node_id, description, sealing_key, key_ids, seen_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node_id) DO UPDATE SET \
         description = excluded.description, sealing_key = excluded.sealing_key, \
         key_ids = excluded.key_ids, seen_at = excluded.seen_at",
    )
    .bind(node_id)
    .bind(description)
    .bind(i64::from(sealing))
    .bind(ids)
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
    let now = now_micros();
    let since = now - NODE_LIVE_WITHIN.as_micros() as i64;
    let rows = sqlx::query(
        "SELECT node_id, description, sealing_key, key_ids, seen_at FROM key_ring_nodes \
         WHERE seen_at > $1 ORDER BY description, node_id",
    )
    .bind(since)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let ids: String = row.try_get(3)?;
            Ok(NodeRecord {
                node_id: row.try_get(0)?,
                description: row.try_get(1)?,
                sealing_key: u32::try_from(row.try_get::<i64, _>(2)?).unwrap_or(u32::MAX),
                key_ids: serde_json::from_str(&ids).unwrap_or_default(),
                age_micros: now - row.try_get::<i64, _>(4)?,
            })
        })
        .collect()
}

/// Waits, for at most a heartbeat and a little more, until every running
/// server satisfies `ok` (a server re-reads its key file at each
/// heartbeat); returns those that still do not. `waiting` is called once
/// if any had to be waited for.
pub async fn wait_for_nodes(
    db: &Db,
    ok: impl Fn(&NodeRecord) -> bool,
    waiting: impl FnOnce(&[NodeRecord]),
) -> Result<Vec<NodeRecord>, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + HEARTBEAT_EVERY + Duration::from_secs(2);
    let mut waiting = Some(waiting);
    loop {
        let lagging: Vec<NodeRecord> = live_nodes(db)
            .await?
            .into_iter()
            .filter(|n| !ok(n))
            .collect();
        if lagging.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(lagging);
        }
        if let Some(waiting) = waiting.take() {
            waiting(&lagging);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Why a key could not be removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveRefused {
    #[error(
        "key {key} still seals {count} credential(s); run `kai keys rotate` first \
         (`kai keys verify` lists any it cannot move)"
    )]
    InUse { key: u32, count: i64 },
    #[error(
        "key {key} is still the key new credentials are sealed under on {node} \
         (heartbeat {age}s ago); give that server the key file with the newer key \
         (it reads it within {}s), then try again",
        HEARTBEAT_EVERY.as_secs()
    )]
    SealingNode { key: u32, node: String, age: i64 },
    #[error("key {0} is not in the key file")]
    NotInRing(u32),
    #[error(
        "key {0} is the newest key, the one new secrets are sealed under; only older keys \
         can be removed (`kai keys generate` and `kai keys rotate` first)"
    )]
    Sealing(u32),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Retires key `id`, after checking in one transaction that no credential
/// and no running server uses it. `check_value` is stored if the database
/// had no record of the key.
pub async fn retire(db: &Db, id: u32, check_value: Vec<u8>) -> Result<(), RemoveRefused> {
    let mut conn = db.writer().acquire().await?;
    let mut tx = conn.begin().await?;
    let now = now_micros();
    // The write comes first: it locks the record (and, on SQLite, the
    // database) before anything is checked.
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
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM credentials WHERE key_id = $1")
        .bind(i64::from(id))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    if count > 0 {
        return Err(RemoveRefused::InUse { key: id, count });
    }
    if let Some(node) = live_nodes_on(&mut tx)
        .await?
        .into_iter()
        .find(|n| n.sealing_key == id)
    {
        return Err(RemoveRefused::SealingNode {
            key: id,
            node: node.description,
            age: node.age_micros / 1_000_000,
        });
    }
    tx.commit().await?;
    Ok(())
}

/// Whether `error` means the sealed value itself is bad (damaged, tampered,
/// or moved), as opposed to a key the ring lacks.
pub fn is_damage(error: &CryptoError) -> bool {
    matches!(
        error,
        CryptoError::Authentication | CryptoError::Truncated | CryptoError::UnknownVersion(_)
    )
}
