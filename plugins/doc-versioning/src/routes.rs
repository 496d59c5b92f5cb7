//! History, single versions, diffs and restore. Visibility follows the
//! document's: a caller sees a history only if they own the document (its
//! owner is recorded in every version, so this holds after deletion) or
//! are an admin; anyone else gets 404.

use crate::diff;
use crate::model::{self, MODEL};
use kai_sdk::persistence::{Record, Select};
use kai_sdk::prelude::*;

/// A version number from the path.
fn number(req: &Request, name: &str) -> Result<i64, Error> {
    req.param(name)?
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            Error::bad_request(format!("path parameter `{name}` must be a version number"))
        })
}

/// The document id from the path, checked as a UUID.
fn document_id(req: &Request) -> Result<String, Error> {
    req.param_uuid("id")
}

fn of_document(id: &str) -> Filter {
    Filter::eq("document_id", Value::Uuid(id.to_string()))
}

/// 404 unless the caller may see the history of `id`.
fn check_visible(req: &Request, id: &str) -> Result<(), Error> {
    let principal = req.require_principal()?;
    let latest = Select::from(MODEL)
        .filter(of_document(id))
        .order(desc("version"))
        .limit(1)
        .fields(&["owner"])
        .fetch()?;
    let visible = latest.row(0).is_some_and(|r| {
        principal.roles.iter().any(|role| role == "admin")
            || r.str("owner") == Some(principal.id.as_str())
    });
    if visible {
        Ok(())
    } else {
        Err(Error::not_found(format!("document {id} not found")))
    }
}

fn version(id: &str, n: i64) -> Result<Record, Error> {
    let page = Select::from(MODEL)
        .filter(of_document(id).and(Filter::eq("version", n)))
        .limit(1)
        .fetch()?;
    page.row(0)
        .map(|row| row.to_record())
        .ok_or_else(|| Error::not_found(format!("document {id} has no version {n}")))
}

/// `GET /api/v1/documents/{id}/versions`
pub fn list(req: &Request) -> Result<Response, Error> {
    let id = document_id(req)?;
    check_visible(req, &id)?;
    let include_content = match req.query("include") {
        None => false,
        Some("content") => true,
        Some(other) => {
            return Err(Error::bad_request(format!(
                "include=`{other}` is not supported (use include=content)"
            )));
        }
    };
    let limit = match req.query("limit") {
        None => 50,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| Error::bad_request("limit must be 1 to 1000"))?,
    };
    let mut fields = model::SHOWN_FIELDS.to_vec();
    if include_content {
        fields.push("content");
    }
    let page = Select::from(MODEL)
        .filter(of_document(&id))
        .order(desc("version"))
        .limit(limit)
        .cursor(req.query("cursor").map(str::to_string))
        .fields(&fields)
        .fetch()?;
    // Written straight from the columns: no JSON tree, JSON fields as stored.
    Ok(Response::json_bytes(200, page.json_page().to_vec()))
}

/// `GET /api/v1/documents/{id}/versions/{n}`
pub fn get(req: &Request) -> Result<Response, Error> {
    let id = document_id(req)?;
    check_visible(req, &id)?;
    let record = version(&id, number(req, "n")?)?;
    Response::json(200, &model::to_json(&record, true))
}

/// `GET /api/v1/documents/{id}/versions/{a}/diff/{b}`
pub fn diff(req: &Request) -> Result<Response, Error> {
    let id = document_id(req)?;
    check_visible(req, &id)?;
    let a = version(&id, number(req, "a")?)?;
    let b = version(&id, number(req, "b")?)?;
    Response::json(200, &diff::between(&a, &b))
}

/// `POST /api/v1/documents/{id}/versions/{n}/restore`: version n's title,
/// content, format, tags and metadata become the document again, as a new
/// version (history is never rewritten). `If-Match` names the current
/// version the caller expects.
pub fn restore(req: &Request) -> Result<Response, Error> {
    let id = document_id(req)?;
    check_visible(req, &id)?;
    let n = number(req, "n")?;
    let source = version(&id, n)?;
    if source.str("change_type") == Some("deleted") {
        return Err(Error::conflict("a deletion entry cannot be restored"));
    }
    let expected = match req.header("if-match") {
        None => None,
        Some(tag) => Some(
            tag.trim_start_matches("W/")
                .trim_matches('"')
                .parse::<u64>()
                .map_err(|_| {
                    Error::bad_request(format!(
                        "If-Match: `{tag}` is not an entity tag such as \"3\""
                    ))
                })?,
        ),
    };
    let tags: Vec<String> =
        serde_json::from_value(source.get("tags").to_json()).unwrap_or_default();
    let mut patch = models::patch();
    patch.title = source.str("title").map(str::to_string);
    patch.content = source.str("content").map(str::to_string);
    patch.format = source.str("format").map(str::to_string);
    patch.tags = Some(tags);
    patch.metadata = source.str("metadata").map(str::to_string);
    let document = match models::update_document(&id, &patch, expected) {
        Ok(document) => document,
        Err(HostError::Conflict(message)) if message.contains("version mismatch") => {
            return Err(Error::new(412, "precondition_failed", message));
        }
        // Gone meanwhile (404), or not valid as a document now (422).
        Err(other) => return Err(other.expose()),
    };
    // The hook recorded the new version as an update; say what it was.
    let restored = version(&id, document.version as i64)?;
    if restored.str("change_type") == Some("updated") {
        persistence::update(
            MODEL,
            &restored.id,
            &[
                ("change_type", "restored".into()),
                ("restored_from", n.into()),
            ],
        )?;
    }
    let current = version(&id, document.version as i64)?;
    Response::json(200, &model::to_json(&current, false))
        .map(|r| r.with_header("etag", format!("\"{}\"", document.version)))
}
