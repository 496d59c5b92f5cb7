//! The query language of `kai:fusion/query`, compiled to SQL.
//!
//! Plugins (and the REST list filters) describe what they want as data:
//! filter trees, orderings, aggregates. This module checks every field name
//! against the table's [`schema::TableSchema`], every value against the
//! field's type, and renders SQL in which everything that came from outside
//! is a bound parameter. No string a plugin sends can change the structure
//! of the SQL; the worst it can get is a [`QueryError`] naming the problem.
//!
//! - [`column`]: a column a query may use, and its type.
//! - [`schema`]: a table's columns.
//! - [`sql`]: SQL text with numbered parameters.
//! - [`values`]: WIT values to parameters and back.
//! - [`filter`]: filter trees to `WHERE` clauses.
//! - [`select`]: ordered, keyset-paginated selects.
//! - [`shapes`]: each table's already checked select shapes.
//! - [`columns`]: a page of rows read as typed columns.
//! - [`aggregate`]: grouped aggregates and time buckets.

pub mod aggregate;
pub mod column;
pub mod columns;
pub mod cursor;
pub mod filter;
pub mod schema;
pub mod select;
pub mod shapes;
pub mod sql;
pub mod values;

/// A query that cannot be run, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl QueryError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// Whether the query failed on its cursor (see [`cursor`]).
    pub fn is_invalid_cursor(&self) -> bool {
        self.0.starts_with(cursor::INVALID_CURSOR)
    }
}

/// Most rows a select returns in one page.
pub const MAX_PAGE: u32 = 1000;

/// Refuses a page size outside 1 to [`MAX_PAGE`].
pub fn check_page_limit(limit: u32) -> Result<(), QueryError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(QueryError::new(format!(
            "limit must be between 1 and {MAX_PAGE}, got {limit}"
        )));
    }
    Ok(())
}
/// Most rows an aggregate returns.
pub const MAX_AGGREGATE_ROWS: u32 = 10_000;
/// Most values in one `in` condition.
pub const MAX_IN_VALUES: usize = 1000;
