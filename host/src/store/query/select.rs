//! Selects with a stable order and keyset ("cursor") pagination.
//!
//! The order is the requested fields plus `id` as the final tie-breaker, so
//! it is total. A cursor holds the order values of the last row of a page;
//! the next page starts strictly after them, which stays correct while rows
//! are inserted or deleted between pages (an offset would skip or repeat).
//! It is signed together with its query ([`super::cursor`]), so it works
//! only for the listing that made it.
//! Ordering by a nullable field is refused, since NULLs have no portable
//! place in a keyset comparison.

use super::cursor::{self, CursorKey};
use super::schema::{Column, TableSchema};
use super::shapes::SelectShape;
use super::sql::Sql;
use super::values::{decode, to_param};
use super::{QueryError, filter};
use crate::domain::Value;
use crate::domain::{Filter, Order, Principal};
use crate::store::backend::Backend;
use sqlx::any::AnyRow;
use std::sync::Arc;

/// A condition the host adds to every query, whatever the caller asked:
/// `column = value` (e.g. the owner is the principal).
#[derive(Debug, Clone)]
pub struct Scope {
    pub column: &'static str,
    pub value: String,
}

impl Scope {
    /// Limits a query over an owned table to `principal`'s rows; admins
    /// see every row, so they get none.
    pub fn for_principal(principal: &Principal) -> Option<Scope> {
        (!principal.is_admin()).then(|| Scope {
            column: "owner",
            value: principal.user_id.clone(),
        })
    }
}

/// What to select.
pub struct SelectSpec<'a> {
    pub schema: &'a TableSchema,
    /// The fields to return after `id`; `None` returns every stored column.
    pub fields: Option<&'a [String]>,
    pub filter: &'a Filter,
    pub scope: Option<&'a Scope>,
    pub order: &'a [Order],
    pub limit: u32,
    pub cursor: Option<&'a str>,
    /// What cursors are signed with.
    pub cursor_key: CursorKey,
}

/// A built select and how to read its rows.
pub struct SelectPlan {
    pub sql: Sql,
    shape: Arc<SelectShape>,
    limit: usize,
    /// Where, in `sql`, the query a cursor is bound to ends: its text and
    /// parameters before any cursor condition.
    query_end: (usize, usize),
    cursor_key: CursorKey,
}

/// Builds the select for one page (it fetches one row more than the limit,
/// to know whether another page follows).
pub fn build(spec: &SelectSpec<'_>, backend: Backend) -> Result<SelectPlan, QueryError> {
    let schema = spec.schema;
    super::check_page_limit(spec.limit)?;
    let shape = schema
        .select_shapes()
        .get_or_build(spec.fields, spec.order, || {
            shape(schema, spec.fields, spec.order)
        })?;
    let table = schema.table.as_str();
    let mut sql = Sql::new(&shape.head);
    filter::render(schema, spec.filter, backend, &mut sql)?;
    if let Some(scope) = spec.scope {
        sql.push(" AND ").column(table, scope.column).push(" = ");
        sql.param(super::sql::Param::Text(scope.value.clone()));
    }
    let query_end = (sql.text().len(), sql.params().len());
    if let Some(cursor) = spec.cursor {
        let keys = &shape.order_keys;
        let query = cursor::Query {
            sql: &sql.text()[shape.from_at..],
            params: sql.params(),
            order: &shape.tail,
        };
        let values = cursor::open(&spec.cursor_key, &query, cursor, keys.len())?;
        sql.push(" AND (");
        for i in 0..keys.len() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(");
            for (j, (index, desc)) in keys.iter().enumerate().take(i + 1) {
                if j > 0 {
                    sql.push(" AND ");
                }
                let column = &shape.columns[*index];
                let op = if j < i {
                    " = "
                } else if *desc {
                    " < "
                } else {
                    " > "
                };
                sql.column(table, &column.name).push(op);
                sql.param(to_param(column, &values[j]).map_err(|_| cursor::invalid_cursor())?);
            }
            sql.push(")");
        }
        sql.push(")");
    }
    sql.push(&shape.tail);
    sql.push(" LIMIT ").number(spec.limit as usize + 1);
    Ok(SelectPlan {
        sql,
        shape,
        limit: spec.limit as usize,
        query_end,
        cursor_key: spec.cursor_key,
    })
}

/// Checks `fields` and `order` against the table and writes the SQL that
/// depends on them alone.
fn shape(
    schema: &TableSchema,
    fields: Option<&[String]>,
    requested_order: &[Order],
) -> Result<SelectShape, QueryError> {
    let mut columns = selected_columns(schema, fields)?;
    let returned = columns.len();
    let mut order: Vec<(&str, bool)> = Vec::with_capacity(requested_order.len() + 1);
    for o in requested_order {
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
        order.push((o.field.as_str(), o.descending));
    }
    if !order.iter().any(|(f, _)| *f == "id") {
        order.push(("id", false));
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
    let mut head = Sql::new("SELECT ");
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            head.push(", ");
        }
        head.column(table, &column.name);
    }
    head.push(" FROM ").ident(table).push(" WHERE ");
    let mut tail = Sql::new(" ORDER BY ");
    for (i, (field, desc)) in order.iter().enumerate() {
        if i > 0 {
            tail.push(", ");
        }
        tail.column(table, field);
        tail.push(if *desc { " DESC" } else { " ASC" });
    }
    let head = head.text().to_string();
    Ok(SelectShape {
        columns,
        returned,
        order_keys,
        from_at: head.rfind(" FROM ").expect("the head has a FROM"),
        head,
        tail: tail.text().to_string(),
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
    /// The selected columns, in result order.
    pub fn columns(&self) -> &[Column] {
        &self.shape.columns
    }

    /// How many leading columns the caller asked for; the rest are order
    /// keys selected only to build the next cursor.
    pub fn returned(&self) -> usize {
        self.shape.returned
    }

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
        let shape = &self.shape;
        let mut values = Vec::with_capacity(shape.order_keys.len());
        for (index, _) in &shape.order_keys {
            values.push(decode(last, *index, shape.columns[*index].ty)?);
        }
        Ok((
            page,
            Some(cursor::seal(
                &self.cursor_key,
                &self.cursor_query(),
                &values,
            )),
        ))
    }

    /// What this select's cursors are bound to: its table, conditions and
    /// order (not the columns it returns, nor its page size).
    fn cursor_query(&self) -> cursor::Query<'_> {
        cursor::Query {
            sql: &self.sql.text()[self.shape.from_at..self.query_end.0],
            params: &self.sql.params()[..self.query_end.1],
            order: &self.shape.tail,
        }
    }

    /// Reads a row of this select into (field, value) pairs: the returned
    /// columns only, not order keys selected for the cursor alone.
    pub fn read_row(&self, row: &AnyRow) -> Result<Vec<(String, Value)>, sqlx::Error> {
        self.shape.columns[..self.shape.returned]
            .iter()
            .enumerate()
            .map(|(i, c)| Ok((c.name.clone(), decode(row, i, c.ty)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::query::schema::ColumnType;
    use crate::store::query::shapes::MAX_SHAPES;

    fn schema() -> TableSchema {
        let mut columns = vec![Column::new("id", ColumnType::Uuid, false)];
        for i in 0..80 {
            columns.push(Column::new(&format!("f{i}"), ColumnType::Int, false));
        }
        columns.push(Column::new("maybe", ColumnType::Int, true));
        TableSchema::new("t", "test/t", columns)
    }

    fn spec<'a>(
        schema: &'a TableSchema,
        fields: &'a [String],
        order: &'a [Order],
        cursor: Option<&'a str>,
    ) -> SelectSpec<'a> {
        SelectSpec {
            schema,
            fields: Some(fields),
            filter: &EVERYTHING,
            scope: None,
            order,
            limit: 2,
            cursor,
            cursor_key: KEY,
        }
    }

    const KEY: CursorKey = CursorKey::new([1; 32]);
    static EVERYTHING: Filter = Filter::All(Vec::new());

    fn order(field: &str, descending: bool) -> Vec<Order> {
        vec![Order {
            field: field.into(),
            descending,
        }]
    }

    #[test]
    fn a_repeated_shape_is_reused_and_builds_the_same_sql() {
        let schema = schema();
        let fields = vec!["f1".to_string(), "f2".to_string()];
        let by_f1 = order("f1", true);
        let first = build(&spec(&schema, &fields, &by_f1, None), Backend::Sqlite).unwrap();
        let again = build(&spec(&schema, &fields, &by_f1, None), Backend::Sqlite).unwrap();
        assert!(Arc::ptr_eq(&first.shape, &again.shape));
        assert_eq!(first.sql.text(), again.sql.text());
        assert_eq!(schema.select_shapes().len(), 1);

        // The direction is part of the shape.
        let ascending = order("f1", false);
        let other = build(&spec(&schema, &fields, &ascending, None), Backend::Sqlite).unwrap();
        assert!(!Arc::ptr_eq(&first.shape, &other.shape));
        assert!(
            other.sql.text().contains(r#""t"."f1" ASC"#),
            "{}",
            other.sql.text()
        );
        assert_eq!(schema.select_shapes().len(), 2);
    }

    #[test]
    fn a_cursor_continues_after_the_cached_order_keys() {
        let schema = schema();
        let fields = vec!["f1".to_string()];
        // f2 is an order key not asked for: selected for the cursor only.
        let by_f2 = order("f2", true);
        let plan = build(&spec(&schema, &fields, &by_f2, None), Backend::Sqlite).unwrap();
        assert_eq!(plan.returned(), 2);
        assert_eq!(plan.columns().len(), 3);
        let first = build(&spec(&schema, &fields, &by_f2, None), Backend::Sqlite).unwrap();
        let cursor = cursor::seal(
            &KEY,
            &first.cursor_query(),
            &[
                Value::Integer(7),
                Value::Uuid("0b7c2d4e-1f3a-4b5c-8d9e-0a1b2c3d4e5f".into()),
            ],
        );
        let next = build(
            &spec(&schema, &fields, &by_f2, Some(&cursor)),
            Backend::Sqlite,
        )
        .unwrap();
        assert_eq!(
            next.sql.text(),
            r#"SELECT "t"."id", "t"."f1", "t"."f2" FROM "t" WHERE 1 = 1 AND (("t"."f2" < $1) OR ("t"."f2" = $2 AND "t"."id" > $3)) ORDER BY "t"."f2" DESC, "t"."id" ASC LIMIT 3"#
        );
        assert_eq!(next.sql.params().len(), 3);
    }

    #[test]
    fn invalid_shapes_are_refused_every_time_and_not_kept() {
        let schema = schema();
        let fields = vec!["f1".to_string()];
        let by_maybe = order("maybe", false);
        for _ in 0..2 {
            let error = build(&spec(&schema, &fields, &by_maybe, None), Backend::Sqlite)
                .err()
                .expect("a nullable order key is refused");
            assert!(error.0.contains("nullable"), "{error}");
        }
        let unknown = vec!["nope".to_string()];
        assert!(build(&spec(&schema, &unknown, &[], None), Backend::Sqlite).is_err());
        assert!(schema.select_shapes().is_empty());
    }

    #[test]
    fn the_cache_stops_growing_at_its_bound_and_queries_stay_correct() {
        let schema = schema();
        for i in 0..MAX_SHAPES + 10 {
            let fields = vec![format!("f{i}")];
            let plan = build(&spec(&schema, &fields, &[], None), Backend::Sqlite).unwrap();
            assert!(
                plan.sql
                    .text()
                    .starts_with(&format!(r#"SELECT "t"."id", "t"."f{i}" FROM"#)),
                "{}",
                plan.sql.text()
            );
        }
        assert_eq!(schema.select_shapes().len(), MAX_SHAPES);
        // A copy of the schema starts with no shapes.
        assert!(schema.clone().select_shapes().is_empty());
    }
}
