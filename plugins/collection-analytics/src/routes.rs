//! The two routes.

use crate::{range, stats};
use kai_sdk::prelude::*;
use serde_json::json;

/// `GET /api/v1/collections/{id}/analytics`
pub fn collection(req: &Request) -> Result<Response, Error> {
    let (from, to) = range::from_request(req)?;
    // Visibility first: someone else's collection is a 404.
    let collection = models::get_collection(&req.param_uuid("id")?).map_err(HostError::expose)?;
    let base = Filter::eq("collection_id", Value::Uuid(collection.id.clone()));
    let mut body = stats::documents(&base)?;
    body["collection"] = json!({ "id": collection.id, "name": collection.name });
    body["range"] = json!({ "from": range::date(from), "to": range::date(to - 1) });
    body["top_tags"] = stats::top_tags(&base, 10)?;
    body["activity"] = stats::activity(&base, from, to)?;
    body["most_edited"] = stats::most_edited(&base, 5)?;
    body["churn"] = stats::churn(Some(&collection.id), req.require_principal()?, from, to);
    Response::json(200, &body)
}

/// `GET /api/v1/analytics/overview`
pub fn overview(req: &Request) -> Result<Response, Error> {
    let (from, to) = range::from_request(req)?;
    let everything = Filter::all();
    let mut body = stats::documents(&everything)?;
    body["collections"] = json!(stats::collections()?);
    body["range"] = json!({ "from": range::date(from), "to": range::date(to - 1) });
    body["top_tags"] = stats::top_tags(&everything, 10)?;
    body["activity"] = stats::activity(&everything, from, to)?;
    body["largest_collections"] = json!(
        stats::per_collection(10)?
            .into_iter()
            .map(|(id, documents)| json!({ "collection_id": id, "documents": documents }))
            .collect::<Vec<_>>()
    );
    body["churn"] = stats::churn(None, req.require_principal()?, from, to);
    Response::json(200, &body)
}
