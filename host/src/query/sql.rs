//! SQL text with numbered (`$n`) parameters, bound in order. Both SQLite and
//! PostgreSQL accept `$n`.

use super::schema::ColumnType;
use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A typed NULL (PostgreSQL needs the type to accept it in a column).
    Null(ColumnType),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// SQL being built.
#[derive(Debug, Default, Clone)]
pub struct Sql {
    text: String,
    params: Vec<Param>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            params: Vec::new(),
        }
    }

    /// Appends trusted SQL text (identifiers from schemas, keywords).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a parameter placeholder bound to `param`.
    pub fn param(&mut self, param: Param) -> &mut Self {
        self.params.push(param);
        let n = self.params.len();
        self.text.push('$');
        self.text.push_str(&n.to_string());
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// A sqlx query with every parameter bound.
    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut query = sqlx::query(&self.text);
        for param in &self.params {
            query = match param {
                Param::Null(ColumnType::Int | ColumnType::Timestamp | ColumnType::Bool) => {
                    query.bind(None::<i64>)
                }
                Param::Null(ColumnType::Float) => query.bind(None::<f64>),
                Param::Null(_) => query.bind(None::<String>),
                Param::Int(v) => query.bind(*v),
                Param::Float(v) => query.bind(*v),
                Param::Text(v) => query.bind(v.as_str()),
                Param::Bytes(v) => query.bind(v.as_slice()),
            };
        }
        query
    }
}

/// Quotes an identifier. Identifiers only ever come from validated schemas
/// (lower-case letters, digits, `_`), so this is belt and braces.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
