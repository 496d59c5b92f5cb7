//! `kai plugin dev [DIR]`: the loop a plugin author works in. Builds the
//! crate with cargo's dev profile (incremental: a second or two after a
//! small change), installs it on the running server (the same version
//! again, as `--force` does), prints what it reloaded and how long the
//! round took, then waits for the next saved change under `src/` or to
//! `Cargo.toml`, until interrupted. A build or an install that fails is
//! printed, and the loop waits for the next change.

use super::admin_api::{refusal, token};
use super::build::{Profile, cargo_build, ensure_target};
use crate::cli::RemoteArgs;
use anyhow::Context;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// How often the sources are looked at for a change.
const POLL: Duration = Duration::from_millis(200);

pub async fn dev(remote: &RemoteArgs, dir: &Path) -> anyhow::Result<()> {
    let token = token(remote)?;
    ensure_target()?;
    let url = format!(
        "{}/api/v1/admin/plugins?force=true",
        remote.server.trim_end_matches('/')
    );
    let client = reqwest::Client::new();
    let mut seen = sources(dir)?;
    println!(
        "watching {} (Ctrl-C stops); every save builds and reinstalls",
        dir.display()
    );
    loop {
        let started = Instant::now();
        match reload(&client, &url, &token, dir).await {
            Ok(done) => println!("{done} in {} ms", started.elapsed().as_millis()),
            Err(error) => eprintln!("not reloaded: {error:#}"),
        }
        loop {
            tokio::time::sleep(POLL).await;
            let now = sources(dir)?;
            if now != seen {
                seen = now;
                break;
            }
        }
    }
}

/// Builds and installs once; says what the server now runs.
async fn reload(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    dir: &Path,
) -> anyhow::Result<String> {
    let crate_dir = dir.to_path_buf();
    let wasm_path =
        tokio::task::spawn_blocking(move || cargo_build(&crate_dir, Profile::Dev)).await??;
    let wasm =
        std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .with_context(|| format!("calling the server at {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(refusal(status, &body, &text));
    }
    let name = body["name"].as_str().unwrap_or_default();
    let version = body["version"].as_str().unwrap_or_default();
    if body["status"] == "awaiting_grant" {
        return Ok(format!(
            "installed {name} {version}, waiting for a grant (kai plugin grant {name}),"
        ));
    }
    Ok(format!("reloaded {name} {version}"))
}

/// What a change to the sources changes: how many files there are under
/// `src/` plus `Cargo.toml`, and the latest time one was written.
fn sources(dir: &Path) -> anyhow::Result<(usize, SystemTime)> {
    let mut stamp = (0, SystemTime::UNIX_EPOCH);
    let mut pending = vec![dir.join("src")];
    let mut note = |path: &Path| -> anyhow::Result<()> {
        let modified = std::fs::metadata(path)?.modified()?;
        stamp = (stamp.0 + 1, stamp.1.max(modified));
        Ok(())
    };
    note(&dir.join("Cargo.toml"))
        .with_context(|| format!("{} has no Cargo.toml", dir.display()))?;
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                // A file removed between listing and reading counts at the
                // next look.
                let _ = note(&path);
            }
        }
    }
    Ok(stamp)
}
