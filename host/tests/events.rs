//! Core events and hooks: transactional subscribers run inside the change's
//! transaction and can veto it; after-commit subscribers get every event
//! from a durable outbox, retried, in order, across a restart.

mod support;

use serde_json::{Value, json};
use support::{M, Setup, TestServer, wasm};

fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("tx-hook.wasm", wasm("tx-hook")),
        ("outbox-hook.wasm", wasm("outbox-hook")),
        ("data-probe.wasm", wasm("data-probe")),
    ]
}

async fn server() -> TestServer {
    Setup::new()
        .await
        .plugins_dir(&fixtures())
        .configure(|c| c.event_poll_ms = 50)
        .start()
        .await
}

async fn collection(server: &TestServer, token: &str) -> String {
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/collections",
            token,
            Some(json!({ "name": "events" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn create(server: &TestServer, token: &str, collection: &str, title: &str) -> (u16, Value) {
    let (status, body, _) = server
        .call(
            M::POST,
            &format!("/api/v1/collections/{collection}/documents"),
            token,
            Some(json!({ "title": title, "content": "c" })),
        )
        .await;
    (status, body)
}

async fn changes(server: &TestServer, token: &str, doc: &str) -> Vec<(i64, String)> {
    let (status, body, _) = server
        .call(
            M::GET,
            &format!("/api/v1/tx-hook/changes?document_id={doc}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["version"].as_i64().unwrap(),
                c["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn deliveries(server: &TestServer, token: &str) -> Vec<Value> {
    let (_, body, _) = server
        .call(M::GET, "/api/v1/outbox-hook/deliveries", token, None)
        .await;
    body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn transactional_hooks_record_every_change_in_its_transaction() {
    let server = server().await;
    let token = server.admin_token.clone();
    let collection = collection(&server, &token).await;
    let (_, doc) = create(&server, &token, &collection, "first").await;
    let id = doc["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/documents/{id}");
    for title in ["second", "third"] {
        let (status, _, _) = server
            .call(M::PATCH, &path, &token, Some(json!({ "title": title })))
            .await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = server.call(M::DELETE, &path, &token, None).await;
    assert_eq!(status, 204);
    let expected: Vec<(i64, String)> = vec![
        (1, "document.created".into()),
        (2, "document.updated".into()),
        (3, "document.deleted".into()),
        (3, "document.updated".into()),
    ];
    assert_eq!(changes(&server, &token, &id).await, expected);
    server.stop().await;
}

#[tokio::test]
async fn a_refusing_hook_aborts_the_change_and_is_named() {
    let server = server().await;
    let token = server.admin_token.clone();
    let collection = collection(&server, &token).await;

    // Refused on create: no document, no change row.
    let (status, body) = create(&server, &token, &collection, "please REJECT me").await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tx-hook") && message.contains("REJECT"),
        "{message}"
    );
    let (_, list, _) = server
        .call(
            M::GET,
            &format!("/api/v1/collections/{collection}/documents"),
            &token,
            None,
        )
        .await;
    assert!(list["items"].as_array().unwrap().is_empty());

    // Refused on update: the document keeps its version and title.
    let (_, doc) = create(&server, &token, &collection, "fine").await;
    let id = doc["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/documents/{id}");
    let (status, _, _) = server
        .call(
            M::PATCH,
            &path,
            &token,
            Some(json!({ "title": "REJECT this" })),
        )
        .await;
    assert_eq!(status, 409);
    let (_, current, _) = server.call(M::GET, &path, &token, None).await;
    assert_eq!(
        (current["title"].as_str(), current["version"].as_i64()),
        (Some("fine"), Some(1))
    );
    assert_eq!(changes(&server, &token, &id).await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_trapping_hook_fails_the_change_without_leaking_internals() {
    let server = server().await;
    let token = server.admin_token.clone();
    let collection = collection(&server, &token).await;
    let (_, doc) = create(&server, &token, &collection, "calm").await;
    let id = doc["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/documents/{id}");
    let (status, body, _) = server
        .call(
            M::PATCH,
            &path,
            &token,
            Some(json!({ "title": "PANIC now" })),
        )
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "hook_failed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tx-hook") && !message.contains("panics on request"),
        "{message}"
    );
    let (_, current, _) = server.call(M::GET, &path, &token, None).await;
    assert_eq!(current["version"], 1);
    assert_eq!(changes(&server, &token, &id).await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn hooks_that_write_in_a_loop_hit_the_depth_limit() {
    let server = server().await;
    let token = server.admin_token.clone();
    let collection = collection(&server, &token).await;
    let (status, body) = create(&server, &token, &collection, "RECURSE").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nested deeper"),
        "{body}"
    );
    let (_, list, _) = server
        .call(
            M::GET,
            &format!("/api/v1/collections/{collection}/documents"),
            &token,
            None,
        )
        .await;
    assert!(
        list["items"].as_array().unwrap().is_empty(),
        "the whole chain rolled back"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_plugin_catching_a_refused_write_cannot_commit_half_of_it() {
    let server = server().await;
    let token = server.admin_token.clone();
    let collection = collection(&server, &token).await;
    let (_, doc) = create(&server, &token, &collection, "original").await;
    let id = doc["id"].as_str().unwrap().to_string();
    let (status, body, _) = server
        .call(
            M::POST,
            &format!("/api/v1/data-probe/documents/{id}/try-retitle"),
            &token,
            Some(json!({ "title": "REJECT" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["updated"], false);
    // The refused update is undone; the plugin's earlier write stays.
    let (_, current, _) = server
        .call(M::GET, &format!("/api/v1/documents/{id}"), &token, None)
        .await;
    assert_eq!(
        (current["title"].as_str(), current["version"].as_i64()),
        (Some("original"), Some(1))
    );
    let (_, notes, _) = server
        .call(M::GET, "/api/v1/data-probe/notes", &token, None)
        .await;
    assert_eq!(notes["items"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn after_commit_events_arrive_in_order_and_failures_are_retried() {
    let server = server().await;
    let token = server.admin_token.clone();
    let collection = collection(&server, &token).await;
    let (_, doc) = create(&server, &token, &collection, "FLAKY at first").await;
    let id = doc["id"].as_str().unwrap().to_string();
    for title in ["FLAKY two", "FLAKY three"] {
        server
            .call(
                M::PATCH,
                &format!("/api/v1/documents/{id}"),
                &token,
                Some(json!({ "title": title })),
            )
            .await;
    }
    let delivered = server
        .eventually(30, || async {
            let items = deliveries(&server, &token).await;
            (items.len() == 3).then_some(items)
        })
        .await;
    let versions: Vec<i64> = delivered
        .iter()
        .map(|d| d["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3], "delivered in order per document");
    for delivery in &delivered {
        assert_eq!(
            delivery["attempt"], 2,
            "each first attempt failed and was retried: {delivery}"
        );
        assert_eq!(delivery["document_id"], id.as_str());
    }
    use sqlx::Row;
    let pending: i64 = sqlx::query("SELECT COUNT(*) FROM event_outbox WHERE delivered_at IS NULL")
        .fetch_one(server.state.db.reader())
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 0);
    server.stop().await;
}

#[tokio::test]
async fn the_outbox_survives_a_stop_before_delivery() {
    // First run: the event worker is off, as if the process died right
    // after committing.
    let setup = Setup::new()
        .await
        .plugins_dir(&fixtures())
        .configure(|c| c.event_worker = false);
    let server = setup.start().await;
    let token = server.admin_token.clone();
    let collection = collection(&server, &token).await;
    for i in 0..3 {
        let (status, _) = create(&server, &token, &collection, &format!("queued {i}")).await;
        assert_eq!(status, 201);
    }
    assert!(deliveries(&server, &token).await.is_empty());
    let (data_dir, database_url, temp) = server.stop_keeping_data().await;

    // Second run on the same database: the worker delivers what was queued.
    let server = Setup::reuse(data_dir, database_url)
        .plugins_dir(&fixtures())
        .configure(|c| c.event_poll_ms = 50)
        .start()
        .await;
    let delivered = server
        .eventually(30, || async {
            let items = deliveries(&server, &token).await;
            (items.len() == 3).then_some(items)
        })
        .await;
    assert!(delivered.iter().all(|d| d["kind"] == "document.created"));
    server.stop().await;
    drop(temp);
}
