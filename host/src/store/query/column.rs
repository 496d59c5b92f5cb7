//! A column a query may use: its name, type and how it exists in SQL.

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
    /// Lists of a scalar, stored as a JSON array in a text column.
    #[serde(rename = "string-list")]
    StringList,
    #[serde(rename = "int-list")]
    IntList,
    #[serde(rename = "float-list")]
    FloatList,
    #[serde(rename = "timestamp-list")]
    TimestampList,
    #[serde(rename = "uuid-list")]
    UuidList,
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
            ColumnType::StringList => "string-list",
            ColumnType::IntList => "int-list",
            ColumnType::FloatList => "float-list",
            ColumnType::TimestampList => "timestamp-list",
            ColumnType::UuidList => "uuid-list",
        }
    }

    /// The type of an element, for a list type.
    pub fn element(self) -> Option<ColumnType> {
        Some(match self {
            ColumnType::StringList => ColumnType::String,
            ColumnType::IntList => ColumnType::Int,
            ColumnType::FloatList => ColumnType::Float,
            ColumnType::TimestampList => ColumnType::Timestamp,
            ColumnType::UuidList => ColumnType::Uuid,
            _ => return None,
        })
    }

    /// Whether the value is kept as text holding JSON (a json or list field).
    pub fn is_json_text(self) -> bool {
        self == ColumnType::Json || self.element().is_some()
    }

    /// Whether values of this type have a meaningful order.
    pub fn is_ordered(self) -> bool {
        !matches!(self, ColumnType::Json | ColumnType::Bool) && self.element().is_none()
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
