//! Plugin-declared models across versions: an additive change upgrades the
//! table in place and keeps the data; a destructive one is refused without
//! a major version, and without the operator's confirmation even with one,
//! while the installed version keeps serving.

mod support;

use serde_json::{Value, json};
use support::{M, Setup, TestServer, wasm};

async fn items(server: &TestServer) -> Vec<Value> {
    let (status, body, _) = server
        .call(
            M::GET,
            "/api/v1/schema-demo/items",
            &server.admin_token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn demo_version(server: &TestServer) -> String {
    let (_, body) = server.admin_get("/api/v1/admin/plugins").await;
    body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "schema-demo")
        .expect("schema-demo is loaded")["version"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn refusal(server: &TestServer) -> String {
    let (_, body) = server.admin_get("/api/v1/admin/plugins").await;
    body["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn models_upgrade_in_place_and_destructive_changes_are_refused() {
    let server = Setup::new()
        .await
        .plugins_dir(&[("schema-demo.wasm", wasm("schema-v1"))])
        .start()
        .await;
    let token = server.admin_token.clone();
    let (status, _, _) = server
        .call(
            M::POST,
            "/api/v1/schema-demo/items",
            &token,
            Some(json!({ "name": "bolt", "qty": 3 })),
        )
        .await;
    assert_eq!(status, 201);
    let (data_dir, database_url, temp) = server.stop_keeping_data().await;

    // 1.1.0 adds a nullable indexed field: applied, rows kept.
    let server = Setup::reuse(data_dir.clone(), database_url.clone())
        .plugins_dir(&[("schema-demo.wasm", wasm("schema-v1-1"))])
        .start()
        .await;
    assert_eq!(demo_version(&server).await, "1.1.0");
    let rows = items(&server).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["name"].as_str(), rows[0]["qty"].as_i64()),
        (Some("bolt"), Some(3))
    );
    assert!(
        rows[0]["color"].is_null(),
        "the new field exists, empty: {}",
        rows[0]
    );
    let (status, _, _) = server
        .call(
            M::POST,
            "/api/v1/schema-demo/items",
            &token,
            Some(json!({ "name": "nut", "color": "red" })),
        )
        .await;
    assert_eq!(status, 201);
    use sqlx::Row;
    let schema_version: i64 =
        sqlx::query("SELECT schema_version FROM plugin_models WHERE plugin = 'schema-demo'")
            .fetch_one(server.state.db.reader())
            .await
            .unwrap()
            .get(0);
    assert_eq!(schema_version, 2);
    let (data_dir, database_url, _) = server.stop_keeping_data().await;

    // 1.2.0 drops a field with only a minor bump: refused, 1.1.0 serves on.
    let server = Setup::reuse(data_dir.clone(), database_url.clone())
        .plugins_dir(&[("schema-demo.wasm", wasm("schema-v1-2"))])
        .start()
        .await;
    let refused = refusal(&server).await;
    assert!(
        refused.contains("destructive") && refused.contains("1.1.0 -> 1.2.0"),
        "{refused}"
    );
    assert!(refused.contains("drop field `item.qty`"), "{refused}");
    assert_eq!(demo_version(&server).await, "1.1.0");
    assert_eq!(items(&server).await.len(), 2);
    let (data_dir, database_url, _) = server.stop_keeping_data().await;

    // 2.0.0 may drop it, but not without the operator's confirmation.
    let server = Setup::reuse(data_dir, database_url)
        .plugins_dir(&[("schema-demo.wasm", wasm("schema-v2"))])
        .start()
        .await;
    let refused = refusal(&server).await;
    assert!(
        refused.contains("`kai plugin install --confirm-destructive`"),
        "{refused}"
    );
    assert_eq!(demo_version(&server).await, "1.1.0");
    let rows = items(&server).await;
    assert!(
        rows.iter().all(|r| r.get("qty").is_some()),
        "no data was lost: {rows:?}"
    );
    server.stop().await;
    drop(temp);
}
