//! `kai serve --watch-plugins DIR`, for plugin authors: a `.wasm` file
//! written into DIR is installed (or upgraded, or reinstalled when its
//! version did not change) once its size and modification time have held
//! still for one poll, so a half-written file is never read. A broken file
//! is reported in the log, and the version already serving stays.

use super::PluginControl;
use super::lifecycle::{self, InstallOptions};
use crate::store::plugins::Source;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How often the directory is looked at.
pub const POLL: Duration = Duration::from_millis(200);

type Fingerprint = (u64, SystemTime);

/// Watches `dir` until `shutdown`.
pub async fn run(
    state: PluginControl,
    dir: PathBuf,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    // Files present at start were loaded by the start-up pass already.
    let mut installed: HashMap<PathBuf, Fingerprint> = scan(&dir).into_iter().collect();
    let mut seen: HashMap<PathBuf, Fingerprint> = installed.clone();
    tracing::info!(dir = %dir.display(), "watching for plugins");
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(POLL) => {}
        }
        let now: HashMap<PathBuf, Fingerprint> = scan(&dir).into_iter().collect();
        for (path, fingerprint) in &now {
            let settled = seen.get(path) == Some(fingerprint);
            if settled && installed.get(path) != Some(fingerprint) {
                installed.insert(path.clone(), *fingerprint);
                install(&state, path).await;
            }
        }
        seen = now;
    }
}

async fn install(state: &PluginControl, path: &Path) {
    let wasm = match std::fs::read(path) {
        Ok(wasm) => wasm,
        Err(error) => {
            tracing::error!(file = %path.display(), %error, "could not read the plugin file");
            return;
        }
    };
    let options = InstallOptions {
        force: true,
        confirm_destructive: false,
        actor: Some(format!("watch:{}", path.display())),
        source: Some(Source::Directory),
        http: None,
    };
    match lifecycle::install(state, wasm, options).await {
        Ok(report) => {
            tracing::info!(file = %path.display(), report = %lifecycle::describe(&report), "plugin installed from the watched directory")
        }
        Err(error) => {
            tracing::error!(file = %path.display(), %error, "plugin refused; the previous version keeps serving")
        }
    }
}

fn scan(dir: &Path) -> Vec<(PathBuf, Fingerprint)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "wasm"))
        .filter_map(|p| {
            let meta = std::fs::metadata(&p).ok()?;
            Some((p, (meta.len(), meta.modified().ok()?)))
        })
        .collect()
}
