//! `kai:fusion/persistence`: a plugin's own models (real tables named
//! `plg_<plugin>_<model>`), plus read-only access to models other plugins
//! export, when the operator granted it.
//!
//! Every field name is checked against the model's declaration and every
//! value bound as a parameter (see `crate::store::query`). A plugin can name only
//! its own models or granted `<plugin>/<model>` pairs; any other table is
//! out of reach because table names never come from the guest.

use super::CallState;
use super::Caller;
use super::Plugin;
use super::db_error;
use crate::domain::{AggregateQuery, AggregateRow, Filter, Order, Value};
use crate::store::query::schema::TableSchema;
use crate::store::query::select::{self, SelectPlan, SelectSpec};
use crate::store::query::sql::{Param, Sql};
use crate::store::query::values::to_param;
use crate::store::query::{QueryError, aggregate, filter};
use crate::store::query::{columnar, packed};
use crate::store::schema::ModelDef;
use crate::store::schema::definition::default_value;
use crate::wit::bindings::kai::fusion::persistence::{
    ColumnPage, ColumnSelect, Entity, Host, PackedColumnPage, Page, Row, Select,
};
use crate::wit::bindings::kai::fusion::query::{
    AggregateQuery as WitAggregateQuery, AggregateRow as WitAggregateRow, FilterNode,
};
use crate::wit::bindings::kai::fusion::types::{Error as WitError, Value as WitValue};
use crate::wit::convert;
use crate::wit::manifest::Manifest;
use sqlx::Row as _;
use std::sync::Arc;

/// The table of each of a plugin's models, in the order of its manifest:
/// worked out once when the plugin is loaded rather than on every call.
pub struct PluginTables(Vec<TableSchema>);

impl PluginTables {
    pub fn of(manifest: &Manifest) -> PluginTables {
        PluginTables(
            manifest
                .models
                .iter()
                .map(|model| model.table_schema(&manifest.name))
                .collect(),
        )
    }
}

/// Where the model `name` sits in `plugin`'s manifest.
fn model_index(plugin: &Plugin, name: &str) -> Option<usize> {
    plugin.manifest.models.iter().position(|m| m.name == name)
}

/// A model a call may use, and whether it may write it. Holds the plugin
/// that declares it, whose tables were worked out when it was loaded.
struct Resolved {
    owner: Arc<Plugin>,
    index: usize,
    writable: bool,
}

impl Resolved {
    fn def(&self) -> &ModelDef {
        &self.owner.manifest.models[self.index]
    }

    fn schema(&self) -> &TableSchema {
        &self.owner.data().0[self.index]
    }
}

impl From<QueryError> for WitError {
    fn from(error: QueryError) -> Self {
        WitError::Invalid(error.0)
    }
}

/// A filter from the wire, as the host's tree.
fn filter_of(nodes: &[FilterNode]) -> Result<Filter, WitError> {
    convert::filter(nodes).map_err(WitError::Invalid)
}

/// A row from the wire, with the host's values.
fn fields_of(row: Row) -> Vec<(String, Value)> {
    row.into_iter()
        .map(|(name, value)| (name, value.into()))
        .collect()
}

impl Caller {
    /// Finds `name` among this plugin's models or the exported models of
    /// others it was granted.
    fn resolve_model(&self, name: &str) -> Result<Resolved, WitError> {
        let host = self.host()?;
        let own = &host.plugin.manifest;
        let (owner, model) = match name.split_once('/') {
            Some((owner, model)) if owner != own.name => (owner, model),
            Some((_, model)) => (own.name.as_str(), model),
            None => (own.name.as_str(), name),
        };
        if owner == own.name {
            let index = model_index(&host.plugin, model).ok_or_else(|| {
                WitError::NotFound(format!("plugin `{}` declares no model `{model}`", own.name))
            })?;
            return Ok(Resolved {
                owner: host.plugin.clone(),
                index,
                writable: true,
            });
        }
        let qualified = format!("{owner}/{model}");
        if !self.grants()?.plugin_models.contains(&qualified) {
            return Err(WitError::Denied(format!(
                "plugin `{}` was not granted read access to `{qualified}`",
                own.name
            )));
        }
        let target = host
            .services
            .directory
            .enabled(owner)
            .ok_or_else(|| WitError::NotFound(format!("plugin `{owner}` is not loaded")))?;
        let index = model_index(&target, model)
            .filter(|&i| target.manifest.models[i].exported)
            .ok_or_else(|| WitError::Denied(format!("`{qualified}` is not an exported model")))?;
        Ok(Resolved {
            owner: target,
            index,
            writable: false,
        })
    }

    fn resolve_writable(&self, name: &str) -> Result<Resolved, WitError> {
        let resolved = self.resolve_model(name)?;
        if !resolved.writable {
            return Err(WitError::Denied(format!(
                "`{name}` belongs to another plugin and is read-only"
            )));
        }
        Ok(resolved)
    }

    async fn persist_insert(
        &self,
        model: String,
        fields: Vec<(String, Value)>,
    ) -> Result<String, WitError> {
        let resolved = self.resolve_writable(&model)?;
        let mut names = vec!["id".to_string()];
        let id = uuid::Uuid::now_v7().to_string();
        let mut params = vec![Param::Text(id.clone())];
        for (name, value) in &fields {
            let column = resolved.schema().stored(name)?;
            if name == "id" {
                return Err(WitError::Invalid("`id` is assigned by the host".into()));
            }
            if names.contains(name) {
                return Err(WitError::Invalid(format!("field `{name}` is given twice")));
            }
            params.push(to_param(column, value)?);
            names.push(name.clone());
        }
        for field in &resolved.def().fields {
            if names.contains(&field.name) {
                continue;
            }
            let value = match default_value(field) {
                Some(value) => value,
                None if field.nullable => Value::Null,
                None => {
                    return Err(WitError::Invalid(format!(
                        "field `{}` of `{model}` is required",
                        field.name
                    )));
                }
            };
            params.push(to_param(resolved.schema().stored(&field.name)?, &value)?);
            names.push(field.name.clone());
        }
        let mut sql = Sql::new("INSERT INTO ");
        sql.ident(&resolved.schema().table).push(" (");
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.ident(name);
        }
        sql.push(") VALUES (");
        for (i, param) in params.into_iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.param(param);
        }
        sql.push(")");
        self.execute(&sql).await?;
        Ok(id)
    }

    async fn persist_update(
        &self,
        model: String,
        id: String,
        fields: Vec<(String, Value)>,
    ) -> Result<bool, WitError> {
        let resolved = self.resolve_writable(&model)?;
        if fields.is_empty() {
            return Err(WitError::Invalid(
                "an update needs at least one field".into(),
            ));
        }
        let mut sql = Sql::new("UPDATE ");
        sql.ident(&resolved.schema().table).push(" SET ");
        let mut seen: Vec<&str> = Vec::new();
        for (i, (name, value)) in fields.iter().enumerate() {
            if name == "id" {
                return Err(WitError::Invalid("`id` cannot change".into()));
            }
            if seen.contains(&name.as_str()) {
                return Err(WitError::Invalid(format!("field `{name}` is given twice")));
            }
            seen.push(name);
            let column = resolved.schema().stored(name)?;
            if i > 0 {
                sql.push(", ");
            }
            sql.ident(name).push(" = ");
            sql.param(to_param(column, value)?);
        }
        sql.push(" WHERE id = ");
        sql.param(Param::Text(canonical_id(&id)?));
        Ok(self.execute(&sql).await? > 0)
    }

    async fn persist_delete_where(&self, model: String, filter: &Filter) -> Result<u64, WitError> {
        let resolved = self.resolve_writable(&model)?;
        let backend = self.host()?.session.db().backend();
        let mut sql = Sql::new("DELETE FROM ");
        sql.ident(&resolved.schema().table).push(" WHERE ");
        filter::render(resolved.schema(), filter, backend, &mut sql)?;
        self.execute(&sql).await
    }

    async fn persist_get(&self, model: String, id: String) -> Result<Option<Entity>, WitError> {
        let resolved = self.resolve_model(&model)?;
        let id = canonical_id(&id)?;
        let page = self
            .persist_select(&resolved, &Filter::eq("id", Value::Uuid(id)), &[], 1, None)
            .await?;
        Ok(page.items.into_iter().next())
    }

    async fn persist_select(
        &self,
        resolved: &Resolved,
        filter: &Filter,
        order: &[Order],
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, WitError> {
        let spec = SelectSpec {
            schema: resolved.schema(),
            fields: None,
            filter,
            scope: None,
            order,
            limit,
            cursor,
            cursor_key: self.host()?.session.db().cursor_key(),
        };
        let (plan, rows, next_cursor) = self.run_select(&spec).await?;
        let items = rows
            .iter()
            .map(|row| {
                let mut fields = plan.read_row(row)?.into_iter();
                let id = match fields.next().map(|(_, id)| id) {
                    Some(Value::Uuid(id) | Value::Text(id)) => id,
                    _ => String::new(),
                };
                let fields = fields
                    .map(|(name, value)| (name, WitValue::from(value)))
                    .collect();
                Ok(Entity { id, fields })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| db_error(&self.plugin_name, e))?;
        Ok(Page { items, next_cursor })
    }

    async fn persist_select_columns(
        &self,
        model: String,
        select: ColumnSelect,
    ) -> Result<ColumnPage, WitError> {
        let (plan, rows, next_cursor) = self.run_column_select(&model, &select).await?;
        columnar::page(plan.columns(), plan.returned(), &rows, next_cursor)
            .map_err(|e| db_error(&self.plugin_name, e))
    }

    async fn persist_select_packed(
        &self,
        model: String,
        select: ColumnSelect,
    ) -> Result<PackedColumnPage, WitError> {
        let (plan, rows, next_cursor) = self.run_column_select(&model, &select).await?;
        let data = packed::page(plan.columns(), plan.returned(), &rows)
            .map_err(|e| db_error(&self.plugin_name, e))?;
        Ok(PackedColumnPage { data, next_cursor })
    }

    /// The rows of a column select: `query-columns` and
    /// `query-packed-columns` differ only in how they hand them over.
    async fn run_column_select(
        &self,
        model: &str,
        select: &ColumnSelect,
    ) -> Result<(SelectPlan, Vec<sqlx::any::AnyRow>, Option<String>), WitError> {
        let resolved = self.resolve_model(model)?;
        let filter = filter_of(&select.filter)?;
        let order = convert::orders(&select.order);
        let spec = SelectSpec {
            schema: resolved.schema(),
            // `None` selects every field, as `query` does.
            fields: select.fields.as_deref(),
            filter: &filter,
            scope: None,
            order: &order,
            limit: select.limit,
            cursor: select.cursor.as_deref(),
            cursor_key: self.host()?.session.db().cursor_key(),
        };
        self.run_select(&spec).await
    }

    /// Builds a select and fetches one page of its rows on the call's read
    /// connection, with the cursor of the next page.
    async fn run_select(
        &self,
        spec: &SelectSpec<'_>,
    ) -> Result<(SelectPlan, Vec<sqlx::any::AnyRow>, Option<String>), WitError> {
        let host = self.host()?;
        let plan = select::build(spec, host.session.db().backend())?;
        let fail = |e| db_error(&self.plugin_name, e);
        let mut rows = async {
            let mut conn = host.session.read_conn().await?;
            let conn = &mut *conn;
            plan.sql.query().fetch_all(&mut *conn).await
        }
        .await
        .map_err(fail)?;
        let (page, next_cursor) = plan.page(&rows).map_err(fail)?;
        let page_len = page.len();
        rows.truncate(page_len);
        Ok((plan, rows, next_cursor))
    }

    async fn persist_count(&self, model: String, filter: &Filter) -> Result<u64, WitError> {
        let resolved = self.resolve_model(&model)?;
        let host = self.host()?;
        let mut sql = Sql::new("SELECT COUNT(*) FROM ");
        sql.ident(&resolved.schema().table).push(" WHERE ");
        filter::render(
            resolved.schema(),
            filter,
            host.session.db().backend(),
            &mut sql,
        )?;
        let plugin = self.plugin_name.as_str();
        let count: i64 = async {
            let mut conn = host.session.read_conn().await?;
            let conn = &mut *conn;
            sql.query().fetch_one(&mut *conn).await?.try_get(0)
        }
        .await
        .map_err(|e| db_error(plugin, e))?;
        Ok(count as u64)
    }

    async fn persist_aggregate(
        &self,
        model: String,
        query: &AggregateQuery,
    ) -> Result<Vec<AggregateRow>, WitError> {
        let resolved = self.resolve_model(&model)?;
        let host = self.host()?;
        let plan = aggregate::build(resolved.schema(), query, None, host.session.db().backend())?;
        let plugin = self.plugin_name.as_str();
        let rows = async {
            let mut conn = host.session.read_conn().await?;
            let conn = &mut *conn;
            plan.sql.query().fetch_all(&mut *conn).await
        }
        .await
        .map_err(|e| db_error(plugin, e))?;
        rows.iter()
            .map(|row| plan.read_row(row))
            .collect::<Result<_, _>>()
            .map_err(|e| db_error(plugin, e))
    }

    /// Runs a write statement in the call's transaction; rows affected.
    async fn execute(&self, sql: &Sql) -> Result<u64, WitError> {
        let host = self.host()?;
        let plugin = self.plugin_name.as_str();
        async {
            let mut conn = host.session.write_conn().await?;
            let conn = &mut *conn;
            sql.query().execute(&mut *conn).await
        }
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| db_error(plugin, e))
    }
}

fn canonical_id(id: &str) -> Result<String, WitError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| WitError::Invalid(format!("`{id}` is not a valid id")))
}

impl Host for CallState {
    async fn insert(
        &mut self,
        model: String,
        fields: Row,
    ) -> wasmtime::Result<Result<String, WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.persist_insert(model, fields_of(fields)).await }.await)
    }

    async fn get(
        &mut self,
        model: String,
        id: String,
    ) -> wasmtime::Result<Result<Option<Entity>, WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.persist_get(model, id).await }.await)
    }

    async fn update(
        &mut self,
        model: String,
        id: String,
        fields: Row,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.persist_update(model, id, fields_of(fields)).await }.await)
    }

    async fn delete(
        &mut self,
        model: String,
        id: String,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        let caller = self.caller();
        let result = async move {
            let caller = caller?;
            let id = canonical_id(&id)?;
            let filter = Filter::eq("id", Value::Uuid(id));
            Ok(caller.persist_delete_where(model, &filter).await? > 0)
        }
        .await;
        Ok(result)
    }

    async fn delete_where(
        &mut self,
        model: String,
        filter: Vec<FilterNode>,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        let caller = self.caller();
        Ok(async move {
            caller?
                .persist_delete_where(model, &filter_of(&filter)?)
                .await
        }
        .await)
    }

    async fn query(
        &mut self,
        model: String,
        select: Select,
    ) -> wasmtime::Result<Result<Page, WitError>> {
        let caller = self.caller();
        let result = async move {
            let caller = caller?;
            let resolved = caller.resolve_model(&model)?;
            caller
                .persist_select(
                    &resolved,
                    &filter_of(&select.filter)?,
                    &convert::orders(&select.order),
                    select.limit,
                    select.cursor.as_deref(),
                )
                .await
        }
        .await;
        Ok(result)
    }

    async fn query_columns(
        &mut self,
        model: String,
        select: ColumnSelect,
    ) -> wasmtime::Result<Result<ColumnPage, WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.persist_select_columns(model, select).await }.await)
    }

    async fn query_packed_columns(
        &mut self,
        model: String,
        select: ColumnSelect,
    ) -> wasmtime::Result<Result<PackedColumnPage, WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.persist_select_packed(model, select).await }.await)
    }

    async fn count(
        &mut self,
        model: String,
        filter: Vec<FilterNode>,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.persist_count(model, &filter_of(&filter)?).await }.await)
    }

    async fn aggregate(
        &mut self,
        model: String,
        query: WitAggregateQuery,
    ) -> wasmtime::Result<Result<Vec<WitAggregateRow>, WitError>> {
        let caller = self.caller();
        let result = async move {
            let query = convert::aggregate_query(&query).map_err(WitError::Invalid)?;
            let rows = caller?.persist_aggregate(model, &query).await?;
            Ok(rows.into_iter().map(WitAggregateRow::from).collect())
        };
        Ok(result.await)
    }
}
