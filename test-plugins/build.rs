//! Compiles the test fixture plugins (`host/tests/fixtures/*`) and the
//! first-party plugins to wasm. Only tests and benchmarks depend on this
//! crate, so `cargo build` and `cargo run` never compile the fixtures.

fn main() {
    let root = kai_wasm_build::workspace_root(1);
    let crates: Vec<String> = kai_wasm_build::crate_names(&root.join("plugins"))
        .into_iter()
        .chain(kai_wasm_build::crate_names(
            &root.join("host/tests/fixtures"),
        ))
        .collect();
    let dir = kai_wasm_build::build(&root, &crates, "test fixture plugins");
    println!("cargo:rustc-env=KAI_TEST_WASM_DIR={}", dir.display());
}
