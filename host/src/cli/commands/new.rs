//! `kai plugin new NAME`: writes a plugin crate that builds outside any
//! workspace, from the template built into the binary: the repository's
//! `examples/plugin-template`, renamed, with `kai-sdk` and the test host
//! (`kai-test-host`, for its native tests) taken from a checkout.

use crate::domain::names::is_plugin_name;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

const CARGO_TOML: &str = include_str!("../../../../examples/plugin-template/Cargo.toml");
const LIB_RS: &str = include_str!("../../../../examples/plugin-template/src/lib.rs");
const GITIGNORE: &str = include_str!("../../../../examples/plugin-template/.gitignore");

/// The template's own name, replaced by the new plugin's.
const TEMPLATE_NAME: &str = "plugin-template";
/// The template's routes live under this path, replaced by the plugin's.
const TEMPLATE_ROUTES: &str = "/api/v1/greetings/";
/// How the template points at the SDK, in the repository.
const TEMPLATE_SDK: &str = r#"kai-sdk = { path = "../../sdk" }"#;
/// How the template points at the test host, in the repository.
const TEMPLATE_TEST_HOST: &str = r#"kai-test-host = { path = "../../test-host" }"#;

/// The SDK of the checkout this binary was built from, when it is still
/// there.
fn built_from_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    sdk.join("Cargo.toml").is_file().then_some(sdk)
}

pub fn new(name: &str, parent: &Path, sdk: Option<&Path>) -> anyhow::Result<()> {
    if !is_plugin_name(name) {
        bail!(
            "`{name}` is not a plugin name: use 1-63 lower-case letters, digits and `-`, \
             starting with a letter"
        );
    }
    let dir = parent.join(name);
    if dir.exists() {
        bail!(
            "{} exists already; choose another name or --dir",
            dir.display()
        );
    }
    let sdk = match sdk {
        Some(sdk) => sdk.to_path_buf(),
        None => built_from_sdk().context(
            "pass --sdk DIR: the `sdk/` directory of a KAI-Fusion checkout, or an \
             unpacked `cargo package -p kai-sdk`",
        )?,
    };
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("the SDK directory {}", sdk.display()))?;
    if !sdk.join("Cargo.toml").is_file() {
        bail!("{} has no Cargo.toml: it is not kai-sdk", sdk.display());
    }
    let sdk_text = sdk.to_str().context("the SDK's path is not valid UTF-8")?;
    // Beside the SDK in a checkout; otherwise the checkout this binary was
    // built from. Its kai-sdk must be the plugin's for tests to compile.
    let test_host = [
        sdk.join("../test-host"),
        built_from_sdk().unwrap_or_default().join("../test-host"),
    ]
    .into_iter()
    .find(|dir| dir.join("Cargo.toml").is_file())
    .context("no kai-test-host beside the SDK: pass --sdk the `sdk/` of a KAI-Fusion checkout")?
    .canonicalize()?;
    let test_host_text = test_host
        .to_str()
        .context("the test host's path is not valid UTF-8")?;

    let cargo_toml = fill(
        CARGO_TOML,
        &[
            (
                &format!("name = \"{TEMPLATE_NAME}\""),
                &format!("name = \"{name}\""),
            ),
            (
                TEMPLATE_SDK,
                &format!("kai-sdk = {{ path = {sdk_text:?} }}"),
            ),
            (
                TEMPLATE_TEST_HOST,
                &format!("kai-test-host = {{ path = {test_host_text:?} }}"),
            ),
        ],
    )?;
    let lib_rs = fill(
        LIB_RS,
        &[
            (
                &format!("Plugin::new(\"{TEMPLATE_NAME}\""),
                &format!("Plugin::new(\"{name}\""),
            ),
            (TEMPLATE_ROUTES, &format!("/api/v1/{name}/")),
        ],
    )?;
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    for (file, text) in [
        ("Cargo.toml", cargo_toml.as_str()),
        ("src/lib.rs", lib_rs.as_str()),
        (".gitignore", GITIGNORE),
    ] {
        std::fs::write(dir.join(file), text)
            .with_context(|| format!("writing {}", dir.join(file).display()))?;
    }
    println!("created plugin `{name}` in {}", dir.display());
    println!("  cd {} && cargo test && kai plugin build", dir.display());
    Ok(())
}

/// `template` with every `(from, to)` replaced; an error when the template
/// no longer holds `from` (the template changed and this did not).
fn fill(template: &str, replacements: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut text = template.to_string();
    for (from, to) in replacements {
        if !text.contains(from) {
            bail!("the built-in template has no `{from}`; this build of kai is inconsistent");
        }
        text = text.replace(from, to);
    }
    Ok(text)
}
