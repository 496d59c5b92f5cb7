//! `kai:fusion/kv`: a small private key-value store per plugin, with
//! optional expiry. Writes join the call's transaction like any other.

use super::CallState;
use super::Caller;
use super::db_error;
use crate::services::kv::{self, KvError};
use crate::wit::bindings::kai::fusion::kv::Host;
use crate::wit::bindings::kai::fusion::types::Error as WitError;

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
        let session = &self.host()?.session;
        kv::get(session, &self.plugin_name, &key)
            .await
            .map_err(|e| self.kv_error(e))
    }

    async fn kv_set(
        &self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), WitError> {
        self.kv_access()?;
        let session = &self.host()?.session;
        kv::set(session, &self.plugin_name, &key, &value, ttl_ms)
            .await
            .map_err(|e| self.kv_error(e))
    }

    async fn kv_delete(&self, key: String) -> Result<bool, WitError> {
        self.kv_access()?;
        let session = &self.host()?.session;
        kv::delete(session, &self.plugin_name, &key)
            .await
            .map_err(|e| self.kv_error(e))
    }

    async fn kv_list(
        &self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<String>, WitError> {
        self.kv_access()?;
        let session = &self.host()?.session;
        kv::list_keys(session, &self.plugin_name, &prefix, after.as_deref(), limit)
            .await
            .map_err(|e| self.kv_error(e))
    }

    fn kv_error(&self, error: KvError) -> WitError {
        match error {
            KvError::Invalid(message) => WitError::Invalid(message),
            KvError::Database(error) => db_error(&self.plugin_name, error),
        }
    }
}
