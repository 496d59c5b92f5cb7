//! The host's core models, collections and documents, seen as the caller:
//! the host applies the request's principal to every call, so a plugin
//! reads and writes exactly what its caller could through the REST API.
//! Needs the matching grant (`Plugin::reads` / `Plugin::writes`).

use crate::host::{HostError, host_call};
use crate::query::{Aggregation, Filter, Rows};
use crate::wit::kai::fusion::models as wit;
use crate::wit::kai::fusion::query::Order;

pub use wit::{
    Collection, CollectionPage, CollectionPatch, Document, DocumentPage, DocumentPatch,
    NewCollection, NewDocument, Queryable,
};

pub fn get_collection(id: &str) -> Result<Collection, HostError> {
    host_call!(wit::get_collection(id))
}

pub fn list_collections(limit: u32, cursor: Option<&str>) -> Result<CollectionPage, HostError> {
    host_call!(wit::list_collections(limit, cursor))
}

pub fn create_collection(input: &NewCollection) -> Result<Collection, HostError> {
    host_call!(wit::create_collection(input))
}

pub fn update_collection(id: &str, patch: &CollectionPatch) -> Result<Collection, HostError> {
    host_call!(wit::update_collection(id, patch))
}

/// Deletes an empty collection.
pub fn delete_collection(id: &str) -> Result<(), HostError> {
    host_call!(wit::delete_collection(id))
}

pub fn get_document(id: &str) -> Result<Document, HostError> {
    host_call!(wit::get_document(id))
}

/// Documents matching `filter` (fields as in the REST API, plus `tag`).
pub fn query_documents(
    filter: &Filter,
    order: &[Order],
    limit: u32,
    cursor: Option<&str>,
) -> Result<DocumentPage, HostError> {
    host_call!(wit::query_documents(
        &filter.to_nodes(),
        order,
        limit,
        cursor
    ))
}

pub fn create_document(input: &NewDocument) -> Result<Document, HostError> {
    host_call!(wit::create_document(input))
}

/// A patch that changes nothing; set the fields you want.
pub fn patch() -> DocumentPatch {
    DocumentPatch {
        title: None,
        content: None,
        format: None,
        tags: None,
        metadata: None,
        archived: None,
    }
}

/// Updates a document; with `expected_version`, fails with a conflict if
/// someone changed it since.
pub fn update_document(
    id: &str,
    patch: &DocumentPatch,
    expected_version: Option<u64>,
) -> Result<Document, HostError> {
    host_call!(wit::update_document(id, patch, expected_version))
}

pub fn delete_document(id: &str, expected_version: Option<u64>) -> Result<(), HostError> {
    host_call!(wit::delete_document(id, expected_version))
}

/// Aggregates over the core models the caller may see.
pub fn aggregate(model: Queryable, aggregation: Aggregation) -> Result<Rows, HostError> {
    host_call!(wit::aggregate(model, &aggregation.into_query()))
}
