//! The plugins this host runs: which are loaded, how they got there, and how
//! the set changes.
//!
//! - [`registry`]: the live set and its route table, swapped atomically.
//! - [`boot`]: restoring the set at start (bundled, recorded, directory).
//! - [`bundled`]: the first-party plugins compiled into the binary.
//! - [`grants`]: requested and granted capabilities.
//! - [`routes`]: the plugin route table with conflict detection.
//! - [`hooks`]: the set as event subscribers and as host functions see it.
//! - [`invoke`]: one HTTP request to a plugin as one unit of work.
//! - [`install`]: making a loaded plugin live (routes, migration, record, swap).
//! - [`lifecycle`]: install, upgrade, roll back, enable, disable, remove.
//! - [`cluster`]: keeping nodes that share a database in step.
//! - [`watch`]: installing `.wasm` files as they appear in a directory.

pub mod boot;
pub mod bundled;
pub mod cluster;
pub mod grants;
pub mod hooks;
pub mod install;
pub mod invoke;
pub mod lifecycle;
pub mod registry;
pub mod routes;
pub mod watch;

pub use registry::{PluginEntry, PluginRegistry, PluginSet};

use crate::capabilities::PluginRuntime;
use crate::store::Db;
use std::sync::Arc;

/// What changing the plugin set and keeping nodes in step work with: the
/// database, the runtime, the live set and the plugins the operator
/// trusts. Cheap to clone.
#[derive(Clone)]
pub struct PluginControl {
    pub db: Db,
    pub runtime: Arc<PluginRuntime>,
    pub plugins: Arc<PluginRegistry>,
    /// Plugins granted what they request without an operator's decision.
    pub trusted_plugins: Arc<[String]>,
}
