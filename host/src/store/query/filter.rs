//! Filter trees to SQL `WHERE` clauses.
//!
//! A filter travels as a flat list of nodes (WIT has no recursive types);
//! composite nodes refer to earlier nodes by index and the last node is the
//! root. Every index is checked, every field looked up in the schema, every
//! operand checked against the field's type and bound as a parameter.

use super::schema::{ColumnKind, ColumnType, TableSchema};
use super::sql::{Sql, ident};
use super::values::to_param;
use super::{MAX_FILTER_NODES, MAX_IN_VALUES, QueryError};
use crate::store::Backend;
use crate::wit::bindings::kai::fusion::query::{Condition, FilterNode, Op};
use crate::wit::bindings::kai::fusion::types::Value;

/// Most conditions a filter may expand to (a node referenced twice counts
/// twice), so a small list cannot describe an exponentially large tree.
const MAX_EXPANDED_NODES: usize = 4096;

/// Appends the SQL for `nodes` (a boolean expression) to `sql`.
pub fn render(
    schema: &TableSchema,
    nodes: &[FilterNode],
    backend: Backend,
    sql: &mut Sql,
) -> Result<(), QueryError> {
    if nodes.is_empty() {
        sql.push("1 = 1");
        return Ok(());
    }
    if nodes.len() > MAX_FILTER_NODES {
        return Err(QueryError::new(format!(
            "a filter may have at most {MAX_FILTER_NODES} nodes, this one has {}",
            nodes.len()
        )));
    }
    for (index, node) in nodes.iter().enumerate() {
        let children: &[u32] = match node {
            FilterNode::Condition(_) => &[],
            FilterNode::All(children) | FilterNode::Any(children) => children,
            FilterNode::Not(child) => std::slice::from_ref(child),
        };
        if let Some(bad) = children.iter().find(|&&c| c as usize >= index) {
            return Err(QueryError::new(format!(
                "filter node {index} refers to node {bad}; nodes may only refer to earlier nodes"
            )));
        }
    }
    let mut renderer = Renderer {
        schema,
        nodes,
        backend,
        expanded: 0,
    };
    renderer.node(nodes.len() - 1, sql)
}

struct Renderer<'a> {
    schema: &'a TableSchema,
    nodes: &'a [FilterNode],
    backend: Backend,
    expanded: usize,
}

impl Renderer<'_> {
    fn node(&mut self, index: usize, sql: &mut Sql) -> Result<(), QueryError> {
        self.expanded += 1;
        if self.expanded > MAX_EXPANDED_NODES {
            return Err(QueryError::new("the filter is too complex"));
        }
        match &self.nodes[index] {
            FilterNode::Condition(condition) => self.condition(condition, sql),
            FilterNode::All(children) => self.join(children, " AND ", "1 = 1", sql),
            FilterNode::Any(children) => self.join(children, " OR ", "1 = 0", sql),
            FilterNode::Not(child) => {
                sql.push("NOT (");
                self.node(*child as usize, sql)?;
                sql.push(")");
                Ok(())
            }
        }
    }

    fn join(
        &mut self,
        children: &[u32],
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
            self.node(*child as usize, sql)?;
        }
        sql.push(")");
        Ok(())
    }

    fn condition(&mut self, condition: &Condition, sql: &mut Sql) -> Result<(), QueryError> {
        let column = self.schema.column(&condition.field)?;
        let field = &condition.field;
        let values = &condition.values;
        let arity = |expected: usize| {
            if values.len() == expected {
                Ok(())
            } else {
                Err(QueryError::new(format!(
                    "`{}` on `{field}` takes {expected} value(s), got {}",
                    op_name(condition.op),
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
                        op_name(condition.op)
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
                        op_name(condition.op),
                        column.ty.name()
                    )));
                }
                let Value::Text(text) = &values[0] else {
                    return Err(QueryError::new(format!(
                        "`{}` on `{field}` needs a text value",
                        op_name(condition.op)
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

fn op_name(op: Op) -> &'static str {
    match op {
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
