//! The core tables as the query layer sees them: which fields plugins and
//! REST filters may use. The column order is also the order in which
//! [`super::collections`] and [`super::documents`] read rows.

use crate::query::schema::{Column, ColumnKind, ColumnType, TableSchema};

pub fn collections() -> TableSchema {
    TableSchema {
        table: "collections".into(),
        display: "collections".into(),
        columns: vec![
            Column::new("id", ColumnType::Uuid, false),
            Column::new("owner", ColumnType::Uuid, false),
            Column::new("name", ColumnType::String, false),
            Column::new("description", ColumnType::String, false),
            Column::new("created_at", ColumnType::Timestamp, false),
            Column::new("updated_at", ColumnType::Timestamp, false),
            Column::new("metadata", ColumnType::Json, false),
        ],
    }
}

pub fn documents() -> TableSchema {
    TableSchema {
        table: "documents".into(),
        display: "documents".into(),
        columns: vec![
            Column::new("id", ColumnType::Uuid, false),
            Column::new("collection_id", ColumnType::Uuid, false),
            Column::new("owner", ColumnType::Uuid, false),
            Column::new("title", ColumnType::String, false),
            Column::new("content", ColumnType::String, false),
            Column::new("format", ColumnType::String, false),
            Column::new("content_hash", ColumnType::String, false),
            Column::new("word_count", ColumnType::Int, false),
            Column::new("size_bytes", ColumnType::Int, false),
            Column::new("version", ColumnType::Int, false),
            Column::new("created_at", ColumnType::Timestamp, false),
            Column::new("updated_at", ColumnType::Timestamp, false),
            Column::new("archived_at", ColumnType::Timestamp, true),
            Column::new("tags", ColumnType::Json, false),
            Column::new("metadata", ColumnType::Json, false),
            Column {
                name: "tag".into(),
                ty: ColumnType::String,
                nullable: false,
                kind: ColumnKind::DocumentTag,
            },
        ],
    }
}

pub fn document_tags() -> TableSchema {
    TableSchema {
        table: "document_tags".into(),
        display: "document-tags".into(),
        columns: vec![
            Column::new("document_id", ColumnType::Uuid, false),
            Column::new("collection_id", ColumnType::Uuid, false),
            Column::new("owner", ColumnType::Uuid, false),
            Column::new("tag", ColumnType::String, false),
        ],
    }
}

pub fn collection_stats() -> TableSchema {
    TableSchema {
        table: "collection_stats".into(),
        display: "collection-stats".into(),
        columns: vec![
            Column::new("collection_id", ColumnType::Uuid, false),
            Column::new("owner", ColumnType::Uuid, false),
            Column::new("format", ColumnType::String, false),
            Column::new("archived", ColumnType::Bool, false),
            Column::new("documents", ColumnType::Int, false),
            Column::new("size_bytes", ColumnType::Int, false),
            Column::new("word_count", ColumnType::Int, false),
        ],
    }
}

pub fn tag_counts() -> TableSchema {
    TableSchema {
        table: "collection_tag_counts".into(),
        display: "tag-counts".into(),
        columns: vec![
            Column::new("collection_id", ColumnType::Uuid, false),
            Column::new("owner", ColumnType::Uuid, false),
            Column::new("tag", ColumnType::String, false),
            Column::new("documents", ColumnType::Int, false),
        ],
    }
}
