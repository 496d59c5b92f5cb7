//! Result rows turned into a [`ColumnPage`]: one typed vector per selected
//! field, with all text of a column in one string.
//!
//! Why: lowering `list<entity>` into a guest allocates once per row, per
//! field name and per text value (about 30 guest allocations for a typical
//! row, each a call into the guest's allocator). A column page costs a
//! handful per column, whatever the number of rows, and carries only the
//! fields the plugin asked for.

use super::schema::{Column, ColumnType};
use super::values::{float, int};
use crate::wit::bindings::kai::fusion::persistence::{
    Column as WitColumn, ColumnPage, ColumnValues, TextColumn,
};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Builds the page from `rows`: column 0 of each row is its id, columns
/// `1..returned` are the requested fields (later ones, selected only for
/// the cursor, are left out).
pub fn page(
    columns: &[Column],
    returned: usize,
    rows: &[AnyRow],
    next_cursor: Option<String>,
) -> Result<ColumnPage, sqlx::Error> {
    let ids = text_column(&text_values(0, rows)?)?;
    let columns = columns[1..returned]
        .iter()
        .enumerate()
        .map(|(offset, column)| read_column(column, offset + 1, rows))
        .collect::<Result<_, _>>()?;
    Ok(ColumnPage {
        ids,
        columns,
        next_cursor,
    })
}

/// Result column `index` of every row, read once, typed by the field's
/// declaration; a null is `None`. Both page builders (this one and
/// [`packed`](super::packed)) start from it.
pub(super) enum Values<'r> {
    Text(Vec<Option<&'r str>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
}

impl<'r> Values<'r> {
    /// Reads column `index` as `ty` stores it (booleans as integers).
    pub(super) fn read(
        ty: ColumnType,
        index: usize,
        rows: &'r [AnyRow],
    ) -> Result<Self, sqlx::Error> {
        Ok(match ty {
            ColumnType::String | ColumnType::Json | ColumnType::Uuid => {
                Values::Text(text_values(index, rows)?)
            }
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
    pub(super) fn nulls(&self) -> Vec<u32> {
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
pub(super) fn text_values(index: usize, rows: &[AnyRow]) -> Result<Vec<Option<&str>>, sqlx::Error> {
    rows.iter()
        .map(|row| row.try_get::<Option<&str>, _>(index))
        .collect()
}

/// Reads result column `index` of every row.
fn read_column(column: &Column, index: usize, rows: &[AnyRow]) -> Result<WitColumn, sqlx::Error> {
    let read = Values::read(column.ty, index, rows)?;
    let nulls = read.nulls();
    let values = match read {
        Values::Text(values) => {
            let text = text_column(&values)?;
            match column.ty {
                ColumnType::Json => ColumnValues::Json(text),
                ColumnType::Uuid => ColumnValues::Uuid(text),
                _ => ColumnValues::Text(text),
            }
        }
        Values::Int(values) => {
            let values = values.into_iter().map(|v| v.unwrap_or(0));
            match column.ty {
                ColumnType::Timestamp => ColumnValues::Timestamp(values.collect()),
                ColumnType::Bool => ColumnValues::Boolean(values.map(|v| v != 0).collect()),
                _ => ColumnValues::Integer(values.collect()),
            }
        }
        Values::Float(values) => {
            ColumnValues::Float(values.into_iter().map(|v| v.unwrap_or(0.0)).collect())
        }
    };
    Ok(WitColumn {
        name: column.name.clone(),
        values,
        nulls,
    })
}

/// A text column of `values` (a null is an empty slot), allocated once at
/// its full size instead of regrowing as it fills.
fn text_column(values: &[Option<&str>]) -> Result<TextColumn, sqlx::Error> {
    let bytes = values.iter().map(|v| v.map_or(0, str::len)).sum();
    let mut text = TextBuilder::with_capacity(values.len(), bytes);
    for value in values {
        text.push(*value)?;
    }
    Ok(text.finish())
}

/// Appends text values into one string and records where each ends.
struct TextBuilder {
    data: String,
    ends: Vec<u32>,
}

impl TextBuilder {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        Self {
            data: String::with_capacity(bytes),
            ends: Vec::with_capacity(rows),
        }
    }

    /// A null is an empty slot; the column's nulls record it.
    fn push(&mut self, value: Option<&str>) -> Result<(), sqlx::Error> {
        self.data.push_str(value.unwrap_or_default());
        // Offsets are u32 like the guest's address space: a column past
        // 4 GiB could not reach a plugin anyway.
        let end = u32::try_from(self.data.len())
            .map_err(|_| sqlx::Error::Decode("a column of the page exceeds 4 GiB".into()))?;
        self.ends.push(end);
        Ok(())
    }

    fn finish(self) -> TextColumn {
        TextColumn {
            data: self.data,
            ends: self.ends,
        }
    }
}
