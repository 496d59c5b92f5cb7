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
        (ty, Value::Json(s)) if ty.element().is_some() => {
            Param::Text(list_json(&format!("field `{}`", column.name), ty, s)?)
        }
        _ => return Err(mismatch()),
    })
}

/// Most elements a list field holds.
pub const MAX_LIST_ELEMENTS: usize = 1000;

/// The stored form of a value of the list type `ty`: `json` must hold an
/// array of elements of its element type (no nulls), which is written back
/// in canonical form (UUIDs hyphenated and lower-case). `what` names the
/// value in messages.
pub fn list_json(what: &str, ty: ColumnType, json: &str) -> Result<String, QueryError> {
    let element = ty.element().expect("a list type");
    let invalid = |why: String| QueryError::new(format!("{what} is of type {}: {why}", ty.name()));
    let parsed: serde_json::Value =
        serde_json::from_str(json).map_err(|e| invalid(format!("not valid JSON ({e})")))?;
    let serde_json::Value::Array(items) = parsed else {
        return Err(invalid("it needs a JSON array".into()));
    };
    if items.len() > MAX_LIST_ELEMENTS {
        return Err(invalid(format!(
            "at most {MAX_LIST_ELEMENTS} elements, got {}",
            items.len()
        )));
    }
    let mut canonical = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let bad = || {
            invalid(format!(
                "element {i} (`{item}`) is not of type {}",
                element.name()
            ))
        };
        canonical.push(match element {
            ColumnType::String => match &item {
                serde_json::Value::String(s) if !s.contains('\0') => item.clone(),
                _ => return Err(bad()),
            },
            ColumnType::Int | ColumnType::Timestamp => match item.as_i64() {
                Some(i) => i.into(),
                None => return Err(bad()),
            },
            ColumnType::Float => match item.as_f64() {
                Some(f) if f.is_finite() => f.into(),
                _ => return Err(bad()),
            },
            _ => match item.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok()) {
                Some(id) => id.hyphenated().to_string().into(),
                None => return Err(bad()),
            },
        });
    }
    Ok(serde_json::Value::Array(canonical).to_string())
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
        ColumnType::Json
        | ColumnType::StringList
        | ColumnType::IntList
        | ColumnType::FloatList
        | ColumnType::TimestampList
        | ColumnType::UuidList => opt(row.try_get::<Option<String>, _>(index)?, Value::Json),
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
