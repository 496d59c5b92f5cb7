//! `kai serve` as a child process, for tests of what only a whole process
//! shows: its stdout, its resident memory, its behaviour under load.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server process, killed if the test ends without stopping it.
pub struct ChildServer(pub Child);

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildServer {
    /// Starts `kai serve` on `port` with `<dir>/data` and `<dir>/plugins`
    /// and the `extra` flags; its stdout is piped (nobody reads it until the
    /// test does) when `pipe_stdout`, else discarded.
    pub fn spawn(
        port: u16,
        dir: &Path,
        database_url: Option<&str>,
        extra: &[&str],
        pipe_stdout: bool,
    ) -> ChildServer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kai"));
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--plugins-dir")
            .arg(dir.join("plugins"))
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("DATABASE_URL")
            .env_remove("KAI_CONFIG")
            .stdout(if pipe_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            command.arg("--database-url").arg(url);
        }
        ChildServer(command.spawn().expect("starting kai serve"))
    }

    /// Waits until the server answers `/readyz` (plugins compiled and
    /// loaded).
    pub async fn wait_ready(&mut self, client: &reqwest::Client, base: &str) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok(response) = client.get(format!("{base}/readyz")).send().await
                && response.status().is_success()
            {
                return;
            }
            if let Some(status) = self.0.try_wait().unwrap() {
                panic!("kai serve exited before it was ready: {status}");
            }
            assert!(Instant::now() < deadline, "kai serve never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process's resident memory, in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id()))
            .expect("reading the server's /proc status");
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status");
        kib / 1024.0
    }
}

/// Calls `path` on the server at `base` with `token`: the status and the
/// JSON body (null when there is none).
pub async fn call(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}
