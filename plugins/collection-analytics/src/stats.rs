//! The aggregate queries. Each is one SQL statement run by the host over
//! the rows the caller may see; `base` narrows them (to a collection).

use crate::range::{DAY, date, day_start};
use kai_sdk::models::Queryable;
use kai_sdk::prelude::*;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

/// Counts, sizes and words, in total and by format, from the host's
/// per-collection statistics (a few rows whatever the collection's size).
pub fn documents(base: &Filter) -> Result<Json, HostError> {
    let rows = models::aggregate(
        Queryable::CollectionStats,
        Aggregation::new()
            .filter(base.clone())
            .group_by("format")
            .group_by("archived")
            .sum("documents")
            .sum("size_bytes")
            .sum("word_count"),
    )?;
    let (mut total, mut archived, mut size, mut words) = (0i64, 0i64, 0i64, 0i64);
    let mut by_format = serde_json::Map::new();
    for row in &rows {
        let count = row.values[0].as_i64().unwrap_or(0);
        if count == 0 {
            continue;
        }
        total += count;
        if row.keys[1].as_bool() == Some(true) {
            archived += count;
        }
        size += row.values[1].as_i64().unwrap_or(0);
        words += row.values[2].as_i64().unwrap_or(0);
        let format = row.keys[0].as_str().unwrap_or("").to_string();
        let so_far = by_format.get(&format).and_then(Json::as_i64).unwrap_or(0);
        by_format.insert(format, (so_far + count).into());
    }
    let average = |sum: i64| {
        if total == 0 {
            0.0
        } else {
            sum as f64 / total as f64
        }
    };
    Ok(json!({
        "documents": { "total": total, "active": total - archived, "archived": archived },
        "size_bytes": { "total": size, "average": average(size) },
        "word_count": { "total": words, "average": average(words) },
        "by_format": by_format,
    }))
}

/// The most used tags, with counts, from the host's tag statistics.
pub fn top_tags(base: &Filter, limit: u32) -> Result<Json, HostError> {
    let rows = models::aggregate(
        Queryable::TagCounts,
        Aggregation::new()
            .filter(base.clone().and(Filter::gt("documents", 0i64)))
            .group_by("tag")
            .sum("documents")
            .order_by_aggregate(0, true)
            .limit(limit),
    )?;
    Ok(rows
        .iter()
        .map(|r| json!({ "tag": r.keys[0].to_json(), "count": r.values[0].to_json() }))
        .collect())
}

/// Rows per UTC day of `field` within `[from, to)`.
fn per_day(
    model: Queryable,
    base: &Filter,
    field: &str,
    from: i64,
    to: i64,
) -> Result<BTreeMap<i64, i64>, HostError> {
    let rows = models::aggregate(
        model,
        Aggregation::new()
            .filter(
                base.clone()
                    .and(Filter::ge(field, Value::Timestamp(from)))
                    .and(Filter::lt(field, Value::Timestamp(to))),
            )
            .bucket(field, TimeBucket::Day)
            .count(),
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.keys[0].as_i64()?, r.values[0].as_i64()?)))
        .collect())
}

/// Per day, every day of the range listed: the documents created that day,
/// and the documents whose latest change (their creation, if never changed
/// since) was that day. A document counts once in `last_changed`, however
/// often it changed; every change is a version in `churn.versions_per_day`.
pub fn activity(base: &Filter, from: i64, to: i64) -> Result<Json, HostError> {
    let created = per_day(Queryable::Documents, base, "created_at", from, to)?;
    let last_changed = per_day(Queryable::Documents, base, "updated_at", from, to)?;
    let mut series = Vec::new();
    let mut day = day_start(from);
    while day < to {
        series.push(json!({
            "date": date(day),
            "created": created.get(&day).copied().unwrap_or(0),
            "last_changed": last_changed.get(&day).copied().unwrap_or(0),
        }));
        day += DAY;
    }
    Ok(json!(series))
}

/// The documents with the most versions (highest version number).
pub fn most_edited(base: &Filter, limit: u32) -> Result<Json, HostError> {
    let page = models::query_documents(
        &base.clone().and(Filter::gt("version", 1i64)),
        &[desc("version")],
        limit,
        None,
    )?;
    Ok(page
        .items
        .iter()
        .map(|d| json!({ "id": d.id, "title": d.title, "version": d.version, "edits": d.version - 1 }))
        .collect())
}

/// Versions written per day (every creation, change, restore and deletion
/// is one) and the most versioned documents in the range, from
/// doc-versioning's exported model; unavailable when that model is not
/// readable (the host's reason goes to the log). Another plugin's model is not scoped by the
/// host: within a collection the caller may see (checked by the route)
/// every row is theirs; across collections, members see their own rows.
pub fn churn(collection: Option<&str>, viewer: &Principal, from: i64, to: i64) -> Json {
    const MODEL: &str = "doc-versioning/document_version";
    let mut filter = Filter::ge("created_at", Value::Timestamp(from))
        .and(Filter::lt("created_at", Value::Timestamp(to)));
    if let Some(collection) = collection {
        filter = filter.and(Filter::eq("collection_id", Value::Uuid(collection.into())));
    }
    if collection.is_none() && !viewer.roles.iter().any(|r| r == "admin") {
        filter = filter.and(Filter::eq("owner", viewer.id.as_str()));
    }
    let per_day = persistence::aggregate(
        MODEL,
        Aggregation::new()
            .filter(filter.clone())
            .bucket("created_at", TimeBucket::Day)
            .count(),
    );
    let per_day = match per_day {
        Ok(rows) => rows,
        Err(error) => return unavailable(&error),
    };
    let most = persistence::aggregate(
        MODEL,
        Aggregation::new()
            .filter(filter)
            .group_by("document_id")
            .count()
            .order_by_aggregate(0, true)
            .limit(10),
    );
    match most {
        Ok(rows) => json!({
            "available": true,
            "versions_per_day": per_day
                .iter()
                .map(|r| json!({ "date": date(r.keys[0].as_i64().unwrap_or(0)), "versions": r.values[0].to_json() }))
                .collect::<Vec<_>>(),
            "most_versioned": rows
                .iter()
                .map(|r| json!({ "document_id": r.keys[0].to_json(), "versions": r.values[0].to_json() }))
                .collect::<Vec<_>>(),
        }),
        Err(error) => unavailable(&error),
    }
}

/// Churn without doc-versioning's history: why, for the client in general
/// terms and for the operator in the log.
fn unavailable(error: &HostError) -> Json {
    log::warn(&format!("version history unavailable: {error}"));
    json!({
        "available": false,
        "reason": "version history is not available: the doc-versioning plugin is not installed, or its history was not granted to this plugin",
    })
}

/// Documents per collection, most first.
pub fn per_collection(limit: u32) -> Result<Vec<(String, i64)>, HostError> {
    let rows = models::aggregate(
        Queryable::Documents,
        Aggregation::new()
            .group_by("collection_id")
            .count()
            .order_by_aggregate(0, true)
            .limit(limit),
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.keys[0].as_str()?.to_string(), r.values[0].as_i64()?)))
        .collect())
}

/// How many collections the caller has.
pub fn collections() -> Result<i64, HostError> {
    let rows = models::aggregate(Queryable::Collections, Aggregation::new().count())?;
    Ok(rows.first().and_then(|r| r.values[0].as_i64()).unwrap_or(0))
}
