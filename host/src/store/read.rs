//! Reading rows in a [`Session`]: one by its id, a page of a select, a
//! count or an aggregate, always on the session's read connection.

use super::StoreError;
use super::query::aggregate;
use super::query::filter;
use super::query::schema::TableSchema;
use super::query::select::{self, Scope, SelectPlan, SelectSpec};
use super::query::sql::Sql;
use super::session::Session;
use crate::domain::{AggregateQuery, AggregateRow, Filter};
use sqlx::Row as _;
use sqlx::any::AnyRow;

/// The row `sql` selects with `id` bound as `$1`, read with `read`, on
/// `session`'s read connection.
pub async fn row_by_id<T>(
    session: &Session,
    sql: &str,
    id: &str,
    read: fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<Option<T>, sqlx::Error> {
    let mut conn = session.read_conn().await?;
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(read).transpose()
}

/// One page of a select's rows as the database returned them (the column
/// forms read them in place), with the plan that reads them and the cursor
/// of the next page.
pub struct SelectedRows {
    pub plan: SelectPlan,
    pub rows: Vec<AnyRow>,
    pub next_cursor: Option<String>,
}

/// Runs the select in `session` and keeps one page of its rows.
pub async fn select_rows(
    session: &Session,
    spec: &SelectSpec<'_>,
) -> Result<SelectedRows, StoreError> {
    let plan = select::build(spec, session.db().backend())?;
    let mut rows = {
        let mut conn = session.read_conn().await?;
        plan.sql.query().fetch_all(&mut *conn).await?
    };
    let (page, next_cursor) = plan.page(&rows)?;
    let page_len = page.len();
    rows.truncate(page_len);
    Ok(SelectedRows {
        plan,
        rows,
        next_cursor,
    })
}

/// Runs the select in `session` and reads one page of rows with `read`,
/// with the cursor of the next page.
pub async fn fetch_page<T>(
    session: &Session,
    spec: &SelectSpec<'_>,
    read: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<(Vec<T>, Option<String>), StoreError> {
    let selected = select_rows(session, spec).await?;
    let items = selected.rows.iter().map(read).collect::<Result<_, _>>()?;
    Ok((items, selected.next_cursor))
}

/// How many rows of `schema`'s table match `filter`.
pub async fn count(
    session: &Session,
    schema: &TableSchema,
    filter: &Filter,
) -> Result<u64, StoreError> {
    let mut sql = Sql::new("SELECT COUNT(*) FROM ");
    sql.ident(&schema.table).push(" WHERE ");
    filter::render(schema, filter, session.db().backend(), &mut sql)?;
    let mut conn = session.read_conn().await?;
    let count: i64 = sql.query().fetch_one(&mut *conn).await?.try_get(0)?;
    Ok(count as u64)
}

/// The groups of an aggregate over `schema`'s table, within `scope`.
pub async fn aggregate(
    session: &Session,
    schema: &TableSchema,
    query: &AggregateQuery,
    scope: Option<&Scope>,
) -> Result<Vec<AggregateRow>, StoreError> {
    let plan = aggregate::build(schema, query, scope, session.db().backend())?;
    let rows = {
        let mut conn = session.read_conn().await?;
        plan.sql.query().fetch_all(&mut *conn).await?
    };
    let read = rows
        .iter()
        .map(|row| plan.read_row(row))
        .collect::<Result<_, _>>()?;
    Ok(read)
}
