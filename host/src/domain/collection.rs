//! Collections: a named set of documents owned by one user.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A collection as stored.
/// Its serde form is part of stored events ([`super::event`]): keep the
/// field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub description: String,
    /// A JSON object, serialized.
    pub metadata: String,
    /// Microseconds since the Unix epoch, UTC (as every timestamp here).
    pub created_at: i64,
    pub updated_at: i64,
}

/// A collection to create or the fields to change (each `Some` is set).
#[derive(Debug, Clone, Default)]
pub struct CollectionInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<Value>,
}
