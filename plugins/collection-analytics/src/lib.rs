//! # collection-analytics
//!
//! Statistics over the caller's documents, every number an SQL aggregate
//! run by the host (counts, sums, group-bys, day buckets): the plugin never
//! pages through documents.
//!
//! - `GET /api/v1/collections/{id}/analytics?from=&to=`: document counts
//!   (active, archived), total and average size and word count, counts by
//!   format, top tags, documents created and updated per day over the range
//!   (default: the 30 days before the request), the most edited documents,
//!   and the version churn when doc-versioning's model is readable.
//! - `GET /api/v1/analytics/overview`: the same across all the caller's
//!   collections.
//!
//! Layout: [`stats`] (the aggregate queries), [`range`] (dates and days),
//! [`routes`].

pub mod range;
pub mod routes;
pub mod stats;

use kai_sdk::prelude::*;

pub fn plugin() -> Plugin {
    Plugin::new("collection-analytics", env!("CARGO_PKG_VERSION"))
        .description("Collection and per-user statistics, computed in SQL")
        .reads(CoreModel::Documents)
        .reads(CoreModel::Collections)
        .reads_plugin_model("doc-versioning/document_version")
        .route(
            Route::get("/api/v1/collections/{id}/analytics")
                .summary("Document counts, sizes and formats, top tags, activity and churn of one collection"),
            routes::collection,
        )
        .route(
            Route::get("/api/v1/analytics/overview")
                .summary("The same figures over every collection the caller can see, and the largest ones"),
            routes::overview,
        )
}

kai_sdk::plugin!(plugin);
