//! The plugin's own models (declared with [`crate::plugin::Model`]), and
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
//! // Listings: only the fields shown, by column.
//! let titles = Select::from("note").limit(50).fetch_columns(&["title"])?;
//! ```

use crate::bindings::kai::fusion::persistence as wit;
use crate::bindings::kai::fusion::query::Order;
pub use crate::columns::{ColumnPage, JsonPage, JsonRows, RowRef, ValueRef};
use crate::host::{HostError, host_call};
use crate::query::{Aggregation, Filter, Rows, Value};

/// A stored row: its host-assigned id and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub fields: Vec<(String, Value)>,
}

impl Record {
    fn from_wit(entity: wit::Entity) -> Self {
        Record {
            id: entity.id,
            fields: entity.fields,
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

/// One page of a select.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Record>,
    pub next_cursor: Option<String>,
}

fn row(fields: &[(&str, Value)]) -> Vec<(String, Value)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
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

pub fn get(model: &str, id: &str) -> Result<Option<Record>, HostError> {
    let found: Option<wit::Entity> = host_call!(wit::get(model, id))?;
    Ok(found.map(Record::from_wit))
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
    host_call!(wit::aggregate(model, &aggregation.into_query()))
}

/// A select being built.
#[derive(Debug, Clone)]
pub struct Select {
    model: String,
    filter: Filter,
    order: Vec<Order>,
    limit: u32,
    cursor: Option<String>,
}

impl Select {
    pub fn from(model: &str) -> Self {
        Self {
            model: model.to_string(),
            filter: Filter::all(),
            order: Vec::new(),
            limit: 100,
            cursor: None,
        }
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

    /// Runs the select for every field and returns owned records.
    pub fn fetch(self) -> Result<Page, HostError> {
        let page = self.run(None)?;
        Ok(Page {
            items: page.rows().map(|row| row.to_record()).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Runs the select for `fields` only (an empty slice: the ids alone)
    /// and returns the page by column. Much cheaper than
    /// [`fetch`](Self::fetch) for listings: a few allocations per field
    /// instead of several per row, and fields not listed are not sent.
    pub fn fetch_columns(self, fields: &[&str]) -> Result<ColumnPage, HostError> {
        let fields = fields.iter().map(|f| f.to_string()).collect();
        self.run(Some(fields))
    }

    /// [`fetch_columns`](Self::fetch_columns) of every field of the model.
    pub fn fetch_all_columns(self) -> Result<ColumnPage, HostError> {
        self.run(None)
    }

    /// The one read: `fields` of the selected rows (`None`: every field).
    fn run(self, fields: Option<Vec<String>>) -> Result<ColumnPage, HostError> {
        let select = wit::Select {
            fields,
            filter: self.filter.to_nodes(),
            order: self.order,
            limit: self.limit,
            cursor: self.cursor,
        };
        let page = host_call!(wit::query(&self.model, &select))?;
        ColumnPage::from_packed(page).map_err(|e| HostError::Unavailable(e.to_string()))
    }
}
