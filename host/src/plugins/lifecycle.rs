//! Changing the plugin set of a running server: install or upgrade,
//! roll back, enable, disable, remove.
//!
//! Every rule is checked before anything changes: the component compiles
//! and targets the world, its manifest is valid, its version is newer than
//! the installed one (unless forced), the plugins it depends on are there,
//! its routes conflict with nothing, its migration is allowed. Only then is
//! the migration applied, the version recorded and the new version swapped
//! in, atomically: requests already running finish on the old version.
//! Each change is recorded in `plugin_events` and announced to the other
//! nodes sharing the database.

use super::PluginControl;
use super::PluginEntry;
use super::grants::{self, Grant};
use super::install::{self, ActivateError, ActivateOptions, activate};
use super::routes::RouteConflict;
use crate::capabilities::Plugin;
use crate::domain::{HttpMount, MountRequest};
use crate::runtime::plugin::LoadError;
use crate::store::plugins::{self, Source};
use crate::store::schema::MigrationPlan;
use crate::store::schema::apply::MigrateError;
use crate::store::schema::plan::PlanError;
use semver::Version;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// Why a change of the plugin set was refused. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("invalid plugin: {0}")]
    Invalid(#[from] LoadError),
    #[error("{0}")]
    Version(String),
    #[error("{0}")]
    Dependency(String),
    #[error(transparent)]
    Routes(Box<RouteConflict>),
    #[error("{0}")]
    Migration(String),
    #[error("{0}")]
    NeedsConfirmation(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The operator's input broke a rule; `field` names where.
    #[error("{field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<ActivateError> for LifecycleError {
    fn from(error: ActivateError) -> Self {
        match error {
            ActivateError::Routes(conflict) => LifecycleError::Routes(conflict),
            ActivateError::Migration {
                error: MigrateError::Plan(PlanError::NeedsConfirmation { .. }),
                ..
            } => LifecycleError::NeedsConfirmation(error.to_string()),
            ActivateError::Migration { .. } => LifecycleError::Migration(error.to_string()),
            other => LifecycleError::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

/// Options of an install.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Allow a version equal to or older than the installed one.
    pub force: bool,
    /// Run a destructive migration (it needs a major version too).
    pub confirm_destructive: bool,
    /// Who asked (for the record).
    pub actor: Option<String>,
    pub source: Option<Source>,
    /// Set to install the bytes as a `wasi:http` component.
    pub http: Option<MountRequest>,
}

/// Routes a change adds and removes.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct RouteChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// What an install or rollback did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// `installed`, `upgraded`, `reinstalled` or `rolled_back`.
    pub action: &'static str,
    /// `active`, or `awaiting_grant` until an admin grants its requests.
    pub status: &'static str,
    pub name: String,
    pub version: String,
    pub previous_version: Option<String>,
    /// The manifest the plugin describes itself with.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
    pub route_changes: RouteChanges,
    /// The steps that change its tables, and whether any drops data.
    #[schema(value_type = Object)]
    pub migration_plan: MigrationPlan,
    pub requested: Grant,
    /// What it asks beyond what was granted (when awaiting a grant).
    pub missing: Option<Grant>,
}

fn routes_of(plugin: &Plugin) -> Vec<String> {
    plugin
        .manifest
        .routes
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn route_changes(old: Option<&Plugin>, new: &Plugin) -> RouteChanges {
    let before = old.map(routes_of).unwrap_or_default();
    let after = routes_of(new);
    RouteChanges {
        added: after
            .iter()
            .filter(|r| !before.contains(r))
            .cloned()
            .collect(),
        removed: before
            .iter()
            .filter(|r| !after.contains(r))
            .cloned()
            .collect(),
    }
}

/// Checks the plugins `plugin` depends on are enabled at matching versions.
fn check_dependencies(state: &PluginControl, plugin: &Plugin) -> Result<(), LifecycleError> {
    let set = state.plugins.snapshot();
    for dependency in &plugin.manifest.dependencies {
        match set.enabled(&dependency.plugin) {
            Some(found) if dependency.requirement.matches(&found.manifest.version) => {}
            Some(found) => {
                return Err(LifecycleError::Dependency(format!(
                    "plugin `{}` needs `{}` {}, but {} is installed",
                    plugin.manifest.name,
                    dependency.plugin,
                    dependency.requirement,
                    found.manifest.version
                )));
            }
            None => {
                return Err(LifecycleError::Dependency(format!(
                    "plugin `{}` needs `{}` {}, which is not installed",
                    plugin.manifest.name, dependency.plugin, dependency.requirement
                )));
            }
        }
    }
    Ok(())
}

/// Installs or upgrades a plugin from its bytes.
pub async fn install(
    state: &PluginControl,
    wasm: Vec<u8>,
    options: InstallOptions,
) -> Result<Report, LifecycleError> {
    let _change = state.plugins.begin_change().await;
    let mount = match &options.http {
        Some(request) => Some(resolve_mount(state, request).await?),
        None => None,
    };
    let plugin = Arc::new(install::load(&state.runtime, &wasm, mount.as_ref()).await?);
    let name = plugin.manifest.name.clone();
    let set = state.plugins.snapshot();
    let current = set.plugins.get(&name).map(|e| e.plugin.clone());
    let action = match &current {
        None => "installed",
        Some(current) if plugin.manifest.version > current.manifest.version => "upgraded",
        Some(current) if options.force => {
            if plugin.manifest.version == current.manifest.version {
                "reinstalled"
            } else {
                "rolled_back"
            }
        }
        Some(current) => {
            return Err(LifecycleError::Version(format!(
                "plugin `{name}` {} is installed and {} is not newer; reinstalling an equal or older version must be forced",
                current.manifest.version, plugin.manifest.version
            )));
        }
    };
    check_dependencies(state, &plugin)?;
    let source = options.source.unwrap_or(Source::Upload);
    let activation = ActivateOptions {
        confirm_destructive: options.confirm_destructive,
        enabled: true,
        trusted: state.trusted_plugins.contains(&name),
        keep_schema: false,
    };
    let previous = current.as_ref().map(|c| c.manifest.version.to_string());
    let mut report = Report {
        action,
        status: "active",
        name: name.clone(),
        version: plugin.manifest.version.to_string(),
        previous_version: previous.clone(),
        manifest: serde_json::to_value(&plugin.manifest).unwrap_or_default(),
        route_changes: route_changes(current.as_deref(), &plugin),
        migration_plan: MigrationPlan::default(),
        requested: plugin.manifest.requested_grant(),
        missing: None,
    };
    match activate(
        &state.db,
        &state.plugins,
        plugin.clone(),
        &wasm,
        source,
        activation,
    )
    .await
    {
        Ok(plan) => report.migration_plan = plan,
        Err(ActivateError::NeedsGrant { .. }) => {
            // Kept (and durable) but not serving until an admin grants it.
            plugins::record_version(&state.db, &install::version_record(&plugin, &wasm, source))
                .await?;
            report.status = "awaiting_grant";
            report.missing = state.plugins.pending(&name).map(|p| p.missing);
        }
        Err(error) => return Err(error.into()),
    }
    let plan = serde_json::to_value(&report.migration_plan).ok();
    plugins::record_event(
        &state.db,
        &name,
        if report.status == "active" {
            action
        } else {
            "awaiting_grant"
        },
        previous.as_deref(),
        Some(&report.version),
        options.actor.as_deref(),
        plan.as_ref(),
    )
    .await?;
    super::cluster::announce(state, &name).await;
    Ok(report)
}

/// The checked mount of the component `request` describes, from what is
/// serving and recorded under its name.
async fn resolve_mount(
    state: &PluginControl,
    request: &MountRequest,
) -> Result<HttpMount, LifecycleError> {
    let set = state.plugins.snapshot();
    let serving = set
        .plugins
        .get(&request.name)
        .and_then(|entry| entry.plugin.manifest.mount.as_ref());
    let recorded: Vec<Version> = plugins::versions(&state.db, &request.name)
        .await?
        .iter()
        .filter_map(|v| Version::parse(v).ok())
        .collect();
    request
        .resolve(serving, &recorded)
        .map_err(|e| LifecycleError::InvalidInput {
            field: e.field(),
            message: e.to_string(),
        })
}

/// Goes back to the version installed before the current one. The tables
/// stay as they are (no data is dropped); the older version must be able to
/// run on them.
pub async fn rollback(
    state: &PluginControl,
    name: &str,
    actor: Option<&str>,
) -> Result<Report, LifecycleError> {
    let _change = state.plugins.begin_change().await;
    let set = state.plugins.snapshot();
    let entry = serving(&set, name)?;
    let current = entry.plugin.manifest.version.clone();
    let target = previous_version(state, name, &current)
        .await?
        .ok_or_else(|| {
            LifecycleError::Conflict(format!(
                "plugin `{name}` has no earlier version to roll back to"
            ))
        })?;
    let stored = plugins::version_bytes(&state.db, name, &target.to_string())
        .await?
        .ok_or_else(|| {
            LifecycleError::Conflict(format!("the bytes of `{name}` {target} are gone"))
        })?;
    let (wasm, source) = (stored.wasm, stored.source);
    let plugin = Arc::new(install::load(&state.runtime, &wasm, stored.mount.as_ref()).await?);
    check_dependencies(state, &plugin)?;
    let activation = ActivateOptions {
        confirm_destructive: false,
        enabled: entry.enabled,
        trusted: source == Source::Bundled || state.trusted_plugins.iter().any(|t| t == name),
        keep_schema: true,
    };
    let changes = route_changes(Some(&entry.plugin), &plugin);
    activate(
        &state.db,
        &state.plugins,
        plugin.clone(),
        &wasm,
        source,
        activation,
    )
    .await
    .map_err(|error| match error {
        ActivateError::NeedsGrant { .. } => {
            LifecycleError::Conflict(format!("`{name}` {target} needs grants it no longer has"))
        }
        other => other.into(),
    })?;
    plugins::record_event(
        &state.db,
        name,
        "rolled_back",
        Some(&current.to_string()),
        Some(&target.to_string()),
        actor,
        None,
    )
    .await?;
    super::cluster::announce(state, name).await;
    Ok(Report {
        action: "rolled_back",
        status: "active",
        name: name.to_string(),
        version: target.to_string(),
        previous_version: Some(current.to_string()),
        manifest: serde_json::to_value(&plugin.manifest).unwrap_or_default(),
        route_changes: changes,
        migration_plan: MigrationPlan::default(),
        requested: plugin.manifest.requested_grant(),
        missing: None,
    })
}

/// The version that was serving before `current`: the origin of the change
/// that brought `current` in, or else the newest recorded older version.
async fn previous_version(
    state: &PluginControl,
    name: &str,
    current: &Version,
) -> anyhow::Result<Option<Version>> {
    let history = plugins::history(&state.db, name).await?;
    let from_history = history.iter().rev().find_map(|event| {
        let to = Version::parse(event.to_version.as_deref()?).ok()?;
        let from = Version::parse(event.from_version.as_deref()?).ok()?;
        (to == *current
            && from != *current
            && ["upgraded", "installed", "reinstalled"].contains(&event.action.as_str()))
        .then_some(from)
    });
    if from_history.is_some() {
        return Ok(from_history);
    }
    Ok(plugins::versions(&state.db, name)
        .await?
        .iter()
        .filter_map(|v| Version::parse(v).ok())
        .filter(|v| v < current)
        .max())
}

/// The entry of `name` in `set`, or why there is none.
fn serving<'s>(set: &'s super::PluginSet, name: &str) -> Result<&'s PluginEntry, LifecycleError> {
    set.plugins
        .get(name)
        .ok_or_else(|| LifecycleError::NotFound(format!("no plugin named `{name}`")))
}

/// Stops or resumes serving a plugin (its routes, hooks and events).
pub async fn set_enabled(
    state: &PluginControl,
    name: &str,
    enabled: bool,
    actor: Option<&str>,
) -> Result<(), LifecycleError> {
    let _change = state.plugins.begin_change().await;
    let set = state.plugins.snapshot();
    let entry = serving(&set, name)?.clone();
    if !enabled {
        refuse_if_needed(state, name)?;
    }
    let version = entry.plugin.manifest.version.to_string();
    state
        .plugins
        .put(super::PluginEntry {
            enabled,
            ..entry.clone()
        })
        .await
        .map_err(LifecycleError::Routes)?;
    if let Err(error) = plugins::set_enabled(&state.db, name, enabled).await {
        // A refused change changes nothing: serve as the database says.
        let _ = state.plugins.put(entry).await;
        return Err(error.into());
    }
    plugins::record_event(
        &state.db,
        name,
        if enabled { "enabled" } else { "disabled" },
        Some(&version),
        Some(&version),
        actor,
        None,
    )
    .await?;
    super::cluster::announce(state, name).await;
    Ok(())
}

/// Refuses when an enabled plugin depends on `name`.
fn refuse_if_needed(state: &PluginControl, name: &str) -> Result<(), LifecycleError> {
    let set = state.plugins.snapshot();
    let dependents: Vec<&str> = set
        .plugins
        .values()
        .filter(|e| {
            e.enabled
                && e.plugin
                    .manifest
                    .dependencies
                    .iter()
                    .any(|d| d.plugin == name)
        })
        .map(|e| e.plugin.manifest.name.as_str())
        .collect();
    if dependents.is_empty() {
        Ok(())
    } else {
        Err(LifecycleError::Conflict(format!(
            "plugin `{name}` is needed by {}; remove or disable them first",
            dependents.join(", ")
        )))
    }
}

/// Removes a plugin: its routes go away at once; its tables stay unless
/// `purge`, which drops them and its kv data and grants.
pub async fn remove(
    state: &PluginControl,
    name: &str,
    purge: bool,
    actor: Option<&str>,
) -> Result<(), LifecycleError> {
    let _change = state.plugins.begin_change().await;
    let set = state.plugins.snapshot();
    let entry = serving(&set, name)?;
    refuse_if_needed(state, name)?;
    let version = entry.plugin.manifest.version.to_string();
    state
        .plugins
        .remove(name)
        .await
        .map_err(LifecycleError::Routes)?;
    plugins::remove(&state.db, name).await?;
    if purge {
        crate::store::schema::apply::purge(&state.db, name)
            .await
            .map_err(anyhow::Error::from)?;
        plugins::forget_data(&state.db, name).await?;
    }
    plugins::record_event(
        &state.db,
        name,
        if purge {
            "removed_and_purged"
        } else {
            "removed"
        },
        Some(&version),
        None,
        actor,
        None,
    )
    .await?;
    super::cluster::announce(state, name).await;
    Ok(())
}

/// The version waiting for a grant: held in memory by this node, or (after
/// a restart, or on another node) the newest recorded version above the
/// serving one.
pub async fn pending(
    state: &PluginControl,
    name: &str,
) -> anyhow::Result<Option<super::registry::Pending>> {
    if let Some(pending) = state.plugins.pending(name) {
        return Ok(Some(pending));
    }
    let set = state.plugins.snapshot();
    let serving = set
        .plugins
        .get(name)
        .map(|e| e.plugin.manifest.version.clone());
    let newest = plugins::versions(&state.db, name)
        .await?
        .iter()
        .filter_map(|v| Version::parse(v).ok())
        .filter(|v| serving.as_ref().is_none_or(|s| v > s))
        .max();
    let Some(version) = newest else {
        return Ok(None);
    };
    let Some(stored) = plugins::version_bytes(&state.db, name, &version.to_string()).await? else {
        return Ok(None);
    };
    let (wasm, source) = (stored.wasm, stored.source);
    let plugin = Arc::new(install::load(&state.runtime, &wasm, stored.mount.as_ref()).await?);
    let requested = plugin.manifest.requested_grant();
    Ok(Some(super::registry::Pending {
        plugin,
        wasm: Arc::new(wasm),
        source,
        missing: requested.clone(),
        requested,
    }))
}

/// What an operator decided about a plugin's requested capabilities.
pub enum GrantChoice {
    /// Everything it requested.
    AcceptRequested,
    /// Part of what it requested (never more).
    Grant(Grant),
}

/// A recorded grant decision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantDecision {
    pub name: String,
    pub version: String,
    pub status: &'static str,
    pub requested: Grant,
    pub granted: Grant,
}

/// Records the operator's grant for `name` and puts it in force: the
/// version waiting for it goes live, or the serving version runs with the
/// new grant. Other nodes are told.
pub async fn decide_grants(
    state: &PluginControl,
    name: &str,
    choice: GrantChoice,
    by: &str,
) -> Result<GrantDecision, LifecycleError> {
    let _change = state.plugins.begin_change().await;
    let pending = pending(state, name).await?;
    let set = state.plugins.snapshot();
    let active = set.plugins.get(name);
    let (plugin, requested) = match (&pending, active) {
        (Some(pending), _) => (pending.plugin.clone(), pending.requested.clone()),
        (None, Some(entry)) => (
            entry.plugin.clone(),
            entry.plugin.manifest.requested_grant(),
        ),
        (None, None) => {
            return Err(LifecycleError::NotFound(format!(
                "no plugin named `{name}`"
            )));
        }
    };
    let granted = match choice {
        GrantChoice::AcceptRequested => requested.clone(),
        GrantChoice::Grant(grant) => {
            let extra = grant.beyond(&requested);
            if !extra.is_empty() {
                return Err(LifecycleError::InvalidInput {
                    field: "grant",
                    message: format!(
                        "grants only what the plugin requested; not requested: {}",
                        serde_json::to_string(&extra).unwrap_or_default()
                    ),
                });
            }
            grant
        }
    };
    grants::save(&state.db, name, &requested, &granted, Some(by)).await?;
    match pending {
        Some(pending) => {
            let options = ActivateOptions {
                confirm_destructive: false,
                enabled: true,
                trusted: false,
                keep_schema: false,
            };
            activate(
                &state.db,
                &state.plugins,
                pending.plugin,
                &pending.wasm,
                pending.source,
                options,
            )
            .await
            .map_err(|e| LifecycleError::Conflict(e.to_string()))?;
        }
        None => {
            let entry = active.expect("checked above");
            state
                .plugins
                .put(PluginEntry {
                    grant: Arc::new(granted.clone()),
                    ..entry.clone()
                })
                .await
                .map_err(|e| LifecycleError::Conflict(e.to_string()))?;
        }
    }
    let version = plugin.manifest.version.to_string();
    super::cluster::announce(state, name).await;
    plugins::record_event(
        &state.db,
        name,
        "granted",
        None,
        Some(&version),
        Some(by),
        None,
    )
    .await?;
    Ok(GrantDecision {
        name: name.to_string(),
        version,
        status: "active",
        requested,
        granted,
    })
}

/// The recorded changes of `name`'s plugin, oldest first.
pub async fn history(
    state: &PluginControl,
    name: &str,
) -> anyhow::Result<Vec<plugins::PluginEvent>> {
    plugins::history(&state.db, name).await
}

/// The versions of `name` recorded (and so available to roll back to).
pub async fn versions(state: &PluginControl, name: &str) -> anyhow::Result<Vec<String>> {
    plugins::versions(&state.db, name).await
}

/// A JSON summary of a report for logs.
pub fn describe(report: &Report) -> serde_json::Value {
    json!({ "plugin": report.name, "action": report.action, "version": report.version, "status": report.status })
}
