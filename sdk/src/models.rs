//! The host's core models, collections and documents, seen as the caller:
//! the host applies the request's principal to every call, so a plugin
//! reads and writes exactly what its caller could through the REST API.
//! Needs the matching grant (`Plugin::reads` / `Plugin::writes`).

#[cfg(not(target_arch = "wasm32"))]
use crate::__private::native::models as wit;
use crate::convert;
use crate::host::{HostError, host_call};
use crate::query::{Aggregation, Filter, Order, Rows};
#[cfg(target_arch = "wasm32")]
use crate::wit::kai::fusion::models as wit;

/// A collection: a named group of documents with one owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub description: String,
    /// A JSON object, serialized.
    pub metadata: String,
    /// Microseconds since the Unix epoch, UTC.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A document, as the REST API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: String,
    pub collection_id: String,
    pub owner: String,
    pub title: String,
    pub content: String,
    /// `md`, `txt`, `json` or `html`.
    pub format: String,
    pub tags: Vec<String>,
    /// A JSON object, serialized.
    pub metadata: String,
    /// Hex SHA-256 of the content.
    pub content_hash: String,
    pub word_count: u64,
    pub size_bytes: u64,
    /// Starts at 1; every update adds one.
    pub version: u64,
    /// Microseconds since the Unix epoch, UTC.
    pub created_at: i64,
    pub updated_at: i64,
    pub archived_at: Option<i64>,
}

/// A collection to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCollection {
    pub name: String,
    pub description: String,
    /// A JSON object, serialized.
    pub metadata: String,
}

impl NewCollection {
    /// A collection named `name`, with no description and empty metadata.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_string(),
            description: String::new(),
            metadata: "{}".to_string(),
        }
    }
}

/// The fields of a collection to change; `None` leaves one as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<String>,
}

/// A document to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDocument {
    pub collection_id: String,
    pub title: String,
    pub content: String,
    pub format: String,
    pub tags: Vec<String>,
    /// A JSON object, serialized.
    pub metadata: String,
}

impl NewDocument {
    /// A markdown document in `collection_id`, without tags or metadata.
    pub fn new(collection_id: &str, title: &str, content: &str) -> Self {
        Self {
            collection_id: collection_id.to_string(),
            title: title.to_string(),
            content: content.to_string(),
            format: "md".to_string(),
            tags: Vec::new(),
            metadata: "{}".to_string(),
        }
    }
}

/// The fields of a document to change; `None` leaves one as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentPatch {
    pub title: Option<String>,
    pub content: Option<String>,
    pub format: Option<String>,
    pub tags: Option<Vec<String>>,
    /// A JSON object, serialized.
    pub metadata: Option<String>,
    pub archived: Option<bool>,
}

/// One page of collections and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionPage {
    pub items: Vec<Collection>,
    pub next_cursor: Option<String>,
}

/// One page of documents and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentPage {
    pub items: Vec<Document>,
    pub next_cursor: Option<String>,
}

/// What [`aggregate`] can group over: the core tables and two views of
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queryable {
    Collections,
    Documents,
    /// One row per (document, tag).
    DocumentTags,
    /// Per-collection totals: documents, words, bytes.
    CollectionStats,
    /// Per-tag document counts.
    TagCounts,
}

pub fn get_collection(id: &str) -> Result<Collection, HostError> {
    host_call!(wit::get_collection(id), Collection::from)
}

pub fn list_collections(limit: u32, cursor: Option<&str>) -> Result<CollectionPage, HostError> {
    host_call!(wit::list_collections(limit, cursor), CollectionPage::from)
}

pub fn create_collection(input: &NewCollection) -> Result<Collection, HostError> {
    host_call!(
        wit::create_collection(&wit::NewCollection::from(input)),
        Collection::from
    )
}

pub fn update_collection(id: &str, patch: &CollectionPatch) -> Result<Collection, HostError> {
    host_call!(
        wit::update_collection(id, &wit::CollectionPatch::from(patch)),
        Collection::from
    )
}

/// Deletes an empty collection.
pub fn delete_collection(id: &str) -> Result<(), HostError> {
    host_call!(wit::delete_collection(id))
}

pub fn get_document(id: &str) -> Result<Document, HostError> {
    host_call!(wit::get_document(id), Document::from)
}

/// Documents matching `filter` (fields as in the REST API, plus `tag`).
pub fn query_documents(
    filter: &Filter,
    order: &[Order],
    limit: u32,
    cursor: Option<&str>,
) -> Result<DocumentPage, HostError> {
    host_call!(
        wit::query_documents(&filter.to_nodes(), &convert::orders(order), limit, cursor),
        DocumentPage::from
    )
}

/// A document found by [`search_documents`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub document: Document,
    /// Where the query matched, as HTML: the text escaped, each match in
    /// `<mark>`.
    pub snippet: String,
    /// Higher is better; comparable within one search only.
    pub score: f64,
}

/// A page of search hits, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub items: Vec<SearchHit>,
    pub next_cursor: Option<String>,
}

/// Full-text search over the documents the caller can see, best match
/// first: `query` takes words (all must match), `"quoted phrases"`,
/// `prefix*` and `-excluded` terms (a query that does not parse is
/// [`HostError::Invalid`] naming the problem); `filter` narrows it as in
/// [`query_documents`]. Needs read access to documents.
pub fn search_documents(
    query: &str,
    filter: &Filter,
    limit: u32,
    cursor: Option<&str>,
) -> Result<SearchPage, HostError> {
    host_call!(
        wit::search_documents(query, &filter.to_nodes(), limit, cursor),
        |page| SearchPage {
            items: page
                .items
                .into_iter()
                .map(|hit| SearchHit {
                    document: hit.document.into(),
                    snippet: hit.snippet,
                    score: hit.score,
                })
                .collect(),
            next_cursor: page.next_cursor,
        }
    )
}

pub fn create_document(input: &NewDocument) -> Result<Document, HostError> {
    host_call!(
        wit::create_document(&wit::NewDocument::from(input)),
        Document::from
    )
}

/// A patch that changes nothing; set the fields you want.
pub fn patch() -> DocumentPatch {
    DocumentPatch::default()
}

/// Updates a document; with `expected_version`, fails with a conflict if
/// someone changed it since.
pub fn update_document(
    id: &str,
    patch: &DocumentPatch,
    expected_version: Option<u64>,
) -> Result<Document, HostError> {
    host_call!(
        wit::update_document(id, &wit::DocumentPatch::from(patch), expected_version),
        Document::from
    )
}

pub fn delete_document(id: &str, expected_version: Option<u64>) -> Result<(), HostError> {
    host_call!(wit::delete_document(id, expected_version))
}

/// Aggregates over the core models the caller may see.
pub fn aggregate(model: Queryable, aggregation: Aggregation) -> Result<Rows, HostError> {
    host_call!(
        wit::aggregate(wit::Queryable::from(model), &aggregation.into_query()),
        convert::aggregate_rows
    )
}
