//! The `document_version` model: one row per version of a document, unique
//! on (document_id, version), indexed for a document's history (newest
//! first) and for per-collection activity over time.

use kai_sdk::persistence::Record;
use kai_sdk::prelude::*;
use serde_json::Value as Json;

pub const MODEL: &str = "document_version";

pub fn document_version() -> Model {
    Model::new(MODEL)
        .field(Field::uuid("document_id").references("document"))
        .field(Field::uuid("collection_id").references("collection"))
        .field(Field::string("owner"))
        .field(Field::int("version"))
        .field(Field::string("title"))
        .field(Field::string("content"))
        .field(Field::string("format"))
        .field(Field::json("tags"))
        .field(Field::json("metadata"))
        .field(Field::string("content_hash"))
        .field(Field::json("changed_fields"))
        .field(Field::string("change_type"))
        // Since 1.1.0: the version a restore copied (null otherwise).
        .field(Field::int("restored_from").nullable())
        .field(Field::string("actor").nullable())
        .field(Field::timestamp("created_at"))
        .unique_index(&["document_id", "version"])
        // Per-collection churn over time, answered from the index alone.
        .index(&["collection_id", "created_at", "document_id"])
        .index(&["owner", "created_at"])
        .exported()
}

/// The fields a version shows in the REST API, in order; `content` only
/// when asked for. `changed_fields` is always an array of field names (all
/// of them for a creation, none for a deletion); `restored_from` is the
/// version a restore copied, null for other changes; `created_at` is RFC
/// 3339 in UTC, as everywhere in the API.
pub const SHOWN_FIELDS: [&str; 12] = [
    "document_id",
    "version",
    "change_type",
    "changed_fields",
    "restored_from",
    "title",
    "format",
    "tags",
    "metadata",
    "content_hash",
    "actor",
    "created_at",
];

/// A version row as the REST API shows it.
pub fn to_json(record: &Record, include_content: bool) -> Json {
    let mut map = serde_json::Map::with_capacity(SHOWN_FIELDS.len() + 1);
    for name in SHOWN_FIELDS {
        map.insert(name.to_string(), record.get(name).to_json());
    }
    if include_content {
        map.insert("content".to_string(), record.get("content").to_json());
    }
    Json::Object(map)
}
