//! Result rows turned into the [`ColumnPage`] of kai:fusion 0.1.x's
//! `query-columns`: one typed vector per selected field, with all text of a
//! column in one string. Plugins built against 0.1.1 and 0.1.2 read pages
//! this way (`crate::capabilities::v0_1`); 0.2.0 reads them packed
//! ([`super::packed`]).

use crate::store::query::columns::{Values, text_values};
use crate::store::query::schema::{Column, ColumnType};
use crate::wit::bindings::v0_1::kai::fusion::persistence::{
    Column as WitColumn, ColumnPage, ColumnValues, TextColumn,
};
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

/// Reads result column `index` of every row.
fn read_column(column: &Column, index: usize, rows: &[AnyRow]) -> Result<WitColumn, sqlx::Error> {
    let read = Values::read(column.ty, index, rows)?;
    let nulls = read.nulls();
    let values = match read {
        Values::Text(values) => {
            let text = text_column(&values)?;
            match column.ty {
                ty if ty.is_json_text() => ColumnValues::Json(text),
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
