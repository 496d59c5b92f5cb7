//! SQL text with numbered (`$n`) parameters, bound in order. Both SQLite and
//! PostgreSQL accept `$n`.

use super::column::ColumnType;
use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use std::fmt::Write as _;

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
        // A select of a dozen qualified columns is several hundred bytes:
        // start big enough that it is written without regrowing.
        let mut sql = String::with_capacity(1024);
        sql.push_str(text);
        Self {
            text: sql,
            params: Vec::new(),
        }
    }

    /// Appends trusted SQL text (identifiers from schemas, keywords).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends an identifier, quoted as [`ident`] quotes it.
    pub fn ident(&mut self, name: &str) -> &mut Self {
        write_ident(&mut self.text, name);
        self
    }

    /// Appends `"table"."column"`.
    pub fn column(&mut self, table: &str, column: &str) -> &mut Self {
        self.ident(table).push(".").ident(column)
    }

    /// Appends a number (a `LIMIT`, say; numbers are not user text).
    pub fn number(&mut self, n: usize) -> &mut Self {
        let _ = write!(self.text, "{n}");
        self
    }

    /// Appends a parameter placeholder bound to `param`.
    pub fn param(&mut self, param: Param) -> &mut Self {
        self.params.push(param);
        let _ = write!(self.text, "${}", self.params.len());
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
    let mut quoted = String::with_capacity(name.len() + 2);
    write_ident(&mut quoted, name);
    quoted
}

/// Writes `name` in double quotes, doubling any quote inside it.
fn write_ident(out: &mut String, name: &str) {
    out.push('"');
    for (i, part) in name.split('"').enumerate() {
        if i > 0 {
            out.push_str("\"\"");
        }
        out.push_str(part);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        for (name, quoted) in [
            ("plain", r#""plain""#),
            (r#"a"b"#, r#""a""b""#),
            (r#""edge""#, r#""""edge""""#),
            ("", r#""""#),
        ] {
            assert_eq!(ident(name), quoted);
            let mut sql = Sql::new("");
            sql.ident(name);
            assert_eq!(sql.text(), quoted);
        }
        let mut sql = Sql::new("SELECT ");
        sql.column("t", "c").push(" LIMIT ").number(51);
        sql.param(Param::Int(1));
        assert_eq!(sql.text(), r#"SELECT "t"."c" LIMIT 51$1"#);
    }
}
