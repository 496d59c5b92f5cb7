//! `kai:fusion/models`: the core collections and documents, always as the
//! calling request's principal. The same operations as the REST API
//! (`crate::services`), so a plugin gets exactly a REST client's rules: it can
//! never see or change a row its caller could not, even if it tries.
//!
//! Each write runs under a savepoint: if it fails (or a hook it triggered
//! refuses), its writes are undone even when the plugin carries on.

use super::CallState;
use super::Caller;
use super::db_error;
use crate::domain::{CollectionInput, DocumentChange, NewDocument, Principal};
use crate::services::collections;
use crate::services::documents::{self, ListQuery};
use crate::services::{Ctx, ModelError};
use crate::store::core_tables as schemas;
use crate::store::query::aggregate;
use crate::store::query::select::Scope;
use crate::store::session::Savepoint;
use crate::wit::bindings::exports::kai::fusion::describe::CoreModel;
use crate::wit::bindings::kai::fusion::models::{
    Collection, CollectionPage, CollectionPatch, Document, DocumentPage, DocumentPatch, Host,
    NewCollection, NewDocument as WitNewDocument, Queryable,
};
use crate::wit::bindings::kai::fusion::query::{AggregateQuery, AggregateRow, FilterNode, Order};
use crate::wit::bindings::kai::fusion::types::Error as WitError;
use crate::wit::convert;

type Result<T> = std::result::Result<T, WitError>;

impl Caller {
    /// Checks the grant for `model` and returns the acting principal.
    fn core_access(&self, model: CoreModel, write: bool) -> Result<Principal> {
        let granted = self.grants()?.core_model(model, write);
        if !granted {
            let name = match model {
                CoreModel::Collections => "collections",
                CoreModel::Documents => "documents",
            };
            return Err(WitError::Denied(format!(
                "plugin `{}` was not granted {} access to {name}",
                self.plugin_name,
                if write { "write" } else { "read" }
            )));
        }
        let principal = self.principal().ok_or_else(|| {
            WitError::Denied(
                "the core models need an authenticated caller; this call has none".into(),
            )
        })?;
        Ok(principal.clone())
    }

    fn model_error(&self, error: ModelError) -> WitError {
        match error {
            ModelError::NotFound(m) => WitError::NotFound(m),
            ModelError::Invalid { field, message } => {
                WitError::Invalid(format!("{field}: {message}"))
            }
            ModelError::Conflict(m) => WitError::Conflict(m),
            e @ ModelError::VersionMismatch { .. } => WitError::Conflict(e.to_string()),
            ModelError::Denied(m) => WitError::Denied(m),
            ModelError::Query(e) => WitError::Invalid(e.0),
            ModelError::Event(e) => WitError::Conflict(e.to_string()),
            ModelError::Database(e) => db_error(&self.plugin_name, e),
        }
    }

    /// The context model operations run in: this call's session, as
    /// `principal`.
    fn ctx<'a>(&'a self, principal: &'a Principal) -> Ctx<'a> {
        Ctx {
            core: &self.host.services.core,
            hooks: &*self.host.hooks,
            session: &self.host.session,
            principal,
            depth: self.host.depth,
        }
    }

    /// Opens the savepoint a write runs under.
    async fn begin_write(&self) -> Result<Savepoint> {
        self.host
            .session
            .savepoint()
            .await
            .map_err(|e| db_error(&self.plugin_name, e))
    }

    /// Ends a write's savepoint: kept on success, undone on failure.
    async fn end_write<T>(
        &self,
        savepoint: Savepoint,
        result: std::result::Result<T, ModelError>,
    ) -> Result<T> {
        self.host
            .session
            .end_savepoint(savepoint, result.is_ok())
            .await
            .map_err(|e| db_error(&self.plugin_name, e))?;
        result.map_err(|e| self.model_error(e))
    }
}

fn json_field(field: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| WitError::Invalid(format!("{field}: not valid JSON: {e}")))
}

impl Host for CallState {
    async fn get_collection(&mut self, id: String) -> wasmtime::Result<Result<Collection>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let principal = caller.core_access(CoreModel::Collections, false)?;
            let found = collections::get(&caller.ctx(&principal), &id)
                .await
                .map_err(|e| caller.model_error(e))?;
            Ok((&found).into())
        }
        .await)
    }

    async fn list_collections(
        &mut self,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<CollectionPage>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let principal = caller.core_access(CoreModel::Collections, false)?;
            let (items, next_cursor) =
                collections::list(&caller.ctx(&principal), limit, cursor.as_deref())
                    .await
                    .map_err(|e| caller.model_error(e))?;
            Ok(CollectionPage {
                items: items.iter().map(Collection::from).collect(),
                next_cursor,
            })
        }
        .await)
    }

    async fn create_collection(
        &mut self,
        input: NewCollection,
    ) -> wasmtime::Result<Result<Collection>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let principal = caller.core_access(CoreModel::Collections, true)?;
            let input = CollectionInput {
                name: Some(input.name),
                description: Some(input.description),
                metadata: Some(json_field("metadata", &input.metadata)?),
            };
            let created = {
                let savepoint = caller.begin_write().await?;
                let result = collections::create(&caller.ctx(&principal), input).await;
                caller.end_write(savepoint, result).await
            }?;
            Ok((&created).into())
        }
        .await)
    }

    async fn update_collection(
        &mut self,
        id: String,
        patch: CollectionPatch,
    ) -> wasmtime::Result<Result<Collection>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let principal = caller.core_access(CoreModel::Collections, true)?;
            let input = CollectionInput {
                name: patch.name,
                description: patch.description,
                metadata: patch
                    .metadata
                    .as_deref()
                    .map(|m| json_field("metadata", m))
                    .transpose()?,
            };
            let updated = {
                let savepoint = caller.begin_write().await?;
                let result = collections::update(&caller.ctx(&principal), &id, input).await;
                caller.end_write(savepoint, result).await
            }?;
            Ok((&updated).into())
        }
        .await)
    }

    async fn delete_collection(&mut self, id: String) -> wasmtime::Result<Result<()>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let principal = caller.core_access(CoreModel::Collections, true)?;
            {
                let savepoint = caller.begin_write().await?;
                let result = collections::delete(&caller.ctx(&principal), &id).await;
                caller.end_write(savepoint, result).await
            }
        }
        .await)
    }

    async fn get_document(&mut self, id: String) -> wasmtime::Result<Result<Document>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let principal = caller.core_access(CoreModel::Documents, false)?;
            let found = documents::get(&caller.ctx(&principal), &id)
                .await
                .map_err(|e| caller.model_error(e))?;
            Ok((&found).into())
        }
        .await)
    }

    async fn query_documents(
        &mut self,
        filter: Vec<FilterNode>,
        order: Vec<Order>,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<DocumentPage>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let principal = caller.core_access(CoreModel::Documents, false)?;
            let query = ListQuery {
                filter: convert::filter(&filter).map_err(WitError::Invalid)?,
                order: convert::orders(&order),
                limit,
                cursor,
            };
            let (items, next_cursor) = documents::query(&caller.ctx(&principal), &query)
                .await
                .map_err(|e| caller.model_error(e))?;
            Ok(DocumentPage {
                items: items.iter().map(Document::from).collect(),
                next_cursor,
            })
        }
        .await)
    }

    async fn create_document(
        &mut self,
        input: WitNewDocument,
    ) -> wasmtime::Result<Result<Document>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let principal = caller.core_access(CoreModel::Documents, true)?;
            let collection_id = input.collection_id.clone();
            let input = NewDocument {
                title: input.title,
                content: input.content,
                format: Some(input.format),
                tags: input.tags,
                metadata: Some(json_field("metadata", &input.metadata)?),
            };
            let created = {
                let savepoint = caller.begin_write().await?;
                let result =
                    documents::create(&caller.ctx(&principal), &collection_id, input).await;
                caller.end_write(savepoint, result).await
            }?;
            Ok((&created).into())
        }
        .await)
    }

    async fn update_document(
        &mut self,
        id: String,
        patch: DocumentPatch,
        expected_version: Option<u64>,
    ) -> wasmtime::Result<Result<Document>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let principal = caller.core_access(CoreModel::Documents, true)?;
            let change = DocumentChange {
                title: patch.title,
                content: patch.content,
                format: patch.format,
                tags: patch.tags,
                metadata: patch
                    .metadata
                    .as_deref()
                    .map(|m| json_field("metadata", m))
                    .transpose()?,
                archived: patch.archived,
            };
            let expected = expected_version.map(|v| v as i64);
            let updated = {
                let savepoint = caller.begin_write().await?;
                let result =
                    documents::update(&caller.ctx(&principal), &id, change, expected).await;
                caller.end_write(savepoint, result).await
            }?;
            Ok((&updated).into())
        }
        .await)
    }

    async fn delete_document(
        &mut self,
        id: String,
        expected_version: Option<u64>,
    ) -> wasmtime::Result<Result<()>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let principal = caller.core_access(CoreModel::Documents, true)?;
            let expected = expected_version.map(|v| v as i64);
            {
                let savepoint = caller.begin_write().await?;
                let result = documents::delete(&caller.ctx(&principal), &id, expected).await;
                caller.end_write(savepoint, result).await
            }
        }
        .await)
    }

    async fn aggregate(
        &mut self,
        model: Queryable,
        query: AggregateQuery,
    ) -> wasmtime::Result<Result<Vec<AggregateRow>>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            let (core, schema) = match model {
                Queryable::Collections => (CoreModel::Collections, schemas::collections()),
                Queryable::Documents => (CoreModel::Documents, schemas::documents()),
                Queryable::DocumentTags => (CoreModel::Documents, schemas::document_tags()),
                Queryable::CollectionStats => (CoreModel::Documents, schemas::collection_stats()),
                Queryable::TagCounts => (CoreModel::Documents, schemas::tag_counts()),
            };
            let principal = caller.core_access(core, false)?;
            let host = caller.host()?;
            let query = convert::aggregate_query(&query).map_err(WitError::Invalid)?;
            let scope = match model {
                Queryable::Collections => Scope::for_principal(&principal),
                _ => crate::services::scope_within_collection(
                    &host.session,
                    &principal,
                    &query.filter,
                )
                .await
                .map_err(|e| db_error(&caller.plugin_name, e))?,
            };
            let plan =
                aggregate::build(schema, &query, scope.as_ref(), host.session.db().backend())?;
            let plugin = caller.plugin_name.as_str();
            let rows = async {
                let mut conn = host.session.read_conn().await?;
                let conn = &mut *conn;
                plan.sql.query().fetch_all(&mut *conn).await
            }
            .await
            .map_err(|e| db_error(plugin, e))?;
            rows.iter()
                .map(|row| plan.read_row(row).map(AggregateRow::from))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| db_error(plugin, e))
        }
        .await)
    }
}
