//! Selects with a stable order and keyset ("cursor") pagination.
//!
//! The order is the requested fields plus `id` as the final tie-breaker, so
//! it is total. A cursor holds the order values of the last row of a page;
//! the next page starts strictly after them, which stays correct while rows
//! are inserted or deleted between pages (an offset would skip or repeat).
//! Ordering by a nullable field is refused, since NULLs have no portable
//! place in a keyset comparison.

use super::schema::{Column, TableSchema};
use super::sql::Sql;
use super::values::{decode, to_param};
use super::{MAX_PAGE, QueryError, filter};
use crate::db::Backend;
use crate::runtime::bindings::kai::fusion::query::{FilterNode, Order};
use crate::runtime::bindings::kai::fusion::types::Value;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::any::AnyRow;

/// A condition the host adds to every query, whatever the caller asked:
/// `column = value` (e.g. the owner is the principal).
#[derive(Debug, Clone)]
pub struct Scope {
    pub column: &'static str,
    pub value: String,
}

/// What to select.
pub struct SelectSpec<'a> {
    pub schema: &'a TableSchema,
    /// The fields to return after `id`; `None` returns every stored column.
    pub fields: Option<&'a [String]>,
    pub filter: &'a [FilterNode],
    pub scope: Option<&'a Scope>,
    pub order: &'a [Order],
    pub limit: u32,
    pub cursor: Option<&'a str>,
}

/// A built select and how to read its rows.
pub struct SelectPlan {
    pub sql: Sql,
    /// The selected columns, in result order.
    pub columns: Vec<Column>,
    /// How many leading columns the caller asked for; the rest are order
    /// keys selected only to build the next cursor.
    pub returned: usize,
    /// Result indexes and directions of the order keys.
    order_keys: Vec<(usize, bool)>,
    limit: usize,
}

/// Builds the select for one page (it fetches one row more than the limit,
/// to know whether another page follows).
pub fn build(spec: &SelectSpec<'_>, backend: Backend) -> Result<SelectPlan, QueryError> {
    let schema = spec.schema;
    if spec.limit == 0 || spec.limit > MAX_PAGE {
        return Err(QueryError::new(format!(
            "limit must be between 1 and {MAX_PAGE}, got {}",
            spec.limit
        )));
    }
    let mut columns = selected_columns(schema, spec.fields)?;
    let returned = columns.len();
    let mut order: Vec<(String, bool)> = Vec::new();
    for o in spec.order {
        let column = schema.stored(&o.field)?;
        if !column.ty.is_ordered() {
            return Err(QueryError::new(format!(
                "cannot order by `{}`, a {} field",
                o.field,
                column.ty.name()
            )));
        }
        if column.nullable {
            return Err(QueryError::new(format!(
                "cannot order by `{}`: it is nullable",
                o.field
            )));
        }
        if order.iter().any(|(f, _)| *f == o.field) {
            return Err(QueryError::new(format!(
                "`{}` appears twice in the order",
                o.field
            )));
        }
        order.push((o.field.clone(), o.descending));
    }
    if !order.iter().any(|(f, _)| f == "id") {
        order.push(("id".to_string(), false));
    }
    let mut order_keys: Vec<(usize, bool)> = Vec::with_capacity(order.len());
    for (field, desc) in &order {
        let index = match columns.iter().position(|c| c.name == *field) {
            Some(index) => index,
            None => {
                columns.push(schema.stored(field)?.clone());
                columns.len() - 1
            }
        };
        order_keys.push((index, *desc));
    }

    let table = schema.table.as_str();
    let mut sql = Sql::new("SELECT ");
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.column(table, &column.name);
    }
    sql.push(" FROM ").ident(table).push(" WHERE ");
    filter::render(schema, spec.filter, backend, &mut sql)?;
    if let Some(scope) = spec.scope {
        sql.push(" AND ").column(table, scope.column).push(" = ");
        sql.param(super::sql::Param::Text(scope.value.clone()));
    }
    if let Some(cursor) = spec.cursor {
        let values = decode_cursor(cursor, order.len())?;
        sql.push(" AND (");
        for (i, _) in order.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(");
            for (j, (field, desc)) in order.iter().enumerate().take(i + 1) {
                if j > 0 {
                    sql.push(" AND ");
                }
                let column = schema.stored(field)?;
                let op = if j < i {
                    " = "
                } else if *desc {
                    " < "
                } else {
                    " > "
                };
                sql.column(table, field).push(op);
                sql.param(to_param(column, &values[j]).map_err(|_| invalid_cursor())?);
            }
            sql.push(")");
        }
        sql.push(")");
    }
    sql.push(" ORDER BY ");
    for (i, (field, desc)) in order.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.column(table, field);
        sql.push(if *desc { " DESC" } else { " ASC" });
    }
    sql.push(" LIMIT ").number(spec.limit as usize + 1);
    Ok(SelectPlan {
        sql,
        columns,
        returned,
        order_keys,
        limit: spec.limit as usize,
    })
}

/// `id` followed by the requested fields (each once, each a real column),
/// or every stored column when no list is given.
fn selected_columns(
    schema: &TableSchema,
    fields: Option<&[String]>,
) -> Result<Vec<Column>, QueryError> {
    let Some(fields) = fields else {
        return Ok(schema.stored_columns().cloned().collect());
    };
    let mut columns = vec![schema.stored("id")?.clone()];
    for field in fields {
        if field == "id" {
            return Err(QueryError::new(
                "`id` is always returned (as the page's ids); do not list it in `fields`",
            ));
        }
        if columns.iter().any(|c| c.name == *field) {
            return Err(QueryError::new(format!(
                "field `{field}` is listed twice in `fields`"
            )));
        }
        columns.push(schema.stored(field)?.clone());
    }
    Ok(columns)
}

impl SelectPlan {
    /// Splits fetched rows into this page and the cursor of the next one.
    pub fn page<'r>(
        &self,
        rows: &'r [AnyRow],
    ) -> Result<(&'r [AnyRow], Option<String>), sqlx::Error> {
        if rows.len() <= self.limit {
            return Ok((rows, None));
        }
        let page = &rows[..self.limit];
        let last = &page[self.limit - 1];
        let mut values = Vec::with_capacity(self.order_keys.len());
        for (index, _) in &self.order_keys {
            values.push(decode(last, *index, self.columns[*index].ty)?);
        }
        Ok((page, Some(encode_cursor(&values))))
    }

    /// Reads a row of this select into (field, value) pairs: the returned
    /// columns only, not order keys selected for the cursor alone.
    pub fn read_row(&self, row: &AnyRow) -> Result<Vec<(String, Value)>, sqlx::Error> {
        self.columns[..self.returned]
            .iter()
            .enumerate()
            .map(|(i, c)| Ok((c.name.clone(), decode(row, i, c.ty)?)))
            .collect()
    }
}

fn encode_cursor(values: &[Value]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(values).expect("values serialize"))
}

fn decode_cursor(cursor: &str, expected: usize) -> Result<Vec<Value>, QueryError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid_cursor())?;
    let values: Vec<Value> = serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())?;
    if values.len() != expected {
        return Err(invalid_cursor());
    }
    Ok(values)
}

fn invalid_cursor() -> QueryError {
    QueryError::new("the cursor is invalid or belongs to another query")
}
