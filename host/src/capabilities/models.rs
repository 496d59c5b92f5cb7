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
use crate::services::aggregates::{self, CoreTable};
use crate::services::collections;
use crate::services::documents::{self, ListQuery};
use crate::services::{Ctx, ModelError};
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
        let granted = self.grants()?.core(convert::core_model_name(model), write);
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
                let ctx = caller.ctx(&principal);
                ctx.atomically(collections::create(&ctx, input))
                    .await
                    .map_err(|e| caller.model_error(e))
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
                let ctx = caller.ctx(&principal);
                ctx.atomically(collections::update(&ctx, &id, input))
                    .await
                    .map_err(|e| caller.model_error(e))
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
                let ctx = caller.ctx(&principal);
                ctx.atomically(collections::delete(&ctx, &id))
                    .await
                    .map_err(|e| caller.model_error(e))
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
                let ctx = caller.ctx(&principal);
                ctx.atomically(documents::create(&ctx, &collection_id, input))
                    .await
                    .map_err(|e| caller.model_error(e))
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
                let ctx = caller.ctx(&principal);
                ctx.atomically(documents::update(&ctx, &id, change, expected))
                    .await
                    .map_err(|e| caller.model_error(e))
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
                let ctx = caller.ctx(&principal);
                ctx.atomically(documents::delete(&ctx, &id, expected))
                    .await
                    .map_err(|e| caller.model_error(e))
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
            let (core, table) = match model {
                Queryable::Collections => (CoreModel::Collections, CoreTable::Collections),
                Queryable::Documents => (CoreModel::Documents, CoreTable::Documents),
                Queryable::DocumentTags => (CoreModel::Documents, CoreTable::DocumentTags),
                Queryable::CollectionStats => (CoreModel::Documents, CoreTable::CollectionStats),
                Queryable::TagCounts => (CoreModel::Documents, CoreTable::TagCounts),
            };
            let principal = caller.core_access(core, false)?;
            let query = convert::aggregate_query(&query).map_err(WitError::Invalid)?;
            let rows = aggregates::aggregate(&caller.ctx(&principal), table, &query)
                .await
                .map_err(|e| caller.model_error(e))?;
            Ok(rows.into_iter().map(AggregateRow::from).collect())
        }
        .await)
    }
}
