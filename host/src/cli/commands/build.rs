//! `kai plugin build`: compiles a plugin crate for `wasm32-wasip2` (adding
//! the target with rustup when it is missing), then loads the `.wasm` as a
//! server would (compile, link, describe, validate the manifest) and prints
//! its path and manifest. An author sees any refusal a server would give
//! before installing, with no server running.

use crate::capabilities::{self, PluginRuntime};
use crate::config::ServeArgs;
use crate::server::runtime_settings;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target every plugin is built for.
const TARGET: &str = "wasm32-wasip2";

pub async fn build(dir: &Path, json: bool) -> anyhow::Result<()> {
    ensure_target()?;
    let wasm_path = cargo_build(dir, Profile::Release)?;
    let wasm =
        std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    // Checked under `kai serve`'s default limits.
    let config = ServeArgs::default().resolve()?;
    let runtime = PluginRuntime::new(runtime_settings(&config, None), capabilities::add_to_linker)?;
    let plugin = runtime.load(&wasm).await.map_err(|error| {
        anyhow::anyhow!(
            "{} builds, but a server would refuse it: {error}",
            wasm_path.display()
        )
    })?;
    let manifest = &plugin.manifest;
    if json {
        let report = json!({
            "wasm": wasm_path,
            "sha256": plugin.sha256,
            "size_bytes": plugin.size_bytes,
            "manifest": manifest,
            "requested": manifest.requested_grant(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "built {} {} (host API {}): {} ({} KiB)",
        manifest.name,
        manifest.version,
        manifest.host_api,
        wasm_path.display(),
        plugin.size_bytes.div_ceil(1024)
    );
    for route in &manifest.routes {
        let public = if route.public { "  (public)" } else { "" };
        println!("  {:<6} {}{public}", route.method, route.path);
    }
    for model in &manifest.models {
        let fields: Vec<&str> = model.fields.iter().map(|f| f.name.as_str()).collect();
        println!("  model {} ({})", model.name, fields.join(", "));
    }
    for subscription in &manifest.subscriptions {
        println!("  on {} ({:?})", subscription.event, subscription.delivery);
    }
    let requested = serde_json::to_value(manifest.requested_grant())?;
    let asks = asked_for(&requested);
    if !asks.is_empty() {
        println!("  asks for: {}", asks.join("; "));
    }
    println!(
        "install it with: kai plugin install {}",
        wasm_path.display()
    );
    Ok(())
}

/// The requested capabilities that are set: a flag by its name, a list as
/// `name [items]`.
fn asked_for(requested: &Value) -> Vec<String> {
    let Some(fields) = requested.as_object() else {
        return Vec::new();
    };
    fields
        .iter()
        .filter(|(_, value)| match value {
            Value::Bool(b) => *b,
            Value::Array(items) => !items.is_empty(),
            Value::Null => false,
            _ => true,
        })
        .map(|(name, value)| match value {
            Value::Bool(_) => name.clone(),
            other => format!("{name} {other}"),
        })
        .collect()
}

/// Adds the wasm target with rustup when rustup is there and lacks it;
/// without rustup, cargo says itself if the target is missing.
pub(super) fn ensure_target() -> anyhow::Result<()> {
    let Ok(listed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return Ok(());
    };
    let installed = String::from_utf8_lossy(&listed.stdout);
    if !listed.status.success() || installed.lines().any(|line| line.trim() == TARGET) {
        return Ok(());
    }
    eprintln!("adding the {TARGET} target with rustup");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .context("running rustup")?;
    if !added.success() {
        bail!("`rustup target add {TARGET}` failed; add the target and build again");
    }
    Ok(())
}

/// Which of cargo's profiles a plugin is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Profile {
    /// What is installed on servers: optimised as the crate says.
    Release,
    /// What `kai plugin dev` reinstalls on every save: built incrementally,
    /// in a second or two.
    Dev,
}

/// Builds the crate in `dir` with `profile` for the wasm target and
/// returns the path of its component. Cargo's own messages go to stderr.
pub(super) fn cargo_build(dir: &Path, profile: Profile) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let profile = match profile {
        Profile::Release => "release",
        Profile::Dev => "dev",
    };
    let output = Command::new(cargo)
        .current_dir(dir)
        .args(["build", "--profile", profile, "--target", TARGET])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo in {}", dir.display()))?;
    if !output.status.success() {
        bail!(
            "cargo could not build the plugin in {} (its messages are above)",
            dir.display()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    component_of(&stdout).ok_or_else(|| {
        anyhow::anyhow!(
            "the crate in {} builds no component: its Cargo.toml needs \
             `[lib] crate-type = [\"cdylib\", \"rlib\"]`",
            dir.display()
        )
    })
}

/// The `.wasm` cargo reported last among its artifacts (the crate built,
/// after its dependencies), from `--message-format=json` lines.
fn component_of(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(PathBuf::from))
        .find(|path| path.extension().is_some_and(|ext| ext == "wasm"))
}
