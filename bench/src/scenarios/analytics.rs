//! The collection-analytics route on a large SQLite database: one
//! collection of 1,000,000 documents with 3,000,000 versions, and one of
//! 10,000 documents, owned by a member. The data is written straight into
//! the real tables between two starts of the server; then the route is
//! called one request at a time and its latency reported.

use super::{Member, Section};
use crate::RunArgs;
use crate::load::median;
use crate::servers::ChildServer;
use serde_json::json;
use sqlx::{AnyConnection, Connection, Executor};
use std::time::Instant;

const DAY: i64 = 86_400_000_000;
const TAGS: usize = 50;

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    let (big, small, versions_per_doc) = if args.smoke {
        (20_000, 2_000, 3)
    } else {
        (1_000_000, 10_000, 3)
    };
    let calls = if args.smoke { 3 } else { 20 };

    // First start: schema, first admin, bundled plugins and their tables.
    let server = ChildServer::kai(&[]).await?;
    let client = reqwest::Client::new();
    let Member { id: owner, token } = Member::make(&server, "analyst@example.com").await?;
    let mut ids = Vec::new();
    for name in ["big", "small"] {
        let collection: serde_json::Value = client
            .post(format!("{}/api/v1/collections", server.base))
            .bearer_auth(&token)
            .json(&json!({ "name": name }))
            .send()
            .await?
            .json()
            .await?;
        ids.push(collection["id"].as_str().unwrap_or_default().to_string());
    }
    let data_dir = server.data_dir.clone();
    let server = server.stop_keeping_data();

    let started = Instant::now();
    let (mut conn, url) = super::bulk_writer(&data_dir).await?;
    let now = chrono::Utc::now().timestamp_micros();
    fill(&mut conn, &ids[0], &owner, big, versions_per_doc, now, 0).await?;
    fill(
        &mut conn,
        &ids[1],
        &owner,
        small,
        versions_per_doc,
        now,
        big,
    )
    .await?;
    conn.close().await?;
    // Written behind the host's back: recompute its per-collection statistics.
    let db = kai_host::store::Db::connect(&url).await?;
    kai_host::store::stats::rebuild(&db).await?;
    sqlx::query("ANALYZE").execute(db.writer()).await?;
    db.close().await;
    eprintln!(
        "  generated {big} + {small} documents and their versions in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let server = server.restart().await?;
    let mut rows = Vec::new();
    for (label, id, documents) in [
        ("1,000,000 documents, 3,000,000 versions", &ids[0], big),
        ("10,000 documents", &ids[1], small),
    ] {
        let route = format!("{}/api/v1/collections/{id}/analytics", server.base);
        let mut latencies = Vec::new();
        for _ in 0..calls + 1 {
            let sent = Instant::now();
            let response = client.get(&route).bearer_auth(&token).send().await?;
            let status = response.status();
            let body: serde_json::Value = response.json().await?;
            anyhow::ensure!(status.is_success(), "analytics answered {status}: {body}");
            anyhow::ensure!(
                body["documents"]["total"] == documents as i64,
                "wrong total: {}",
                body["documents"]
            );
            latencies.push(sent.elapsed());
        }
        latencies.remove(0); // the first call warms the page cache
        let ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        let worst = ms.iter().cloned().fold(0.0, f64::max);
        let label = if args.smoke {
            format!("{documents} documents (smoke)")
        } else {
            label.to_string()
        };
        rows.push(format!(
            "| {label} | {:.1} | {worst:.1} | {calls} |",
            median(ms.clone())
        ));
    }
    drop(server);
    let markdown = format!(
        "### Collection analytics (SQLite)\n\n\
         `GET /api/v1/collections/{{id}}/analytics` (default 30-day range) on one collection, one request at a time \
         after a warm-up call; the other collection and the versions table share the database.\n\n\
         | collection | median ms | worst ms | calls |\n|---|---:|---:|---:|\n{}\n",
        rows.join("\n")
    );
    Ok(Section {
        name: "analytics".into(),
        markdown,
    })
}

/// Inserts `count` documents (with tags and versions) into `collection`,
/// created over the last three years, in multi-row statements.
async fn fill(
    conn: &mut AnyConnection,
    collection: &str,
    owner: &str,
    count: usize,
    versions_per_doc: usize,
    now: i64,
    offset: usize,
) -> anyhow::Result<()> {
    const BATCH: usize = 500;
    let formats = ["txt", "md", "json", "html"];
    let mut tx = conn.begin().await?;
    for start in (0..count).step_by(BATCH) {
        let end = (start + BATCH).min(count);
        let mut documents = String::from(
            "INSERT INTO documents (id, collection_id, owner, title, content, format, content_hash, word_count, \
             size_bytes, version, created_at, updated_at, archived_at, tags, metadata) VALUES ",
        );
        let mut tags = String::from(
            "INSERT INTO document_tags (document_id, collection_id, owner, tag) VALUES ",
        );
        let mut versions = String::from(
            "INSERT INTO plg_doc_versioning_document_version (id, document_id, collection_id, owner, version, title, \
             content, format, tags, metadata, content_hash, changed_fields, change_type, actor, created_at) VALUES ",
        );
        for i in start..end {
            let n = offset + i;
            let id = format!("00000000-0000-4000-8000-{n:012}");
            let created =
                now - ((n * 7919) % (3 * 365)) as i64 * DAY - (n % 86_400) as i64 * 1_000_000;
            let updated = created + ((n * 31) % 30) as i64 * DAY;
            let version = 1 + (n % (2 * versions_per_doc)) as i64;
            let archived = if n.is_multiple_of(10) {
                updated.to_string()
            } else {
                "NULL".into()
            };
            let words = (n * 13) % 500;
            let (t1, t2) = ((n * 7) % TAGS, (n * 11 + 3) % TAGS);
            if i > start {
                documents.push(',');
                tags.push(',');
            }
            documents.push_str(&format!(
                "('{id}','{collection}','{owner}','document {n}','','{}','h',{words},{},{version},{created},{updated},{archived},'[\"t{t1}\",\"t{t2}\"]','{{}}')",
                formats[n % 4],
                words * 6
            ));
            tags.push_str(&format!("('{id}','{collection}','{owner}','t{t1}')"));
            if t2 != t1 {
                tags.push_str(&format!(",('{id}','{collection}','{owner}','t{t2}')"));
            }
            for v in 0..versions_per_doc {
                if i > start || v > 0 {
                    versions.push(',');
                }
                let at = created + v as i64 * ((n % 400) as i64 + 1) * DAY / 4;
                versions.push_str(&format!(
                    "('{n:08x}-{v:04x}-4000-8000-000000000000','{id}','{collection}','{owner}',{},'t','','txt','[]','{{}}','h','[]','updated',NULL,{at})",
                    v + 1
                ));
            }
        }
        tx.execute(documents.as_str()).await?;
        tx.execute(tags.as_str()).await?;
        tx.execute(versions.as_str()).await?;
    }
    tx.commit().await?;
    Ok(())
}
