//! The log output of the real `kai serve` process: a reader that stops
//! reading its stdout never stops the server, and every line logged
//! reaches the output by the time the server has shut down.
//!
//! The server runs as a child process, because what is under test is the
//! process's own stdout.

mod support;

use serde_json::Value;
use std::io::Read;
use std::process::Command;
use std::time::Duration;
use support::child::{ChildServer, free_port};

/// Requests sent while nobody reads the log: their lines (over 200 bytes
/// each) come to several times what a pipe holds (64 KiB on Linux).
const REQUESTS: usize = 1_000;

#[tokio::test]
async fn a_stalled_log_reader_does_not_stop_the_server_and_shutdown_writes_every_line() {
    let database_url = support::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = ChildServer::spawn(
        port,
        dir.path(),
        database_url.as_deref(),
        &["--log-format", "json"],
        true,
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    server.wait_ready(&client, &base).await;

    // Nobody reads the server's stdout yet. Writing each log line straight
    // to it, the server stopped answering once the pipe was full.
    for i in 0..REQUESTS {
        let response = client
            .get(format!("{base}/api/v1/hello/reader-{i}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} failed while the log was not read: {e}"));
        assert_eq!(response.status(), 200, "request {i}");
    }
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // Now read the log, and stop the server as an operator would.
    let mut stdout = server.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let terminated = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = tokio::task::spawn_blocking(move || {
        let mut server = server;
        server.0.wait()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(status.success(), "kai serve exited with {status}");
    let log = reader.join().unwrap();

    let lines: Vec<Value> = log
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("a cut line {line:?}: {e}"))
        })
        .collect();
    let hello_responses: Vec<&str> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "response")
        .filter_map(|line| line["span"]["path"].as_str())
        .filter(|path| path.starts_with("/api/v1/hello/reader-"))
        .collect();
    assert_eq!(hello_responses.len(), REQUESTS, "one line per request");
    for (i, path) in hello_responses.iter().enumerate() {
        assert_eq!(*path, format!("/api/v1/hello/reader-{i}"), "in order");
    }
    assert!(
        !log.contains("lines logged meanwhile were dropped"),
        "{REQUESTS} lines fit in the buffer"
    );
    let last = lines.last().expect("the log is not empty");
    assert_eq!(
        last["fields"]["message"], "stopped",
        "the last line: {last}"
    );
    support::drop_database(database_url).await;
}

/// With a buffer far smaller than what the stalled reader leaves unread, the
/// server still answers every request; lines are dropped, and warnings
/// account for every request line that did not get out.
#[tokio::test]
async fn a_full_log_buffer_drops_lines_and_says_how_many() {
    // About 70 request lines.
    const BUFFER: &str = "16384";
    let database_url = support::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = ChildServer::spawn(
        port,
        dir.path(),
        database_url.as_deref(),
        &["--log-format", "json", "--log-buffer-bytes", BUFFER],
        true,
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    server.wait_ready(&client, &base).await;
    for i in 0..REQUESTS {
        let response = client
            .get(format!("{base}/api/v1/hello/full-{i}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} failed while the log was full: {e}"));
        assert_eq!(response.status(), 200, "request {i}");
    }
    let mut stdout = server.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let terminated = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = tokio::task::spawn_blocking(move || {
        let mut server = server;
        server.0.wait()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(status.success(), "kai serve exited with {status}");
    let log = reader.join().unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("a cut line {line:?}: {e}"))
        })
        .collect();
    let written = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "response")
        .filter(|line| {
            line["span"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/api/v1/hello/full-"))
        })
        .count();
    let reported: u64 = lines
        .iter()
        .filter(|line| {
            line["fields"]["message"]
                == "the log output fell behind; lines logged meanwhile were dropped"
        })
        .filter_map(|line| line["fields"]["dropped_lines"].as_u64())
        .sum();
    assert!(
        written < REQUESTS,
        "a buffer of {BUFFER} bytes held all {REQUESTS} lines"
    );
    assert!(
        reported >= (REQUESTS - written) as u64,
        "{} request lines missing, {reported} reported dropped",
        REQUESTS - written
    );
    support::drop_database(database_url).await;
}
