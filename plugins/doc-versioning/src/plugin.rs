//! The plugin's manifest and handlers, for a given version and model (a
//! later version may add fields to the model). The model is passed as a
//! function, so it is built only when the host reads the manifest.

use crate::{hook, retention, routes};
use kai_sdk::prelude::*;

pub fn build(version: &str, model: impl ModelSource) -> Plugin {
    let mut plugin = Plugin::new("doc-versioning", version)
        .description("Every document change becomes a version: history, diffs, restore, retention")
        .model(model)
        .writes(CoreModel::Documents)
        .reads(CoreModel::Collections)
        .kv()
        .route(Route::get("/api/v1/documents/{id}/versions"), routes::list)
        .route(
            Route::get("/api/v1/documents/{id}/versions/{n}"),
            routes::get,
        )
        .route(
            Route::get("/api/v1/documents/{id}/versions/{a}/diff/{b}"),
            routes::diff,
        )
        .route(
            Route::post("/api/v1/documents/{id}/versions/{n}/restore"),
            routes::restore,
        )
        .route(
            Route::get("/api/v1/collections/{id}/version-retention"),
            retention::get,
        )
        .route(
            Route::put("/api/v1/collections/{id}/version-retention"),
            retention::put,
        );
    for event in ["document.created", "document.updated", "document.deleted"] {
        plugin = plugin.on_event(event, Delivery::Transactional, hook::record);
    }
    plugin
}
