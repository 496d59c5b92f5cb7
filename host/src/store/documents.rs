//! The `documents` table and its companions: every document write also
//! keeps `document_tags` and the per-collection [`stats`](super::stats) in
//! step, in the same transaction. The rules (who may, what is valid, which
//! version is expected) are the services'; this module only speaks SQL.

use super::query::select::{Scope, SelectSpec};
use super::session::Session;
use super::{Backend, StoreError, core_tables, stats};
use crate::domain::{Document, Filter, Order};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, FromRow};

/// The columns a document is read from.
pub(super) const COLUMNS: &str = "id, collection_id, owner, title, content, format, content_hash, \
     word_count, size_bytes, version, created_at, updated_at, archived_at, tags, metadata";

/// A row of `documents`, its columns read by name.
#[derive(sqlx::FromRow)]
struct DocumentRow {
    id: String,
    collection_id: String,
    owner: String,
    title: String,
    content: String,
    format: String,
    /// A JSON array of text, kept beside `document_tags` for reads.
    tags: String,
    metadata: String,
    content_hash: String,
    word_count: i64,
    size_bytes: i64,
    version: i64,
    created_at: i64,
    updated_at: i64,
    archived_at: Option<i64>,
}

pub(super) fn from_row(row: &AnyRow) -> Result<Document, sqlx::Error> {
    let row = DocumentRow::from_row(row)?;
    Ok(Document {
        id: row.id,
        collection_id: row.collection_id,
        owner: row.owner,
        title: row.title,
        content: row.content,
        format: row.format,
        tags: serde_json::from_str(&row.tags).unwrap_or_default(),
        metadata: row.metadata,
        content_hash: row.content_hash,
        word_count: row.word_count,
        size_bytes: row.size_bytes,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        archived_at: row.archived_at,
    })
}

pub async fn get(session: &Session, id: &str) -> Result<Option<Document>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM documents WHERE id = $1");
    super::read::row_by_id(session, &sql, id, from_row).await
}

/// The document about to change, locked until the transaction ends, so a
/// concurrent change waits and then sees this one's version: an `If-Match`
/// naming the old version then fails as stale on PostgreSQL as on SQLite,
/// whose one writer already serialises changes.
pub async fn get_for_change(session: &Session, id: &str) -> Result<Option<Document>, sqlx::Error> {
    let lock = match session.db().backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let mut conn = session.write_conn().await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM documents WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A listing of documents: the filter and order of the query language.
pub struct Listing<'a> {
    pub filter: &'a Filter,
    pub scope: Option<&'a Scope>,
    pub order: &'a [Order],
    pub limit: u32,
    pub cursor: Option<&'a str>,
}

/// One page of a listing and the cursor of the next page.
pub async fn page(
    session: &Session,
    listing: &Listing<'_>,
) -> Result<(Vec<Document>, Option<String>), StoreError> {
    let spec = SelectSpec {
        schema: core_tables::documents(),
        fields: None,
        filter: listing.filter,
        scope: listing.scope,
        order: listing.order,
        limit: listing.limit,
        cursor: listing.cursor,
        cursor_key: session.db().cursor_key(),
    };
    super::read::fetch_page(session, &spec, from_row).await
}

/// Writes a new document with its tags and statistics.
pub async fn insert(session: &Session, doc: &Document) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    stats::apply(&mut conn, doc, 1).await?;
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
    .bind(tags_json(doc))
    .bind(&doc.metadata)
    .execute(&mut *conn)
    .await?;
    insert_tags(&mut conn, doc).await
}

/// Replaces `old` with `new` (tags and statistics included) if the row is
/// still at `old.version`; `false` when it is not, and nothing written.
pub async fn update(
    session: &Session,
    old: &Document,
    new: &Document,
) -> Result<bool, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    let result = sqlx::query(
        "UPDATE documents SET title = $1, content = $2, format = $3, tags = $4, metadata = $5, \
         content_hash = $6, word_count = $7, size_bytes = $8, version = $9, updated_at = $10, \
         archived_at = $11 WHERE id = $12 AND version = $13",
    )
    .bind(&new.title)
    .bind(&new.content)
    .bind(&new.format)
    .bind(tags_json(new))
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
    if result.rows_affected() != 1 {
        return Ok(false);
    }
    if new.tags != old.tags {
        delete_tags(&mut conn, &new.id).await?;
        insert_tags(&mut conn, new).await?;
    }
    stats::replace(&mut conn, old, new).await?;
    Ok(true)
}

/// Deletes `old` (tags and statistics included) if the row is still at
/// `old.version`; `false` when it is not, and nothing written.
pub async fn delete(session: &Session, old: &Document) -> Result<bool, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    delete_tags(&mut conn, &old.id).await?;
    let result = sqlx::query("DELETE FROM documents WHERE id = $1 AND version = $2")
        .bind(&old.id)
        .bind(old.version)
        .execute(&mut *conn)
        .await?;
    if result.rows_affected() != 1 {
        return Ok(false);
    }
    stats::apply(&mut conn, old, -1).await?;
    Ok(true)
}

fn tags_json(doc: &Document) -> String {
    serde_json::to_string(&doc.tags).expect("a list of strings serializes")
}

async fn insert_tags(conn: &mut AnyConnection, doc: &Document) -> Result<(), sqlx::Error> {
    for tag in &doc.tags {
        sqlx::query(
            "INSERT INTO document_tags (document_id, collection_id, owner, tag) \
             VALUES ($1, $2, $3, $4)",
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

async fn delete_tags(conn: &mut AnyConnection, document_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM document_tags WHERE document_id = $1")
        .bind(document_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
