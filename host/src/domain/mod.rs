//! The host's own types, shared by every layer above: who acts, the core
//! models, and the values, filters, orders and aggregates of the query
//! language. They are not the generated WIT types: `crate::wit::convert`
//! turns those into these and back at the edge, so the data layer and the
//! rules speak the host's language whatever the wire format.
//!
//! - [`principal`]: who acts, and their role.
//! - [`collection`], [`document`]: the core models and their inputs.
//! - [`event`]: what a change of a core model tells subscribers.
//! - [`grant`]: capabilities a plugin asks for or was granted.
//! - [`names`]: what makes a plugin name.
//! - [`value`]: a dynamically typed value of a field.
//! - [`query`]: the filter tree, orders and aggregate queries.
//! - [`route_pattern`]: `/api/v1/hello/{name}` parsing, matching and overlap.
//! - [`route_doc`]: what a plugin says of a route for the API reference.
//! - [`state`]: the StateManager's threads, checkpoints and pending writes.
//! - [`memory`]: the MemoryManager's sessions, messages and windows.
//! - [`workflow`]: workflow definitions (graphs of nodes) and their rules.
//! - [`execution`]: workflow executions, their timelines, and how a run
//!   walks its graph.
//! - [`expression`]: the jq expressions of workflows, checked at save.
//! - [`search`]: the full-text query language.
//! - [`http_mount`]: the name and mount an operator gives a `wasi:http`
//!   component at install.

pub mod collection;
pub mod document;
pub mod event;
pub mod execution;
pub mod expression;
pub mod grant;
pub mod http_mount;
pub mod memory;
pub mod names;
pub mod principal;
pub mod query;
pub mod route_doc;
pub mod route_pattern;
pub mod search;
pub mod state;
pub mod trigger;
pub mod value;
pub mod workflow;

pub use collection::{Collection, CollectionInput};
pub use document::{Document, DocumentChange, NewDocument};
pub use event::{Event, EventKind, Row};
pub use http_mount::{HttpMount, MountRequest};
pub use names::{canonical_uuid, is_plugin_name};
pub use principal::{Principal, Role};
pub use route_pattern::{PathPattern, RESERVED_PREFIXES};

pub use query::{
    Aggregate, AggregateFunction, AggregateQuery, AggregateRow, Change, Condition, Filter,
    GroupKey, Op, Order, TimeBucket,
};
pub use value::Value;
