//! Servers under test, each in a child process, stopped when dropped.

use anyhow::Context;
use kai_host::config::Config;
use kai_host::server::Server;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Arguments of the hidden `serve-kai` mode.
#[derive(Debug, clap::Args)]
pub struct KaiArgs {
    #[arg(long)]
    listen: std::net::SocketAddr,
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long)]
    plugins_dir: Option<PathBuf>,
    /// Plugins granted what they request.
    #[arg(long)]
    trust: Vec<String>,
}

/// Arguments of the hidden `serve-native` mode.
#[derive(Debug, clap::Args)]
pub struct NativeArgs {
    #[arg(long)]
    pub listen: std::net::SocketAddr,
    /// The SQLite database the data routes read and write.
    #[arg(long)]
    pub database: Option<PathBuf>,
}

/// The `serve-kai` mode: the real server, as `kai serve` runs it.
pub async fn serve_kai(args: KaiArgs) -> anyhow::Result<()> {
    let mut config = Config::with_data_dir(args.data_dir);
    config.listen = args.listen;
    config.plugins_dir = args.plugins_dir;
    config.trusted_plugins = args.trust;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let server = Server::prepare(config).await?;
    server
        .serve(listener, kai_host::server::shutdown_signal())
        .await
}

/// A running child server.
pub struct ChildServer {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    temp: tempfile::TempDir,
}

/// A stopped KAI-Fusion server whose data is kept for a restart.
pub struct StoppedServer {
    temp: tempfile::TempDir,
}

impl ChildServer {
    /// Starts KAI-Fusion with `plugins` (wasm files) in its plugins dir.
    pub async fn kai(plugins: &[(&str, Vec<u8>)]) -> anyhow::Result<Self> {
        let temp = tempfile::tempdir()?;
        let plugins_dir = temp.path().join("plugins");
        std::fs::create_dir_all(&plugins_dir)?;
        for (name, wasm) in plugins {
            std::fs::write(plugins_dir.join(name), wasm)?;
        }
        Self::spawn(temp).await
    }

    async fn spawn(temp: tempfile::TempDir) -> anyhow::Result<Self> {
        let data_dir = temp.path().join("data");
        let port = free_port()?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("serve-kai")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--plugins-dir")
            .arg(temp.path().join("plugins"))
            .args([
                "--trust",
                "doc-versioning",
                "--trust",
                "swap",
                "--trust",
                "misbehave",
                "--trust",
                "state-probe",
                "--trust",
                "memory-probe",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        Self::start(command, port, temp, "/readyz", "the kai server").await
    }

    /// Starts the native axum baseline (on `database`, if given).
    pub async fn native(database: Option<&Path>) -> anyhow::Result<Self> {
        let temp = tempfile::tempdir()?;
        let port = free_port()?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("serve-native")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null());
        if let Some(database) = database {
            command.arg("--database").arg(database);
        }
        Self::start(command, port, temp, "/healthz", "the native server").await
    }

    /// Serves the `wasi:http` component at `component` with
    /// `wasmtime serve`, as its defaults have it.
    pub async fn wasmtime_serve(component: &Path) -> anyhow::Result<Self> {
        let temp = tempfile::tempdir()?;
        let port = free_port()?;
        let mut command = Command::new("wasmtime");
        command
            .arg("serve")
            // The Rust standard library imports wasi:cli (environment,
            // exit), which `serve` only provides on request.
            .args(["-S", "cli"])
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg(component)
            .stdout(Stdio::null())
            // Its stderr reports each connection wrk cuts at the end.
            .stderr(Stdio::null());
        let ready = "/api/v1/hello/ready";
        Self::start(command, port, temp, ready, "wasmtime serve").await
    }

    /// Spawns `command` (a server listening on `port`) and waits until
    /// `ready_path` answers.
    async fn start(
        mut command: Command,
        port: u16,
        temp: tempfile::TempDir,
        ready_path: &str,
        what: &str,
    ) -> anyhow::Result<Self> {
        let child = command
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        let mut server = ChildServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
            data_dir: temp.path().join("data"),
            temp,
        };
        server.wait_ready(ready_path).await?;
        Ok(server)
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// Stops the process, keeping its data directory.
    pub fn stop_keeping_data(mut self) -> StoppedServer {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let temp = std::mem::replace(&mut self.temp, tempfile::tempdir().expect("a temp dir"));
        StoppedServer { temp }
    }

    async fn wait_ready(&mut self, path: &str) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("server for {} exited at start: {status}", self.base);
            }
            if let Ok(response) = client.get(format!("{}{path}", self.base)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("server at {} not ready within 60 s", self.base)
    }

    /// The bootstrap admin token of a KAI-Fusion child.
    pub fn admin_token(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.data_dir.join("admin.token"))?
            .trim()
            .to_string())
    }
}

impl StoppedServer {
    /// Starts the server again on the same data.
    pub async fn restart(self) -> anyhow::Result<ChildServer> {
        ChildServer::spawn(self.temp).await
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The wasm of a first-party or fixture plugin, as built.
pub use kai_test_plugins::wasm;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
