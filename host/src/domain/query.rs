//! The query language of plugin models and core listings: a filter tree,
//! orders, and grouped aggregates. The data layer compiles them to SQL
//! (`crate::store::query`).

use super::Value;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// One of the values.
    In,
    /// Text starting with the single value.
    Prefix,
    /// Text containing the single value, case-insensitively; on a list
    /// field, a list holding the single value as an element.
    Contains,
    IsNull,
    IsNotNull,
}

impl Op {
    /// The operator's name, as messages and the WIT contract spell it.
    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::In => "in",
            Op::Prefix => "prefix",
            Op::Contains => "contains",
            Op::IsNull => "is-null",
            Op::IsNotNull => "is-not-null",
        }
    }
}

/// `field op values`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    pub values: Vec<Value>,
}

/// A boolean expression over a model's fields. `All(vec![])` matches every
/// row.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Condition(Condition),
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    /// Matches every row.
    pub fn everything() -> Filter {
        Filter::All(Vec::new())
    }

    /// `field op values`.
    pub fn condition(field: impl Into<String>, op: Op, values: Vec<Value>) -> Filter {
        Filter::Condition(Condition {
            field: field.into(),
            op,
            values,
        })
    }

    /// `field = value`.
    pub fn eq(field: impl Into<String>, value: Value) -> Filter {
        Filter::condition(field, Op::Eq, vec![value])
    }

    /// Every condition of `self` and of `other`; flattens `All`s.
    pub fn and(self, other: Filter) -> Filter {
        match (self, other) {
            (Filter::All(mut a), Filter::All(b)) => {
                a.extend(b);
                Filter::All(a)
            }
            (Filter::All(mut a), b) => {
                a.push(b);
                Filter::All(a)
            }
            (a, Filter::All(mut b)) => {
                b.insert(0, a);
                Filter::All(b)
            }
            (a, b) => Filter::All(vec![a, b]),
        }
    }

    /// How many nodes the tree has.
    pub fn size(&self) -> usize {
        match self {
            Filter::Condition(_) => 1,
            Filter::All(children) | Filter::Any(children) => {
                1 + children.iter().map(Filter::size).sum::<usize>()
            }
            Filter::Not(child) => 1 + child.size(),
        }
    }

    /// The conditions that every matching row satisfies: the root, or the
    /// children of a root `All`.
    pub fn required(&self) -> Vec<&Condition> {
        match self {
            Filter::Condition(condition) => vec![condition],
            Filter::All(children) => children
                .iter()
                .filter_map(|child| match child {
                    Filter::Condition(condition) => Some(condition),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// How an update changes one field of the rows it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `field = value`.
    Set(Value),
    /// `field = field + value`, in the database; a null field counts as 0.
    Increment(Value),
}

/// An ordering key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Order {
    pub field: String,
    pub descending: bool,
}

impl Order {
    pub fn asc(field: impl Into<String>) -> Order {
        Order {
            field: field.into(),
            descending: false,
        }
    }

    pub fn desc(field: impl Into<String>) -> Order {
        Order {
            field: field.into(),
            descending: true,
        }
    }
}

/// A calendar bucket of a timestamp, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBucket {
    Hour,
    Day,
    /// ISO weeks, starting on Monday.
    Week,
    Month,
}

/// What rows are grouped by.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupKey {
    Field(String),
    Bucket(String, TimeBucket),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    Count,
    CountDistinct,
    Sum,
    Min,
    Max,
    Avg,
}

impl AggregateFunction {
    /// The function's name, as messages and the WIT contract spell it.
    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count",
            AggregateFunction::CountDistinct => "count-distinct",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
            AggregateFunction::Avg => "avg",
        }
    }
}

/// One aggregate; `field` is required except for a plain count.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub function: AggregateFunction,
    pub field: Option<String>,
}

/// A grouped aggregate over the rows a filter selects. `order` names group
/// keys as `key:<n>` and aggregates as `agg:<n>`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateQuery {
    pub filter: Filter,
    pub group_by: Vec<GroupKey>,
    pub aggregates: Vec<Aggregate>,
    pub order: Vec<Order>,
    pub limit: Option<u32>,
}

/// One group: its keys, then its aggregates, each in the query's order.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRow {
    pub keys: Vec<Value>,
    pub values: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_keeps_one_flat_list_of_required_conditions() {
        let filter = Filter::eq("a", Value::Integer(1))
            .and(Filter::eq("b", Value::Integer(2)))
            .and(Filter::Any(vec![Filter::eq("c", Value::Null)]));
        assert_eq!(filter.size(), 5);
        let required: Vec<&str> = filter.required().iter().map(|c| c.field.as_str()).collect();
        assert_eq!(required, ["a", "b"]);
        assert_eq!(Filter::everything().size(), 1);
    }
}
