//! Aggregates over the core tables, within what the principal may see:
//! their own collections, and documents (or tags and statistics) of
//! collections they own, unless they are an admin.

use super::{Ctx, ModelError, scope_within_collection};
use crate::domain::{AggregateQuery, AggregateRow};
use crate::store::core_tables;
use crate::store::query::select::Scope;
use crate::store::read;

/// The core tables an aggregate can run over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreTable {
    Collections,
    Documents,
    DocumentTags,
    CollectionStats,
    TagCounts,
}

/// The groups of `query` over `table`, as `ctx`'s principal sees it.
pub async fn aggregate(
    ctx: &Ctx<'_>,
    table: CoreTable,
    query: &AggregateQuery,
) -> Result<Vec<AggregateRow>, ModelError> {
    let schema = match table {
        CoreTable::Collections => core_tables::collections(),
        CoreTable::Documents => core_tables::documents(),
        CoreTable::DocumentTags => core_tables::document_tags(),
        CoreTable::CollectionStats => core_tables::collection_stats(),
        CoreTable::TagCounts => core_tables::tag_counts(),
    };
    let scope = match table {
        CoreTable::Collections => Scope::for_principal(ctx.principal),
        _ => scope_within_collection(ctx.session, ctx.principal, &query.filter).await?,
    };
    Ok(read::aggregate(ctx.session, schema, query, scope.as_ref()).await?)
}
