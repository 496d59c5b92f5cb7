//! What one plugin can do to the server as a whole, measured on the real
//! `kai serve` process: its answers are capped, memory it used is given
//! back, and a plugin burning its deadlines leaves core routes and other
//! plugins answering.

#![cfg(target_os = "linux")]

mod support;

use std::time::{Duration, Instant};
use support::child::{ChildServer, free_port};
use support::wasm;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_plugin_cannot_take_the_servers_memory_or_cpu() {
    let database_url = support::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("plugins/misbehave.wasm"), wasm("misbehave")).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = ChildServer::spawn(
        port,
        dir.path(),
        database_url.as_deref(),
        &[
            "--trust-plugin",
            "misbehave",
            "--plugin-memory-mib",
            "256",
            "--plugin-concurrency",
            "4",
            "--log-format",
            "json",
        ],
        false,
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    server.wait_ready(&client, &base).await;
    let token = std::fs::read_to_string(dir.path().join("data/admin.token")).unwrap();
    let token = token.trim().to_string();
    let get = |path: String| {
        let request = client.get(format!("{base}{path}")).bearer_auth(&token);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body)
        }
    };
    for _ in 0..20 {
        assert_eq!(get("/api/v1/misbehave/ok".into()).await.0, 200);
    }
    let settled = server.rss_mib();

    // A 40 MiB answer is over the 16 MiB default cap.
    let (status, body) = get("/api/v1/misbehave/big/40".into()).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "plugin_response_too_large");

    // 64 MiB held within the memory limit, and answered, eight times.
    for _ in 0..8 {
        let (status, body) = get("/api/v1/misbehave/hold/64".into()).await;
        assert_eq!(
            (status, body["held"].clone()),
            (200, serde_json::json!(64 << 20))
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_mib();
    // At most what a slot keeps resident (16 MiB) in each per-core pool of
    // slots, and allocator slack; not the 550 MiB the requests touched.
    println!("resident memory: {settled:.1} MiB settled, {after:.1} MiB after the requests");
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    assert!(
        after - settled < 16.0 * cores + 24.0,
        "resident memory went from {settled:.1} to {after:.1} MiB and stayed"
    );

    // Six requests that spin to their 1 s deadline, on a plugin that runs
    // four at once: the two that wait do so within their own deadline (they
    // are refused as busy if no turn came by then, or run out their time if
    // one came just before), and meanwhile the server keeps answering.
    let started = Instant::now();
    let spinners: Vec<_> = (0..6)
        .map(|_| {
            let request = get("/api/v1/misbehave/loop".into());
            tokio::spawn(async move {
                let (status, body) = request.await;
                (
                    status,
                    body["error"]["code"].as_str().unwrap_or("").to_string(),
                    started.elapsed(),
                )
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut health = Vec::new();
    let mut other = Vec::new();
    while started.elapsed() < Duration::from_millis(900) {
        let sent = Instant::now();
        let status = client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status();
        health.push(sent.elapsed());
        assert_eq!(status, 200);
        let sent = Instant::now();
        let (status, _) = get("/api/v1/hello/busy".into()).await;
        other.push(sent.elapsed());
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut outcomes = Vec::new();
    for spinner in spinners {
        outcomes.push(spinner.await.unwrap());
    }
    let timed_out = outcomes
        .iter()
        .filter(|(s, c, _)| *s == 504 && c == "plugin_timeout")
        .count();
    let busy = outcomes
        .iter()
        .filter(|(s, c, _)| *s == 503 && c == "plugin_busy")
        .count();
    assert!(timed_out >= 4 && timed_out + busy == 6, "{outcomes:?}");
    // Every one ended at its own deadline, none after waiting for a turn and
    // then running a deadline more.
    assert!(
        outcomes
            .iter()
            .all(|(_, _, at)| *at < Duration::from_millis(1600)),
        "{outcomes:?}"
    );
    let worst = |times: &[Duration]| times.iter().max().copied().unwrap_or_default();
    println!(
        "while four requests spun: /healthz at most {:?}, another plugin's route at most {:?} ({} rounds)",
        worst(&health),
        worst(&other),
        health.len()
    );
    // A few ms here; with every request spinning on the workers it was
    // hundreds, and the spinners themselves ended seconds late. The bounds
    // leave room for a loaded test machine.
    assert!(worst(&health) < Duration::from_millis(100), "{health:?}");
    assert!(worst(&other) < Duration::from_millis(150), "{other:?}");
    drop(server);
    support::drop_database(database_url).await;
}
