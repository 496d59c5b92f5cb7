//! Compiled components kept on disk by wasmtime's own cache, so a restart,
//! a rollback or an unchanged reinstall does not compile again. Entries are
//! keyed by the wasm and the engine's version and settings; wasmtime's
//! worker keeps the directory within its size limits. The directory belongs
//! to the operator: the server trusts what it finds there, like its own
//! binary.

use std::path::Path;
use wasmtime::{Cache, CacheConfig};

/// Hits and misses since start.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

/// The cache in `dir` (created private if missing). A relative `dir` (the
/// default `./data`) is taken from the current directory: wasmtime wants
/// an absolute one.
pub fn open(dir: &Path) -> anyhow::Result<Cache> {
    crate::files::private_dir(dir)?;
    let mut config = CacheConfig::new();
    config.with_directory(std::path::absolute(dir)?);
    Ok(Cache::new(config)?)
}

/// What `cache` has served and compiled so far; zeros without a cache.
pub fn stats(cache: Option<&Cache>) -> CacheStats {
    cache.map_or(CacheStats { hits: 0, misses: 0 }, |cache| CacheStats {
        hits: cache.cache_hits() as u64,
        misses: cache.cache_misses() as u64,
    })
}
