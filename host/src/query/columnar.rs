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
use crate::runtime::bindings::kai::fusion::persistence::{
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
    // Ids are UUIDs: 36 bytes each.
    let mut ids = TextBuilder::with_capacity(rows.len(), rows.len() * 36);
    for row in rows {
        ids.push(row.try_get::<Option<&str>, _>(0)?)?;
    }
    let columns = columns[1..returned]
        .iter()
        .enumerate()
        .map(|(offset, column)| read_column(column, offset + 1, rows))
        .collect::<Result<_, _>>()?;
    Ok(ColumnPage {
        ids: ids.finish(),
        columns,
        next_cursor,
    })
}

/// Reads result column `index` of every row.
fn read_column(column: &Column, index: usize, rows: &[AnyRow]) -> Result<WitColumn, sqlx::Error> {
    let mut nulls = Vec::new();
    let mut note_null = |row: usize, is_null: bool| {
        if is_null {
            nulls.push(row as u32);
        }
    };
    let values = match column.ty {
        ColumnType::String | ColumnType::Json | ColumnType::Uuid => {
            // Borrowed first, so the column's text is allocated once at its
            // full size instead of regrowing (and copying) as it fills.
            let values = rows
                .iter()
                .map(|row| row.try_get::<Option<&str>, _>(index))
                .collect::<Result<Vec<_>, _>>()?;
            let bytes = values.iter().map(|v| v.map_or(0, str::len)).sum();
            let mut text = TextBuilder::with_capacity(rows.len(), bytes);
            for (i, value) in values.into_iter().enumerate() {
                note_null(i, value.is_none());
                text.push(value)?;
            }
            let text = text.finish();
            match column.ty {
                ColumnType::Json => ColumnValues::Json(text),
                ColumnType::Uuid => ColumnValues::Uuid(text),
                _ => ColumnValues::Text(text),
            }
        }
        ColumnType::Int | ColumnType::Timestamp | ColumnType::Bool => {
            let mut values = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                let value = int(row, index)?;
                note_null(i, value.is_none());
                values.push(value.unwrap_or(0));
            }
            match column.ty {
                ColumnType::Timestamp => ColumnValues::Timestamp(values),
                ColumnType::Bool => ColumnValues::Boolean(values.iter().map(|v| *v != 0).collect()),
                _ => ColumnValues::Integer(values),
            }
        }
        ColumnType::Float => {
            let mut values = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                let value = float(row, index)?;
                note_null(i, value.is_none());
                values.push(value.unwrap_or(0.0));
            }
            ColumnValues::Float(values)
        }
    };
    Ok(WitColumn {
        name: column.name.clone(),
        values,
        nulls,
    })
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

    /// A null is an empty slot; the caller records it in the column's nulls.
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
