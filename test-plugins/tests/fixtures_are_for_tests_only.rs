//! The fixtures are compiled only when tests or benchmarks need them: the
//! server's own build (`cargo build`, `cargo run`) depends on this crate
//! for nothing but its tests.

use std::process::Command;

#[test]
fn the_server_depends_on_the_fixtures_only_for_tests() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let host = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "kai-host")
        .expect("kai-host is in the workspace");
    let kinds: Vec<&str> = host["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] == "kai-test-plugins")
        .map(|d| d["kind"].as_str().unwrap_or("normal"))
        .collect();
    assert_eq!(
        kinds,
        ["dev"],
        "kai-host must need the fixtures only for its tests"
    );
    // And the host's own build script builds the first-party plugins only.
    let build = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/build.rs"),
    )
    .unwrap();
    assert!(
        !build.contains("fixtures"),
        "host/build.rs names the fixtures"
    );
}
