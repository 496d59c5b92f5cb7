//! A small private key-value store (needs `Plugin::kv()`). Values are bytes;
//! an optional time-to-live makes a key expire.

#[cfg(not(target_arch = "wasm32"))]
use crate::__private::native::kv as wit;
use crate::host::{HostError, host_call};
#[cfg(target_arch = "wasm32")]
use crate::wit::kai::fusion::kv as wit;

pub fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    host_call!(wit::get(key))
}

pub fn set(key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), HostError> {
    host_call!(wit::set(key, value, ttl_ms))
}

pub fn delete(key: &str) -> Result<bool, HostError> {
    host_call!(wit::delete(key))
}

/// Keys starting with `prefix`, in order, after `after`.
pub fn list_keys(prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, HostError> {
    host_call!(wit::list_keys(prefix, after, limit))
}
