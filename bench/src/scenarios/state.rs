//! Checkpoints put by compare-and-swap on SQLite, plugin against native:
//! the `state-probe` fixture's step (`POST .../threads/{id}/advance`: read
//! the newest checkpoint and put the next on top of it through
//! `kai:fusion/state`) against a native axum handler running the same SQL
//! (token check, the thread and its newest checkpoint, then the head's
//! compare-and-swap and the insert in one transaction) on the same database
//! file. Also the REST put (`POST /api/v1/state/threads/{id}/checkpoints`),
//! each worker naming the head its previous put answered. One thread per
//! connection, so no put loses a race; servers alternate round by round.

use super::Section;
use crate::RunArgs;
use crate::load::{self, Stats, median};
use crate::servers::{ChildServer, wasm};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    let server = ChildServer::kai(&[("state-probe.wasm", wasm("state-probe"))]).await?;
    let token = Arc::new(server.admin_token()?);
    let client = reqwest::Client::new();
    let mut plugin_threads = Vec::new();
    let mut rest_threads = Vec::new();
    for _ in 0..args.connections {
        let made: Value = client
            .post(format!("{}/api/v1/state-probe/threads", server.base))
            .bearer_auth(token.as_str())
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        plugin_threads.push(made["id"].as_str().unwrap_or_default().to_string());
        let made: Value = client
            .post(format!("{}/api/v1/state/threads", server.base))
            .bearer_auth(token.as_str())
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        rest_threads.push(made["id"].as_str().unwrap_or_default().to_string());
    }
    let plugin_threads = Arc::new(plugin_threads);
    let rest_threads = Arc::new(rest_threads);
    // The head each REST worker's thread is at, from its last answer.
    let heads: Arc<Vec<Mutex<Option<String>>>> =
        Arc::new((0..args.connections).map(|_| Mutex::new(None)).collect());
    let database = server.data_dir.join("kai.db");

    let mut stopped = server.stop_keeping_data();
    let (mut plugin, mut rest, mut native) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.rounds {
        eprintln!("  round {}", round + 1);
        let kai = stopped.restart().await?;
        plugin.push(advance(&args, &kai.base, &token, &plugin_threads).await);
        rest.push(rest_puts(&args, &kai.base, &token, &rest_threads, &heads).await);
        stopped = kai.stop_keeping_data();
        let baseline = ChildServer::native(Some(&database)).await?;
        native.push(advance(&args, &baseline.base, &token, &plugin_threads).await);
    }
    let base = median(native.iter().map(|s| s.per_second).collect());
    let row = |label: &str, runs: &[Stats]| {
        let rps = median(runs.iter().map(|s| s.per_second).collect());
        let p50 = median(runs.iter().map(|s| s.p50_us as f64).collect()) / 1000.0;
        let p99 = median(runs.iter().map(|s| s.p99_us as f64).collect()) / 1000.0;
        let errors: u64 = runs.iter().map(|s| s.errors).sum();
        format!(
            "| {label} | {rps:.0} | {p50:.2} | {p99:.2} | {errors} | {:.2}x |",
            rps / base.max(1.0)
        )
    };
    let markdown = format!(
        "### Checkpoints by compare-and-swap: plugin against native SQL (SQLite)\n\n\
         One thread per connection, {} connections, {} s per measurement after a 1 s warm-up, \
         median of {} alternating rounds. A step reads the thread's newest checkpoint and puts \
         the next on top of it; all authenticate the bearer token. Target: the plugin at 0.8x \
         native or better.\n\n\
         | route | steps/s | p50 ms | p99 ms | errors | vs native |\n|---|---:|---:|---:|---:|---:|\n\
         {}\n{}\n{}\n",
        args.connections,
        args.seconds,
        args.rounds,
        row("native: read newest + compare-and-swap put", &native),
        row("state-probe plugin: `latest` + `put` through WIT", &plugin),
        row("REST put naming the head (no read)", &rest),
    );
    Ok(Section {
        name: "state".into(),
        markdown,
    })
}

/// Steps `POST .../threads/{id}/advance`, worker `i` on thread `i`.
async fn advance(
    args: &RunArgs,
    base: &str,
    token: &Arc<String>,
    threads: &Arc<Vec<String>>,
) -> Stats {
    let client = reqwest::Client::new();
    let (base, token, threads) = (base.to_string(), token.clone(), threads.clone());
    load::run(
        args.connections,
        Duration::from_secs(1),
        Duration::from_secs(args.seconds),
        move |worker, _| {
            let request = client
                .post(format!(
                    "{base}/api/v1/state-probe/threads/{}/advance",
                    threads[worker]
                ))
                .bearer_auth(token.as_str());
            async move {
                request
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 201)
            }
        },
    )
    .await
}

/// REST puts, each naming the head the worker's previous put answered.
async fn rest_puts(
    args: &RunArgs,
    base: &str,
    token: &Arc<String>,
    threads: &Arc<Vec<String>>,
    heads: &Arc<Vec<Mutex<Option<String>>>>,
) -> Stats {
    let client = reqwest::Client::new();
    let (base, token, threads, heads) = (
        base.to_string(),
        token.clone(),
        threads.clone(),
        heads.clone(),
    );
    load::run(
        args.connections,
        Duration::from_secs(1),
        Duration::from_secs(args.seconds),
        move |worker, seq| {
            let parent = heads[worker].lock().unwrap().clone();
            let request = client
                .post(format!(
                    "{base}/api/v1/state/threads/{}/checkpoints",
                    threads[worker]
                ))
                .bearer_auth(token.as_str())
                .json(&json!({ "parent_id": parent, "values": { "n": seq } }));
            let heads = heads.clone();
            async move {
                let Ok(response) = request.send().await else {
                    return false;
                };
                if response.status().as_u16() != 201 {
                    return false;
                }
                let Ok(body) = response.json::<Value>().await else {
                    return false;
                };
                *heads[worker].lock().unwrap() = body["id"].as_str().map(str::to_string);
                true
            }
        },
    )
    .await
}
