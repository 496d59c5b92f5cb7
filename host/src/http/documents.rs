//! Documents over REST.
//!
//! - `POST /api/v1/collections/{id}/documents`: create one.
//! - `GET /api/v1/collections/{id}/documents`: list, filtered by `tag`,
//!   `format`, `q` (text in title or content), `created_after`,
//!   `created_before`, `updated_after`, `updated_before`,
//!   `include_archived`; ordered by `sort` (`created_at`, `-created_at`,
//!   `updated_at`, `-updated_at`, `title`, `-title`) then id; paginated
//!   with `limit` and `cursor`; content only with `include=content`.
//! - `POST /api/v1/collections/{id}/documents:bulk`: up to 1,000 in one
//!   transaction.
//! - `GET|PUT|PATCH|DELETE /api/v1/documents/{id}`: the `ETag` is the
//!   version; `If-Match` makes writes conditional (412 when stale) and
//!   `If-None-Match` makes reads conditional (304).

use super::CoreApi;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, QueryParams, etag, if_match, if_none_match, path_id};
use super::listing::{Items, Page};
use super::openapi::{Authenticated, BadParameters, NotFound, Stale, WithBody};
use super::unit::Unit;
use crate::domain::{Document, DocumentChange, NewDocument};
use crate::domain::{Filter, Op, Order, Value as FieldValue};
use crate::services::documents::{self, ListQuery};
use crate::state::AppState;
use crate::util::format_micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(create, list))
        .route(routes!(create_bulk))
        .route(routes!(get, replace, patch, delete))
        .route(routes!(search))
}

/// A new document.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDocumentBody {
    title: String,
    #[serde(default)]
    content: String,
    /// `txt` by default.
    format: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    /// A JSON object.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// A document as the REST API shows it.
#[derive(Serialize, ToSchema)]
pub struct DocumentView {
    id: String,
    collection_id: String,
    /// The owner's user id.
    owner: String,
    title: String,
    format: String,
    tags: Vec<String>,
    #[schema(value_type = Object)]
    metadata: Value,
    /// SHA-256 of the content, hex.
    content_hash: String,
    word_count: i64,
    size_bytes: i64,
    /// Starts at 1, one more with each change; the `ETag`.
    version: i64,
    /// RFC 3339, UTC.
    created_at: String,
    updated_at: String,
    /// Set while archived.
    archived_at: Option<String>,
    /// On single documents, and in lists with `include=content`.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
}

impl DocumentView {
    fn of(doc: &Document, include_content: bool) -> Self {
        DocumentView {
            id: doc.id.clone(),
            collection_id: doc.collection_id.clone(),
            owner: doc.owner.clone(),
            title: doc.title.clone(),
            format: doc.format.clone(),
            tags: doc.tags.clone(),
            metadata: serde_json::from_str(&doc.metadata).unwrap_or_else(|_| json!({})),
            content_hash: doc.content_hash.clone(),
            word_count: doc.word_count,
            size_bytes: doc.size_bytes,
            version: doc.version,
            created_at: format_micros(doc.created_at),
            updated_at: format_micros(doc.updated_at),
            archived_at: doc.archived_at.map(format_micros),
            content: include_content.then(|| doc.content.clone()),
        }
    }
}

impl From<NewDocumentBody> for NewDocument {
    fn from(body: NewDocumentBody) -> Self {
        NewDocument {
            title: body.title,
            content: body.content,
            format: body.format,
            tags: body.tags,
            metadata: body.metadata,
        }
    }
}

/// Up to 1,000 new documents.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    documents: Vec<NewDocumentBody>,
}

/// PATCH: every field optional; each given is set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    title: Option<String>,
    content: Option<String>,
    format: Option<String>,
    tags: Option<Vec<String>>,
    /// A JSON object.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    archived: Option<bool>,
}

/// PUT: the whole document; omitted optional fields take their defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplaceBody {
    title: String,
    content: String,
    format: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    /// A JSON object.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    archived: Option<bool>,
}

/// A document response with its `ETag`.
fn with_etag(status: StatusCode, doc: &Document) -> Response {
    (
        status,
        [(header::ETAG, etag(doc.version))],
        Json(DocumentView::of(doc, true)),
    )
        .into_response()
}

/// Creates a document in a collection.
#[utoipa::path(
    post, path = "/api/v1/collections/{id}/documents", tag = "documents", operation_id = "documents_create",
    params(("id" = uuid::Uuid, Path, description = "The collection's id (a UUID)")),
    request_body = NewDocumentBody,
    responses(
        (status = 201, body = DocumentView, headers(("ETag" = String, description = "The document's version"), ("Location" = String, description = "The new document"))),
        Authenticated, WithBody, NotFound,
    )
)]
async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(collection): Path<String>,
    ApiJson(body): ApiJson<NewDocumentBody>,
) -> Result<Response, ApiError> {
    let collection = path_id("id", &collection)?;
    let unit = Unit::new(&state, &principal);
    let doc = documents::create(&unit.ctx(), &collection, body.into()).await?;
    unit.commit().await?;
    let mut response = with_etag(StatusCode::CREATED, &doc);
    response.headers_mut().insert(
        header::LOCATION,
        format!("/api/v1/documents/{}", doc.id)
            .parse()
            .expect("ids are header-safe"),
    );
    Ok(response)
}

/// Creates up to 1,000 documents in one transaction: all or none.
#[utoipa::path(
    post, path = "/api/v1/collections/{id}/documents:bulk", tag = "documents", operation_id = "documents_create_bulk",
    params(("id" = uuid::Uuid, Path, description = "The collection's id (a UUID)")),
    request_body = BulkBody,
    responses((status = 201, description = "Created, without their content", body = Items<DocumentView>), Authenticated, WithBody, NotFound)
)]
async fn create_bulk(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(collection): Path<String>,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Response, ApiError> {
    let collection = path_id("id", &collection)?;
    if body.documents.is_empty() {
        return Err(ApiError::validation("documents", "must not be empty"));
    }
    let unit = Unit::new(&state, &principal);
    let inputs = body.documents.into_iter().map(NewDocument::from).collect();
    let created = documents::create_many(&unit.ctx(), &collection, inputs, "documents").await?;
    unit.commit().await?;
    let items = created.iter().map(|d| DocumentView::of(d, false)).collect();
    Ok((StatusCode::CREATED, Json(Items { items })).into_response())
}

const LIST_PARAMS: &[&str] = &[
    "limit",
    "cursor",
    "tag",
    "format",
    "q",
    "created_after",
    "created_before",
    "updated_after",
    "updated_before",
    "include_archived",
    "include",
    "sort",
];

/// The documents of a collection, filtered, sorted and paginated.
#[utoipa::path(
    get, path = "/api/v1/collections/{id}/documents", tag = "documents", operation_id = "documents_list",
    params(
        ("id" = uuid::Uuid, Path, description = "The collection's id (a UUID)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("tag" = Option<String>, Query, description = "Only documents with this tag"),
        ("format" = Option<String>, Query, description = "Only documents of this format"),
        ("q" = Option<String>, Query, description = "Text in the title or the content"),
        ("created_after" = Option<String>, Query, description = "RFC 3339"),
        ("created_before" = Option<String>, Query, description = "RFC 3339"),
        ("updated_after" = Option<String>, Query, description = "RFC 3339"),
        ("updated_before" = Option<String>, Query, description = "RFC 3339"),
        ("include_archived" = Option<bool>, Query, description = "Archived documents too"),
        ("include" = Option<String>, Query, description = "`content` to include each document's content"),
        ("sort" = Option<String>, Query, description = "`created_at` (default), `updated_at` or `title`; prefix `-` for descending"),
    ),
    responses((status = 200, body = Page<DocumentView>), Authenticated, BadParameters, NotFound)
)]
async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(collection): Path<String>,
    uri: Uri,
) -> Result<Json<Page<DocumentView>>, ApiError> {
    let collection = path_id("id", &collection)?;
    let params = QueryParams::parse(&uri, LIST_PARAMS)?;
    let include_content = include_content(&params)?;
    let query = ListQuery {
        filter: list_filter(&collection, &params)?,
        order: list_order(params.get("sort"))?,
        limit: params.page_limit()?,
        cursor: params.get("cursor").map(str::to_string),
    };
    let unit = Unit::new(&state, &principal);
    // A missing or foreign collection is a 404, not an empty list.
    crate::services::collections::get(&unit.ctx(), &collection).await?;
    let (items, next) = documents::query(&unit.ctx(), &query).await?;
    Ok(Json(Page {
        items: items
            .iter()
            .map(|d| DocumentView::of(d, include_content))
            .collect(),
        next_cursor: next,
    }))
}

const SEARCH_PARAMS: &[&str] = &[
    "q",
    "collection_id",
    "limit",
    "cursor",
    "tag",
    "format",
    "created_after",
    "created_before",
    "updated_after",
    "updated_before",
    "include_archived",
    "include",
];

/// A document found by a search.
#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    #[serde(flatten)]
    document: DocumentView,
    /// Where the query matched, as HTML: the text escaped, each match in
    /// `<mark>`, `…` where text was left out.
    snippet: String,
    /// Higher is a better match; comparable within one search only.
    score: f64,
}

/// Full-text search over every document the caller can see (an admin's:
/// all), best match first. `q` takes words (all must match), `"quoted
/// phrases"`, `prefix*` and `-excluded` words or phrases; words are letters
/// and digits, matched without case. A query that matches more than 10,000
/// documents ranks the newest 10,000 of them: narrow it to reach older ones.
#[utoipa::path(
    get, path = "/api/v1/documents:search", tag = "documents", operation_id = "documents_search",
    params(
        ("q" = String, Query, description = "The query: `rust \"async runtime\" tok* -java`"),
        ("collection_id" = Option<uuid::Uuid>, Query, description = "Only this collection's documents"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("tag" = Option<String>, Query, description = "Only documents with this tag"),
        ("format" = Option<String>, Query, description = "Only documents of this format"),
        ("created_after" = Option<String>, Query, description = "RFC 3339"),
        ("created_before" = Option<String>, Query, description = "RFC 3339"),
        ("updated_after" = Option<String>, Query, description = "RFC 3339"),
        ("updated_before" = Option<String>, Query, description = "RFC 3339"),
        ("include_archived" = Option<bool>, Query, description = "Archived documents too"),
        ("include" = Option<String>, Query, description = "`content` to include each document's content"),
    ),
    responses(
        (status = 200, body = Page<SearchHit>),
        (status = 422, description = "The query does not parse; `message` names the problem", body = super::error::ErrorBody),
        Authenticated, BadParameters, NotFound,
    )
)]
async fn search(
    State(state): State<AppState>,
    Caller(principal): Caller,
    uri: Uri,
) -> Result<Json<Page<SearchHit>>, ApiError> {
    let params = QueryParams::parse(&uri, SEARCH_PARAMS)?;
    let include_content = include_content(&params)?;
    let Some(text) = params.get("q") else {
        return Err(ApiError::validation(
            "q",
            "is required: the words to look for",
        ));
    };
    let collection = params
        .get("collection_id")
        .map(|id| path_id("collection_id", id))
        .transpose()?;
    let request = documents::SearchRequest {
        text: text.to_string(),
        filter: document_filter(collection.as_deref(), &params)?,
        limit: params.page_limit()?,
        cursor: params.get("cursor").map(str::to_string),
    };
    let unit = Unit::new(&state, &principal);
    if let Some(collection) = &collection {
        // A missing or foreign collection is a 404, not an empty result.
        crate::services::collections::get(&unit.ctx(), collection).await?;
    }
    let (hits, next) = documents::search(&unit.ctx(), &request).await?;
    Ok(Json(Page {
        items: hits
            .iter()
            .map(|hit| SearchHit {
                document: DocumentView::of(&hit.document, include_content),
                snippet: crate::domain::search::snippet_html(&hit.snippet),
                score: -hit.rank,
            })
            .collect(),
        next_cursor: next,
    }))
}

/// `include=content`, or nothing.
fn include_content(params: &QueryParams) -> Result<bool, ApiError> {
    match params.get("include") {
        None => Ok(false),
        Some("content") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "query parameter `include`: `{other}` is not supported (use include=content)"
        ))),
    }
}

/// The filter of a list request, as conditions all of which must hold.
fn list_filter(collection: &str, params: &QueryParams) -> Result<Filter, ApiError> {
    let mut filter = document_filter(Some(collection), params)?;
    if let (Some(text), Filter::All(all)) = (
        params.get("q").filter(|q| !q.trim().is_empty()),
        &mut filter,
    ) {
        let contains = |field: &str| {
            Filter::condition(field, Op::Contains, vec![FieldValue::Text(text.into())])
        };
        all.push(Filter::Any(vec![contains("title"), contains("content")]));
    }
    Ok(filter)
}

/// The conditions a listing and a search share: the collection, tag,
/// format, dates and archived state.
fn document_filter(collection: Option<&str>, params: &QueryParams) -> Result<Filter, ApiError> {
    let mut all = Vec::new();
    if let Some(collection) = collection {
        all.push(Filter::eq(
            "collection_id",
            FieldValue::Uuid(collection.into()),
        ));
    }
    if let Some(tag) = params.get("tag") {
        all.push(Filter::eq("tag", FieldValue::Text(tag.into())));
    }
    if let Some(format) = params.get("format") {
        if !crate::services::validate::FORMATS.contains(&format) {
            return Err(ApiError::BadRequest(format!(
                "query parameter `format`: unknown format `{format}`; use one of {}",
                crate::services::validate::FORMATS.join(", ")
            )));
        }
        all.push(Filter::eq("format", FieldValue::Text(format.into())));
    }
    for (param, field, op) in [
        ("created_after", "created_at", Op::Gt),
        ("created_before", "created_at", Op::Lt),
        ("updated_after", "updated_at", Op::Gt),
        ("updated_before", "updated_at", Op::Lt),
    ] {
        if let Some(at) = params.timestamp(param)? {
            all.push(Filter::condition(
                field,
                op,
                vec![FieldValue::Timestamp(at)],
            ));
        }
    }
    if !params.flag("include_archived")? {
        all.push(Filter::condition("archived_at", Op::IsNull, vec![]));
    }
    Ok(Filter::All(all))
}

fn list_order(sort: Option<&str>) -> Result<Vec<Order>, ApiError> {
    let sort = sort.unwrap_or("created_at");
    let (field, descending) = match sort.strip_prefix('-') {
        Some(field) => (field, true),
        None => (sort, false),
    };
    if !["created_at", "updated_at", "title"].contains(&field) {
        return Err(ApiError::BadRequest(format!(
            "query parameter `sort`: `{sort}` is not one of created_at, updated_at, title (prefix - for descending)"
        )));
    }
    Ok(vec![Order {
        field: field.into(),
        descending,
    }])
}

/// One document, with its content.
#[utoipa::path(
    get, path = "/api/v1/documents/{id}", tag = "documents", operation_id = "documents_get",
    params(("id" = uuid::Uuid, Path, description = "The document's id (a UUID)"), ("If-None-Match" = Option<String>, Header, description = "An `ETag`: 304 while it is current")),
    responses(
        (status = 200, body = DocumentView, headers(("ETag" = String, description = "The document's version"))),
        (status = 304, description = "`If-None-Match` names the current version"),
        Authenticated, BadParameters, NotFound,
    )
)]
async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let doc = documents::get(&unit.ctx(), &id).await?;
    if if_none_match(&headers)? == Some(doc.version) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag(doc.version))],
        )
            .into_response());
    }
    Ok(with_etag(StatusCode::OK, &doc))
}

/// Replaces a document; omitted optional fields take their defaults.
#[utoipa::path(
    put, path = "/api/v1/documents/{id}", tag = "documents", operation_id = "documents_replace",
    params(("id" = uuid::Uuid, Path, description = "The document's id (a UUID)"), ("If-Match" = Option<String>, Header, description = "An `ETag`: the write happens only while it is current")),
    request_body = ReplaceBody,
    responses((status = 200, body = DocumentView, headers(("ETag" = String, description = "The document's version"))), Authenticated, WithBody, NotFound, Stale)
)]
async fn replace(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReplaceBody>,
) -> Result<Response, ApiError> {
    let id = path_id("id", &id)?;
    let expected = if_match(&headers)?;
    let change = DocumentChange {
        title: Some(body.title),
        content: Some(body.content),
        format: Some(body.format.unwrap_or_else(|| "txt".into())),
        tags: Some(body.tags),
        metadata: Some(body.metadata.unwrap_or_else(|| json!({}))),
        archived: Some(body.archived.unwrap_or(false)),
    };
    write(&state, &principal, &id, change, expected).await
}

/// Changes the fields given.
#[utoipa::path(
    patch, path = "/api/v1/documents/{id}", tag = "documents", operation_id = "documents_patch",
    params(("id" = uuid::Uuid, Path, description = "The document's id (a UUID)"), ("If-Match" = Option<String>, Header, description = "An `ETag`: the write happens only while it is current")),
    request_body = PatchBody,
    responses((status = 200, body = DocumentView, headers(("ETag" = String, description = "The document's version"))), Authenticated, WithBody, NotFound, Stale)
)]
async fn patch(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Response, ApiError> {
    let id = path_id("id", &id)?;
    let expected = if_match(&headers)?;
    let change = DocumentChange {
        title: body.title,
        content: body.content,
        format: body.format,
        tags: body.tags,
        metadata: body.metadata,
        archived: body.archived,
    };
    write(&state, &principal, &id, change, expected).await
}

async fn write(
    state: &AppState,
    principal: &crate::domain::Principal,
    id: &str,
    change: DocumentChange,
    expected: Option<i64>,
) -> Result<Response, ApiError> {
    let unit = Unit::new(state, principal);
    let doc = documents::update(&unit.ctx(), id, change, expected).await?;
    unit.commit().await?;
    Ok(with_etag(StatusCode::OK, &doc))
}

/// Deletes a document.
#[utoipa::path(
    delete, path = "/api/v1/documents/{id}", tag = "documents", operation_id = "documents_delete",
    params(("id" = uuid::Uuid, Path, description = "The document's id (a UUID)"), ("If-Match" = Option<String>, Header, description = "An `ETag`: the delete happens only while it is current")),
    responses((status = 204, description = "Deleted"), Authenticated, BadParameters, NotFound, Stale)
)]
async fn delete(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = path_id("id", &id)?;
    let expected = if_match(&headers)?;
    let unit = Unit::new(&state, &principal);
    documents::delete(&unit.ctx(), &id, expected).await?;
    unit.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
