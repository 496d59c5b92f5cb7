//! The expression language of workflows: jq, as the jaq crates implement
//! it (with jq's standard library), for `transform` nodes and the
//! conditions of edges. The same crates compile to `wasm32-wasip2`, where
//! the expressions run; here an expression is only compiled, so that a
//! workflow that could never run is refused when it is saved.

use jaq_core::load::{Arena, File, Loader};

/// Why an expression does not compile, in a sentence.
pub fn check(code: &str) -> Result<(), String> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errors| {
            format!(
                "does not parse as a jq expression ({} error{})",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            )
        })?;
    let funs = jaq_core::funs::<jaq_core::data::JustLut<jaq_json::Val>>()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map(|_| ())
        .map_err(|errors| {
            let names: Vec<String> = errors
                .into_iter()
                .flat_map(|(_, errors)| errors)
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            format!(
                "does not compile as a jq expression: {} not defined",
                names.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn jq_expressions_compile_and_mistakes_are_named() {
        for code in [
            ".",
            ".a.b",
            "[.[] | select(.n > 1)] | length",
            "{x: .y} + {z: 1}",
            ".s | ascii_downcase | test(\"a+\")",
        ] {
            check(code).unwrap_or_else(|e| panic!("{code}: {e}"));
        }
        assert!(check(".a |").unwrap_err().contains("does not parse"));
        assert!(check("[1, 2").unwrap_err().contains("does not parse"));
        let undefined = check("frobnicate(.x)").unwrap_err();
        assert!(undefined.contains("`frobnicate`"), "{undefined}");
    }
}
