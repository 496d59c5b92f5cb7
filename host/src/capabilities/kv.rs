//! `kai:fusion/kv`: a small private key-value store per plugin, with
//! optional expiry. Writes join the call's transaction like any other.

use super::CallState;
use super::Caller;
use super::db_error;
use crate::store::kv_cache::Lookup;
use crate::util::now_micros;
use crate::wit::bindings::kai::fusion::kv::Host;
use crate::wit::bindings::kai::fusion::types::Error as WitError;
use sqlx::Row;

const MAX_KEY_BYTES: usize = 512;
const MAX_VALUE_BYTES: usize = 1 << 20;
const MAX_LIST: u32 = 1000;

impl Caller {
    fn kv_access(&self) -> Result<(), WitError> {
        if self.grants()?.kv {
            Ok(())
        } else {
            Err(WitError::Denied(format!(
                "plugin `{}` was not granted the kv capability",
                self.plugin_name
            )))
        }
    }
}

fn check_key(key: &str) -> Result<(), WitError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.contains('\0') {
        return Err(WitError::Invalid(format!(
            "a key is 1 to {MAX_KEY_BYTES} bytes, without NUL characters"
        )));
    }
    Ok(())
}

impl Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.kv_get(key).await }.await)
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.kv_set(key, value, ttl_ms).await }.await)
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.kv_delete(key).await }.await)
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<String>, WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.kv_list(prefix, after, limit).await }.await)
    }
}

impl Caller {
    async fn kv_get(&self, key: String) -> Result<Option<Vec<u8>>, WitError> {
        self.kv_access()?;
        check_key(&key)?;
        let host = self.host()?;
        let plugin = self.plugin_name.as_str();
        let now = now_micros();
        let cache = host.session.db().kv_cache();
        // A key this session (or any unfinished one) wrote is never served
        // from the cache: see `db::kv_cache`.
        let ticket = match cache.lookup(plugin, &key, now) {
            Lookup::Hit(value) => return Ok(value),
            Lookup::Miss(ticket) => ticket,
        };
        let row = async {
            let mut conn = host.session.read_conn().await?;
            sqlx::query(
                "SELECT value, expires_at FROM plugin_kv WHERE plugin = $1 AND key = $2 \
                 AND (expires_at IS NULL OR expires_at > $3)",
            )
            .bind(plugin)
            .bind(&key)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await
        }
        .await
        .map_err(|e| db_error(plugin, e))?;
        let (value, expires_at) = match row {
            Some(row) => (
                Some(
                    row.try_get::<Vec<u8>, _>(0)
                        .map_err(|e| db_error(plugin, e))?,
                ),
                row.try_get::<Option<i64>, _>(1)
                    .map_err(|e| db_error(plugin, e))?,
            ),
            None => (None, None),
        };
        cache.fill(ticket, plugin, &key, value.clone(), expires_at);
        Ok(value)
    }

    async fn kv_set(
        &self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), WitError> {
        self.kv_access()?;
        check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(WitError::Invalid(format!(
                "a value is at most {MAX_VALUE_BYTES} bytes"
            )));
        }
        let expires_at =
            ttl_ms.map(|ms| now_micros().saturating_add((ms as i64).saturating_mul(1000)));
        let host = self.host()?;
        let plugin = self.plugin_name.as_str();
        async {
            let mut conn = host.session.write_conn().await?;
            let conn = &mut *conn;
            sqlx::query(
                "INSERT INTO plugin_kv (plugin, key, value, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            )
            .bind(plugin)
            .bind(&key)
            .bind(&value)
            .bind(expires_at)
            .execute(&mut *conn)
            .await
        }
        .await
        .map_err(|e| db_error(plugin, e))?;
        host.session.wrote_kv(plugin, &key);
        Ok(())
    }

    async fn kv_delete(&self, key: String) -> Result<bool, WitError> {
        self.kv_access()?;
        check_key(&key)?;
        let host = self.host()?;
        let plugin = self.plugin_name.as_str();
        let deleted = async {
            let mut conn = host.session.write_conn().await?;
            let conn = &mut *conn;
            sqlx::query("DELETE FROM plugin_kv WHERE plugin = $1 AND key = $2")
                .bind(plugin)
                .bind(&key)
                .execute(&mut *conn)
                .await
        }
        .await
        .map_err(|e| db_error(plugin, e))?;
        host.session.wrote_kv(plugin, &key);
        Ok(deleted.rows_affected() > 0)
    }

    async fn kv_list(
        &self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<String>, WitError> {
        self.kv_access()?;
        if limit == 0 || limit > MAX_LIST {
            return Err(WitError::Invalid(format!("limit must be 1 to {MAX_LIST}")));
        }
        if prefix.contains('\0') || after.as_deref().is_some_and(|a| a.contains('\0')) {
            return Err(WitError::Invalid(
                "keys never contain NUL characters".into(),
            ));
        }
        let host = self.host()?;
        let plugin = self.plugin_name.as_str();
        let rows = async {
            let mut conn = host.session.read_conn().await?;
            sqlx::query(&format!(
                "SELECT key FROM plugin_kv WHERE plugin = $1 AND substr(key, 1, length($2)) = $2 \
                 AND key > $3 AND (expires_at IS NULL OR expires_at > $4) ORDER BY key LIMIT {limit}"
            ))
            .bind(plugin)
            .bind(&prefix)
            .bind(after.as_deref().unwrap_or(""))
            .bind(now_micros())
            .fetch_all(&mut *conn)
            .await
        }
        .await
        .map_err(|e| db_error(plugin, e))?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()
            .map_err(|e| db_error(plugin, e))
    }
}
