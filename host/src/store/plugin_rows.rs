//! Writes to the tables of plugin-declared models (`plg_<plugin>_<model>`),
//! in the session's transaction. Column names come from the model's
//! checked schema, never from the caller, and every value is a bound
//! parameter.

use super::StoreError;
use super::query::QueryError;
use super::query::filter;
use super::query::schema::TableSchema;
use super::query::sql::{Param, Sql};
use super::query::values::{decode, to_param};
use super::session::Session;
use crate::domain::{Change, Filter, Value};

/// Inserts the row `id` with `fields`.
pub async fn insert(
    session: &Session,
    schema: &TableSchema,
    id: &str,
    fields: &[(String, Value)],
) -> Result<(), StoreError> {
    let mut params = Vec::with_capacity(fields.len() + 1);
    params.push(Param::Text(id.to_string()));
    for (name, value) in fields {
        params.push(to_param(schema.stored(name)?, value)?);
    }
    let mut sql = Sql::new("INSERT INTO ");
    sql.ident(&schema.table).push(" (");
    sql.ident("id");
    for (name, _) in fields {
        sql.push(", ").ident(name);
    }
    sql.push(") VALUES (");
    for (i, param) in params.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.param(param);
    }
    sql.push(")");
    execute(session, &sql).await?;
    Ok(())
}

/// Applies `changes` to the rows matching `filter`, in one statement: how
/// many rows changed and, with `returning`, those rows as they are now
/// (every stored column, in the schema's order).
pub async fn update_where(
    session: &Session,
    schema: &TableSchema,
    filter: &Filter,
    changes: &[(String, Change)],
    returning: bool,
) -> Result<(u64, Vec<Vec<(String, Value)>>), StoreError> {
    let mut sql = Sql::new("UPDATE ");
    sql.ident(&schema.table).push(" SET ");
    for (i, (name, change)) in changes.iter().enumerate() {
        let column = schema.stored(name)?;
        if i > 0 {
            sql.push(", ");
        }
        sql.ident(name).push(" = ");
        match change {
            Change::Set(value) => {
                sql.param(to_param(column, value)?);
            }
            Change::Increment(by) => {
                if !column.ty.is_numeric() {
                    return Err(QueryError::new(format!(
                        "only int and float fields can be incremented; `{name}` is {}",
                        column.ty.name()
                    ))
                    .into());
                }
                if matches!(by, Value::Null) {
                    return Err(QueryError::new(format!(
                        "field `{name}`: an increment needs a number, not null"
                    ))
                    .into());
                }
                let by = to_param(column, by)?;
                sql.push("COALESCE(").ident(name).push(", 0) + ");
                sql.param(by);
            }
        }
    }
    sql.push(" WHERE ");
    filter::render(schema, filter, session.db().backend(), &mut sql)?;
    let mut conn = session.write_conn().await?;
    if !returning {
        return Ok((
            sql.query().execute(&mut *conn).await?.rows_affected(),
            Vec::new(),
        ));
    }
    let columns: Vec<_> = schema.stored_columns().collect();
    sql.push(" RETURNING ");
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.ident(&column.name);
    }
    let rows = sql.query().fetch_all(&mut *conn).await?;
    let records = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .enumerate()
                .map(|(i, column)| Ok((column.name.clone(), decode(row, i, column.ty)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records.len() as u64, records))
}

/// Deletes the rows matching `filter`; how many.
pub async fn delete_where(
    session: &Session,
    schema: &TableSchema,
    filter: &Filter,
) -> Result<u64, StoreError> {
    let mut sql = Sql::new("DELETE FROM ");
    sql.ident(&schema.table).push(" WHERE ");
    filter::render(schema, filter, session.db().backend(), &mut sql)?;
    execute(session, &sql).await
}

/// Runs a write statement on the session's write connection; rows affected.
async fn execute(session: &Session, sql: &Sql) -> Result<u64, StoreError> {
    let mut conn = session.write_conn().await?;
    Ok(sql.query().execute(&mut *conn).await?.rows_affected())
}
