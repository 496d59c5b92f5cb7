//! One module per measurement. Each returns a markdown section for the
//! report.
//!
//! - [`writes`]: document create/update throughput through the REST API
//!   on SQLite, with and without a transactional hook plugin.
//! - [`analytics`]: the collection-analytics route on 10,000 and 1,000,000
//!   documents.

pub mod analytics;
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
            name: "writes",
            run: |args| Box::pin(writes::run(args)),
        },
        Scenario {
            name: "analytics",
            run: |args| Box::pin(analytics::run(args)),
        },
    ]
}
