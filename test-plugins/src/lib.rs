//! The wasm of the test fixture plugins (`host/tests/fixtures/*`) and the
//! first-party plugins, as files, for tests and benchmarks. Built by this
//! crate's build script; nothing else depends on it.

use std::path::{Path, PathBuf};

/// Where the build put the `.wasm` files.
pub const WASM_DIR: &str = env!("KAI_TEST_WASM_DIR");

/// The path of the plugin crate `name`'s `.wasm`.
pub fn wasm_path(name: &str) -> PathBuf {
    Path::new(WASM_DIR).join(format!("{}.wasm", name.replace('-', "_")))
}

/// The wasm of the plugin crate `name` (a fixture or a first-party plugin).
pub fn wasm(name: &str) -> Vec<u8> {
    let path = wasm_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
