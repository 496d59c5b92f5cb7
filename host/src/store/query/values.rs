//! Values crossing into and out of SQL: [`Value`]s checked against a
//! column's type and turned into parameters, and result columns read back
//! into values.

use super::QueryError;
use super::column::{Column, ColumnType};
use super::sql::Param;
use crate::domain::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Checks `value` against `column` and turns it into a parameter. `Null` is
/// accepted only for nullable columns.
pub fn to_param(column: &Column, value: &Value) -> Result<Param, QueryError> {
    let mismatch = || {
        QueryError::new(format!(
            "field `{}` is a {} field; a {} value does not fit",
            column.name,
            column.ty.name(),
            value.kind()
        ))
    };
    Ok(match (column.ty, value) {
        (ty, Value::Null) => {
            if !column.nullable {
                return Err(QueryError::new(format!(
                    "field `{}` may not be null",
                    column.name
                )));
            }
            Param::Null(ty)
        }
        (ColumnType::String, Value::Text(s)) => text(&column.name, s)?,
        (ColumnType::Int, Value::Integer(i)) => Param::Int(*i),
        (ColumnType::Float, Value::Float(f)) => {
            if !f.is_finite() {
                return Err(QueryError::new(format!(
                    "field `{}` cannot hold NaN or infinity",
                    column.name
                )));
            }
            Param::Float(*f)
        }
        (ColumnType::Float, Value::Integer(i)) => Param::Float(*i as f64),
        (ColumnType::Bool, Value::Boolean(b)) => Param::Int(i64::from(*b)),
        (ColumnType::Timestamp, Value::Timestamp(t) | Value::Integer(t)) => Param::Int(*t),
        (ColumnType::Json, Value::Json(s) | Value::Text(s)) => {
            serde_json::from_str::<serde_json::Value>(s).map_err(|e| {
                QueryError::new(format!("field `{}` needs valid JSON: {e}", column.name))
            })?;
            text(&column.name, s)?
        }
        (ColumnType::Uuid, Value::Uuid(s) | Value::Text(s)) => {
            let id = uuid::Uuid::parse_str(s).map_err(|_| {
                QueryError::new(format!("field `{}` needs a UUID, got `{s}`", column.name))
            })?;
            Param::Text(id.hyphenated().to_string())
        }
        _ => return Err(mismatch()),
    })
}

/// A text parameter. NUL characters are refused: PostgreSQL cannot store
/// them, and no backend should differ from another on what it accepts.
pub fn text(field: &str, value: &str) -> Result<Param, QueryError> {
    if value.contains('\0') {
        return Err(QueryError::new(format!(
            "field `{field}`: text may not contain NUL characters"
        )));
    }
    Ok(Param::Text(value.to_string()))
}

/// Reads column `index` of `row` as a value of type `ty`.
pub fn decode(row: &AnyRow, index: usize, ty: ColumnType) -> Result<Value, sqlx::Error> {
    Ok(match ty {
        ColumnType::String => opt(row.try_get::<Option<String>, _>(index)?, Value::Text),
        ColumnType::Json => opt(row.try_get::<Option<String>, _>(index)?, Value::Json),
        ColumnType::Uuid => opt(row.try_get::<Option<String>, _>(index)?, Value::Uuid),
        ColumnType::Int => opt(int(row, index)?, Value::Integer),
        ColumnType::Timestamp => opt(int(row, index)?, Value::Timestamp),
        ColumnType::Bool => opt(int(row, index)?, |i| Value::Boolean(i != 0)),
        ColumnType::Float => opt(float(row, index)?, Value::Float),
    })
}

fn opt<T>(value: Option<T>, wrap: impl FnOnce(T) -> Value) -> Value {
    value.map_or(Value::Null, wrap)
}

/// An integer column, whatever width the driver reports it with.
pub fn int(row: &AnyRow, index: usize) -> Result<Option<i64>, sqlx::Error> {
    match row.try_get::<Option<i64>, _>(index) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row.try_get::<Option<i32>, _>(index)?.map(i64::from)),
    }
}

/// A float column; SQLite may hand back an integer for a whole number.
pub fn float(row: &AnyRow, index: usize) -> Result<Option<f64>, sqlx::Error> {
    match row.try_get::<Option<f64>, _>(index) {
        Ok(v) => Ok(v),
        Err(_) => Ok(int(row, index)?.map(|i| i as f64)),
    }
}
