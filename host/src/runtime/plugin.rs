//! A loaded plugin: its compiled component, its `InstancePre` (imports
//! resolved once, so each request only instantiates), its checked manifest
//! and the limits it runs under, including how many of its HTTP requests
//! run at once (the rest wait their turn, up to the plugin's deadline).
//!
//! [`Runtime::load`](super::Runtime::load) builds one from wasm bytes, and
//! refuses, with a message naming the cause, anything that is not a
//! component, targets another world, or has an invalid manifest.

use super::call::{Call, CallContext, CallError, CallState, Exports, HostContext};
use super::limits::EffectiveLimits;
use crate::wit::bindings::exports::kai::fusion::events::Event as WitEvent;
use crate::wit::bindings::{WitRequest, WitResponse};
use crate::wit::manifest::{Manifest, ManifestError};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre};

/// A plugin ready to serve calls, with the host's data about it (`H`'s
/// [`HostContext::PluginData`]).
pub struct LoadedPlugin<H: HostContext> {
    pub manifest: Manifest,
    /// Hex SHA-256 of the wasm bytes: identifies exactly what runs.
    pub sha256: String,
    pub size_bytes: usize,
    pub limits: EffectiveLimits,
    /// Worked out once at load rather than on every host call.
    data: H::PluginData,
    pre: InstancePre<CallState<H>>,
    exports: Exports,
    /// One permit per request that may run at once; `None`: no limit.
    turns: Option<Semaphore>,
    /// The runtime's long-run turns, which its requests share with every
    /// other plugin's.
    long_runs: Arc<Semaphore>,
}

impl<H: HostContext> std::fmt::Debug for LoadedPlugin<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// Why wasm bytes could not be loaded as a plugin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    #[error("the component does not compile: {0}")]
    Invalid(String),
    #[error("the component does not target the kai:fusion/plugin world: {0}")]
    WrongWorld(String),
    #[error("the plugin failed to describe itself: {0}")]
    Describe(#[from] CallError),
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error(
        "plugin `{plugin}` imports {interface} but does not request {capability} in its manifest"
    )]
    UndeclaredImport {
        plugin: String,
        interface: String,
        capability: &'static str,
    },
}

impl<H: HostContext> LoadedPlugin<H> {
    /// Compiles and checks `wasm`, then asks the component for its manifest.
    pub(super) async fn load(
        runtime: &super::Runtime<H>,
        wasm: &[u8],
    ) -> Result<LoadedPlugin<H>, LoadError> {
        check_is_component(wasm)?;
        let component = runtime
            .compile(wasm)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let pre = runtime.linker().instantiate_pre(&component).map_err(|e| {
            LoadError::WrongWorld(format!(
                "{e:#}; it imports something this host does not provide"
            ))
        })?;
        let located = Exports::locate(&component).map_err(|e| {
            LoadError::WrongWorld(format!(
                "{e:#}; a plugin must export describe, handler and events"
            ))
        })?;
        // Describe runs under the operator's default limits, before the
        // manifest (and so the plugin's own wishes) are known.
        let limits = runtime.default_limits();
        let (raw, exports) = Call::new(
            &pre,
            "(loading)",
            limits,
            Instant::now() + limits.timeout,
            None,
            CallContext::default(),
        )
        .describe(located)
        .await?;
        let manifest = Manifest::validate(raw)?;
        check_imports(&component, runtime.engine(), &manifest)?;
        let data = H::plugin_data(&manifest);
        let limits = runtime.effective_limits(&manifest);
        Ok(LoadedPlugin {
            long_runs: runtime.long_runs(),
            turns: (limits.concurrent_requests > 0)
                .then(|| Semaphore::new(limits.concurrent_requests as usize)),
            limits,
            data,
            manifest,
            sha256: hex::encode(Sha256::digest(wasm)),
            size_bytes: wasm.len(),
            pre,
            exports,
        })
    }

    /// What the host worked out about this plugin at load.
    pub fn data(&self) -> &H::PluginData {
        &self.data
    }

    /// Handles one HTTP request in a fresh instance, once one of the
    /// plugin's turns is free. The deadline runs from now: time spent
    /// waiting for a turn counts against it, and a request that is still
    /// waiting at its deadline is refused as busy.
    ///
    /// Only requests take turns. Events are not limited here: a
    /// transactional hook runs inside a write that holds the database's
    /// writer, and a hook a plugin's own write sets off runs inside that
    /// plugin's request, which already holds a turn; making either wait
    /// could stall every writer, or deadlock.
    pub async fn handle(
        &self,
        context: CallContext<H>,
        request: WitRequest,
    ) -> Result<WitResponse, CallError> {
        let deadline = Instant::now() + self.limits.timeout;
        let _turn = self.take_turn(deadline).await?;
        Call::new(
            &self.pre,
            &self.manifest.name,
            self.limits,
            deadline,
            Some(self.long_runs.clone()),
            context,
        )
        .handle(&self.exports, request)
        .await
    }

    /// HTTP requests of this plugin running now (holding a turn); 0 when
    /// its requests are not limited.
    pub fn requests_in_flight(&self) -> usize {
        self.turns.as_ref().map_or(0, |turns| {
            (self.limits.concurrent_requests as usize).saturating_sub(turns.available_permits())
        })
    }

    /// Waits for a free turn, up to `deadline`; `None` when the plugin is
    /// not limited. The turn is given back when the permit drops.
    async fn take_turn(&self, deadline: Instant) -> Result<Option<SemaphorePermit<'_>>, CallError> {
        let Some(turns) = &self.turns else {
            return Ok(None);
        };
        match tokio::time::timeout_at(deadline.into(), turns.acquire()).await {
            // The semaphore is never closed, so acquiring fails only by time.
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_)) | Err(_) => Err(CallError::Busy {
                plugin: self.manifest.name.clone(),
            }),
        }
    }

    /// Delivers one event to a fresh instance; the inner error is the
    /// plugin's own refusal.
    pub async fn on_event(
        &self,
        context: CallContext<H>,
        event: WitEvent,
    ) -> Result<Result<(), String>, CallError> {
        let deadline = Instant::now() + self.limits.timeout;
        Call::new(
            &self.pre,
            &self.manifest.name,
            self.limits,
            deadline,
            None,
            context,
        )
        .on_event(&self.exports, event)
        .await
    }
}

/// A component that imports a host interface must request the capability
/// behind it; otherwise it is refused at load, before any call could be
/// denied at run time.
fn check_imports(
    component: &Component,
    engine: &wasmtime::Engine,
    manifest: &Manifest,
) -> Result<(), LoadError> {
    let requested = &manifest.capabilities;
    for (name, item) in component.component_type().imports(engine) {
        // An interface imported only for its types (the events export uses
        // the models' records) needs no capability; calling one does.
        let calls_functions = match item.ty {
            ComponentItem::ComponentInstance(instance) => instance
                .exports(engine)
                .any(|(_, export)| matches!(export.ty, ComponentItem::ComponentFunc(_))),
            _ => true,
        };
        if !calls_functions {
            continue;
        }
        let interface = name.split('@').next().unwrap_or(name);
        let (capability, ok) = match interface {
            "kai:fusion/kv" => ("the kv capability", requested.kv),
            "kai:fusion/models" => ("core-model access", !requested.core_models.is_empty()),
            "kai:fusion/credentials" => ("reveal-credentials", requested.reveal_credentials),
            "kai:fusion/outbound-http" => ("outbound hosts", !requested.outbound_hosts.is_empty()),
            _ => continue,
        };
        if !ok {
            return Err(LoadError::UndeclaredImport {
                plugin: manifest.name.clone(),
                interface: interface.to_string(),
                capability,
            });
        }
    }
    Ok(())
}

/// Tells a core module or random bytes apart from a component, so the
/// error says what the file actually is.
fn check_is_component(wasm: &[u8]) -> Result<(), LoadError> {
    if wasmtime::wasmparser::Parser::is_component(wasm) {
        Ok(())
    } else if wasmtime::wasmparser::Parser::is_core_wasm(wasm) {
        Err(LoadError::NotAComponent(
            "this is a core WebAssembly module; build the plugin for the wasm32-wasip2 target"
                .into(),
        ))
    } else {
        Err(LoadError::NotAComponent(
            "the file does not start with the WebAssembly magic number".into(),
        ))
    }
}
