//! The data directory is the server user's alone: created 0700 with the
//! database (and its WAL files), keys, token and compiled plugins inside
//! readable by the owner only, whatever the umask.

#![cfg(unix)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use support::child::{ChildServer, free_port};
use support::{M, TestServer};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    // The most permissive umask a shell would have.
    // SAFETY: no other thread of this test process creates files now.
    unsafe { libc::umask(0o022) };
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    // A write, so SQLite has its WAL and shared-memory files.
    server
        .call_expecting(
            M::POST,
            "/api/v1/collections",
            &admin,
            Some(serde_json::json!({ "name": "c" })),
            201,
        )
        .await;
    let dir = server.data_dir.clone();
    assert_eq!(mode(&dir), 0o700);
    for file in ["admin.token", "master.key"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    if server.database_url.is_none() {
        for file in ["kai.db", "kai.db-wal", "kai.db-shm"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
    }
    assert_eq!(mode(&dir.join("compiled")), 0o700);
    server.stop().await;
}

/// `kai serve` as the README runs it: from some directory, with the default
/// data directory `./data`, a relative path.
#[tokio::test]
async fn the_default_relative_data_directory_serves() {
    let database_url = support::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_kai"));
    command
        .current_dir(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--plugins-dir", "plugins"])
        .env_remove("DATABASE_URL")
        .env_remove("KAI_CONFIG")
        .env_remove("KAI_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(url) = &database_url {
        command.arg("--database-url").arg(url);
    }
    let mut server = ChildServer(command.spawn().expect("starting kai serve"));
    let client = reqwest::Client::new();
    server
        .wait_ready(&client, &format!("http://127.0.0.1:{port}"))
        .await;
    let data = dir.path().join("data");
    assert_eq!(mode(&data), 0o700);
    assert!(
        std::fs::read_dir(data.join("compiled"))
            .unwrap()
            .next()
            .is_some(),
        "the bundled plugins' compiled code is cached under ./data/compiled"
    );
    drop(server);
    support::drop_database(database_url).await;
}
