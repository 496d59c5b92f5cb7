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
        .route(
            Route::get("/api/v1/documents/{id}/versions")
                .summary("The versions of a document, newest first"),
            routes::list,
        )
        .route(
            Route::get("/api/v1/documents/{id}/versions/{n}")
                .summary("One version of a document, its content included"),
            routes::get,
        )
        .route(
            Route::get("/api/v1/documents/{id}/versions/{a}/diff/{b}")
                .summary("A line diff between two versions of a document"),
            routes::diff,
        )
        .route(
            Route::post("/api/v1/documents/{id}/versions/{n}/restore")
                .summary("Makes a version the document's content again (a new version)"),
            routes::restore,
        )
        .route(
            Route::get("/api/v1/collections/{id}/version-retention")
                .summary("How many versions a collection's documents keep"),
            retention::get,
        )
        .route(
            Route::put("/api/v1/collections/{id}/version-retention")
                .summary("Sets how many versions a collection's documents keep"),
            retention::put,
        );
    for event in ["document.created", "document.updated", "document.deleted"] {
        plugin = plugin.on_event(event, Delivery::Transactional, hook::record);
    }
    plugin
}
