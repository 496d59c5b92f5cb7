//! A unit of work: everything one request (or one change and its
//! transactional hooks) does to the database, committed together or not at
//! all.
//!
//! The write transaction begins lazily, on the first write. Reads before
//! that use the read pool, so read-only plugin requests never queue behind
//! writers; reads after it go through the transaction and see its writes.
//! The session is shared (`Arc`) between the host code that started it and
//! every plugin call made on its behalf, so a transactional hook's writes
//! join the transaction of the change that triggered it.

use super::Db;
use futures::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor, Transaction};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// An open savepoint (see [`Session::savepoint`]).
#[must_use = "a savepoint must be ended"]
pub struct Savepoint(String);

pub struct Session {
    db: Db,
    tx: Mutex<Option<Transaction<'static, Any>>>,
    savepoints: AtomicU32,
    /// Plugin key-value entries written, (plugin, key): pending in the
    /// [`KvCache`](super::kv_cache::KvCache) until the session ends.
    kv_written: std::sync::Mutex<Vec<(String, String)>>,
    /// Whether an event went into the outbox, so committing should wake
    /// the delivery worker (most writes queue none).
    queued_events: AtomicBool,
    /// Whether a workflow run's step makes this session's changes: they
    /// start no workflow by a trigger, so that a workflow cannot feed
    /// itself.
    within_run: AtomicBool,
}

/// A connection borrowed from a session: its transaction, or (for reads
/// before any write) a pooled connection.
pub enum Conn<'a> {
    Tx(MappedMutexGuard<'a, AnyConnection>),
    Pool(PoolConnection<Any>),
}

impl Deref for Conn<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Conn::Tx(guard) => guard,
            Conn::Pool(conn) => conn,
        }
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Conn::Tx(guard) => guard,
            Conn::Pool(conn) => conn,
        }
    }
}

impl Session {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            tx: Mutex::new(None),
            savepoints: AtomicU32::new(0),
            kv_written: Default::default(),
            queued_events: AtomicBool::new(false),
            within_run: AtomicBool::new(false),
        }
    }

    /// Marks the session as a workflow step's (see `within_run`).
    pub fn mark_within_run(&self) {
        self.within_run.store(true, Ordering::Relaxed);
    }

    /// Whether a workflow step makes this session's changes.
    pub fn within_run(&self) -> bool {
        self.within_run.load(Ordering::Relaxed)
    }

    /// Whether the write transaction has begun (it holds SQLite's one
    /// writer, or row locks on PostgreSQL, until the session ends). A
    /// snapshot: only for decisions that tolerate a race.
    pub fn is_writing(&self) -> bool {
        self.tx.try_lock().map_or(true, |tx| tx.is_some())
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The write transaction, begun if needed. Hold it only for the
    /// statements at hand: plugin calls made meanwhile need it too.
    pub async fn write_conn(&self) -> Result<Conn<'_>, sqlx::Error> {
        let mut guard = self.tx.lock().await;
        if guard.is_none() {
            *guard = Some(self.db.writer().begin().await?);
        }
        Ok(Conn::Tx(MutexGuard::map(guard, |tx| {
            &mut **tx.as_mut().expect("transaction just begun")
        })))
    }

    /// A connection for reads: the transaction when one is open (so reads
    /// see this session's writes), a pooled reader otherwise.
    pub async fn read_conn(&self) -> Result<Conn<'_>, sqlx::Error> {
        let guard = self.tx.lock().await;
        if guard.is_some() {
            return Ok(Conn::Tx(MutexGuard::map(guard, |tx| {
                &mut **tx.as_mut().expect("checked above")
            })));
        }
        drop(guard);
        Ok(Conn::Pool(self.db.reader().acquire().await?))
    }

    /// Opens a savepoint. Pair it with [`Session::end_savepoint`]: if the
    /// work in between failed, its writes (and those of any hooks it
    /// triggered) are undone while earlier writes of the session stay. A
    /// plugin that catches a failed host call therefore cannot commit half
    /// of the operation.
    pub async fn savepoint(&self) -> Result<Savepoint, sqlx::Error> {
        let name = format!("kai_sp_{}", self.savepoints.fetch_add(1, Ordering::Relaxed));
        self.execute_raw(format!("SAVEPOINT {name}")).await?;
        Ok(Savepoint(name))
    }

    /// Closes a savepoint, keeping its writes or undoing them.
    pub async fn end_savepoint(&self, savepoint: Savepoint, keep: bool) -> Result<(), sqlx::Error> {
        let name = savepoint.0;
        if !keep {
            self.execute_raw(format!("ROLLBACK TO SAVEPOINT {name}"))
                .await?;
        }
        self.execute_raw(format!("RELEASE SAVEPOINT {name}")).await
    }

    /// Runs statements without parameters in the write transaction. Boxed
    /// so its future is `Send` for every caller lifetime.
    fn execute_raw(&self, sql: String) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let mut conn = self.write_conn().await?;
            conn.execute(sql.as_str()).await?;
            Ok(())
        })
    }

    /// Notes that an event for after-commit delivery was queued.
    pub fn queued_event(&self) {
        self.queued_events.store(true, Ordering::Relaxed);
    }

    /// Whether an after-commit event was queued in this session.
    pub fn has_queued_events(&self) -> bool {
        self.queued_events.load(Ordering::Relaxed)
    }

    /// Notes that `plugin`'s `key` was written in this session.
    pub fn wrote_kv(&self, plugin: &str, key: &str) {
        let cache = self.db.kv_cache();
        if !cache.enabled() {
            return;
        }
        cache.begin_write(plugin, key);
        self.kv_written_entries()
            .push((plugin.to_string(), key.to_string()));
    }

    fn kv_written_entries(&self) -> std::sync::MutexGuard<'_, Vec<(String, String)>> {
        self.kv_written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the pending state of the keys written (the session committed,
    /// rolled back or was dropped).
    fn end_kv_writes(&self) {
        let written = std::mem::take(&mut *self.kv_written_entries());
        for (plugin, key) in &written {
            self.db.kv_cache().end_write(plugin, key);
        }
    }

    /// Commits what was written (nothing to do if nothing was).
    pub async fn commit(&self) -> Result<(), sqlx::Error> {
        if let Some(tx) = self.tx.lock().await.take() {
            let committed = tx.commit().await;
            self.end_kv_writes();
            committed?;
        }
        Ok(())
    }

    /// Discards what was written.
    pub async fn rollback(&self) {
        let rollback = self.tx.lock().await.take();
        if let Some(tx) = rollback
            && let Err(error) = tx.rollback().await
        {
            tracing::warn!(%error, "rollback failed; the connection is discarded");
        }
        self.end_kv_writes();
    }
}

impl Drop for Session {
    /// A session dropped unfinished rolls back with its transaction; its
    /// keys must not stay pending.
    fn drop(&mut self) {
        self.end_kv_writes();
    }
}
