//! Writes to the tables of plugin-declared models (`plg_<plugin>_<model>`),
//! in the session's transaction. Column names come from the model's
//! checked schema, never from the caller, and every value is a bound
//! parameter.

use super::StoreError;
use super::query::filter;
use super::query::schema::TableSchema;
use super::query::sql::{Param, Sql};
use super::query::values::to_param;
use super::session::Session;
use crate::domain::{Filter, Value};

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

/// Sets `fields` on the row `id`; whether there was one.
pub async fn update(
    session: &Session,
    schema: &TableSchema,
    id: &str,
    fields: &[(String, Value)],
) -> Result<bool, StoreError> {
    let mut sql = Sql::new("UPDATE ");
    sql.ident(&schema.table).push(" SET ");
    for (i, (name, value)) in fields.iter().enumerate() {
        let column = schema.stored(name)?;
        if i > 0 {
            sql.push(", ");
        }
        sql.ident(name).push(" = ");
        sql.param(to_param(column, value)?);
    }
    sql.push(" WHERE id = ");
    sql.param(Param::Text(id.to_string()));
    Ok(execute(session, &sql).await? > 0)
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
