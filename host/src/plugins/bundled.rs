//! The first-party plugins (`plugins/*` in the repository), compiled to
//! wasm by `build.rs` and embedded here, so one `kai` binary carries them.

include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));

#[cfg(test)]
mod tests {
    use super::BUNDLED_PLUGINS;
    use wasmtime::wasmparser::{Parser, Payload};

    /// The interfaces a component imports, by name, and how many core
    /// modules it carries.
    fn imports_and_modules(wasm: &[u8]) -> (Vec<String>, usize) {
        let (mut names, mut modules) = (Vec::new(), 0);
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.expect("a valid component") {
                Payload::ComponentImportSection(section) => {
                    for import in section {
                        names.push(import.expect("a valid import").name.name.to_string());
                    }
                }
                Payload::ModuleSection { .. } => modules += 1,
                _ => {}
            }
        }
        (names, modules)
    }

    /// kai-sdk provides the standard streams, environment and exit inside
    /// the plugin (`sdk/src/stdio.rs`), so that no instantiation pays for
    /// them. A toolchain whose wasi-libc named its imports differently
    /// would bring them back; this notices.
    #[test]
    fn bundled_plugins_import_no_wasi_stdio_environment_or_exit() {
        assert!(!BUNDLED_PLUGINS.is_empty());
        for (name, wasm) in BUNDLED_PLUGINS {
            let (imports, _) = imports_and_modules(wasm);
            assert!(
                imports.iter().any(|i| i.starts_with("kai:fusion/")),
                "{name}: {imports:?}"
            );
            // jaq's `debug` and `stderr` write through a stream: the
            // `workflows` plugin imports wasi:io/streams (and only that),
            // which costs nothing until an expression calls one of them.
            let streams_allowed = *name == "workflows";
            let stdio: Vec<_> = imports
                .iter()
                .filter(|i| {
                    i.starts_with("wasi:cli/")
                        || (i.starts_with("wasi:io/streams") && !streams_allowed)
                })
                .collect();
            assert!(stdio.is_empty(), "{name} imports {stdio:?}");
        }
        // What hello imports takes integers only, so its component needs
        // no lowering shim: one core module, one core instance a request.
        let (_, hello) = BUNDLED_PLUGINS.iter().find(|(n, _)| *n == "hello").unwrap();
        let (imports, modules) = imports_and_modules(hello);
        assert_eq!(modules, 1, "hello imports {imports:?}");
    }
}
