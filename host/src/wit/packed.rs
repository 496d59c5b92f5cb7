//! Result rows packed into one buffer: the `packed-column-page` of
//! `kai:fusion/persistence` 0.1.3 (its layout is documented in the WIT).
//!
//! Why: a `ColumnPage` (`crate::wit::columnar`) is about four lists and strings
//! per column, and lowering each into the guest is a call into the guest's
//! allocator through wasmtime (75 calls for a page of doc-versioning's
//! history). One `list<u8>` is one call. The buffer is written straight
//! from the rows, with no vector per column in between.

use crate::store::query::columns::{Values, text_values};
use crate::store::query::schema::{Column, ColumnType};
use sqlx::any::AnyRow;

/// The case numbers of `column-values`, which the packed page uses as kinds.
#[repr(u8)]
enum Kind {
    Boolean = 0,
    Integer = 1,
    Float = 2,
    Timestamp = 3,
    Text = 4,
    Json = 5,
    Uuid = 6,
}

/// Packs `rows`: column 0 of each row is its id, columns `1..returned` are
/// the requested fields (later ones, selected only for the cursor, are left
/// out).
pub fn page(columns: &[Column], returned: usize, rows: &[AnyRow]) -> Result<Vec<u8>, sqlx::Error> {
    let ids = text_values(0, rows)?;
    let fields = &columns[1..returned];
    let mut out = Writer::with_capacity(8 + text_size(&ids) + fields.len() * (32 + rows.len() * 8));
    out.u32(rows.len())?;
    out.u32(fields.len())?;
    out.text(&ids)?;
    for (offset, column) in fields.iter().enumerate() {
        write_column(&mut out, column, offset + 1, rows)?;
    }
    Ok(out.finish())
}

/// Writes result column `index` of every row.
fn write_column(
    out: &mut Writer,
    column: &Column,
    index: usize,
    rows: &[AnyRow],
) -> Result<(), sqlx::Error> {
    out.bytes(column.name.as_bytes())?;
    out.kind(match column.ty {
        ColumnType::Bool => Kind::Boolean,
        ColumnType::Int => Kind::Integer,
        ColumnType::Float => Kind::Float,
        ColumnType::Timestamp => Kind::Timestamp,
        ColumnType::String => Kind::Text,
        // A list crosses as the JSON array it is stored as.
        ColumnType::Json
        | ColumnType::StringList
        | ColumnType::IntList
        | ColumnType::FloatList
        | ColumnType::TimestampList
        | ColumnType::UuidList => Kind::Json,
        ColumnType::Uuid => Kind::Uuid,
    });
    let values = Values::read(column.ty, index, rows)?;
    let nulls = values.nulls();
    out.u32(nulls.len())?;
    for row in nulls {
        out.0.extend_from_slice(&row.to_le_bytes());
    }
    match values {
        Values::Text(values) => out.text(&values)?,
        Values::Int(values) => {
            for value in values.into_iter().map(|v| v.unwrap_or(0)) {
                match column.ty {
                    ColumnType::Bool => out.0.push(u8::from(value != 0)),
                    _ => out.0.extend_from_slice(&value.to_le_bytes()),
                }
            }
        }
        Values::Float(values) => {
            for value in values {
                out.0.extend_from_slice(&value.unwrap_or(0.0).to_le_bytes());
            }
        }
    }
    Ok(())
}

/// Bytes a text block of `values` takes.
fn text_size(values: &[Option<&str>]) -> usize {
    4 + values.len() * 4 + values.iter().map(|v| v.map_or(0, str::len)).sum::<usize>()
}

/// The buffer being written.
struct Writer(Vec<u8>);

impl Writer {
    fn with_capacity(bytes: usize) -> Self {
        Self(Vec::with_capacity(bytes))
    }

    /// A length or offset. The guest's address space is 32-bit: a page
    /// past 4 GiB could not reach a plugin anyway.
    fn u32(&mut self, value: usize) -> Result<(), sqlx::Error> {
        let value = u32::try_from(value)
            .map_err(|_| sqlx::Error::Decode("a column page exceeds 4 GiB".into()))?;
        self.0.extend_from_slice(&value.to_le_bytes());
        Ok(())
    }

    fn bytes(&mut self, bytes: &[u8]) -> Result<(), sqlx::Error> {
        self.u32(bytes.len())?;
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn kind(&mut self, kind: Kind) {
        self.0.push(kind as u8);
    }

    /// A text block: where each value ends, then the data (a null is empty).
    fn text(&mut self, values: &[Option<&str>]) -> Result<(), sqlx::Error> {
        let mut end = 0;
        for value in values {
            end += value.map_or(0, str::len);
            self.u32(end)?;
        }
        self.u32(end)?;
        for value in values.iter().flatten() {
            self.0.extend_from_slice(value.as_bytes());
        }
        Ok(())
    }

    fn finish(self) -> Vec<u8> {
        self.0
    }
}
