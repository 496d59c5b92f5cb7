//! Host-side bindings generated from `wit/` (the `kai:fusion/plugin` world).
//!
//! Kept in one private module, as wasmtime's own crates do; the rest of the
//! host uses the re-exported names. Every import is `async` (host calls may
//! touch the database) and `trappable` (a host bug traps the guest instead
//! of panicking the server), so each host function returns
//! `wasmtime::Result<T>`: the outer error traps, an inner WIT `error` is
//! handed to the guest to deal with.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "kai:fusion/plugin",
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use exports::kai::fusion::describe::Manifest as WitManifest;
pub use exports::kai::fusion::describe::NodeKind as WitNodeKind;
pub use exports::kai::fusion::describe::RouteDoc as WitRouteDoc;
pub use exports::kai::fusion::handler::{
    NodeError as WitNodeError, NodeRequest as WitNodeRequest, Request as WitRequest,
    Response as WitResponse,
};
pub use kai::fusion::types::Principal as WitPrincipal;

/// The bindings of `kai:fusion@0.1.3` (`wit/compat/0.1.3`), for plugins
/// built against 0.1.x. `persistence` and `describe` changed in 0.2.0, so
/// only their types are generated anew; every other interface is the 0.2.0
/// one, the same shape under the older name.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/compat/0.1.3",
        world: "kai:fusion/plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [serde::Serialize, serde::Deserialize],
        with: {
            "kai:fusion/types": super::kai::fusion::types,
            "kai:fusion/query": super::kai::fusion::query,
            "kai:fusion/log": super::kai::fusion::log,
            "kai:fusion/models": super::kai::fusion::models,
            "kai:fusion/kv": super::kai::fusion::kv,
            "kai:fusion/outbound-http": super::kai::fusion::outbound_http,
            "kai:fusion/credentials": super::kai::fusion::credentials,
            "kai:fusion/handler": super::exports::kai::fusion::handler,
            "kai:fusion/events": super::exports::kai::fusion::events,
        },
    });
}
