//! Building queries: values, filters, orderings and aggregates, as plain
//! Rust values that the SDK flattens into the WIT records.
//!
//! ```
//! use kai_sdk::query::Filter;
//! let filter = Filter::eq("document_id", "0190...").and(Filter::gt("version", 3));
//! assert!(matches!(filter, Filter::All(ref parts) if parts.len() == 2));
//! ```

use crate::columns::ValueRef;
use crate::wit::kai::fusion::query::{
    self as wit, Aggregate, AggregateFunction, AggregateQuery, FilterNode, GroupKey,
};

/// A dynamically typed value: a field of a plugin model, a filter operand
/// or an aggregate result.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    /// A JSON document, serialized.
    Json(String),
    /// A UUID in its canonical hyphenated form.
    Uuid(String),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
}

/// How a [`Condition`] compares a field with its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Equal to one of the values.
    In,
    /// Text starting with the value.
    Prefix,
    /// Text containing the value, case-insensitively; on a list field, a
    /// list holding the value as an element.
    Contains,
    IsNull,
    IsNotNull,
}

/// A filter's leaf: `field op values`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    pub values: Vec<Value>,
}

/// An ordering on one field; see [`asc`] and [`desc`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub field: String,
    pub descending: bool,
}

/// The unit a timestamp is grouped by in an [`Aggregation`] (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBucket {
    Hour,
    Day,
    Week,
    Month,
}

/// One row of an aggregation: the group's keys, in the order they were
/// grouped by, and the aggregates' values, in the order they were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRow {
    pub keys: Vec<Value>,
    pub values: Vec<Value>,
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Integer(v.into())
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Integer(v as i64)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl Value {
    /// A JSON value (stored in a `json` field).
    pub fn json(value: &serde_json::Value) -> Value {
        Value::Json(value.to_string())
    }

    /// The value of a list field (`string-list`, `int-list`, ...): the
    /// elements as a JSON array, which is how lists cross to the host.
    /// Timestamps are microseconds, UUIDs their text.
    ///
    /// ```
    /// use kai_sdk::query::Value;
    /// assert_eq!(Value::list(["rust", "wasm"]), Value::Json(r#"["rust","wasm"]"#.into()));
    /// assert_eq!(Value::list([1, 2]), Value::Json("[1,2]".into()));
    /// ```
    pub fn list<V: Into<Value>>(items: impl IntoIterator<Item = V>) -> Value {
        let elements: Vec<serde_json::Value> = items
            .into_iter()
            .map(|item| match item.into() {
                Value::Null => serde_json::Value::Null,
                Value::Boolean(b) => b.into(),
                Value::Integer(i) | Value::Timestamp(i) => i.into(),
                Value::Float(f) => f.into(),
                Value::Text(s) | Value::Uuid(s) => s.into(),
                Value::Json(s) => serde_json::from_str(&s).unwrap_or(serde_json::Value::Null),
            })
            .collect();
        Value::Json(serde_json::Value::Array(elements).to_string())
    }

    /// The value borrowed, as a column page hands values out; the
    /// accessors below read through it.
    pub fn view(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Boolean(b) => ValueRef::Boolean(*b),
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Json(s) => ValueRef::Json(s),
            Value::Uuid(s) => ValueRef::Uuid(s),
            Value::Timestamp(t) => ValueRef::Timestamp(*t),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.view().as_str()
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.view().as_i64()
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.view().as_f64()
    }

    pub fn as_bool(&self) -> Option<bool> {
        self.view().as_bool()
    }

    pub fn is_null(&self) -> bool {
        self.view().is_null()
    }

    /// The value as JSON (timestamps as RFC 3339 text, json parsed).
    pub fn to_json(&self) -> serde_json::Value {
        self.view().to_json()
    }
}

/// A boolean expression over a model's fields.
#[derive(Debug, Clone)]
pub enum Filter {
    Condition(Condition),
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    fn cond(field: &str, op: Op, values: Vec<Value>) -> Filter {
        Filter::Condition(Condition {
            field: field.to_string(),
            op,
            values,
        })
    }

    /// Matches every row.
    pub fn all() -> Filter {
        Filter::All(Vec::new())
    }

    pub fn eq(field: &str, value: impl Into<Value>) -> Filter {
        Self::cond(field, Op::Eq, vec![value.into()])
    }

    pub fn ne(field: &str, value: impl Into<Value>) -> Filter {
        Self::cond(field, Op::Ne, vec![value.into()])
    }

    pub fn lt(field: &str, value: impl Into<Value>) -> Filter {
        Self::cond(field, Op::Lt, vec![value.into()])
    }

    pub fn le(field: &str, value: impl Into<Value>) -> Filter {
        Self::cond(field, Op::Le, vec![value.into()])
    }

    pub fn gt(field: &str, value: impl Into<Value>) -> Filter {
        Self::cond(field, Op::Gt, vec![value.into()])
    }

    pub fn ge(field: &str, value: impl Into<Value>) -> Filter {
        Self::cond(field, Op::Ge, vec![value.into()])
    }

    pub fn one_of<V: Into<Value>>(field: &str, values: impl IntoIterator<Item = V>) -> Filter {
        Self::cond(field, Op::In, values.into_iter().map(Into::into).collect())
    }

    pub fn prefix(field: &str, prefix: &str) -> Filter {
        Self::cond(field, Op::Prefix, vec![prefix.into()])
    }

    /// On a string field, a case-insensitive substring match; on a list
    /// field, a list holding `value` as an element.
    pub fn contains(field: &str, value: impl Into<Value>) -> Filter {
        Self::cond(field, Op::Contains, vec![value.into()])
    }

    /// A list field holding at least one of `values` as an element: an
    /// [`Filter::Any`] of [`Filter::contains`], which the host answers in
    /// one query.
    pub fn contains_any<V: Into<Value>>(
        field: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Filter {
        Filter::Any(
            values
                .into_iter()
                .map(|value| Self::contains(field, value))
                .collect(),
        )
    }

    pub fn is_null(field: &str) -> Filter {
        Self::cond(field, Op::IsNull, Vec::new())
    }

    pub fn is_not_null(field: &str) -> Filter {
        Self::cond(field, Op::IsNotNull, Vec::new())
    }

    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::All(mut items) => {
                items.push(other);
                Filter::All(items)
            }
            first => Filter::All(vec![first, other]),
        }
    }

    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Any(mut items) => {
                items.push(other);
                Filter::Any(items)
            }
            first => Filter::Any(vec![first, other]),
        }
    }

    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }

    /// The flat node list the host takes (children before parents, root
    /// last).
    pub(crate) fn to_nodes(&self) -> Vec<FilterNode> {
        let mut nodes = Vec::new();
        self.flatten(&mut nodes);
        nodes
    }

    fn flatten(&self, nodes: &mut Vec<FilterNode>) -> u32 {
        let node = match self {
            Filter::Condition(c) => FilterNode::Condition(c.into()),
            Filter::All(items) => FilterNode::All(items.iter().map(|f| f.flatten(nodes)).collect()),
            Filter::Any(items) => FilterNode::Any(items.iter().map(|f| f.flatten(nodes)).collect()),
            Filter::Not(inner) => FilterNode::Not(inner.flatten(nodes)),
        };
        nodes.push(node);
        (nodes.len() - 1) as u32
    }
}

/// Ascending order on `field`.
pub fn asc(field: &str) -> Order {
    Order {
        field: field.to_string(),
        descending: false,
    }
}

/// Descending order on `field`.
pub fn desc(field: &str) -> Order {
    Order {
        field: field.to_string(),
        descending: true,
    }
}

/// A grouped aggregate, computed by the database.
///
/// ```
/// use kai_sdk::query::{Aggregation, Filter, TimeBucket};
/// let per_day = Aggregation::new()
///     .filter(Filter::eq("collection_id", "..."))
///     .bucket("created_at", TimeBucket::Day)
///     .count();
/// ```
#[derive(Debug, Clone)]
pub struct Aggregation {
    query: AggregateQuery,
}

impl Default for Aggregation {
    fn default() -> Self {
        Self::new()
    }
}

impl Aggregation {
    pub fn new() -> Self {
        Self {
            query: AggregateQuery {
                filter: Vec::new(),
                group_by: Vec::new(),
                aggregates: Vec::new(),
                order: Vec::new(),
                limit: None,
            },
        }
    }

    pub fn filter(mut self, filter: Filter) -> Self {
        self.query.filter = filter.to_nodes();
        self
    }

    /// Groups by a field's value.
    pub fn group_by(mut self, field: &str) -> Self {
        self.query.group_by.push(GroupKey::Field(field.to_string()));
        self
    }

    /// Groups by the UTC hour/day/week/month of a timestamp field.
    pub fn bucket(mut self, field: &str, bucket: TimeBucket) -> Self {
        self.query
            .group_by
            .push(GroupKey::Bucket((field.to_string(), bucket.into())));
        self
    }

    fn push(mut self, function: AggregateFunction, field: Option<&str>) -> Self {
        self.query.aggregates.push(Aggregate {
            function,
            field: field.map(str::to_string),
        });
        self
    }

    pub fn count(self) -> Self {
        self.push(AggregateFunction::Count, None)
    }

    /// Rows where `field` is not null.
    pub fn count_non_null(self, field: &str) -> Self {
        self.push(AggregateFunction::Count, Some(field))
    }

    pub fn count_distinct(self, field: &str) -> Self {
        self.push(AggregateFunction::CountDistinct, Some(field))
    }

    pub fn sum(self, field: &str) -> Self {
        self.push(AggregateFunction::Sum, Some(field))
    }

    pub fn avg(self, field: &str) -> Self {
        self.push(AggregateFunction::Avg, Some(field))
    }

    pub fn min(self, field: &str) -> Self {
        self.push(AggregateFunction::Min, Some(field))
    }

    pub fn max(self, field: &str) -> Self {
        self.push(AggregateFunction::Max, Some(field))
    }

    /// Orders by the `index`-th aggregate.
    pub fn order_by_aggregate(mut self, index: usize, descending: bool) -> Self {
        self.query.order.push(wit::Order {
            field: format!("agg:{index}"),
            descending,
        });
        self
    }

    /// Orders by the `index`-th group key.
    pub fn order_by_key(mut self, index: usize, descending: bool) -> Self {
        self.query.order.push(wit::Order {
            field: format!("key:{index}"),
            descending,
        });
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.query.limit = Some(limit);
        self
    }

    pub(crate) fn into_query(self) -> AggregateQuery {
        self.query
    }
}

/// Result rows of an aggregation.
pub type Rows = Vec<AggregateRow>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_flatten_children_first() {
        let filter = Filter::eq("a", 1).and(Filter::eq("b", 2).or(Filter::is_null("c")).not());
        let nodes = filter.to_nodes();
        assert_eq!(nodes.len(), 6);
        match nodes.last().unwrap() {
            FilterNode::All(children) => assert_eq!(children, &vec![0, 4]),
            other => panic!("root is {other:?}"),
        }
    }
}
