//! Upload to serving: the time from sending a plugin's `.wasm` to the
//! admin API until its route answers, compiled cold and from the compiled
//! cache (the same bytes removed and uploaded again).

use super::Section;
use crate::RunArgs;
use crate::load::median;
use crate::servers::{ChildServer, wasm};
use std::time::Instant;

/// Uploads `bytes` and waits until `name` serves the version uploaded.
async fn upload_to_serving(
    server: &ChildServer,
    token: &str,
    bytes: &[u8],
    name: &str,
) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = client
        .post(format!("{}/api/v1/admin/plugins?force=true", server.base))
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(bytes.to_vec())
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "install answered {}",
        response.status()
    );
    let report: serde_json::Value = response.json().await?;
    let version = report["version"].clone();
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} {version} did not start serving within 60 s"
        );
        let detail: serde_json::Value = client
            .get(format!("{}/api/v1/admin/plugins/{name}", server.base))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        if detail["version"] == version && detail["status"] == "active" {
            return Ok(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    let plugin = wasm("doc-versioning-next");
    let rounds = args.rounds.max(1);
    let (mut cold, mut cached) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let server = ChildServer::kai(&[]).await?;
        let token = server.admin_token()?;
        // An upgrade of the bundled doc-versioning: compiled for the first time.
        cold.push(upload_to_serving(&server, &token, &plugin, "doc-versioning").await?);
        // Back to the bundled version, then the same upgrade again: cached.
        reqwest::Client::new()
            .post(format!(
                "{}/api/v1/admin/plugins/doc-versioning/rollback",
                server.base
            ))
            .bearer_auth(&token)
            .send()
            .await?;
        cached.push(upload_to_serving(&server, &token, &plugin, "doc-versioning").await?);
    }
    let markdown = format!(
        "### Hot-load: upload to serving\n\n\
         The next minor version of doc-versioning ({} KiB of wasm, one model migration) uploaded to a running \
         server as an upgrade, timed from the start of the upload until the server reports it serving; median \
         of {rounds} rounds.\n\n\
         | | ms |\n|---|---:|\n| cold (compiled on upload) | {:.0} |\n| compiled cache hit | {:.0} |\n",
        plugin.len() / 1024,
        median(cold),
        median(cached),
    );
    Ok(Section {
        name: "hot_load".into(),
        markdown,
    })
}
