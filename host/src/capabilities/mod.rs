//! The host side of every imported WIT interface, one module each. Each
//! implements the generated `Host` trait on [`CallState`], checks the
//! calling plugin's grants, and applies the request's principal.
//!
//! [`HostAccess`] is what one call's host functions work with: the narrow
//! set of services they reach ([`HostServices`]), the call's unit of work,
//! the plugin, its grant and the caller. The runtime carries it into the
//! call without looking inside.
//!
//! - [`log`]: `kai:fusion/log`, into the host's tracing output.
//! - [`models`]: `kai:fusion/models`, the core models as the principal.
//! - [`persistence`]: `kai:fusion/persistence`, plugin-declared tables.
//! - [`kv`]: `kai:fusion/kv`, a small private store per plugin.
//! - [`outbound_http`]: `kai:fusion/outbound-http`, allow-listed HTTP
//!   with credentials injected by the host.
//! - [`credentials`]: `kai:fusion/credentials`, `reveal` behind its grant.
//! - [`state`]: `kai:fusion/state`, the StateManager's threads of
//!   checkpoints, behind the host service `state`.
//! - [`memory`]: `kai:fusion/memory`, the MemoryManager's conversation
//!   sessions, behind the host service `memory`.
//! - [`v0_1`]: the same for plugins built against kai:fusion 0.1.x.
//!
//! Host functions return `Ok(Err(error))` for anything the guest should
//! handle (denied, not found, invalid...) and reserve `Err` (a trap) for
//! host bugs.

pub mod credentials;
pub mod kv;
pub mod log;
pub mod memory;
pub mod models;
pub mod outbound_http;
pub mod persistence;
pub mod state;
pub mod v0_1;

use crate::domain::Principal;
use crate::domain::grant::Grant;
use crate::runtime::Runtime;
use crate::runtime::call::HostContext;
use crate::runtime::plugin::LoadedPlugin;
use crate::services::events::Hooks;
use crate::services::plugin_data::{ModelDef, PluginTables};
use crate::services::{Core, Session};
use crate::wit::bindings::kai::fusion as wit;
use crate::wit::manifest::Manifest;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};
use wit::types::Error as WitError;

/// A plugin as the server loads it.
pub type Plugin = LoadedPlugin<HostAccess>;

/// The runtime the server's plugins run in.
pub type PluginRuntime = Runtime<HostAccess>;

/// The data of one call's store, on which the host functions are methods.
pub type CallState = crate::runtime::call::CallState<HostAccess>;

/// The enabled plugins, as host functions look one up (to read a model it
/// exports).
pub trait PluginDirectory: Send + Sync {
    /// The models of the enabled plugin `name`.
    fn models_of(&self, name: &str) -> Option<Arc<DeclaredModels>>;
}

/// What host functions need of a plugin: its name and the models it
/// declared, with their tables. Worked out once, when the plugin is loaded
/// (or, natively, when a test host takes it), so host calls never need
/// the component itself.
pub struct DeclaredModels {
    pub plugin: String,
    pub models: Vec<ModelDef>,
    pub tables: PluginTables,
}

impl DeclaredModels {
    pub fn of(manifest: &Manifest) -> DeclaredModels {
        DeclaredModels {
            plugin: manifest.name.clone(),
            models: manifest.models.clone(),
            tables: PluginTables::of(&manifest.name, &manifest.models),
        }
    }
}

/// What host functions reach of the host: the services behind the
/// interfaces, never the whole application state.
pub struct HostServices {
    pub core: Arc<Core>,
    pub outbound: outbound_http::OutboundHttp,
    pub directory: Arc<dyn PluginDirectory>,
}

/// Everything one call's host functions work with.
#[derive(Clone)]
pub struct HostAccess {
    pub services: Arc<HostServices>,
    /// The subscribers of the events the call's writes emit.
    pub hooks: Arc<dyn Hooks>,
    /// The unit of work this call's writes belong to.
    pub session: Arc<Session>,
    /// The plugin being called: its models.
    pub plugin: Arc<DeclaredModels>,
    /// What the operator granted it; every host call checks this.
    pub grant: Arc<Grant>,
    /// On whose behalf the plugin runs; `None` on a public route.
    pub principal: Option<Principal>,
    /// How deep in a chain of event hooks this call is (0 for a request).
    pub depth: u8,
}

impl HostContext for HostAccess {
    type PluginData = Arc<DeclaredModels>;

    fn plugin_data(manifest: &Manifest) -> Arc<DeclaredModels> {
        Arc::new(DeclaredModels::of(manifest))
    }

    fn holds_writer(&self) -> bool {
        self.session.is_writing()
    }

    fn outbound_allowed(&self, url: &url::Url) -> bool {
        self.grant.outbound(url)
    }
}

/// Links every host interface into `linker`, under the names of every
/// version the host serves. Grants are enforced per call,
/// inside each function, so an ungranted call is an error the guest sees.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::query::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::log::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::models::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::persistence::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::kv::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::outbound_http::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::credentials::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::state::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::memory::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    v0_1::add_to_linker(linker)
}

impl wit::types::Host for CallState {}
impl wit::query::Host for CallState {}

/// What a host function needs of its call, taken out of the store so it
/// can be held across awaits (the store itself is not `Sync`).
#[derive(Clone)]
pub(crate) struct Caller {
    pub host: HostAccess,
    pub plugin_name: String,
}

impl CallState {
    /// The caller of a host function; an error while the plugin is only
    /// being described (no host access then).
    pub(crate) fn caller(&self) -> Result<Caller, WitError> {
        let host = self.context.host.clone().ok_or_else(|| {
            WitError::Unavailable(
                "host calls are not available while a plugin is being described".into(),
            )
        })?;
        Ok(Caller {
            host,
            plugin_name: self.plugin_name.clone(),
        })
    }
}

impl Caller {
    pub(crate) fn host(&self) -> Result<&HostAccess, WitError> {
        Ok(&self.host)
    }

    /// The capabilities the operator granted this plugin.
    pub(crate) fn grants(&self) -> Result<&Grant, WitError> {
        Ok(&self.host.grant)
    }

    /// On whose behalf the plugin runs.
    pub(crate) fn principal(&self) -> Option<&Principal> {
        self.host.principal.as_ref()
    }

    /// On whose behalf the plugin runs, once its grant allows the host
    /// service `service` (which acts on the caller's own data, so it needs
    /// an authenticated caller).
    pub(crate) fn service_principal(&self, service: &str) -> Result<Principal, WitError> {
        if !self.host.grant.core(service, true) {
            return Err(WitError::Denied(format!(
                "plugin `{}` was not granted the host service `{service}`",
                self.plugin_name
            )));
        }
        self.principal().cloned().ok_or_else(|| {
            WitError::Denied(format!(
                "the {service} service needs an authenticated caller; this call has none"
            ))
        })
    }
}

/// A database failure as the guest sees it: uniqueness is a conflict the
/// guest can act on; anything else is logged and reported as unavailable
/// without internals.
pub(crate) fn db_error(plugin: &str, error: sqlx::Error) -> WitError {
    if let Some(db) = error.as_database_error()
        && db.is_unique_violation()
    {
        return WitError::Conflict("a row with the same unique values already exists".into());
    }
    tracing::error!(plugin, error = %error, "database error in a host call");
    WitError::Unavailable("the database could not complete the call".into())
}
