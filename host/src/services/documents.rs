//! Documents: create (one or a bulk batch), read, list, search, update
//! with an expected version, archive, delete. Every change bumps `version` and
//! emits its event inside the same transaction, so transactional hooks see
//! it and can veto it.

use super::validate;
use super::{Ctx, ModelError};
use crate::domain::search::SearchQuery;
use crate::domain::{Document, DocumentChange, Filter, NewDocument, Order};
use crate::services::events::EventKind;
use crate::services::events::emit::emit;
use crate::store::documents::{self as rows, Listing};
pub use crate::store::search::Hit;
use crate::store::search::{self, SearchSpec};
use crate::util::now_micros;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Most documents in one bulk request.
pub const MAX_BULK: usize = 1000;

/// A search: the query as given, and the listing's filter.
pub struct SearchRequest {
    pub text: String,
    pub filter: Filter,
    pub limit: u32,
    pub cursor: Option<String>,
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
    rows::get(ctx.session, &id)
        .await?
        .filter(|doc| ctx.principal.can_see(&doc.owner))
        .ok_or_else(|| not_found(&id))
}

/// Documents matching `query`, within what the principal may see.
pub async fn query(
    ctx: &Ctx<'_>,
    query: &ListQuery,
) -> Result<(Vec<Document>, Option<String>), ModelError> {
    let scope = super::scope_within_collection(ctx.session, ctx.principal, &query.filter).await?;
    let listing = Listing {
        filter: &query.filter,
        scope: scope.as_ref(),
        order: &query.order,
        limit: query.limit,
        cursor: query.cursor.as_deref(),
    };
    Ok(rows::page(ctx.session, &listing).await?)
}

/// Documents matching a full-text query, best first, within what the
/// principal may see; a query that does not parse is invalid (`q`).
pub async fn search(
    ctx: &Ctx<'_>,
    request: &SearchRequest,
) -> Result<(Vec<Hit>, Option<String>), ModelError> {
    let query = SearchQuery::parse(&request.text).map_err(|e| ModelError::invalid("q", e.0))?;
    let scope = super::scope_within_collection(ctx.session, ctx.principal, &request.filter).await?;
    let spec = SearchSpec {
        query: &query,
        text: &request.text,
        filter: &request.filter,
        scope: scope.as_ref(),
        limit: request.limit,
        cursor: request.cursor.as_deref(),
    };
    Ok(search::documents(ctx.session, &spec).await?)
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
    let max_bytes = ctx.core.limits.max_document_bytes;
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
        rows::insert(ctx.session, doc).await?;
        emit(
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
    let old = rows::get_for_change(ctx.session, &id)
        .await?
        .filter(|doc| ctx.principal.can_see(&doc.owner))
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
        ctx.core.limits.max_document_bytes,
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
    let updated = rows::update(ctx.session, &old, &new).await?;
    if !updated {
        return Err(changed_meanwhile(&id, expected));
    }
    emit(
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
    let old = rows::get_for_change(ctx.session, &id)
        .await?
        .filter(|doc| ctx.principal.can_see(&doc.owner))
        .ok_or_else(|| not_found(&id))?;
    check_version(&old, expected)?;
    let deleted = rows::delete(ctx.session, &old).await?;
    if !deleted {
        return Err(changed_meanwhile(&id, expected));
    }
    emit(
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

fn not_found(id: &str) -> ModelError {
    ModelError::NotFound(format!("document {id} not found"))
}

/// A document as a workflow run's data: its metadata as the object it
/// holds.
pub fn document_json(document: &Document) -> serde_json::Value {
    let mut value = serde_json::to_value(document).unwrap_or(serde_json::Value::Null);
    if let Ok(metadata) = serde_json::from_str::<serde_json::Value>(&document.metadata) {
        value["metadata"] = metadata;
    }
    value
}

/// Hex SHA-256 of the content.
pub fn hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Whitespace-separated words.
pub fn words(content: &str) -> i64 {
    content.split_whitespace().count() as i64
}
