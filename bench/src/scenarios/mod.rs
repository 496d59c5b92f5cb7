//! One module per measurement. Each returns a markdown section for the
//! report.
//!
//! - [`hello`]: the hello plugin against a native axum route.
//! - [`data`]: doc-versioning's read and a hooked update against native SQL.
//! - [`writes`]: document create/update throughput through the REST API
//!   on SQLite, with and without a transactional hook plugin.
//! - [`memory`]: resident memory idle and under 64 concurrent requests.
//! - [`hot_load`]: upload-to-serving time, cold and from the cache.
//! - [`analytics`]: the collection-analytics route on 10,000 and 1,000,000
//!   documents.
//! - [`state`]: checkpoints put by compare-and-swap, plugin against native.
//! - [`search`]: full-text search over 1,000,000 documents.

pub mod analytics;
pub mod data;
pub mod hello;
pub mod hot_load;
pub mod memory;
pub mod search;
pub mod state;
pub mod writes;

use crate::RunArgs;
use futures::future::BoxFuture;

/// A measured section of the report.
pub struct Section {
    /// The scenario's name (its markers in the report).
    pub name: String,
    pub markdown: String,
}

pub struct Scenario {
    pub name: &'static str,
    pub run: fn(RunArgs) -> BoxFuture<'static, anyhow::Result<Section>>,
}

pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "hello",
            run: |args| Box::pin(hello::run(args)),
        },
        Scenario {
            name: "data",
            run: |args| Box::pin(data::run(args)),
        },
        Scenario {
            name: "writes",
            run: |args| Box::pin(writes::run(args)),
        },
        Scenario {
            name: "analytics",
            run: |args| Box::pin(analytics::run(args)),
        },
        Scenario {
            name: "search",
            run: |args| Box::pin(search::run(args)),
        },
        Scenario {
            name: "state",
            run: |args| Box::pin(state::run(args)),
        },
        Scenario {
            name: "memory",
            run: |args| Box::pin(memory::run(args)),
        },
        Scenario {
            name: "hot_load",
            run: |args| Box::pin(hot_load::run(args)),
        },
    ]
}
