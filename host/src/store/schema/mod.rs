//! Plugin-declared models as real tables.
//!
//! A plugin declares models in its manifest; the host validates them
//! ([`definition`]), turns them into tables named `plg_<plugin>_<model>`
//! with real indexes, and when a new version of the plugin declares
//! something different, computes the migration ([`plan`]): additive changes
//! apply by themselves, destructive ones need a new major version and the
//! operator's confirmation. [`apply`] runs a plan in one transaction under
//! a lock and records the schema in `plugin_models`.

pub mod apply;
pub mod definition;
pub mod plan;

pub use definition::{FieldDef, IndexDef, ModelDef};
pub use plan::{MigrationPlan, PlanError, Step};
