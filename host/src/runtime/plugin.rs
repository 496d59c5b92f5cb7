//! A loaded plugin: its compiled component, its `InstancePre` (imports
//! resolved once, so each request only instantiates), its checked manifest
//! and the limits it runs under, including how many of its HTTP requests
//! run at once (the rest wait their turn, up to the plugin's deadline).
//!
//! A plugin is either a kai:fusion component, which describes itself, or a
//! `wasi:http/proxy` component mounted under a path the operator chose,
//! whose manifest the host makes (see `Manifest::for_http`). Both run
//! under the same limits, turns and grants.
//!
//! [`Runtime::load`](super::Runtime::load) and
//! [`Runtime::load_http`](super::Runtime::load_http) build one from wasm
//! bytes, and refuse, with a message naming the cause, anything that is not
//! a component, targets another world, or has an invalid manifest.

use super::call::{Call, CallContext, CallError, CallState, Exports, HostContext};
use super::call_metrics::{CallKind, CallMetrics};
use super::limits::EffectiveLimits;
use super::wasi_http::HttpFailure;
use crate::domain::HttpMount;
use crate::wit::bindings::exports::kai::fusion::events::Event as WitEvent;
use crate::wit::bindings::{WitNodeError, WitNodeRequest, WitRequest, WitResponse};
use crate::wit::manifest::{Manifest, ManifestError};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

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
    entry: Entry<H>,
    /// One permit per request that may run at once; `None`: no limit.
    turns: Option<Semaphore>,
    /// The runtime's long-run turns, which its requests share with every
    /// other plugin's.
    long_runs: Arc<Semaphore>,
    metrics: CallMetrics,
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

/// How the host calls into a plugin.
enum Entry<H: HostContext> {
    /// A kai:fusion plugin's `describe`, `handler` and `events` exports.
    Fusion(Exports),
    /// A `wasi:http/proxy` component's incoming handler.
    Http(ProxyPre<CallState<H>>),
}

/// The name of the interface a `wasi:http/proxy` component serves.
const INCOMING_HANDLER: &str = "wasi:http/incoming-handler";

/// Why wasm bytes could not be loaded as a plugin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    #[error("the component does not compile: {0}")]
    Invalid(String),
    #[error("the component does not target the kai:fusion/plugin world: {0}")]
    WrongWorld(String),
    #[error(
        "this is a wasi:http/proxy component, which carries no manifest: install it with a name and a mount (`kai plugin install app.wasm --name app --mount /apps/app`)"
    )]
    HttpComponentNeedsMount,
    #[error(
        "this is a kai:fusion plugin, which names itself and declares its own routes: install it without a name or a mount"
    )]
    NotAnHttpComponent,
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
        let component = compile(runtime, wasm)?;
        let pre = instantiate_pre(runtime, &component)?;
        let located = Exports::locate(&component).map_err(|e| {
            if exports_incoming_handler(&component, runtime.engine()) {
                return LoadError::HttpComponentNeedsMount;
            }
            LoadError::WrongWorld(format!(
                "{e:#}; a plugin must export describe, handler and events"
            ))
        })?;
        // Describe runs under the operator's default limits, before the
        // manifest (and so the plugin's own wishes) are known.
        let limits = runtime.default_limits();
        let described = Call::new(
            &pre,
            "(loading)",
            limits,
            Instant::now() + limits.timeout,
            None,
            CallContext::default(),
        )
        .describe(located)
        .await?;
        let manifest = Manifest::validate(
            described.manifest,
            described.route_docs,
            described.services,
            described.node_kinds,
        )?;
        Self::assemble(
            runtime,
            wasm,
            &component,
            manifest,
            pre,
            Entry::Fusion(described.exports),
        )
    }

    /// Compiles and checks a `wasi:http/proxy` component, to be mounted as
    /// `mount`. It is not called at load: it has no `describe`, and its
    /// manifest is the one the host makes for the mount.
    pub(super) fn load_http(
        runtime: &super::Runtime<H>,
        wasm: &[u8],
        mount: &HttpMount,
    ) -> Result<LoadedPlugin<H>, LoadError> {
        let component = compile(runtime, wasm)?;
        if !exports_incoming_handler(&component, runtime.engine()) {
            return Err(match Exports::locate(&component) {
                Ok(_) => LoadError::NotAnHttpComponent,
                Err(_) => LoadError::WrongWorld(format!(
                    "it exports no `{INCOMING_HANDLER}`; a component mounted with a name and a \
                     mount must target the wasi:http/proxy world"
                )),
            });
        }
        let pre = instantiate_pre(runtime, &component)?;
        let proxy = ProxyPre::new(pre.clone()).map_err(|e| {
            LoadError::WrongWorld(format!(
                "{e:#}; its `{INCOMING_HANDLER}` is not the one of wasi:http 0.2"
            ))
        })?;
        let manifest = Manifest::for_http(mount);
        Self::assemble(runtime, wasm, &component, manifest, pre, Entry::Http(proxy))
    }

    /// A plugin of `manifest`, once its imports are checked against what
    /// the manifest requests: its limits, turns and host data worked out.
    fn assemble(
        runtime: &super::Runtime<H>,
        wasm: &[u8],
        component: &Component,
        manifest: Manifest,
        pre: InstancePre<CallState<H>>,
        entry: Entry<H>,
    ) -> Result<LoadedPlugin<H>, LoadError> {
        check_imports(component, runtime.engine(), &manifest)?;
        let limits = runtime.effective_limits(&manifest);
        Ok(LoadedPlugin {
            long_runs: runtime.long_runs(),
            turns: (limits.concurrent_requests > 0)
                .then(|| Semaphore::new(limits.concurrent_requests as usize)),
            limits,
            data: H::plugin_data(&manifest),
            metrics: CallMetrics::new(&manifest.name, &manifest.version.to_string()),
            manifest,
            sha256: hex::encode(Sha256::digest(wasm)),
            size_bytes: wasm.len(),
            pre,
            entry,
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
        let Entry::Fusion(exports) = &self.entry else {
            return Err(self.not_fusion());
        };
        let deadline = Instant::now() + self.limits.timeout;
        let _turn = self.take_turn(deadline).await?;
        let call = self.call(deadline, Some(self.long_runs.clone()), context);
        let running = self.metrics.start();
        let result = call.handle(exports, request).await;
        running.finish(CallKind::Request, result.as_ref().err());
        result
    }

    /// Serves one request with a `wasi:http` component, as [`Self::handle`]
    /// does for a kai:fusion plugin: a fresh instance, once one of the
    /// plugin's turns is free, under its deadline and memory limit, the
    /// response body capped at its `max_response_bytes`.
    pub async fn handle_http(
        &self,
        context: CallContext<H>,
        request: http::Request<bytes::Bytes>,
    ) -> Result<Result<http::Response<bytes::Bytes>, HttpFailure>, CallError> {
        let Entry::Http(proxy) = &self.entry else {
            return Err(CallError::Trap {
                plugin: self.manifest.name.clone(),
                message: "a kai:fusion plugin is not a wasi:http component".into(),
            });
        };
        let deadline = Instant::now() + self.limits.timeout;
        let _turn = self.take_turn(deadline).await?;
        let call = self.call(deadline, Some(self.long_runs.clone()), context);
        let running = self.metrics.start();
        let result = call
            .handle_http(proxy, request, self.limits.max_response_bytes)
            .await;
        running.finish(CallKind::Request, result.as_ref().err());
        result
    }

    /// A fresh store for one call of this plugin, ending by `deadline`; a
    /// request passes the runtime's long-run turns.
    fn call(
        &self,
        deadline: Instant,
        long_runs: Option<Arc<Semaphore>>,
        context: CallContext<H>,
    ) -> Call<'_, H> {
        Call::new(
            &self.pre,
            &self.manifest.name,
            self.limits,
            deadline,
            long_runs,
            context,
        )
    }

    /// Sets this plugin's gauges (instances alive) for a metrics read.
    pub fn publish_metrics(&self) {
        self.metrics.publish_instances();
    }

    /// Whether this is a `wasi:http` component (mounted, not described).
    pub fn is_http_component(&self) -> bool {
        matches!(self.entry, Entry::Http(_))
    }

    /// The error of a kai:fusion call made to a `wasi:http` component.
    fn not_fusion(&self) -> CallError {
        CallError::Trap {
            plugin: self.manifest.name.clone(),
            message: "a wasi:http component has no kai:fusion exports".into(),
        }
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
        // Most requests find a turn free: only a wait is timed.
        if let Ok(permit) = turns.try_acquire() {
            return Ok(Some(permit));
        }
        let started = Instant::now();
        let waited = tokio::time::timeout_at(deadline.into(), turns.acquire()).await;
        self.metrics.waited(started.elapsed());
        match waited {
            // The semaphore is never closed, so acquiring fails only by time.
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_)) | Err(_) => {
                let busy = CallError::Busy {
                    plugin: self.manifest.name.clone(),
                };
                self.metrics.count(CallKind::Request, Some(&busy));
                Err(busy)
            }
        }
    }

    /// Runs one workflow step in a fresh instance, under the plugin's
    /// deadline and memory limit and with its grants, as a request runs;
    /// the inner error is the plugin's own failure of the step. Steps take
    /// no request turns: the runner bounds how many run at once.
    /// `timeout`, when given, shortens the plugin's deadline.
    pub async fn run_node(
        &self,
        context: CallContext<H>,
        request: WitNodeRequest,
        timeout: Option<std::time::Duration>,
    ) -> Result<Result<String, WitNodeError>, CallError> {
        let Entry::Fusion(exports) = &self.entry else {
            return Err(self.not_fusion());
        };
        let timeout = timeout.map_or(self.limits.timeout, |t| t.min(self.limits.timeout));
        let deadline = Instant::now() + timeout;
        let call = self.call(deadline, Some(self.long_runs.clone()), context);
        let running = self.metrics.start();
        let result = call.run_node(exports, request).await;
        running.finish(CallKind::Node, result.as_ref().err());
        result
    }

    /// Delivers one event to a fresh instance; the inner error is the
    /// plugin's own refusal.
    pub async fn on_event(
        &self,
        context: CallContext<H>,
        event: WitEvent,
    ) -> Result<Result<(), String>, CallError> {
        let Entry::Fusion(exports) = &self.entry else {
            return Err(self.not_fusion());
        };
        let deadline = Instant::now() + self.limits.timeout;
        let call = self.call(deadline, None, context);
        let running = self.metrics.start();
        let result = call.on_event(exports, event).await;
        running.finish(CallKind::Event, result.as_ref().err());
        result
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
            "kai:fusion/state" => (
                "the host service `state`",
                manifest.services.iter().any(|s| s == "state"),
            ),
            "kai:fusion/memory" => (
                "the host service `memory`",
                manifest.services.iter().any(|s| s == "memory"),
            ),
            "kai:fusion/credentials" => ("reveal-credentials", requested.reveal_credentials),
            "kai:fusion/outbound-http" => ("outbound hosts", !requested.outbound_hosts.is_empty()),
            // A mounted component's requests are refused at run time unless
            // granted: an unmodified component may hold code it never uses.
            "wasi:http/outgoing-handler" if manifest.mount.is_none() => {
                ("outbound hosts", !requested.outbound_hosts.is_empty())
            }
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

/// Whether `component` exports `wasi:http/incoming-handler` (of any 0.2
/// version).
fn exports_incoming_handler(component: &Component, engine: &wasmtime::Engine) -> bool {
    component
        .component_type()
        .exports(engine)
        .any(|(name, _)| name.split('@').next() == Some(INCOMING_HANDLER))
}

/// Compiles `wasm`, once it is known to be a component.
fn compile<H: HostContext>(
    runtime: &super::Runtime<H>,
    wasm: &[u8],
) -> Result<Component, LoadError> {
    check_is_component(wasm)?;
    runtime
        .compile(wasm)
        .map_err(|e| LoadError::Invalid(format!("{e:#}")))
}

/// Resolves `component`'s imports against the host's linker.
fn instantiate_pre<H: HostContext>(
    runtime: &super::Runtime<H>,
    component: &Component,
) -> Result<InstancePre<CallState<H>>, LoadError> {
    runtime.linker().instantiate_pre(component).map_err(|e| {
        LoadError::WrongWorld(format!(
            "{e:#}; it imports something this host does not provide"
        ))
    })
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
