//! The edges of the HTTP API, the same on core and plugin routes and on
//! both databases: bad path parameters, oversized bodies and URLs, media
//! types, cursors, stale preconditions and host errors a plugin passes on
//! all get a clear JSON error, never a 500.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;

use serde_json::{Value, json};
use support::{M, Setup, TestServer, wasm};

async fn with_fixtures() -> TestServer {
    Setup::new()
        .await
        .plugins_dir(&[("tx-hook.wasm", wasm("tx-hook"))])
        .configure(|c| c.max_body_bytes = 64 * 1024)
        .start()
        .await
}

/// Status, `content-type` and JSON body of a request.
async fn raw(
    server: &TestServer,
    method: M,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String, Value) {
    let response = server
        .client
        .request(method, server.url(path))
        .bearer_auth(&server.admin_token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

#[tokio::test]
async fn a_nul_in_any_path_parameter_never_reaches_the_database_as_a_server_error() {
    let server = with_fixtures().await;
    let (_, routes) = server.admin_get("/api/v1/admin/routes").await;
    let mut tried = 0;
    for route in routes["routes"].as_array().unwrap() {
        let path = route["path"].as_str().unwrap();
        if !path.contains('{') {
            continue;
        }
        // Every `{param}` becomes a value with a NUL byte in it.
        let bad: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "bad%00value".to_string()
                } else {
                    segment.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method: M = route["method"].as_str().unwrap().parse().unwrap();
        let (status, content_type, body) = raw(
            &server,
            method.clone(),
            &bad,
            "application/json",
            b"{}".to_vec(),
        )
        .await;
        // A route may take any text (hello greets it); none fails on it.
        assert!(
            status < 500 && content_type.starts_with("application/json"),
            "{method} {bad}: {status} {body}"
        );
        if status >= 400 {
            assert!(body["error"]["code"].is_string(), "{method} {bad}: {body}");
        }
        tried += 1;
    }
    assert!(tried >= 20, "only {tried} routes with parameters");
    let (status, _, body) = raw(
        &server,
        M::GET,
        "/api/v1/admin/plugins/hello%00",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("path parameter `name`"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_and_an_oversized_url_a_json_error() {
    let server = with_fixtures().await;
    let big = serde_json::to_vec(&json!({ "name": "x".repeat(100 * 1024) })).unwrap();
    let (status, _, body) = raw(
        &server,
        M::POST,
        "/api/v1/collections",
        "application/json",
        big.clone(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );
    let (status, _, body) = raw(
        &server,
        M::GET,
        "/api/v1/tx-hook/changes",
        "application/json",
        big,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );

    // A 1 MB query string (more than an HTTP client library will send) is
    // refused by the HTTP parser itself, in JSON too.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /api/v1/collections?x={} HTTP/1.1\r\nhost: localhost\r\n\r\n",
        "y".repeat(1_000_000)
    );
    // The server may answer and close before it has read it all.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"]["code"], "headers_too_large");
    server.stop().await;
}

#[tokio::test]
async fn json_means_a_json_media_type_and_uuids_are_checked_alike_everywhere() {
    let server = with_fixtures().await;
    let body = br#"{"name": "c"}"#.to_vec();
    for wrong in ["application/jsonXYZ", "text/plain", "application/json-seq"] {
        let (status, _, answer) =
            raw(&server, M::POST, "/api/v1/collections", wrong, body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{wrong}"
        );
    }
    for (i, right) in ["application/json", "Application/JSON; charset=utf-8"]
        .into_iter()
        .enumerate()
    {
        let body = format!(r#"{{"name": "c{i}"}}"#).into_bytes();
        let (status, _, answer) = raw(&server, M::POST, "/api/v1/collections", right, body).await;
        assert_eq!(status, 201, "{right}: {answer}");
    }
    // A UUID that is not one: 400 naming the parameter, on core routes and
    // on the bundled plugins' routes.
    for path in [
        "/api/v1/collections/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        "/api/v1/documents/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/versions",
        "/api/v1/collections/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/analytics",
        "/api/v1/collections/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/version-retention",
    ] {
        let (status, answer) = server.admin_get(path).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("path parameter `id`"),
            "{path}: {answer}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_cursor_works_only_for_the_listing_that_made_it() {
    let server = with_fixtures().await;
    let admin = server.admin_token.clone();
    let (collection, _) = server.collection_with_document(&admin, "one").await;
    server.collection_with_document(&admin, "two").await;
    let documents = format!("/api/v1/collections/{collection}/documents");
    for title in ["a", "b"] {
        server
            .call_expecting(
                M::POST,
                &documents,
                &admin,
                Some(json!({ "title": title })),
                201,
            )
            .await;
    }
    let (_, page) = server.admin_get("/api/v1/collections?limit=1").await;
    let collections_cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, page) = server.admin_get(&format!("{documents}?limit=1")).await;
    let documents_cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (status, _) = server
        .admin_get(&format!("/api/v1/collections?cursor={collections_cursor}"))
        .await;
    assert_eq!(status, 200);

    // Another listing's cursor, or one with a byte changed.
    let mut edited = collections_cursor.clone().into_bytes();
    edited[2] = if edited[2] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    for path in [
        format!("/api/v1/collections?cursor={documents_cursor}"),
        format!("{documents}?cursor={collections_cursor}"),
        format!("/api/v1/collections?cursor={edited}"),
        format!("/api/v1/tx-hook/changes?cursor={documents_cursor}"),
    ] {
        let (status, body) = server.admin_get(&path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_cursor")),
            "{path}: {body}"
        );
    }
    // A plugin's own listing: its cursor works for it, and only for it.
    let (_, changes) = server.admin_get("/api/v1/tx-hook/changes?limit=1").await;
    let changes_cursor = changes["next_cursor"].as_str().unwrap();
    let (status, _) = server
        .admin_get(&format!(
            "/api/v1/tx-hook/changes?limit=1&cursor={changes_cursor}"
        ))
        .await;
    assert_eq!(status, 200);
    let (status, body) = server
        .admin_get(&format!("/api/v1/collections?cursor={changes_cursor}"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_cursor"))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_host_error_a_plugin_passes_on_is_a_plugin_failure_without_its_internals() {
    let server = with_fixtures().await;
    let (status, body) = server.admin_get("/api/v1/tx-hook/unhandled").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("plugin_failed")),
        "{body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains("no_such_field") && !text.contains("change"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_with_the_same_if_match_leave_one_winner_and_412s() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let (_, doc) = server.collection_with_document(&admin, "contested").await;
    let path = format!("/api/v1/documents/{doc}");
    for round in 0..5 {
        let (_, current, _) = server.call(M::GET, &path, &admin, None).await;
        let version = current["version"].as_i64().unwrap();
        let attempts = (0..6).map(|i| {
            let request = server
                .client
                .patch(server.url(&path))
                .bearer_auth(&admin)
                .header("if-match", format!("\"{version}\""))
                .json(&json!({ "title": format!("round {round} writer {i}") }));
            async move { request.send().await.unwrap().status().as_u16() }
        });
        let mut statuses = futures::future::join_all(attempts).await;
        statuses.sort();
        assert_eq!(statuses, [200, 412, 412, 412, 412, 412], "round {round}");
    }
    server.stop().await;
}
