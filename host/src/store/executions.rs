//! Workflow executions (`workflow_executions`) and their timelines
//! (`workflow_steps`): the queue every runner takes work from.
//!
//! A runner takes an execution by one conditional `UPDATE ... RETURNING`
//! of the earliest due one whose lease has run out (PostgreSQL skips rows
//! another runner is taking: `FOR UPDATE SKIP LOCKED`), and every write it
//! makes after is fenced by its lease: the execution must still be live
//! and leased to it, or nothing is written.

use super::Backend;
use super::query::select::{Scope, SelectSpec};
use super::session::Session;
use super::{StoreError, core_tables};
use crate::domain::execution::{Execution, ExecutionStatus, StartedBy, StepRecord, StepStatus};
use crate::domain::{Filter, Order, Value};
use sqlx::Row;
use sqlx::any::AnyRow;

const COLUMNS: &str = "id, workflow_id, version, owner, status, input, output, error, thread_id, \
                       steps, created_at, started_at, finished_at, updated_at, due_at, parent_id, \
                       started_by, root_id";

/// Live statuses: the ones a runner may take.
const LIVE: &str = "('queued', 'running', 'waiting')";

fn json_of(index: &str, text: &str) -> Result<serde_json::Value, sqlx::Error> {
    serde_json::from_str(text).map_err(|error| sqlx::Error::ColumnDecode {
        index: index.into(),
        source: Box::new(error),
    })
}

/// The JSON text in column `index` (named `name`), if not null.
fn optional_json(
    row: &AnyRow,
    index: usize,
    name: &str,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    row.try_get::<Option<String>, _>(index)?
        .map(|text| json_of(name, &text))
        .transpose()
}

/// A status column read with `parse`.
fn status_of<T>(
    row: &AnyRow,
    index: usize,
    parse: fn(&str) -> Option<T>,
) -> Result<T, sqlx::Error> {
    let text: String = row.try_get(index)?;
    parse(&text).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: "status".into(),
        source: format!("unknown status `{text}`").into(),
    })
}

fn from_row(row: &AnyRow) -> Result<Execution, sqlx::Error> {
    Ok(Execution {
        id: row.try_get(0)?,
        workflow_id: row.try_get(1)?,
        version: row.try_get(2)?,
        owner: row.try_get(3)?,
        status: status_of(row, 4, ExecutionStatus::parse)?,
        input: json_of("input", &row.try_get::<String, _>(5)?)?,
        output: optional_json(row, 6, "output")?,
        error: row.try_get(7)?,
        thread_id: row.try_get(8)?,
        steps: row.try_get(9)?,
        created_at: row.try_get(10)?,
        started_at: row.try_get(11)?,
        finished_at: row.try_get(12)?,
        updated_at: row.try_get(13)?,
        due_at: row.try_get(14)?,
        parent_id: row.try_get(15)?,
        started_by: status_of(row, 16, StartedBy::parse)?,
        root_id: row.try_get(17)?,
    })
}

pub async fn insert(session: &Session, execution: &Execution) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query(&format!(
        "INSERT INTO workflow_executions ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    ))
    .bind(&execution.id)
    .bind(&execution.workflow_id)
    .bind(execution.version)
    .bind(&execution.owner)
    .bind(execution.status.as_str())
    .bind(execution.input.to_string())
    .bind(execution.output.as_ref().map(|o| o.to_string()))
    .bind(&execution.error)
    .bind(&execution.thread_id)
    .bind(execution.steps)
    .bind(execution.created_at)
    .bind(execution.started_at)
    .bind(execution.finished_at)
    .bind(execution.updated_at)
    .bind(execution.due_at)
    .bind(&execution.parent_id)
    .bind(execution.started_by.as_str())
    .bind(&execution.root_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn get(session: &Session, id: &str) -> Result<Option<Execution>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM workflow_executions WHERE id = $1");
    super::read::row_by_id(session, &sql, id, from_row).await
}

/// One page of workflow `workflow_id`'s executions within `scope`, newest
/// first, of `status` when given.
pub async fn page(
    session: &Session,
    workflow_id: &str,
    status: Option<ExecutionStatus>,
    scope: Option<&Scope>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Execution>, Option<String>), StoreError> {
    let mut filter = Filter::eq("workflow_id", Value::Uuid(workflow_id.to_string()));
    if let Some(status) = status {
        filter = filter.and(Filter::eq(
            "status",
            Value::Text(status.as_str().to_string()),
        ));
    }
    let spec = SelectSpec {
        schema: core_tables::workflow_executions(),
        fields: None,
        filter: &filter,
        scope,
        order: &[Order::desc("created_at")],
        limit,
        cursor,
        cursor_key: session.db().cursor_key(),
    };
    super::read::fetch_page(session, &spec, from_row).await
}

/// Takes the earliest due live execution whose lease has run out, for
/// `runner`, leased for `lease_micros`; a queued one becomes running. The
/// time is read once the writer is held, so that on SQLite claims are
/// stamped in the order they are made.
pub async fn claim(
    session: &Session,
    runner: &str,
    lease_micros: i64,
) -> Result<Option<Execution>, sqlx::Error> {
    let skip_locked = match session.db().backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE workflow_executions SET lease_owner = $1, lease_until = $2, \
         status = CASE WHEN status = 'queued' THEN 'running' ELSE status END, \
         started_at = COALESCE(started_at, $3), updated_at = $3 \
         WHERE id = (SELECT id FROM workflow_executions \
             WHERE status IN {LIVE} AND due_at <= $3 \
             AND (lease_until IS NULL OR lease_until < $3) \
             ORDER BY due_at, id LIMIT 1{skip_locked}) \
         AND (lease_until IS NULL OR lease_until < $3) \
         RETURNING {COLUMNS}"
    );
    let mut conn = session.write_conn().await?;
    let now = crate::util::now_micros();
    let row = sqlx::query(&sql)
        .bind(runner)
        .bind(now + lease_micros)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Whether a live execution is due by `now` with its lease run out.
pub async fn any_due(session: &Session, now: i64) -> Result<bool, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let row = sqlx::query(&format!(
        "SELECT 1 FROM workflow_executions WHERE status IN {LIVE} AND due_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) LIMIT 1"
    ))
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// What a runner writes of an execution after a step.
pub struct Progress<'a> {
    pub status: ExecutionStatus,
    pub output: Option<&'a serde_json::Value>,
    pub error: Option<&'a str>,
    /// Attempts recorded by this write.
    pub new_steps: i64,
    pub finished_at: Option<i64>,
    pub due_at: i64,
    /// The lease kept (`Some`) or let go (`None`).
    pub lease_until: Option<i64>,
    pub now: i64,
}

/// Writes `progress` if `runner` still holds execution `id`'s lease and
/// it is live; false, with nothing written, when it does not (it was
/// cancelled, or another runner took it).
pub async fn record(
    session: &Session,
    id: &str,
    runner: &str,
    progress: &Progress<'_>,
) -> Result<bool, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    let sql = format!(
        "UPDATE workflow_executions SET status = $1, output = $2, error = $3, \
         steps = steps + $4, finished_at = $5, due_at = $6, \
         lease_owner = CASE WHEN $7 IS NULL THEN NULL ELSE lease_owner END, \
         lease_until = $7, updated_at = $8 \
         WHERE id = $9 AND lease_owner = $10 AND status IN {LIVE} RETURNING id"
    );
    let row = sqlx::query(&sql)
        .bind(progress.status.as_str())
        .bind(progress.output.map(|o| o.to_string()))
        .bind(progress.error)
        .bind(progress.new_steps)
        .bind(progress.finished_at)
        .bind(progress.due_at)
        .bind(progress.lease_until)
        .bind(progress.now)
        .bind(id)
        .bind(runner)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// Moves `runner`'s lease on live execution `id` on to `lease_until`;
/// false when it no longer holds it.
pub async fn renew(
    session: &Session,
    id: &str,
    runner: &str,
    lease_until: i64,
) -> Result<bool, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    let done = sqlx::query(&format!(
        "UPDATE workflow_executions SET lease_until = $1 \
         WHERE id = $2 AND lease_owner = $3 AND status IN {LIVE}"
    ))
    .bind(lease_until)
    .bind(id)
    .bind(runner)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records attempts in execution `id`'s timeline, numbered on from
/// `first_seq`.
pub async fn insert_steps(
    session: &Session,
    id: &str,
    first_seq: i64,
    steps: &[StepRecord],
) -> Result<(), sqlx::Error> {
    if steps.is_empty() {
        return Ok(());
    }
    let mut conn = session.write_conn().await?;
    for (n, step) in steps.iter().enumerate() {
        sqlx::query(
            "INSERT INTO workflow_steps (execution_id, seq, node_id, kind, attempt, status, \
             input, output, error, started_at, duration_us, worker) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id)
        .bind(first_seq + n as i64)
        .bind(&step.node_id)
        .bind(&step.kind)
        .bind(i64::from(step.attempt))
        .bind(step.status.as_str())
        .bind(step.input.to_string())
        .bind(step.output.as_ref().map(|o| o.to_string()))
        .bind(&step.error)
        .bind(step.started_at)
        .bind(step.duration_us)
        .bind(&step.worker)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Execution `id`'s timeline from `after_seq` on, oldest first, at most
/// `limit` attempts.
pub async fn steps(
    session: &Session,
    id: &str,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<StepRecord>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let rows = sqlx::query(
        "SELECT seq, node_id, kind, attempt, status, input, output, error, started_at, \
         duration_us, worker FROM workflow_steps WHERE execution_id = $1 AND seq > $2 \
         ORDER BY seq LIMIT $3",
    )
    .bind(id)
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StepRecord {
                seq: row.try_get(0)?,
                node_id: row.try_get(1)?,
                kind: row.try_get(2)?,
                attempt: row.try_get::<i64, _>(3)? as u32,
                status: status_of(row, 4, StepStatus::parse)?,
                input: json_of("input", &row.try_get::<String, _>(5)?)?,
                output: optional_json(row, 6, "output")?,
                error: row.try_get(7)?,
                started_at: row.try_get(8)?,
                duration_us: row.try_get(9)?,
                worker: row.try_get(10)?,
            })
        })
        .collect()
}

/// Ends live execution `id` as cancelled; false when it had already ended.
pub async fn cancel(session: &Session, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    let row = sqlx::query(&format!(
        "UPDATE workflow_executions SET status = 'cancelled', finished_at = $1, updated_at = $1, \
         lease_owner = NULL, lease_until = NULL WHERE id = $2 AND status IN {LIVE}"
    ))
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(row.rows_affected() == 1)
}

/// The live sub-runs of execution `id`.
pub async fn live_children(session: &Session, id: &str) -> Result<Vec<String>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let rows = sqlx::query(&format!(
        "SELECT id FROM workflow_executions WHERE parent_id = $1 AND status IN {LIVE}"
    ))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|row| row.try_get(0)).collect()
}

/// How many sub-runs the tree under top run `root_id` has started.
pub async fn sub_runs_under(session: &Session, root_id: &str) -> Result<i64, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    sqlx::query_scalar("SELECT COUNT(*) FROM workflow_executions WHERE root_id = $1")
        .bind(root_id)
        .fetch_one(&mut *conn)
        .await
}

/// Makes live execution `id` due by `now` (a sub-run it waits for ended).
pub async fn wake(session: &Session, id: &str, now: i64) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query(&format!(
        "UPDATE workflow_executions SET due_at = CASE WHEN due_at > $1 THEN $1 ELSE due_at END \
         WHERE id = $2 AND status IN {LIVE}"
    ))
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues failed execution `id` again, due now; false when it is not
/// failed (any more).
pub async fn requeue(session: &Session, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    let done = sqlx::query(
        "UPDATE workflow_executions SET status = 'queued', error = NULL, finished_at = NULL, \
         due_at = $1, updated_at = $1, lease_owner = NULL, lease_until = NULL \
         WHERE id = $2 AND status = 'failed'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The StateManager threads of workflow `workflow_id`'s executions.
pub async fn thread_ids(session: &Session, workflow_id: &str) -> Result<Vec<String>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let rows = sqlx::query("SELECT thread_id FROM workflow_executions WHERE workflow_id = $1")
        .bind(workflow_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|row| row.try_get(0)).collect()
}

/// Up to `limit` executions that ended before `cutoff`: their ids and
/// threads, oldest first.
pub async fn ended_before(
    session: &Session,
    cutoff: i64,
    limit: u32,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let rows = sqlx::query(
        "SELECT id, thread_id FROM workflow_executions \
         WHERE finished_at IS NOT NULL AND finished_at < $1 ORDER BY finished_at LIMIT $2",
    )
    .bind(cutoff)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Deletes execution `id` (its timeline goes with it).
pub async fn delete(session: &Session, id: &str) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query("DELETE FROM workflow_executions WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
