//! Per-collection statistics (`collection_stats`, `collection_tag_counts`),
//! kept exact by adding and removing each document's contribution in the
//! transaction of every change. They let statistics over a collection of a
//! million documents read a few rows instead of scanning it.

use crate::domain::Document;
use sqlx::AnyConnection;

/// Adds (`sign` = 1) or removes (`sign` = -1) a document's contribution.
pub async fn apply(conn: &mut AnyConnection, doc: &Document, sign: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO collection_stats (collection_id, owner, format, archived, documents, size_bytes, word_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (collection_id, format, archived) DO UPDATE SET \
         documents = collection_stats.documents + excluded.documents, \
         size_bytes = collection_stats.size_bytes + excluded.size_bytes, \
         word_count = collection_stats.word_count + excluded.word_count",
    )
    .bind(&doc.collection_id)
    .bind(&doc.owner)
    .bind(&doc.format)
    .bind(i64::from(doc.archived_at.is_some()))
    .bind(sign)
    .bind(sign * doc.size_bytes)
    .bind(sign * doc.word_count)
    .execute(&mut *conn)
    .await?;
    for tag in &doc.tags {
        tag_count(conn, doc, tag, sign).await?;
    }
    Ok(())
}

/// Moves a document's contribution from `old` to `new`, touching only
/// what changed.
pub async fn replace(
    conn: &mut AnyConnection,
    old: &Document,
    new: &Document,
) -> Result<(), sqlx::Error> {
    let same_bucket = old.format == new.format
        && old.archived_at.is_some() == new.archived_at.is_some()
        && old.size_bytes == new.size_bytes
        && old.word_count == new.word_count;
    if same_bucket && old.tags == new.tags {
        return Ok(());
    }
    if !same_bucket {
        let (mut old_only, mut new_only) = (old.clone(), new.clone());
        old_only.tags.clear();
        new_only.tags.clear();
        apply(conn, &old_only, -1).await?;
        apply(conn, &new_only, 1).await?;
    }
    for tag in old.tags.iter().filter(|t| !new.tags.contains(t)) {
        tag_count(conn, old, tag, -1).await?;
    }
    for tag in new.tags.iter().filter(|t| !old.tags.contains(t)) {
        tag_count(conn, new, tag, 1).await?;
    }
    Ok(())
}

async fn tag_count(
    conn: &mut AnyConnection,
    doc: &Document,
    tag: &str,
    sign: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO collection_tag_counts (collection_id, owner, tag, documents) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (collection_id, tag) DO UPDATE SET documents = collection_tag_counts.documents + excluded.documents",
    )
    .bind(&doc.collection_id)
    .bind(&doc.owner)
    .bind(tag)
    .bind(sign)
    .execute(&mut *conn)
    .await?;
    if sign < 0 {
        sqlx::query("DELETE FROM collection_tag_counts WHERE collection_id = $1 AND tag = $2 AND documents <= 0")
            .bind(&doc.collection_id)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Recomputes every statistic from the documents (after documents were
/// written by other means, such as a bulk import straight into the table).
pub async fn rebuild(db: &super::Db) -> Result<(), sqlx::Error> {
    let mut tx = db.writer().begin().await?;
    sqlx::query("DELETE FROM collection_stats")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM collection_tag_counts")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO collection_stats (collection_id, owner, format, archived, documents, size_bytes, word_count) \
         SELECT collection_id, owner, format, CASE WHEN archived_at IS NULL THEN 0 ELSE 1 END, \
         COUNT(*), SUM(size_bytes), SUM(word_count) FROM documents \
         GROUP BY collection_id, owner, format, CASE WHEN archived_at IS NULL THEN 0 ELSE 1 END",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO collection_tag_counts (collection_id, owner, tag, documents) \
         SELECT collection_id, owner, tag, COUNT(*) FROM document_tags GROUP BY collection_id, owner, tag",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
