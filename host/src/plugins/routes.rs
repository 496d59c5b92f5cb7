//! The table of plugin routes: built once per change of the plugin set,
//! checked for conflicts while it is built, then only read. Lookups go
//! through one `matchit` router per method.

use super::grants::Grant;
use crate::capabilities::Plugin;
use crate::domain::PathPattern;
use crate::domain::route_doc::RouteDoc;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A route some plugin mounted.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub method: String,
    pub pattern: PathPattern,
    /// Declared public by the plugin and granted so by the operator.
    pub public: bool,
    pub plugin: Arc<Plugin>,
    /// What the plugin may do while serving this route.
    pub grant: Arc<Grant>,
    /// The pattern as text, shared: what metrics label the route with.
    pub template: Arc<str>,
    /// What the plugin says of the route for the API reference.
    pub doc: Option<Arc<RouteDoc>>,
}

/// The result of looking a request up.
pub enum Lookup<'a> {
    Found {
        entry: &'a RouteEntry,
        /// Raw (still percent-encoded) parameter values.
        params: Vec<(String, String)>,
    },
    /// The path exists, with other methods.
    MethodNotAllowed {
        allowed: Vec<String>,
    },
    NotFound,
}

/// Who owns a route that a new one collides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Core,
    Plugin(String),
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Core => f.write_str("the host's core API"),
            Owner::Plugin(name) => write!(f, "plugin `{name}`"),
        }
    }
}

/// A route that cannot be mounted because another one overlaps it.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "route `{method} {path}` of plugin `{plugin}` conflicts with `{other_method} {other_path}` of {other}; {}",
    self.remedy()
)]
pub struct RouteConflict {
    pub plugin: String,
    pub method: String,
    pub path: String,
    pub other: Owner,
    pub other_method: String,
    pub other_path: String,
}

impl RouteConflict {
    /// What the plugin's author can do about it.
    fn remedy(&self) -> String {
        match &self.other {
            Owner::Core => "the core API owns every method on its paths: \
                 mount the route on a path of the plugin's own"
                .to_string(),
            Owner::Plugin(other) if *other == self.plugin => {
                "two routes of one plugin must not match the same paths".to_string()
            }
            Owner::Plugin(other) => format!(
                "a path belongs to one plugin: mount the route elsewhere, or remove `{other}` first"
            ),
        }
    }
}

/// A core route, for conflict checks: plugins may not mount any method on a
/// path the core API owns, since the core router answers that path first.
#[derive(Debug, Clone)]
pub struct CoreRoute {
    pub method: &'static str,
    pub pattern: PathPattern,
}

/// Plugin routes, ready for lookups.
#[derive(Default)]
pub struct RouteTable {
    entries: Vec<RouteEntry>,
    routers: BTreeMap<String, matchit::Router<usize>>,
}

impl RouteTable {
    /// Builds the table for `plugins`, refusing any route that overlaps a
    /// core route or another plugin's route.
    pub fn build<'a>(
        core: &[CoreRoute],
        plugins: impl IntoIterator<Item = (&'a Arc<Plugin>, &'a Arc<Grant>)>,
    ) -> Result<Self, Box<RouteConflict>> {
        let mut table = RouteTable::default();
        for (plugin, grant) in plugins {
            table.check(core, plugin)?;
            for route in &plugin.manifest.routes {
                let index = table.entries.len();
                // Parameters get positional names, so differently named
                // parameters at the same depth never clash inside matchit;
                // a literal beside a parameter inserts and takes precedence.
                // Patterns of one shape were refused with the manifest, so
                // an error here is a rule matchit has and the manifest not.
                table
                    .routers
                    .entry(route.method.clone())
                    .or_default()
                    .insert(route.path.positional(), index)
                    .map_err(|error| {
                        Box::new(RouteConflict {
                            plugin: plugin.manifest.name.clone(),
                            method: route.method.clone(),
                            path: route.path.to_string(),
                            other: Owner::Plugin(plugin.manifest.name.clone()),
                            other_method: route.method.clone(),
                            other_path: match error {
                                matchit::InsertError::Conflict { with } => with,
                                other => other.to_string(),
                            },
                        })
                    })?;
                table.entries.push(RouteEntry {
                    method: route.method.clone(),
                    pattern: route.path.clone(),
                    public: route.public && grant.public_route(&route.method, route.path.as_str()),
                    plugin: plugin.clone(),
                    grant: grant.clone(),
                    template: Arc::from(route.path.as_str()),
                    doc: route.doc.clone(),
                });
            }
        }
        Ok(table)
    }

    /// Checks that `plugin`'s routes overlap neither a core route nor a
    /// route of another plugin already in the table (its own older version
    /// does not count: an upgrade replaces it).
    pub fn check(&self, core: &[CoreRoute], plugin: &Plugin) -> Result<(), Box<RouteConflict>> {
        let name = &plugin.manifest.name;
        for route in &plugin.manifest.routes {
            let conflict = |other: Owner, other_method: &str, other_path: &PathPattern| {
                Box::new(RouteConflict {
                    plugin: name.clone(),
                    method: route.method.clone(),
                    path: route.path.to_string(),
                    other,
                    other_method: other_method.to_string(),
                    other_path: other_path.to_string(),
                })
            };
            if let Some(core_route) = core.iter().find(|c| c.pattern.overlaps(&route.path)) {
                return Err(conflict(
                    Owner::Core,
                    core_route.method,
                    &core_route.pattern,
                ));
            }
            if let Some(entry) = self.entries.iter().find(|e| {
                e.plugin.manifest.name != *name
                    && e.method == route.method
                    && e.pattern.overlaps(&route.path)
            }) {
                return Err(conflict(
                    Owner::Plugin(entry.plugin.manifest.name.clone()),
                    &entry.method,
                    &entry.pattern,
                ));
            }
        }
        Ok(())
    }

    /// Finds the route for a request. A path under a mounted `wasi:http`
    /// component that ends in `/` (`/apps/app/`) is the component's too,
    /// as the path without it (its catch-all needs a segment); plugin
    /// routes otherwise match exactly.
    pub fn lookup(&self, method: &str, path: &str) -> Lookup<'_> {
        let found = self.lookup_exact(method, path);
        if !matches!(found, Lookup::NotFound) || path.len() < 2 || !path.ends_with('/') {
            return found;
        }
        match self.lookup_exact(method, path.trim_end_matches('/')) {
            found @ Lookup::Found { entry, .. } if entry.plugin.is_http_component() => found,
            _ => Lookup::NotFound,
        }
    }

    fn lookup_exact(&self, method: &str, path: &str) -> Lookup<'_> {
        if let Some(router) = self.routers.get(method)
            && let Ok(found) = router.at(path)
        {
            let entry = &self.entries[*found.value];
            let params = entry
                .pattern
                .param_names()
                .zip(found.params.iter())
                .map(|(name, (_, value))| (name.to_string(), value.to_string()))
                .collect();
            return Lookup::Found { entry, params };
        }
        let allowed: Vec<String> = self
            .routers
            .iter()
            .filter(|(m, router)| m.as_str() != method && router.at(path).is_ok())
            .map(|(m, _)| m.clone())
            .collect();
        if allowed.is_empty() {
            Lookup::NotFound
        } else {
            Lookup::MethodNotAllowed { allowed }
        }
    }

    /// Every route, in mounting order.
    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }
}
