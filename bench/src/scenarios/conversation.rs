//! Conversation memory on a large SQLite database: one session of 100,000
//! messages and 900 more of 1,000 each (1,000,000 messages of 20 words, one
//! owner, the words drawn as in [`super::search`]). The rows are written
//! straight into the real tables between two starts of the server (the
//! database's own triggers index them); then, one request at a time:
//! a window of the last 50 messages of the big session through the REST
//! API and through the `memory-probe` plugin (`kai:fusion/memory`), a
//! window by token budget, and two-word message searches.

use super::search::{Lcg, word};
use super::{Member, Section, sequential_gets};
use crate::RunArgs;
use crate::servers::{ChildServer, wasm};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Executor};
use std::time::Instant;

const WORDS_PER_MESSAGE: usize = 20;
const OTHER_SESSION_MESSAGES: usize = 1_000;

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    let (big, others) = if args.smoke {
        (5_000, 5)
    } else {
        (100_000, 900)
    };
    let calls = if args.smoke { 5 } else { 200 };

    let server = ChildServer::kai(&[("memory-probe.wasm", wasm("memory-probe"))]).await?;
    let client = reqwest::Client::new();
    let member = Member::make(&server, "talker@example.com").await?;
    let session: Value = client
        .post(format!("{}/api/v1/memory/sessions", server.base))
        .bearer_auth(&member.token)
        .json(&json!({ "name": "long conversation" }))
        .send()
        .await?
        .json()
        .await?;
    let session = session["id"].as_str().unwrap_or_default().to_string();
    let data_dir = server.data_dir.clone();
    let server = server.stop_keeping_data();

    let started = Instant::now();
    let (mut conn, _) = super::bulk_writer(&data_dir).await?;
    let mut words = Lcg(7);
    fill(&mut conn, &mut words, &session, big).await?;
    for n in 0..others {
        let id = format!("00000000-0000-4000-9000-{n:012}");
        conn.execute(
            format!(
                "INSERT INTO memory_sessions (id, owner, name, plugin, metadata, next_seq, \
                 message_count, created_at, updated_at) \
                 VALUES ('{id}', '{}', 'other', '', '{{}}', 0, 0, 0, 0)",
                member.id
            )
            .as_str(),
        )
        .await?;
        fill(&mut conn, &mut words, &id, OTHER_SESSION_MESSAGES).await?;
    }
    conn.execute("ANALYZE").await?;
    conn.close().await?;
    let total = big + others * OTHER_SESSION_MESSAGES;
    eprintln!(
        "  generated and indexed {total} messages in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let server = server.restart().await?;
    let base = &server.base;
    let mut rows = Vec::new();
    let windows = [
        (
            "REST: last 50 (`GET /api/v1/memory/sessions/{id}/window?last=50`)",
            format!("{base}/api/v1/memory/sessions/{session}/window?last=50"),
        ),
        (
            "plugin: last 50 (`memory-probe`, `memory.read-window` through WIT)",
            format!("{base}/api/v1/memory-probe/conversations/{session}/window?last=50"),
        ),
        (
            "REST: newest within 2,000 tokens, system message pinned",
            format!(
                "{base}/api/v1/memory/sessions/{session}/window?max_tokens=2000&pin_system=true"
            ),
        ),
    ];
    for (label, url) in windows {
        let latency = sequential_gets(&client, &url, &member.token, calls).await?;
        let messages = latency.last["messages"]
            .as_array()
            .map(Vec::len)
            .or_else(|| latency.last["seqs"].as_array().map(Vec::len))
            .unwrap_or(0);
        rows.push(format!(
            "| {label} | {messages} | {:.2} | {:.2} |",
            latency.median_ms, latency.p99_ms
        ));
    }
    let mut searches = Vec::new();
    for (label, ranks) in [
        (
            "two words of middling frequency (ranks 60 and 90)",
            (60, 90),
        ),
        ("two rare words (ranks 2,000 and 3,000)", (2_000, 3_000)),
        ("two common words (ranks 5 and 8)", (5, 8)),
    ] {
        let url = format!(
            "{base}/api/v1/memory/messages:search?q={}+{}&limit=20",
            word(ranks.0),
            word(ranks.1)
        );
        let latency = sequential_gets(&client, &url, &member.token, calls / 2).await?;
        let found = latency.last["items"].as_array().map_or(0, Vec::len);
        searches.push(format!(
            "| {label} | {found} | {:.1} | {:.1} |",
            latency.median_ms, latency.p99_ms
        ));
    }
    drop(server);
    let markdown = format!(
        "### Conversation memory (SQLite)\n\n\
         One session of {big} messages among {total} messages of {WORDS_PER_MESSAGE} words, \
         one owner, read by the owner one request at a time ({calls} calls after one that warms \
         the cache). Target: a window of the last 50 under 5 ms at p99, through REST and \
         through a plugin.\n\n\
         | window | messages | median ms | p99 ms |\n|---|---:|---:|---:|\n{}\n\n\
         Message search, `GET /api/v1/memory/messages:search?q=<two words>&limit=20` over all \
         {total} messages, ranked, with snippets ({} calls each). Target: p99 under 100 ms.\n\n\
         | query | hits on the page | median ms | p99 ms |\n|---|---:|---:|---:|\n{}\n",
        rows.join("\n"),
        calls / 2,
        searches.join("\n")
    );
    Ok(Section {
        name: "conversation".into(),
        markdown,
    })
}

/// Appends `count` messages to session `id`, alternating user and
/// assistant, and moves its counters on.
async fn fill(
    conn: &mut AnyConnection,
    words: &mut Lcg,
    id: &str,
    count: usize,
) -> anyhow::Result<()> {
    const BATCH: usize = 500;
    let now = chrono::Utc::now().timestamp_micros();
    let mut tx = conn.begin().await?;
    for start in (0..count).step_by(BATCH) {
        let end = (start + BATCH).min(count);
        let mut sql = String::from(
            "INSERT INTO memory_messages (session_id, seq, role, content, metadata, tokens, \
             created_at) VALUES ",
        );
        for seq in start..end {
            let content: Vec<String> = (0..WORDS_PER_MESSAGE).map(|_| word(words.zipf())).collect();
            let content = content.join(" ");
            let role = if seq % 2 == 0 { "user" } else { "assistant" };
            if seq > start {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('{id}',{seq},'{role}','{content}','{{}}',{},{now})",
                content.len() / 4 + 4
            ));
        }
        tx.execute(sql.as_str()).await?;
    }
    tx.execute(
        format!(
            "UPDATE memory_sessions SET next_seq = {count}, message_count = {count} WHERE id = '{id}'"
        )
        .as_str(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
