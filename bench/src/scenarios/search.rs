//! Full-text search on a large SQLite database: 1,000,000 documents of 40
//! words each, drawn from a vocabulary of 5,000 words with a Zipf-like
//! spread (so some words are in most documents, most in few), owned by a
//! member. The documents are written straight into the real table between
//! two starts of the server (the database's own triggers index them), then
//! two-word queries are sent one at a time through the REST API and their
//! latency reported: common words (each in about half the documents),
//! words of middling frequency (one in fifteen) and rare ones (one in 500).

use super::{Member, Section, sequential_gets};
use crate::RunArgs;
use crate::servers::ChildServer;
use serde_json::json;
use sqlx::{AnyConnection, Connection, Executor};
use std::time::Instant;

pub(super) const VOCABULARY: usize = 5_000;
const WORDS_PER_DOCUMENT: usize = 40;

/// A small deterministic generator, so every run searches the same text.
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A word's rank, small ranks far more often (about 1/rank).
    pub(super) fn zipf(&mut self) -> usize {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((VOCABULARY as f64).powf(u) as usize).clamp(1, VOCABULARY) - 1
    }
}

pub(super) fn word(rank: usize) -> String {
    // Letters only, so each is one word to both engines.
    let mut n = rank + 1;
    let mut text = String::new();
    while n > 0 {
        text.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    format!("w{text}")
}

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    let documents = if args.smoke { 20_000 } else { 1_000_000 };
    let calls = if args.smoke { 5 } else { 100 };

    let server = ChildServer::kai(&[]).await?;
    let client = reqwest::Client::new();
    let Member { id: owner, token } = Member::make(&server, "reader@example.com").await?;
    let collection: serde_json::Value = client
        .post(format!("{}/api/v1/collections", server.base))
        .bearer_auth(&token)
        .json(&json!({ "name": "corpus" }))
        .send()
        .await?
        .json()
        .await?;
    let collection = collection["id"].as_str().unwrap_or_default().to_string();
    let data_dir = server.data_dir.clone();
    let server = server.stop_keeping_data();

    let started = Instant::now();
    let (mut conn, url) = super::bulk_writer(&data_dir).await?;
    fill(&mut conn, &collection, &owner, documents).await?;
    conn.execute("ANALYZE").await?;
    conn.close().await?;
    let db = kai_host::store::Db::connect(&url).await?;
    kai_host::store::stats::rebuild(&db).await?;
    db.close().await;
    eprintln!(
        "  generated and indexed {documents} documents in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let server = server.restart().await?;
    let mut rows = Vec::new();
    for (label, ranks) in [
        ("two common words (ranks 5 and 8)", (5, 8)),
        (
            "two words of middling frequency (ranks 60 and 90)",
            (60, 90),
        ),
        ("two rare words (ranks 2,000 and 3,000)", (2_000, 3_000)),
    ] {
        let query = format!("{} {}", word(ranks.0), word(ranks.1));
        let route = format!(
            "{}/api/v1/documents:search?q={}&limit=20",
            server.base,
            query.replace(' ', "+")
        );
        let latency = sequential_gets(&client, &route, &token, calls).await?;
        let found = latency.last["items"].as_array().map_or(0, Vec::len);
        rows.push(format!(
            "| {label} | {found} | {:.1} | {:.1} |",
            latency.median_ms, latency.p99_ms
        ));
    }
    drop(server);
    let markdown = format!(
        "### Full-text search (SQLite)\n\n\
         {documents} documents of {WORDS_PER_DOCUMENT} words from a vocabulary of {VOCABULARY} \
         (Zipf-like), one collection, searched by their owner through \
         `GET /api/v1/documents:search?q=<two words>&limit=20`: ranked, with snippets. {calls} \
         calls each, one at a time, after one that warms the cache. Target: p99 under 100 ms.\n\n\
         | query | hits on the page | median ms | p99 ms |\n|---|---:|---:|---:|\n{}\n",
        rows.join("\n")
    );
    Ok(Section {
        name: "search".into(),
        markdown,
    })
}

async fn fill(
    conn: &mut AnyConnection,
    collection: &str,
    owner: &str,
    count: usize,
) -> anyhow::Result<()> {
    const BATCH: usize = 500;
    let now = chrono::Utc::now().timestamp_micros();
    let mut words = Lcg(42);
    let mut tx = conn.begin().await?;
    for start in (0..count).step_by(BATCH) {
        let end = (start + BATCH).min(count);
        let mut sql = String::from(
            "INSERT INTO documents (id, collection_id, owner, title, content, format, content_hash, word_count, \
             size_bytes, version, created_at, updated_at, archived_at, tags, metadata) VALUES ",
        );
        for n in start..end {
            let id = format!("00000000-0000-4000-8000-{n:012}");
            let content: Vec<String> = (0..WORDS_PER_DOCUMENT)
                .map(|_| word(words.zipf()))
                .collect();
            let content = content.join(" ");
            let title = format!("{} {}", word(words.zipf()), word(words.zipf()));
            if n > start {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('{id}','{collection}','{owner}','{title}','{content}','txt','h',{WORDS_PER_DOCUMENT},{},1,{now},{now},NULL,'[]','{{}}')",
                content.len()
            ));
        }
        tx.execute(sql.as_str()).await?;
    }
    tx.commit().await?;
    Ok(())
}
