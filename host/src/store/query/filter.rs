//! Filter trees to SQL `WHERE` clauses. Every field is looked up in the
//! schema, every operand checked against the field's type and bound as a
//! parameter.

use super::schema::{Column, ColumnKind, ColumnType, TableSchema};
use super::sql::{Sql, ident};
use super::values::to_param;
use super::{MAX_IN_VALUES, QueryError};
use crate::domain::{Condition, Filter, Op, Value};
use crate::store::backend::Backend;

/// Most nodes a filter tree may have.
pub const MAX_FILTER_SIZE: usize = 4096;

/// Appends the SQL for `filter` (a boolean expression) to `sql`.
pub fn render(
    schema: &TableSchema,
    filter: &Filter,
    backend: Backend,
    sql: &mut Sql,
) -> Result<(), QueryError> {
    if filter.size() > MAX_FILTER_SIZE {
        return Err(QueryError::new("the filter is too complex"));
    }
    Renderer { schema, backend }.node(filter, sql)
}

struct Renderer<'a> {
    schema: &'a TableSchema,
    backend: Backend,
}

impl Renderer<'_> {
    fn node(&self, filter: &Filter, sql: &mut Sql) -> Result<(), QueryError> {
        match filter {
            Filter::Condition(condition) => self.condition(condition, sql),
            Filter::All(children) => self.join(children, " AND ", "1 = 1", sql),
            Filter::Any(children) => self.join(children, " OR ", "1 = 0", sql),
            Filter::Not(child) => {
                sql.push("NOT (");
                self.node(child, sql)?;
                sql.push(")");
                Ok(())
            }
        }
    }

    fn join(
        &self,
        children: &[Filter],
        op: &str,
        empty: &str,
        sql: &mut Sql,
    ) -> Result<(), QueryError> {
        if children.is_empty() {
            sql.push(empty);
            return Ok(());
        }
        sql.push("(");
        for (i, child) in children.iter().enumerate() {
            if i > 0 {
                sql.push(op);
            }
            self.node(child, sql)?;
        }
        sql.push(")");
        Ok(())
    }

    fn condition(&self, condition: &Condition, sql: &mut Sql) -> Result<(), QueryError> {
        let column = self.schema.column(&condition.field)?;
        let field = &condition.field;
        let values = &condition.values;
        let arity = |expected: usize| {
            if values.len() == expected {
                Ok(())
            } else {
                Err(QueryError::new(format!(
                    "`{}` on `{field}` takes {expected} value(s), got {}",
                    condition.op.name(),
                    values.len()
                )))
            }
        };
        let operand = |value: &Value| {
            if matches!(value, Value::Null) {
                return Err(QueryError::new(format!(
                    "compare `{field}` with null using is-null or is-not-null"
                )));
            }
            to_param(column, value)
        };

        if column.kind == ColumnKind::DocumentTag {
            let values: Vec<&Value> = match condition.op {
                Op::Eq => {
                    arity(1)?;
                    values.iter().collect()
                }
                Op::In => values.iter().collect(),
                _ => {
                    return Err(QueryError::new(format!(
                        "`{field}` supports only eq and in"
                    )));
                }
            };
            if values.is_empty() || values.len() > MAX_IN_VALUES {
                return Err(QueryError::new(format!(
                    "`in` on `{field}` takes 1 to {MAX_IN_VALUES} values"
                )));
            }
            sql.push("EXISTS (SELECT 1 FROM document_tags dt WHERE dt.document_id = ")
                .ident(&self.schema.table)
                .push(".id AND dt.tag IN (");
            for (i, value) in values.into_iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.param(operand(value)?);
            }
            sql.push("))");
            return Ok(());
        }

        let name = format!("{}.{}", ident(&self.schema.table), ident(&column.name));
        if let Some(element) = column.ty.element()
            && !matches!(condition.op, Op::IsNull | Op::IsNotNull)
        {
            if condition.op != Op::Contains {
                return Err(QueryError::new(format!(
                    "`{field}` is a {} field: filter it with contains (an any of them \
                     for several elements), is-null or is-not-null, not {}",
                    column.ty.name(),
                    condition.op.name()
                )));
            }
            arity(1)?;
            if matches!(values[0], Value::Null) {
                return Err(QueryError::new(format!(
                    "the elements of `{field}` are never null"
                )));
            }
            let element = Column::new(&column.name, element, false);
            list_membership(&name, to_param(&element, &values[0])?, self.backend, sql);
            return Ok(());
        }
        match condition.op {
            Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                arity(1)?;
                let symbol = match condition.op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    _ => ">=",
                };
                let ordering = !matches!(condition.op, Op::Eq | Op::Ne);
                if ordering && !column.ty.is_ordered() {
                    return Err(QueryError::new(format!(
                        "`{field}` is a {} field and cannot be compared with {}",
                        column.ty.name(),
                        condition.op.name()
                    )));
                }
                sql.push(&name).push(" ").push(symbol).push(" ");
                sql.param(operand(&values[0])?);
            }
            Op::In => {
                if values.is_empty() || values.len() > MAX_IN_VALUES {
                    return Err(QueryError::new(format!(
                        "`in` on `{field}` takes 1 to {MAX_IN_VALUES} values, got {}",
                        values.len()
                    )));
                }
                sql.push(&name).push(" IN (");
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.param(operand(value)?);
                }
                sql.push(")");
            }
            Op::Prefix | Op::Contains => {
                arity(1)?;
                if column.ty != ColumnType::String {
                    return Err(QueryError::new(format!(
                        "`{}` needs a string field; `{field}` is {}",
                        condition.op.name(),
                        column.ty.name()
                    )));
                }
                let Value::Text(text) = &values[0] else {
                    return Err(QueryError::new(format!(
                        "`{}` on `{field}` needs a text value",
                        condition.op.name()
                    )));
                };
                let param = || super::values::text(field, text);
                if condition.op == Op::Prefix {
                    // substr() compares bytes the same way on both backends
                    // (LIKE is case-insensitive on SQLite only).
                    sql.push("substr(").push(&name).push(", 1, length(");
                    sql.param(param()?);
                    sql.push(")) = ");
                    sql.param(param()?);
                } else {
                    let find = match self.backend {
                        Backend::Sqlite => "instr",
                        Backend::Postgres => "strpos",
                    };
                    sql.push(find).push("(lower(").push(&name).push("), lower(");
                    sql.param(param()?);
                    sql.push(")) > 0");
                }
            }
            Op::IsNull | Op::IsNotNull => {
                arity(0)?;
                sql.push(&name).push(if condition.op == Op::IsNull {
                    " IS NULL"
                } else {
                    " IS NOT NULL"
                });
            }
        }
        Ok(())
    }
}

/// Whether the list in `column` (a JSON array in a text column) holds
/// `element`. SQLite walks the array with `json_each`; PostgreSQL tests
/// containment (`@>`) of a one-element array, which compares JSON numbers
/// and strings as the elements were stored.
fn list_membership(column: &str, element: super::sql::Param, backend: Backend, sql: &mut Sql) {
    match backend {
        Backend::Sqlite => {
            sql.push("EXISTS (SELECT 1 FROM json_each(")
                .push(column)
                .push(") WHERE value = ");
            sql.param(element);
            sql.push(")");
        }
        Backend::Postgres => {
            sql.push("CAST(")
                .push(column)
                .push(" AS JSONB) @> jsonb_build_array(");
            sql.param(element);
            sql.push(")");
        }
    }
}
