//! Collections: a named set of documents owned by one user. Names are
//! unique per owner. A collection that still holds documents cannot be
//! deleted (delete or move them first), so no document is lost by accident.

use super::validate;
use super::{Ctx, ModelError};
use crate::domain::{Collection, CollectionInput};
use crate::services::events::EventKind;
use crate::services::events::emit::emit;
use crate::store::collections as rows;
use crate::store::query::select::Scope;
use crate::util::now_micros;
use serde_json::json;

pub async fn get(ctx: &Ctx<'_>, id: &str) -> Result<Collection, ModelError> {
    let id = validate::uuid("id", id)?;
    rows::get(ctx.session, &id)
        .await?
        .filter(|c| ctx.principal.can_see(&c.owner))
        .ok_or_else(|| not_found(&id))
}

/// The owner of a collection the principal may see, or not-found.
pub async fn visible_owner(ctx: &Ctx<'_>, id: &str) -> Result<String, ModelError> {
    Ok(get(ctx, id).await?.owner)
}

/// The collections the principal may see, oldest first, a page at a time.
pub async fn list(
    ctx: &Ctx<'_>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Collection>, Option<String>), ModelError> {
    let scope = Scope::for_principal(ctx.principal);
    Ok(rows::page(ctx.session, scope.as_ref(), limit, cursor).await?)
}

pub async fn create(ctx: &Ctx<'_>, input: CollectionInput) -> Result<Collection, ModelError> {
    let name = validate::collection_name("name", input.name.as_deref().unwrap_or(""))?;
    let description =
        validate::description("description", input.description.as_deref().unwrap_or(""))?;
    let metadata = validate::metadata("metadata", &input.metadata.unwrap_or_else(|| json!({})))?;
    let now = now_micros();
    let collection = Collection {
        id: uuid::Uuid::now_v7().to_string(),
        owner: ctx.principal.user_id.clone(),
        name,
        description,
        metadata,
        created_at: now,
        updated_at: now,
    };
    if !rows::insert(ctx.session, &collection).await? {
        return Err(name_taken(&collection.name));
    }
    emit(
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
    if !rows::update(ctx.session, &new).await? {
        return Err(name_taken(&new.name));
    }
    emit(
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
    let documents = rows::document_count(ctx.session, &old.id).await?;
    if documents > 0 {
        return Err(ModelError::Conflict(format!(
            "collection {} still holds {documents} document(s); delete them first",
            old.id
        )));
    }
    rows::delete(ctx.session, &old.id).await?;
    emit(
        ctx,
        EventKind::CollectionDeleted,
        &old.id,
        Some((&old).into()),
        None,
    )
    .await?;
    Ok(())
}

fn name_taken(name: &str) -> ModelError {
    ModelError::Conflict(format!("you already have a collection named `{name}`"))
}

fn not_found(id: &str) -> ModelError {
    ModelError::NotFound(format!("collection {id} not found"))
}
