//! Recording changes: called inside the transaction of every document
//! change. An error here aborts the change, which is the point: a change
//! without its version never commits.

use crate::model::MODEL;
use crate::retention;
use kai_sdk::models::Document;
use kai_sdk::prelude::*;

/// The fields whose change makes a new version, by name.
pub fn changed_fields(old: Option<&Document>, new: &Document) -> Vec<&'static str> {
    let Some(old) = old else {
        return vec!["title", "content", "format", "tags", "metadata"];
    };
    let mut changed = Vec::new();
    if old.title != new.title {
        changed.push("title");
    }
    if old.content_hash != new.content_hash {
        changed.push("content");
    }
    if old.format != new.format {
        changed.push("format");
    }
    if old.tags != new.tags {
        changed.push("tags");
    }
    if old.metadata != new.metadata {
        changed.push("metadata");
    }
    if old.archived_at != new.archived_at {
        changed.push("archived");
    }
    changed
}

pub fn record(event: &Event) -> Result<(), String> {
    let (doc, version, change_type, changed) = match event.kind.as_str() {
        "document.created" => {
            let doc = event
                .new_document()
                .ok_or("created event without a document")?;
            (doc, doc.version, "created", changed_fields(None, doc))
        }
        "document.updated" => {
            let doc = event
                .new_document()
                .ok_or("updated event without a document")?;
            (
                doc,
                doc.version,
                "updated",
                changed_fields(event.old_document(), doc),
            )
        }
        "document.deleted" => {
            // The history stays, closed by an entry one past the last.
            let doc = event
                .old_document()
                .ok_or("deleted event without a document")?;
            (doc, doc.version + 1, "deleted", Vec::new())
        }
        _ => return Ok(()),
    };
    insert(event, doc, version, change_type, &changed).map_err(|e| e.to_string())?;
    if change_type != "deleted" {
        retention::apply(&doc.collection_id, &doc.id, version).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn insert(
    event: &Event,
    doc: &Document,
    version: u64,
    change_type: &str,
    changed: &[&str],
) -> Result<(), HostError> {
    persistence::insert(
        MODEL,
        &[
            ("document_id", Value::Uuid(doc.id.clone())),
            ("collection_id", Value::Uuid(doc.collection_id.clone())),
            ("owner", doc.owner.as_str().into()),
            ("version", version.into()),
            ("title", doc.title.as_str().into()),
            ("content", doc.content.as_str().into()),
            ("format", doc.format.as_str().into()),
            ("tags", Value::json(&serde_json::json!(doc.tags))),
            ("metadata", Value::Json(doc.metadata.clone())),
            ("content_hash", doc.content_hash.as_str().into()),
            ("changed_fields", Value::json(&serde_json::json!(changed))),
            ("change_type", change_type.into()),
            (
                "actor",
                event.principal.as_ref().map(|p| p.id.clone()).into(),
            ),
            ("created_at", Value::Timestamp(event.occurred_at)),
        ],
    )?;
    Ok(())
}
