//! Two `kai serve` processes on one PostgreSQL database share one queue of
//! workflow executions: 1,000 runs of a 2-step workflow started through
//! both, drained by both, each step run and kept once (its timeline entry
//! and its side effect, a kv count under its idempotency key). Runs only
//! with `KAI_TEST_POSTGRES_URL`: SQLite is one process's database.

use crate::support;

use reqwest::Method as M;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::child::{ChildServer, call, free_port};
use support::wasm;

const RUNS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_drain_one_queue_running_each_step_once() {
    if support::postgres_url().is_none() {
        eprintln!("skipped: several nodes share a PostgreSQL database only");
        return;
    }
    let database_url = support::fresh_database().await;
    let client = reqwest::Client::new();
    let mut nodes = Vec::new();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for (n, dir) in dirs.iter().enumerate() {
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        if n > 0 {
            // Every node must hold the master key.
            std::fs::create_dir_all(dir.path().join("data")).unwrap();
            std::fs::copy(
                dirs[0].path().join("data/master.key"),
                dir.path().join("data/master.key"),
            )
            .unwrap();
        }
        std::fs::write(
            dir.path().join("plugins/node-probe.wasm"),
            wasm("node-probe"),
        )
        .unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = ChildServer::spawn(
            port,
            dir.path(),
            database_url.as_deref(),
            &["--trust-plugin", "node-probe", "--workflow-workers", "2"],
            false,
        );
        child.wait_ready(&client, &base).await;
        nodes.push((child, base));
    }
    // The first node made the admin; the second found one and wrote none.
    let token = dirs
        .iter()
        .find_map(|d| std::fs::read_to_string(d.path().join("data/admin.token")).ok())
        .unwrap()
        .trim()
        .to_string();
    let (status, workflow) = call(
        &client,
        &nodes[0].1,
        &token,
        M::POST,
        "/api/v1/workflows",
        Some(json!({
            "name": "two",
            "nodes": [
                { "id": "a", "kind": "node-probe.shout", "config": { "suffix": "!" } },
                { "id": "b", "kind": "transform", "config": { "expression": ".text" } },
            ],
            "edges": [{ "from": "a", "to": "b" }],
        })),
    )
    .await;
    assert_eq!(status, 201, "{workflow}");
    let workflow = workflow["id"].as_str().unwrap().to_string();
    let mut runs = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let (status, execution) = call(
            &client,
            &nodes[i % 2].1,
            &token,
            M::POST,
            &format!("/api/v1/workflows/{workflow}/executions"),
            Some(json!({ "input": { "text": format!("r{i}") } })),
        )
        .await;
        assert_eq!(status, 202, "{execution}");
        runs.push(execution["id"].as_str().unwrap().to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut workers = BTreeSet::new();
    for (i, id) in runs.iter().enumerate() {
        let path = format!("/api/v1/workflows/{workflow}/executions/{id}");
        let run = loop {
            let (_, run) = call(&client, &nodes[i % 2].1, &token, M::GET, &path, None).await;
            if run["status"] == "succeeded" {
                break run;
            }
            assert_ne!(run["status"], "failed", "{run}");
            assert!(Instant::now() < deadline, "run {i} never finished: {run}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(run["output"], format!("R{i}!"));
        let timeline = run["timeline"].as_array().unwrap();
        let steps: Vec<&str> = timeline
            .iter()
            .map(|s| s["node_id"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["a", "b"], "{run}");
        assert_eq!(timeline[0]["output"]["runs"], 1, "{run}");
        for step in timeline {
            let worker = step["worker"].as_str().unwrap();
            workers.insert(worker.split('/').next().unwrap().to_string());
        }
        let (_, count) = call(
            &client,
            &nodes[0].1,
            &token,
            M::GET,
            &format!("/api/v1/node-probe/runs/{id}:a:1"),
            None,
        )
        .await;
        assert_eq!(count["runs"], 1, "run {i}: the step's side effect once");
    }
    assert_eq!(workers.len(), 2, "both nodes ran steps: {workers:?}");
    drop(nodes);
    support::drop_database(database_url).await;
}
