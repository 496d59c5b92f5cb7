//! The on-disk cache of compiled components: wasmtime's serialized form,
//! keyed by the wasm's SHA-256 and the engine's compatibility hash (its
//! version and compilation settings), so a restart or an unchanged
//! reinstall does not compile again. Entries are written atomically
//! (temporary file, then rename). The directory belongs to the operator:
//! the server trusts what it finds there, like its own binary.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components are kept, and how often they were found.
pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Hits and misses so far.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

impl CompileCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The compiled component for `wasm`, from the cache when present.
    pub fn component(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Component> {
        let Some(dir) = &self.dir else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return compile(engine, wasm);
        };
        let key = format!("{}-{}", hex::encode(Sha256::digest(wasm)), self.engine_key);
        let path = dir.join(format!("{key}.cwasm"));
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of an
            // engine with this compatibility hash, in a directory only the
            // operator controls; a failure to load falls back to compiling.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(cache = %path.display(), "compiled component cache hit");
                    return Ok(component);
                }
                Err(error) => {
                    tracing::warn!(%error, cache = %path.display(), "unusable cache entry; recompiling")
                }
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let component = compile(engine, wasm)?;
        if let Err(error) = self.store(&path, &component) {
            tracing::warn!(%error, "could not write the compiled component cache");
        }
        Ok(component)
    }

    fn store(&self, path: &std::path::Path, component: &Component) -> anyhow::Result<()> {
        let dir = path.parent().expect("cache entries live in a directory");
        crate::files::private_dir(dir)?;
        let bytes = component.serialize()?;
        let temporary = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

/// Compiles `wasm`, then hands the compiler's scratch memory back.
fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Component> {
    let component = Component::new(engine, wasm);
    super::engine::release_compile_scratch();
    component
}
