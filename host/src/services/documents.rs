//! Documents: create (one or a bulk batch), read, list, update with an
//! expected version, archive, delete. Every change bumps `version`, keeps
//! `document_tags` in step, and emits its event inside the same
//! transaction, so transactional hooks see it and can veto it.

use super::validate;
use super::{Ctx, ModelError, schemas};
use crate::domain::{Filter, Order};
use crate::services::events::{self, EventKind};
use crate::store::Backend;
use crate::store::query::select::{self, SelectSpec};
use crate::util::{format_micros, now_micros};
use crate::wit::bindings::kai::fusion::models::Document as WitDocument;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Columns in the order [`Document::from_row`] reads them (the order of
/// [`schemas::documents`]).
pub const COLUMNS: &str = "id, collection_id, owner, title, content, format, content_hash, \
     word_count, size_bytes, version, created_at, updated_at, archived_at, tags, metadata";

/// Most documents in one bulk request.
pub const MAX_BULK: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: String,
    pub collection_id: String,
    pub owner: String,
    pub title: String,
    pub content: String,
    pub format: String,
    pub tags: Vec<String>,
    /// A JSON object, serialized.
    pub metadata: String,
    pub content_hash: String,
    pub word_count: i64,
    pub size_bytes: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub archived_at: Option<i64>,
}

impl Document {
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let tags: String = row.try_get(13)?;
        Ok(Self {
            id: row.try_get(0)?,
            collection_id: row.try_get(1)?,
            owner: row.try_get(2)?,
            title: row.try_get(3)?,
            content: row.try_get(4)?,
            format: row.try_get(5)?,
            content_hash: row.try_get(6)?,
            word_count: row.try_get(7)?,
            size_bytes: row.try_get(8)?,
            version: row.try_get(9)?,
            created_at: row.try_get(10)?,
            updated_at: row.try_get(11)?,
            archived_at: row.try_get(12)?,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            metadata: row.try_get(14)?,
        })
    }

    pub fn to_wit(&self) -> WitDocument {
        WitDocument {
            id: self.id.clone(),
            collection_id: self.collection_id.clone(),
            owner: self.owner.clone(),
            title: self.title.clone(),
            content: self.content.clone(),
            format: self.format.clone(),
            tags: self.tags.clone(),
            metadata: self.metadata.clone(),
            content_hash: self.content_hash.clone(),
            word_count: self.word_count as u64,
            size_bytes: self.size_bytes as u64,
            version: self.version as u64,
            created_at: self.created_at,
            updated_at: self.updated_at,
            archived_at: self.archived_at,
        }
    }

    /// The REST representation; content only when asked for.
    pub fn to_json(&self, include_content: bool) -> Value {
        let mut value = json!({
            "id": self.id,
            "collection_id": self.collection_id,
            "owner": self.owner,
            "title": self.title,
            "format": self.format,
            "tags": self.tags,
            "metadata": serde_json::from_str::<Value>(&self.metadata).unwrap_or(json!({})),
            "content_hash": self.content_hash,
            "word_count": self.word_count,
            "size_bytes": self.size_bytes,
            "version": self.version,
            "created_at": format_micros(self.created_at),
            "updated_at": format_micros(self.updated_at),
            "archived_at": self.archived_at.map(format_micros),
        });
        if include_content {
            value["content"] = json!(self.content);
        }
        value
    }
}

/// A document to create, as received.
#[derive(Debug, Clone, Default)]
pub struct NewDocument {
    pub title: String,
    pub content: String,
    pub format: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Option<Value>,
}

/// A change to a document: each `Some` field is set.
#[derive(Debug, Clone, Default)]
pub struct DocumentChange {
    pub title: Option<String>,
    pub content: Option<String>,
    pub format: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Value>,
    pub archived: Option<bool>,
}

/// A list request.
pub struct ListQuery {
    pub filter: Filter,
    pub order: Vec<Order>,
    pub limit: u32,
    pub cursor: Option<String>,
}

pub async fn get(ctx: &Ctx<'_>, id: &str) -> Result<Document, ModelError> {
    let id = validate::uuid("id", id)?;
    let found = async {
        let mut conn = ctx.session.read_conn().await?;
        let conn = &mut *conn;
        fetch(conn, &id).await
    }
    .await?;
    match found {
        Some(doc) if ctx.actor.can_see(&doc.owner) => Ok(doc),
        _ => Err(not_found(&id)),
    }
}

/// Documents matching `query`, within what the actor may see.
pub async fn query(
    ctx: &Ctx<'_>,
    query: &ListQuery,
) -> Result<(Vec<Document>, Option<String>), ModelError> {
    let schema = schemas::documents();
    let scope = super::scope_within_collection(ctx.session, ctx.actor, &query.filter).await?;
    let plan = select::build(
        &SelectSpec {
            schema,
            fields: None,
            filter: &query.filter,
            scope: scope.as_ref(),
            order: &query.order,
            limit: query.limit,
            cursor: query.cursor.as_deref(),
            cursor_key: ctx.state.db.cursor_key(),
        },
        ctx.state.db.backend(),
    )?;
    let rows = async {
        let mut conn = ctx.session.read_conn().await?;
        let conn = &mut *conn;
        plan.sql.query().fetch_all(&mut *conn).await
    }
    .await?;
    let (page, next) = plan.page(&rows)?;
    let documents = page
        .iter()
        .map(Document::from_row)
        .collect::<Result<_, _>>()?;
    Ok((documents, next))
}

pub async fn create(
    ctx: &Ctx<'_>,
    collection_id: &str,
    input: NewDocument,
) -> Result<Document, ModelError> {
    let mut created = create_many(ctx, collection_id, vec![input], "").await?;
    Ok(created.remove(0))
}

/// Creates `inputs` in one transaction: all are validated before any is
/// written. Field names in errors are prefixed with `prefix` and the index
/// (`documents[3].title`) when `prefix` is not empty.
pub async fn create_many(
    ctx: &Ctx<'_>,
    collection_id: &str,
    inputs: Vec<NewDocument>,
    prefix: &str,
) -> Result<Vec<Document>, ModelError> {
    if inputs.len() > MAX_BULK {
        return Err(ModelError::invalid(
            if prefix.is_empty() {
                "documents"
            } else {
                prefix
            },
            format!(
                "at most {MAX_BULK} documents per request, got {}",
                inputs.len()
            ),
        ));
    }
    let collection_owner = super::collections::visible_owner(ctx, collection_id).await?;
    let collection_id = validate::uuid("collection_id", collection_id)?;
    let now = now_micros();
    let max_bytes = ctx.state.config.max_document_bytes;
    let mut documents = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let field = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}[{i}].{name}")
            }
        };
        let format = validate::format(&field("format"), input.format.as_deref().unwrap_or("txt"))?;
        let title = validate::title(&field("title"), &input.title)?;
        validate::content(&field("content"), &input.content, &format, max_bytes)?;
        let tags = validate::tags(&field("tags"), &input.tags)?;
        let metadata = validate::metadata(
            &field("metadata"),
            &input.metadata.unwrap_or_else(|| json!({})),
        )?;
        documents.push(Document {
            id: uuid::Uuid::now_v7().to_string(),
            collection_id: collection_id.clone(),
            owner: collection_owner.clone(),
            title,
            content_hash: hash(&input.content),
            word_count: words(&input.content),
            size_bytes: input.content.len() as i64,
            content: input.content,
            format,
            tags,
            metadata,
            version: 1,
            created_at: now,
            updated_at: now,
            archived_at: None,
        });
    }
    for doc in &documents {
        async {
            let mut conn = ctx.session.write_conn().await?;
            let conn = &mut *conn;
            insert(conn, doc).await
        }
        .await?;
        events::emit(
            ctx,
            EventKind::DocumentCreated,
            &doc.id,
            None,
            Some(doc.into()),
        )
        .await?;
    }
    Ok(documents)
}

/// Applies `change`; fails with [`ModelError::VersionMismatch`] when
/// `expected` is given and is not the current version.
pub async fn update(
    ctx: &Ctx<'_>,
    id: &str,
    change: DocumentChange,
    expected: Option<i64>,
) -> Result<Document, ModelError> {
    let id = validate::uuid("id", id)?;
    let backend = ctx.state.db.backend();
    let old = async {
        let mut conn = ctx.session.write_conn().await?;
        let conn = &mut *conn;
        fetch_for_change(conn, backend, &id).await
    }
    .await?
    .filter(|doc| ctx.actor.can_see(&doc.owner))
    .ok_or_else(|| not_found(&id))?;
    check_version(&old, expected)?;

    let mut new = old.clone();
    if let Some(format) = &change.format {
        new.format = validate::format("format", format)?;
    }
    if let Some(title) = &change.title {
        new.title = validate::title("title", title)?;
    }
    if let Some(content) = change.content {
        new.content_hash = hash(&content);
        new.word_count = words(&content);
        new.size_bytes = content.len() as i64;
        new.content = content;
    }
    validate::content(
        "content",
        &new.content,
        &new.format,
        ctx.state.config.max_document_bytes,
    )?;
    if let Some(tags) = &change.tags {
        new.tags = validate::tags("tags", tags)?;
    }
    if let Some(metadata) = &change.metadata {
        new.metadata = validate::metadata("metadata", metadata)?;
    }
    match change.archived {
        Some(true) if old.archived_at.is_none() => new.archived_at = Some(now_micros()),
        Some(false) => new.archived_at = None,
        _ => {}
    }
    if new == old {
        // Nothing changed: no new version, no event.
        return Ok(old);
    }
    new.version = old.version + 1;
    new.updated_at = now_micros().max(old.updated_at + 1);
    let tags_changed = new.tags != old.tags;
    let updated = async {
        let mut conn = ctx.session.write_conn().await?;
        let conn = &mut *conn;
        let result = sqlx::query(
            "UPDATE documents SET title = $1, content = $2, format = $3, tags = $4, metadata = $5, \
             content_hash = $6, word_count = $7, size_bytes = $8, version = $9, updated_at = $10, \
             archived_at = $11 WHERE id = $12 AND version = $13",
        )
        .bind(&new.title)
        .bind(&new.content)
        .bind(&new.format)
        .bind(serde_json::to_string(&new.tags).expect("tags serialize"))
        .bind(&new.metadata)
        .bind(&new.content_hash)
        .bind(new.word_count)
        .bind(new.size_bytes)
        .bind(new.version)
        .bind(new.updated_at)
        .bind(new.archived_at)
        .bind(&new.id)
        .bind(old.version)
        .execute(&mut *conn)
        .await?;
        if result.rows_affected() == 1 {
            if tags_changed {
                sqlx::query("DELETE FROM document_tags WHERE document_id = $1")
                    .bind(&new.id)
                    .execute(&mut *conn)
                    .await?;
                insert_tags(conn, &new).await?;
            }
            super::stats::replace(conn, &old, &new).await?;
        }
        Ok::<_, sqlx::Error>(result.rows_affected() == 1)
    }
    .await?;
    if !updated {
        return Err(changed_meanwhile(&id, expected));
    }
    events::emit(
        ctx,
        EventKind::DocumentUpdated,
        &id,
        Some((&old).into()),
        Some((&new).into()),
    )
    .await?;
    Ok(new)
}

pub async fn delete(ctx: &Ctx<'_>, id: &str, expected: Option<i64>) -> Result<(), ModelError> {
    let id = validate::uuid("id", id)?;
    let backend = ctx.state.db.backend();
    let old = async {
        let mut conn = ctx.session.write_conn().await?;
        let conn = &mut *conn;
        fetch_for_change(conn, backend, &id).await
    }
    .await?
    .filter(|doc| ctx.actor.can_see(&doc.owner))
    .ok_or_else(|| not_found(&id))?;
    check_version(&old, expected)?;
    let deleted = async {
        let mut conn = ctx.session.write_conn().await?;
        let conn = &mut *conn;
        sqlx::query("DELETE FROM document_tags WHERE document_id = $1")
            .bind(&id)
            .execute(&mut *conn)
            .await?;
        let result = sqlx::query("DELETE FROM documents WHERE id = $1 AND version = $2")
            .bind(&id)
            .bind(old.version)
            .execute(&mut *conn)
            .await?;
        if result.rows_affected() == 1 {
            super::stats::apply(conn, &old, -1).await?;
        }
        Ok::<_, sqlx::Error>(result.rows_affected() == 1)
    }
    .await?;
    if !deleted {
        return Err(changed_meanwhile(&id, expected));
    }
    events::emit(
        ctx,
        EventKind::DocumentDeleted,
        &id,
        Some((&old).into()),
        None,
    )
    .await?;
    Ok(())
}

/// The document changed between its read and its write (which the row lock
/// should prevent): stale for a caller who named a version, else a conflict.
fn changed_meanwhile(id: &str, expected: Option<i64>) -> ModelError {
    match expected {
        Some(expected) => ModelError::VersionMismatch {
            expected,
            current: expected + 1,
        },
        None => ModelError::Conflict(format!(
            "document {id} was changed concurrently; read it again and retry"
        )),
    }
}

fn check_version(doc: &Document, expected: Option<i64>) -> Result<(), ModelError> {
    match expected {
        Some(expected) if expected != doc.version => Err(ModelError::VersionMismatch {
            expected,
            current: doc.version,
        }),
        _ => Ok(()),
    }
}

async fn fetch(conn: &mut AnyConnection, id: &str) -> Result<Option<Document>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM documents WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(Document::from_row).transpose()
}

/// The document about to change, locked until the transaction ends, so a
/// concurrent change waits and then sees this one's version: an `If-Match`
/// naming the old version then fails as stale (412) on PostgreSQL as on
/// SQLite, whose one writer already serialises changes.
async fn fetch_for_change(
    conn: &mut AnyConnection,
    backend: Backend,
    id: &str,
) -> Result<Option<Document>, sqlx::Error> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM documents WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(Document::from_row).transpose()
}

async fn insert(conn: &mut AnyConnection, doc: &Document) -> Result<(), sqlx::Error> {
    super::stats::apply(conn, doc, 1).await?;
    sqlx::query(&format!(
        "INSERT INTO documents ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&doc.id)
    .bind(&doc.collection_id)
    .bind(&doc.owner)
    .bind(&doc.title)
    .bind(&doc.content)
    .bind(&doc.format)
    .bind(&doc.content_hash)
    .bind(doc.word_count)
    .bind(doc.size_bytes)
    .bind(doc.version)
    .bind(doc.created_at)
    .bind(doc.updated_at)
    .bind(doc.archived_at)
    .bind(serde_json::to_string(&doc.tags).expect("tags serialize"))
    .bind(&doc.metadata)
    .execute(&mut *conn)
    .await?;
    insert_tags(conn, doc).await
}

async fn insert_tags(conn: &mut AnyConnection, doc: &Document) -> Result<(), sqlx::Error> {
    for tag in &doc.tags {
        sqlx::query(
            "INSERT INTO document_tags (document_id, collection_id, owner, tag) VALUES ($1, $2, $3, $4)",
        )
        .bind(&doc.id)
        .bind(&doc.collection_id)
        .bind(&doc.owner)
        .bind(tag)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn not_found(id: &str) -> ModelError {
    ModelError::NotFound(format!("document {id} not found"))
}

/// Hex SHA-256 of the content.
pub fn hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Whitespace-separated words.
pub fn words(content: &str) -> i64 {
    content.split_whitespace().count() as i64
}
