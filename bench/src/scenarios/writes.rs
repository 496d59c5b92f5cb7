//! Document writes through the REST API on SQLite: creates per second and
//! updates per second, plain and with the `tx-hook` fixture subscribed
//! transactionally to every document event (so each write also runs a
//! plugin inside its transaction and inserts a row into the plugin's
//! table). The two configurations alternate round by round.

use super::Section;
use crate::RunArgs;
use crate::load::{self, Stats, median};
use crate::servers::{ChildServer, wasm};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

struct Measured {
    creates: Stats,
    updates: Stats,
}

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    let mut plain = Vec::new();
    let mut hooked = Vec::new();
    for round in 0..args.rounds {
        eprintln!("  round {}", round + 1);
        plain.push(measure(&args, false).await?);
        hooked.push(measure(&args, true).await?);
    }
    let row = |label: &str, runs: &[Measured]| {
        let creates = median(runs.iter().map(|m| m.creates.per_second).collect());
        let updates = median(runs.iter().map(|m| m.updates.per_second).collect());
        let c50 = median(runs.iter().map(|m| m.creates.p50_us as f64).collect());
        let c99 = median(runs.iter().map(|m| m.creates.p99_us as f64).collect());
        let u50 = median(runs.iter().map(|m| m.updates.p50_us as f64).collect());
        let u99 = median(runs.iter().map(|m| m.updates.p99_us as f64).collect());
        let errors: u64 = runs
            .iter()
            .map(|m| m.creates.errors + m.updates.errors)
            .sum();
        (
            creates,
            updates,
            format!(
                "| {label} | {creates:.0} | {:.2} / {:.2} | {updates:.0} | {:.2} / {:.2} | {errors} |",
                c50 / 1000.0,
                c99 / 1000.0,
                u50 / 1000.0,
                u99 / 1000.0
            ),
        )
    };
    let (plain_c, plain_u, plain_row) = row("no hook", &plain);
    let (hook_c, hook_u, hook_row) = row("transactional hook (tx-hook)", &hooked);
    let markdown = format!(
        "### Document writes through the REST API (SQLite)\n\n\
         {} connections, {} s per measurement after a 1 s warm-up, median of {} rounds.\n\n\
         | configuration | creates/s | create p50 / p99 ms | updates/s | update p50 / p99 ms | errors |\n\
         |---|---:|---:|---:|---:|---:|\n{plain_row}\n{hook_row}\n\n\
         With the hook: creates at {:.2}x and updates at {:.2}x the plain rate.\n",
        args.connections,
        args.seconds,
        args.rounds,
        hook_c / plain_c.max(1.0),
        hook_u / plain_u.max(1.0),
    );
    Ok(Section {
        name: "writes".into(),
        markdown,
    })
}

async fn measure(args: &RunArgs, with_hook: bool) -> anyhow::Result<Measured> {
    let plugins = if with_hook {
        vec![("tx-hook.wasm", wasm("tx-hook"))]
    } else {
        Vec::new()
    };
    let server = ChildServer::kai(&plugins).await?;
    let token = server.admin_token()?;
    let client = reqwest::Client::new();
    let collection: serde_json::Value = client
        .post(format!("{}/api/v1/collections", server.base))
        .bearer_auth(&token)
        .json(&json!({ "name": "bench" }))
        .send()
        .await?
        .json()
        .await?;
    let collection = collection["id"].as_str().unwrap_or_default().to_string();
    let create_url = Arc::new(format!(
        "{}/api/v1/collections/{collection}/documents",
        server.base
    ));
    let warmup = Duration::from_secs(1);
    let duration = Duration::from_secs(args.seconds);

    let creates = {
        let (client, token, url) = (client.clone(), token.clone(), create_url.clone());
        load::run(args.connections, warmup, duration, move |worker, seq| {
            let request = client
                .post(url.as_str())
                .bearer_auth(&token)
                .json(&json!({ "title": format!("w{worker} n{seq}"), "content": "some words of content", "tags": ["bench"] }));
            async move { request.send().await.is_ok_and(|r| r.status().as_u16() == 201) }
        })
        .await
    };

    // One document per worker, updated over and over.
    let mut targets = Vec::new();
    for worker in 0..args.connections {
        let doc: serde_json::Value = client
            .post(create_url.as_str())
            .bearer_auth(&token)
            .json(&json!({ "title": format!("target {worker}"), "content": "start" }))
            .send()
            .await?
            .json()
            .await?;
        targets.push(format!(
            "{}/api/v1/documents/{}",
            server.base,
            doc["id"].as_str().unwrap_or_default()
        ));
    }
    let targets = Arc::new(targets);
    let updates = {
        let (client, token) = (client.clone(), token.clone());
        load::run(args.connections, warmup, duration, move |worker, seq| {
            let request = client
                .patch(targets[worker].as_str())
                .bearer_auth(&token)
                .json(&json!({ "content": format!("revision {seq}") }));
            async move {
                request
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 200)
            }
        })
        .await
    };
    Ok(Measured { creates, updates })
}
