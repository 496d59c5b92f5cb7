//! Several nodes sharing one PostgreSQL database keep one plugin set. The
//! registry (bytes, versions, grants, enabled state) lives in the database;
//! a node that changes it sends `NOTIFY kai_plugins, '<name>'`, and every
//! node listening reconciles that plugin at once. A periodic full
//! reconciliation catches anything a lost notification missed. On SQLite
//! (one process) there is nothing to do.

use super::PluginControl;
use super::grants;
use super::registry::PluginEntry;
use crate::store::plugins;
use std::sync::Arc;
use std::time::Duration;

/// Tells the other nodes that `name` changed.
pub async fn announce(state: &PluginControl, name: &str) {
    if let Err(error) = plugins::announce_change(&state.db, name).await {
        tracing::warn!(%error, plugin = name, "could not notify the other nodes; they will catch up at their next reconciliation");
    }
}

/// Listens for changes and reconciles every `period`, until `shutdown`.
pub async fn run(
    state: PluginControl,
    url: String,
    period: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut listener = match plugins::listen_for_changes(&url).await {
        Ok(listener) => Some(listener),
        Err(error) => {
            tracing::warn!(%error, "could not listen for other nodes' changes; relying on periodic reconciliation");
            None
        }
    };
    let mut tick = tokio::time::interval(period);
    loop {
        let changed: Option<String> = tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => None,
            notification = async {
                match listener.as_mut() {
                    Some(listener) => listener.recv().await,
                    None => std::future::pending().await,
                }
            } => match notification {
                Ok(notification) => Some(notification.payload().to_string()),
                Err(error) => {
                    tracing::warn!(%error, "lost the notification connection; it reconnects");
                    None
                }
            },
        };
        if let Err(error) = reconcile(&state, changed.as_deref()).await {
            tracing::warn!(error = format!("{error:#}"), "plugin reconciliation failed");
        }
    }
}

/// Brings this node's plugin set in line with the database: every plugin,
/// or only `only`.
pub async fn reconcile(state: &PluginControl, only: Option<&str>) -> anyhow::Result<()> {
    // Read and apply under the change guard: this node's own change that
    // lands between the read and the apply would otherwise be undone.
    let _change = state.plugins.begin_change().await;
    let recorded = plugins::states(&state.db).await?;
    let set = state.plugins.snapshot();
    for (name, version, enabled, sha256) in &recorded {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let decision = grants::load(&state.db, name).await?;
        let local = set.plugins.get(name);
        let plugin = match local {
            // A component remounted with the same bytes is a new version.
            Some(entry)
                if entry.plugin.sha256 == *sha256
                    && entry.plugin.manifest.version.to_string() == *version =>
            {
                entry.plugin.clone()
            }
            _ => {
                let Some(stored) = plugins::version_bytes(&state.db, name, version).await? else {
                    continue;
                };
                Arc::new(
                    super::install::load(&state.runtime, &stored.wasm, stored.mount.as_ref())
                        .await?,
                )
            }
        };
        let requested = plugin.manifest.requested_grant();
        let grant = match decision {
            Some((decided, granted)) if decided.covers(&requested) => granted,
            None if requested.is_empty() => grants::Grant::default(),
            _ => {
                tracing::warn!(plugin = %name, "recorded version lacks a covering grant; not serving it here");
                continue;
            }
        };
        let unchanged = local.is_some_and(|e| {
            e.plugin.sha256 == *sha256 && e.enabled == *enabled && *e.grant == grant
        });
        if unchanged {
            continue;
        }
        let source = local.map(|e| e.source).unwrap_or(plugins::Source::Upload);
        state
            .plugins
            .put(PluginEntry {
                plugin: plugin.clone(),
                source,
                enabled: *enabled,
                grant: Arc::new(grant),
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(plugin = %name, version = %version, enabled, "plugin set reconciled with the database");
    }
    for name in set.plugins.keys() {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        if !recorded.iter().any(|(n, ..)| n == name) {
            state
                .plugins
                .remove(name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!(plugin = %name, "plugin removed by another node");
        }
    }
    Ok(())
}
