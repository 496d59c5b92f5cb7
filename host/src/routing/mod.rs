//! Where a request goes: route patterns and the table of plugin routes.
//!
//! - [`pattern`]: `/api/v1/hello/{name}` parsing, matching and overlap.
//! - [`table`]: the plugin route table with conflict detection.

pub mod pattern;
pub mod table;

pub use pattern::PathPattern;
pub use table::{CoreRoute, Lookup, RouteConflict, RouteEntry, RouteTable};
