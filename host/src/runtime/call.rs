//! One call into a plugin: a fresh [`Store`] with its limits and deadline, an
//! instance from the plugin's `InstancePre`, the call itself, and the
//! translation of whatever went wrong into a [`CallError`].
//!
//! Nothing survives a call: the store, the instance and its memory are
//! dropped when it returns, so no state leaks between requests or users.
//!
//! A request's guest code yields to the executor at every epoch tick. Once
//! it has run for [`LONG_RUN_TICKS`] ticks it is a long runner: it runs on
//! only while holding one of the runtime's long-run turns (fewer than the
//! CPU cores), taken again at every tick in arrival order. Plugins that
//! burn their whole deadline thus share what those turns allow, and a core
//! stays free for core routes and short plugin calls.

use super::limits::EffectiveLimits;
use crate::wit::bindings::exports::kai::fusion::events::Event as WitEvent;
use crate::wit::bindings::{
    WitManifest, WitNodeError, WitNodeKind, WitNodeRequest, WitRequest, WitResponse, WitRouteDoc,
};
use crate::wit::manifest::{HOST_API_VERSIONS, WitManifestV0_1, manifest_from_v0_1};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, InstancePre, Lift, Lower,
    ResourceTable, TypedFunc,
};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;

/// How much of a guest's stderr (panic messages) we keep for the log.
const STDERR_CAPTURE_BYTES: usize = 8 * 1024;

/// Extra time the host-side timer allows beyond the guest's deadline, so
/// the epoch deadline (which names the cause precisely) normally fires first.
const HOST_TIMER_GRACE: Duration = Duration::from_millis(250);

/// Epoch ticks of guest code after which a request's call must hold a
/// long-run turn to go on (with 10 ms ticks, 20 ms of guest time).
pub const LONG_RUN_TICKS: u32 = 2;

/// What the host functions of a call work with: the runtime carries it
/// into the call's store without looking inside, so it knows nothing of
/// the services behind it (`crate::capabilities` defines the one the
/// server uses).
pub trait HostContext: Send + Sync + Sized + 'static {
    /// What the host keeps of each loaded plugin, worked out once at load
    /// from its manifest.
    type PluginData: Send + Sync + 'static;

    /// Works out [`HostContext::PluginData`] for a plugin being loaded.
    fn plugin_data(manifest: &crate::wit::manifest::Manifest) -> Self::PluginData;

    /// Whether the plugin may send a request to `url` through
    /// `wasi:http/outgoing-handler` (its granted outbound origins).
    fn outbound_allowed(&self, url: &url::Url) -> bool;

    /// Whether the call holds the database's writer: a long runner that
    /// does must not wait for a turn another long runner may hold while
    /// waiting for the writer.
    fn holds_writer(&self) -> bool;
}

/// Who is calling and why: travels into the store for the host functions.
pub struct CallContext<H> {
    pub request_id: String,
    /// The `traceparent` of the request's server span (W3C Trace
    /// Context), passed on with the plugin's outbound requests.
    pub traceparent: Option<String>,
    /// What host functions work with; `None` while a plugin is only being
    /// described at load time (host calls then fail).
    pub host: Option<H>,
}

impl<H> Default for CallContext<H> {
    fn default() -> Self {
        Self {
            request_id: String::new(),
            traceparent: None,
            host: None,
        }
    }
}

/// The data of one call's [`Store`]; host capability implementations
/// (`crate::capabilities`) are methods on it.
pub struct CallState<H> {
    /// Built on the guest's first WASI call. A plugin reaches the world
    /// through kai:fusion; WASI is there for the standard library (a panic
    /// message to stderr, mostly), and most calls never touch it, so they
    /// need not pay for a context and an stderr buffer they drop unused.
    wasi: Option<Wasi>,
    /// Whether WASI's clocks tell the time: for `wasi:http` components,
    /// which have no other clock. A kai:fusion plugin gets a frozen clock
    /// and the time of its request instead.
    real_clocks: bool,
    /// `wasi:http`'s context, built on the first `wasi:http` call.
    http: Option<WasiHttpCtx>,
    /// What the guest wrote to stderr through `kai:fusion/log.write-stderr`
    /// (kai-sdk plugins), up to [`STDERR_CAPTURE_BYTES`]; plugins that
    /// write to `wasi:cli/stderr` instead fill the WASI context's pipe.
    stderr: Vec<u8>,
    table: ResourceTable,
    limiter: Limiter,
    deadline: Instant,
    /// Epoch ticks seen while the guest ran.
    ticks: u32,
    /// The long-run turns this call takes once it is a long runner (HTTP
    /// requests only: events run inside writes that must not wait).
    long_runs: Option<Arc<Semaphore>>,
    /// The long-run turn this call holds, if any; given back at each tick.
    long_run_turn: Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>>,
    /// The plugin being called (name, grants, limits).
    pub plugin_name: String,
    /// The caller and request id.
    pub context: CallContext<H>,
    /// Log lines the guest may still write in this call.
    pub log_budget: u32,
}

impl<H: HostContext> WasiView for CallState<H> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self
                .wasi
                .get_or_insert_with(|| Wasi::new(self.real_clocks))
                .ctx,
            table: &mut self.table,
        }
    }
}

impl<H: HostContext> CallState<H> {
    /// The parts `wasi:http` works with: the resource table, its context,
    /// and the call's context, whose grant decides outbound requests.
    pub(super) fn http_parts(
        &mut self,
    ) -> (&mut ResourceTable, &mut WasiHttpCtx, &mut CallContext<H>) {
        (
            &mut self.table,
            self.http.get_or_insert_with(WasiHttpCtx::new),
            &mut self.context,
        )
    }
}

impl<H> CallState<H> {
    /// The state of host calls made by plugin code that runs natively, not
    /// in a store (a test host's): the same host functions, with no guest
    /// to limit.
    pub fn native(plugin_name: &str, context: CallContext<H>) -> Self {
        Self {
            wasi: None,
            real_clocks: false,
            http: None,
            stderr: Vec::new(),
            table: ResourceTable::new(),
            limiter: Limiter {
                max_memory_bytes: usize::MAX,
                max_table_elements: usize::MAX,
                memory_exceeded: false,
            },
            deadline: Instant::now() + Duration::from_secs(24 * 3600),
            ticks: 0,
            long_runs: None,
            long_run_turn: Arc::default(),
            plugin_name: plugin_name.to_string(),
            context,
            log_budget: 1_000,
        }
    }

    /// Keeps `bytes` the guest wrote to stderr, as far as the cap allows.
    pub(crate) fn keep_stderr(&mut self, bytes: &[u8]) {
        let room = STDERR_CAPTURE_BYTES.saturating_sub(self.stderr.len());
        self.stderr
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// What the guest wrote to stderr in this call (panic messages), by
    /// either way out.
    fn stderr(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.stderr).into_owned();
        if let Some(wasi) = &self.wasi {
            text.push_str(&String::from_utf8_lossy(&wasi.stderr.contents()));
        }
        text
    }
}

impl<H: HostContext> CallState<H> {
    /// For a long runner, at a tick: gives its long-run turn back and
    /// returns the wait for the next one (until the deadline at most; the
    /// next tick then ends the call). `None` for calls that just yield: not
    /// long runners yet, not requests, or holding the database's writer,
    /// which another long runner may be waiting for.
    fn long_run_wait(&mut self) -> Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> {
        let turns = self.long_runs.clone()?;
        if self.ticks <= LONG_RUN_TICKS
            || self
                .context
                .host
                .as_ref()
                .is_some_and(HostContext::holds_writer)
        {
            return None;
        }
        let slot = self.long_run_turn.clone();
        slot.lock().expect("long-run turn").take();
        let deadline = tokio::time::Instant::from_std(self.deadline);
        Some(Box::pin(async move {
            if let Ok(Ok(turn)) = tokio::time::timeout_at(deadline, turns.acquire_owned()).await {
                *slot.lock().expect("long-run turn") = Some(turn);
            }
        }))
    }
}

/// A call's WASI context and the buffer that keeps its stderr.
struct Wasi {
    ctx: WasiCtx,
    stderr: MemoryOutputPipe,
}

impl Wasi {
    fn new(real_clocks: bool) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        // No files, no environment, no sockets, and for kai:fusion plugins
        // a frozen clock: a plugin reaches the world only through the
        // kai:fusion interfaces, a `wasi:http` component only through
        // granted `wasi:http` requests.
        let mut builder = WasiCtx::builder();
        builder
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if !real_clocks {
            builder.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
        }
        Self {
            ctx: builder.build(),
            stderr,
        }
    }
}

/// Caps linear memory (and tables) per store and remembers whether the
/// guest hit the cap, so a resulting trap can be reported as what it is.
struct Limiter {
    max_memory_bytes: usize,
    max_table_elements: usize,
    memory_exceeded: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            self.memory_exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }
}

/// The epoch callback's error when a call passes its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the plugin call passed its deadline")]
struct DeadlineExceeded;

/// Why a call produced no result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("plugin `{plugin}` did not answer within {}ms", .after.as_millis())]
    Timeout { plugin: String, after: Duration },
    #[error("plugin `{plugin}` exceeded its memory limit of {limit_mib} MiB")]
    MemoryExhausted { plugin: String, limit_mib: usize },
    #[error("plugin `{plugin}` failed: {message}")]
    Trap { plugin: String, message: String },
    #[error("plugin `{plugin}` is at its concurrency limit")]
    Busy { plugin: String },
}

/// The signatures of `describe.describe`, `handler.handle` and
/// `events.on-event`, named once for the check at load and the calls that
/// rely on it. Component types are checked by shape, so the last two hold
/// for plugins built against 0.1.x, whose `handler` and `events` exports
/// did not change.
type DescribeResults = (WitManifest,);
/// `describe.route-docs`, which plugins built against 0.2.1 or later have.
type RouteDocsResults = (Vec<WitRouteDoc>,);
/// `describe.services`, which plugins built against 0.2.2 or later have.
type ServicesResults = (Vec<String>,);
type NodeKindsResults = (Vec<WitNodeKind>,);
type RunNodeParams<'a> = (&'a WitNodeRequest,);
type RunNodeResults = (Result<String, WitNodeError>,);
/// `describe.describe` of plugins built against 0.1.x, whose manifest
/// records predate owned models and list fields.
type DescribeResultsV0_1 = (WitManifestV0_1,);
type HandleParams<'a> = (&'a WitRequest,);
type HandleResults = (WitResponse,);
type EventParams<'a> = (&'a WitEvent,);
type EventResults = (Result<(), String>,);

/// Where a plugin's `describe`, `handle` and `on-event` exports are, found
/// and type-checked once, when the plugin is described at load.
/// Instantiating through the generated bindings would look up and
/// type-check every export of the world again on each request, where a call
/// needs one function whose type cannot change for a given component; and
/// the bindings know only the current version's export names. Only
/// [`Call::describe`] makes one, through [`Exports::checked`].
#[derive(Debug, Clone, Copy)]
pub struct Exports {
    describe: ComponentExportIndex,
    /// Whether `describe` returns a 0.1.x manifest.
    describes_v0_1: bool,
    /// `describe.route-docs`, where the plugin exports it.
    route_docs: Option<ComponentExportIndex>,
    /// `describe.services`, where the plugin exports it.
    services: Option<ComponentExportIndex>,
    /// `describe.node-kinds` and `handler.run-node`, where the plugin
    /// exports them (0.2.4).
    node_kinds: Option<ComponentExportIndex>,
    run_node: Option<ComponentExportIndex>,
    handle: ComponentExportIndex,
    on_event: ComponentExportIndex,
}

/// Exports found by name but not yet type-checked: what
/// [`Call::describe`] turns into [`Exports`].
#[derive(Debug)]
pub struct Located(Exports);

impl Exports {
    /// Finds the three exports in `component`, of the newest version it
    /// was built against (the lookup accepts any compatible one: a plugin
    /// built against 0.1.0 exports `...@0.1.0`, found as 0.1.3). Not yet
    /// type-checked: that takes an instance.
    pub(super) fn locate(component: &Component) -> wasmtime::Result<Located> {
        let version = HOST_API_VERSIONS
            .iter()
            .find(|version| {
                let handler = format!("kai:fusion/handler@{version}");
                component.get_export_index(None, &handler).is_some()
            })
            .ok_or_else(|| {
                wasmtime::format_err!(
                    "the component exports no `kai:fusion/handler` of a version this host serves"
                )
            })?;
        let find = |interface: &str, function: &str| {
            let interface = format!("kai:fusion/{interface}@{version}");
            let instance = component
                .get_export_index(None, &interface)
                .ok_or_else(|| wasmtime::format_err!("no exported instance `{interface}`"))?;
            Ok::<_, wasmtime::Error>((
                component.get_export_index(Some(&instance), function),
                interface,
            ))
        };
        let lookup = |interface: &str, function: &str| {
            let (found, interface) = find(interface, function)?;
            found.ok_or_else(|| wasmtime::format_err!("`{interface}` does not export `{function}`"))
        };
        Ok(Located(Self {
            describe: lookup("describe", "describe")?,
            describes_v0_1: version.major == 0 && version.minor == 1,
            route_docs: find("describe", "route-docs")?.0,
            services: find("describe", "services")?.0,
            node_kinds: find("describe", "node-kinds")?.0,
            run_node: find("handler", "run-node")?.0,
            handle: lookup("handler", "handle")?,
            on_event: lookup("events", "on-event")?,
        }))
    }

    /// Checks the types of located exports against `instance`: the only
    /// way to make an `Exports` a call relies on.
    fn checked<H: HostContext>(
        located: Located,
        store: &mut Store<CallState<H>>,
        instance: &Instance,
    ) -> wasmtime::Result<Self> {
        let exports = located.0;
        if exports.describes_v0_1 {
            instance.get_typed_func::<(), DescribeResultsV0_1>(&mut *store, &exports.describe)?;
        } else {
            instance.get_typed_func::<(), DescribeResults>(&mut *store, &exports.describe)?;
        }
        if let Some(route_docs) = &exports.route_docs {
            instance.get_typed_func::<(), RouteDocsResults>(&mut *store, route_docs)?;
        }
        if let Some(services) = &exports.services {
            instance.get_typed_func::<(), ServicesResults>(&mut *store, services)?;
        }
        if let Some(node_kinds) = &exports.node_kinds {
            instance.get_typed_func::<(), NodeKindsResults>(&mut *store, node_kinds)?;
        }
        if let Some(run_node) = &exports.run_node {
            instance.get_typed_func::<RunNodeParams, RunNodeResults>(&mut *store, run_node)?;
        }
        instance.get_typed_func::<HandleParams, HandleResults>(&mut *store, &exports.handle)?;
        instance.get_typed_func::<EventParams, EventResults>(&mut *store, &exports.on_event)?;
        Ok(exports)
    }
}

/// What a plugin says of itself at load.
pub struct Described {
    pub manifest: WitManifest,
    /// Empty for a plugin that does not document its routes.
    pub route_docs: Vec<WitRouteDoc>,
    /// The host services it asks for; empty for a plugin built before 0.2.2.
    pub services: Vec<String>,
    /// The workflow node kinds it runs; empty for a plugin built before 0.2.4.
    pub node_kinds: Vec<WitNodeKind>,
    pub exports: Exports,
}

/// A freshly instantiated plugin inside its own store, ready for one call.
pub struct Call<'a, H: HostContext> {
    pre: &'a InstancePre<CallState<H>>,
    limits: EffectiveLimits,
    store: Store<CallState<H>>,
    started: Instant,
}

impl<'a, H: HostContext> Call<'a, H> {
    /// Prepares a store for one call to the plugin `name`, which must end
    /// by `deadline`. A request passes the runtime's long-run turns as
    /// `long_runs`.
    pub fn new(
        pre: &'a InstancePre<CallState<H>>,
        name: &str,
        limits: EffectiveLimits,
        deadline: Instant,
        long_runs: Option<Arc<Semaphore>>,
        context: CallContext<H>,
    ) -> Self {
        let started = Instant::now();
        let state = CallState {
            wasi: None,
            real_clocks: false,
            http: None,
            stderr: Vec::new(),
            table: ResourceTable::new(),
            limiter: Limiter {
                max_memory_bytes: limits.memory_bytes,
                max_table_elements: 100_000,
                memory_exceeded: false,
            },
            deadline,
            ticks: 0,
            long_runs,
            long_run_turn: Arc::default(),
            plugin_name: name.to_string(),
            context,
            log_budget: 1_000,
        };
        let mut store = Store::new(pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        // Check the clock at every epoch tick: yield to the executor while
        // there is time left (so a spinning guest cannot starve others), trap
        // once the deadline has passed.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut context| {
            let state = context.data_mut();
            if Instant::now() >= state.deadline {
                return Err(DeadlineExceeded.into());
            }
            state.ticks = state.ticks.saturating_add(1);
            Ok(match state.long_run_wait() {
                Some(wait) => UpdateDeadline::YieldCustom(1, wait),
                None => UpdateDeadline::Yield(1),
            })
        });
        Self {
            pre,
            limits,
            store,
            started,
        }
    }

    /// Asks the plugin for its manifest and, where it has them, its route
    /// docs and the host services it uses; checks the exports later calls
    /// use.
    pub async fn describe(mut self, located: Located) -> Result<Described, CallError> {
        let pre = self.pre;
        let result = self
            .run(async |store| {
                let instance = pre.instantiate_async(&mut *store).await?;
                let exports = Exports::checked(located, store, &instance)?;
                if exports.describes_v0_1 {
                    let describe = instance.get_typed_func::<(), DescribeResultsV0_1>(
                        &mut *store,
                        &exports.describe,
                    )?;
                    let (manifest,) = describe.call_async(&mut *store, ()).await?;
                    return Ok(Described {
                        manifest: manifest_from_v0_1(manifest)?,
                        route_docs: Vec::new(),
                        services: Vec::new(),
                        node_kinds: Vec::new(),
                        exports,
                    });
                }
                let describe = instance
                    .get_typed_func::<(), DescribeResults>(&mut *store, &exports.describe)?;
                let (manifest,) = describe.call_async(&mut *store, ()).await?;
                let route_docs = match &exports.route_docs {
                    Some(index) => {
                        let route_docs =
                            instance.get_typed_func::<(), RouteDocsResults>(&mut *store, index)?;
                        route_docs.call_async(&mut *store, ()).await?.0
                    }
                    None => Vec::new(),
                };
                let services = match &exports.services {
                    Some(index) => {
                        let services =
                            instance.get_typed_func::<(), ServicesResults>(&mut *store, index)?;
                        services.call_async(&mut *store, ()).await?.0
                    }
                    None => Vec::new(),
                };
                let node_kinds = match &exports.node_kinds {
                    Some(index) => {
                        let kinds =
                            instance.get_typed_func::<(), NodeKindsResults>(&mut *store, index)?;
                        kinds.call_async(&mut *store, ()).await?.0
                    }
                    None => Vec::new(),
                };
                Ok(Described {
                    manifest,
                    route_docs,
                    services,
                    node_kinds,
                    exports,
                })
            })
            .await;
        self.finish(result)
    }

    /// Handles one HTTP request.
    pub(super) async fn handle(
        mut self,
        exports: &Exports,
        request: WitRequest,
    ) -> Result<WitResponse, CallError> {
        let pre = self.pre;
        let result = self
            .run(async |store| {
                // SAFETY: `exports.handle` was checked to have this type.
                let call = unsafe {
                    call_checked::<H, HandleParams, HandleResults>(
                        pre,
                        store,
                        &exports.handle,
                        (&request,),
                    )
                };
                Ok(call.await?.0)
            })
            .await;
        self.finish(result)
    }

    /// Runs one workflow step; the inner error is the plugin's own
    /// failure of the step. A plugin without `run-node` fails the step.
    pub(super) async fn run_node(
        mut self,
        exports: &Exports,
        request: WitNodeRequest,
    ) -> Result<Result<String, WitNodeError>, CallError> {
        let Some(run_node) = &exports.run_node else {
            return Ok(Err(WitNodeError::Failed(
                "the plugin runs no workflow nodes (it was built before kai:fusion 0.2.4)".into(),
            )));
        };
        let pre = self.pre;
        let result = self
            .run(async |store| {
                // SAFETY: `exports.run_node` was checked to have this type.
                let call = unsafe {
                    call_checked::<H, RunNodeParams, RunNodeResults>(
                        pre,
                        store,
                        run_node,
                        (&request,),
                    )
                };
                Ok(call.await?.0)
            })
            .await;
        self.finish(result)
    }

    /// Delivers one event; the inner error is the plugin's own refusal.
    pub(super) async fn on_event(
        mut self,
        exports: &Exports,
        event: WitEvent,
    ) -> Result<Result<(), String>, CallError> {
        let pre = self.pre;
        let result = self
            .run(async |store| {
                // SAFETY: `exports.on_event` was checked to have this type.
                let call = unsafe {
                    call_checked::<H, EventParams, EventResults>(
                        pre,
                        store,
                        &exports.on_event,
                        (&event,),
                    )
                };
                Ok(call.await?.0)
            })
            .await;
        self.finish(result)
    }

    /// Gives this call's guest WASI's real clocks (a `wasi:http`
    /// component has no other).
    pub(super) fn use_real_clocks(&mut self) {
        self.store.data_mut().real_clocks = true;
    }

    /// Runs `body` under the host-side timer, the backstop for a guest stuck
    /// in a host call rather than in its own code.
    pub(super) async fn run<T>(
        &mut self,
        body: impl AsyncFnOnce(&mut Store<CallState<H>>) -> wasmtime::Result<T>,
    ) -> Option<wasmtime::Result<T>> {
        let budget = self
            .store
            .data()
            .deadline
            .saturating_duration_since(Instant::now())
            + HOST_TIMER_GRACE;
        tokio::time::timeout(budget, body(&mut self.store))
            .await
            .ok()
    }

    pub(super) fn finish<T>(self, result: Option<wasmtime::Result<T>>) -> Result<T, CallError> {
        let plugin = self.store.data().plugin_name.clone();
        let error = match result {
            Some(Ok(value)) => return Ok(value),
            None => CallError::Timeout {
                plugin,
                after: self.limits.timeout,
            },
            Some(Err(error)) => self.classify(plugin, error),
        };
        let stderr = self.store.data().stderr();
        tracing::warn!(
            plugin = %self.store.data().plugin_name,
            request_id = %self.store.data().context.request_id,
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            guest_stderr = %stderr.trim(),
            "{error}"
        );
        Err(error)
    }

    fn classify(&self, plugin: String, error: wasmtime::Error) -> CallError {
        if error.is::<DeadlineExceeded>() {
            CallError::Timeout {
                plugin,
                after: self.limits.timeout,
            }
        } else if self.store.data().limiter.memory_exceeded {
            CallError::MemoryExhausted {
                plugin,
                limit_mib: self.limits.memory_bytes >> 20,
            }
        } else if error.is::<wasmtime::PoolConcurrencyLimitError>() {
            CallError::Busy { plugin }
        } else {
            CallError::Trap {
                plugin,
                message: format!("{error:#}"),
            }
        }
    }
}

/// Instantiates the plugin afresh in `store` and calls its export at
/// `index`.
///
/// # Safety
///
/// The export at `index` must have the type `Params -> Results`, as
/// [`Exports::checked`] verified at load for the exports it holds. (An
/// index of another component yields no function: wasmtime checks the
/// component id, so that case errors instead.)
async unsafe fn call_checked<H: HostContext, Params, Results>(
    pre: &InstancePre<CallState<H>>,
    store: &mut Store<CallState<H>>,
    index: &ComponentExportIndex,
    params: Params,
) -> wasmtime::Result<Results>
where
    Params: ComponentNamedList + Lower + Send + Sync,
    Results: ComponentNamedList + Lift + Send + Sync + 'static,
{
    let instance = pre.instantiate_async(&mut *store).await?;
    let func = instance
        .get_func(&mut *store, index)
        .ok_or_else(|| wasmtime::format_err!("the component lost an export it had at load"))?;
    // SAFETY: the caller guarantees the type.
    let typed = unsafe { TypedFunc::<Params, Results>::new_unchecked(func) };
    typed.call_async(&mut *store, params).await
}

/// A clock stopped at the Unix epoch: plugins get the time of a request from
/// the request itself, not from an ambient clock.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}
