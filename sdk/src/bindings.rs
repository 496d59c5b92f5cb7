//! The bindings generated from `wit/` (the `kai:fusion/plugin` world).
//!
//! Most plugins never touch these directly: [`crate::Plugin`], [`crate::http`]
//! and the host-call wrappers cover them. They are public so that an author
//! can reach a host function before the SDK grows a wrapper for it.

wit_bindgen::generate!({
    path: "../wit",
    world: "kai:fusion/plugin",
    pub_export_macro: true,
    export_macro_name: "__export_plugin_bindings",
    default_bindings_module: "kai_sdk::bindings",
    additional_derives: [PartialEq],
});
