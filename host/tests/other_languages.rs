//! A plugin written in Python against the `kai:fusion` WIT
//! (`examples/python-notes`, built with componentize-py) installs on a
//! real server and serves every route, with the same grants and the same
//! owner rules as a Rust plugin.
//!
//! The component is built outside cargo: `.ci/run` builds it and names it
//! in `KAI_TEST_PYTHON_PLUGIN`. Without that variable the test says so and
//! passes without running, as the PostgreSQL runs do without
//! `KAI_TEST_POSTGRES_URL`.

mod support;

use serde_json::json;
use support::{M, Setup};

#[tokio::test]
async fn a_python_plugin_serves_every_route_with_the_hosts_rules() {
    let Some(path) = std::env::var_os("KAI_TEST_PYTHON_PLUGIN") else {
        eprintln!("KAI_TEST_PYTHON_PLUGIN is not set: the Python plugin test did not run");
        return;
    };
    let wasm = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("KAI_TEST_PYTHON_PLUGIN names {path:?}, unreadable: {e}"));
    let server = Setup::new().await.start().await;
    let (status, report) = server.upload_plugin(wasm, "").await;
    // It asks for kv, reading documents and a public route, and waits for
    // the operator to grant them, as any plugin does.
    assert_eq!(
        (status, report["status"].as_str()),
        (202, Some("awaiting_grant")),
        "{report}"
    );
    assert_eq!(report["name"], "py-notes", "{report}");
    assert_eq!(
        report["missing"]["public_routes"],
        json!(["GET /api/v1/py-notes/hello"])
    );
    let ann = server.user("ann@example.com", false).await;
    server
        .call_expecting(
            M::POST,
            "/api/v1/admin/plugins/py-notes/grants",
            &server.admin_token,
            Some(json!({ "accept_requested": true })),
            200,
        )
        .await;

    // Its route docs reach the API reference, as a Rust plugin's do.
    let (status, doc) = server.admin_get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let create = &doc["paths"]["/api/v1/py-notes"]["post"];
    assert_eq!(
        create["summary"], "Writes a note for the caller",
        "{create}"
    );
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["properties"]["title"]["minLength"],
        1,
        "{create}"
    );
    assert!(create["responses"]["201"].is_object(), "{create}");

    let bob = server.user("bob@example.com", false).await;
    let mut ids = Vec::new();
    for (token, title, tags) in [
        (&ann, "b-wasm", json!(["wasm", "python"])),
        (&ann, "a-rust", json!(["rust", "wasm"])),
        (&bob, "c-bob", json!(["wasm"])),
    ] {
        let body = json!({ "title": title, "tags": tags });
        let created = server
            .call_expecting(M::POST, "/api/v1/py-notes", token, Some(body), 201)
            .await;
        ids.push(created["id"].as_str().unwrap().to_string());
    }

    // A page decoded in Python, the caller's rows only, in title order.
    let page = server
        .call_expecting(M::GET, "/api/v1/py-notes", &ann, None, 200)
        .await;
    let titles: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["a-rust", "b-wasm"], "{page}");
    assert_eq!(page["items"][0]["tags"], json!(["rust", "wasm"]));
    // kv is the plugin's own store, one for all its callers.
    assert_eq!(page["last_title"], "c-bob", "kv read back");
    let page = server
        .call_expecting(M::GET, "/api/v1/py-notes?tag=python", &ann, None, 200)
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");

    // get, increment with the row handed back, aggregate by element.
    let note = server
        .call_expecting(
            M::GET,
            &format!("/api/v1/py-notes/{}", ids[0]),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(note["title"], "b-wasm");
    for expected in 1..=2 {
        let note = server
            .call_expecting(
                M::POST,
                &format!("/api/v1/py-notes/{}/star", ids[0]),
                &ann,
                None,
                200,
            )
            .await;
        assert_eq!(note["stars"], expected, "{note}");
    }
    let tags = server
        .call_expecting(M::GET, "/api/v1/py-notes/tags", &ann, None, 200)
        .await;
    assert_eq!(
        tags,
        json!([
            { "tag": "python", "notes": 1, "stars": 2 },
            { "tag": "rust", "notes": 1, "stars": 0 },
            { "tag": "wasm", "notes": 2, "stars": 2 },
        ])
    );

    // Owner rules hold for it as for any plugin: bob cannot see ann's note.
    let (status, _, _) = server
        .call(M::GET, &format!("/api/v1/py-notes/{}", ids[0]), &bob, None)
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = server
        .call(
            M::POST,
            &format!("/api/v1/py-notes/{}/star", ids[0]),
            &bob,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // A core document, read as the caller: bob's is not ann's to read.
    let (_, document) = server.collection_with_document(&ann, "Plan").await;
    let body = server
        .call_expecting(
            M::GET,
            &format!("/api/v1/py-notes/documents/{document}"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(
        (body["title"].as_str(), body["version"].as_i64()),
        (Some("Plan"), Some(1))
    );
    let (status, _, _) = server
        .call(
            M::GET,
            &format!("/api/v1/py-notes/documents/{document}"),
            &bob,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Bad input: the host's refusal, mapped by the Python code.
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/py-notes",
            &ann,
            Some(json!({ "title": "t", "tags": [1] })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not of type string"),
        "{body}"
    );

    // WASI with nothing behind it: no environment, no files, no clock.
    let sandbox = server
        .call_expecting(M::GET, "/api/v1/py-notes/sandbox", &ann, None, 200)
        .await;
    assert_eq!(sandbox["environment"], json!({}), "{sandbox}");
    assert_ne!(sandbox["files"], "readable", "{sandbox}");
    assert_eq!(sandbox["time"], 0.0, "{sandbox}");

    // The public route: anonymous, or with the caller when a token is sent.
    let (status, body) = server.get("/api/v1/py-notes/hello").await;
    assert_eq!(
        (status, &body["caller"]),
        (200, &serde_json::Value::Null),
        "{body}"
    );
    let me = server
        .call_expecting(M::GET, "/api/v1/me", &ann, None, 200)
        .await;
    let body = server
        .call_expecting(M::GET, "/api/v1/py-notes/hello", &ann, None, 200)
        .await;
    assert_eq!(body["caller"], me["id"]);
    server.stop().await;
}
