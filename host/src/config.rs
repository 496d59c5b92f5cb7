//! Settings of `kai serve`, from (highest precedence first) command-line
//! flags, `KAI_*` environment variables, a TOML file (`--config`), and
//! defaults. Clap handles flags and the environment; [`ServeArgs::resolve`]
//! folds in the file and the defaults.

use anyhow::Context;
use clap::Args;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Options of `kai serve`. Every flag can also be set with the environment
/// variable named in its help, or in the TOML file under the same name with
/// `_` for `-` (e.g. `plugin_timeout_ms = 2000`).
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "KAI_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Also serve GET /metrics here, without a token (keep it private);
    /// on the main listener it needs an admin token
    #[arg(long, env = "KAI_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Export request and plugin-call spans to this OpenTelemetry collector (OTLP/HTTP, its base URL: spans go to <URL>/v1/traces) [default: no export]
    #[arg(long, env = "KAI_OTLP_ENDPOINT", value_name = "URL", value_parser = parse_otlp_endpoint)]
    pub otlp_endpoint: Option<url::Url>,

    /// Directory for the embedded database, the admin token and keys [default: ./data]
    #[arg(long, env = "KAI_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Use this database instead of the embedded SQLite (postgres://user@host/db)
    #[arg(long, env = "DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,

    /// Load every .wasm file in this directory at start
    #[arg(long, env = "KAI_PLUGINS_DIR", value_name = "DIR")]
    pub plugins_dir: Option<PathBuf>,

    /// Install or upgrade any .wasm written into this directory, as it appears (for plugin authors)
    #[arg(long, env = "KAI_WATCH_PLUGINS", value_name = "DIR")]
    pub watch_plugins: Option<PathBuf>,

    /// Read settings from this TOML file
    #[arg(long, env = "KAI_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Largest request body accepted, in bytes [default: 10485760]
    #[arg(long, env = "KAI_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Deadline per plugin call in ms; plugins may ask for less, never more [default: 5000]
    #[arg(long, env = "KAI_PLUGIN_TIMEOUT_MS", value_name = "MS")]
    pub plugin_timeout_ms: Option<u64>,

    /// Memory ceiling per plugin instance in MiB; plugins may ask for less [default: 64]
    #[arg(long, env = "KAI_PLUGIN_MEMORY_MIB", value_name = "MIB")]
    pub plugin_memory_mib: Option<u64>,

    /// Plugin instances alive at once across all requests [default: 256]
    #[arg(long, env = "KAI_MAX_INSTANCES", value_name = "N")]
    pub max_instances: Option<u32>,

    /// HTTP requests one plugin runs at once; more wait their turn, up to the plugin's deadline (0: no limit; plugins with outbound hosts are not limited) [default: twice the CPU cores]
    #[arg(long, env = "KAI_PLUGIN_CONCURRENCY", value_name = "N")]
    pub plugin_concurrency: Option<u32>,

    /// Largest response body a plugin may answer with, in bytes; larger answers are 502 plugin_response_too_large [default: 16777216]
    #[arg(long, env = "KAI_MAX_RESPONSE_BYTES", value_name = "BYTES")]
    pub max_response_bytes: Option<usize>,

    /// Plugin requests that may run past their first 20 ms of guest code at once, across all plugins [default: the CPU cores less one, at least 1]
    #[arg(long, env = "KAI_LONG_RUNNING_CALLS", value_name = "N")]
    pub long_running_calls: Option<u32>,

    /// Instance allocator: auto (pooling, falling back), pooling or on-demand [default: auto]
    #[arg(long, env = "KAI_ALLOCATOR", value_name = "KIND")]
    pub allocator: Option<Allocator>,

    /// Log format: text or json [default: text]
    #[arg(long, env = "KAI_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Bytes of log lines held while stdout's reader is slow; more are dropped and counted [default: 4194304]
    #[arg(long, env = "KAI_LOG_BUFFER_BYTES", value_name = "BYTES")]
    pub log_buffer_bytes: Option<usize>,

    /// Largest document content accepted, in bytes [default: 1048576]
    #[arg(long, env = "KAI_MAX_DOCUMENT_BYTES", value_name = "BYTES")]
    pub max_document_bytes: Option<usize>,

    /// Deliver after-commit events from this node: true or false [default: true]
    #[arg(long, env = "KAI_EVENT_WORKER", value_name = "BOOL")]
    pub event_worker: Option<bool>,

    /// How often the event worker looks for due retries, in ms [default: 1000]
    #[arg(long, env = "KAI_EVENT_POLL_MS", value_name = "MS")]
    pub event_poll_ms: Option<u64>,

    /// Workflow steps this node runs at once (0: it runs none) [default: 2]
    #[arg(long, env = "KAI_WORKFLOW_WORKERS", value_name = "N")]
    pub workflow_workers: Option<usize>,

    /// Days an ended workflow execution is kept, with its timeline [default: 30]
    #[arg(long, env = "KAI_EXECUTION_RETENTION_DAYS", value_name = "DAYS")]
    pub execution_retention_days: Option<u32>,

    /// Webhook calls one workflow takes a minute before answering 429 [default: 120]
    #[arg(long, env = "KAI_WEBHOOK_CALLS_PER_MINUTE", value_name = "N")]
    pub webhook_calls_per_minute: Option<u32>,

    /// Sub-runs one workflow run may start in all, its sub-runs' own counted [default: 1000]
    #[arg(long, env = "KAI_MAX_SUB_RUNS", value_name = "N")]
    pub max_sub_runs: Option<u32>,

    /// An origin workflow `http` nodes may call, e.g. `https://api.openai.com` (repeatable; comma-separated in the environment)
    #[arg(
        long = "workflow-outbound-host",
        env = "KAI_WORKFLOW_OUTBOUND_HOSTS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub workflow_outbound_hosts: Vec<String>,

    /// Grant this plugin what it requests, as if bundled (repeatable; comma-separated in the environment)
    #[arg(
        long = "trust-plugin",
        env = "KAI_TRUSTED_PLUGINS",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub trusted_plugins: Vec<String>,

    /// File of master keys (`id:base64` lines) [default: <data-dir>/master.key]; KAI_MASTER_KEY adds keys too
    #[arg(long, env = "KAI_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,

    /// Failed authentications allowed per client address per minute [default: 20]
    #[arg(long, env = "KAI_AUTH_FAILURES_PER_MINUTE", value_name = "N")]
    pub auth_failures_per_minute: Option<u32>,

    /// A reverse proxy whose X-Forwarded-For / Forwarded headers name the client (an address or CIDR; repeatable; comma-separated in the environment)
    #[arg(
        long = "trusted-proxy",
        env = "KAI_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = parse_net
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// Deadline of a plugin's outbound HTTP request, in ms [default: 10000]
    #[arg(long, env = "KAI_OUTBOUND_TIMEOUT_MS", value_name = "MS")]
    pub outbound_timeout_ms: Option<u64>,

    /// Largest outbound HTTP response a plugin may receive, in bytes [default: 4194304]
    #[arg(long, env = "KAI_OUTBOUND_MAX_BYTES", value_name = "BYTES")]
    pub outbound_max_bytes: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    Auto,
    Pooling,
    OnDemand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The TOML file: the same settings, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    metrics_listen: Option<SocketAddr>,
    otlp_endpoint: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    plugins_dir: Option<PathBuf>,
    watch_plugins: Option<PathBuf>,
    max_body_bytes: Option<usize>,
    plugin_timeout_ms: Option<u64>,
    plugin_memory_mib: Option<u64>,
    max_instances: Option<u32>,
    plugin_concurrency: Option<u32>,
    max_response_bytes: Option<usize>,
    long_running_calls: Option<u32>,
    /// Per-plugin settings, by plugin name (only in the file).
    #[serde(default)]
    plugin_limits: BTreeMap<String, PluginLimits>,
    allocator: Option<Allocator>,
    log_format: Option<LogFormat>,
    log_buffer_bytes: Option<usize>,
    max_document_bytes: Option<usize>,
    event_worker: Option<bool>,
    event_poll_ms: Option<u64>,
    workflow_workers: Option<usize>,
    execution_retention_days: Option<u32>,
    webhook_calls_per_minute: Option<u32>,
    max_sub_runs: Option<u32>,
    workflow_outbound_hosts: Option<Vec<String>>,
    trusted_plugins: Option<Vec<String>>,
    master_key_file: Option<PathBuf>,
    auth_failures_per_minute: Option<u32>,
    #[serde(default, deserialize_with = "nets")]
    trusted_proxies: Option<Vec<IpNet>>,
    outbound_timeout_ms: Option<u64>,
    outbound_max_bytes: Option<usize>,
}

/// Settings of one plugin, under `[plugin_limits.<name>]` in the file.
/// They can only lower the server-wide settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginLimits {
    pub max_response_bytes: Option<usize>,
}

/// The resolved settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where `/metrics` is served without a token, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// The OpenTelemetry collector spans are exported to, if any.
    pub otlp_endpoint: Option<url::Url>,
    pub data_dir: PathBuf,
    /// `None`: the embedded SQLite database in `data_dir`.
    pub database_url: Option<String>,
    pub plugins_dir: Option<PathBuf>,
    /// Installed from as files appear.
    pub watch_plugins: Option<PathBuf>,
    pub max_body_bytes: usize,
    pub plugin_timeout_ms: u64,
    pub plugin_memory_mib: u64,
    pub max_instances: u32,
    /// HTTP requests one plugin runs at once (0: no limit).
    pub plugin_concurrency: u32,
    /// Largest plugin response body passed on.
    pub max_response_bytes: usize,
    /// Plugin requests past their first ticks that run at once.
    pub long_running_calls: u32,
    /// Per-plugin settings, by plugin name.
    pub plugin_limits: BTreeMap<String, PluginLimits>,
    pub allocator: Allocator,
    pub log_format: LogFormat,
    /// Bytes of log lines held while the output is slow.
    pub log_buffer_bytes: usize,
    pub max_document_bytes: usize,
    pub event_worker: bool,
    pub event_poll_ms: u64,
    /// Workflow steps this node runs at once.
    pub workflow_workers: usize,
    /// Days an ended execution is kept.
    pub execution_retention_days: u32,
    /// Webhook calls one workflow takes a minute.
    pub webhook_calls_per_minute: u32,
    /// Sub-runs one run's tree may start in all.
    pub max_sub_runs: u32,
    /// Origins workflow `http` nodes may call.
    pub workflow_outbound_hosts: Vec<String>,
    /// Plugins granted what they request without an operator's decision.
    pub trusted_plugins: Vec<String>,
    /// `None`: `<data-dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    pub auth_failures_per_minute: u32,
    /// Peers whose forwarding headers name the client.
    pub trusted_proxies: Vec<IpNet>,
    pub outbound_timeout_ms: u64,
    pub outbound_max_bytes: usize,
}

impl Config {
    /// Where master keys are read from and generated into.
    pub fn key_file(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }
}

impl Config {
    /// Defaults, with everything stored under `data_dir` (handy in tests).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = ServeArgs::default().resolve().expect("defaults are valid");
        config.data_dir = data_dir.into();
        config
    }
}

impl ServeArgs {
    /// Folds in the TOML file (if any) and the defaults, and checks ranges.
    pub fn resolve(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let config = Config {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".parse().unwrap()),
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            otlp_endpoint: match (self.otlp_endpoint, file.otlp_endpoint) {
                (Some(url), _) => Some(url),
                (None, Some(text)) => Some(
                    parse_otlp_endpoint(&text)
                        .map_err(|e| anyhow::anyhow!("otlp_endpoint: {e}"))?,
                ),
                (None, None) => None,
            },
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("data")),
            database_url: self.database_url.or(file.database_url),
            plugins_dir: self.plugins_dir.or(file.plugins_dir),
            watch_plugins: self.watch_plugins.or(file.watch_plugins),
            max_body_bytes: self
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(10 << 20),
            plugin_timeout_ms: self
                .plugin_timeout_ms
                .or(file.plugin_timeout_ms)
                .unwrap_or(5_000),
            plugin_memory_mib: self
                .plugin_memory_mib
                .or(file.plugin_memory_mib)
                .unwrap_or(64),
            max_instances: self.max_instances.or(file.max_instances).unwrap_or(256),
            plugin_concurrency: self
                .plugin_concurrency
                .or(file.plugin_concurrency)
                .unwrap_or_else(default_plugin_concurrency),
            max_response_bytes: self
                .max_response_bytes
                .or(file.max_response_bytes)
                .unwrap_or(16 << 20),
            long_running_calls: self
                .long_running_calls
                .or(file.long_running_calls)
                .unwrap_or_else(default_long_running_calls),
            plugin_limits: file.plugin_limits,
            allocator: self.allocator.or(file.allocator).unwrap_or(Allocator::Auto),
            log_format: self
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            log_buffer_bytes: self
                .log_buffer_bytes
                .or(file.log_buffer_bytes)
                .unwrap_or(crate::telemetry::BUFFER_BYTES),
            max_document_bytes: self
                .max_document_bytes
                .or(file.max_document_bytes)
                .unwrap_or(1 << 20),
            event_worker: self.event_worker.or(file.event_worker).unwrap_or(true),
            workflow_outbound_hosts: if self.workflow_outbound_hosts.is_empty() {
                file.workflow_outbound_hosts.unwrap_or_default()
            } else {
                self.workflow_outbound_hosts
            },
            trusted_plugins: if self.trusted_plugins.is_empty() {
                file.trusted_plugins.unwrap_or_default()
            } else {
                self.trusted_plugins
            },
            master_key_file: self.master_key_file.or(file.master_key_file),
            auth_failures_per_minute: self
                .auth_failures_per_minute
                .or(file.auth_failures_per_minute)
                .unwrap_or(20),
            trusted_proxies: if self.trusted_proxies.is_empty() {
                file.trusted_proxies.unwrap_or_default()
            } else {
                self.trusted_proxies
            },
            outbound_timeout_ms: self
                .outbound_timeout_ms
                .or(file.outbound_timeout_ms)
                .unwrap_or(10_000),
            outbound_max_bytes: self
                .outbound_max_bytes
                .or(file.outbound_max_bytes)
                .unwrap_or(4 << 20),
            event_poll_ms: self.event_poll_ms.or(file.event_poll_ms).unwrap_or(1_000),
            workflow_workers: self.workflow_workers.or(file.workflow_workers).unwrap_or(2),
            execution_retention_days: self
                .execution_retention_days
                .or(file.execution_retention_days)
                .unwrap_or(30),
            webhook_calls_per_minute: self
                .webhook_calls_per_minute
                .or(file.webhook_calls_per_minute)
                .unwrap_or(120),
            max_sub_runs: self.max_sub_runs.or(file.max_sub_runs).unwrap_or(1_000),
        };
        for origin in &config.workflow_outbound_hosts {
            crate::domain::http_mount::check_origin(origin)
                .map_err(|e| anyhow::anyhow!("workflow_outbound_hosts: {e}"))?;
        }
        anyhow::ensure!(
            config.workflow_workers <= 256,
            "workflow_workers must be 0 to 256, got {}",
            config.workflow_workers
        );
        anyhow::ensure!(
            (1..=1_000_000).contains(&config.webhook_calls_per_minute),
            "webhook_calls_per_minute must be 1 to 1000000, got {}",
            config.webhook_calls_per_minute
        );
        anyhow::ensure!(
            config.max_sub_runs <= 1_000_000,
            "max_sub_runs must be 0 to 1000000, got {}",
            config.max_sub_runs
        );
        anyhow::ensure!(
            (1..=36_500).contains(&config.execution_retention_days),
            "execution_retention_days must be 1 to 36500, got {}",
            config.execution_retention_days
        );
        anyhow::ensure!(
            (1..=600_000).contains(&config.plugin_timeout_ms),
            "plugin-timeout-ms must be between 1 and 600000"
        );
        anyhow::ensure!(
            (1..=4096).contains(&config.plugin_memory_mib),
            "plugin-memory-mib must be between 1 and 4096"
        );
        anyhow::ensure!(
            config.max_instances >= 1,
            "max-instances must be at least 1"
        );
        anyhow::ensure!(
            config.max_body_bytes >= 1,
            "max-body-bytes must be at least 1"
        );
        anyhow::ensure!(
            config.max_response_bytes >= 1,
            "max-response-bytes must be at least 1"
        );
        anyhow::ensure!(
            config.long_running_calls >= 1,
            "long-running-calls must be at least 1"
        );
        anyhow::ensure!(
            config.log_buffer_bytes >= 4096,
            "log-buffer-bytes must be at least 4096"
        );
        Ok(config)
    }
}

/// The cores less one (at least one): a core stays free for core routes
/// and short plugin calls while plugins burn their deadlines.
fn default_long_running_calls() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(cores.saturating_sub(1).max(1)).unwrap_or(u32::MAX)
}

/// Twice the cores: enough requests in flight to keep every core busy while
/// others wait on the database, few enough that their instances' memory and
/// fiber stacks stay in the CPU's caches (docs/PERFORMANCE.md, "Turns per plugin").
fn default_plugin_concurrency() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(cores * 2).unwrap_or(u32::MAX)
}

/// An address (`10.0.0.2`) or a network (`10.0.0.0/8`).
fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not an IP address or network (such as 10.0.0.0/8)"))
}

/// An OTLP collector's base URL: http or https, with a host.
fn parse_otlp_endpoint(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim())
        .map_err(|e| format!("`{text}` is not a URL ({e}); give the collector's base URL, such as http://127.0.0.1:4318"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "`{text}` is not an http or https URL with a host, such as http://127.0.0.1:4318"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{text}`: the collector's base URL takes no query or fragment"
        ));
    }
    Ok(url)
}

/// `trusted_proxies` in the TOML file: a list of [`parse_net`] strings.
fn nets<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<IpNet>>, D::Error> {
    let texts = Option::<Vec<String>>::deserialize(d)?;
    texts
        .map(|texts| texts.iter().map(|t| parse_net(t)).collect())
        .transpose()
        .map_err(serde::de::Error::custom)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing the config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings of a TOML file with `text`, and nothing else.
    fn resolve_file(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kai.toml");
        std::fs::write(&file, text).unwrap();
        ServeArgs {
            config: Some(file),
            ..Default::default()
        }
        .resolve()
    }

    #[test]
    fn an_otlp_endpoint_is_an_http_base_url() {
        assert!(
            ServeArgs::default()
                .resolve()
                .unwrap()
                .otlp_endpoint
                .is_none()
        );
        let url = parse_otlp_endpoint("http://127.0.0.1:4318").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:4318/");
        for (bad, says) in [
            ("collector:4318", "not an http or https URL"),
            ("127.0.0.1:4318", "not a URL"),
            ("ftp://collector", "not an http or https URL"),
            ("http://collector/?token=x", "no query"),
        ] {
            let error = parse_otlp_endpoint(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
        let error = resolve_file("otlp_endpoint = \"grpc://collector\"\n").unwrap_err();
        assert!(
            format!("{error:#}").contains("otlp_endpoint: `grpc://collector`"),
            "{error:#}"
        );
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kai.toml");
        std::fs::write(
            &file,
            "plugin_timeout_ms = 2000\nmax_instances = 9\nplugin_concurrency = 0\n\
             [plugin_limits.hello]\nmax_response_bytes = 1024\n",
        )
        .unwrap();
        let config = ServeArgs {
            config: Some(file),
            max_instances: Some(3),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(config.plugin_timeout_ms, 2000);
        assert_eq!(config.max_instances, 3);
        assert_eq!(config.plugin_memory_mib, 64);
        assert_eq!(config.max_response_bytes, 16 << 20);
        assert_eq!(config.plugin_limits["hello"].max_response_bytes, Some(1024));
        assert!(config.trusted_proxies.is_empty());
        // 0 turns the per-plugin limit off; it is not replaced by the default.
        assert_eq!(config.plugin_concurrency, 0);
        let cores = std::thread::available_parallelism().unwrap().get() as u32;
        assert_eq!(
            ServeArgs::default().resolve().unwrap().plugin_concurrency,
            2 * cores
        );
    }

    #[test]
    fn a_log_buffer_too_small_for_a_line_is_refused_by_name() {
        let error = ServeArgs {
            log_buffer_bytes: Some(100),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("log-buffer-bytes must be at least 4096"),
            "{error:#}"
        );
        let config = ServeArgs {
            log_buffer_bytes: Some(4096),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(config.log_buffer_bytes, 4096);
        assert_eq!(
            ServeArgs::default().resolve().unwrap().log_buffer_bytes,
            crate::telemetry::BUFFER_BYTES
        );
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let config = resolve_file("trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.1\"]\n").unwrap();
        assert_eq!(
            config.trusted_proxies,
            vec![
                "10.0.0.0/8".parse::<IpNet>().unwrap(),
                "192.0.2.1/32".parse().unwrap()
            ]
        );
        let error = resolve_file("trusted_proxies = [\"proxy.local\"]\n").unwrap_err();
        assert!(
            format!("{error:#}").contains("`proxy.local` is not an IP address"),
            "{error:#}"
        );
    }

    #[test]
    fn unknown_file_keys_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kai.toml");
        std::fs::write(&file, "plugin_timeout = 2000\n").unwrap();
        let error = ServeArgs {
            config: Some(file),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(format!("{error:#}").contains("plugin_timeout"), "{error:#}");
    }
}
