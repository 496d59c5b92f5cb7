//! The host's own types, shared by every layer above: values, filters,
//! orders and aggregates of the query language. They are not the generated
//! WIT types: `crate::wit::convert` turns those into these at the edge, so
//! the data layer and the rules speak the host's language whatever the
//! wire format.
//!
//! - [`value`]: a dynamically typed value of a field.
//! - [`query`]: the filter tree, orders and aggregate queries.

pub mod query;
pub mod value;

pub use query::{
    Aggregate, AggregateFunction, AggregateQuery, AggregateRow, Condition, Filter, GroupKey, Op,
    Order, TimeBucket,
};
pub use value::Value;
