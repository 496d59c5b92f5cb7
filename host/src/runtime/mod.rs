//! The WebAssembly runtime: one engine and one linker for the process, and
//! the machinery to load plugins and call into them.
//!
//! - [`engine`]: engine configuration (pooling allocator, epochs).
//! - [`plugin`]: loading wasm bytes into a ready-to-call plugin.
//! - [`cache`]: wasmtime's cache of compiled components on disk.
//! - [`call`]: one call (fresh store, limits, deadline, error mapping).
//! - [`call_metrics`]: the counts, durations and waits of a plugin's calls.
//! - [`limits`]: the limits a plugin's calls run under.
//! - [`wasi_http`]: `wasi:http` for components: granted outbound requests,
//!   and requests served by a component's incoming handler.

pub mod cache;
pub mod call;
pub mod call_metrics;
pub mod engine;
pub mod limits;
pub mod plugin;
pub mod wasi_http;

use crate::wit::manifest::Manifest;
use call::{CallState, HostContext};
use engine::{AllocatorKind, EngineSettings, EpochTicker};
use limits::EffectiveLimits;
use plugin::{LoadError, LoadedPlugin};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;

/// Limits the operator sets: the default every plugin gets and the cap no
/// plugin may exceed.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    pub timeout: Duration,
    pub memory_bytes: usize,
    pub max_instances: u32,
    /// HTTP requests one plugin runs at once (0: no limit).
    pub concurrent_requests: u32,
    /// Largest response body a plugin may answer with.
    pub max_response_bytes: usize,
    /// Lower response caps for particular plugins, by name.
    pub plugin_response_caps: std::collections::BTreeMap<String, usize>,
    /// Requests past their first few ticks of guest code that run at once
    /// across all plugins (see `call::LONG_RUN_TICKS`).
    pub long_running_calls: usize,
    pub pooling: bool,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<std::path::PathBuf>,
}

/// The engine, the linker with every host capability, and the limits.
pub struct Runtime<H: HostContext> {
    engine: Engine,
    linker: Linker<CallState<H>>,
    allocator: AllocatorKind,
    settings: RuntimeSettings,
    /// Wasmtime's compiled-code cache, for its statistics.
    cache: Option<wasmtime::Cache>,
    /// The long-run turns every plugin's requests share.
    long_runs: Arc<Semaphore>,
    _ticker: EpochTicker,
}

impl<H: HostContext> Runtime<H> {
    /// An engine for `settings`, whose linker gets WASI and what `link`
    /// adds (the host's capabilities).
    pub fn new(
        settings: RuntimeSettings,
        link: impl FnOnce(&mut Linker<CallState<H>>) -> wasmtime::Result<()>,
    ) -> anyhow::Result<Self> {
        let cache = settings.cache_dir.as_deref().map(cache::open).transpose()?;
        let (engine, allocator) = engine::build_engine(&EngineSettings {
            max_memory_bytes: settings.memory_bytes,
            max_instances: settings.max_instances,
            pooling: settings.pooling,
            cache: cache.clone(),
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        link(&mut linker)?;
        tracing::info!(allocator = ?allocator, "wasm runtime ready");
        Ok(Self {
            long_runs: Arc::new(Semaphore::new(settings.long_running_calls.max(1))),
            _ticker: EpochTicker::start(engine.clone()),
            cache,
            engine,
            linker,
            allocator,
            settings,
        })
    }

    /// Compiles and checks a plugin; see [`LoadedPlugin::load`].
    pub async fn load(&self, wasm: &[u8]) -> Result<LoadedPlugin<H>, LoadError> {
        LoadedPlugin::load(self, wasm).await
    }

    /// Compiles and checks a `wasi:http` component mounted as `mount`; see
    /// [`LoadedPlugin::load_http`].
    pub fn load_http(
        &self,
        wasm: &[u8],
        mount: &crate::domain::HttpMount,
    ) -> Result<LoadedPlugin<H>, LoadError> {
        LoadedPlugin::load_http(self, wasm, mount)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn allocator(&self) -> AllocatorKind {
        self.allocator
    }

    /// Compiled-component cache hits and misses since start.
    pub fn cache_stats(&self) -> cache::CacheStats {
        cache::stats(self.cache.as_ref())
    }

    /// Compiles `wasm` (or finds it in the cache), then hands the
    /// compiler's scratch memory back.
    pub(crate) fn compile(&self, wasm: &[u8]) -> wasmtime::Result<wasmtime::component::Component> {
        let component = wasmtime::component::Component::new(&self.engine, wasm);
        engine::release_compile_scratch();
        component
    }

    pub(crate) fn linker(&self) -> &Linker<CallState<H>> {
        &self.linker
    }

    /// The limits of a plugin that asked for nothing.
    pub fn default_limits(&self) -> EffectiveLimits {
        EffectiveLimits {
            timeout: self.settings.timeout,
            memory_bytes: self.settings.memory_bytes,
            concurrent_requests: self.settings.concurrent_requests,
            max_response_bytes: self.settings.max_response_bytes,
        }
    }

    /// The long-run turns shared by every plugin's requests.
    pub(crate) fn long_runs(&self) -> Arc<Semaphore> {
        self.long_runs.clone()
    }

    /// What a plugin asked for, capped by the operator's settings.
    pub fn effective_limits(&self, manifest: &Manifest) -> EffectiveLimits {
        let asked_timeout = manifest
            .limits
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()));
        let asked_memory = manifest
            .limits
            .memory_mib
            .map(|mib| (mib as usize).saturating_mul(1 << 20));
        EffectiveLimits {
            timeout: asked_timeout.map_or(self.settings.timeout, |t| t.min(self.settings.timeout)),
            memory_bytes: asked_memory.map_or(self.settings.memory_bytes, |m| {
                m.min(self.settings.memory_bytes)
            }),
            // A plugin that calls other servers spends its requests waiting
            // on the network, not the CPU: a limit sized for the cores would
            // cap it at a few requests per round trip.
            concurrent_requests: if manifest.capabilities.outbound_hosts.is_empty() {
                self.settings.concurrent_requests
            } else {
                0
            },
            max_response_bytes: self
                .settings
                .plugin_response_caps
                .get(&manifest.name)
                .map_or(self.settings.max_response_bytes, |cap| {
                    (*cap).min(self.settings.max_response_bytes)
                }),
        }
    }
}
