//! Making a loaded plugin live, in the order that keeps the running set
//! safe: check its routes against the current set, apply its model
//! migration (one transaction), record it in the registry tables, then swap
//! it in. A failure at any step leaves the running set as it was.

use super::grants::{self, Grant};
use super::registry::{Pending, PluginEntry, PluginRegistry};
use super::routes::RouteConflict;
use crate::capabilities::{Plugin, PluginRuntime};
use crate::domain::HttpMount;
use crate::runtime::plugin::LoadError;
use crate::store::Db;
use crate::store::plugins::{self, Source, VersionRecord};
use crate::store::schema::MigrationPlan;
use crate::store::schema::apply::{self, MigrateError};
use std::sync::Arc;

/// Why a plugin could not be made live.
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    #[error(
        "plugin `{plugin}` {version} requests capabilities that were not granted: {missing}; it waits for an operator's grant"
    )]
    NeedsGrant {
        plugin: String,
        version: String,
        missing: String,
    },
    #[error(transparent)]
    Routes(#[from] Box<RouteConflict>),
    #[error("plugin `{plugin}`: {error}")]
    Migration { plugin: String, error: MigrateError },
    #[error("recording plugin `{plugin}` failed: {error}")]
    Record {
        plugin: String,
        error: anyhow::Error,
    },
}

/// Options of an activation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ActivateOptions {
    /// The operator confirmed a destructive migration.
    pub confirm_destructive: bool,
    pub enabled: bool,
    /// Grant what the plugin requests (bundled and operator-trusted plugins).
    pub trusted: bool,
    /// Keep the tables as they are (a rollback to a version whose models the
    /// current schema already serves) instead of migrating.
    pub keep_schema: bool,
}

/// Checks, migrates, records and swaps in `plugin`; returns the applied plan.
pub async fn activate(
    db: &Db,
    registry: &PluginRegistry,
    plugin: Arc<Plugin>,
    wasm: &[u8],
    source: Source,
    options: ActivateOptions,
) -> Result<MigrationPlan, ActivateError> {
    let name = plugin.manifest.name.clone();
    let version = plugin.manifest.version.clone();
    let requested = plugin.manifest.requested_grant();
    let decision = grants::load(db, &name)
        .await
        .map_err(|error| ActivateError::Record {
            plugin: name.clone(),
            error,
        })?;
    let grant = match decision {
        _ if options.trusted => {
            grants::save(db, &name, &requested, &requested, Some("trusted"))
                .await
                .map_err(|error| ActivateError::Record {
                    plugin: name.clone(),
                    error,
                })?;
            requested.clone()
        }
        Some((decided, granted)) if decided.covers(&requested) => granted,
        None if requested.is_empty() => Grant::default(),
        decision => {
            let decided = decision.map(|(decided, _)| decided).unwrap_or_default();
            let missing = requested.beyond(&decided);
            let error = ActivateError::NeedsGrant {
                plugin: name.clone(),
                version: plugin.manifest.version.to_string(),
                missing: serde_json::to_string(&missing).unwrap_or_default(),
            };
            registry.set_pending(Pending {
                plugin,
                wasm: Arc::new(wasm.to_vec()),
                source,
                requested,
                missing,
            });
            return Err(error);
        }
    };
    registry.check_routes(&plugin)?;
    let plan = if options.keep_schema {
        apply::check_compatible(db, &name, &plugin.manifest.models)
            .await
            .map_err(|error| ActivateError::Migration {
                plugin: name.clone(),
                error,
            })?;
        MigrationPlan::default()
    } else {
        apply::migrate(
            db,
            &name,
            &plugin.manifest.version,
            &plugin.manifest.models,
            options.confirm_destructive,
        )
        .await
        .map_err(|error| ActivateError::Migration {
            plugin: name.clone(),
            error,
        })?
    };
    plugins::record_active(db, &version_record(&plugin, wasm, source))
        .await
        .map_err(|error| ActivateError::Record {
            plugin: name.clone(),
            error,
        })?;
    registry
        .put(PluginEntry {
            plugin,
            source,
            enabled: options.enabled,
            grant: Arc::new(grant),
        })
        .await?;
    // A waiting version this one supersedes no longer waits; a newer one
    // (held while an older version took over) still does.
    if registry
        .pending(&name)
        .is_some_and(|p| p.plugin.manifest.version <= version)
    {
        registry.take_pending(&name);
    }
    Ok(plan)
}

/// What the registry tables keep of `plugin`'s version.
pub(crate) fn version_record<'a>(
    plugin: &'a Plugin,
    wasm: &'a [u8],
    source: Source,
) -> VersionRecord<'a> {
    VersionRecord {
        name: &plugin.manifest.name,
        version: plugin.manifest.version.to_string(),
        sha256: &plugin.sha256,
        manifest: serde_json::to_string(&plugin.manifest).expect("manifests serialize"),
        wasm,
        source,
        mount: plugin.manifest.mount.as_ref(),
    }
}

/// Compiles recorded bytes as what they were installed as: a kai:fusion
/// plugin, or a `wasi:http` component with its mount.
pub(crate) async fn load(
    runtime: &PluginRuntime,
    wasm: &[u8],
    mount: Option<&HttpMount>,
) -> Result<Plugin, LoadError> {
    match mount {
        Some(mount) => runtime.load_http(wasm, mount),
        None => runtime.load(wasm).await,
    }
}
