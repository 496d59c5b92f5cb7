//! The MemoryManager's tables: `memory_sessions` and `memory_messages`,
//! with the messages' full-text index (`memory_messages_fts` on SQLite, the
//! `search` column on PostgreSQL, both kept in step by the database). An
//! append reserves its seqs with one conditional `UPDATE` of the session,
//! which also serialises appends to it; the rules are the services'.

use super::query::select::{Scope, SelectSpec};
use super::query::sql::{Param, Sql};
use super::query::{check_page_limit, cursor};
use super::search::{RANKED_MATCHES, SNIPPET_WORDS, headline_options, render_match};
use super::session::Session as DbSession;
use super::{Backend, StoreError, core_tables};
use crate::domain::memory::{Labels, Message, Retention, Role, Session, Summary};
use crate::domain::search::{MARK_END, MARK_START, SearchQuery};
use crate::domain::{Filter, Order, Value};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

const SESSION_COLUMNS: &str = "id, owner, name, plugin, workflow, agent, metadata, \
     max_messages, max_age_seconds, summary, summary_through, summary_updated_at, \
     system_seq, next_seq, message_count, created_at, updated_at";

const MESSAGE_COLUMNS: &str = "m.session_id, m.seq, m.role, m.content, m.name, m.tool_calls, \
     m.tool_call_id, m.metadata, m.tokens, m.created_at";

/// Rows of one multi-row `INSERT`, within both engines' parameter limits.
const INSERT_CHUNK: usize = 500;

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    owner: String,
    name: String,
    plugin: String,
    workflow: Option<String>,
    agent: Option<String>,
    metadata: String,
    max_messages: Option<i64>,
    max_age_seconds: Option<i64>,
    summary: Option<String>,
    summary_through: Option<i64>,
    summary_updated_at: Option<i64>,
    system_seq: Option<i64>,
    next_seq: i64,
    message_count: i64,
    created_at: i64,
    updated_at: i64,
}

/// A session as stored, with the seq of its pinned system message.
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub session: Session,
    pub system_seq: Option<i64>,
}

fn session_from_row(row: &AnyRow) -> Result<StoredSession, sqlx::Error> {
    let row = SessionRow::from_row(row)?;
    Ok(StoredSession {
        system_seq: row.system_seq,
        session: Session {
            id: row.id,
            owner: row.owner,
            name: row.name,
            plugin: (!row.plugin.is_empty()).then_some(row.plugin),
            workflow: row.workflow,
            agent: row.agent,
            metadata: row.metadata,
            retention: retention(row.max_messages, row.max_age_seconds),
            summary: row.summary.map(|content| Summary {
                content,
                through_seq: row.summary_through,
                updated_at: row.summary_updated_at.unwrap_or(row.updated_at),
            }),
            next_seq: row.next_seq,
            message_count: row.message_count,
            created_at: row.created_at,
            updated_at: row.updated_at,
        },
    })
}

fn retention(max_messages: Option<i64>, max_age_seconds: Option<i64>) -> Retention {
    Retention {
        max_messages: max_messages.map(|n| n as u32),
        max_age_seconds: max_age_seconds.map(|n| n as u64),
    }
}

fn message_from_row(row: &AnyRow) -> Result<Message, sqlx::Error> {
    let role: String = row.try_get(2)?;
    Ok(Message {
        session_id: row.try_get(0)?,
        seq: row.try_get(1)?,
        role: Role::parse(&role).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "role".into(),
            source: format!("unknown role `{role}`").into(),
        })?,
        content: row.try_get(3)?,
        name: row.try_get(4)?,
        tool_calls: row.try_get(5)?,
        tool_call_id: row.try_get(6)?,
        metadata: row.try_get(7)?,
        tokens: row.try_get(8)?,
        created_at: row.try_get(9)?,
    })
}

pub async fn get_session(db: &DbSession, id: &str) -> Result<Option<StoredSession>, sqlx::Error> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM memory_sessions WHERE id = $1");
    super::read::row_by_id(db, &sql, id, session_from_row).await
}

/// The session about to change, locked until the transaction ends (on
/// PostgreSQL; SQLite's one writer already serialises changes), so a
/// change waits behind an append in progress and sees its messages.
pub async fn get_session_for_change(
    db: &DbSession,
    id: &str,
) -> Result<Option<StoredSession>, sqlx::Error> {
    let lock = match db.db().backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let mut conn = db.write_conn().await?;
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM memory_sessions WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(session_from_row).transpose()
}

/// One page of sessions within `scope` and `labels`, newest first.
pub async fn page_sessions(
    db: &DbSession,
    scope: Option<&Scope>,
    labels: Labels<'_>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Session>, Option<String>), StoreError> {
    let filters: Vec<Filter> = [
        ("plugin", labels.plugin),
        ("workflow", labels.workflow),
        ("agent", labels.agent),
    ]
    .into_iter()
    .filter_map(|(column, value)| value.map(|v| Filter::eq(column, Value::Text(v.to_string()))))
    .collect();
    let filter = Filter::All(filters);
    let spec = SelectSpec {
        schema: core_tables::memory_sessions(),
        fields: None,
        filter: &filter,
        scope,
        order: &[Order::desc("created_at")],
        limit,
        cursor,
        cursor_key: db.db().cursor_key(),
    };
    let (rows, next) = super::read::fetch_page(db, &spec, session_from_row).await?;
    Ok((rows.into_iter().map(|s| s.session).collect(), next))
}

pub async fn insert_session(db: &DbSession, session: &Session) -> Result<(), sqlx::Error> {
    let mut conn = db.write_conn().await?;
    sqlx::query(&format!(
        "INSERT INTO memory_sessions ({SESSION_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, NULL, NULL, $10, $11, $12, $13)"
    ))
    .bind(&session.id)
    .bind(&session.owner)
    .bind(&session.name)
    .bind(session.plugin.as_deref().unwrap_or(""))
    .bind(session.workflow.as_deref())
    .bind(session.agent.as_deref())
    .bind(&session.metadata)
    .bind(session.retention.max_messages.map(i64::from))
    .bind(session.retention.max_age_seconds.map(|n| n as i64))
    .bind(session.next_seq)
    .bind(session.message_count)
    .bind(session.created_at)
    .bind(session.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes a session's name, metadata and retention.
pub async fn update_session(db: &DbSession, session: &Session) -> Result<(), sqlx::Error> {
    let mut conn = db.write_conn().await?;
    sqlx::query(
        "UPDATE memory_sessions SET name = $1, metadata = $2, max_messages = $3, \
         max_age_seconds = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(&session.name)
    .bind(&session.metadata)
    .bind(session.retention.max_messages.map(i64::from))
    .bind(session.retention.max_age_seconds.map(|n| n as i64))
    .bind(session.updated_at)
    .bind(&session.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets (or, with `None`, removes) a session's summary.
pub async fn set_summary(
    db: &DbSession,
    id: &str,
    summary: Option<&Summary>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut conn = db.write_conn().await?;
    sqlx::query(
        "UPDATE memory_sessions SET summary = $1, summary_through = $2, \
         summary_updated_at = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(summary.map(|s| s.content.as_str()))
    .bind(summary.and_then(|s| s.through_seq))
    .bind(summary.map(|s| s.updated_at))
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes a session; its messages go with it (`ON DELETE CASCADE`).
pub async fn delete_session(db: &DbSession, id: &str) -> Result<(), sqlx::Error> {
    let mut conn = db.write_conn().await?;
    sqlx::query("DELETE FROM memory_sessions WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Seqs reserved for an append.
pub struct Reserved {
    /// The seq of the first message appended.
    pub first_seq: i64,
    pub retention: Retention,
    pub system_seq: Option<i64>,
    /// The batch's time: `now`, or just after the session's last change
    /// if that is later.
    pub at: i64,
}

/// Reserves `count` seqs of session `id` (of `owner`, unless an admin
/// acts), counting the messages in; `first_system` is the place of the
/// first system message in the batch, which becomes the session's pinned
/// one if it has none. `None` when there is no such session for `owner`.
pub async fn reserve_seqs(
    db: &DbSession,
    id: &str,
    owner: Option<&str>,
    count: usize,
    first_system: Option<usize>,
    now: i64,
) -> Result<Option<Reserved>, sqlx::Error> {
    let mut conn = db.write_conn().await?;
    let owner_condition = if owner.is_some() {
        " AND owner = $5"
    } else {
        ""
    };
    // The time moves on with every append to a session, so a later seq
    // never has an earlier time (which age retention relies on).
    let sql = format!(
        "UPDATE memory_sessions SET next_seq = next_seq + $1, message_count = message_count + $1, \
         system_seq = COALESCE(system_seq, next_seq + $2), \
         updated_at = CASE WHEN updated_at >= $3 THEN updated_at + 1 ELSE $3 END \
         WHERE id = $4{owner_condition} \
         RETURNING next_seq, max_messages, max_age_seconds, system_seq, updated_at"
    );
    let query = sqlx::query(&sql)
        .bind(count as i64)
        .bind(first_system.map(|i| i as i64))
        .bind(now)
        .bind(id);
    let query = match owner {
        Some(owner) => query.bind(owner),
        None => query,
    };
    let Some(row) = query.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let next_seq: i64 = row.try_get(0)?;
    Ok(Some(Reserved {
        first_seq: next_seq - count as i64,
        retention: retention(row.try_get(1)?, row.try_get(2)?),
        system_seq: row.try_get(3)?,
        at: row.try_get(4)?,
    }))
}

pub async fn insert_messages(db: &DbSession, messages: &[Message]) -> Result<(), sqlx::Error> {
    let mut conn = db.write_conn().await?;
    for chunk in messages.chunks(INSERT_CHUNK) {
        let mut sql = Sql::new(
            "INSERT INTO memory_messages (session_id, seq, role, content, name, tool_calls, \
             tool_call_id, metadata, tokens, created_at) VALUES ",
        );
        for (i, m) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            let optional = |text: &Option<String>| match text {
                Some(text) => Param::Text(text.clone()),
                None => Param::Null(super::query::schema::ColumnType::String),
            };
            let params = [
                Param::Text(m.session_id.clone()),
                Param::Int(m.seq),
                Param::Text(m.role.as_str().to_string()),
                Param::Text(m.content.clone()),
                optional(&m.name),
                optional(&m.tool_calls),
                optional(&m.tool_call_id),
                Param::Text(m.metadata.clone()),
                Param::Int(m.tokens),
                Param::Int(m.created_at),
            ];
            for (j, param) in params.into_iter().enumerate() {
                if j > 0 {
                    sql.push(", ");
                }
                sql.param(param);
            }
            sql.push(")");
        }
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Removes session `id`'s messages of seqs before `before_seq` or made
/// before `before_time`, except its pinned system message (`keep_seq`),
/// and counts them out. Returns how many went.
pub async fn trim(
    db: &DbSession,
    id: &str,
    before_seq: Option<i64>,
    before_time: Option<i64>,
    keep_seq: Option<i64>,
) -> Result<u64, sqlx::Error> {
    if before_seq.is_none() && before_time.is_none() {
        return Ok(0);
    }
    let mut conn = db.write_conn().await?;
    let removed = sqlx::query(
        "DELETE FROM memory_messages WHERE session_id = $1 AND (seq < $2 OR created_at < $3) \
         AND seq <> $4",
    )
    .bind(id)
    .bind(before_seq.unwrap_or(i64::MIN))
    .bind(before_time.unwrap_or(i64::MIN))
    .bind(keep_seq.unwrap_or(-1))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if removed > 0 {
        sqlx::query("UPDATE memory_sessions SET message_count = message_count - $1 WHERE id = $2")
            .bind(removed as i64)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(removed)
}

/// Removes every message of session `id` and its summary; seqs go on
/// from where they were.
pub async fn clear(db: &DbSession, id: &str, now: i64) -> Result<u64, sqlx::Error> {
    let mut conn = db.write_conn().await?;
    // The session row first, as an append takes it: a clear waits behind an
    // append in progress and then removes its messages too.
    sqlx::query(
        "UPDATE memory_sessions SET message_count = 0, system_seq = NULL, summary = NULL, \
         summary_through = NULL, summary_updated_at = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    let removed = sqlx::query("DELETE FROM memory_messages WHERE session_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(removed)
}

/// Message `seq` of session `id`.
pub async fn get_message(
    db: &DbSession,
    id: &str,
    seq: i64,
) -> Result<Option<Message>, sqlx::Error> {
    let mut conn = db.read_conn().await?;
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM memory_messages m WHERE m.session_id = $1 AND m.seq = $2"
    ))
    .bind(id)
    .bind(seq)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(message_from_row).transpose()
}

/// Up to `limit` of session `id`'s newest messages of seqs below `before`,
/// other than `except`, newest first.
pub async fn newest(
    db: &DbSession,
    id: &str,
    before: i64,
    except: Option<i64>,
    limit: u32,
) -> Result<Vec<Message>, sqlx::Error> {
    let mut conn = db.read_conn().await?;
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM memory_messages m \
         WHERE m.session_id = $1 AND m.seq < $2 AND m.seq <> $3 ORDER BY m.seq DESC LIMIT $4"
    ))
    .bind(id)
    .bind(before)
    .bind(except.unwrap_or(-1))
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(message_from_row).collect()
}

/// One page of session `id`'s messages, oldest first.
pub async fn page_messages(
    db: &DbSession,
    id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Message>, Option<String>), StoreError> {
    check_page_limit(limit)?;
    let key = db.db().cursor_key();
    let params = [Param::Text(id.to_string())];
    let bound = cursor::Query {
        sql: "memory:messages",
        params: &params,
        order: "seq",
    };
    let after = match cursor {
        Some(text) => match cursor::open(&key, &bound, text, 1)?.as_slice() {
            [Value::Integer(seq)] => *seq,
            _ => return Err(cursor::invalid_cursor().into()),
        },
        None => -1,
    };
    let rows = {
        let mut conn = db.read_conn().await?;
        sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM memory_messages m \
             WHERE m.session_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
        ))
        .bind(id)
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *conn)
        .await?
    };
    let mut messages = rows
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next = (messages.len() > limit as usize).then(|| {
        messages.truncate(limit as usize);
        let last = messages.last().map_or(after, |m| m.seq);
        cursor::seal(&key, &bound, &[Value::Integer(last)])
    });
    Ok((messages, next))
}

/// One message search.
pub struct MessageSearch<'a> {
    pub query: &'a SearchQuery,
    /// The query as given, which cursors are bound to.
    pub text: &'a str,
    /// Only this session's messages.
    pub session_id: Option<&'a str>,
    pub role: Option<Role>,
    /// Only the sessions of this owner (`None`: an admin's search of all).
    pub owner: Option<&'a str>,
    pub limit: u32,
    pub cursor: Option<&'a str>,
}

/// A message found, its rank (lower is better) and its snippet, with the
/// match between [`MARK_START`] and [`MARK_END`].
pub struct MessageHit {
    pub message: Message,
    pub rank: f64,
    pub snippet: String,
}

/// One page of messages found, best first, and the cursor of the next.
/// Read in two steps, as document search is: the ranked page (of at most
/// the newest [`RANKED_MATCHES`] matches), then its messages with their
/// snippets.
pub async fn search(
    db: &DbSession,
    spec: &MessageSearch<'_>,
) -> Result<(Vec<MessageHit>, Option<String>), StoreError> {
    check_page_limit(spec.limit)?;
    let backend = db.db().backend();
    let key = db.db().cursor_key();
    let bound_params = [
        Param::Text(spec.text.to_string()),
        Param::Text(spec.session_id.unwrap_or_default().to_string()),
        Param::Text(spec.role.map(Role::as_str).unwrap_or_default().to_string()),
        Param::Text(spec.owner.unwrap_or_default().to_string()),
    ];
    let bound = cursor::Query {
        sql: "memory:search",
        params: &bound_params,
        order: "rank",
    };
    let offset = match spec.cursor {
        Some(text) => match cursor::open(&key, &bound, text, 1)?.as_slice() {
            [Value::Integer(offset)] if *offset >= 0 => *offset,
            _ => return Err(cursor::invalid_cursor().into()),
        },
        None => 0,
    };
    let matched = render_match(spec.query, backend);

    // The newest RANKED_MATCHES matches the caller may see, then the page
    // of those, best first.
    let mut sql = match backend {
        Backend::Sqlite => Sql::new(
            "SELECT num, rank FROM (SELECT m.num AS num, bm25(memory_messages_fts) AS rank \
             FROM memory_messages_fts JOIN memory_messages m ON m.num = memory_messages_fts.rowid \
             WHERE memory_messages_fts MATCH ",
        ),
        Backend::Postgres => Sql::new(
            "SELECT num, rank FROM (SELECT m.num AS num, -ts_rank(m.search, q.q)::float8 AS rank \
             FROM memory_messages m, to_tsquery('simple', ",
        ),
    };
    sql.param(Param::Text(matched.clone()));
    if backend == Backend::Postgres {
        sql.push(") AS q(q) WHERE m.search @@ q.q");
    }
    if let Some(owner) = spec.owner {
        sql.push(" AND m.session_id IN (SELECT id FROM memory_sessions WHERE owner = ")
            .param(Param::Text(owner.to_string()))
            .push(")");
    }
    if let Some(session_id) = spec.session_id {
        sql.push(" AND m.session_id = ")
            .param(Param::Text(session_id.to_string()));
    }
    if let Some(role) = spec.role {
        sql.push(" AND m.role = ")
            .param(Param::Text(role.as_str().to_string()));
    }
    sql.push(match backend {
        Backend::Sqlite => " ORDER BY memory_messages_fts.rowid DESC LIMIT ",
        Backend::Postgres => " ORDER BY m.num DESC LIMIT ",
    })
    .param(Param::Int(RANKED_MATCHES))
    .push(") AS newest ORDER BY rank, num LIMIT ")
    .param(Param::Int(i64::from(spec.limit) + 1))
    .push(" OFFSET ")
    .param(Param::Int(offset));
    let ranked = {
        let mut conn = db.read_conn().await?;
        sql.query().fetch_all(&mut *conn).await?
    };
    let mut page: Vec<(i64, f64)> = ranked
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let next = (page.len() > spec.limit as usize).then(|| {
        page.truncate(spec.limit as usize);
        cursor::seal(
            &key,
            &bound,
            &[Value::Integer(offset + i64::from(spec.limit))],
        )
    });
    if page.is_empty() {
        return Ok((Vec::new(), next));
    }

    let mut sql = match backend {
        Backend::Sqlite => {
            let mut sql = Sql::new(&format!(
                "SELECT {MESSAGE_COLUMNS}, snippet(memory_messages_fts, 0, char({}), char({}), '…', \
                 {SNIPPET_WORDS}), m.num FROM memory_messages_fts \
                 JOIN memory_messages m ON m.num = memory_messages_fts.rowid \
                 WHERE memory_messages_fts MATCH ",
                MARK_START as u32, MARK_END as u32
            ));
            sql.param(Param::Text(matched.clone()))
                .push(" AND memory_messages_fts.rowid IN (");
            sql
        }
        Backend::Postgres => {
            let mut sql = Sql::new(&format!(
                "SELECT {MESSAGE_COLUMNS}, ts_headline('simple', left(m.content, 200000), q.q, o.o), \
                 m.num FROM memory_messages m, to_tsquery('simple', "
            ));
            sql.param(Param::Text(matched.clone()))
                .push(") AS q(q), (SELECT ");
            sql.param(Param::Text(headline_options()))
                .push("::text) AS o(o) WHERE m.num IN (");
            sql
        }
    };
    for (i, (num, _)) in page.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.param(Param::Int(*num));
    }
    sql.push(")");
    let rows = {
        let mut conn = db.read_conn().await?;
        sql.query().fetch_all(&mut *conn).await?
    };
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let num: i64 = row.try_get(11)?;
        found.insert(num, (message_from_row(row)?, row.try_get::<String, _>(10)?));
    }
    let hits = page
        .into_iter()
        .filter_map(|(num, rank)| {
            let (message, snippet) = found.remove(&num)?;
            Some(MessageHit {
                message,
                rank,
                snippet,
            })
        })
        .collect();
    Ok((hits, next))
}
