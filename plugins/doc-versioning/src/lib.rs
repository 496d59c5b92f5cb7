//! # doc-versioning
//!
//! Every change of a document becomes a version, written by a
//! transactional hook in the same transaction as the change: no change is
//! ever committed without its version, and no version without its change.
//! Deleting a document keeps its history, closed by a `deleted` entry.
//!
//! Routes (same visibility as the document: its owner and admins):
//! - `GET /api/v1/documents/{id}/versions`: newest first, cursor-paginated,
//!   content only with `?include=content`;
//! - `GET /api/v1/documents/{id}/versions/{n}`;
//! - `GET /api/v1/documents/{id}/versions/{a}/diff/{b}`: a unified line
//!   diff of the content and a field diff of title, tags, metadata, format;
//! - `POST /api/v1/documents/{id}/versions/{n}/restore`: makes version n
//!   the current document as a new version, honouring `If-Match`;
//! - `GET|PUT /api/v1/collections/{id}/version-retention`: keep the newest
//!   N versions of each document (plus the first).
//!
//! The `document_version` model is exported read-only, so analytics can
//! count churn when the operator grants it.
//!
//! Layout: [`plugin`] (the manifest and handlers), [`model`] (the table),
//! [`hook`] (recording changes), [`routes`] (history, diff, restore),
//! [`retention`].

pub mod diff;
pub mod hook;
pub mod model;
pub mod plugin;
pub mod retention;
pub mod routes;

use kai_sdk::prelude::*;

/// This version of the plugin.
pub fn plugin() -> Plugin {
    plugin::build(env!("CARGO_PKG_VERSION"), model::document_version)
}

kai_sdk::plugin!(plugin);
