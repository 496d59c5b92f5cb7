//! The plugin's own models (declared with [`crate::model::Model`]), and
//! read access to models other plugins export (`"plugin/model"`).
//!
//! ```ignore
//! use kai_sdk::persistence::{self, Select};
//! use kai_sdk::query::{Filter, desc};
//!
//! let id = persistence::insert("note", &[("title", "hi".into()), ("pinned", true.into())])?;
//! let page = Select::from("note")
//!     .filter(Filter::eq("pinned", true))
//!     .order(desc("created_at"))
//!     .limit(20)
//!     .fetch()?;
//! for row in page.rows() {
//!     let title: Option<&str> = row.str("title");
//! }
//! // A listing: only the fields it shows, answered straight from the page.
//! let titles = Select::from("note").fields(&["title"]).limit(50).fetch()?;
//! Response::json(200, &titles.json_page().with_id())
//! ```
//!
//! A [`Page`]'s rows are read in place ([`Row`]); [`Record`] is the owned
//! form of a row, as [`get`] returns it and [`Row::to_record`] makes it.

#[cfg(not(target_arch = "wasm32"))]
use crate::__private::native::persistence as wit;
pub use crate::columns::{JsonPage, JsonRows, Page, Row, ValueRef};
use crate::convert;
use crate::host::{HostError, host_call};
use crate::query::{Aggregation, Filter, Order, Rows, Value};
#[cfg(target_arch = "wasm32")]
use crate::wit::kai::fusion::persistence as wit;

/// A row, owned: its host-assigned id and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub fields: Vec<(String, Value)>,
}

impl Record {
    fn from_wit(entity: wit::Entity) -> Self {
        Record {
            id: entity.id,
            fields: entity
                .fields
                .into_iter()
                .map(|(name, value)| (name, value.into()))
                .collect(),
        }
    }

    /// A field's value (`Value::Null` when absent).
    pub fn get(&self, field: &str) -> &Value {
        const NULL: &Value = &Value::Null;
        self.fields
            .iter()
            .find(|(name, _)| name == field)
            .map_or(NULL, |(_, v)| v)
    }

    pub fn str(&self, field: &str) -> Option<&str> {
        self.get(field).as_str()
    }

    pub fn i64(&self, field: &str) -> Option<i64> {
        self.get(field).as_i64()
    }

    /// The record as a JSON object (id plus fields).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("id".into(), self.id.clone().into());
        for (name, value) in &self.fields {
            map.insert(name.clone(), value.to_json());
        }
        serde_json::Value::Object(map)
    }
}

fn row(fields: &[(&str, Value)]) -> Vec<(String, crate::wit::kai::fusion::types::Value)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone().into()))
        .collect()
}

/// Inserts a row; the host assigns and returns its id. Left-out fields take
/// their default (or null).
pub fn insert(model: &str, fields: &[(&str, Value)]) -> Result<String, HostError> {
    host_call!(wit::insert(model, &row(fields)))
}

/// Sets the given fields of row `id`; false when there is no such row.
pub fn update(model: &str, id: &str, fields: &[(&str, Value)]) -> Result<bool, HostError> {
    host_call!(wit::update(model, id, &row(fields)))
}

/// How an update changes one field; see [`update_where`].
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Sets the field to the value.
    Set(Value),
    /// Adds the value to a numeric field in the database, atomically (a
    /// null field counts as 0).
    Increment(Value),
}

impl Change {
    /// Sets the field to `value`.
    pub fn set(value: impl Into<Value>) -> Change {
        Change::Set(value.into())
    }

    /// Adds `by` to the field: `Change::increment(1)` is `clicks = clicks + 1`.
    pub fn increment(by: impl Into<Value>) -> Change {
        Change::Increment(by.into())
    }
}

fn wit_changes(changes: &[(&str, Change)]) -> Vec<(String, wit::Change)> {
    changes
        .iter()
        .map(|(field, change)| {
            let change = match change {
                Change::Set(value) => wit::Change::Set(value.clone().into()),
                Change::Increment(value) => wit::Change::Increment(value.clone().into()),
            };
            (field.to_string(), change)
        })
        .collect()
}

/// Applies `changes` to every row matching `filter`, in one statement;
/// how many rows changed.
///
/// ```ignore
/// let clicked = persistence::update_where(
///     "bookmark",
///     &Filter::eq("id", id),
///     &[("clicks", Change::increment(1))],
/// )?;
/// ```
pub fn update_where(
    model: &str,
    filter: &Filter,
    changes: &[(&str, Change)],
) -> Result<u64, HostError> {
    host_call!(
        wit::update_where(model, &filter.to_nodes(), &wit_changes(changes), false),
        |updated| updated.count
    )
}

/// [`update_where`], handing back the changed rows as they are now (held
/// in memory: narrow the filter, typically to one id).
///
/// ```ignore
/// let rows = persistence::update_returning("bookmark", &Filter::eq("id", id), &[("clicks", Change::increment(1))])?;
/// let clicks = rows.first().and_then(|row| row.i64("clicks"));
/// ```
pub fn update_returning(
    model: &str,
    filter: &Filter,
    changes: &[(&str, Change)],
) -> Result<Vec<Record>, HostError> {
    host_call!(
        wit::update_where(model, &filter.to_nodes(), &wit_changes(changes), true),
        |updated| updated
            .rows
            .into_iter()
            .map(Record::from_wit)
            .collect::<Vec<_>>()
    )
}

pub fn get(model: &str, id: &str) -> Result<Option<Record>, HostError> {
    host_call!(wit::get(model, id), |found| found.map(Record::from_wit))
}

pub fn delete(model: &str, id: &str) -> Result<bool, HostError> {
    host_call!(wit::delete(model, id))
}

/// Deletes every row matching `filter`; returns how many.
pub fn delete_where(model: &str, filter: &Filter) -> Result<u64, HostError> {
    host_call!(wit::delete_where(model, &filter.to_nodes()))
}

pub fn count(model: &str, filter: &Filter) -> Result<u64, HostError> {
    host_call!(wit::count(model, &filter.to_nodes()))
}

/// Runs an aggregation over `model` in the database.
pub fn aggregate(model: &str, aggregation: Aggregation) -> Result<Rows, HostError> {
    host_call!(
        wit::aggregate(model, &aggregation.into_query()),
        convert::aggregate_rows
    )
}

/// A select being built: which rows, in which order, which page, and
/// which fields (every field unless [`fields`](Self::fields) narrows it).
#[derive(Debug, Clone)]
pub struct Select {
    model: String,
    fields: Option<Vec<String>>,
    filter: Filter,
    order: Vec<Order>,
    limit: u32,
    cursor: Option<String>,
}

impl Select {
    pub fn from(model: &str) -> Self {
        Self {
            model: model.to_string(),
            fields: None,
            filter: Filter::all(),
            order: Vec::new(),
            limit: 100,
            cursor: None,
        }
    }

    /// Returns only these fields, in this order (an empty slice: the ids
    /// alone). Fields not listed are not sent: the cheap way to list many
    /// rows. An order key need not be listed.
    pub fn fields(mut self, fields: &[&str]) -> Self {
        self.fields = Some(fields.iter().map(|f| f.to_string()).collect());
        self
    }

    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    pub fn order(mut self, order: Order) -> Self {
        self.order.push(order);
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    pub fn cursor(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }

    /// Runs the select: one page, its rows read in place.
    pub fn fetch(self) -> Result<Page, HostError> {
        let select = wit::Select {
            fields: self.fields,
            filter: self.filter.to_nodes(),
            order: convert::orders(&self.order),
            limit: self.limit,
            cursor: self.cursor,
        };
        let page = host_call!(wit::query(&self.model, &select))?;
        Page::from_packed(page).map_err(|e| HostError::Unavailable(e.to_string()))
    }
}
