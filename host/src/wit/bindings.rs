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
pub use exports::kai::fusion::handler::{Request as WitRequest, Response as WitResponse};
pub use kai::fusion::types::Principal as WitPrincipal;
