//! Collections: a named set of documents owned by one principal. Names are
//! unique per owner. A collection that still holds documents cannot be
//! deleted (delete or move them first), so no document is lost by accident.

use super::validate;
use super::{Ctx, ModelError, schemas};
use crate::domain::{Filter, Order};
use crate::services::events::{self, EventKind};
use crate::store::query::select::{self, SelectSpec};
use crate::util::{format_micros, now_micros};
use crate::wit::bindings::kai::fusion::models::Collection as WitCollection;
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Columns in the order of [`schemas::collections`].
const COLUMNS: &str = "id, owner, name, description, created_at, updated_at, metadata";

#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub description: String,
    pub metadata: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Collection {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get(0)?,
            owner: row.try_get(1)?,
            name: row.try_get(2)?,
            description: row.try_get(3)?,
            created_at: row.try_get(4)?,
            updated_at: row.try_get(5)?,
            metadata: row.try_get(6)?,
        })
    }

    pub fn to_wit(&self) -> WitCollection {
        WitCollection {
            id: self.id.clone(),
            owner: self.owner.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            metadata: self.metadata.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "owner": self.owner,
            "name": self.name,
            "description": self.description,
            "metadata": serde_json::from_str::<Value>(&self.metadata).unwrap_or(json!({})),
            "created_at": format_micros(self.created_at),
            "updated_at": format_micros(self.updated_at),
        })
    }
}

/// A collection to create or the fields to change (each `Some` is set).
#[derive(Debug, Clone, Default)]
pub struct CollectionInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<Value>,
}

pub async fn get(ctx: &Ctx<'_>, id: &str) -> Result<Collection, ModelError> {
    let id = validate::uuid("id", id)?;
    let found = async {
        let mut conn = ctx.session.read_conn().await?;
        let conn = &mut *conn;
        fetch(conn, &id).await
    }
    .await?;
    found
        .filter(|c| ctx.actor.can_see(&c.owner))
        .ok_or_else(|| not_found(&id))
}

/// The owner of a collection the actor may see, or not-found.
pub async fn visible_owner(ctx: &Ctx<'_>, id: &str) -> Result<String, ModelError> {
    Ok(get(ctx, id).await?.owner)
}

pub async fn list(
    ctx: &Ctx<'_>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Collection>, Option<String>), ModelError> {
    let schema = schemas::collections();
    let scope = ctx.actor.scope();
    let order = [Order::asc("created_at")];
    let plan = select::build(
        &SelectSpec {
            schema,
            fields: None,
            filter: &Filter::everything(),
            scope: scope.as_ref(),
            order: &order,
            limit,
            cursor,
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
    let items = page
        .iter()
        .map(Collection::from_row)
        .collect::<Result<_, _>>()?;
    Ok((items, next))
}

pub async fn create(ctx: &Ctx<'_>, input: CollectionInput) -> Result<Collection, ModelError> {
    let name = validate::collection_name("name", input.name.as_deref().unwrap_or(""))?;
    let description =
        validate::description("description", input.description.as_deref().unwrap_or(""))?;
    let metadata = validate::metadata("metadata", &input.metadata.unwrap_or_else(|| json!({})))?;
    let now = now_micros();
    let collection = Collection {
        id: uuid::Uuid::now_v7().to_string(),
        owner: ctx.actor.user_id.clone(),
        name,
        description,
        metadata,
        created_at: now,
        updated_at: now,
    };
    async {
        let mut conn = ctx.session.write_conn().await?;
        let conn = &mut *conn;
        ensure_name_free(conn, &collection.owner, &collection.name, None).await?;
        sqlx::query(&format!(
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
        .await?;
        Ok(())
    }
    .await
    .map_err(name_taken(&collection.name))?;
    events::emit(
        ctx,
        EventKind::CollectionCreated,
        &collection.id,
        None,
        Some((&collection).into()),
    )
    .await?;
    Ok(collection)
}

pub async fn update(
    ctx: &Ctx<'_>,
    id: &str,
    input: CollectionInput,
) -> Result<Collection, ModelError> {
    let old = get(ctx, id).await?;
    let mut new = old.clone();
    if let Some(name) = &input.name {
        new.name = validate::collection_name("name", name)?;
    }
    if let Some(description) = &input.description {
        new.description = validate::description("description", description)?;
    }
    if let Some(metadata) = &input.metadata {
        new.metadata = validate::metadata("metadata", metadata)?;
    }
    if new == old {
        return Ok(old);
    }
    new.updated_at = now_micros().max(old.updated_at + 1);
    async {
        let mut conn = ctx.session.write_conn().await?;
        let conn = &mut *conn;
        ensure_name_free(conn, &new.owner, &new.name, Some(&new.id)).await?;
        sqlx::query(
            "UPDATE collections SET name = $1, description = $2, metadata = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(&new.name)
        .bind(&new.description)
        .bind(&new.metadata)
        .bind(new.updated_at)
        .bind(&new.id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
    .await
    .map_err(name_taken(&new.name))?;
    events::emit(
        ctx,
        EventKind::CollectionUpdated,
        &new.id,
        Some((&old).into()),
        Some((&new).into()),
    )
    .await?;
    Ok(new)
}

pub async fn delete(ctx: &Ctx<'_>, id: &str) -> Result<(), ModelError> {
    let old = get(ctx, id).await?;
    let documents: i64 = async {
        let mut conn = ctx.session.write_conn().await?;
        let conn = &mut *conn;
        sqlx::query("SELECT COUNT(*) FROM documents WHERE collection_id = $1")
            .bind(&old.id)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)
    }
    .await?;
    if documents > 0 {
        return Err(ModelError::Conflict(format!(
            "collection {} still holds {documents} document(s); delete them first",
            old.id
        )));
    }
    async {
        let mut conn = ctx.session.write_conn().await?;
        let conn = &mut *conn;
        sqlx::query("DELETE FROM collections WHERE id = $1")
            .bind(&old.id)
            .execute(&mut *conn)
            .await
    }
    .await?;
    events::emit(
        ctx,
        EventKind::CollectionDeleted,
        &old.id,
        Some((&old).into()),
        None,
    )
    .await?;
    Ok(())
}

async fn fetch(conn: &mut AnyConnection, id: &str) -> Result<Option<Collection>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM collections WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(Collection::from_row).transpose()
}

/// Fails with a unique violation when `owner` already has a collection
/// called `name` (other than `except`). The table's UNIQUE constraint is the
/// final word; this check gives the common case a clear message.
async fn ensure_name_free(
    conn: &mut AnyConnection,
    owner: &str,
    name: &str,
    except: Option<&str>,
) -> Result<(), sqlx::Error> {
    let taken = sqlx::query("SELECT id FROM collections WHERE owner = $1 AND name = $2")
        .bind(owner)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.try_get::<String, _>(0))
        .transpose()?;
    match taken {
        Some(id) if Some(id.as_str()) != except => Err(sqlx::Error::Protocol(NAME_TAKEN.into())),
        _ => Ok(()),
    }
}

const NAME_TAKEN: &str = "collection name taken";

fn name_taken(name: &str) -> impl FnOnce(sqlx::Error) -> ModelError + '_ {
    move |error| {
        let unique = matches!(&error, sqlx::Error::Protocol(m) if m == NAME_TAKEN)
            || error
                .as_database_error()
                .is_some_and(|e| e.is_unique_violation());
        if unique {
            ModelError::Conflict(format!("you already have a collection named `{name}`"))
        } else {
            ModelError::Database(error)
        }
    }
}

fn not_found(id: &str) -> ModelError {
    ModelError::NotFound(format!("collection {id} not found"))
}
