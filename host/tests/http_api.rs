//! The HTTP surface every route shares: authentication on admin routes,
//! JSON errors for unknown routes, wrong methods and oversized bodies,
//! request ids, health and readiness.

mod support;

use reqwest::Method;
use support::{Setup, TestServer, json_of};

#[tokio::test]
async fn admin_routes_need_a_valid_token_and_every_refusal_looks_the_same() {
    let server = TestServer::start().await;
    let missing = json_of(
        server
            .send(Method::GET, "/api/v1/admin/plugins", None, None)
            .await,
    )
    .await;
    let wrong = json_of(
        server
            .send(
                Method::GET,
                "/api/v1/admin/plugins",
                Some("kai_not-a-real-token"),
                None,
            )
            .await,
    )
    .await;
    let garbage = json_of(
        server
            .send(Method::GET, "/api/v1/admin/routes", Some("garbage"), None)
            .await,
    )
    .await;
    assert_eq!(missing.0, 401);
    assert_eq!(missing.1["error"]["code"], "unauthorized");
    assert_eq!(missing, wrong);
    assert_eq!(missing, garbage);

    let (status, _) = server.admin_get("/api/v1/admin/plugins").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn non_public_plugin_routes_need_a_token() {
    let server = TestServer::with_fixture("misbehave").await;
    let (status, body) = server.get("/api/v1/misbehave/ok").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_json_errors() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/api/v1/nothing/here").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/api/v1/nothing/here")
    );

    // A plugin path with the wrong method.
    let response = server
        .send(Method::POST, "/api/v1/hello/x", None, None)
        .await;
    assert_eq!(response.headers()["allow"], "GET");
    let (status, body) = json_of(response).await;
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "method_not_allowed");

    // A core path with the wrong method.
    let (status, body) = json_of(server.send(Method::DELETE, "/healthz", None, None).await).await;
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_json() {
    let server = Setup::new()
        .await
        .configure(|c| c.max_body_bytes = 1024)
        .start()
        .await;
    let response = server
        .client
        .get(server.url("/api/v1/hello/big"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");
    server.stop().await;
}

#[tokio::test]
async fn health_readiness_and_request_ids() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
    let expected = if support::postgres_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(body["database"], expected);

    let response = server
        .send(Method::GET, "/api/v1/hello/id", None, None)
        .await;
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a UUID request id: {id}");
    let response = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "caller-chosen-id")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "caller-chosen-id");
    server.stop().await;
}
