//! Process-wide settings of the SQLite library, applied once before the
//! first connection opens (SQLite accepts them only before it initializes).
//!
//! Memory statistics are turned off. SQLite keeps them by default, and to
//! keep them every `sqlite3_malloc` and `sqlite3_free` takes one mutex for
//! the whole process. A versions read makes about 260 of each (sqlx copies
//! every value it fetches), on every connection's worker thread, so all the
//! readers and the writer take turns on that one lock, and its cache line
//! moves between the cores. Nothing in KAI-Fusion reads the statistics (no
//! `sqlite3_memory_used`, no soft heap limit), and SQLite's documentation
//! lists turning them off among its recommended settings for speed
//! (`SQLITE_DEFAULT_MEMSTATUS=0`).

use std::os::raw::c_int;
use std::sync::Once;

/// Applies the settings, once per process. Call before opening a SQLite
/// connection; later calls do nothing.
pub fn configure() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` is safe to call before SQLite
        // initializes; after, it changes nothing and returns
        // SQLITE_MISUSE. `Once` keeps two threads from calling it at once,
        // which SQLite does not allow. MEMSTATUS takes one int argument.
        let code = unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as c_int)
        };
        if code != libsqlite3_sys::SQLITE_OK {
            // Something opened a connection first: SQLite keeps its
            // defaults, which are correct, only slower.
            tracing::debug!(
                code,
                "SQLite was already initialized; memory statistics stay on"
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::db::Db;

    #[tokio::test]
    async fn a_database_kai_opens_runs_without_sqlite_memory_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(dir.path()).await.unwrap();
        // The migrations allocate plenty inside SQLite.
        db.migrate().await.unwrap();
        // SAFETY: reads a counter; no arguments.
        let counted = unsafe { libsqlite3_sys::sqlite3_memory_used() };
        assert_eq!(
            counted, 0,
            "SQLite still counts its memory: {counted} bytes"
        );
    }
}
