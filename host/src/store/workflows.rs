//! The WorkflowService's definitions: `workflows` (the newest version of
//! each) and `workflow_versions` (every version). A save moves the version
//! on in one conditional `UPDATE ... RETURNING`, so two saves at once get
//! two versions; the rules are the services'.

use super::query::select::{Scope, SelectSpec};
use super::query::sql::Param;
use super::query::{check_page_limit, cursor};
use super::session::Session;
use super::{StoreError, core_tables};
use crate::domain::EventKind;
use crate::domain::trigger::{self, Trigger};
use crate::domain::workflow::{Graph, Workflow, WorkflowVersion};
use crate::domain::{Filter, Order, Value};
use sqlx::Row;
use sqlx::any::AnyRow;

const COLUMNS: &str =
    "id, owner, name, description, version, graph, created_at, updated_at, triggers";

fn graph_of(text: &str) -> Result<Graph, sqlx::Error> {
    serde_json::from_str(text).map_err(|error| sqlx::Error::ColumnDecode {
        index: "graph".into(),
        source: Box::new(error),
    })
}

fn graph_text(graph: &Graph) -> String {
    serde_json::to_string(graph).expect("a graph serializes")
}

fn triggers_text(triggers: &[Trigger]) -> String {
    serde_json::to_string(triggers).expect("triggers serialize")
}

fn from_row(row: &AnyRow) -> Result<Workflow, sqlx::Error> {
    Ok(Workflow {
        id: row.try_get(0)?,
        owner: row.try_get(1)?,
        name: row.try_get(2)?,
        description: row.try_get(3)?,
        version: row.try_get(4)?,
        graph: graph_of(&row.try_get::<String, _>(5)?)?,
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
        triggers: serde_json::from_str(&row.try_get::<String, _>(8)?).map_err(|error| {
            sqlx::Error::ColumnDecode {
                index: "triggers".into(),
                source: Box::new(error),
            }
        })?,
    })
}

fn version_from_row(row: &AnyRow) -> Result<WorkflowVersion, sqlx::Error> {
    Ok(WorkflowVersion {
        workflow_id: row.try_get(0)?,
        version: row.try_get(1)?,
        name: row.try_get(2)?,
        description: row.try_get(3)?,
        graph: graph_of(&row.try_get::<String, _>(4)?)?,
        created_at: row.try_get(5)?,
    })
}

pub async fn get(session: &Session, id: &str) -> Result<Option<Workflow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM workflows WHERE id = $1");
    super::read::row_by_id(session, &sql, id, from_row).await
}

/// One page of workflows within `scope`, oldest first.
pub async fn page(
    session: &Session,
    scope: Option<&Scope>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Workflow>, Option<String>), StoreError> {
    let filter = Filter::everything();
    let spec = SelectSpec {
        schema: core_tables::workflows(),
        fields: None,
        filter: &filter,
        scope,
        order: &[Order::asc("created_at")],
        limit,
        cursor,
        cursor_key: session.db().cursor_key(),
    };
    super::read::fetch_page(session, &spec, from_row).await
}

/// Inserts a new workflow and its first version.
pub async fn insert(session: &Session, workflow: &Workflow) -> Result<(), sqlx::Error> {
    let graph = graph_text(&workflow.graph);
    let mut conn = session.write_conn().await?;
    sqlx::query(&format!(
        "INSERT INTO workflows ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&workflow.id)
    .bind(&workflow.owner)
    .bind(&workflow.name)
    .bind(&workflow.description)
    .bind(workflow.version)
    .bind(&graph)
    .bind(workflow.created_at)
    .bind(workflow.updated_at)
    .bind(triggers_text(&workflow.triggers))
    .execute(&mut *conn)
    .await?;
    insert_version(&mut conn, workflow, &graph).await?;
    replace_triggers(&mut conn, workflow).await
}

/// Saves `workflow`'s name and graph (and `description`, when given; the
/// stored one otherwise) as the version after the newest, if it is there
/// for `owner` (any owner when `None`); returns the workflow as saved.
pub async fn save(
    session: &Session,
    workflow: &Workflow,
    description: Option<&str>,
    owner: Option<&str>,
) -> Result<Option<Workflow>, sqlx::Error> {
    let graph = graph_text(&workflow.graph);
    let mut conn = session.write_conn().await?;
    let owner_condition = if owner.is_some() {
        " AND owner = $7"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE workflows SET version = version + 1, name = $1, \
         description = COALESCE($2, description), graph = $3, \
         updated_at = CASE WHEN updated_at >= $4 THEN updated_at + 1 ELSE $4 END, \
         triggers = $6 \
         WHERE id = $5{owner_condition} RETURNING version, description, updated_at"
    );
    let query = sqlx::query(&sql)
        .bind(&workflow.name)
        .bind(description)
        .bind(&graph)
        .bind(workflow.updated_at)
        .bind(&workflow.id)
        .bind(triggers_text(&workflow.triggers));
    let query = match owner {
        Some(owner) => query.bind(owner),
        None => query,
    };
    let Some(row) = query.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let saved = Workflow {
        version: row.try_get(0)?,
        description: row.try_get(1)?,
        updated_at: row.try_get(2)?,
        ..workflow.clone()
    };
    insert_version(&mut conn, &saved, &graph).await?;
    replace_triggers(&mut conn, &saved).await?;
    Ok(Some(saved))
}

/// Rewrites `workflow`'s rows in `workflow_triggers`. A schedule whose
/// cron is the one saved at its place before keeps its next tick (an
/// overdue tick still runs); a new one's is the first after the save.
async fn replace_triggers(
    conn: &mut sqlx::AnyConnection,
    workflow: &Workflow,
) -> Result<(), sqlx::Error> {
    // The old rows are read by the delete itself: on PostgreSQL it waits
    // for a node moving a schedule's tick on and returns the moved tick,
    // where a read before it could put back a tick already run.
    let kept: Vec<(i64, Option<String>, Option<i64>)> = sqlx::query(
        "DELETE FROM workflow_triggers WHERE workflow_id = $1 \
         RETURNING position, cron, next_at",
    )
    .bind(&workflow.id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
    .collect::<Result<_, sqlx::Error>>()?;
    for (position, trigger) in workflow.triggers.iter().enumerate() {
        let (event, collection, cron, next_at) = match trigger {
            Trigger::Event {
                event,
                collection_id,
            } => (
                Some(event.as_str()),
                Some(collection_id.as_str()),
                None,
                None,
            ),
            Trigger::Schedule { cron } => {
                let next = match kept
                    .iter()
                    .find(|(at, was, _)| *at == position as i64 && was.as_ref() == Some(cron))
                {
                    Some((_, _, next)) => *next,
                    None => trigger::parse_cron(cron)
                        .ok()
                        .and_then(|parsed| trigger::next_tick(&parsed, workflow.updated_at)),
                };
                (None, None, Some(cron.as_str()), next)
            }
            Trigger::Webhook => (None, None, None, None),
        };
        sqlx::query(
            "INSERT INTO workflow_triggers (workflow_id, position, owner, kind, event, \
             collection_id, cron, next_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&workflow.id)
        .bind(position as i64)
        .bind(&workflow.owner)
        .bind(trigger.kind())
        .bind(event)
        .bind(collection)
        .bind(cron)
        .bind(next_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A workflow waiting for an event in a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTrigger {
    pub workflow_id: String,
    pub owner: String,
    pub event: EventKind,
    pub collection_id: String,
}

/// Every event trigger of every workflow.
pub async fn event_triggers(session: &Session) -> Result<Vec<EventTrigger>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let rows = sqlx::query(
        "SELECT workflow_id, owner, event, collection_id FROM workflow_triggers \
         WHERE kind = 'event' ORDER BY workflow_id, position",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let event: String = row.try_get(2).ok()?;
            Some(EventTrigger {
                workflow_id: row.try_get(0).ok()?,
                owner: row.try_get(1).ok()?,
                event: EventKind::parse(&event)?,
                collection_id: row.try_get(3).ok()?,
            })
        })
        .collect())
}

/// A schedule whose tick has come.
#[derive(Debug, Clone)]
pub struct DueSchedule {
    pub workflow_id: String,
    pub position: i64,
    pub owner: String,
    pub cron: String,
    pub next_at: i64,
}

/// Up to `limit` schedules due by `now`, the earliest first.
pub async fn due_schedules(
    session: &Session,
    now: i64,
    limit: u32,
) -> Result<Vec<DueSchedule>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let rows = sqlx::query(
        "SELECT workflow_id, position, owner, cron, next_at FROM workflow_triggers \
         WHERE kind = 'schedule' AND next_at <= $1 ORDER BY next_at LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DueSchedule {
                workflow_id: row.try_get(0)?,
                position: row.try_get(1)?,
                owner: row.try_get(2)?,
                cron: row.try_get(3)?,
                next_at: row.try_get(4)?,
            })
        })
        .collect()
}

/// Moves a schedule's next tick from `from` to `to`; false when another
/// node moved it first (that node starts the tick's run).
pub async fn advance_schedule(
    session: &Session,
    schedule: &DueSchedule,
    to: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    let done = sqlx::query(
        "UPDATE workflow_triggers SET next_at = $1 \
         WHERE workflow_id = $2 AND position = $3 AND next_at = $4",
    )
    .bind(to)
    .bind(&schedule.workflow_id)
    .bind(schedule.position)
    .bind(schedule.next_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The SHA-256 (hex) of workflow `id`'s webhook secret, if it has one.
pub async fn webhook_secret_hash(
    session: &Session,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let row = sqlx::query("SELECT webhook_secret_hash FROM workflows WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.and_then(|row| row.try_get(0).ok().flatten()))
}

/// Sets (or with `None` removes) workflow `id`'s webhook secret hash.
pub async fn set_webhook_secret_hash(
    session: &Session,
    id: &str,
    hash: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query("UPDATE workflows SET webhook_secret_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn insert_version(
    conn: &mut sqlx::AnyConnection,
    workflow: &Workflow,
    graph: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO workflow_versions (workflow_id, version, name, description, graph, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&workflow.id)
    .bind(workflow.version)
    .bind(&workflow.name)
    .bind(&workflow.description)
    .bind(graph)
    .bind(workflow.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes a workflow; its versions go with it (`ON DELETE CASCADE`).
pub async fn delete(session: &Session, id: &str) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query("DELETE FROM workflows WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Version `version` of workflow `id`.
pub async fn get_version(
    session: &Session,
    id: &str,
    version: i64,
) -> Result<Option<WorkflowVersion>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let row = sqlx::query(
        "SELECT workflow_id, version, name, description, graph, created_at \
         FROM workflow_versions WHERE workflow_id = $1 AND version = $2",
    )
    .bind(id)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(version_from_row).transpose()
}

/// One page of workflow `id`'s versions, newest first.
pub async fn page_versions(
    session: &Session,
    id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<WorkflowVersion>, Option<String>), StoreError> {
    check_page_limit(limit)?;
    let key = session.db().cursor_key();
    let params = [Param::Text(id.to_string())];
    let bound = cursor::Query {
        sql: "workflows:versions",
        params: &params,
        order: "version desc",
    };
    let before = match cursor {
        Some(text) => match cursor::open(&key, &bound, text, 1)?.as_slice() {
            [Value::Integer(version)] => *version,
            _ => return Err(cursor::invalid_cursor().into()),
        },
        None => i64::MAX,
    };
    let rows = {
        let mut conn = session.read_conn().await?;
        sqlx::query(
            "SELECT workflow_id, version, name, description, graph, created_at \
             FROM workflow_versions WHERE workflow_id = $1 AND version < $2 \
             ORDER BY version DESC LIMIT $3",
        )
        .bind(id)
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *conn)
        .await?
    };
    let mut versions = rows
        .iter()
        .map(version_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next = (versions.len() > limit as usize).then(|| {
        versions.truncate(limit as usize);
        let last = versions.last().map_or(before, |v| v.version);
        cursor::seal(&key, &bound, &[Value::Integer(last)])
    });
    Ok((versions, next))
}
