//! A small private key-value store (needs `Plugin::kv()`). Values are bytes;
//! an optional time-to-live makes a key expire.

use crate::host::{HostError, host_call};

pub fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    host_call!(crate::wit::kai::fusion::kv::get(key))
}

pub fn set(key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), HostError> {
    host_call!(crate::wit::kai::fusion::kv::set(key, value, ttl_ms))
}

pub fn delete(key: &str) -> Result<bool, HostError> {
    host_call!(crate::wit::kai::fusion::kv::delete(key))
}

/// Keys starting with `prefix`, in order, after `after`.
pub fn list_keys(prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, HostError> {
    host_call!(crate::wit::kai::fusion::kv::list_keys(prefix, after, limit))
}
