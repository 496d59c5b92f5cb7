//! Bringing the plugin set back at start: the bundled first-party plugins,
//! the versions recorded in the database, and the `.wasm` files of
//! `--plugins-dir`.
//!
//! For each plugin name the newest candidate wins, except that a version
//! recorded in the database (installed or rolled back by an operator) is
//! kept unless a file offers a version newer than any ever recorded. A
//! candidate that fails to load is refused with its reason and the rest
//! still start.

use super::bundled::BUNDLED_PLUGINS;
use super::install::{ActivateOptions, activate};
use super::registry::PluginRegistry;
use crate::db::Db;
use crate::db::plugins::{self, Source};
use crate::runtime::Runtime;
use semver::Version;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Bytes that might become a plugin, and where they came from.
struct Candidate {
    origin: String,
    source: Source,
    wasm: Vec<u8>,
    enabled: bool,
}

/// Loads, checks and registers every plugin that should run.
pub async fn boot(
    runtime: &Runtime,
    db: &Db,
    registry: &PluginRegistry,
    plugins_dir: Option<&Path>,
) -> anyhow::Result<()> {
    let mut files: Vec<Candidate> = BUNDLED_PLUGINS
        .iter()
        .map(|(name, wasm)| Candidate {
            origin: format!("bundled: {name}"),
            source: Source::Bundled,
            wasm: wasm.to_vec(),
            enabled: true,
        })
        .collect();
    if let Some(dir) = plugins_dir {
        files.extend(read_dir(dir)?);
    }
    let recorded: BTreeMap<String, Candidate> = plugins::active(db)
        .await?
        .into_iter()
        .map(|p| {
            let candidate = Candidate {
                origin: format!("registry: {} {}", p.name, p.version),
                source: p.source,
                wasm: p.wasm,
                enabled: p.enabled,
            };
            (p.name, candidate)
        })
        .collect();
    let mut chosen: BTreeMap<String, (Arc<crate::runtime::plugin::LoadedPlugin>, Candidate)> =
        BTreeMap::new();

    for candidate in files {
        let plugin = match runtime.load(&candidate.wasm).await {
            Ok(plugin) => Arc::new(plugin),
            Err(error) => {
                registry.refuse(candidate.origin, error.to_string());
                continue;
            }
        };
        let name = plugin.manifest.name.clone();
        if recorded.contains_key(&name) {
            let newest_recorded = newest(&plugins::versions(db, &name).await?);
            if newest_recorded.is_some_and(|v| plugin.manifest.version < v) {
                tracing::info!(plugin = %name, origin = %candidate.origin, "a newer version is recorded; keeping it");
                continue;
            }
        }
        let newer = chosen
            .get(&name)
            .is_none_or(|(current, _)| plugin.manifest.version > current.manifest.version);
        if newer {
            chosen.insert(name, (plugin, candidate));
        }
    }
    for (name, candidate) in recorded {
        if chosen.contains_key(&name) {
            continue;
        }
        match runtime.load(&candidate.wasm).await {
            Ok(plugin) => {
                chosen.insert(name, (Arc::new(plugin), candidate));
            }
            Err(error) => registry.refuse(candidate.origin, error.to_string()),
        }
    }

    for (_, (plugin, candidate)) in chosen {
        let options = ActivateOptions {
            confirm_destructive: false,
            enabled: candidate.enabled,
        };
        let activated = activate(
            db,
            registry,
            plugin.clone(),
            &candidate.wasm,
            candidate.source,
            options,
        )
        .await;
        if let Err(error) = activated {
            registry.refuse(candidate.origin, error.to_string());
            continue;
        }
        tracing::info!(
            plugin = %plugin.manifest.name,
            version = %plugin.manifest.version,
            origin = %candidate.origin,
            routes = plugin.manifest.routes.len(),
            "plugin loaded"
        );
    }
    Ok(())
}

fn read_dir(dir: &Path) -> anyhow::Result<Vec<Candidate>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("reading the plugins directory {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let wasm = std::fs::read(&path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            Ok(Candidate {
                origin: format!("directory: {}", path.display()),
                source: Source::Directory,
                wasm,
                enabled: true,
            })
        })
        .collect()
}

fn newest(versions: &[String]) -> Option<Version> {
    versions.iter().filter_map(|v| Version::parse(v).ok()).max()
}
