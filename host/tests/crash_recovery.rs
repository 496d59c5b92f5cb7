//! `kill -9` of the real `kai serve` process in the middle of writes,
//! credential stores and plugin installs, several times over one database:
//! each time the server starts again, every write it acknowledged is there,
//! every credential still opens, and the plugin being swapped serves one
//! whole version. The number of kills is the one `docs/SECURITY.md` states.

#![cfg(unix)]

mod support;

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::child::{ChildServer, free_port};
use support::wasm;

/// Kills per database.
const KILLS: usize = 4;

struct Node {
    server: ChildServer,
    base: String,
    token: String,
}

async fn start(
    dir: &std::path::Path,
    database_url: Option<&str>,
    client: &reqwest::Client,
) -> Node {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = ChildServer::spawn(port, dir, database_url, &["--log-format", "json"], false);
    server.wait_ready(client, &base).await;
    let token = std::fs::read_to_string(dir.join("data/admin.token"))
        .unwrap()
        .trim()
        .to_string();
    Node {
        server,
        base,
        token,
    }
}

/// Sends requests made by `next` until one fails to connect (the server was
/// killed), keeping what `acknowledged` takes from each success.
async fn keep_writing(
    client: reqwest::Client,
    acks: Arc<Mutex<Vec<String>>>,
    next: impl Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder,
    acknowledged: impl Fn(u16, &Value) -> Option<String>,
) {
    for i in 0.. {
        let Ok(response) = next(&client, i).send().await else {
            return;
        };
        let status = response.status().as_u16();
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        if let Some(ack) = acknowledged(status, &body) {
            acks.lock().unwrap().push(ack);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_write_keeps_every_acknowledged_write() {
    let database_url = support::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let documents = Arc::new(Mutex::new(Vec::<String>::new()));
    let credentials = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut collection = String::new();

    for run in 0..=KILLS {
        let node = start(dir.path(), database_url.as_deref(), &client).await;
        let auth = format!("Bearer {}", node.token);
        if run == 0 {
            let response = client
                .post(format!("{}/api/v1/collections", node.base))
                .header("authorization", &auth)
                .json(&json!({ "name": "crash" }))
                .send()
                .await
                .unwrap();
            collection = response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
        }

        // Everything acknowledged before the last kill is there.
        let acknowledged = documents.lock().unwrap().clone();
        for id in acknowledged {
            let status = client
                .get(format!("{}/api/v1/documents/{id}", node.base))
                .header("authorization", &auth)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 200, "run {run}: acknowledged document {id} is gone");
        }
        let listed: Value = client
            .get(format!("{}/api/v1/credentials", node.base))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let acknowledged = credentials.lock().unwrap().clone();
        for name in acknowledged {
            let found = listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name.as_str())
                .unwrap_or_else(|| panic!("run {run}: acknowledged credential {name} is gone"));
            assert_eq!(found["readable"], true, "run {run}: {found}");
        }
        // The swapped plugin serves one whole version, if any.
        let ping = client
            .get(format!("{}/api/v1/swap/ping", node.base))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        let status = ping.status().as_u16();
        let version = ping.json::<Value>().await.unwrap_or(Value::Null)["version"].clone();
        assert!(
            status == 404 || (status == 200 && (version == "1.0.0" || version == "2.0.0")),
            "run {run}: swap answers {status} {version}"
        );
        if run == KILLS {
            break;
        }

        // Writers and an installer, until the kill.
        let base = node.base.clone();
        let mut tasks = Vec::new();
        for writer in 0..3 {
            let (base, auth, collection) = (base.clone(), auth.clone(), collection.clone());
            tasks.push(tokio::spawn(keep_writing(
                client.clone(),
                documents.clone(),
                move |client, i| {
                    client
                        .post(format!("{base}/api/v1/collections/{collection}/documents"))
                        .header("authorization", &auth)
                        .json(&json!({ "title": format!("run {run} writer {writer} #{i}") }))
                },
                |status, body| (status == 201).then(|| body["id"].as_str().unwrap().to_string()),
            )));
        }
        {
            let (base, auth) = (base.clone(), auth.clone());
            tasks.push(tokio::spawn(keep_writing(
                client.clone(),
                credentials.clone(),
                move |client, i| {
                    client
                        .post(format!("{base}/api/v1/credentials"))
                        .header("authorization", &auth)
                        .json(&json!({ "name": format!("r{run}-{i}"), "service_type": "t", "secret": { "token": format!("s{i}") } }))
                },
                |status, body| (status == 201).then(|| body["name"].as_str().unwrap().to_string()),
            )));
        }
        {
            let (base, auth) = (base.clone(), auth.clone());
            let versions = [wasm("swap-v1"), wasm("swap-v2")];
            tasks.push(tokio::spawn(keep_writing(
                client.clone(),
                Arc::default(),
                move |client, i| {
                    client
                        .post(format!("{base}/api/v1/admin/plugins?force=true"))
                        .header("authorization", &auth)
                        .header("content-type", "application/wasm")
                        .body(versions[i % 2].clone())
                },
                |_, _| None,
            )));
        }
        // A different moment each run.
        tokio::time::sleep(Duration::from_millis(600 + 150 * run as u64)).await;
        let Node { mut server, .. } = node;
        server.0.kill().unwrap(); // SIGKILL
        server.0.wait().unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        assert!(
            !documents.lock().unwrap().is_empty(),
            "run {run}: no write was acknowledged"
        );
    }
    support::assert_documented_count("Crash runs", KILLS);
    support::drop_database(database_url).await;
}
