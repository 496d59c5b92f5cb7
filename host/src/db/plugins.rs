//! The plugin registry tables: which version of each plugin serves, whether
//! it is enabled, and the bytes of every version ever installed.

use super::Db;
use crate::runtime::plugin::LoadedPlugin;
use crate::util::now_micros;
use sqlx::Row;

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

    fn parse(text: &str) -> Source {
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
}

/// The serving version of every recorded plugin, with its bytes.
pub async fn active(db: &Db) -> anyhow::Result<Vec<ActivePlugin>> {
    let rows = sqlx::query(
        "SELECT p.name, p.version, p.enabled, v.source, v.wasm \
         FROM plugins p JOIN plugin_versions v ON v.name = p.name AND v.version = p.version \
         ORDER BY p.name",
    )
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ActivePlugin {
                name: row.try_get(0)?,
                version: row.try_get(1)?,
                enabled: row.try_get::<i32, _>(2)? != 0,
                source: Source::parse(row.try_get::<String, _>(3)?.as_str()),
                wasm: row.try_get(4)?,
            })
        })
        .collect()
}

/// Every version of `name` ever recorded.
pub async fn versions(db: &Db, name: &str) -> anyhow::Result<Vec<String>> {
    let rows = sqlx::query("SELECT version FROM plugin_versions WHERE name = $1")
        .bind(name)
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}

/// Records `plugin` as the serving version of its name, keeping its bytes.
pub async fn record_active(
    db: &Db,
    plugin: &LoadedPlugin,
    wasm: &[u8],
    source: Source,
) -> anyhow::Result<()> {
    let now = now_micros();
    let name = &plugin.manifest.name;
    let version = plugin.manifest.version.to_string();
    let mut tx = db.writer().begin().await?;
    sqlx::query(
        "INSERT INTO plugin_versions (name, version, sha256, wasm, manifest, source, installed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (name, version) DO UPDATE SET sha256 = excluded.sha256, wasm = excluded.wasm, \
         manifest = excluded.manifest, source = excluded.source",
    )
    .bind(name)
    .bind(&version)
    .bind(&plugin.sha256)
    .bind(wasm)
    .bind(serde_json::to_string(&plugin.manifest)?)
    .bind(source.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO plugins (name, version, enabled, updated_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(&version)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
