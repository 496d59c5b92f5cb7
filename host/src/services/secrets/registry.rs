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
use crate::store::keys as key_rows;
pub use crate::store::keys::{KeyRecord, NodeRecord, highest_id, key_usage, live_nodes, records};
use crate::store::{Db, credentials};
use std::collections::BTreeSet;
use std::time::Duration;

/// The text every check value seals.
const CHECK_TEXT: &[u8] = b"kai-fusion master key check";

/// How often a running server refreshes its heartbeat (and re-reads its key
/// file and the retired keys).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

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

/// Compares key `id` of `keys` with its record, registering the key when
/// the database has none for that id.
///
/// A database from before check values has credentials but no records:
/// there the key is right if one of its credentials opens with it.
pub async fn check(db: &Db, keys: &Keys, id: u32) -> Result<KeyStatus, sqlx::Error> {
    if let Some(record) = key_rows::record(db, id).await? {
        return Ok(status_of(keys, &record));
    }
    if !opens_a_legacy_credential(db, keys, id).await? {
        return Ok(KeyStatus::Mismatch);
    }
    let Ok(check_value) = keys.seal_under(id, Binding::KeyCheck, CHECK_TEXT) else {
        return Ok(KeyStatus::Mismatch);
    };
    key_rows::register(db, id, check_value).await?;
    // Another server may have registered a different key under this id
    // at the same moment: what is stored decides.
    let record = key_rows::record(db, id)
        .await?
        .expect("the record was just written");
    Ok(status_of(keys, &record))
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
    let sealed = credentials::sealed_under(db, i64::from(id)).await?;
    Ok(sealed.is_empty()
        || sealed.iter().any(|row| {
            let binding = Binding::Credential {
                credential_id: &row.id,
                owner: &row.owner,
            };
            keys.open(binding, &row.secret).is_ok()
        }))
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

/// Writes the heartbeat of node `node_id`, after bringing `keys` in line
/// with the database.
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
    key_rows::heartbeat(db, node_id, description, sealing, &keys.ids()).await
}

/// Removes a stopping node's heartbeat.
pub async fn forget_node(db: &Db, node_id: &str) -> Result<(), sqlx::Error> {
    key_rows::forget_node(db, node_id).await
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
    key_rows::retire(db, id, check_value, |sealed, nodes| {
        if sealed > 0 {
            return Err(RemoveRefused::InUse {
                key: id,
                count: sealed,
            });
        }
        match nodes.iter().find(|n| n.sealing_key == id) {
            Some(node) => Err(RemoveRefused::SealingNode {
                key: id,
                node: node.description.clone(),
                age: node.age_micros / 1_000_000,
            }),
            None => Ok(()),
        }
    })
    .await
}

/// Whether `error` means the sealed value itself is bad (damaged, tampered,
/// or moved), as opposed to a key the ring lacks.
pub fn is_damage(error: &CryptoError) -> bool {
    matches!(
        error,
        CryptoError::Authentication | CryptoError::Truncated | CryptoError::UnknownVersion(_)
    )
}
