//! The page of a select ([`Select::fetch`](crate::persistence::Select::fetch)),
//! read column by column.
//!
//! The host sends the page packed into one buffer (`columns/packed.rs`),
//! split here into one vector per field with all text of a field in one
//! string, so listing many rows costs a few allocations per field instead
//! of several per row. Rows are read in place through [`Row`]; nothing
//! is copied until you ask for an owned value.
//!
//! A page also serializes straight into a response: [`Page::json_rows`]
//! writes each row as a JSON object of its fields, with no intermediate
//! `serde_json::Value` tree and JSON fields embedded as they are stored.
//! Its `to_vec` writes the same bytes without going through serde (see
//! `columns/json.rs`), for a response body.
//!
//! ```ignore
//! let page = Select::from("note").fields(&["title", "pinned"]).limit(50).fetch()?;
//! for row in page.rows() {
//!     let title: Option<&str> = row.str("title");
//!     let pinned: Option<bool> = row.get("pinned").as_bool();
//! }
//! Response::json(200, &page.json_page().with_id()) // {"items": [...], "next_cursor": ...}
//! Ok(Response::json_bytes(200, page.json_page().with_id().to_vec())) // the same, faster
//! ```

mod json;
mod packed;

use crate::query::Value;
use crate::wit::kai::fusion::persistence as wit;
use packed::{Column, ColumnValues, TextColumn};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::value::RawValue;

/// One page of a column select.
#[derive(Debug, Clone)]
pub struct Page {
    ids: TextColumn,
    columns: Vec<Column>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl Page {
    /// The page of a `persistence.query` call.
    pub(crate) fn from_packed(page: wit::Page) -> Result<Self, packed::Malformed> {
        let (ids, columns) = packed::decode(&page.data)?;
        Ok(Self {
            ids,
            columns,
            next_cursor: page.next_cursor,
        })
    }
}

impl Page {
    /// Rows in the page.
    pub fn len(&self) -> usize {
        self.ids.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The returned fields, in the order they were asked for.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// The rows, in page order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = Row<'_>> {
        (0..self.len()).map(move |index| Row { page: self, index })
    }

    /// Row `index`, if the page has it.
    pub fn row(&self, index: usize) -> Option<Row<'_>> {
        (index < self.len()).then_some(Row { page: self, index })
    }

    /// The rows as a JSON array of objects, one key per returned field in
    /// the order asked for, without the row id unless you add
    /// [`with_id`](JsonRows::with_id). Serialize it with serde_json (e.g.
    /// `Response::json`): JSON fields are embedded as serde_json raw values,
    /// which other serializers would not write as JSON.
    pub fn json_rows(&self) -> JsonRows<'_> {
        JsonRows {
            page: self,
            with_id: false,
        }
    }

    /// The page in the listing shape of the KAI-Fusion REST API:
    /// `{"items": [...], "next_cursor": ...}`, items as [`json_rows`](Self::json_rows).
    pub fn json_page(&self) -> JsonPage<'_> {
        JsonPage {
            rows: self.json_rows(),
        }
    }

    fn column(&self, field: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == field)
    }
}

/// A [`Page`]'s rows, serializable as a JSON array of objects.
#[derive(Debug, Clone, Copy)]
pub struct JsonRows<'a> {
    page: &'a Page,
    with_id: bool,
}

impl JsonRows<'_> {
    /// Starts every object with the row's `id`.
    pub fn with_id(mut self) -> Self {
        self.with_id = true;
        self
    }

    /// The JSON serde_json would write, written directly.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = crate::http::json_body();
        json::write_rows(self.page, self.with_id, &mut out);
        out
    }
}

impl Serialize for JsonRows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let page = self.page;
        let mut rows = serializer.serialize_seq(Some(page.len()))?;
        for row in page.rows() {
            rows.serialize_element(&JsonRow {
                row,
                with_id: self.with_id,
            })?;
        }
        rows.end()
    }
}

/// A [`Page`] as a REST listing, serializable.
#[derive(Debug, Clone, Copy)]
pub struct JsonPage<'a> {
    rows: JsonRows<'a>,
}

impl JsonPage<'_> {
    /// Starts every item with the row's `id`.
    pub fn with_id(mut self) -> Self {
        self.rows = self.rows.with_id();
        self
    }

    /// The JSON serde_json would write, written directly: a response body
    /// for [`Response::json_bytes`](crate::Response::json_bytes).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = crate::http::json_body();
        json::write_page(self.rows.page, self.rows.with_id, &mut out);
        out
    }
}

impl Serialize for JsonPage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("items", &self.rows)?;
        map.serialize_entry("next_cursor", &self.rows.page.next_cursor)?;
        map.end()
    }
}

struct JsonRow<'a> {
    row: Row<'a>,
    with_id: bool,
}

impl Serialize for JsonRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let columns = &self.row.page.columns;
        let mut map = serializer.serialize_map(Some(columns.len() + usize::from(self.with_id)))?;
        if self.with_id {
            map.serialize_entry("id", self.row.id())?;
        }
        for column in columns {
            map.serialize_entry(&column.name, &self.row.value(column))?;
        }
        map.end()
    }
}

/// One row of a [`Page`], borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    page: &'a Page,
    index: usize,
}

impl<'a> Row<'a> {
    /// The row's host-assigned id.
    pub fn id(&self) -> &'a str {
        text_at(&self.page.ids, self.index)
    }

    /// A field's value; [`ValueRef::Null`] when it is null, and also when
    /// the page does not hold the field (it was not asked for). Use
    /// [`try_get`](Self::try_get) where the difference matters.
    pub fn get(&self, field: &str) -> ValueRef<'a> {
        self.try_get(field).unwrap_or(ValueRef::Null)
    }

    /// A field's value, or `None` when the page does not hold the field.
    pub fn try_get(&self, field: &str) -> Option<ValueRef<'a>> {
        self.page.column(field).map(|column| self.value(column))
    }

    fn value(&self, column: &'a Column) -> ValueRef<'a> {
        if column.nulls.binary_search(&(self.index as u32)).is_ok() {
            return ValueRef::Null;
        }
        let i = self.index;
        let value = match &column.values {
            ColumnValues::Boolean(v) => v.get(i).map(|b| ValueRef::Boolean(*b)),
            ColumnValues::Integer(v) => v.get(i).map(|n| ValueRef::Integer(*n)),
            ColumnValues::Float(v) => v.get(i).map(|f| ValueRef::Float(*f)),
            ColumnValues::Timestamp(v) => v.get(i).map(|t| ValueRef::Timestamp(*t)),
            ColumnValues::Text(t) => Some(ValueRef::Text(text_at(t, i))),
            ColumnValues::Json(t) => Some(ValueRef::Json(text_at(t, i))),
            ColumnValues::Uuid(t) => Some(ValueRef::Uuid(text_at(t, i))),
        };
        // Host-built pages are well formed; a short column reads as null
        // rather than panicking the plugin.
        value.unwrap_or(ValueRef::Null)
    }

    /// The row as a JSON object: its id, then every field the page holds,
    /// as [`ValueRef::to_json`] gives them.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("id".into(), self.id().into());
        for column in &self.page.columns {
            object.insert(column.name.clone(), self.value(column).to_json());
        }
        serde_json::Value::Object(object)
    }

    /// The row as an owned record of every field the page holds.
    pub fn to_record(&self) -> crate::persistence::Record {
        crate::persistence::Record {
            id: self.id().to_string(),
            fields: self
                .page
                .columns
                .iter()
                .map(|column| (column.name.clone(), self.value(column).to_value()))
                .collect(),
        }
    }

    /// A text, JSON or UUID field's text.
    pub fn str(&self, field: &str) -> Option<&'a str> {
        self.get(field).as_str()
    }

    /// An integer or timestamp field.
    pub fn i64(&self, field: &str) -> Option<i64> {
        self.get(field).as_i64()
    }
}

/// Value `index` of a text column; empty text when the offsets are out of
/// range (see [`Row::get`]).
fn text_at(column: &TextColumn, index: usize) -> &str {
    let start = match index {
        0 => 0,
        i => column.ends.get(i - 1).copied().unwrap_or(0) as usize,
    };
    let end = column.ends.get(index).copied().unwrap_or(0) as usize;
    column.data.get(start..end).unwrap_or_default()
}

/// A field value borrowed from a [`Page`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Text(&'a str),
    /// A serialized JSON document.
    Json(&'a str),
    Uuid(&'a str),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
}

impl<'a> ValueRef<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, ValueRef::Null)
    }

    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            ValueRef::Text(s) | ValueRef::Json(s) | ValueRef::Uuid(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            ValueRef::Integer(i) | ValueRef::Timestamp(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            ValueRef::Float(f) => Some(f),
            ValueRef::Integer(i) => Some(i as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            ValueRef::Boolean(b) => Some(b),
            _ => None,
        }
    }

    /// The value as JSON, as [`Value::to_json`] gives it (timestamps as
    /// RFC 3339 text, JSON parsed).
    pub fn to_json(&self) -> serde_json::Value {
        match *self {
            ValueRef::Null => serde_json::Value::Null,
            ValueRef::Boolean(b) => b.into(),
            ValueRef::Integer(i) => i.into(),
            ValueRef::Timestamp(t) => crate::time::rfc3339(t).into(),
            ValueRef::Float(f) => f.into(),
            ValueRef::Text(s) | ValueRef::Uuid(s) => s.into(),
            ValueRef::Json(s) => serde_json::from_str(s).unwrap_or(serde_json::Value::Null),
        }
    }

    /// An owned copy.
    pub fn to_value(&self) -> Value {
        match *self {
            ValueRef::Null => Value::Null,
            ValueRef::Boolean(b) => Value::Boolean(b),
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Text(s) => Value::Text(s.to_string()),
            ValueRef::Json(s) => Value::Json(s.to_string()),
            ValueRef::Uuid(s) => Value::Uuid(s.to_string()),
            ValueRef::Timestamp(t) => Value::Timestamp(t),
        }
    }
}

/// Serializes as [`ValueRef::to_json`] would, without building the tree: a
/// JSON field is checked and written as it is (null if it is not JSON).
impl Serialize for ValueRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            ValueRef::Null => serializer.serialize_unit(),
            ValueRef::Boolean(b) => serializer.serialize_bool(b),
            ValueRef::Integer(i) => serializer.serialize_i64(i),
            ValueRef::Timestamp(t) => serializer.serialize_str(&crate::time::rfc3339(t)),
            ValueRef::Float(f) => serializer.serialize_f64(f),
            ValueRef::Text(s) | ValueRef::Uuid(s) => serializer.serialize_str(s),
            ValueRef::Json(s) => match serde_json::from_str::<&RawValue>(s) {
                Ok(raw) => raw.serialize(serializer),
                Err(_) => serializer.serialize_unit(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(values: &[&str]) -> TextColumn {
        let mut data = String::new();
        let mut ends = Vec::new();
        for v in values {
            data.push_str(v);
            ends.push(data.len() as u32);
        }
        TextColumn { data, ends }
    }

    fn page() -> Page {
        Page {
            ids: text(&["a1", "b22", "c333"]),
            columns: vec![
                Column {
                    name: "title".into(),
                    values: ColumnValues::Text(text(&["", "two", "héllo"])),
                    nulls: vec![0],
                },
                Column {
                    name: "score".into(),
                    values: ColumnValues::Float(vec![1.5, 0.0, -2.0]),
                    nulls: vec![1],
                },
                Column {
                    name: "meta".into(),
                    values: ColumnValues::Json(text(&["{\"k\":1}", "[]", "null"])),
                    nulls: vec![],
                },
                Column {
                    name: "at".into(),
                    values: ColumnValues::Timestamp(vec![10, 20, 30]),
                    nulls: vec![],
                },
            ],
            next_cursor: Some("next".into()),
        }
    }

    #[test]
    fn rows_read_ids_values_and_nulls_in_place() {
        let page = page();
        assert_eq!(page.len(), 3);
        assert_eq!(
            page.fields().collect::<Vec<_>>(),
            ["title", "score", "meta", "at"]
        );
        let ids: Vec<&str> = page.rows().map(|r| r.id()).collect();
        assert_eq!(ids, ["a1", "b22", "c333"]);
        let row = page.row(0).unwrap();
        assert_eq!(row.get("title"), ValueRef::Null);
        assert_eq!(row.get("score"), ValueRef::Float(1.5));
        let row = page.row(1).unwrap();
        assert_eq!(row.str("title"), Some("two"));
        assert!(row.get("score").is_null());
        assert_eq!(row.get("meta").to_json(), serde_json::json!([]));
        let row = page.row(2).unwrap();
        assert_eq!(row.str("title"), Some("héllo"));
        assert_eq!(row.i64("at"), Some(30));
        assert_eq!(row.get("meta").to_value(), Value::Json("null".into()));
        assert!(page.row(3).is_none());
    }

    #[test]
    fn json_rows_serialize_like_to_json_field_by_field() {
        let page = page();
        let expected: Vec<serde_json::Value> = page
            .rows()
            .map(|row| {
                let mut object = serde_json::Map::new();
                object.insert("id".into(), row.id().into());
                for field in page.fields() {
                    object.insert(field.into(), row.get(field).to_json());
                }
                serde_json::Value::Object(object)
            })
            .collect();
        let text = serde_json::to_string(&page.json_rows().with_id()).unwrap();
        let parsed: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, expected);
        // Fields keep the order they were asked in, after the id.
        assert!(
            text.starts_with(
                r#"[{"id":"a1","title":null,"score":1.5,"meta":{"k":1},"at":"1970-01-01T00:00:00.000010Z"}"#
            ),
            "{text}"
        );
        let without_id = serde_json::to_string(&page.json_rows()).unwrap();
        assert!(without_id.starts_with(r#"[{"title":null,"#), "{without_id}");
        let listing: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&page.json_page()).unwrap()).unwrap();
        assert_eq!(listing["next_cursor"], "next");
        assert_eq!(listing["items"].as_array().unwrap().len(), 3);
    }

    /// A page with every kind of value, nulls, text that needs escaping,
    /// a field name that does, and a JSON field that is not JSON.
    fn tricky_page(next_cursor: Option<&str>) -> Page {
        Page {
            ids: text(&["a1", "b\"2", "c3"]),
            columns: vec![
                Column {
                    name: "ti\"tle".into(),
                    values: ColumnValues::Text(text(&["", "line\nbreak \\ \u{1}", "héllo ✓"])),
                    nulls: vec![0],
                },
                Column {
                    name: "score".into(),
                    values: ColumnValues::Float(vec![1.5, f64::NAN, -2.25e-7]),
                    nulls: vec![],
                },
                Column {
                    name: "n".into(),
                    values: ColumnValues::Integer(vec![i64::MIN, 0, i64::MAX]),
                    nulls: vec![1],
                },
                Column {
                    name: "ok".into(),
                    values: ColumnValues::Boolean(vec![true, false, true]),
                    nulls: vec![2],
                },
                Column {
                    name: "meta".into(),
                    values: ColumnValues::Json(text(&[" {\"k\": [1, 2]} ", "{not json", "null"])),
                    nulls: vec![],
                },
                Column {
                    name: "owner".into(),
                    values: ColumnValues::Uuid(text(&[
                        "7f8e3a52-8c1b-4d2e-9f3a-1b2c3d4e5f60",
                        "",
                        "",
                    ])),
                    nulls: vec![1, 2],
                },
                Column {
                    name: "at".into(),
                    values: ColumnValues::Timestamp(vec![10, -20, 1_700_000_000_000_000]),
                    nulls: vec![],
                },
            ],
            next_cursor: next_cursor.map(str::to_string),
        }
    }

    #[test]
    fn to_vec_writes_exactly_what_serde_json_writes() {
        for cursor in [None, Some("eyJ2IjpbMTBdfQ"), Some("needs \"escaping\"")] {
            let page = tricky_page(cursor);
            for with_id in [false, true] {
                let (rows, listing) = if with_id {
                    (page.json_rows().with_id(), page.json_page().with_id())
                } else {
                    (page.json_rows(), page.json_page())
                };
                assert_eq!(
                    String::from_utf8(rows.to_vec()).unwrap(),
                    serde_json::to_string(&rows).unwrap()
                );
                assert_eq!(
                    String::from_utf8(listing.to_vec()).unwrap(),
                    serde_json::to_string(&listing).unwrap()
                );
            }
        }
        let empty = Page {
            ids: text(&[]),
            columns: vec![],
            next_cursor: None,
        };
        assert_eq!(
            empty.json_page().to_vec(),
            br#"{"items":[],"next_cursor":null}"#
        );
    }

    #[test]
    fn a_json_field_that_is_not_json_serializes_as_null() {
        let text = serde_json::to_string(&ValueRef::Json("{not json")).unwrap();
        assert_eq!(text, "null");
        assert_eq!(
            ValueRef::Json("{not json").to_json(),
            serde_json::Value::Null
        );
    }

    #[test]
    fn an_unselected_field_reads_as_null() {
        let page = page();
        let row = page.row(1).unwrap();
        assert!(row.get("content").is_null());
        assert_eq!(row.try_get("content"), None);
        assert_eq!(row.try_get("score"), Some(ValueRef::Null));
    }

    #[test]
    fn a_malformed_page_reads_as_empty_text_instead_of_panicking() {
        let page = Page {
            ids: TextColumn {
                data: "ab".into(),
                ends: vec![5, 1],
            },
            columns: vec![],
            next_cursor: None,
        };
        let ids: Vec<&str> = page.rows().map(|r| r.id()).collect();
        assert_eq!(ids, ["", ""]);
    }
}
