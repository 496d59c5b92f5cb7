//! The hello route as a `wasi:http` component (`bench/wasi-http-hello`, its
//! own small workspace): built for `kai serve` to mount, and for the
//! `wasmtime serve` baseline when the `wasmtime` CLI is installed.

use std::path::PathBuf;
use std::process::Command;

/// The wasmtime major version the host uses; the CLI should match.
const WASMTIME_MAJOR: &str = "48.";

/// The installed `wasmtime --version`, e.g. `48.0.8`.
pub fn version() -> String {
    Command::new("wasmtime")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_default()
}

/// Whether the matching `wasmtime` is installed; the error says why the
/// `wasmtime serve` row is skipped.
pub fn check_wasmtime() -> Result<(), String> {
    let installed = version();
    if installed.is_empty() {
        return Err(
            "`wasmtime` is not installed (`cargo install wasmtime-cli --locked --version 48.0.8`)"
                .into(),
        );
    }
    if !installed.starts_with(WASMTIME_MAJOR) {
        return Err(format!(
            "`wasmtime` {installed} is installed; the host uses wasmtime {WASMTIME_MAJOR}x"
        ));
    }
    Ok(())
}

/// Builds the component (release, for wasm32-wasip2) and returns its path.
pub fn build() -> Result<PathBuf, String> {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("wasi-http-hello");
    let target_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasi-http-hello");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err("building bench/wasi-http-hello failed".into());
    }
    Ok(target_dir.join("wasm32-wasip2/release/wasi_http_hello.wasm"))
}
