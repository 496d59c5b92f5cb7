//! Data routes on SQLite, plugin against native: doc-versioning's history
//! read (`GET /api/v1/documents/{id}/versions`) and a document update that
//! runs the transactional versioning hook, against a native axum handler
//! running the same SQL (token check, visibility, page; or update plus
//! version row in one transaction) on the same database file.
//!
//! Reads and writes use separate documents: the updates grow the histories
//! they touch, and a read measured later would otherwise page through more
//! rows than one measured earlier, favouring whichever server reads first.
//!
//! Updates are measured twice per round: on a freshly started server, and
//! on the same process right after its read load. The two differ for the
//! plugin host, so both are reported.

use super::Section;
use crate::RunArgs;
use crate::load::{Stats, median};
use crate::load_wrk;
use crate::servers::ChildServer;
use serde_json::json;

/// Documents in each of the two sets (read, written).
const DOCUMENTS: usize = 64;

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    if !load_wrk::available() {
        return Ok(Section {
            name: "data".into(),
            markdown:
                "### Data routes\n\nSkipped: this scenario needs `wrk` (Debian package `wrk`).\n"
                    .into(),
        });
    }
    let server = ChildServer::kai(&[]).await?;
    let token = server.admin_token()?;
    let client = reqwest::Client::new();
    let collection: serde_json::Value = client
        .post(format!("{}/api/v1/collections", server.base))
        .bearer_auth(&token)
        .json(&json!({ "name": "data" }))
        .send()
        .await?
        .json()
        .await?;
    let collection_id = collection["id"].as_str().unwrap_or_default();
    let mut ids = Vec::new();
    for i in 0..2 * DOCUMENTS {
        let doc: serde_json::Value = client
            .post(format!("{}/api/v1/collections/{collection_id}/documents", server.base))
            .bearer_auth(&token)
            .json(&json!({ "title": format!("doc {i}"), "content": "some content", "tags": ["a", "b"] }))
            .send()
            .await?
            .json()
            .await?;
        let id = doc["id"].as_str().unwrap_or_default().to_string();
        for v in 0..10 {
            client
                .patch(format!("{}/api/v1/documents/{id}", server.base))
                .bearer_auth(&token)
                .json(&json!({ "content": format!("revision {v}") }))
                .send()
                .await?;
        }
        ids.push(id);
    }
    let (read_ids, write_ids) = ids.split_at(DOCUMENTS);
    let database = server.data_dir.join("kai.db");
    let scripts = tempfile::tempdir()?;
    let lua_list = |ids: &[String]| {
        ids.iter()
            .map(|id| format!("\"{id}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    let (read_list, write_list) = (lua_list(read_ids), lua_list(write_ids));
    let read = scripts.path().join("read.lua");
    std::fs::write(
        &read,
        format!(
            "ids = {{{read_list}}}\nrequest = function()\n  return wrk.format(\"GET\", \"/api/v1/documents/\" .. ids[math.random(#ids)] .. \"/versions\", {{[\"Authorization\"] = \"Bearer {token}\"}})\nend\n"
        ),
    )?;
    let update = scripts.path().join("update.lua");
    std::fs::write(
        &update,
        format!(
            "ids = {{{write_list}}}\ncounter = 0\nrequest = function()\n  counter = counter + 1\n  return wrk.format(\"PATCH\", \"/api/v1/documents/\" .. ids[math.random(#ids)], {{[\"Authorization\"] = \"Bearer {token}\", [\"Content-Type\"] = \"application/json\"}}, '{{\"title\":\"t' .. counter .. '\"}}')\nend\n"
        ),
    )?;

    let mut stopped = server.stop_keeping_data();
    let (mut kai_runs, mut native_runs) = (Phases::default(), Phases::default());
    for round in 0..args.rounds {
        eprintln!("  round {}", round + 1);
        let kai = stopped.restart().await?;
        kai_runs.measure(&kai.base, &read, &update, &args).await?;
        stopped = kai.stop_keeping_data();
        let native = ChildServer::native(Some(&database)).await?;
        native_runs
            .measure(&native.base, &read, &update, &args)
            .await?;
    }
    let row = |label: &str, runs: &[Stats], baseline: &[Stats]| {
        let rps = median(runs.iter().map(|s| s.per_second).collect());
        let base = median(baseline.iter().map(|s| s.per_second).collect());
        let p50 = median(runs.iter().map(|s| s.p50_us as f64).collect()) / 1000.0;
        let p99 = median(runs.iter().map(|s| s.p99_us as f64).collect()) / 1000.0;
        let errors: u64 = runs.iter().map(|s| s.errors).sum();
        format!(
            "| {label} | {rps:.0} | {p50:.2} | {p99:.2} | {errors} | {:.2}x |",
            rps / base.max(1.0)
        )
    };
    // Each measure as a pair of rows: native (the baseline) and KAI-Fusion.
    let pair = |native_label: &str, kai_label: &str, pick: fn(&Phases) -> &[Stats]| {
        let baseline = pick(&native_runs);
        format!(
            "{}\n{}",
            row(native_label, baseline, baseline),
            row(kai_label, pick(&kai_runs), baseline)
        )
    };
    let markdown = format!(
        "### Data routes: plugin against native SQL (SQLite)\n\n\
         Reads pick one of {DOCUMENTS} documents of 11 versions at random, updates one of {DOCUMENTS} others. {} connections from wrk, \
         {} s per measurement after a 1 s warm-up, median of {} alternating rounds. Both authenticate the bearer token. \
         Each round measures, on a freshly started server, updates, then reads, then updates again in the same process.\n\n\
         | route | requests/s | p50 ms | p99 ms | errors | vs native |\n|---|---:|---:|---:|---:|---:|\n\
         {}\n{}\n{}\n",
        args.connections,
        args.seconds,
        args.rounds,
        pair(
            "native: versions list",
            "doc-versioning plugin: versions list",
            |p| &p.read
        ),
        pair(
            "native: update + version row, fresh server",
            "REST update + transactional versioning hook, fresh server",
            |p| &p.fresh_update
        ),
        pair(
            "native: update + version row, after the reads",
            "REST update + transactional versioning hook, after the reads",
            |p| &p.update_after_reads
        ),
    );
    Ok(Section {
        name: "data".into(),
        markdown,
    })
}

/// One server's measurements across rounds.
#[derive(Default)]
struct Phases {
    fresh_update: Vec<Stats>,
    read: Vec<Stats>,
    update_after_reads: Vec<Stats>,
}

impl Phases {
    /// One round on a freshly started server: updates, reads, updates.
    async fn measure(
        &mut self,
        base: &str,
        read: &std::path::Path,
        update: &std::path::Path,
        args: &RunArgs,
    ) -> anyhow::Result<()> {
        let (connections, seconds) = (args.connections, args.seconds);
        self.fresh_update
            .push(load_wrk::script(base, update, connections, seconds).await?);
        self.read
            .push(load_wrk::script(base, read, connections, seconds).await?);
        self.update_after_reads
            .push(load_wrk::script(base, update, connections, seconds).await?);
        Ok(())
    }
}
