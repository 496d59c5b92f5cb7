//! What [`crate::plugin!`] expands to: the generated bindings that hold the
//! component's export glue, the allocator it installs and the trait that
//! connects the exports to the plugin. Public only because a macro's
//! expansion must reach it from the plugin's crate; not part of the API,
//! and free to change in any release.

pub mod wit;

pub use crate::allocator::PluginAllocator;
pub use crate::plugin::Entry;
