//! Documents: text in a collection, versioned by a counter that every
//! change raises (the REST API's `ETag`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A document as stored.
/// Its serde form is part of stored events ([`super::event`]): keep the
/// field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub collection_id: String,
    pub owner: String,
    pub title: String,
    pub content: String,
    pub format: String,
    pub tags: Vec<String>,
    /// A JSON object, serialized.
    pub metadata: String,
    /// Hex SHA-256 of the content.
    pub content_hash: String,
    pub word_count: i64,
    pub size_bytes: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub archived_at: Option<i64>,
}

/// A document to create, as received.
#[derive(Debug, Clone, Default)]
pub struct NewDocument {
    pub title: String,
    pub content: String,
    pub format: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Option<Value>,
}

/// A change to a document: each `Some` field is set.
#[derive(Debug, Clone, Default)]
pub struct DocumentChange {
    pub title: Option<String>,
    pub content: Option<String>,
    pub format: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Value>,
    pub archived: Option<bool>,
}
