//! Workflow runs survive `kill -9`: 50 runs of a 5-step workflow on a
//! `kai serve` process killed at random moments while they run, and
//! restarted. Every run finishes, each step is in its timeline once, and
//! each step's side effect (a kv count under its idempotency key, written
//! in the step's transaction) happened exactly once. SQLite, or PostgreSQL
//! with `KAI_TEST_POSTGRES_URL`.

use crate::support;

use rand::Rng;
use reqwest::Method as M;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::child::{ChildServer, call, free_port};
use support::wasm;

const RUNS: usize = 50;
const STEPS: usize = 5;
const KILLS: usize = 3;

struct Process {
    child: ChildServer,
    base: String,
}

async fn start(
    dir: &std::path::Path,
    database_url: Option<&str>,
    client: &reqwest::Client,
) -> Process {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = ChildServer::spawn(
        port,
        dir,
        database_url,
        &["--trust-plugin", "node-probe", "--workflow-workers", "4"],
        false,
    );
    child.wait_ready(client, &base).await;
    Process { child, base }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_resume_after_kill_9_and_no_finished_step_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("plugins/node-probe.wasm"),
        wasm("node-probe"),
    )
    .unwrap();
    let database_url = support::fresh_database().await;
    let client = reqwest::Client::new();
    let mut server = start(dir.path(), database_url.as_deref(), &client).await;
    let token = std::fs::read_to_string(dir.path().join("data/admin.token"))
        .unwrap()
        .trim()
        .to_string();

    let nodes: Vec<Value> = (1..=STEPS)
        .map(|n| json!({ "id": format!("s{n}"), "kind": "node-probe.shout", "config": { "suffix": "." } }))
        .collect();
    let edges: Vec<Value> = (1..STEPS)
        .map(|n| json!({ "from": format!("s{n}"), "to": format!("s{}", n + 1) }))
        .collect();
    let (status, workflow) = call(
        &client,
        &server.base,
        &token,
        M::POST,
        "/api/v1/workflows",
        Some(json!({ "name": "five", "nodes": nodes, "edges": edges })),
    )
    .await;
    assert_eq!(status, 201, "{workflow}");
    let workflow = workflow["id"].as_str().unwrap().to_string();
    let mut runs = Vec::new();
    for i in 0..RUNS {
        let (status, execution) = call(
            &client,
            &server.base,
            &token,
            M::POST,
            &format!("/api/v1/workflows/{workflow}/executions"),
            Some(json!({ "input": { "text": format!("r{i}") } })),
        )
        .await;
        assert_eq!(status, 202, "{execution}");
        runs.push(execution["id"].as_str().unwrap().to_string());
    }

    // Kill the process at random moments while the runs go on.
    for _ in 0..KILLS {
        let pause = rand::rng().random_range(20..400);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        server.child.0.kill().unwrap(); // SIGKILL
        server.child.0.wait().unwrap();
        server = start(dir.path(), database_url.as_deref(), &client).await;
    }

    let deadline = Instant::now() + Duration::from_secs(180);
    for (i, id) in runs.iter().enumerate() {
        let path = format!("/api/v1/workflows/{workflow}/executions/{id}");
        let run = loop {
            let (_, run) = call(&client, &server.base, &token, M::GET, &path, None).await;
            if run["status"] == "succeeded" {
                break run;
            }
            assert!(
                !["failed", "cancelled"].contains(&run["status"].as_str().unwrap_or_default()),
                "{run}"
            );
            assert!(Instant::now() < deadline, "run {i} never finished: {run}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            run["output"]["text"],
            format!("R{i}{}", ".".repeat(STEPS)).to_uppercase()
        );
        let timeline = run["timeline"].as_array().unwrap();
        let nodes: Vec<&str> = timeline
            .iter()
            .map(|s| s["node_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            nodes,
            ["s1", "s2", "s3", "s4", "s5"],
            "each step once: {run}"
        );
        for step in timeline {
            assert_eq!(step["status"], "succeeded");
            assert_eq!(step["output"]["runs"], 1, "a kept step ran once: {step}");
        }
        for n in 1..=STEPS {
            let key = format!("{id}:s{n}:1");
            let (status, count) = call(
                &client,
                &server.base,
                &token,
                M::GET,
                &format!("/api/v1/node-probe/runs/{key}"),
                None,
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(
                count["runs"], 1,
                "step s{n} of run {i}: its side effect once"
            );
        }
    }
    drop(server);
    support::drop_database(database_url).await;
}
