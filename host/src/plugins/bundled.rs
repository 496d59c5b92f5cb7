//! The first-party plugins (`plugins/*` in the repository), compiled to
//! wasm by `build.rs` and embedded here, so one `kai` binary carries them.

include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));

/// Where the build put the wasm of the first-party and test fixture plugins
/// (`target/wasm/...`), for tests and benchmarks that load them from files.
pub const BUILD_WASM_DIR: &str = env!("KAI_WASM_DIR");
