//! Grouped aggregates, computed by the database: counts, sums, averages,
//! minima and maxima, grouped by fields or by time buckets (UTC hour, day,
//! ISO week starting Monday, month) of a timestamp field.
//!
//! Timestamps are BIGINT microseconds, so hour, day and week buckets are
//! integer arithmetic that both backends do the same way; months need the
//! calendar and use each backend's date functions.

use super::schema::{ColumnType, TableSchema};
use super::select::Scope;
use super::sql::{Param, Sql, ident};
use super::values::decode;
use super::{MAX_AGGREGATE_ROWS, QueryError, filter};
use crate::domain::{AggregateFunction, AggregateQuery, AggregateRow, GroupKey, TimeBucket};
use crate::store::backend::Backend;
use sqlx::any::AnyRow;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// 1970-01-01 was a Thursday; shifting by three days puts week starts on
/// Mondays.
const WEEK_SHIFT: i64 = 3 * DAY;

/// A built aggregate and the types of its result columns.
pub struct AggregatePlan {
    pub sql: Sql,
    key_types: Vec<ColumnType>,
    value_types: Vec<ColumnType>,
}

pub fn build(
    schema: &TableSchema,
    query: &AggregateQuery,
    scope: Option<&Scope>,
    backend: Backend,
) -> Result<AggregatePlan, QueryError> {
    if query.aggregates.is_empty() && query.group_by.is_empty() {
        return Err(QueryError::new(
            "an aggregate needs at least one aggregate or group key",
        ));
    }
    if query.aggregates.len() > 32 || query.group_by.len() > 8 {
        return Err(QueryError::new("at most 32 aggregates and 8 group keys"));
    }
    let table = ident(&schema.table);
    let column_sql = |name: &str| format!("{table}.{}", ident(name));

    let mut select: Vec<String> = Vec::new();
    let mut key_types = Vec::new();
    // The element tables that group keys over list fields join in.
    let mut joins = String::new();
    for (i, key) in query.group_by.iter().enumerate() {
        let (expr, ty) = match key {
            GroupKey::Field(field) => {
                let column = schema.stored(field)?;
                if column.ty == ColumnType::Json {
                    return Err(QueryError::new(format!(
                        "cannot group by `{field}`, a json field"
                    )));
                }
                match column.ty.element() {
                    Some(element) => {
                        let alias = format!("e{i}");
                        joins.push_str(&element_join(&column_sql(field), &alias, backend));
                        (element_sql(&alias, element, backend), element)
                    }
                    None => (column_sql(field), column.ty),
                }
            }
            GroupKey::Bucket(field, bucket) => {
                let column = schema.stored(field)?;
                if column.ty != ColumnType::Timestamp {
                    return Err(QueryError::new(format!(
                        "time buckets need a timestamp field; `{field}` is {}",
                        column.ty.name()
                    )));
                }
                (
                    bucket_sql(&column_sql(field), *bucket, backend),
                    ColumnType::Timestamp,
                )
            }
        };
        select.push(format!("{expr} AS k{i}"));
        key_types.push(ty);
    }
    let mut value_types = Vec::new();
    for (i, aggregate) in query.aggregates.iter().enumerate() {
        let needs_field = || {
            aggregate.field.as_deref().ok_or_else(|| {
                QueryError::new(format!(
                    "aggregate {i} ({}) needs a field",
                    aggregate.function.name()
                ))
            })
        };
        let (expr, ty) = match aggregate.function {
            AggregateFunction::Count => match &aggregate.field {
                None => ("COUNT(*)".to_string(), ColumnType::Int),
                Some(field) => {
                    schema.stored(field)?;
                    (format!("COUNT({})", column_sql(field)), ColumnType::Int)
                }
            },
            AggregateFunction::CountDistinct => {
                let field = needs_field()?;
                schema.stored(field)?;
                (
                    format!("COUNT(DISTINCT {})", column_sql(field)),
                    ColumnType::Int,
                )
            }
            AggregateFunction::Sum | AggregateFunction::Avg => {
                let field = needs_field()?;
                let column = schema.stored(field)?;
                if !column.ty.is_numeric() {
                    return Err(QueryError::new(format!(
                        "{} needs a numeric field; `{field}` is {}",
                        aggregate.function.name(),
                        column.ty.name()
                    )));
                }
                let c = column_sql(field);
                if aggregate.function == AggregateFunction::Avg {
                    (
                        format!("CAST(AVG({c}) AS DOUBLE PRECISION)"),
                        ColumnType::Float,
                    )
                } else if column.ty == ColumnType::Int {
                    (
                        format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT)"),
                        ColumnType::Int,
                    )
                } else {
                    (
                        format!("CAST(COALESCE(SUM({c}), 0) AS DOUBLE PRECISION)"),
                        ColumnType::Float,
                    )
                }
            }
            AggregateFunction::Min | AggregateFunction::Max => {
                let field = needs_field()?;
                let column = schema.stored(field)?;
                if !column.ty.is_ordered() {
                    return Err(QueryError::new(format!(
                        "{} needs an ordered field; `{field}` is {}",
                        aggregate.function.name(),
                        column.ty.name()
                    )));
                }
                let f = if aggregate.function == AggregateFunction::Min {
                    "MIN"
                } else {
                    "MAX"
                };
                (format!("{f}({})", column_sql(field)), column.ty)
            }
        };
        select.push(format!("{expr} AS a{i}"));
        value_types.push(ty);
    }

    let mut sql = Sql::new("SELECT ");
    sql.push(&select.join(", "))
        .push(" FROM ")
        .push(&table)
        .push(&joins)
        .push(" WHERE ");
    filter::render(schema, &query.filter, backend, &mut sql)?;
    if let Some(scope) = scope {
        sql.push(" AND ")
            .push(&column_sql(scope.column))
            .push(" = ");
        sql.param(Param::Text(scope.value.clone()));
    }
    if !query.group_by.is_empty() {
        let ordinals: Vec<String> = (1..=query.group_by.len()).map(|i| i.to_string()).collect();
        sql.push(" GROUP BY ").push(&ordinals.join(", "));
    }
    let mut order: Vec<String> = Vec::new();
    for o in &query.order {
        let alias = parse_order_ref(&o.field, query.group_by.len(), query.aggregates.len())?;
        order.push(format!(
            "{alias}{}",
            if o.descending { " DESC" } else { " ASC" }
        ));
    }
    // Ties (and unordered queries) fall back to the keys, so results are
    // deterministic.
    for i in 0..query.group_by.len() {
        order.push(format!("k{i} ASC"));
    }
    if !order.is_empty() {
        sql.push(" ORDER BY ").push(&order.join(", "));
    }
    let limit = match query.limit {
        Some(0) => return Err(QueryError::new("limit must be at least 1")),
        Some(n) => n.min(MAX_AGGREGATE_ROWS),
        None => MAX_AGGREGATE_ROWS,
    };
    sql.push(&format!(" LIMIT {limit}"));
    Ok(AggregatePlan {
        sql,
        key_types,
        value_types,
    })
}

impl AggregatePlan {
    pub fn read_row(&self, row: &AnyRow) -> Result<AggregateRow, sqlx::Error> {
        let keys = self
            .key_types
            .iter()
            .enumerate()
            .map(|(i, ty)| decode(row, i, *ty))
            .collect::<Result<_, _>>()?;
        let offset = self.key_types.len();
        let values = self
            .value_types
            .iter()
            .enumerate()
            .map(|(i, ty)| decode(row, offset + i, *ty))
            .collect::<Result<_, _>>()?;
        Ok(AggregateRow { keys, values })
    }
}

/// `key:<n>` or `agg:<n>` to a result alias.
fn parse_order_ref(field: &str, keys: usize, aggregates: usize) -> Result<String, QueryError> {
    let bad = || {
        QueryError::new(format!(
            "order `{field}` must be key:<n> (n < {keys}) or agg:<n> (n < {aggregates})"
        ))
    };
    let (kind, index) = field.split_once(':').ok_or_else(bad)?;
    let index: usize = index.parse().map_err(|_| bad())?;
    match kind {
        "key" if index < keys => Ok(format!("k{index}")),
        "agg" if index < aggregates => Ok(format!("a{index}")),
        _ => Err(bad()),
    }
}

/// Joins one row per element of the list in `column` (a JSON array) as
/// `alias`; rows whose list is empty or null join none.
fn element_join(column: &str, alias: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!(", json_each({column}) AS {alias}"),
        Backend::Postgres => format!(
            " CROSS JOIN LATERAL jsonb_array_elements_text(CAST({column} AS JSONB)) AS {alias}(value)"
        ),
    }
}

/// An element joined as `alias`, as a value of its type: SQLite's
/// `json_each` already hands back typed values; PostgreSQL's are text.
fn element_sql(alias: &str, element: ColumnType, backend: Backend) -> String {
    match (backend, element) {
        (Backend::Sqlite, _) | (Backend::Postgres, ColumnType::String | ColumnType::Uuid) => {
            format!("{alias}.value")
        }
        (Backend::Postgres, ColumnType::Float) => {
            format!("CAST({alias}.value AS DOUBLE PRECISION)")
        }
        (Backend::Postgres, _) => format!("CAST({alias}.value AS BIGINT)"),
    }
}

fn bucket_sql(column: &str, bucket: TimeBucket, backend: Backend) -> String {
    match bucket {
        TimeBucket::Hour => format!("({column} - ({column} % {HOUR}))"),
        TimeBucket::Day => format!("({column} - ({column} % {DAY}))"),
        TimeBucket::Week => format!("({column} - (({column} + {WEEK_SHIFT}) % {WEEK}))"),
        TimeBucket::Month => match backend {
            Backend::Sqlite => format!(
                "(CAST(strftime('%s', {column} / 1000000, 'unixepoch', 'start of month') AS BIGINT) * 1000000)"
            ),
            Backend::Postgres => format!(
                "(CAST(EXTRACT(EPOCH FROM date_trunc('month', to_timestamp({column} / 1000000.0) AT TIME ZONE 'UTC')) AS BIGINT) * 1000000)"
            ),
        },
    }
}
