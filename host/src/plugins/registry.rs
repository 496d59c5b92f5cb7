//! The set of loaded plugins and their route table, swapped atomically.
//!
//! Readers (every plugin request) take a snapshot with one atomic load and
//! no lock; a request keeps its snapshot, and so the plugin version it
//! started on, until it ends. Writers (boot, install) build a complete new
//! set, check it, and swap it in; a mutex serializes writers only.
//!
//! A whole change (an install, an enable, a grant decision, a
//! reconciliation with the database) reads the set and the database,
//! decides, and writes both; [`PluginRegistry::begin_change`] runs such
//! changes one at a time on this node.

use super::grants::Grant;
use super::routes::{CoreRoute, RouteConflict, RouteTable};
use crate::capabilities::Plugin;
use crate::domain::workflow::PluginKinds;
use crate::store::plugins::Source;
use crate::wit::bindings::exports::kai::fusion::describe::Delivery;
use arc_swap::ArcSwap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A plugin in the set, with how it got there.
#[derive(Debug, Clone)]
pub struct PluginEntry {
    pub plugin: Arc<Plugin>,
    pub source: Source,
    pub enabled: bool,
    /// What the operator granted it.
    pub grant: Arc<Grant>,
}

/// A version waiting for the operator to grant what it requests.
#[derive(Clone)]
pub struct Pending {
    pub plugin: Arc<Plugin>,
    pub wasm: Arc<Vec<u8>>,
    pub source: Source,
    pub requested: Grant,
    /// What it asks beyond the recorded decision.
    pub missing: Grant,
}

/// A plugin subscribed to an event.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub plugin: Arc<Plugin>,
    pub delivery: Delivery,
    pub grant: Arc<Grant>,
}

/// One immutable state of the plugin set.
#[derive(Default)]
pub struct PluginSet {
    pub plugins: BTreeMap<String, PluginEntry>,
    /// Routes of the enabled plugins.
    pub routes: RouteTable,
    /// Subscribers of each event kind, among the enabled plugins.
    events: BTreeMap<String, Vec<Subscriber>>,
    /// The workflow node kinds the enabled plugins run, by
    /// `<plugin>.<kind>`.
    node_kinds: PluginKinds,
}

impl PluginSet {
    fn new(plugins: BTreeMap<String, PluginEntry>, routes: RouteTable) -> Self {
        let mut events: BTreeMap<String, Vec<Subscriber>> = BTreeMap::new();
        for entry in plugins.values().filter(|e| e.enabled) {
            for subscription in &entry.plugin.manifest.subscriptions {
                if !entry.grant.event(&subscription.event) {
                    continue;
                }
                events
                    .entry(subscription.event.clone())
                    .or_default()
                    .push(Subscriber {
                        plugin: entry.plugin.clone(),
                        delivery: subscription.delivery,
                        grant: entry.grant.clone(),
                    });
            }
        }
        let node_kinds =
            plugins
                .values()
                .filter(|e| e.enabled)
                .flat_map(|entry| {
                    let plugin = &entry.plugin.manifest.name;
                    entry.plugin.manifest.node_kinds.iter().map(move |kind| {
                        (format!("{plugin}.{}", kind.name), kind.validator.clone())
                    })
                })
                .collect();
        Self {
            plugins,
            routes,
            events,
            node_kinds,
        }
    }

    /// The workflow node kinds the enabled plugins run.
    pub fn node_kinds(&self) -> &PluginKinds {
        &self.node_kinds
    }

    /// The enabled plugin that runs the node kind `<plugin>.<kind>`, with
    /// its grant, and the kind's own name.
    pub fn node_runner<'a>(&self, kind: &'a str) -> Option<(&PluginEntry, &'a str)> {
        let (plugin, name) = kind.split_once('.')?;
        let entry = self.plugins.get(plugin).filter(|e| e.enabled)?;
        entry
            .plugin
            .manifest
            .node_kinds
            .iter()
            .any(|k| k.name == name)
            .then_some((entry, name))
    }

    /// The plugins to call for an event of `kind`, in name order.
    pub fn subscribers(&self, kind: &str) -> Vec<Subscriber> {
        self.events.get(kind).cloned().unwrap_or_default()
    }

    /// An enabled plugin by name.
    pub fn enabled(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins
            .get(name)
            .filter(|e| e.enabled)
            .map(|e| &e.plugin)
    }
}

/// A plugin that was refused, kept for operators to see.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Refusal {
    /// Where the bytes came from, e.g. `directory: plugins/x.wasm`.
    pub origin: String,
    pub error: String,
}

pub struct PluginRegistry {
    current: ArcSwap<PluginSet>,
    core_routes: Vec<CoreRoute>,
    refusals: Mutex<Vec<Refusal>>,
    pending: Mutex<BTreeMap<String, Pending>>,
    writer: tokio::sync::Mutex<()>,
    changes: tokio::sync::Mutex<()>,
    ready: AtomicBool,
}

impl PluginRegistry {
    pub fn new(core_routes: Vec<CoreRoute>) -> Self {
        Self {
            current: ArcSwap::from_pointee(PluginSet::default()),
            core_routes,
            refusals: Mutex::new(Vec::new()),
            pending: Mutex::new(BTreeMap::new()),
            writer: tokio::sync::Mutex::new(()),
            changes: tokio::sync::Mutex::new(()),
            ready: AtomicBool::new(false),
        }
    }

    /// Waits for the other changes of the set on this node to finish; hold
    /// the guard for the whole change. Without it two changes interleave
    /// and one applies a decision made on state the other has since
    /// changed: a reconciliation that read `enabled = false` from the
    /// database would undo an enable that landed while it was loading.
    pub async fn begin_change(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changes.lock().await
    }

    /// The current set; hold it for the length of a request.
    pub fn snapshot(&self) -> Arc<PluginSet> {
        self.current.load_full()
    }

    /// Adds `plugin` (replacing an older version of the same name) if its
    /// routes conflict with nothing; the swap is atomic.
    pub async fn put(&self, entry: PluginEntry) -> Result<(), Box<RouteConflict>> {
        let _writer = self.writer.lock().await;
        let current = self.current.load_full();
        let mut plugins = current.plugins.clone();
        plugins.insert(entry.plugin.manifest.name.clone(), entry);
        self.publish(plugins)
    }

    /// Makes `plugins` the live set, with the route table of those enabled
    /// (unless their routes conflict). The caller holds the writer lock.
    fn publish(&self, plugins: BTreeMap<String, PluginEntry>) -> Result<(), Box<RouteConflict>> {
        let routes = RouteTable::build(
            &self.core_routes,
            plugins
                .values()
                .filter(|e| e.enabled)
                .map(|e| (&e.plugin, &e.grant)),
        )?;
        self.current
            .store(Arc::new(PluginSet::new(plugins, routes)));
        Ok(())
    }

    /// Takes a plugin out of the set (its routes and hooks go at once).
    pub async fn remove(&self, name: &str) -> Result<(), Box<RouteConflict>> {
        let _writer = self.writer.lock().await;
        let current = self.current.load_full();
        let mut plugins = current.plugins.clone();
        if plugins.remove(name).is_none() {
            return Ok(());
        }
        self.publish(plugins)?;
        self.pending.lock().unwrap().remove(name);
        Ok(())
    }

    /// Checks `plugin`'s routes against the current set without changing it.
    pub fn check_routes(&self, plugin: &Plugin) -> Result<(), Box<RouteConflict>> {
        self.current.load().routes.check(&self.core_routes, plugin)
    }

    /// Holds a version until the operator grants what it requests.
    pub fn set_pending(&self, pending: Pending) {
        let name = pending.plugin.manifest.name.clone();
        tracing::warn!(plugin = %name, version = %pending.plugin.manifest.version, "plugin awaits grants");
        self.pending.lock().unwrap().insert(name, pending);
    }

    /// The version waiting for grants, if any.
    pub fn pending(&self, name: &str) -> Option<Pending> {
        self.pending.lock().unwrap().get(name).cloned()
    }

    pub fn take_pending(&self, name: &str) -> Option<Pending> {
        self.pending.lock().unwrap().remove(name)
    }

    pub fn all_pending(&self) -> Vec<Pending> {
        self.pending.lock().unwrap().values().cloned().collect()
    }

    /// Records a refused plugin for the admin listing.
    pub fn refuse(&self, origin: String, error: String) {
        tracing::error!(%origin, %error, "plugin refused");
        self.refusals
            .lock()
            .unwrap()
            .push(Refusal { origin, error });
    }

    pub fn refusals(&self) -> Vec<Refusal> {
        self.refusals.lock().unwrap().clone()
    }

    /// Whether start-up loading has finished (for `/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn core_routes(&self) -> &[CoreRoute] {
        &self.core_routes
    }
}
