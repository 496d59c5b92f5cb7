//! The `document_version` model: one row per version of a document, unique
//! on (document_id, version), indexed for a document's history (newest
//! first) and for per-collection activity over time.

use kai_sdk::persistence::Record;
use kai_sdk::prelude::*;
use serde_json::Value as Json;

pub const MODEL: &str = "document_version";

fn field(name: &str, ty: FieldType, nullable: bool) -> Field {
    Field {
        name: name.into(),
        type_: ty,
        nullable,
        unique: false,
        indexed: false,
        default: None,
        references: None,
    }
}

pub fn document_version() -> Model {
    Model {
        name: MODEL.into(),
        fields: vec![
            Field {
                references: Some("document".into()),
                ..field("document_id", FieldType::Uuid, false)
            },
            Field {
                references: Some("collection".into()),
                ..field("collection_id", FieldType::Uuid, false)
            },
            field("owner", FieldType::String, false),
            field("version", FieldType::Int, false),
            field("title", FieldType::String, false),
            field("content", FieldType::String, false),
            field("format", FieldType::String, false),
            field("tags", FieldType::Json, false),
            field("metadata", FieldType::Json, false),
            field("content_hash", FieldType::String, false),
            field("changed_fields", FieldType::Json, false),
            field("change_type", FieldType::String, false),
            // Since 1.1.0: the version a restore copied (null otherwise).
            field("restored_from", FieldType::Int, true),
            field("actor", FieldType::String, true),
            field("created_at", FieldType::Timestamp, false),
        ],
        indexes: vec![
            Index {
                fields: vec!["document_id".into(), "version".into()],
                unique: true,
            },
            // Per-collection churn over time, answered from the index alone.
            Index {
                fields: vec![
                    "collection_id".into(),
                    "created_at".into(),
                    "document_id".into(),
                ],
                unique: false,
            },
            Index {
                fields: vec!["owner".into(), "created_at".into()],
                unique: false,
            },
        ],
        exported: true,
    }
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
