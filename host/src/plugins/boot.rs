//! Bringing the plugin set back at start: the bundled first-party plugins,
//! the versions recorded in the database, and the `.wasm` files of
//! `--plugins-dir`.
//!
//! For each plugin name, the candidates are tried in order until one
//! activates. Files come first when they offer a version at least as new
//! as any ever recorded (a new release, a developer's rebuild); the recorded
//! version (installed, upgraded or rolled back by an operator) comes next,
//! as the fallback that keeps serving when a newer file is refused. Every
//! refusal is kept with its reason; the rest still start.

use super::bundled::BUNDLED_PLUGINS;
use super::install::{ActivateError, ActivateOptions, activate};
use super::registry::PluginRegistry;
use crate::capabilities::Plugin;
use crate::capabilities::PluginRuntime;
use crate::domain::HttpMount;
use crate::store::Db;
use crate::store::plugins::{self, Source};
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
    /// Compiled already (files are compiled to learn their name).
    loaded: Option<Arc<Plugin>>,
    /// Set for a recorded `wasi:http` component.
    mount: Option<HttpMount>,
}

/// Loads, checks and registers every plugin that should run.
pub async fn boot(
    runtime: &PluginRuntime,
    db: &Db,
    registry: &PluginRegistry,
    dirs: &[&Path],
    trusted: &[String],
) -> anyhow::Result<()> {
    let mut files: Vec<Candidate> = BUNDLED_PLUGINS
        .iter()
        .map(|(name, wasm)| Candidate {
            origin: format!("bundled: {name}"),
            source: Source::Bundled,
            wasm: wasm.to_vec(),
            enabled: true,
            loaded: None,
            mount: None,
        })
        .collect();
    for dir in dirs {
        files.extend(read_dir(dir)?);
    }

    // File candidates by plugin name, newest first.
    let mut by_name: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for mut candidate in files {
        match runtime.load(&candidate.wasm).await {
            Ok(plugin) => {
                let plugin = Arc::new(plugin);
                let name = plugin.manifest.name.clone();
                candidate.loaded = Some(plugin);
                by_name.entry(name).or_default().push(candidate);
            }
            Err(error) => registry.refuse(candidate.origin, error.to_string()),
        }
    }
    for candidates in by_name.values_mut() {
        candidates.sort_by_key(|c| std::cmp::Reverse(version(c)));
    }

    let mut recorded: BTreeMap<String, Candidate> = plugins::active(db)
        .await?
        .into_iter()
        .map(|p| {
            let candidate = Candidate {
                origin: format!("registry: {} {}", p.name, p.version),
                source: p.source,
                wasm: p.wasm,
                enabled: p.enabled,
                loaded: None,
                mount: p.mount,
            };
            (p.name, candidate)
        })
        .collect();

    let mut plan: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for (name, files) in by_name {
        let newest_recorded = newest(&plugins::versions(db, &name).await?);
        let mut ordered = Vec::new();
        let files_are_newer = newest_recorded
            .as_ref()
            .is_none_or(|recorded| version(&files[0]) >= *recorded);
        if files_are_newer {
            ordered.extend(files);
        } else {
            tracing::info!(plugin = %name, "a version at least as new is recorded; keeping it");
        }
        ordered.extend(recorded.remove(&name));
        plan.insert(name, ordered);
    }
    for (name, candidate) in recorded {
        plan.insert(name, vec![candidate]);
    }

    for (name, candidates) in plan {
        for candidate in candidates {
            let trust = candidate.source == Source::Bundled || trusted.contains(&name);
            if activate_candidate(runtime, db, registry, candidate, trust).await {
                break;
            }
            tracing::warn!(plugin = %name, "trying the next candidate");
        }
    }
    Ok(())
}

/// Tries to make `candidate` live; records why not when it fails.
async fn activate_candidate(
    runtime: &PluginRuntime,
    db: &Db,
    registry: &PluginRegistry,
    candidate: Candidate,
    trusted: bool,
) -> bool {
    let plugin = match candidate.loaded {
        Some(plugin) => plugin,
        None => {
            match super::install::load(runtime, &candidate.wasm, candidate.mount.as_ref()).await {
                Ok(plugin) => Arc::new(plugin),
                Err(error) => {
                    registry.refuse(candidate.origin, error.to_string());
                    return false;
                }
            }
        }
    };
    let options = ActivateOptions {
        confirm_destructive: false,
        enabled: candidate.enabled,
        trusted,
        keep_schema: false,
    };
    match activate(
        db,
        registry,
        plugin.clone(),
        &candidate.wasm,
        candidate.source,
        options,
    )
    .await
    {
        Ok(_) => {
            tracing::info!(
                plugin = %plugin.manifest.name,
                version = %plugin.manifest.version,
                origin = %candidate.origin,
                routes = plugin.manifest.routes.len(),
                "plugin loaded"
            );
            true
        }
        // Waiting for a grant is not a refusal: the version is held as
        // pending, and the next candidate (an older granted version) serves.
        Err(ActivateError::NeedsGrant { .. }) => false,
        Err(error) => {
            registry.refuse(candidate.origin, error.to_string());
            false
        }
    }
}

fn version(candidate: &Candidate) -> Version {
    candidate
        .loaded
        .as_ref()
        .map(|p| p.manifest.version.clone())
        .unwrap_or_else(|| Version::new(0, 0, 0))
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
                loaded: None,
                mount: None,
            })
        })
        .collect()
}

fn newest(versions: &[String]) -> Option<Version> {
    versions.iter().filter_map(|v| Version::parse(v).ok()).max()
}
