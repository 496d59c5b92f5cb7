//! `kai:fusion/models`: the core collections and documents, always as the
//! calling request's principal. The same operations as the REST API
//! (`crate::services`), so a plugin gets exactly a REST client's rules: it can
//! never see or change a row its caller could not, even if it tries.
//!
//! Every function runs through [`as_caller`]: the grant check, the
//! caller's principal, and for a write a savepoint, so that if it fails (or
//! a hook it triggered refuses) its writes are undone even when the plugin
//! carries on.

use super::CallState;
use super::Caller;
use super::db_error;
use crate::domain::search::snippet_html;
use crate::domain::{CollectionInput, DocumentChange, NewDocument, Principal};
use crate::services::aggregates::{self, CoreTable};
use crate::services::collections;
use crate::services::documents::{self, ListQuery, SearchRequest};
use crate::services::{Ctx, ModelError};
use crate::wit::bindings::exports::kai::fusion::describe::CoreModel;
use crate::wit::bindings::kai::fusion::models::{
    Collection, CollectionPage, CollectionPatch, Document, DocumentPage, DocumentPatch, Host,
    NewCollection, NewDocument as WitNewDocument, Queryable, SearchHit, SearchPage,
};
use crate::wit::bindings::kai::fusion::query::{AggregateQuery, AggregateRow, FilterNode, Order};
use crate::wit::bindings::kai::fusion::types::Error as WitError;
use crate::wit::convert;

type Result<T> = std::result::Result<T, WitError>;

/// Whether a host function reads or writes its core model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// Why a core-model host function failed: its input could not be
/// converted, or the model operation refused.
pub(super) enum Failure {
    Input(WitError),
    Model(ModelError),
}

impl From<WitError> for Failure {
    fn from(error: WitError) -> Self {
        Failure::Input(error)
    }
}

impl From<ModelError> for Failure {
    fn from(error: ModelError) -> Self {
        Failure::Model(error)
    }
}

/// Runs `operation` as the caller's principal once the plugin's grant for
/// `model` allows `access`; a write runs under a savepoint of the call's
/// unit of work.
async fn as_caller<T>(
    caller: Result<Caller>,
    model: CoreModel,
    access: Access,
    operation: impl AsyncFnOnce(&Ctx<'_>) -> std::result::Result<T, Failure>,
) -> wasmtime::Result<Result<T>> {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return Ok(Err(error)),
    };
    let principal = match caller.core_access(model, access == Access::Write) {
        Ok(principal) => principal,
        Err(error) => return Ok(Err(error)),
    };
    let ctx = caller.ctx(&principal);
    let result = match access {
        Access::Read => operation(&ctx).await,
        Access::Write => ctx.atomically(operation(&ctx)).await,
    };
    Ok(result.map_err(|failure| match failure {
        Failure::Input(error) => error,
        Failure::Model(error) => caller.model_error(error),
    }))
}

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

    pub(super) fn model_error(&self, error: ModelError) -> WitError {
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
    pub(super) fn ctx<'a>(&'a self, principal: &'a Principal) -> Ctx<'a> {
        Ctx {
            core: &self.host.services.core,
            hooks: &*self.host.hooks,
            session: &self.host.session,
            principal,
            depth: self.host.depth,
        }
    }
}

pub(super) fn json_field(field: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| WitError::Invalid(format!("{field}: not valid JSON: {e}")))
}

pub(super) fn optional_json_field(
    field: &str,
    text: Option<&str>,
) -> Result<Option<serde_json::Value>> {
    text.map(|text| json_field(field, text)).transpose()
}

impl Host for CallState {
    async fn get_collection(&mut self, id: String) -> wasmtime::Result<Result<Collection>> {
        as_caller(
            self.caller(),
            CoreModel::Collections,
            Access::Read,
            async |ctx| Ok((&collections::get(ctx, &id).await?).into()),
        )
        .await
    }

    async fn list_collections(
        &mut self,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<CollectionPage>> {
        as_caller(
            self.caller(),
            CoreModel::Collections,
            Access::Read,
            async |ctx| {
                let (items, next_cursor) = collections::list(ctx, limit, cursor.as_deref()).await?;
                Ok(CollectionPage {
                    items: items.iter().map(Collection::from).collect(),
                    next_cursor,
                })
            },
        )
        .await
    }

    async fn create_collection(
        &mut self,
        input: NewCollection,
    ) -> wasmtime::Result<Result<Collection>> {
        as_caller(
            self.caller(),
            CoreModel::Collections,
            Access::Write,
            async |ctx| {
                let input = CollectionInput {
                    name: Some(input.name),
                    description: Some(input.description),
                    metadata: Some(json_field("metadata", &input.metadata)?),
                };
                Ok((&collections::create(ctx, input).await?).into())
            },
        )
        .await
    }

    async fn update_collection(
        &mut self,
        id: String,
        patch: CollectionPatch,
    ) -> wasmtime::Result<Result<Collection>> {
        as_caller(
            self.caller(),
            CoreModel::Collections,
            Access::Write,
            async |ctx| {
                let input = CollectionInput {
                    name: patch.name,
                    description: patch.description,
                    metadata: optional_json_field("metadata", patch.metadata.as_deref())?,
                };
                Ok((&collections::update(ctx, &id, input).await?).into())
            },
        )
        .await
    }

    async fn delete_collection(&mut self, id: String) -> wasmtime::Result<Result<()>> {
        as_caller(
            self.caller(),
            CoreModel::Collections,
            Access::Write,
            async |ctx| Ok(collections::delete(ctx, &id).await?),
        )
        .await
    }

    async fn get_document(&mut self, id: String) -> wasmtime::Result<Result<Document>> {
        as_caller(
            self.caller(),
            CoreModel::Documents,
            Access::Read,
            async |ctx| Ok((&documents::get(ctx, &id).await?).into()),
        )
        .await
    }

    async fn query_documents(
        &mut self,
        filter: Vec<FilterNode>,
        order: Vec<Order>,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<DocumentPage>> {
        as_caller(
            self.caller(),
            CoreModel::Documents,
            Access::Read,
            async |ctx| {
                let query = ListQuery {
                    filter: convert::filter(&filter).map_err(WitError::Invalid)?,
                    order: convert::orders(&order),
                    limit,
                    cursor,
                };
                let (items, next_cursor) = documents::query(ctx, &query).await?;
                Ok(DocumentPage {
                    items: items.iter().map(Document::from).collect(),
                    next_cursor,
                })
            },
        )
        .await
    }

    async fn search_documents(
        &mut self,
        query: String,
        filter: Vec<FilterNode>,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<SearchPage>> {
        as_caller(
            self.caller(),
            CoreModel::Documents,
            Access::Read,
            async |ctx| {
                let request = SearchRequest {
                    text: query,
                    filter: convert::filter(&filter).map_err(WitError::Invalid)?,
                    limit,
                    cursor,
                };
                let (hits, next_cursor) = documents::search(ctx, &request).await?;
                Ok(SearchPage {
                    items: hits
                        .iter()
                        .map(|hit| SearchHit {
                            document: Document::from(&hit.document),
                            snippet: snippet_html(&hit.snippet),
                            score: -hit.rank,
                        })
                        .collect(),
                    next_cursor,
                })
            },
        )
        .await
    }

    async fn create_document(
        &mut self,
        input: WitNewDocument,
    ) -> wasmtime::Result<Result<Document>> {
        as_caller(
            self.caller(),
            CoreModel::Documents,
            Access::Write,
            async |ctx| {
                let document = NewDocument {
                    title: input.title,
                    content: input.content,
                    format: Some(input.format),
                    tags: input.tags,
                    metadata: Some(json_field("metadata", &input.metadata)?),
                };
                Ok((&documents::create(ctx, &input.collection_id, document).await?).into())
            },
        )
        .await
    }

    async fn update_document(
        &mut self,
        id: String,
        patch: DocumentPatch,
        expected_version: Option<u64>,
    ) -> wasmtime::Result<Result<Document>> {
        as_caller(
            self.caller(),
            CoreModel::Documents,
            Access::Write,
            async |ctx| {
                let change = DocumentChange {
                    title: patch.title,
                    content: patch.content,
                    format: patch.format,
                    tags: patch.tags,
                    metadata: optional_json_field("metadata", patch.metadata.as_deref())?,
                    archived: patch.archived,
                };
                let expected = expected_version.map(|v| v as i64);
                Ok((&documents::update(ctx, &id, change, expected).await?).into())
            },
        )
        .await
    }

    async fn delete_document(
        &mut self,
        id: String,
        expected_version: Option<u64>,
    ) -> wasmtime::Result<Result<()>> {
        as_caller(
            self.caller(),
            CoreModel::Documents,
            Access::Write,
            async |ctx| {
                let expected = expected_version.map(|v| v as i64);
                Ok(documents::delete(ctx, &id, expected).await?)
            },
        )
        .await
    }

    async fn aggregate(
        &mut self,
        model: Queryable,
        query: AggregateQuery,
    ) -> wasmtime::Result<Result<Vec<AggregateRow>>> {
        let (core, table) = match model {
            Queryable::Collections => (CoreModel::Collections, CoreTable::Collections),
            Queryable::Documents => (CoreModel::Documents, CoreTable::Documents),
            Queryable::DocumentTags => (CoreModel::Documents, CoreTable::DocumentTags),
            Queryable::CollectionStats => (CoreModel::Documents, CoreTable::CollectionStats),
            Queryable::TagCounts => (CoreModel::Documents, CoreTable::TagCounts),
        };
        as_caller(self.caller(), core, Access::Read, async |ctx| {
            let query = convert::aggregate_query(&query).map_err(WitError::Invalid)?;
            let rows = aggregates::aggregate(ctx, table, &query).await?;
            Ok(rows.into_iter().map(AggregateRow::from).collect())
        })
        .await
    }
}
