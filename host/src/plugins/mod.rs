//! The plugins this host runs: which are loaded, how they got there, and how
//! the set changes.
//!
//! - [`registry`]: the live set and its route table, swapped atomically.
//! - [`boot`]: restoring the set at start (bundled, recorded, directory).
//! - [`bundled`]: the first-party plugins compiled into the binary.
//! - [`grants`]: requested and granted capabilities.
//! - [`install`]: making a loaded plugin live (routes, migration, record, swap).

pub mod boot;
pub mod bundled;
pub mod grants;
pub mod install;
pub mod registry;

pub use registry::{PluginEntry, PluginRegistry, PluginSet};
