//! Shared test harness: starts the real server on `127.0.0.1:0` against a
//! fresh database and stops it cleanly.
//!
//! The database is SQLite in a temporary directory, or, when
//! `KAI_TEST_POSTGRES_URL` is set, a fresh PostgreSQL database created on
//! that server for this one test (so tests never see each other's rows).
//! CI runs the whole suite once each way.

#![allow(dead_code)]

pub mod child;

use kai_host::config::Config;
use kai_host::server::Server;
use kai_host::state::AppState;
use reqwest::{Client, Method, Response};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The wasm of a fixture or bundled plugin, by crate name.
pub use kai_test_plugins::wasm;

/// Sends the server's logs to the test's captured output.
fn init_logs() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,kai_host=info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}

/// The PostgreSQL server to test against, if any.
pub fn postgres_url() -> Option<String> {
    static NOTICE: Once = Once::new();
    let url = std::env::var("KAI_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        NOTICE.call_once(|| {
            eprintln!("notice: KAI_TEST_POSTGRES_URL is not set; running on SQLite only (PostgreSQL skipped)")
        });
    }
    url
}

/// A database for one test: its URL (`None` = embedded SQLite).
pub async fn fresh_database() -> Option<String> {
    let base = postgres_url()?;
    let name = format!("kai_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .expect("connecting to the test PostgreSQL server");
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("creating a test database");
    let (prefix, _) = base
        .rsplit_once('/')
        .expect("a postgres URL ends in /dbname");
    Some(format!("{prefix}/{name}"))
}

/// Drops a database made by [`fresh_database`]; a test that ends with
/// [`TestServer::stop_keeping_data`] calls this itself, so that no
/// `kai_test_*` database outlives its test. `None` (SQLite) does nothing.
pub async fn drop_database(database_url: Option<String>) {
    let (Some(base), Some(url)) = (postgres_url(), database_url) else {
        return;
    };
    let name = url.rsplit('/').next().unwrap().to_string();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap();
    sqlx::Executor::execute(
        &mut admin,
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
    )
    .await
    .unwrap();
}

/// A running server and a client for it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: Client,
    pub admin_token: String,
    pub state: AppState,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _temp: Option<TempDir>,
}

/// How to set up a server.
pub struct Setup {
    pub config: Config,
    temp: Option<TempDir>,
}

impl Setup {
    /// Defaults on a fresh database in a fresh data directory.
    pub async fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let mut config = Config::with_data_dir(temp.path().join("data"));
        config.database_url = fresh_database().await;
        Setup {
            config,
            temp: Some(temp),
        }
    }

    /// Reuses the data directory and database of an earlier server.
    pub fn reuse(data_dir: PathBuf, database_url: Option<String>) -> Self {
        let mut config = Config::with_data_dir(data_dir);
        config.database_url = database_url;
        Setup { config, temp: None }
    }

    /// A directory (inside the test's temp dir) holding these plugin files,
    /// each named `<plugin>.wasm` and trusted (granted what it requests),
    /// as an operator would configure plugins they deploy.
    pub fn plugins_dir(self, files: &[(&str, Vec<u8>)]) -> Self {
        let mut setup = self.plugins_dir_untrusted(files);
        for (file, _) in files {
            let name = file.trim_end_matches(".wasm").to_string();
            if !setup.config.trusted_plugins.contains(&name) {
                setup.config.trusted_plugins.push(name);
            }
        }
        setup
    }

    /// Like [`Setup::plugins_dir`], but nothing is trusted: plugins that
    /// request capabilities wait for an operator's grant.
    pub fn plugins_dir_untrusted(mut self, files: &[(&str, Vec<u8>)]) -> Self {
        let dir = self
            .temp
            .as_ref()
            .map(|t| t.path().join("plugins"))
            .unwrap_or_else(|| self.config.data_dir.join("../plugins"));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, bytes) in files {
            std::fs::write(dir.join(file), bytes).unwrap();
        }
        self.config.plugins_dir = Some(dir);
        self
    }

    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// Starts the server and waits until `/readyz` says it is ready.
    pub async fn start(self) -> TestServer {
        init_logs();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let data_dir = self.config.data_dir.clone();
        let database_url = self.config.database_url.clone();
        let server = Server::prepare(self.config).await.expect("server prepares");
        let state = server.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async {
            let _ = rx.await;
        }));
        let admin_token = std::fs::read_to_string(data_dir.join("admin.token"))
            .expect("the bootstrap token file exists")
            .trim()
            .to_string();
        let server = TestServer {
            addr,
            client: Client::new(),
            admin_token,
            state,
            data_dir,
            database_url,
            shutdown: Some(tx),
            task: Some(task),
            _temp: self.temp,
        };
        server.wait_ready().await;
        server
    }
}

impl TestServer {
    /// A server with defaults on a fresh database.
    pub async fn start() -> TestServer {
        Setup::new().await.start().await
    }

    /// A server with defaults and one fixture plugin (`host/tests/fixtures`)
    /// in its plugins directory, trusted.
    pub async fn with_fixture(name: &str) -> TestServer {
        Setup::new()
            .await
            .plugins_dir(&[(&format!("{name}.wasm"), wasm(name))])
            .start()
            .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = self.client.get(self.url("/readyz")).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "server not ready within 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    /// Installs or upgrades a plugin through the admin API as the admin,
    /// with `query` (`""`, `"?force=true"`...); returns the status and body.
    pub async fn upload_plugin(&self, bytes: Vec<u8>, query: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/admin/plugins{query}")))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .await
            .unwrap();
        json_of(response).await
    }

    /// Creates a user and returns an API token for them.
    pub async fn user(&self, email: &str, admin: bool) -> String {
        use kai_host::domain::Role;
        use kai_host::store::users;
        let role = if admin { Role::Admin } else { Role::Member };
        let user = users::create(&self.state.db, email, role)
            .await
            .expect("user created");
        users::create_token(&self.state.db, &user.id, "test", None)
            .await
            .expect("token created")
            .secret
    }

    /// Sends a request and returns status, JSON body (Null if none) and headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let response = self.send(method, path, Some(token), body.as_ref()).await;
        let headers = response.headers().clone();
        let (status, body) = json_of(response).await;
        (status, body, headers)
    }

    /// [`call`](Self::call), checking the answer's status; returns its body.
    pub async fn call_expecting(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let (status, body, _) = self.call(method, path, token, body).await;
        assert_eq!(status, expected, "{body}");
        body
    }

    /// Creates a collection and one document titled `title` in it, as the
    /// owner of `token`; returns (collection id, document id).
    pub async fn collection_with_document(&self, token: &str, title: &str) -> (String, String) {
        let name = serde_json::json!({ "name": format!("{title}'s collection") });
        let collection = self
            .call_expecting(Method::POST, "/api/v1/collections", token, Some(name), 201)
            .await;
        let collection = collection["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/collections/{collection}/documents");
        let doc = serde_json::json!({ "title": title });
        let doc = self
            .call_expecting(Method::POST, &path, token, Some(doc), 201)
            .await;
        (collection, doc["id"].as_str().unwrap().to_string())
    }

    /// Saves a one-node workflow with a webhook trigger as the owner of
    /// `token`; returns its webhook's path, secret included.
    pub async fn hooked_workflow(&self, token: &str) -> String {
        let workflow = serde_json::json!({
            "name": "hooked",
            "nodes": [{ "id": "t", "kind": "transform", "config": { "expression": "." } }],
            "triggers": [{ "type": "webhook" }],
        });
        let saved = self
            .call_expecting(
                Method::POST,
                "/api/v1/workflows",
                token,
                Some(workflow),
                201,
            )
            .await;
        saved["webhook_url"].as_str().unwrap().to_string()
    }

    /// Polls `check` until it returns `Some`, for at most `seconds`.
    pub async fn eventually<T, F, Fut>(&self, seconds: u64, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "condition not reached within {seconds} s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GET as the bootstrap admin, returning status and JSON body.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let response = self
            .send(Method::GET, path, Some(&self.admin_token.clone()), None)
            .await;
        json_of(response).await
    }

    /// Anonymous GET, returning status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        json_of(self.send(Method::GET, path, None, None).await).await
    }

    /// Runs the `kai` binary with `args` against this server's data
    /// directory and database (as an operator on its machine would), while
    /// the server keeps serving; returns the exit code and what it printed
    /// (stdout, then stderr).
    pub async fn kai(&self, args: &[&str]) -> (i32, String) {
        kai_on(&self.data_dir, self.database_url.as_deref(), args).await
    }

    /// Stops the server and drops its test database.
    pub async fn stop(self) {
        let (_, database_url, _) = self.stop_keeping_data().await;
        drop_database(database_url).await;
    }

    /// Stops the server, letting in-flight requests finish, and hands back
    /// its data directory and database for a restart.
    pub async fn stop_keeping_data(mut self) -> (PathBuf, Option<String>, Option<TempDir>) {
        self.shutdown.take().unwrap().send(()).ok();
        self.task
            .take()
            .unwrap()
            .await
            .unwrap()
            .expect("server stops cleanly");
        (
            self.data_dir.clone(),
            self.database_url.clone(),
            self._temp.take(),
        )
    }
}

/// Runs the `kai` binary with `args` and `--data-dir`/`--database-url`
/// naming a server's store; returns the exit code and stdout then stderr.
pub async fn kai_on(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> (i32, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kai"));
    command.args(args).arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    command.env_remove("KAI_MASTER_KEY");
    let output = command.output().await.expect("kai runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// Runs the `kai` binary with `args` only (a command that talks to a
/// server by `--server`); returns the exit code and stdout then stderr.
pub async fn kai_command(args: &[&str]) -> (i32, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kai"))
        .args(args)
        .env_remove("KAI_TOKEN")
        .env_remove("KAI_SERVER")
        .output()
        .await
        .expect("kai runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// Checks that `docs/SECURITY.md`'s "Tested" table states `count` for the
/// row `label`, so the document says what the suite really runs.
pub fn assert_documented_count(label: &str, count: usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/SECURITY.md");
    let text = std::fs::read_to_string(&path).expect("reading docs/SECURITY.md");
    let documented = text
        .lines()
        .map(|line| line.split('|').map(str::trim).collect::<Vec<_>>())
        .find(|cells| cells.len() > 4 && cells[1] == label)
        .and_then(|cells| cells[3].replace(',', "").parse::<usize>().ok())
        .unwrap_or_else(|| panic!("docs/SECURITY.md has no Tested row `{label}` with a count"));
    assert_eq!(
        documented, count,
        "docs/SECURITY.md says {documented} for `{label}`; the suite runs {count}: update the document"
    );
}

/// Shorthands for request methods.
#[allow(unused_imports)]
pub use reqwest::Method as M;

/// Status and JSON body of a response (Null when the body is not JSON).
pub async fn json_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// A local HTTP server that records the `traceparent` of every request it
/// receives (`None` for a request without one).
pub async fn traceparent_recorder() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>)
{
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>> = Default::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let record = record.clone();
        async move {
            let traceparent = headers
                .get("traceparent")
                .map(|v| v.to_str().unwrap().to_string());
            record.lock().unwrap().push(traceparent);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}
