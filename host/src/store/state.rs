//! The StateManager's tables: `state_threads`, `state_checkpoints` and
//! `state_pending_writes`. The compare-and-swap that keeps a thread from
//! advancing twice is one conditional `UPDATE` of the thread's head; the
//! rules around it (who may, what is valid, what a lost race means) are
//! the services'.

use super::query::select::{Scope, SelectSpec};
use super::session::Session;
use super::{Backend, StoreError, core_tables};
use crate::domain::state::{Checkpoint, CheckpointRef, Head, PendingWrite, Thread};
use crate::domain::{Filter, Order, Value};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

const THREAD_COLUMNS: &str = "id, owner, plugin, metadata, keep_last, head, head_step, \
     forked_from_thread, forked_from_checkpoint, created_at, updated_at";

const CHECKPOINT_COLUMNS: &str = "id, thread_id, parent_id, step, state, metadata, created_at";

#[derive(sqlx::FromRow)]
struct ThreadRow {
    id: String,
    owner: String,
    plugin: String,
    metadata: String,
    keep_last: Option<i64>,
    head: String,
    head_step: i64,
    forked_from_thread: Option<String>,
    forked_from_checkpoint: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn thread_from_row(row: &AnyRow) -> Result<Thread, sqlx::Error> {
    let row = ThreadRow::from_row(row)?;
    Ok(Thread {
        id: row.id,
        owner: row.owner,
        plugin: (!row.plugin.is_empty()).then_some(row.plugin),
        metadata: row.metadata,
        keep_last: row.keep_last.map(|n| n as u32),
        head: (!row.head.is_empty()).then_some(Head {
            checkpoint_id: row.head,
            step: row.head_step,
        }),
        forked_from: row.forked_from_thread.zip(row.forked_from_checkpoint).map(
            |(thread_id, checkpoint_id)| CheckpointRef {
                thread_id,
                checkpoint_id,
            },
        ),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    id: String,
    thread_id: String,
    parent_id: Option<String>,
    step: i64,
    state: String,
    metadata: String,
    created_at: i64,
}

fn checkpoint_from_row(row: &AnyRow) -> Result<Checkpoint, sqlx::Error> {
    let row = CheckpointRow::from_row(row)?;
    Ok(Checkpoint {
        id: row.id,
        thread_id: row.thread_id,
        parent_id: row.parent_id,
        step: row.step,
        values: row.state,
        metadata: row.metadata,
        created_at: row.created_at,
    })
}

pub async fn get_thread(session: &Session, id: &str) -> Result<Option<Thread>, sqlx::Error> {
    let sql = format!("SELECT {THREAD_COLUMNS} FROM state_threads WHERE id = $1");
    super::read::row_by_id(session, &sql, id, thread_from_row).await
}

/// The thread about to change, locked until the transaction ends (on
/// PostgreSQL; SQLite's one writer already serialises changes).
pub async fn get_thread_for_change(
    session: &Session,
    id: &str,
) -> Result<Option<Thread>, sqlx::Error> {
    let lock = match session.db().backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let mut conn = session.write_conn().await?;
    let row = sqlx::query(&format!(
        "SELECT {THREAD_COLUMNS} FROM state_threads WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(thread_from_row).transpose()
}

/// One page of threads within `scope` (and made by `plugin`, where given:
/// `""` for those made through the REST API), oldest first.
pub async fn page_threads(
    session: &Session,
    scope: Option<&Scope>,
    plugin: Option<&str>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Thread>, Option<String>), StoreError> {
    let filter = match plugin {
        Some(plugin) => Filter::eq("plugin", Value::Text(plugin.to_string())),
        None => Filter::everything(),
    };
    let spec = SelectSpec {
        schema: core_tables::state_threads(),
        fields: None,
        filter: &filter,
        scope,
        order: &[Order::asc("created_at")],
        limit,
        cursor,
        cursor_key: session.db().cursor_key(),
    };
    super::read::fetch_page(session, &spec, thread_from_row).await
}

pub async fn insert_thread(session: &Session, thread: &Thread) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    let (head, head_step) = match &thread.head {
        Some(head) => (head.checkpoint_id.as_str(), head.step),
        None => ("", -1),
    };
    sqlx::query(&format!(
        "INSERT INTO state_threads ({THREAD_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&thread.id)
    .bind(&thread.owner)
    .bind(thread.plugin.as_deref().unwrap_or(""))
    .bind(&thread.metadata)
    .bind(thread.keep_last.map(i64::from))
    .bind(head)
    .bind(head_step)
    .bind(thread.forked_from.as_ref().map(|f| f.thread_id.as_str()))
    .bind(
        thread
            .forked_from
            .as_ref()
            .map(|f| f.checkpoint_id.as_str()),
    )
    .bind(thread.created_at)
    .bind(thread.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes a thread's metadata and retention.
pub async fn update_thread(session: &Session, thread: &Thread) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query(
        "UPDATE state_threads SET metadata = $1, keep_last = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(&thread.metadata)
    .bind(thread.keep_last.map(i64::from))
    .bind(thread.updated_at)
    .bind(&thread.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes a thread; its checkpoints and their pending writes go with it
/// (`ON DELETE CASCADE`).
pub async fn delete_thread(session: &Session, id: &str) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query("DELETE FROM state_threads WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Who may advance a thread: its plugin (`""` for threads made through the
/// REST API) and, unless an admin acts, its owner.
pub struct Writer<'a> {
    pub plugin: &'a str,
    pub owner: Option<&'a str>,
}

/// What a won compare-and-swap tells its writer.
pub struct Advanced {
    /// The step of the new head.
    pub step: i64,
    pub keep_last: Option<u32>,
}

/// Moves thread `id`'s head from `expected` (`""`: no checkpoint yet) to
/// `new_head`, one step on, if `writer` may and the head is still
/// `expected`. `None`, with nothing written, when it is not (or the thread
/// is not there for `writer`): the caller tells which.
pub async fn advance_head(
    session: &Session,
    id: &str,
    writer: &Writer<'_>,
    expected: &str,
    new_head: &str,
    now: i64,
) -> Result<Option<Advanced>, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    let owner = if writer.owner.is_some() {
        " AND owner = $6"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE state_threads SET head = $1, head_step = head_step + 1, updated_at = $2 \
         WHERE id = $3 AND head = $4 AND plugin = $5{owner} RETURNING head_step, keep_last"
    );
    let query = sqlx::query(&sql)
        .bind(new_head)
        .bind(now)
        .bind(id)
        .bind(expected)
        .bind(writer.plugin);
    let query = match writer.owner {
        Some(owner) => query.bind(owner),
        None => query,
    };
    let row = query.fetch_optional(&mut *conn).await?;
    row.map(|row| {
        Ok(Advanced {
            step: row.try_get(0)?,
            keep_last: row.try_get::<Option<i64>, _>(1)?.map(|n| n as u32),
        })
    })
    .transpose()
}

pub async fn insert_checkpoint(
    session: &Session,
    checkpoint: &Checkpoint,
) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query(&format!(
        "INSERT INTO state_checkpoints ({CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&checkpoint.id)
    .bind(&checkpoint.thread_id)
    .bind(checkpoint.parent_id.as_deref())
    .bind(checkpoint.step)
    .bind(&checkpoint.values)
    .bind(&checkpoint.metadata)
    .bind(checkpoint.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes thread `id`'s checkpoints of steps before `step`; their pending
/// writes go with them (`ON DELETE CASCADE`).
pub async fn trim(session: &Session, id: &str, step: i64) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query("DELETE FROM state_checkpoints WHERE thread_id = $1 AND step < $2")
        .bind(id)
        .bind(step)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Checkpoint `id` of thread `thread_id`.
pub async fn get_checkpoint(
    session: &Session,
    thread_id: &str,
    id: &str,
) -> Result<Option<Checkpoint>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let row = sqlx::query(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM state_checkpoints WHERE id = $1 AND thread_id = $2"
    ))
    .bind(id)
    .bind(thread_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

/// One page of thread `thread_id`'s checkpoints, newest first.
pub async fn page_checkpoints(
    session: &Session,
    thread_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Checkpoint>, Option<String>), StoreError> {
    let filter = Filter::eq("thread_id", Value::Uuid(thread_id.to_string()));
    let spec = SelectSpec {
        schema: core_tables::state_checkpoints(),
        fields: None,
        filter: &filter,
        scope: None,
        order: &[Order::desc("step")],
        limit,
        cursor,
        cursor_key: session.db().cursor_key(),
    };
    super::read::fetch_page(session, &spec, checkpoint_from_row).await
}

/// Appends `writes` (channel, JSON value) to what `task` wrote from
/// checkpoint `checkpoint_id`, after its earlier writes.
pub async fn append_pending_writes(
    session: &Session,
    checkpoint_id: &str,
    task: &str,
    writes: &[(String, String)],
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    let next: i64 = sqlx::query(
        "SELECT COALESCE(MAX(seq) + 1, 0) FROM state_pending_writes \
         WHERE checkpoint_id = $1 AND task = $2",
    )
    .bind(checkpoint_id)
    .bind(task)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    for (i, (channel, value)) in writes.iter().enumerate() {
        sqlx::query(
            "INSERT INTO state_pending_writes (checkpoint_id, task, seq, channel, value, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(checkpoint_id)
        .bind(task)
        .bind(next + i as i64)
        .bind(channel)
        .bind(value)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The pending writes made from checkpoint `checkpoint_id`, by task, each
/// task's in the order it made them.
pub async fn pending_writes(
    session: &Session,
    checkpoint_id: &str,
) -> Result<Vec<PendingWrite>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let rows = sqlx::query(
        "SELECT task, seq, channel, value, created_at FROM state_pending_writes \
         WHERE checkpoint_id = $1 ORDER BY task, seq",
    )
    .bind(checkpoint_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(PendingWrite {
                task: row.try_get(0)?,
                seq: row.try_get(1)?,
                channel: row.try_get(2)?,
                value: row.try_get(3)?,
                created_at: row.try_get(4)?,
            })
        })
        .collect()
}
