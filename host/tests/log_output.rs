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

/// Starts `kai serve` (JSON logs, `extra` flags), sends [`REQUESTS`] hello
/// requests to `/api/v1/hello/<prefix>-<i>` while nobody reads its stdout,
/// checks every one was answered and `/healthz` still is, then reads the
/// log while the server stops as an operator would stop it, and returns the
/// log's lines.
async fn serve_unread(extra: &[&str], prefix: &str) -> Vec<Value> {
    let database_url = support::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut args = vec!["--log-format", "json"];
    args.extend_from_slice(extra);
    let mut server = ChildServer::spawn(port, dir.path(), database_url.as_deref(), &args, true);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    server.wait_ready(&client, &base).await;

    // Nobody reads the server's stdout yet. Writing each log line straight
    // to it, the server stopped answering once the pipe was full.
    for i in 0..REQUESTS {
        let response = client
            .get(format!("{base}/api/v1/hello/{prefix}-{i}"))
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
    support::drop_database(database_url).await;
    log.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("a cut line {line:?}: {e}"))
        })
        .collect()
}

/// The paths of the response lines of requests to `<prefix>-<i>`, in order.
fn answered<'a>(lines: &'a [Value], prefix: &str) -> Vec<&'a str> {
    let prefix = format!("/api/v1/hello/{prefix}-");
    lines
        .iter()
        .filter(|line| line["fields"]["message"] == "response")
        .filter_map(|line| line["span"]["path"].as_str())
        .filter(|path| path.starts_with(&prefix))
        .collect()
}

const DROPPED: &str = "the log output fell behind; lines logged meanwhile were dropped";

#[tokio::test]
async fn a_stalled_log_reader_does_not_stop_the_server_and_shutdown_writes_every_line() {
    let lines = serve_unread(&[], "reader").await;
    let hello_responses = answered(&lines, "reader");
    assert_eq!(hello_responses.len(), REQUESTS, "one line per request");
    for (i, path) in hello_responses.iter().enumerate() {
        assert_eq!(*path, format!("/api/v1/hello/reader-{i}"), "in order");
    }
    assert!(
        !lines
            .iter()
            .any(|line| line["fields"]["message"] == DROPPED),
        "{REQUESTS} lines fit in the buffer"
    );
    let last = lines.last().expect("the log is not empty");
    assert_eq!(
        last["fields"]["message"], "stopped",
        "the last line: {last}"
    );
}

/// With a buffer far smaller than what the stalled reader leaves unread, the
/// server still answers every request; lines are dropped, and warnings
/// account for every request line that did not get out.
#[tokio::test]
async fn a_full_log_buffer_drops_lines_and_says_how_many() {
    // About 70 request lines.
    const BUFFER: &str = "16384";
    let lines = serve_unread(&["--log-buffer-bytes", BUFFER], "full").await;
    let written = answered(&lines, "full").len();
    let reported: u64 = lines
        .iter()
        .filter(|line| line["fields"]["message"] == DROPPED)
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
}
