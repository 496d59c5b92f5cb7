//! Retention: per collection, keep the newest N versions of each document.
//! Older ones are deleted when a new version is written; the numbering
//! never changes, so version numbers keep their meaning. The setting lives
//! in the plugin's kv store.

use crate::model::MODEL;
use kai_sdk::prelude::*;
use serde_json::{Value as Json, json};

fn key(collection_id: &str) -> String {
    format!("retention:{collection_id}")
}

/// How many versions to keep for documents of `collection_id`, if limited.
pub fn limit(collection_id: &str) -> Result<Option<u64>, HostError> {
    Ok(kv::get(&key(collection_id))?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok()))
}

/// Deletes versions of `document_id` that fall out of the limit now that
/// `latest` exists.
pub fn apply(collection_id: &str, document_id: &str, latest: u64) -> Result<(), HostError> {
    let Some(keep) = limit(collection_id)? else {
        return Ok(());
    };
    let oldest_kept = latest.saturating_sub(keep) + 1;
    if oldest_kept <= 1 {
        return Ok(());
    }
    persistence::delete_where(
        MODEL,
        &Filter::eq("document_id", Value::Uuid(document_id.into()))
            .and(Filter::lt("version", oldest_kept as i64)),
    )?;
    Ok(())
}

/// `GET /api/v1/collections/{id}/version-retention`
pub fn get(req: &Request) -> Result<Response, Error> {
    let collection = models::get_collection(&req.param_uuid("id")?).map_err(HostError::expose)?;
    Response::json(
        200,
        &json!({ "collection_id": collection.id, "keep": limit(&collection.id)? }),
    )
}

/// `PUT /api/v1/collections/{id}/version-retention` with `{"keep": N}`
/// (N >= 1) or `{"keep": null}` to keep everything.
pub fn put(req: &Request) -> Result<Response, Error> {
    let collection = models::get_collection(&req.param_uuid("id")?).map_err(HostError::expose)?;
    let body: Json = req.json()?;
    match body.get("keep") {
        Some(Json::Null) => {
            kv::delete(&key(&collection.id))?;
        }
        Some(keep) => {
            let keep = keep
                .as_u64()
                .filter(|k| *k >= 1)
                .ok_or_else(|| Error::invalid("keep: a whole number of at least 1, or null"))?;
            kv::set(&key(&collection.id), keep.to_string().as_bytes(), None)?;
        }
        None => return Err(Error::invalid("keep: required")),
    }
    Response::json(
        200,
        &json!({ "collection_id": collection.id, "keep": limit(&collection.id)? }),
    )
}
