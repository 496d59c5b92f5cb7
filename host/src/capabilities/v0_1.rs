//! Plugins built against `kai:fusion` 0.1.x, served unchanged.
//!
//! 0.2.0 changed one interface: `persistence` reads a select through one
//! call (`query`, the page packed by column) where 0.1.x had three
//! (`query` by row, `query-columns` by column, `query-packed-columns`
//! packed). Every other interface kept its shape, and the component model
//! checks types by shape, so this module links the 0.2.0 host functions a
//! second time under their 0.1.3 names (a plugin's 0.1.0 import links to
//! 0.1.3), and implements 0.1.3 `persistence` over the same rules. The
//! exports kept their shape too: `crate::runtime::call` finds them under
//! either version.

use super::CallState;
use super::persistence::{entity, filter_of};
use crate::services::Session;
use crate::services::plugin_data::{self, Model};
use crate::wit::bindings::kai::fusion as current;
use crate::wit::bindings::kai::fusion::query::{AggregateQuery, AggregateRow, FilterNode};
use crate::wit::bindings::kai::fusion::types::Error as WitError;
use crate::wit::bindings::v0_1::kai::fusion::persistence::{
    self as v0_1, ColumnPage, ColumnSelect, Entity, Host, PackedColumnPage, Page, Row, Select,
};
use crate::wit::{columnar, convert};
use wasmtime::component::{HasSelf, Linker};

/// The 0.1.x contract as the host serves it.
const VERSION: &str = "0.1.3";

/// Links the 0.1.3 names: the unchanged interfaces to the 0.2.0 host
/// functions, `persistence` to this module's.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    type Data = HasSelf<CallState>;
    let named = |interface: &str| format!("kai:fusion/{interface}@{VERSION}");
    let get: fn(&mut CallState) -> &mut CallState = |state| state;
    current::types::add_to_linker_instance::<_, Data>(&mut linker.instance(&named("types"))?, get)?;
    current::query::add_to_linker_instance::<_, Data>(&mut linker.instance(&named("query"))?, get)?;
    current::log::add_to_linker_instance::<_, Data>(&mut linker.instance(&named("log"))?, get)?;
    current::models::add_to_linker_instance::<_, Data>(
        &mut linker.instance(&named("models"))?,
        get,
    )?;
    current::kv::add_to_linker_instance::<_, Data>(&mut linker.instance(&named("kv"))?, get)?;
    current::outbound_http::add_to_linker_instance::<_, Data>(
        &mut linker.instance(&named("outbound-http"))?,
        get,
    )?;
    current::credentials::add_to_linker_instance::<_, Data>(
        &mut linker.instance(&named("credentials"))?,
        get,
    )?;
    v0_1::add_to_linker::<_, Data>(linker, get)
}

/// A 0.1.x column select as the 0.2.0 select it is.
fn select(select: ColumnSelect) -> current::persistence::Select {
    current::persistence::Select {
        fields: select.fields,
        filter: select.filter,
        order: select.order,
        limit: select.limit,
        cursor: select.cursor,
    }
}

fn entity_v0_1(entity: current::persistence::Entity) -> Entity {
    Entity {
        id: entity.id,
        fields: entity.fields,
    }
}

impl Host for CallState {
    async fn insert(
        &mut self,
        model: String,
        fields: Row,
    ) -> wasmtime::Result<Result<String, WitError>> {
        current::persistence::Host::insert(self, model, fields).await
    }

    async fn get(
        &mut self,
        model: String,
        id: String,
    ) -> wasmtime::Result<Result<Option<Entity>, WitError>> {
        let found = current::persistence::Host::get(self, model, id).await?;
        Ok(found.map(|entity| entity.map(entity_v0_1)))
    }

    async fn update(
        &mut self,
        model: String,
        id: String,
        fields: Row,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        current::persistence::Host::update(self, model, id, fields).await
    }

    async fn delete(
        &mut self,
        model: String,
        id: String,
    ) -> wasmtime::Result<Result<bool, WitError>> {
        current::persistence::Host::delete(self, model, id).await
    }

    async fn delete_where(
        &mut self,
        model: String,
        filter: Vec<FilterNode>,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        current::persistence::Host::delete_where(self, model, filter).await
    }

    /// Every field of each row, as records.
    async fn query(
        &mut self,
        model: String,
        select: Select,
    ) -> wasmtime::Result<Result<Page, WitError>> {
        let caller = self.caller();
        Ok(async move {
            let filter = filter_of(&select.filter)?;
            let order = convert::orders(&select.order);
            let cursor = select.cursor.as_deref();
            let query = async |session: &Session, model: Model<'_>| {
                let (records, next_cursor) =
                    plugin_data::query(session, model, &filter, &order, select.limit, cursor)
                        .await?;
                Ok(Page {
                    items: records
                        .into_iter()
                        .map(|record| entity_v0_1(entity(record)))
                        .collect(),
                    next_cursor,
                })
            };
            caller?.on_model(&model, false, query).await
        }
        .await)
    }

    async fn query_columns(
        &mut self,
        model: String,
        column_select: ColumnSelect,
    ) -> wasmtime::Result<Result<ColumnPage, WitError>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let selected = caller.select(&model, &select(column_select)).await?;
            columnar::page(
                selected.plan.columns(),
                selected.plan.returned(),
                &selected.rows,
                selected.next_cursor,
            )
            .map_err(|e| super::db_error(&caller.plugin_name, e))
        }
        .await)
    }

    async fn query_packed_columns(
        &mut self,
        model: String,
        column_select: ColumnSelect,
    ) -> wasmtime::Result<Result<PackedColumnPage, WitError>> {
        let caller = self.caller();
        Ok(async move {
            let page = caller?.packed_page(&model, &select(column_select)).await?;
            Ok(PackedColumnPage {
                data: page.data,
                next_cursor: page.next_cursor,
            })
        }
        .await)
    }

    async fn count(
        &mut self,
        model: String,
        filter: Vec<FilterNode>,
    ) -> wasmtime::Result<Result<u64, WitError>> {
        current::persistence::Host::count(self, model, filter).await
    }

    async fn aggregate(
        &mut self,
        model: String,
        query: AggregateQuery,
    ) -> wasmtime::Result<Result<Vec<AggregateRow>, WitError>> {
        current::persistence::Host::aggregate(self, model, query).await
    }
}
