//! Workflow executions on SQLite, with the runner's default two workers:
//! step throughput of a 10-node line of `transform` nodes (each a jq
//! expression run in the `workflows` plugin's sandbox, each step its own
//! checkpointed transaction), the end-to-end latency of a 3-node run, and
//! a queue of 10,000 runs: resident memory while it drains, every run
//! finished, and the order they started in against the order they came.

use super::{Member, Section};
use crate::RunArgs;
use crate::load::median;
use crate::servers::ChildServer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub async fn run(args: RunArgs) -> anyhow::Result<Section> {
    let (line_runs, latency_runs, queued) = if args.smoke {
        (10, 5, 100)
    } else {
        (300, 200, 10_000)
    };
    let server = ChildServer::kai(&[]).await?;
    let client = reqwest::Client::new();
    let member = Member::make(&server, "flows@example.com").await?;
    let api = Api {
        client: &client,
        base: &server.base,
        token: &member.token,
    };

    // Throughput: runs of ten transforms, all queued at once.
    let ten = api.workflow(line(10)).await?;
    let started = Instant::now();
    let mut last = String::new();
    for n in 0..line_runs {
        last = api.start(&ten, json!({ "n": n })).await?;
    }
    api.until_succeeded(&ten, &last, line_runs, Duration::from_secs(600))
        .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let steps_per_second = (line_runs * 10) as f64 / elapsed;

    // Latency: one 3-node run at a time, from the start request until the
    // run reads as succeeded.
    let three = api.workflow(line(3)).await?;
    let mut ms = Vec::with_capacity(latency_runs);
    for n in 0..latency_runs {
        let sent = Instant::now();
        let execution = api.start(&three, json!({ "n": n })).await?;
        let path = format!("/api/v1/workflows/{three}/executions/{execution}");
        loop {
            let run = api.get(&path).await?;
            if run["status"] == "succeeded" {
                break;
            }
            anyhow::ensure!(run["status"] != "failed", "a run failed: {run}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        ms.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    let mut sorted = ms.clone();
    sorted.sort_by(f64::total_cmp);
    let p99 = sorted[((sorted.len() as f64 * 0.99).ceil() as usize).clamp(1, sorted.len()) - 1];
    let p50 = median(ms);

    // A queue of runs of one transform: memory while it drains, and order.
    let one = api.workflow(line(1)).await?;
    let idle_kib = server.rss_kib().unwrap_or(0);
    let mut peak_kib = 0;
    let queued_at = Instant::now();
    for n in 0..queued {
        api.start(&one, json!({ "n": n })).await?;
        if n % 250 == 0 {
            peak_kib = peak_kib.max(server.rss_kib().unwrap_or(0));
        }
    }
    let enqueue_s = queued_at.elapsed().as_secs_f64();
    let drained_at = Instant::now();
    let runs = loop {
        peak_kib = peak_kib.max(server.rss_kib().unwrap_or(0));
        let runs = api.all(&one).await?;
        let done = runs.iter().filter(|r| r["status"] == "succeeded").count();
        anyhow::ensure!(
            runs.iter().all(|r| r["status"] != "failed"),
            "a queued run failed"
        );
        if done == queued {
            break runs;
        }
        anyhow::ensure!(
            drained_at.elapsed() < Duration::from_secs(1200),
            "the queue did not drain: {done} of {queued}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let total_s = queued_at.elapsed().as_secs_f64();
    let after_queue_s = drained_at.elapsed().as_secs_f64();
    // Newest first as listed: reversed, the order they came in.
    let started = |run: &Value| {
        run["started_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let mut by_arrival: Vec<&Value> = runs.iter().collect();
    by_arrival.reverse();
    let inversions = by_arrival
        .windows(2)
        .filter(|w| started(w[0]) > started(w[1]))
        .count();
    let after_kib = server.rss_kib().unwrap_or(0);
    drop(server);

    let markdown = format!(
        "### Workflow executions (SQLite, 2 workers)\n\n\
         Every step runs in a fresh instance of the plugin that runs its kind (`transform`: a jq \
         expression in the `workflows` plugin) and ends in its own transaction: the step's \
         timeline entry, the run's checkpoint (compare-and-swap on its StateManager thread) and \
         the execution row.\n\n\
         | measurement | result | target |\n|---|---:|---:|\n\
         | steps per second, {line_runs} runs of 10 `transform` nodes queued at once | {steps_per_second:.0} | ≥ 1,000 |\n\
         | end-to-end latency of a 3-node run, start to `succeeded` read back, p50 ({latency_runs} runs, one at a time) | {p50:.1} ms | < 50 ms |\n\
         | the same, p99 | {p99:.1} ms | |\n\
         | {queued} runs of one node queued one request at a time while the workers drain them: all queued after, all finished after | {enqueue_s:.1} s, {total_s:.1} s ({after_queue_s:.1} s after the last was queued) | |\n\
         | resident memory: before queueing, peak while queueing and draining, after | {} / {} / {} MiB | steady |\n\
         | runs finished; runs started out of the order they came in | {queued}; {inversions} | all; 0 |\n",
        idle_kib / 1024,
        peak_kib / 1024,
        after_kib / 1024,
    );
    Ok(Section {
        name: "workflows".into(),
        markdown,
    })
}

/// A line of `nodes` transforms, each adding one to `n`.
fn line(nodes: usize) -> Value {
    let list: Vec<Value> = (0..nodes)
        .map(|i| json!({ "id": format!("t{i}"), "kind": "transform", "config": { "expression": "{n: (.n + 1)}" } }))
        .collect();
    let edges: Vec<Value> = (1..nodes)
        .map(|i| json!({ "from": format!("t{}", i - 1), "to": format!("t{i}") }))
        .collect();
    json!({ "name": format!("line of {nodes}"), "nodes": list, "edges": edges })
}

/// The REST calls the scenario makes, as one member.
struct Api<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    token: &'a str,
}

impl Api<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{path} answered {status}: {body}");
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn workflow(&self, graph: Value) -> anyhow::Result<String> {
        let saved = self
            .send(reqwest::Method::POST, "/api/v1/workflows", Some(graph))
            .await?;
        Ok(saved["id"].as_str().unwrap_or_default().to_string())
    }

    async fn start(&self, workflow: &str, input: Value) -> anyhow::Result<String> {
        let execution = self
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/workflows/{workflow}/executions"),
                Some(json!({ "input": input })),
            )
            .await?;
        Ok(execution["id"].as_str().unwrap_or_default().to_string())
    }

    /// Every execution of `workflow`, newest first.
    async fn all(&self, workflow: &str) -> anyhow::Result<Vec<Value>> {
        let mut runs = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/workflows/{workflow}/executions?limit=1000");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get(&path).await?;
            runs.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return Ok(runs),
            }
        }
    }

    /// Waits until `count` runs of `workflow` have succeeded, `last` the
    /// last one queued. Runs drain in the order they came, so it polls
    /// that one alone (listing every run each time would load the server
    /// it measures), then checks them all.
    async fn until_succeeded(
        &self,
        workflow: &str,
        last: &str,
        count: usize,
        within: Duration,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let path = format!("/api/v1/workflows/{workflow}/executions/{last}");
        loop {
            let run = self.get(&path).await?;
            anyhow::ensure!(run["status"] != "failed", "a run failed: {run}");
            if run["status"] == "succeeded" {
                let runs = self.all(workflow).await?;
                anyhow::ensure!(runs.iter().all(|r| r["status"] != "failed"), "a run failed");
                if runs.iter().filter(|r| r["status"] == "succeeded").count() == count {
                    return Ok(());
                }
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "runs did not finish in {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
