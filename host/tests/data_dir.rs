//! The data directory is the server user's alone: created 0700 with the
//! database (and its WAL files), keys, token and compiled plugins inside
//! readable by the owner only, whatever the umask.

#![cfg(unix)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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
