//! Compiles plugin crates of this workspace to `wasm32-wasip2` components,
//! for the build scripts that need them: the host's (the first-party
//! plugins it embeds) and `kai-test-plugins`' (the test fixtures, built
//! only for tests and benchmarks).
//!
//! The nested cargo uses its own target directory (`target/wasm`), so it
//! never waits on the lock of the build that runs the script, and the
//! `wasm` profile of the workspace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The workspace root, seen from a build script's `CARGO_MANIFEST_DIR`
/// (`levels` directories down).
pub fn workspace_root(levels: usize) -> PathBuf {
    let mut root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"));
    for _ in 0..levels {
        root.pop();
    }
    root
}

/// The crates in `dir`, one per sub-directory holding a `Cargo.toml`; the
/// directory name is the crate name by convention.
pub fn crate_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.path().join("Cargo.toml").is_file())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Builds `crates` for `wasm32-wasip2` with the `wasm` profile and returns
/// the directory of the `.wasm` files. `what` names them in the line the
/// build prints when it took a while. Panics with a hint if the build
/// fails, which fails the calling build script.
pub fn build(root: &Path, crates: &[String], what: &str) -> PathBuf {
    for watched in [
        "wit",
        "sdk",
        "plugins",
        "host/tests/fixtures",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    ensure_wasm_target();
    let target_dir = root.join("target").join("wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--profile", "wasm", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target_dir);
    for name in crates {
        command.args(["-p", name]);
    }
    // Settings meant for the outer (native) build must not leak into the
    // wasm build: wrappers such as clippy-driver, rustflags, target overrides.
    for var in [
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "CLIPPY_ARGS",
    ] {
        command.env_remove(var);
    }
    let started = Instant::now();
    let status = command
        .status()
        .expect("could not run cargo to build the wasm plugins");
    if !status.success() {
        panic!(
            "building the {what} for wasm32-wasip2 failed (see above). \
             If the target is missing: rustup target add wasm32-wasip2"
        );
    }
    // Cargo shows a build script's output when the script ends: the line
    // says what the time went to.
    let took = started.elapsed();
    if took.as_secs() >= 5 {
        println!(
            "cargo:warning=compiled the {what} to wasm32-wasip2 in {} s ({} crates)",
            took.as_secs(),
            crates.len()
        );
    }
    target_dir.join("wasm32-wasip2").join("wasm")
}

/// Installs the `wasm32-wasip2` standard library through rustup when the
/// toolchain lacks it. `rust-toolchain.toml` names the target, but rustup only
/// adds listed targets when it installs the toolchain itself; a machine that
/// already had this toolchain would otherwise fail here, and the README
/// promises that `cargo run` alone sets everything up.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let Some(sysroot) = sysroot else { return };
    if sysroot.join("lib/rustlib/wasm32-wasip2").is_dir() {
        return;
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", "wasm32-wasip2"]);
    // Add it to the toolchain this build runs on, not rustup's default.
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
    }
    match rustup.status() {
        Ok(status) if status.success() => {}
        // The build then fails with the hint to add it by hand.
        _ => println!("cargo:warning=could not add the wasm32-wasip2 target through rustup"),
    }
}
