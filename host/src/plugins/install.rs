//! Making a loaded plugin live, in the order that keeps the running set
//! safe: check its routes against the current set, apply its model
//! migration (one transaction), record it in the registry tables, then swap
//! it in. A failure at any step leaves the running set as it was.

use super::registry::{PluginEntry, PluginRegistry};
use crate::db::Db;
use crate::db::plugins::{self, Source};
use crate::routing::RouteConflict;
use crate::runtime::plugin::LoadedPlugin;
use crate::schema::MigrationPlan;
use crate::schema::apply::{self, MigrateError};
use std::sync::Arc;

/// Why a plugin could not be made live.
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
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
}

/// Checks, migrates, records and swaps in `plugin`; returns the applied plan.
pub async fn activate(
    db: &Db,
    registry: &PluginRegistry,
    plugin: Arc<LoadedPlugin>,
    wasm: &[u8],
    source: Source,
    options: ActivateOptions,
) -> Result<MigrationPlan, ActivateError> {
    let name = plugin.manifest.name.clone();
    registry.check_routes(&plugin)?;
    let plan = apply::migrate(
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
    })?;
    plugins::record_active(db, &plugin, wasm, source)
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
        })
        .await?;
    Ok(plan)
}
