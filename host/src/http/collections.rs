//! `/api/v1/collections`: create, list, read, rename or describe, delete.
//! Members see their own collections; admins see all.

use super::CoreApi;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, QueryParams, path_id};
use super::unit::Unit;
use crate::domain::{Collection, CollectionInput};
use crate::services::collections;
use crate::state::AppState;
use crate::util::format_micros;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn mount(api: CoreApi) -> CoreApi {
    api.route("POST", "/api/v1/collections", create)
        .route("GET", "/api/v1/collections", list)
        .route("GET", "/api/v1/collections/{id}", get)
        .route("PATCH", "/api/v1/collections/{id}", update)
        .route("DELETE", "/api/v1/collections/{id}", delete)
}

/// The body of POST and PATCH.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionBody {
    name: Option<String>,
    description: Option<String>,
    metadata: Option<Value>,
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

/// Default and largest page sizes of list routes.
pub const DEFAULT_LIMIT: u32 = 50;

async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiJson(body): ApiJson<CollectionBody>,
) -> Result<Response, ApiError> {
    if body.name.is_none() {
        return Err(ApiError::validation("name", "is required"));
    }
    let unit = Unit::new(&state, &principal);
    let created = collections::create(&unit.ctx(), body.into()).await?;
    unit.commit().await?;
    let location = format!("/api/v1/collections/{}", created.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(collection_json(&created)),
    )
        .into_response())
}

async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let params = QueryParams::parse(&uri, &["limit", "cursor"])?;
    let limit = params
        .parsed::<u32>("limit", "a number")?
        .unwrap_or(DEFAULT_LIMIT);
    let cursor = params.get("cursor").map(str::to_string);
    let unit = Unit::new(&state, &principal);
    let (items, next) = collections::list(&unit.ctx(), limit, cursor.as_deref()).await?;
    Ok(Json(json!({
        "items": items.iter().map(collection_json).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let found = collections::get(&unit.ctx(), &id).await?;
    Ok(Json(collection_json(&found)))
}

async fn update(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CollectionBody>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id("id", &id)?;
    let unit = Unit::new(&state, &principal);
    let updated = collections::update(&unit.ctx(), &id, body.into()).await?;
    unit.commit().await?;
    Ok(Json(collection_json(&updated)))
}

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

/// A collection as the REST API shows it.
fn collection_json(c: &Collection) -> Value {
    json!({
        "id": c.id,
        "owner": c.owner,
        "name": c.name,
        "description": c.description,
        "metadata": serde_json::from_str::<Value>(&c.metadata).unwrap_or(json!({})),
        "created_at": format_micros(c.created_at),
        "updated_at": format_micros(c.updated_at),
    })
}
