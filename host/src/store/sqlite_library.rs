//! Process-wide settings of the SQLite library, applied once before the
//! first connection opens (SQLite accepts them only before it initializes).
//!
//! - **No memory statistics.** SQLite keeps them by default, and to keep
//!   them every `sqlite3_malloc` and `sqlite3_free` takes one mutex for the
//!   whole process. A versions read makes about 260 of each (sqlx copies
//!   every value it fetches), on every connection's worker thread, so all
//!   the readers and the writer took turns on that one lock. Nothing in
//!   KAI-Fusion reads the statistics (no `sqlite3_memory_used`, no soft
//!   heap limit), and SQLite's documentation lists turning them off among
//!   its recommended settings for speed (`SQLITE_DEFAULT_MEMSTATUS=0`).
//! - **mimalloc for SQLite's memory.** SQLite otherwise allocates with the
//!   C library's malloc, and its values are freed on another thread than
//!   the one that allocated them (sqlx copies a row on the connection's
//!   worker thread and drops it on a tokio worker), which glibc's arenas
//!   handle with locks. mimalloc, which the rest of `kai` allocates from,
//!   frees across threads without them.

use libmimalloc_sys as mi;
use libsqlite3_sys as ffi;
use std::os::raw::{c_int, c_void};
use std::sync::Once;

/// Applies the settings, once per process. Call before opening a SQLite
/// connection; later calls do nothing.
pub fn configure() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` may be called before SQLite initializes
        // (after, it changes nothing and returns SQLITE_MISUSE), and `Once`
        // keeps two threads from calling it at once, which SQLite does not
        // allow. MEMSTATUS takes an int; MALLOC a pointer to methods that
        // SQLite copies.
        let methods = mimalloc_methods();
        let codes = unsafe {
            [
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &methods),
            ]
        };
        if codes.iter().any(|&code| code != ffi::SQLITE_OK) {
            // Something opened a connection first: SQLite keeps its
            // defaults, which are correct, only slower.
            tracing::debug!(
                ?codes,
                "SQLite was already initialized; it keeps its default settings"
            );
        }
    });
}

/// SQLite's allocator interface over mimalloc. SQLite never asks for zero
/// or negative sizes, and never passes a null pointer to free or size.
fn mimalloc_methods() -> ffi::sqlite3_mem_methods {
    ffi::sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    }
}

unsafe extern "C" fn malloc(bytes: c_int) -> *mut c_void {
    // SAFETY: any size is valid for mi_malloc (it returns null on failure,
    // which SQLite reports as SQLITE_NOMEM); blocks are 8-byte aligned or
    // more, as SQLite requires.
    unsafe { mi::mi_malloc(usize::try_from(bytes).unwrap_or(0)) }
}

unsafe extern "C" fn free(block: *mut c_void) {
    // SAFETY: SQLite frees only blocks `malloc`/`realloc` returned.
    unsafe { mi::mi_free(block) }
}

unsafe extern "C" fn realloc(block: *mut c_void, bytes: c_int) -> *mut c_void {
    // SAFETY: as for `free`; on failure the old block stays valid, as
    // SQLite expects.
    unsafe { mi::mi_realloc(block, usize::try_from(bytes).unwrap_or(0)) }
}

unsafe extern "C" fn size(block: *mut c_void) -> c_int {
    // SAFETY: as for `free`.
    let usable = unsafe { mi::mi_usable_size(block) };
    c_int::try_from(usable).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn roundup(bytes: c_int) -> c_int {
    // SAFETY: a pure function of the size.
    let good = unsafe { mi::mi_good_size(usize::try_from(bytes).unwrap_or(0)) };
    c_int::try_from(good).unwrap_or(bytes)
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use crate::store::Db;

    #[tokio::test]
    async fn a_database_kai_opens_runs_on_mimalloc_without_memory_statistics() {
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
        // SAFETY: a block from SQLite's allocator, checked, then given back.
        unsafe {
            let block = libsqlite3_sys::sqlite3_malloc(100);
            assert!(!block.is_null());
            let from_mimalloc = libmimalloc_sys::mi_is_in_heap_region(block);
            libsqlite3_sys::sqlite3_free(block);
            assert!(from_mimalloc, "SQLite allocated outside mimalloc");
        }
    }
}
