//! Result columns read once for a whole page: one typed vector per
//! selected field, borrowed from the rows. The plugin-facing page formats
//! (`crate::wit::columnar` and `crate::wit::packed`) start from it.

use super::schema::ColumnType;
use super::values::{float, int};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Result column `index` of every row, read once, typed by the field's
/// declaration; a null is `None`.
pub enum Values<'r> {
    Text(Vec<Option<&'r str>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
}

impl<'r> Values<'r> {
    /// Reads column `index` as `ty` stores it (booleans as integers).
    pub fn read(ty: ColumnType, index: usize, rows: &'r [AnyRow]) -> Result<Self, sqlx::Error> {
        Ok(match ty {
            ColumnType::String
            | ColumnType::Json
            | ColumnType::Uuid
            | ColumnType::StringList
            | ColumnType::IntList
            | ColumnType::FloatList
            | ColumnType::TimestampList
            | ColumnType::UuidList => Values::Text(text_values(index, rows)?),
            ColumnType::Int | ColumnType::Timestamp | ColumnType::Bool => Values::Int(
                rows.iter()
                    .map(|row| int(row, index))
                    .collect::<Result<_, _>>()?,
            ),
            ColumnType::Float => Values::Float(
                rows.iter()
                    .map(|row| float(row, index))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// The rows (0-based, ascending) whose value is null.
    pub fn nulls(&self) -> Vec<u32> {
        fn rows<T>(values: &[Option<T>]) -> Vec<u32> {
            (0u32..)
                .zip(values)
                .filter(|(_, v)| v.is_none())
                .map(|(row, _)| row)
                .collect()
        }
        match self {
            Values::Text(v) => rows(v),
            Values::Int(v) => rows(v),
            Values::Float(v) => rows(v),
        }
    }
}

/// Result column `index` of every row as borrowed text.
pub fn text_values(index: usize, rows: &[AnyRow]) -> Result<Vec<Option<&str>>, sqlx::Error> {
    rows.iter()
        .map(|row| row.try_get::<Option<&str>, _>(index))
        .collect()
}
