//! The core tables as the query layer sees them: which fields plugins and
//! REST filters may use. The column order is also the order in which
//! [`super::collections`], [`super::documents`] and [`super::state`] read rows. Each is built
//! once, so it keeps the select shapes it has checked (see
//! [`crate::store::query::shapes`]).

use crate::store::query::schema::{Column, ColumnKind, ColumnType, TableSchema};
use std::sync::LazyLock;

pub fn collections() -> &'static TableSchema {
    static SCHEMA: LazyLock<TableSchema> = LazyLock::new(|| {
        TableSchema::new(
            "collections",
            "collections",
            vec![
                Column::new("id", ColumnType::Uuid, false),
                Column::new("owner", ColumnType::Uuid, false),
                Column::new("name", ColumnType::String, false),
                Column::new("description", ColumnType::String, false),
                Column::new("created_at", ColumnType::Timestamp, false),
                Column::new("updated_at", ColumnType::Timestamp, false),
                Column::new("metadata", ColumnType::Json, false),
            ],
        )
    });
    &SCHEMA
}

pub fn documents() -> &'static TableSchema {
    static SCHEMA: LazyLock<TableSchema> = LazyLock::new(|| {
        TableSchema::new(
            "documents",
            "documents",
            vec![
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
        )
    });
    &SCHEMA
}

pub fn document_tags() -> &'static TableSchema {
    static SCHEMA: LazyLock<TableSchema> = LazyLock::new(|| {
        TableSchema::new(
            "document_tags",
            "document-tags",
            vec![
                Column::new("document_id", ColumnType::Uuid, false),
                Column::new("collection_id", ColumnType::Uuid, false),
                Column::new("owner", ColumnType::Uuid, false),
                Column::new("tag", ColumnType::String, false),
            ],
        )
    });
    &SCHEMA
}

pub fn collection_stats() -> &'static TableSchema {
    static SCHEMA: LazyLock<TableSchema> = LazyLock::new(|| {
        TableSchema::new(
            "collection_stats",
            "collection-stats",
            vec![
                Column::new("collection_id", ColumnType::Uuid, false),
                Column::new("owner", ColumnType::Uuid, false),
                Column::new("format", ColumnType::String, false),
                Column::new("archived", ColumnType::Bool, false),
                Column::new("documents", ColumnType::Int, false),
                Column::new("size_bytes", ColumnType::Int, false),
                Column::new("word_count", ColumnType::Int, false),
            ],
        )
    });
    &SCHEMA
}

pub fn tag_counts() -> &'static TableSchema {
    static SCHEMA: LazyLock<TableSchema> = LazyLock::new(|| {
        TableSchema::new(
            "collection_tag_counts",
            "tag-counts",
            vec![
                Column::new("collection_id", ColumnType::Uuid, false),
                Column::new("owner", ColumnType::Uuid, false),
                Column::new("tag", ColumnType::String, false),
                Column::new("documents", ColumnType::Int, false),
            ],
        )
    });
    &SCHEMA
}

pub fn state_threads() -> &'static TableSchema {
    static SCHEMA: LazyLock<TableSchema> = LazyLock::new(|| {
        TableSchema::new(
            "state_threads",
            "state-threads",
            vec![
                Column::new("id", ColumnType::Uuid, false),
                Column::new("owner", ColumnType::Uuid, false),
                Column::new("plugin", ColumnType::String, false),
                Column::new("metadata", ColumnType::Json, false),
                Column::new("keep_last", ColumnType::Int, true),
                Column::new("head", ColumnType::String, false),
                Column::new("head_step", ColumnType::Int, false),
                Column::new("forked_from_thread", ColumnType::Uuid, true),
                Column::new("forked_from_checkpoint", ColumnType::Uuid, true),
                Column::new("created_at", ColumnType::Timestamp, false),
                Column::new("updated_at", ColumnType::Timestamp, false),
            ],
        )
    });
    &SCHEMA
}

pub fn state_checkpoints() -> &'static TableSchema {
    static SCHEMA: LazyLock<TableSchema> = LazyLock::new(|| {
        TableSchema::new(
            "state_checkpoints",
            "state-checkpoints",
            vec![
                Column::new("id", ColumnType::Uuid, false),
                Column::new("thread_id", ColumnType::Uuid, false),
                Column::new("parent_id", ColumnType::Uuid, true),
                Column::new("step", ColumnType::Int, false),
                Column::new("state", ColumnType::Json, false),
                Column::new("metadata", ColumnType::Json, false),
                Column::new("created_at", ColumnType::Timestamp, false),
            ],
        )
    });
    &SCHEMA
}

pub fn memory_sessions() -> &'static TableSchema {
    static SCHEMA: LazyLock<TableSchema> = LazyLock::new(|| {
        TableSchema::new(
            "memory_sessions",
            "memory-sessions",
            vec![
                Column::new("id", ColumnType::Uuid, false),
                Column::new("owner", ColumnType::Uuid, false),
                Column::new("name", ColumnType::String, false),
                Column::new("plugin", ColumnType::String, false),
                Column::new("workflow", ColumnType::String, true),
                Column::new("agent", ColumnType::String, true),
                Column::new("metadata", ColumnType::Json, false),
                Column::new("max_messages", ColumnType::Int, true),
                Column::new("max_age_seconds", ColumnType::Int, true),
                Column::new("summary", ColumnType::String, true),
                Column::new("summary_through", ColumnType::Int, true),
                Column::new("summary_updated_at", ColumnType::Timestamp, true),
                Column::new("system_seq", ColumnType::Int, true),
                Column::new("next_seq", ColumnType::Int, false),
                Column::new("message_count", ColumnType::Int, false),
                Column::new("created_at", ColumnType::Timestamp, false),
                Column::new("updated_at", ColumnType::Timestamp, false),
            ],
        )
    });
    &SCHEMA
}

pub fn workflows() -> &'static TableSchema {
    static SCHEMA: LazyLock<TableSchema> = LazyLock::new(|| {
        TableSchema::new(
            "workflows",
            "workflows",
            vec![
                Column::new("id", ColumnType::Uuid, false),
                Column::new("owner", ColumnType::Uuid, false),
                Column::new("name", ColumnType::String, false),
                Column::new("description", ColumnType::String, false),
                Column::new("version", ColumnType::Int, false),
                Column::new("graph", ColumnType::Json, false),
                Column::new("created_at", ColumnType::Timestamp, false),
                Column::new("updated_at", ColumnType::Timestamp, false),
                Column::new("triggers", ColumnType::Json, false),
            ],
        )
    });
    &SCHEMA
}

/// `workflow_executions`, for listing a workflow's executions.
pub fn workflow_executions() -> &'static TableSchema {
    static SCHEMA: LazyLock<TableSchema> = LazyLock::new(|| {
        TableSchema::new(
            "workflow_executions",
            "workflow_executions",
            vec![
                Column::new("id", ColumnType::Uuid, false),
                Column::new("workflow_id", ColumnType::Uuid, false),
                Column::new("version", ColumnType::Int, false),
                Column::new("owner", ColumnType::Uuid, false),
                Column::new("status", ColumnType::String, false),
                Column::new("input", ColumnType::Json, false),
                Column::new("output", ColumnType::Json, true),
                Column::new("error", ColumnType::String, true),
                Column::new("thread_id", ColumnType::Uuid, false),
                Column::new("steps", ColumnType::Int, false),
                Column::new("created_at", ColumnType::Timestamp, false),
                Column::new("started_at", ColumnType::Timestamp, true),
                Column::new("finished_at", ColumnType::Timestamp, true),
                Column::new("updated_at", ColumnType::Timestamp, false),
                Column::new("due_at", ColumnType::Timestamp, false),
                Column::new("parent_id", ColumnType::Uuid, true),
                Column::new("started_by", ColumnType::String, false),
                Column::new("root_id", ColumnType::Uuid, true),
            ],
        )
    });
    &SCHEMA
}
