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
use super::collections::DEFAULT_LIMIT;
use super::error::ApiError;
use super::extract::{ApiJson, QueryParams, etag, if_match, if_none_match, path_id};
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
use serde::Deserialize;
use serde_json::{Value, json};

pub fn mount(api: CoreApi) -> CoreApi {
    api.route("POST", "/api/v1/collections/{id}/documents", create)
        .route("GET", "/api/v1/collections/{id}/documents", list)
        .route(
            "POST",
            "/api/v1/collections/{id}/documents:bulk",
            create_bulk,
        )
        .route("GET", "/api/v1/documents/{id}", get)
        .route("PUT", "/api/v1/documents/{id}", replace)
        .route("PATCH", "/api/v1/documents/{id}", patch)
        .route("DELETE", "/api/v1/documents/{id}", delete)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDocumentBody {
    title: String,
    #[serde(default)]
    content: String,
    format: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    metadata: Option<Value>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    documents: Vec<NewDocumentBody>,
}

/// PATCH: every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    title: Option<String>,
    content: Option<String>,
    format: Option<String>,
    tags: Option<Vec<String>>,
    metadata: Option<Value>,
    archived: Option<bool>,
}

/// PUT: the whole document; omitted optional fields take their defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceBody {
    title: String,
    content: String,
    format: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    metadata: Option<Value>,
    archived: Option<bool>,
}

/// A document response with its `ETag`.
fn with_etag(status: StatusCode, doc: &Document) -> Response {
    (
        status,
        [(header::ETAG, etag(doc.version))],
        Json(document_json(doc, true)),
    )
        .into_response()
}

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
    let items: Vec<Value> = created.iter().map(|d| document_json(d, false)).collect();
    Ok((StatusCode::CREATED, Json(json!({ "items": items }))).into_response())
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

async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(collection): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let collection = path_id("id", &collection)?;
    let params = QueryParams::parse(&uri, LIST_PARAMS)?;
    let include_content = match params.get("include") {
        None => false,
        Some("content") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "query parameter `include`: `{other}` is not supported (use include=content)"
            )));
        }
    };
    let query = ListQuery {
        filter: list_filter(&collection, &params)?,
        order: list_order(params.get("sort"))?,
        limit: params
            .parsed::<u32>("limit", "a number")?
            .unwrap_or(DEFAULT_LIMIT),
        cursor: params.get("cursor").map(str::to_string),
    };
    let unit = Unit::new(&state, &principal);
    // A missing or foreign collection is a 404, not an empty list.
    crate::services::collections::get(&unit.ctx(), &collection).await?;
    let (items, next) = documents::query(&unit.ctx(), &query).await?;
    Ok(Json(json!({
        "items": items.iter().map(|d| document_json(d, include_content)).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// The filter of a list request, as conditions all of which must hold.
fn list_filter(collection: &str, params: &QueryParams) -> Result<Filter, ApiError> {
    let mut all = vec![Filter::eq(
        "collection_id",
        FieldValue::Uuid(collection.into()),
    )];
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
    if let Some(text) = params.get("q").filter(|q| !q.trim().is_empty()) {
        let contains = |field: &str| {
            Filter::condition(field, Op::Contains, vec![FieldValue::Text(text.into())])
        };
        all.push(Filter::Any(vec![contains("title"), contains("content")]));
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

/// A document as the REST API shows it; its content only when asked for.
fn document_json(doc: &Document, include_content: bool) -> Value {
    let mut value = json!({
        "id": doc.id,
        "collection_id": doc.collection_id,
        "owner": doc.owner,
        "title": doc.title,
        "format": doc.format,
        "tags": doc.tags,
        "metadata": serde_json::from_str::<Value>(&doc.metadata).unwrap_or(json!({})),
        "content_hash": doc.content_hash,
        "word_count": doc.word_count,
        "size_bytes": doc.size_bytes,
        "version": doc.version,
        "created_at": format_micros(doc.created_at),
        "updated_at": format_micros(doc.updated_at),
        "archived_at": doc.archived_at.map(format_micros),
    });
    if include_content {
        value["content"] = json!(doc.content);
    }
    value
}
