//! Reading rows in a [`Session`]: one by its id, or one page of a select.

use super::StoreError;
use super::query::select::{self, SelectSpec};
use super::session::Session;
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

/// Runs the select in `session` and reads one page of rows with `read`,
/// with the cursor of the next page.
pub async fn fetch_page<T>(
    session: &Session,
    spec: &SelectSpec<'_>,
    read: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<(Vec<T>, Option<String>), StoreError> {
    let plan = select::build(spec, session.db().backend())?;
    let rows = {
        let mut conn = session.read_conn().await?;
        plan.sql.query().fetch_all(&mut *conn).await?
    };
    let (page, next) = plan.page(&rows)?;
    let items = page.iter().map(read).collect::<Result<_, _>>()?;
    Ok((items, next))
}
