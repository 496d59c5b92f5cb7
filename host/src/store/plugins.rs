//! The plugin registry tables: which version of each plugin serves, whether
//! it is enabled, and the bytes of every version ever installed.

use super::Db;
use crate::domain::HttpMount;
use crate::util::now_micros;

/// Where a plugin's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Compiled into the `kai` binary.
    Bundled,
    /// A `.wasm` file in `--plugins-dir`.
    Directory,
    /// Uploaded through the admin API.
    Upload,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Bundled => "bundled",
            Source::Directory => "directory",
            Source::Upload => "upload",
        }
    }

    pub fn parse(text: &str) -> Source {
        match text {
            "bundled" => Source::Bundled,
            "directory" => Source::Directory,
            _ => Source::Upload,
        }
    }
}

/// The serving version of a plugin, as recorded.
#[derive(Debug, Clone)]
pub struct ActivePlugin {
    pub name: String,
    pub version: String,
    pub enabled: bool,
    pub source: Source,
    pub wasm: Vec<u8>,
    /// Set when the version is a `wasi:http` component.
    pub mount: Option<HttpMount>,
}

/// The serving version of every recorded plugin, with its bytes.
pub async fn active(db: &Db) -> anyhow::Result<Vec<ActivePlugin>> {
    type Row = (String, String, i32, String, Vec<u8>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT p.name, p.version, p.enabled, v.source, v.wasm, v.http_mount \
         FROM plugins p JOIN plugin_versions v ON v.name = p.name AND v.version = p.version \
         ORDER BY p.name",
    )
    .fetch_all(db.reader())
    .await?;
    rows.into_iter()
        .map(|(name, version, enabled, source, wasm, mount)| {
            Ok(ActivePlugin {
                mount: parse_mount(&name, mount)?,
                name,
                version,
                enabled: enabled != 0,
                source: Source::parse(&source),
                wasm,
            })
        })
        .collect()
}

/// A recorded mount, read back.
fn parse_mount(name: &str, mount: Option<String>) -> anyhow::Result<Option<HttpMount>> {
    mount
        .map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| anyhow::anyhow!("the recorded mount of `{name}` is unreadable: {e}"))
        })
        .transpose()
}

/// Every version of `name` ever recorded.
pub async fn versions(db: &Db, name: &str) -> anyhow::Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT version FROM plugin_versions WHERE name = $1")
            .bind(name)
            .fetch_all(db.reader())
            .await?,
    )
}

/// One version of a plugin, as recorded.
pub struct VersionRecord<'a> {
    pub name: &'a str,
    pub version: String,
    /// Hex SHA-256 of `wasm`.
    pub sha256: &'a str,
    /// The checked manifest, as JSON.
    pub manifest: String,
    pub wasm: &'a [u8],
    pub source: Source,
    /// Set when the version is a `wasi:http` component.
    pub mount: Option<&'a HttpMount>,
}

/// Keeps the bytes of a version (installed, or waiting for grants).
pub async fn record_version(db: &Db, plugin: &VersionRecord<'_>) -> anyhow::Result<()> {
    let mut tx = db.writer().begin().await?;
    insert_version(&mut tx, plugin).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_version(
    conn: &mut sqlx::AnyConnection,
    plugin: &VersionRecord<'_>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO plugin_versions \
         (name, version, sha256, wasm, manifest, source, installed_at, http_mount) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (name, version) DO UPDATE SET sha256 = excluded.sha256, wasm = excluded.wasm, \
         manifest = excluded.manifest, source = excluded.source, http_mount = excluded.http_mount",
    )
    .bind(plugin.name)
    .bind(&plugin.version)
    .bind(plugin.sha256)
    .bind(plugin.wasm)
    .bind(&plugin.manifest)
    .bind(plugin.source.as_str())
    .bind(now_micros())
    .bind(
        plugin
            .mount
            .map(|m| serde_json::to_string(m).expect("mounts serialize")),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records `plugin` as the serving version of its name, keeping its bytes.
pub async fn record_active(db: &Db, plugin: &VersionRecord<'_>) -> anyhow::Result<()> {
    let now = now_micros();
    let name = plugin.name;
    let version = &plugin.version;
    let mut tx = db.writer().begin().await?;
    insert_version(&mut tx, plugin).await?;
    sqlx::query(
        "INSERT INTO plugins (name, version, enabled, updated_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(version)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The serving version, enabled state and hash of every recorded plugin
/// (without the bytes), for comparing with what a node runs.
pub async fn states(db: &Db) -> anyhow::Result<Vec<(String, String, bool, String)>> {
    let rows: Vec<(String, String, i32, String)> = sqlx::query_as(
        "SELECT p.name, p.version, p.enabled, v.sha256 FROM plugins p \
         JOIN plugin_versions v ON v.name = p.name AND v.version = p.version ORDER BY p.name",
    )
    .fetch_all(db.reader())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, version, enabled, sha256)| (name, version, enabled != 0, sha256))
        .collect())
}

/// What it takes to load one recorded version.
pub struct StoredVersion {
    pub wasm: Vec<u8>,
    pub source: Source,
    /// Set when the version is a `wasi:http` component.
    pub mount: Option<HttpMount>,
}

/// The bytes, source and mount of one recorded version.
pub async fn version_bytes(
    db: &Db,
    name: &str,
    version: &str,
) -> anyhow::Result<Option<StoredVersion>> {
    let row: Option<(Vec<u8>, String, Option<String>)> = sqlx::query_as(
        "SELECT wasm, source, http_mount FROM plugin_versions WHERE name = $1 AND version = $2",
    )
    .bind(name)
    .bind(version)
    .fetch_optional(db.reader())
    .await?;
    row.map(|(wasm, source, mount)| {
        Ok(StoredVersion {
            wasm,
            source: Source::parse(&source),
            mount: parse_mount(name, mount)?,
        })
    })
    .transpose()
}

pub async fn set_enabled(db: &Db, name: &str, enabled: bool) -> anyhow::Result<()> {
    sqlx::query("UPDATE plugins SET enabled = $1, updated_at = $2 WHERE name = $3")
        .bind(i32::from(enabled))
        .bind(now_micros())
        .bind(name)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Forgets that `name` is installed (its versions and tables stay).
pub async fn remove(db: &Db, name: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM plugins WHERE name = $1")
        .bind(name)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// One change of the plugin set, as recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginEvent {
    pub action: String,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub actor: Option<String>,
    pub plan: Option<serde_json::Value>,
    pub at: String,
}

/// Records a change of the plugin set, and counts it
/// (`kai_plugin_changes_total`).
pub async fn record_event(
    db: &Db,
    plugin: &str,
    action: &str,
    from: Option<&str>,
    to: Option<&str>,
    actor: Option<&str>,
    plan: Option<&serde_json::Value>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO plugin_events (id, plugin, action, from_version, to_version, actor, plan, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(plugin)
    .bind(action)
    .bind(from)
    .bind(to)
    .bind(actor)
    .bind(plan.map(|p| p.to_string()))
    .bind(now_micros())
    .execute(db.writer())
    .await?;
    metrics::counter!(
        crate::telemetry::metrics::PLUGIN_CHANGES,
        "plugin" => plugin.to_string(),
        "action" => action.to_string()
    )
    .increment(1);
    Ok(())
}

/// The recorded changes of `plugin`, oldest first.
pub async fn history(db: &Db, plugin: &str) -> anyhow::Result<Vec<PluginEvent>> {
    type EventRow = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
    );
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT action, from_version, to_version, actor, plan, at FROM plugin_events WHERE plugin = $1 ORDER BY id",
    )
    .bind(plugin)
    .fetch_all(db.reader())
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(action, from_version, to_version, actor, plan, at)| PluginEvent {
                action,
                from_version,
                to_version,
                actor,
                plan: plan.and_then(|p| serde_json::from_str(&p).ok()),
                at: crate::util::format_micros(at),
            },
        )
        .collect())
}

/// The operator's recorded grant decision for `plugin`: what it requested
/// and what was granted, each as JSON.
pub async fn grant_decision(db: &Db, plugin: &str) -> anyhow::Result<Option<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT requested, granted FROM plugin_grants WHERE plugin = $1")
            .bind(plugin)
            .fetch_optional(db.reader())
            .await?,
    )
}

/// Records the operator's grant decision for `plugin` (each side as JSON).
pub async fn save_grant_decision(
    db: &Db,
    plugin: &str,
    requested: &str,
    granted: &str,
    by: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO plugin_grants (plugin, requested, granted, granted_by, granted_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (plugin) DO UPDATE SET \
         requested = excluded.requested, granted = excluded.granted, \
         granted_by = excluded.granted_by, granted_at = excluded.granted_at",
    )
    .bind(plugin)
    .bind(requested)
    .bind(granted)
    .bind(by)
    .bind(now_micros())
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Deletes what `plugin` keeps outside its own tables (its key-value
/// entries and its grant decision), for a purging removal.
pub async fn forget_data(db: &Db, plugin: &str) -> anyhow::Result<()> {
    for table in ["plugin_kv", "plugin_grants"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE plugin = $1"))
            .bind(plugin)
            .execute(db.writer())
            .await?;
    }
    db.kv_cache().invalidate_plugin(plugin);
    Ok(())
}

/// The PostgreSQL channel on which nodes announce plugin changes.
const CHANGES: &str = "kai_plugins";

/// Tells the other nodes on this PostgreSQL database that `plugin`
/// changed (a no-op on SQLite, which one process owns).
pub async fn announce_change(db: &Db, plugin: &str) -> Result<(), sqlx::Error> {
    if db.backend() != super::Backend::Postgres {
        return Ok(());
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANGES)
        .bind(plugin)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// A connection that receives the names of plugins other nodes changed.
pub async fn listen_for_changes(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANGES).await?;
    Ok(listener)
}
