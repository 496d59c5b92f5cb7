//! Compiles the first-party plugins (`plugins/*`) and the test fixture
//! plugins (`host/tests/fixtures/*`) to `wasm32-wasip2` components, so that
//! `cargo run` and `cargo test` need no separate step.
//!
//! The first-party plugins are embedded in the `kai` binary (see
//! `src/plugins/bundled.rs`); the fixtures are only read by the tests, through
//! the `KAI_WASM_DIR` variable this script sets.
//!
//! The nested cargo uses its own target directory so it never waits on the
//! lock of the build that runs this script.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = root.join("target").join("wasm");

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

    let bundled = crate_names(&root.join("plugins"));
    let fixtures = crate_names(&root.join("host/tests/fixtures"));

    ensure_wasm_target();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--profile", "wasm", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target_dir);
    for name in bundled.iter().chain(&fixtures) {
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
    let status = command
        .status()
        .expect("could not run cargo to build the wasm plugins");
    if !status.success() {
        panic!(
            "building the plugins for wasm32-wasip2 failed (see above). \
             If the target is missing: rustup target add wasm32-wasip2"
        );
    }

    let wasm_dir = target_dir.join("wasm32-wasip2").join("wasm");
    println!("cargo:rustc-env=KAI_WASM_DIR={}", wasm_dir.display());

    // The list of bundled plugins, embedded into the binary.
    let mut source =
        String::from("/// First-party plugins compiled into the binary: (name, wasm).\n");
    source.push_str("pub const BUNDLED_PLUGINS: &[(&str, &[u8])] = &[\n");
    for name in &bundled {
        let file = wasm_dir.join(format!("{}.wasm", name.replace('-', "_")));
        source.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            file.display().to_string()
        ));
    }
    source.push_str("];\n");
    std::fs::write(out_dir.join("bundled_plugins.rs"), source).unwrap();
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
        // The build below then fails with the hint to add it by hand.
        _ => println!("cargo:warning=could not add the wasm32-wasip2 target through rustup"),
    }
}

/// The crates in `dir`, one per sub-directory; the directory name is the
/// crate name by convention.
fn crate_names(dir: &Path) -> Vec<String> {
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
