//! A dynamically typed value: a field of a model, a filter operand, an
//! aggregate result.

use serde::{Deserialize, Serialize};

/// One value. Timestamps are microseconds since the Unix epoch, UTC; JSON
/// is kept as its text; UUIDs in their hyphenated form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    Json(String),
    Uuid(String),
    Timestamp(i64),
}

impl Value {
    /// The kind of value, as messages name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Boolean(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Json(_) => "json",
            Value::Uuid(_) => "uuid",
            Value::Timestamp(_) => "timestamp",
        }
    }
}
