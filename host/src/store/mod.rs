//! The data layer. Database access: one [`Db`] handle over SQLite (embedded,
//! the default) or PostgreSQL, the migrations, and one module of queries per
//! table group.
//!
//! Both backends go through sqlx's `Any` driver with the same SQL: `$n`
//! placeholders (SQLite accepts them), BIGINT microsecond timestamps, TEXT
//! ids. Where SQL must differ, [`Backend`] says which to use; the
//! migrations have one source ([`migrations`]).
//!
//! SQLite allows one writer at a time. Rather than let writers collide and
//! spin on `SQLITE_BUSY`, writes go through a single-connection pool (they
//! queue in-process) while reads use their own pool under WAL. On
//! PostgreSQL both names point at one pool.
//!
//! - [`backend`]: which database engine is in use.
//! - [`collections`], [`documents`]: the core models' rows.
//! - [`stats`]: per-collection statistics kept in step with documents.
//! - [`core_tables`]: the core tables as the query compiler sees them.
//! - [`credentials`]: credential rows, their secrets sealed.
//! - [`keys`]: the master keys' records and the servers' heartbeats.
//! - [`outbox`]: events waiting for after-commit delivery.
//! - [`plugins`]: the plugin registry (versions, bytes, enabled state).
//! - [`plugin_rows`]: writes to the tables of plugin-declared models.
//! - [`users`]: users and API tokens.
//! - [`state`]: the StateManager's threads, checkpoints and pending writes.
//! - [`memory`]: the MemoryManager's sessions and messages.
//! - [`workflows`], [`executions`]: workflow definitions; executions, the
//!   queue runners take them from, and their timelines.
//! - [`search`]: full-text search over documents, on either engine.
//! - [`session`]: a unit of work shared by the host and plugin calls.
//! - [`read`]: reading in a session: by id, a page, a count, an aggregate.
//! - [`kv`]: plugins' key-value entries.
//! - [`kv_cache`]: committed plugin key-value entries, kept in memory.
//! - [`migrations`]: the host's tables, one source for both backends.
//! - [`sqlite_library`]: process-wide settings of the SQLite library.
//! - [`query`]: the plugin query language compiled to bound SQL.
//! - [`schema`]: plugin-declared models as real tables, and migrations.

pub mod backend;
pub mod collections;
pub mod core_tables;
pub mod credentials;
pub mod documents;
pub mod executions;
pub mod keys;
pub mod kv;
pub mod kv_cache;
pub mod memory;
pub mod migrations;
pub mod outbox;
pub mod plugin_rows;
pub mod plugins;
pub mod query;
pub mod read;
pub mod schema;
pub mod search;
pub mod session;
pub mod sqlite_library;
pub mod state;
pub mod stats;
pub mod users;
pub mod workflows;

use crate::store::query::cursor::CursorKey;
use anyhow::Context;
pub use backend::Backend;
use kv_cache::KvCache;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Pools for reading and writing.
#[derive(Clone, Debug)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    kv_cache: Arc<KvCache>,
    /// The key listing cursors are signed with, read by [`Db::migrate`].
    cursor_key: Arc<OnceLock<CursorKey>>,
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; \
     PRAGMA busy_timeout = 5000;";

impl Db {
    /// Opens (creating it if needed) the embedded database in `data_dir`.
    /// A new database file is created 0600 in a 0700 directory; SQLite
    /// gives its `-wal` and `-shm` files the database file's mode.
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<Self> {
        crate::files::private_dir(data_dir)?;
        let path = data_dir.join("kai.db");
        crate::files::touch_private(&path)?;
        Self::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Connects to `url` (`sqlite://...` or `postgres://...`).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL: use sqlite://PATH or postgres://...");
        };
        let db = match backend {
            Backend::Sqlite => {
                sqlite_library::configure();
                let options = || {
                    AnyPoolOptions::new()
                        .acquire_timeout(Duration::from_secs(10))
                        // A connection to a local file does not go stale;
                        // pinging it on every checkout (through its worker
                        // thread) cost more than the reads themselves.
                        .test_before_acquire(false)
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                conn.execute(SQLITE_PRAGMAS).await?;
                                Ok(())
                            })
                        })
                };
                let write = options().max_connections(1).connect(url).await?;
                let read = options().max_connections(8).connect(url).await?;
                Db {
                    read,
                    write,
                    backend,
                    // Only this process writes the file: the cache is exact.
                    kv_cache: Arc::new(KvCache::new(true)),
                    cursor_key: Arc::default(),
                }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .context("connecting to PostgreSQL")?;
                Db {
                    read: pool.clone(),
                    write: pool,
                    backend,
                    // Other nodes write the same rows.
                    kv_cache: Arc::new(KvCache::new(false)),
                    cursor_key: Arc::default(),
                }
            }
        };
        Ok(db)
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        migrations::migrator(self.backend)
            .await?
            .run(&self.write)
            .await
            .context("running database migrations")?;
        let key = self.server_secret("cursor_key").await?;
        let _ = self.cursor_key.set(CursorKey::new(key));
        Ok(())
    }

    /// The deployment's secret `name`, made (32 random bytes) by whichever
    /// node asks first.
    async fn server_secret(&self, name: &str) -> anyhow::Result<[u8; 32]> {
        let mut fresh = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut fresh);
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh.to_vec())
        .bind(crate::util::now_micros())
        .execute(&self.write)
        .await?;
        let stored: Vec<u8> = sqlx::Row::try_get(
            &sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.write)
                .await?,
            0,
        )?;
        stored
            .try_into()
            .map_err(|_| anyhow::anyhow!("the server secret `{name}` is not 32 bytes"))
    }

    /// The key listing cursors are signed with.
    pub fn cursor_key(&self) -> CursorKey {
        *self
            .cursor_key
            .get()
            .expect("the database is migrated before it is queried")
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for reads outside a transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for writes and transactions.
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// The plugins' key-value entries known to be committed.
    pub fn kv_cache(&self) -> &KvCache {
        &self.kv_cache
    }

    /// Closes both pools (on shutdown).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Why a listing or a query failed: the query itself, or the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Query(#[from] query::QueryError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Whether `error` is a broken UNIQUE constraint (on either backend).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}
