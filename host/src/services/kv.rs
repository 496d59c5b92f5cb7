//! A plugin's private key-value store: the limits on keys, values and
//! listings, and the read cache in front of the table (exact, see
//! `crate::store::kv_cache`). Writes join the caller's unit of work.

use crate::store::kv as rows;
use crate::store::kv_cache::Lookup;
use crate::store::session::Session;
use crate::util::now_micros;

pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 1 << 20;
pub const MAX_LIST: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The request broke a limit; the message says which.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.contains('\0') {
        return Err(KvError::Invalid(format!(
            "a key is 1 to {MAX_KEY_BYTES} bytes, without NUL characters"
        )));
    }
    Ok(())
}

/// `plugin`'s value for `key`, unless it expired.
pub async fn get(session: &Session, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
    check_key(key)?;
    let now = now_micros();
    let cache = session.db().kv_cache();
    // A key this session (or any unfinished one) wrote is never served
    // from the cache.
    let ticket = match cache.lookup(plugin, key, now) {
        Lookup::Hit(value) => return Ok(value),
        Lookup::Miss(ticket) => ticket,
    };
    let (value, expires_at) = match rows::get(session, plugin, key, now).await? {
        Some((value, expires_at)) => (Some(value), expires_at),
        None => (None, None),
    };
    cache.fill(ticket, plugin, key, value.clone(), expires_at);
    Ok(value)
}

/// Sets `plugin`'s `key`, to expire after `ttl_ms` if given.
pub async fn set(
    session: &Session,
    plugin: &str,
    key: &str,
    value: &[u8],
    ttl_ms: Option<u64>,
) -> Result<(), KvError> {
    check_key(key)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::Invalid(format!(
            "a value is at most {MAX_VALUE_BYTES} bytes"
        )));
    }
    let expires_at = ttl_ms.map(|ms| now_micros().saturating_add((ms as i64).saturating_mul(1000)));
    rows::set(session, plugin, key, value, expires_at).await?;
    session.wrote_kv(plugin, key);
    Ok(())
}

/// Deletes `plugin`'s `key`; whether it existed.
pub async fn delete(session: &Session, plugin: &str, key: &str) -> Result<bool, KvError> {
    check_key(key)?;
    let deleted = rows::delete(session, plugin, key).await?;
    session.wrote_kv(plugin, key);
    Ok(deleted)
}

/// Up to `limit` of `plugin`'s live keys starting with `prefix`, after
/// `after`, in order.
pub async fn list_keys(
    session: &Session,
    plugin: &str,
    prefix: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<String>, KvError> {
    if limit == 0 || limit > MAX_LIST {
        return Err(KvError::Invalid(format!("limit must be 1 to {MAX_LIST}")));
    }
    if prefix.contains('\0') || after.is_some_and(|a| a.contains('\0')) {
        return Err(KvError::Invalid("keys never contain NUL characters".into()));
    }
    Ok(rows::keys(
        session,
        plugin,
        prefix,
        after.unwrap_or(""),
        now_micros(),
        limit,
    )
    .await?)
}
