//! Gauges of state the database holds, set just before `/metrics` renders
//! (names in `crate::telemetry::metrics`): the connection pools, and the
//! outbox's backlog with the age of its oldest event.

use crate::store::outbox;
use crate::store::{Backend, Db};
use crate::telemetry::metrics::{
    DB_POOL_CONNECTIONS, DB_POOL_MAX, OUTBOX_OLDEST_AGE, OUTBOX_PENDING,
};
use crate::util::now_micros;
use metrics::gauge;

/// Sets the gauges from `db` as it is now.
pub async fn record(db: &Db) {
    // PostgreSQL reads and writes through one pool; SQLite has a pool of
    // readers and its single writer.
    let pools = match db.backend() {
        Backend::Postgres => vec![("shared", db.reader())],
        Backend::Sqlite => vec![("reader", db.reader()), ("writer", db.writer())],
    };
    for (name, pool) in pools {
        let idle = pool.num_idle() as u32;
        let in_use = pool.size().saturating_sub(idle);
        gauge!(DB_POOL_CONNECTIONS, "pool" => name, "state" => "in_use").set(f64::from(in_use));
        gauge!(DB_POOL_CONNECTIONS, "pool" => name, "state" => "idle").set(f64::from(idle));
        gauge!(DB_POOL_MAX, "pool" => name).set(f64::from(pool.options().get_max_connections()));
    }
    match outbox::backlog(db).await {
        Ok((pending, oldest)) => {
            gauge!(OUTBOX_PENDING).set(pending as f64);
            let age = oldest.map_or(0, |at| (now_micros() - at).max(0));
            gauge!(OUTBOX_OLDEST_AGE).set(age as f64 / 1e6);
        }
        Err(error) => tracing::warn!(%error, "reading the outbox backlog for /metrics failed"),
    }
}
