//! Putting the server together and running it: database and migrations,
//! the first-run admin, the wasm runtime, the plugin set, the HTTP app, and
//! a graceful shutdown that lets in-flight requests finish.
//!
//! [`Server::start`] takes a bound listener and a shutdown future, so tests
//! run the real server on `127.0.0.1:0` and stop it cleanly.

use crate::capabilities::outbound_http::OutboundHttp;
use crate::capabilities::{HostServices, PluginRuntime};
use crate::config::{Allocator, Config};
use crate::domain::Role;
use crate::http::CoreApi;
use crate::http::connection::{Listener, Peer};
use crate::http::failure_limiter::FailureLimiter;
use crate::plugins::hooks::PluginHooks;
use crate::plugins::{PluginControl, PluginRegistry, boot};
use crate::runtime::RuntimeSettings;
use crate::services::events::outbox;
use crate::services::events::outbox::Outbox;
use crate::services::secrets::{KeyRing, Keys, registry};
use crate::services::{Core, Limits};
use crate::state::{AppState, Inner};
use crate::store::users;
use crate::store::{Backend, Db};
use crate::telemetry::otlp::SpanExport;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often nodes sharing a database compare their plugin set with it,
/// in case a change notification was missed.
const RECONCILE_EVERY: Duration = Duration::from_secs(10);

/// The email of the admin created on first start.
pub const BOOTSTRAP_ADMIN_EMAIL: &str = "admin@localhost";

/// The plugin runtime's settings under `config`, caching compiled
/// components in `cache_dir` when given.
pub fn runtime_settings(config: &Config, cache_dir: Option<PathBuf>) -> RuntimeSettings {
    RuntimeSettings {
        timeout: Duration::from_millis(config.plugin_timeout_ms),
        memory_bytes: (config.plugin_memory_mib as usize) << 20,
        max_instances: config.max_instances,
        concurrent_requests: config.plugin_concurrency,
        max_response_bytes: config.max_response_bytes,
        plugin_response_caps: config
            .plugin_limits
            .iter()
            .filter_map(|(name, limits)| Some((name.clone(), limits.max_response_bytes?)))
            .collect(),
        long_running_calls: config.long_running_calls as usize,
        pooling: config.allocator != Allocator::OnDemand,
        cache_dir,
    }
}

/// A prepared server: state built, routes known, not yet serving.
pub struct Server {
    state: AppState,
    api: CoreApi,
}

impl Server {
    /// Connects the database, runs migrations, creates the first admin if
    /// the database is empty, and starts the wasm runtime.
    pub async fn prepare(config: Config) -> anyhow::Result<Self> {
        // Before any plugin loads: plugins register their metrics at load.
        crate::telemetry::metrics::install();
        crate::files::private_dir(&config.data_dir)?;
        let db = match &config.database_url {
            Some(url) => Db::connect(url).await?,
            None => Db::open_sqlite(&config.data_dir).await?,
        };
        db.migrate().await?;
        bootstrap_admin(&db, &config.data_dir).await?;
        let keys = load_keys(&db, &config).await?;
        let runtime = PluginRuntime::new(
            runtime_settings(&config, Some(config.data_dir.join("compiled"))),
            crate::capabilities::add_to_linker,
        )?;
        if config.allocator == Allocator::Pooling
            && runtime.allocator() != crate::runtime::engine::AllocatorKind::Pooling
        {
            anyhow::bail!("the pooling allocator was required but could not be created");
        }
        let api = CoreApi::new();
        let plugins = Arc::new(PluginRegistry::new(api.routes()));
        let keys = Arc::new(keys);
        let outbox = Arc::new(Outbox::default());
        let core = Arc::new(Core {
            db: db.clone(),
            keys: keys.clone(),
            limits: Limits {
                max_document_bytes: config.max_document_bytes,
            },
            outbox: outbox.clone(),
            triggers: Arc::new(crate::services::triggers::TriggerIndex::default()),
        });
        core.triggers.reload(&db).await?;
        let host = Arc::new(HostServices {
            core: core.clone(),
            outbound: OutboundHttp::new(
                Duration::from_millis(config.outbound_timeout_ms),
                config.outbound_max_bytes,
            )?,
            directory: plugins.clone(),
        });
        let hooks = PluginHooks::new(plugins.clone(), host.clone());
        let config_failures = config.auth_failures_per_minute;
        let webhook_calls = config.webhook_calls_per_minute;
        let node_id = uuid::Uuid::new_v4().to_string();
        let spans = match &config.otlp_endpoint {
            Some(endpoint) => Some(Arc::new(
                SpanExport::start(endpoint, &node_id)
                    .map_err(|e| anyhow::anyhow!("starting the span export to {endpoint}: {e}"))?,
            )),
            None => None,
        };
        let runner = crate::runner::Runner::new(
            hooks.clone(),
            plugins.clone(),
            node_id.clone(),
            config.workflow_outbound_hosts.clone(),
            config.max_sub_runs,
        );
        let control = PluginControl {
            db: db.clone(),
            runtime: Arc::new(runtime),
            plugins,
            trusted_plugins: config.trusted_plugins.clone().into(),
        };
        let state = AppState::new(Inner {
            config,
            db,
            control,
            core,
            host,
            hooks,
            runner,
            node_id,
            auth_failures: FailureLimiter::new(config_failures),
            webhook_calls: governor::RateLimiter::keyed(governor::Quota::per_minute(
                std::num::NonZeroU32::new(webhook_calls).unwrap_or(std::num::NonZeroU32::MIN),
            )),
            api_doc: Arc::new(api.openapi()),
            spans,
        });
        Ok(Self { state, api })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves on `listener` until `shutdown` resolves, then waits for
    /// in-flight requests. Plugins load in the background; `/readyz`
    /// answers 503 until they have.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let loader = tokio::spawn({
            let state = state.clone();
            async move {
                if let Err(error) = load_plugins(&state).await {
                    tracing::error!(error = format!("{error:#}"), "loading plugins failed");
                }
            }
        });
        // Background tasks stop when the server does.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let mut tasks = vec![tokio::spawn(key_ring_heartbeat(
            state.clone(),
            listener.local_addr()?,
            until_stopped(),
        ))];
        if state.config.event_worker {
            let poll = Duration::from_millis(state.config.event_poll_ms);
            let worker = outbox::Worker {
                db: state.db.clone(),
                hooks: state.hooks.clone(),
                outbox: state.core.outbox.clone(),
            };
            tasks.push(tokio::spawn(worker.run(poll, until_stopped())));
        }
        if state.config.workflow_workers > 0 {
            tasks.push(tokio::spawn(
                state
                    .runner
                    .clone()
                    .run(state.config.workflow_workers, until_stopped()),
            ));
        }
        tasks.push(tokio::spawn(crate::runner::schedule::run(
            state.runner.clone(),
            until_stopped(),
        )));
        tasks.push(tokio::spawn(crate::runner::retention::run(
            state.runner.clone(),
            state.config.execution_retention_days,
            until_stopped(),
        )));
        if let Some(dir) = state.config.watch_plugins.clone() {
            tasks.push(tokio::spawn(crate::plugins::watch::run(
                state.control.clone(),
                dir,
                until_stopped(),
            )));
        }
        if let (Backend::Postgres, Some(url)) =
            (state.db.backend(), state.config.database_url.clone())
        {
            tasks.push(tokio::spawn(crate::plugins::cluster::run(
                state.control.clone(),
                url,
                RECONCILE_EVERY,
                until_stopped(),
            )));
        }
        if let Some(address) = state.config.metrics_listen {
            let metrics = TcpListener::bind(address)
                .await
                .map_err(|e| anyhow::anyhow!("binding the metrics listener {address}: {e}"))?;
            tracing::info!(address = %metrics.local_addr()?, "metrics listening (GET /metrics)");
            let app = crate::http::metrics::metrics_app(state.clone());
            let serving = axum::serve(metrics, app).with_graceful_shutdown(until_stopped());
            tasks.push(tokio::spawn(async move {
                if let Err(error) = serving.await {
                    tracing::error!(%error, "the metrics listener failed");
                }
            }));
        }
        let app = self.api.into_app(state.clone());
        tracing::info!(address = %listener.local_addr()?, "KAI-Fusion listening");
        axum::serve(
            Listener(listener),
            app.into_make_service_with_connect_info::<Peer>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        loader.abort();
        let _ = stop.send(true);
        for task in tasks {
            let _ = task.await;
        }
        state.db.close().await;
        if let Some(spans) = state.spans.clone() {
            let _ = tokio::task::spawn_blocking(move || spans.shutdown()).await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Loads the master keys, generating the first one when none is configured
/// and the database has never seen one, and checks each against the
/// database's record of its id: the server fails closed rather than start
/// with a wrong key. Credentials are not opened here; a damaged one answers
/// for itself.
async fn load_keys(db: &Db, config: &Config) -> anyhow::Result<Keys> {
    let keys = Keys::load(config.key_file())?;
    if keys.is_empty() {
        let file = keys.file().to_path_buf();
        let highest = registry::highest_id(db).await?;
        if highest > 0 {
            anyhow::bail!(
                "this database has master keys (up to key {highest}) but no master key is configured \
                 (KAI_MASTER_KEY or {}); refusing to start",
                file.display()
            );
        }
        let id = KeyRing::default().generate_into(&file, 0)?;
        // To the person starting the server, on stderr: stdout carries the
        // log stream, which a collector may parse line by line.
        eprintln!(
            "No master key was configured: generated key {id} into {}",
            file.display()
        );
        tracing::info!(path = %file.display(), key = id, "master key generated");
        keys.reload();
    }
    registry::verify_at_start(db, &keys).await?;
    Ok(keys)
}

/// How this process appears in `kai keys list`: host, process id, address.
fn node_description(listen: SocketAddr) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host} pid {} ({listen})", std::process::id())
}

/// Writes this node's key-ring heartbeat every
/// [`registry::HEARTBEAT_EVERY`] (re-reading the key file if it changed),
/// and removes it when the server stops.
async fn key_ring_heartbeat(
    state: AppState,
    listening: SocketAddr,
    stopped: impl Future<Output = ()>,
) {
    let description = node_description(listening);
    let beat = async {
        let mut every = tokio::time::interval(registry::HEARTBEAT_EVERY);
        loop {
            every.tick().await;
            if let Err(error) =
                registry::heartbeat(&state.db, &state.core.keys, &state.node_id, &description).await
            {
                tracing::warn!(%error, "could not write the key-ring heartbeat");
            }
        }
    };
    tokio::select! {
        _ = beat => {}
        _ = stopped => {}
    }
    if let Err(error) = registry::forget_node(&state.db, &state.node_id).await {
        tracing::warn!(%error, "could not remove the key-ring heartbeat");
    }
}

/// Loads the plugin set (bundled, recorded, directory) and marks the
/// server ready.
pub async fn load_plugins(state: &AppState) -> anyhow::Result<()> {
    let dirs: Vec<&Path> = [&state.config.plugins_dir, &state.config.watch_plugins]
        .into_iter()
        .filter_map(|d| d.as_deref())
        .collect();
    boot::boot(
        &state.control.runtime,
        &state.db,
        &state.control.plugins,
        &dirs,
        &state.config.trusted_plugins,
    )
    .await?;
    state.control.plugins.mark_ready();
    Ok(())
}

/// Creates the first admin and its token on an empty database, writing the
/// token to `<data-dir>/admin.token` (0600). Only the path is printed (on
/// stderr, like the master-key notice).
async fn bootstrap_admin(db: &Db, data_dir: &Path) -> anyhow::Result<()> {
    if users::count(db).await? > 0 {
        return Ok(());
    }
    let admin = match users::create(db, BOOTSTRAP_ADMIN_EMAIL, Role::Admin).await {
        Ok(admin) => admin,
        // Another node sharing this database got there first.
        Err(_) if users::count(db).await? > 0 => return Ok(()),
        Err(error) => return Err(error),
    };
    let token = users::create_token(db, &admin.id, "bootstrap", None).await?;
    let path = token_path(data_dir);
    crate::files::write_private(&path, &format!("{}\n", token.secret))?;
    eprintln!(
        "First start: an admin token was written to {}",
        path.display()
    );
    tracing::info!(path = %path.display(), "bootstrap admin token written");
    Ok(())
}

/// Where the bootstrap admin token lives.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.token")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
