//! The first-party plugins (`plugins/*` in the repository), compiled to
//! wasm by `build.rs` and embedded here, so one `kai` binary carries them.

include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));
