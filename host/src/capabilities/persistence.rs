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
use super::DeclaredModels;
use super::db_error;
use crate::domain::{Change, Filter, Principal, Value};
use crate::services::Session;
use crate::services::plugin_data::{self, DataError, Model, Record};
use crate::wit::bindings::kai::fusion::persistence::{
    Change as WitChange, Entity, Host, Page, Row, Select, Updated,
};
use crate::wit::bindings::kai::fusion::query::{
    AggregateQuery as WitAggregateQuery, AggregateRow as WitAggregateRow, FilterNode,
};
use crate::wit::bindings::kai::fusion::types::{Error as WitError, Value as WitValue};
use crate::wit::{convert, packed};
use std::sync::Arc;

/// Where the model `name` sits among `plugin`'s models.
fn model_index(plugin: &DeclaredModels, name: &str) -> Option<usize> {
    plugin.models.iter().position(|m| m.name == name)
}

/// A model a call may use, and whether it may write it. Holds the plugin
/// that declares it, whose tables were worked out when it was loaded.
struct Resolved {
    owner: Arc<DeclaredModels>,
    index: usize,
    writable: bool,
}

impl Resolved {
    /// The model, worked with on behalf of `caller`.
    fn model<'a>(&'a self, caller: Option<&'a Principal>) -> Model<'a> {
        let def = &self.owner.models[self.index];
        Model {
            name: &def.name,
            def,
            schema: self.owner.tables.get(self.index),
            caller,
        }
    }
}

/// A filter from the wire, as the host's tree.
pub(super) fn filter_of(nodes: &[FilterNode]) -> Result<Filter, WitError> {
    convert::filter(nodes).map_err(WitError::Invalid)
}

/// A row from the wire, with the host's values.
fn fields_of(row: Row) -> Vec<(String, Value)> {
    row.into_iter()
        .map(|(name, value)| (name, value.into()))
        .collect()
}

pub(super) fn entity(record: Record) -> Entity {
    Entity {
        id: record.id,
        fields: record
            .fields
            .into_iter()
            .map(|(name, value)| (name, WitValue::from(value)))
            .collect(),
    }
}

impl Caller {
    /// Finds `name` among this plugin's models or the exported models of
    /// others it was granted.
    fn resolve_model(&self, name: &str) -> Result<Resolved, WitError> {
        let host = self.host()?;
        let own = host.plugin.plugin.as_str();
        let (owner, model) = match name.split_once('/') {
            Some((owner, model)) if owner != own => (owner, model),
            Some((_, model)) => (own, model),
            None => (own, name),
        };
        if owner == own {
            let index = model_index(&host.plugin, model).ok_or_else(|| {
                WitError::NotFound(format!("plugin `{own}` declares no model `{model}`"))
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
                "plugin `{own}` was not granted read access to `{qualified}`"
            )));
        }
        let target = host
            .services
            .directory
            .models_of(owner)
            .ok_or_else(|| WitError::NotFound(format!("plugin `{owner}` is not loaded")))?;
        let index = model_index(&target, model)
            .filter(|&i| target.models[i].exported)
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

    /// Resolves `name` (writable when `write`) and runs `operation` on it in
    /// the call's session, mapping its failure to what the plugin sees.
    pub(super) async fn on_model<T>(
        &self,
        name: &str,
        write: bool,
        operation: impl AsyncFnOnce(&Session, Model<'_>) -> Result<T, DataError>,
    ) -> Result<T, WitError> {
        let resolved = if write {
            self.resolve_writable(name)?
        } else {
            self.resolve_model(name)?
        };
        operation(&self.host()?.session, resolved.model(self.principal()))
            .await
            .map_err(|e| self.data_error(e))
    }

    /// Maps a failure of the rows' rules or the store to what the plugin sees.
    fn data_error(&self, error: DataError) -> WitError {
        match error {
            DataError::Invalid(message) => WitError::Invalid(message),
            DataError::Denied(message) => WitError::Denied(message),
            DataError::Database(error) => db_error(&self.plugin_name, error),
        }
    }

    /// The rows of a select: `query` and the reads of 0.1.x plugins
    /// (`crate::capabilities::v0_1`) differ only in how they hand them over.
    pub(super) async fn select(
        &self,
        model: &str,
        select: &Select,
    ) -> Result<plugin_data::SelectedRows, WitError> {
        let resolved = self.resolve_model(model)?;
        let filter = filter_of(&select.filter)?;
        let order = convert::orders(&select.order);
        plugin_data::select(
            &self.host()?.session,
            resolved.model(self.principal()),
            // `None` selects every field.
            select.fields.as_deref(),
            &filter,
            &order,
            select.limit,
            select.cursor.as_deref(),
        )
        .await
        .map_err(|e| self.data_error(e))
    }

    /// The page of a select, packed by column.
    pub(super) async fn packed_page(&self, model: &str, select: &Select) -> Result<Page, WitError> {
        let selected = self.select(model, select).await?;
        let data = packed::page(
            selected.plan.columns(),
            selected.plan.returned(),
            &selected.rows,
        )
        .map_err(|e| db_error(&self.plugin_name, e))?;
        Ok(Page {
            data,
            next_cursor: selected.next_cursor,
        })
    }
}

impl Host for CallState {
    async fn insert(
        &mut self,
        model: String,
        fields: Row,
    ) -> wasmtime::Result<Result<String, WitError>> {
        let caller = self.caller();
        let insert = async |session: &Session, model: Model<'_>| {
            plugin_data::insert(session, model, fields_of(fields)).await
        };
        Ok(async move { caller?.on_model(&model, true, insert).await }.await)
    }

    async fn get(
        &mut self,
        model: String,
        id: String,
    ) -> wasmtime::Result<Result<Option<Entity>, WitError>> {
        let caller = self.caller();
        let get = async |session: &Session, model: Model<'_>| {
            Ok(plugin_data::get(session, model, &id).await?.map(entity))
        };
        Ok(async move { caller?.on_model(&model, false, get).await }.await)
    }

    async fn update(
        &mut self,
        model: String,
        id: String,
        fields: Row,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        let caller = self.caller();
        let update = async |session: &Session, model: Model<'_>| {
            plugin_data::update(session, model, &id, fields_of(fields)).await
        };
        Ok(async move { caller?.on_model(&model, true, update).await }.await)
    }

    async fn update_where(
        &mut self,
        model: String,
        filter: Vec<FilterNode>,
        changes: Vec<(String, WitChange)>,
        returning: bool,
    ) -> wasmtime::Result<Result<Updated, WitError>> {
        let caller = self.caller();
        Ok(async move {
            let filter = filter_of(&filter)?;
            let changes = changes
                .into_iter()
                .map(|(field, change)| (field, Change::from(change)))
                .collect();
            let update = async |session: &Session, model: Model<'_>| {
                let (count, rows) =
                    plugin_data::update_where(session, model, &filter, changes, returning).await?;
                Ok(Updated {
                    count,
                    rows: rows.into_iter().map(entity).collect(),
                })
            };
            caller?.on_model(&model, true, update).await
        }
        .await)
    }

    async fn delete(
        &mut self,
        model: String,
        id: String,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        let caller = self.caller();
        let delete = async |session: &Session, model: Model<'_>| {
            plugin_data::delete(session, model, &id).await
        };
        Ok(async move { caller?.on_model(&model, true, delete).await }.await)
    }

    async fn delete_where(
        &mut self,
        model: String,
        filter: Vec<FilterNode>,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        let caller = self.caller();
        Ok(async move {
            let filter = filter_of(&filter)?;
            let delete = async |session: &Session, model: Model<'_>| {
                plugin_data::delete_where(session, model, &filter).await
            };
            caller?.on_model(&model, true, delete).await
        }
        .await)
    }

    async fn query(
        &mut self,
        model: String,
        select: Select,
    ) -> wasmtime::Result<Result<Page, WitError>> {
        let caller = self.caller();
        Ok(async move { caller?.packed_page(&model, &select).await }.await)
    }

    async fn count(
        &mut self,
        model: String,
        filter: Vec<FilterNode>,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        let caller = self.caller();
        Ok(async move {
            let filter = filter_of(&filter)?;
            let count = async |session: &Session, model: Model<'_>| {
                plugin_data::count(session, model, &filter).await
            };
            caller?.on_model(&model, false, count).await
        }
        .await)
    }

    async fn aggregate(
        &mut self,
        model: String,
        query: WitAggregateQuery,
    ) -> wasmtime::Result<Result<Vec<WitAggregateRow>, WitError>> {
        let caller = self.caller();
        Ok(async move {
            let query = convert::aggregate_query(&query).map_err(WitError::Invalid)?;
            let aggregate = async |session: &Session, model: Model<'_>| {
                let rows = plugin_data::aggregate(session, model, &query).await?;
                Ok(rows.into_iter().map(WitAggregateRow::from).collect())
            };
            caller?.on_model(&model, false, aggregate).await
        }
        .await)
    }
}
