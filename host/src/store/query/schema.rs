//! What a query may touch: the columns of one table and their types. Built
//! from a plugin's model declaration, or written out for the core tables.

use super::QueryError;
pub use super::column::{Column, ColumnKind, ColumnType};
use super::shapes::ShapeCache;

/// A table a query may address.
#[derive(Debug, Clone)]
pub struct TableSchema {
    /// The SQL table name (never from user input: derived and checked).
    pub table: String,
    /// The name users know it by, for messages.
    pub display: String,
    pub columns: Vec<Column>,
    /// The selects already checked against these columns.
    select_shapes: ShapeCache,
}

impl TableSchema {
    pub fn new(table: impl Into<String>, display: impl Into<String>, columns: Vec<Column>) -> Self {
        Self {
            table: table.into(),
            display: display.into(),
            columns,
            select_shapes: ShapeCache::default(),
        }
    }

    /// The select shapes built for this table so far.
    pub fn select_shapes(&self) -> &ShapeCache {
        &self.select_shapes
    }

    /// The column called `name`, or an error listing what exists.
    pub fn column(&self, name: &str) -> Result<&Column, QueryError> {
        self.columns.iter().find(|c| c.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
            QueryError::new(format!(
                "`{}` has no field `{name}` (fields: {})",
                self.display,
                known.join(", ")
            ))
        })
    }

    /// The column called `name`, if it is a real column.
    pub fn stored(&self, name: &str) -> Result<&Column, QueryError> {
        let column = self.column(name)?;
        if column.kind != ColumnKind::Stored {
            return Err(QueryError::new(format!(
                "`{name}` can only be used in filters"
            )));
        }
        Ok(column)
    }

    /// The real columns, in order.
    pub fn stored_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.kind == ColumnKind::Stored)
    }
}
