//! What a query may touch: the columns of one table and their types. Built
//! from a plugin's model declaration, or written out for the core tables.

use super::QueryError;
use super::shapes::ShapeCache;
use crate::wit::bindings::exports::kai::fusion::describe::FieldType;

/// The type of a column, as the query layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Int,
    Float,
    Bool,
    Timestamp,
    Json,
    Uuid,
}

impl From<FieldType> for ColumnType {
    fn from(ty: FieldType) -> Self {
        match ty {
            FieldType::String => ColumnType::String,
            FieldType::Int => ColumnType::Int,
            FieldType::Float => ColumnType::Float,
            FieldType::Bool => ColumnType::Bool,
            FieldType::Timestamp => ColumnType::Timestamp,
            FieldType::Json => ColumnType::Json,
            FieldType::Uuid => ColumnType::Uuid,
        }
    }
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Int => "int",
            ColumnType::Float => "float",
            ColumnType::Bool => "bool",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Json => "json",
            ColumnType::Uuid => "uuid",
        }
    }

    /// Whether values of this type have a meaningful order.
    pub fn is_ordered(self) -> bool {
        !matches!(self, ColumnType::Json | ColumnType::Bool)
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Int | ColumnType::Float)
    }
}

/// How a column exists in SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    /// A real column of the table.
    Stored,
    /// A filter-only pseudo column: "the document has this tag", answered
    /// from `document_tags`.
    DocumentTag,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
    pub kind: ColumnKind,
}

impl Column {
    pub fn new(name: &str, ty: ColumnType, nullable: bool) -> Self {
        Self {
            name: name.to_string(),
            ty,
            nullable,
            kind: ColumnKind::Stored,
        }
    }
}

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
