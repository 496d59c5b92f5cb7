//! One module per measurement. Each returns a markdown section for the
//! report.
//!
//! - [`hello`]: the hello plugin against a native axum route.
//! - [`data`]: doc-versioning's read and a hooked update against native SQL.
//! - [`writes`]: document create/update throughput through the REST API
//!   on SQLite, with and without a transactional hook plugin.
//! - [`memory`]: resident memory idle and under 64 concurrent requests.
//! - [`hot_load`]: upload-to-serving time, cold and from the cache.
//! - [`analytics`]: the collection-analytics route on 10,000 and 1,000,000
//!   documents.
//! - [`state`]: checkpoints put by compare-and-swap, plugin against native.
//! - [`search`]: full-text search over 1,000,000 documents.
//! - [`conversation`]: memory windows in a session of 100,000 messages and
//!   search over 1,000,000 messages.
//! - [`workflows`]: workflow step throughput, run latency, and a queue of
//!   10,000 runs.

pub mod analytics;
pub mod conversation;
pub mod data;
pub mod hello;
pub mod hot_load;
pub mod memory;
pub mod search;
pub mod state;
pub mod workflows;
pub mod writes;

use crate::RunArgs;
use crate::load::median;
use crate::servers::ChildServer;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::time::Instant;

/// A connection that writes generated rows straight into the server's
/// SQLite database (while the server is stopped), without syncing each
/// transaction; and the database's URL.
pub async fn bulk_writer(
    data_dir: &std::path::Path,
) -> anyhow::Result<(sqlx::AnyConnection, String)> {
    use sqlx::{Connection, Executor};
    let url = format!("sqlite://{}?mode=rwc", data_dir.join("kai.db").display());
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await?;
    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")
        .await?;
    Ok((conn, url))
}

/// A member made for a scenario: their user id and an API token.
pub struct Member {
    pub id: String,
    pub token: String,
}

impl Member {
    /// Makes the member `email` through the admin API of `server`.
    pub async fn make(server: &ChildServer, email: &str) -> anyhow::Result<Member> {
        let admin = server.admin_token()?;
        let client = reqwest::Client::new();
        let user: Value = client
            .post(format!("{}/api/v1/users", server.base))
            .bearer_auth(&admin)
            .json(&json!({ "email": email }))
            .send()
            .await?
            .json()
            .await?;
        let id = user["id"].as_str().unwrap_or_default().to_string();
        let token: Value = client
            .post(format!("{}/api/v1/tokens", server.base))
            .bearer_auth(&admin)
            .json(&json!({ "name": "bench", "user_id": id }))
            .send()
            .await?
            .json()
            .await?;
        let token = token["token"].as_str().unwrap_or_default().to_string();
        Ok(Member { id, token })
    }
}

/// Latencies of `calls` GETs of `url`, one at a time, after one that warms
/// the cache; `check` vets each answer's JSON.
pub struct Latency {
    pub median_ms: f64,
    pub p99_ms: f64,
    /// The last answer.
    pub last: Value,
}

pub async fn sequential_gets(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    calls: usize,
) -> anyhow::Result<Latency> {
    let mut ms = Vec::new();
    let mut last = Value::Null;
    for _ in 0..calls + 1 {
        let sent = Instant::now();
        let response = client.get(url).bearer_auth(token).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
        ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        last = body;
    }
    ms.remove(0);
    let mut sorted = ms.clone();
    sorted.sort_by(f64::total_cmp);
    let p99 = sorted[((sorted.len() as f64 * 0.99).ceil() as usize).clamp(1, sorted.len()) - 1];
    Ok(Latency {
        median_ms: median(ms),
        p99_ms: p99,
        last,
    })
}

/// A measured section of the report.
pub struct Section {
    /// The scenario's name (its markers in the report).
    pub name: String,
    pub markdown: String,
}

pub struct Scenario {
    pub name: &'static str,
    pub run: fn(RunArgs) -> BoxFuture<'static, anyhow::Result<Section>>,
}

pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "hello",
            run: |args| Box::pin(hello::run(args)),
        },
        Scenario {
            name: "data",
            run: |args| Box::pin(data::run(args)),
        },
        Scenario {
            name: "writes",
            run: |args| Box::pin(writes::run(args)),
        },
        Scenario {
            name: "analytics",
            run: |args| Box::pin(analytics::run(args)),
        },
        Scenario {
            name: "search",
            run: |args| Box::pin(search::run(args)),
        },
        Scenario {
            name: "conversation",
            run: |args| Box::pin(conversation::run(args)),
        },
        Scenario {
            name: "workflows",
            run: |args| Box::pin(workflows::run(args)),
        },
        Scenario {
            name: "state",
            run: |args| Box::pin(state::run(args)),
        },
        Scenario {
            name: "memory",
            run: |args| Box::pin(memory::run(args)),
        },
        Scenario {
            name: "hot_load",
            run: |args| Box::pin(hot_load::run(args)),
        },
    ]
}
