//! What [`crate::plugin!`] expands to: the generated bindings that hold the
//! component's export glue, the allocator it installs and the trait that
//! connects the exports to the plugin. Public only because a macro's
//! expansion must reach it from the plugin's crate; not part of the API,
//! and free to change in any release.

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod wit;

pub use crate::allocator::PluginAllocator;
pub use crate::plugin::Entry;

/// The manifest `plugin` describes itself with, as the WIT record the host
/// reads (for a native test host).
#[cfg(not(target_arch = "wasm32"))]
pub fn manifest(plugin: &crate::Plugin) -> wit::exports::kai::fusion::describe::Manifest {
    plugin.manifest().clone()
}

/// The route docs `plugin` gives the host (for a native test host).
#[cfg(not(target_arch = "wasm32"))]
pub fn route_docs(plugin: &crate::Plugin) -> Vec<wit::exports::kai::fusion::describe::RouteDoc> {
    plugin.route_docs()
}

/// The host services `plugin` asks for (for a native test host).
#[cfg(not(target_arch = "wasm32"))]
pub fn services(plugin: &crate::Plugin) -> Vec<String> {
    plugin.services()
}

/// The workflow node kinds `plugin` runs (for a native test host).
#[cfg(not(target_arch = "wasm32"))]
pub fn node_kinds(plugin: &crate::Plugin) -> Vec<wit::exports::kai::fusion::describe::NodeKind> {
    plugin.node_kinds()
}

/// Delivers an event, given as the WIT record, to `plugin`'s handlers (for
/// a native test host).
#[cfg(not(target_arch = "wasm32"))]
pub fn deliver(
    plugin: &crate::Plugin,
    event: wit::exports::kai::fusion::events::Event,
) -> Result<(), String> {
    plugin.deliver(&event.into())
}
