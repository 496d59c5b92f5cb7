//! The `collections` table: reading, listing and writing collection rows
//! inside a [`Session`]. The rules (who may, what is valid) are the
//! services'; this module only speaks SQL.

use super::StoreError;
use super::core_tables;
use super::query::select::{Scope, SelectSpec};
use super::session::Session;
use crate::domain::{Collection, Filter, Order};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, FromRow, Row};

/// The columns a collection is read from.
const COLUMNS: &str = "id, owner, name, description, created_at, updated_at, metadata";

/// A row of `collections`, its columns read by name.
#[derive(sqlx::FromRow)]
struct CollectionRow {
    id: String,
    owner: String,
    name: String,
    description: String,
    metadata: String,
    created_at: i64,
    updated_at: i64,
}

fn from_row(row: &AnyRow) -> Result<Collection, sqlx::Error> {
    let row = CollectionRow::from_row(row)?;
    Ok(Collection {
        id: row.id,
        owner: row.owner,
        name: row.name,
        description: row.description,
        metadata: row.metadata,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub async fn get(session: &Session, id: &str) -> Result<Option<Collection>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM collections WHERE id = $1");
    super::read::row_by_id(session, &sql, id, from_row).await
}

/// The owner of collection `id`, if it exists.
pub async fn owner(session: &Session, id: &str) -> Result<Option<String>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    sqlx::query("SELECT owner FROM collections WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.try_get(0))
        .transpose()
}

/// One page of collections within `scope`, oldest first, and the cursor of
/// the next page.
pub async fn page(
    session: &Session,
    scope: Option<&Scope>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Collection>, Option<String>), StoreError> {
    let spec = SelectSpec {
        schema: core_tables::collections(),
        fields: None,
        filter: &Filter::everything(),
        scope,
        order: &[Order::asc("created_at")],
        limit,
        cursor,
        cursor_key: session.db().cursor_key(),
    };
    super::read::fetch_page(session, &spec, from_row).await
}

/// Writes a new collection; `false` (and nothing written) when its owner
/// already has one of that name.
pub async fn insert(session: &Session, collection: &Collection) -> Result<bool, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    if name_taken(&mut conn, &collection.owner, &collection.name, None).await? {
        return Ok(false);
    }
    let result = sqlx::query(&format!(
        "INSERT INTO collections ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&collection.id)
    .bind(&collection.owner)
    .bind(&collection.name)
    .bind(&collection.description)
    .bind(collection.created_at)
    .bind(collection.updated_at)
    .bind(&collection.metadata)
    .execute(&mut *conn)
    .await;
    unless_unique_violation(result)
}

/// Writes a collection's name, description, metadata and `updated_at`;
/// `false` (and nothing written) when the new name is taken.
pub async fn update(session: &Session, collection: &Collection) -> Result<bool, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    if name_taken(
        &mut conn,
        &collection.owner,
        &collection.name,
        Some(&collection.id),
    )
    .await?
    {
        return Ok(false);
    }
    let result = sqlx::query(
        "UPDATE collections SET name = $1, description = $2, metadata = $3, updated_at = $4 \
         WHERE id = $5",
    )
    .bind(&collection.name)
    .bind(&collection.description)
    .bind(&collection.metadata)
    .bind(collection.updated_at)
    .bind(&collection.id)
    .execute(&mut *conn)
    .await;
    unless_unique_violation(result)
}

/// How many documents collection `id` holds, read in the write transaction
/// (so a delete that follows sees the same count).
pub async fn document_count(session: &Session, id: &str) -> Result<i64, sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query("SELECT COUNT(*) FROM documents WHERE collection_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)
}

pub async fn delete(session: &Session, id: &str) -> Result<(), sqlx::Error> {
    let mut conn = session.write_conn().await?;
    sqlx::query("DELETE FROM collections WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Whether `owner` has a collection called `name` (other than `except`).
/// The table's UNIQUE constraint is the final word; this check spares the
/// common case a failed statement (which PostgreSQL would make fatal to
/// the transaction).
async fn name_taken(
    conn: &mut AnyConnection,
    owner: &str,
    name: &str,
    except: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let taken: Option<String> =
        sqlx::query("SELECT id FROM collections WHERE owner = $1 AND name = $2")
            .bind(owner)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
    Ok(taken.is_some_and(|id| Some(id.as_str()) != except))
}

/// `Ok(true)` when a write went through, `Ok(false)` when it broke a
/// unique constraint, the error otherwise.
fn unless_unique_violation<T>(result: Result<T, sqlx::Error>) -> Result<bool, sqlx::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(error) if super::is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error),
    }
}
