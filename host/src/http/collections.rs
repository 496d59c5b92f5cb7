//! `/api/v1/collections`: create, list, read, rename or describe, delete.
//! Members see their own collections; admins see all.

use super::CoreApi;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, QueryParams, path_id};
use super::listing::{Page, created};
use super::openapi::{Authenticated, BadParameters, Conflict, NotFound, WithBody};
use super::unit::Unit;
use crate::domain::{Collection, CollectionInput};
use crate::services::collections;
use crate::state::AppState;
use crate::util::format_micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(create, list))
        .route(routes!(get, update, delete))
}

/// The body of POST (`name` required) and PATCH (each field given is set).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionBody {
    name: Option<String>,
    description: Option<String>,
    /// A JSON object.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// A collection as the REST API shows it.
#[derive(Serialize, ToSchema)]
pub struct CollectionView {
    id: String,
    /// The owner's user id.
    owner: String,
    name: String,
    description: String,
    #[schema(value_type = Object)]
    metadata: Value,
    /// RFC 3339, UTC.
    created_at: String,
    updated_at: String,
}

impl From<&Collection> for CollectionView {
    fn from(c: &Collection) -> Self {
        CollectionView {
            id: c.id.clone(),
            owner: c.owner.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            metadata: serde_json::from_str(&c.metadata).unwrap_or_else(|_| json!({})),
            created_at: format_micros(c.created_at),
            updated_at: format_micros(c.updated_at),
        }
    }
}

impl From<CollectionBody> for CollectionInput {
    fn from(body: CollectionBody) -> Self {
        CollectionInput {
            name: body.name,
            description: body.description,
            metadata: body.metadata,
        }
    }
}

/// Creates a collection owned by the caller.
#[utoipa::path(
    post, path = "/api/v1/collections", tag = "collections", operation_id = "collections_create",
    request_body = CollectionBody,
    responses(
        (status = 201, body = CollectionView, headers(("Location" = String, description = "The new collection"))),
        Authenticated, WithBody, Conflict,
    )
)]
async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiJson(body): ApiJson<CollectionBody>,
) -> Result<Response, ApiError> {
    if body.name.is_none() {
        return Err(ApiError::validation("name", "is required"));
    }
    let unit = Unit::new(&state, &principal);
    let collection = collections::create(&unit.ctx(), body.into()).await?;
    unit.commit().await?;
    Ok(created(
        format!("/api/v1/collections/{}", collection.id),
        CollectionView::from(&collection),
    ))
}

/// The caller's collections (an admin's: all), oldest first.
#[utoipa::path(
    get, path = "/api/v1/collections", tag = "collections", operation_id = "collections_list",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000; 50 by default"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = Page<CollectionView>), Authenticated, BadParameters)
)]
async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    uri: Uri,
) -> Result<Json<Page<CollectionView>>, ApiError> {
    let params = QueryParams::parse(&uri, &["limit", "cursor"])?;
    let limit = params.page_limit()?;
    let cursor = params.get("cursor").map(str::to_string);
    let unit = Unit::new(&state, &principal);
    let (items, next) = collections::list(&unit.ctx(), limit, cursor.as_deref()).await?;
    Ok(Json(Page {
        items: items.iter().map(CollectionView::from).collect(),
        next_cursor: next,
    }))
}

/// One collection.
#[utoipa::path(
    get, path = "/api/v1/collections/{id}", tag = "collections", operation_id = "collections_get",
    params(("id" = uuid::Uuid, Path, description = "The collection's id (a UUID)")),
    responses((status = 200, body = CollectionView), Authenticated, BadParameters, NotFound)
)]
async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<CollectionView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let found = collections::get(&unit.ctx(), &id).await?;
    Ok(Json(CollectionView::from(&found)))
}

/// Renames or describes a collection: each field given is set.
#[utoipa::path(
    patch, path = "/api/v1/collections/{id}", tag = "collections", operation_id = "collections_update",
    params(("id" = uuid::Uuid, Path, description = "The collection's id (a UUID)")),
    request_body = CollectionBody,
    responses((status = 200, body = CollectionView), Authenticated, WithBody, NotFound, Conflict)
)]
async fn update(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CollectionBody>,
) -> Result<Json<CollectionView>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let updated = collections::update(&unit.ctx(), &id, body.into()).await?;
    unit.commit().await?;
    Ok(Json(CollectionView::from(&updated)))
}

/// Deletes an empty collection (409 while it holds documents).
#[utoipa::path(
    delete, path = "/api/v1/collections/{id}", tag = "collections", operation_id = "collections_delete",
    params(("id" = uuid::Uuid, Path, description = "The collection's id (a UUID)")),
    responses((status = 204, description = "Deleted"), Authenticated, BadParameters, NotFound, Conflict)
)]
async fn delete(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    collections::delete(&unit.ctx(), &id).await?;
    unit.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
