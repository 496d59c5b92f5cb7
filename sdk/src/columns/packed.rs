//! Reads the page of `persistence.query` (packed column by column; the
//! layout is documented in the WIT) into the columns a
//! [`Page`](super::Page) holds.
//!
//! Why a packed page: the host hands the guest one buffer, so that
//! lowering the page is one call into the guest's allocator instead of
//! about four per column. Splitting it here costs a bump allocation and a
//! copy per column, inside the guest, with no call across the boundary.

/// The text values of one column, concatenated: value `i` is
/// `data[ends[i-1]..ends[i]]` (from 0 for the first).
#[derive(Debug, Clone, PartialEq)]
pub struct TextColumn {
    pub data: String,
    pub ends: Vec<u32>,
}

/// One column's values, one per row, typed by the field's declaration.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    Boolean(Vec<bool>),
    Integer(Vec<i64>),
    Float(Vec<f64>),
    Timestamp(Vec<i64>),
    Text(TextColumn),
    /// Serialized JSON documents.
    Json(TextColumn),
    Uuid(TextColumn),
}

/// One returned field: a null row holds a placeholder in `values`.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: ColumnValues,
    /// The rows (0-based, ascending) whose value is null.
    pub nulls: Vec<u32>,
}

/// What is wrong with a packed page: the host wrote something this SDK
/// does not read (the buffer ends early, a kind is unknown, text is not
/// UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the host sent a malformed column page: {}", self.0)
    }
}

/// The ids and columns of a packed page.
pub fn decode(data: &[u8]) -> Result<(TextColumn, Vec<Column>), Malformed> {
    let mut reader = Reader { data, at: 0 };
    let rows = reader.u32()? as usize;
    let count = reader.u32()? as usize;
    let ids = reader.text(rows)?;
    // A column takes at least 9 bytes, so a count from a bad buffer cannot
    // reserve more than the buffer's size.
    let mut columns = Vec::with_capacity(count.min(reader.remaining() / 9));
    for _ in 0..count {
        let name = reader.string()?;
        let kind = reader.u8()?;
        let null_count = reader.u32()? as usize;
        let nulls = reader.u32s(null_count)?;
        let values = match kind {
            0 => ColumnValues::Boolean(reader.take(rows)?.iter().map(|b| *b != 0).collect()),
            1 => ColumnValues::Integer(reader.words(rows, i64::from_le_bytes)?),
            2 => ColumnValues::Float(reader.words(rows, f64::from_le_bytes)?),
            3 => ColumnValues::Timestamp(reader.words(rows, i64::from_le_bytes)?),
            4 => ColumnValues::Text(reader.text(rows)?),
            5 => ColumnValues::Json(reader.text(rows)?),
            6 => ColumnValues::Uuid(reader.text(rows)?),
            _ => return Err(Malformed("unknown column kind")),
        };
        columns.push(Column {
            name,
            values,
            nulls,
        });
    }
    if reader.remaining() != 0 {
        return Err(Malformed("bytes after the last column"));
    }
    Ok((ids, columns))
}

/// A cursor over the buffer; every read checks the length first.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.at
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], Malformed> {
        let bytes = self
            .data
            .get(self.at..)
            .and_then(|rest| rest.get(..len))
            .ok_or(Malformed("it ends early"))?;
        self.at += len;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    /// `count` fixed-size little-endian values.
    fn words<T, const N: usize>(
        &mut self,
        count: usize,
        from: fn([u8; N]) -> T,
    ) -> Result<Vec<T>, Malformed> {
        let len = count.checked_mul(N).ok_or(Malformed("a count overflows"))?;
        Ok(self
            .take(len)?
            .chunks_exact(N)
            .map(|chunk| from(chunk.try_into().expect("N bytes")))
            .collect())
    }

    fn u32s(&mut self, count: usize) -> Result<Vec<u32>, Malformed> {
        self.words(count, u32::from_le_bytes)
    }

    /// Text the host wrote. Like every `string` wit-bindgen lifts, it is
    /// checked for UTF-8 only in debug builds: the host writes nothing but
    /// Rust strings into the page (the database driver has already checked
    /// each value), and checking again cost the guest more (9,000
    /// instructions of a doc-versioning history read) than splitting it.
    fn string(&mut self) -> Result<String, Malformed> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?.to_vec();
        if cfg!(debug_assertions) {
            String::from_utf8(bytes).map_err(|_| Malformed("text that is not UTF-8"))
        } else {
            // SAFETY: as for wit-bindgen's lifted strings, the host only
            // writes valid UTF-8 (see above).
            Ok(unsafe { String::from_utf8_unchecked(bytes) })
        }
    }

    /// A text block: `rows` value ends, then the data they index.
    fn text(&mut self, rows: usize) -> Result<TextColumn, Malformed> {
        let ends = self.u32s(rows)?;
        let data = self.string()?;
        // Ends must rise within the data and fall on character boundaries,
        // so that reading a value can neither panic nor split a character.
        let mut start = 0;
        for &end in &ends {
            let end = end as usize;
            if end < start || end > data.len() || !data.is_char_boundary(end) {
                return Err(Malformed("a text value ends outside its data"));
            }
            start = end;
        }
        Ok(TextColumn { data, ends })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page written by hand, as the WIT documents it: two rows, a text
    /// column with a null and an integer column.
    fn sample() -> Vec<u8> {
        let mut page = Vec::new();
        let u32 = |page: &mut Vec<u8>, v: u32| page.extend_from_slice(&v.to_le_bytes());
        u32(&mut page, 2); // rows
        u32(&mut page, 2); // columns
        // ids "a", "bc"
        u32(&mut page, 1);
        u32(&mut page, 3);
        u32(&mut page, 3);
        page.extend_from_slice(b"abc");
        // "title": text, row 1 null; values "é", ""
        u32(&mut page, 5);
        page.extend_from_slice(b"title");
        page.push(4);
        u32(&mut page, 1);
        u32(&mut page, 1);
        u32(&mut page, 2);
        u32(&mut page, 2);
        u32(&mut page, 2);
        page.extend_from_slice("é".as_bytes());
        // "n": integer, no nulls; values -1, 7
        u32(&mut page, 1);
        page.push(b'n');
        page.push(1);
        u32(&mut page, 0);
        page.extend_from_slice(&(-1i64).to_le_bytes());
        page.extend_from_slice(&7i64.to_le_bytes());
        page
    }

    #[test]
    fn reads_a_page_as_documented() {
        let (ids, columns) = decode(&sample()).unwrap();
        assert_eq!(
            (ids.data.as_str(), ids.ends.as_slice()),
            ("abc", &[1, 3][..])
        );
        assert_eq!(columns.len(), 2);
        assert_eq!(columns[0].name, "title");
        assert_eq!(columns[0].nulls, [1]);
        match &columns[0].values {
            ColumnValues::Text(t) => {
                assert_eq!((t.data.as_str(), &t.ends[..]), ("é", &[2, 2][..]))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(columns[1].name, "n");
        assert!(columns[1].nulls.is_empty());
        match &columns[1].values {
            ColumnValues::Integer(v) => assert_eq!(v, &[-1, 7]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let page = sample();
        for len in 0..page.len() {
            assert_eq!(
                decode(&page[..len]),
                Err(Malformed("it ends early")),
                "{len}"
            );
        }
    }

    #[test]
    fn bad_kinds_offsets_and_text_are_named() {
        let mut page = sample();
        page.push(0);
        assert_eq!(decode(&page).unwrap_err().0, "bytes after the last column");

        let mut page = sample();
        // After rows and columns (8), the ids (ends 8, length 4, data 3)
        // and the name (length 4, "title" 5).
        let kind = 32;
        assert_eq!(page[kind], 4);
        page[kind] = 9;
        assert_eq!(decode(&page).unwrap_err().0, "unknown column kind");

        // The text column's first value ending inside "é".
        let mut page = sample();
        let first_end = kind + 1 + 4 + 4; // the kind, the null count, row 1
        assert_eq!(page[first_end], 2);
        page[first_end] = 1;
        assert_eq!(
            decode(&page).unwrap_err().0,
            "a text value ends outside its data"
        );

        // The ids' data not UTF-8 (checked in debug builds, as tests are).
        let mut page = sample();
        page[20] = 0xff;
        assert_eq!(decode(&page).unwrap_err().0, "text that is not UTF-8");

        // A column count no buffer of this size could hold.
        let mut page = sample();
        page[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&page).unwrap_err().0, "it ends early");
    }
}
