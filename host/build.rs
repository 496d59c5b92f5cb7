//! Compiles the first-party plugins (`plugins/*`) to `wasm32-wasip2`
//! components and lists them for embedding in the `kai` binary (see
//! `src/plugins/bundled.rs`), so that `cargo run` needs no separate step.
//! Plugins made for tests are built by `kai-test-plugins`, for tests only.

fn main() {
    let root = kai_wasm_build::workspace_root(1);
    let bundled = kai_wasm_build::crate_names(&root.join("plugins"));
    let wasm_dir = kai_wasm_build::build(&root, &bundled, "bundled plugins");

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
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("bundled_plugins.rs"), source).unwrap();
}
