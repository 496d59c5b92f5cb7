//! # kai-sdk: write KAI-Fusion plugins in a few lines of Rust
//!
//! A plugin is a WebAssembly component (`wasm32-wasip2`) that mounts HTTP
//! routes in a KAI-Fusion host, declares its own tables and reacts to core
//! events. This crate hides the component-model plumbing: you describe the
//! plugin with [`Plugin`], write handlers as plain functions, and export it
//! with [`plugin!`].
//!
//! ```no_run
//! use kai_sdk::prelude::*;
//!
//! fn plugin() -> Plugin {
//!     Plugin::new("hello", env!("CARGO_PKG_VERSION"))
//!         .description("Greets whoever asks")
//!         .route(Route::get("/api/v1/hello/{name}").public(), hello)
//! }
//!
//! fn hello(req: &Request) -> Result<Response, Error> {
//!     let name = req.param("name")?;
//!     Response::json(200, &serde_json::json!({ "message": format!("hello, {name}") }))
//! }
//!
//! kai_sdk::plugin!(plugin);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the
//! resulting `.wasm` is the whole plugin (its manifest is inside it).
//!
//! Handlers are ordinary Rust functions, so they run natively too:
//! [`testing`] calls them without a server.
//!
//! ## Layout
//! - [`plugin`](mod@plugin): the [`Plugin`] builder (manifest plus handlers) and dispatch.
//! - [`http`]: [`Request`], [`Response`] and [`Error`].
//! - [`log`]: logging into the host's log.
//! - [`model`]: declaring the plugin's own models ([`model::Model`], [`model::Field`]).
//! - [`persistence`]: the rows of the plugin's own models and exported ones,
//!   a select's page read in place ([`persistence::Page`]).
//! - [`query`]: filters, orderings and aggregations.
//! - [`models`]: the host's collections and documents, as the caller.
//! - [`kv`]: a private key-value store.
//! - [`outbound`]: allow-listed HTTP with host-injected credentials.
//! - [`credentials`]: reading a secret, behind its own grant.
//! - [`state`]: durable checkpoints of long-running work (`Plugin::state()`).
//! - [`memory`]: conversation memory, sessions of messages read as a model's
//!   window (`Plugin::memory()`).
//! - [`events`]: the core events a plugin can subscribe to.
//! - [`host`]: errors of host calls.
//! - [`testing`]: drive a plugin natively in unit tests.
//!
//! Private, each in one place: the bump arena plugins allocate from
//! (`allocator`, installed by [`plugin!`]), the decoding of the packed pages
//! the host sends (`columns`), the standard streams provided inside the
//! plugin so that it imports no `wasi:cli` interface (`stdio`, wasm only),
//! and the generated WIT bindings with the conversions between their
//! records and the SDK's own types (`convert`): every type in the public API
//! is defined here, so a change of the WIT contract does not reach plugins.

// Natively, host calls go to stand-ins that take `impl Serialize`
// (`__private::native`); the borrows at call sites are the wasm imports'
// signatures.
#![cfg_attr(
    not(target_arch = "wasm32"),
    allow(clippy::needless_borrows_for_generic_args)
)]

mod allocator;
mod columns;
mod convert;
pub mod credentials;
pub mod events;
pub mod host;
pub mod http;
pub mod kv;
pub mod log;
pub mod memory;
pub mod model;
pub mod models;
pub mod node;
pub mod outbound;
pub mod persistence;
pub mod plugin;
pub mod query;
pub mod state;
#[cfg(all(target_arch = "wasm32", target_os = "wasi", target_env = "p2"))]
mod stdio;
pub mod testing;
pub mod time;

#[doc(hidden)]
pub mod __private;
pub(crate) use __private::wit;

pub use host::HostError;
pub use http::{Error, Principal, Request, Response};
pub use plugin::{ModelSource, Plugin, Route};

/// The version of the `kai:fusion` WIT package this SDK was built against.
pub const HOST_API_VERSION: &str = "0.2.4";

/// The host API requirement a plugin states unless it sets its own.
pub const DEFAULT_HOST_API_REQUIREMENT: &str = "^0.2.0";

/// The plugin guide's examples, compiled by `cargo test --doc` so that the
/// guide cannot drift from the SDK.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct PluginGuide;

/// Everything a typical plugin needs, in one import.
pub mod prelude {
    pub use crate::Principal;
    pub use crate::events::{Delivery, Event};
    pub use crate::host::HostError;
    pub use crate::http::{Error, Request, Response};
    pub use crate::log;
    pub use crate::model::{Field, Model};
    pub use crate::node::{NodeError, NodeKind, NodeRequest, NodeResult};
    pub use crate::plugin::{CoreModel, ModelSource, Plugin, Route};
    pub use crate::query::{Aggregation, Filter, TimeBucket, Value, asc, desc};
    pub use crate::{credentials, kv, memory, models, outbound, persistence, state};
}

/// Exports a plugin from this crate. Pass a function that builds the
/// [`Plugin`]; it runs once per request on a fresh instance, so keep it cheap.
///
/// ```ignore
/// kai_sdk::plugin!(plugin);
/// ```
///
/// The WebAssembly build allocates from the SDK's own allocator, a
/// bump arena in front of the system allocator, made for instances that
/// live for one call. A crate that sets its own `#[global_allocator]`
/// exports with `kai_sdk::plugin!(plugin, own_allocator)` instead.
#[macro_export]
macro_rules! plugin {
    ($build:path) => {
        $crate::plugin!($build, own_allocator);

        #[cfg(target_arch = "wasm32")]
        #[global_allocator]
        static __KAI_PLUGIN_ALLOCATOR: $crate::__private::PluginAllocator =
            $crate::__private::PluginAllocator::new();
    };
    ($build:path, own_allocator) => {
        #[doc(hidden)]
        pub struct __KaiPluginExport;

        impl $crate::__private::Entry for __KaiPluginExport {
            fn build() -> $crate::Plugin {
                $build()
            }
        }

        // The component exports exist only in the wasm build; natively the
        // crate is an ordinary library whose handlers tests call directly.
        #[cfg(target_arch = "wasm32")]
        $crate::__private::wit::__export_plugin_bindings!(__KaiPluginExport with_types_in $crate::__private::wit);
    };
}
