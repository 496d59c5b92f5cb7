//! Capability grants and the credential store, through the real server
//! and a fixture plugin that asks for every grantable capability: it runs
//! only with what the operator granted, uses a credential it never sees,
//! and reaches only allowed origins.

mod support;

use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::{M, Setup, TestServer, wasm};

/// A local HTTP server that records the headers it receives.
struct Upstream {
    port: u16,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

async fn upstream() -> Upstream {
    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(headers);
            "upstream says ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Upstream { port, seen }
}

async fn server() -> TestServer {
    Setup::new()
        .await
        .plugins_dir(&[("data-probe.wasm", wasm("data-probe"))])
        .plugins_dir_untrusted(&[("outbound-probe.wasm", wasm("outbound-probe"))])
        .start()
        .await
}

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_plugin_waits_for_grants_and_runs_only_with_what_was_granted() {
    let server = server().await;
    let admin = server.admin_token.clone();
    let alice = server.user("alice@example.com", false).await;
    let upstream = upstream().await;
    let call = |credential: Option<Value>, port: u16, host: &str| {
        let mut body = json!({ "url": format!("http://{host}:{port}/hook") });
        if let Some(credential) = credential {
            body["credential"] = credential;
        }
        body
    };

    // Installed, but waiting: nothing of it runs yet.
    let (_, listing) = server.admin_get("/api/v1/admin/plugins").await;
    let pending = listing["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{listing}");
    assert_eq!(pending[0]["name"], "outbound-probe");
    assert_eq!(pending[0]["status"], "awaiting_grant");
    assert_eq!(
        pending[0]["requested"]["outbound_hosts"],
        json!(["http://127.0.0.1:*"])
    );
    assert_eq!(
        pending[0]["requested"]["public_routes"],
        json!(["GET /api/v1/outbound-probe/ping"])
    );
    let (status, _, _) = server
        .call(M::GET, "/api/v1/outbound-probe/ping", &alice, None)
        .await;
    assert_eq!(status, 404);

    // Only admins decide, and only within what was requested.
    let (status, _, _) = server
        .call(
            M::POST,
            "/api/v1/admin/plugins/outbound-probe/grants",
            &alice,
            Some(json!({ "accept_requested": true })),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/admin/plugins/outbound-probe/grants",
            &admin,
            Some(json!({ "grant": { "outbound_hosts": ["http://evil.example:*"] } })),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // A partial grant: kv only.
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/admin/plugins/outbound-probe/grants",
            &admin,
            Some(json!({ "grant": { "kv": true } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = server
        .call(M::PUT, "/api/v1/outbound-probe/kv", &alice, None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server.get("/api/v1/outbound-probe/ping").await;
    assert_eq!(status, 401, "a public route needs its own grant");
    let (status, body, _) = server
        .call(M::GET, "/api/v1/outbound-probe/documents", &alice, None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        message(&body).contains("not granted read access to documents"),
        "{body}"
    );
    let (status, body, _) = server
        .call(M::GET, "/api/v1/outbound-probe/shared", &alice, None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(message(&body).contains("data-probe/shared_note"), "{body}");
    let (status, body, _) = server
        .call(
            M::GET,
            "/api/v1/outbound-probe/reveal/test-api",
            &alice,
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/outbound-probe/call",
            &alice,
            Some(call(None, upstream.port, "127.0.0.1")),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        message(&body).contains("not on its granted outbound list"),
        "{body}"
    );
    assert!(
        upstream.seen.lock().unwrap().is_empty(),
        "refused before any connection"
    );

    // Everything requested.
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/admin/plugins/outbound-probe/grants",
            &admin,
            Some(json!({ "accept_requested": true })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.get("/api/v1/outbound-probe/ping").await;
    assert_eq!(
        (status, body["principal"].clone()),
        (200, Value::Null),
        "public: no principal"
    );
    // A token sent to a public route is checked, and the plugin sees who
    // calls; a bad one is refused rather than ignored.
    let (_, me, _) = server.call(M::GET, "/api/v1/me", &alice, None).await;
    let alice_id = me["id"].as_str().unwrap().to_string();
    let (status, body, _) = server
        .call(M::GET, "/api/v1/outbound-probe/ping", &alice, None)
        .await;
    assert_eq!(
        (status, body["principal"].as_str()),
        (200, Some(alice_id.as_str())),
        "{body}"
    );
    let (status, body, _) = server
        .call(M::GET, "/api/v1/outbound-probe/ping", "not-a-token", None)
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = server
        .call(M::GET, "/api/v1/outbound-probe/documents", &alice, None)
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = server
        .call(M::GET, "/api/v1/outbound-probe/shared", &alice, None)
        .await;
    assert_eq!(status, 200);

    // Alice stores a credential and lets the plugin use it.
    let secret = json!({ "token": "s3cr3t-t0ken", "user": "ann", "password": "pa55word" });
    let (status, created, _) = server
        .call(
            M::POST,
            "/api/v1/credentials",
            &alice,
            Some(json!({ "name": "test-api", "service_type": "webhook", "secret": secret, "allowed_plugins": ["outbound-probe"] })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(!created.to_string().contains("s3cr3t"));

    // Injected as a bearer token, a basic pair and a named header: the
    // upstream sees the secret, the guest and the client do not.
    for (inject, header, expected) in [
        ("bearer", "authorization", "Bearer s3cr3t-t0ken".to_string()),
        (
            "basic",
            "authorization",
            format!("Basic {}", base64_pair("ann", "pa55word")),
        ),
        ("header", "x-api-key", "s3cr3t-t0ken".to_string()),
    ] {
        let credential = json!({ "name": "test-api", "inject": inject });
        let (status, body, _) = server
            .call(
                M::POST,
                "/api/v1/outbound-probe/call",
                &alice,
                Some(call(Some(credential), upstream.port, "127.0.0.1")),
            )
            .await;
        assert_eq!(status, 200, "{inject}: {body}");
        assert_eq!(body["status"], 200);
        assert_eq!(body["body"], "upstream says ok");
        assert!(!body.to_string().contains("s3cr3t") && !body.to_string().contains("pa55word"));
        let seen = upstream.seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(seen[header], expected.as_str(), "{inject}");
    }

    // Not on the allow-list: another host name for the same machine.
    let before = upstream.seen.lock().unwrap().len();
    let (status, _, _) = server
        .call(
            M::POST,
            "/api/v1/outbound-probe/call",
            &alice,
            Some(call(None, upstream.port, "localhost")),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(upstream.seen.lock().unwrap().len(), before);

    // Bob has no such credential; Carol's does not allow the plugin.
    let bob = server.user("bob@example.com", false).await;
    let credential = json!({ "name": "test-api", "inject": "bearer" });
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/outbound-probe/call",
            &bob,
            Some(call(Some(credential.clone()), upstream.port, "127.0.0.1")),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let carol = server.user("carol@example.com", false).await;
    server
        .call(
            M::POST,
            "/api/v1/credentials",
            &carol,
            Some(json!({ "name": "test-api", "service_type": "webhook", "secret": { "token": "carols" } })),
        )
        .await;
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/outbound-probe/call",
            &carol,
            Some(call(Some(credential), upstream.port, "127.0.0.1")),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        message(&body).contains("does not allow plugin `outbound-probe`"),
        "{body}"
    );

    // Reveal, granted explicitly, returns the secret to its owner only.
    let (status, body, _) = server
        .call(
            M::GET,
            "/api/v1/outbound-probe/reveal/test-api",
            &alice,
            None,
        )
        .await;
    assert_eq!(
        (status, body["secret"]["token"].as_str()),
        (200, Some("s3cr3t-t0ken"))
    );
    let (status, _, _) = server
        .call(M::GET, "/api/v1/outbound-probe/reveal/test-api", &bob, None)
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

fn base64_pair(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[tokio::test]
async fn an_upgrade_that_asks_for_more_waits_while_the_old_version_serves() {
    let server = Setup::new()
        .await
        .plugins_dir_untrusted(&[("schema-demo.wasm", wasm("schema-v1"))])
        .start()
        .await;
    let admin = server.admin_token.clone();
    let (status, _, _) = server
        .call(M::GET, "/api/v1/schema-demo/items", &admin, None)
        .await;
    assert_eq!(
        status, 200,
        "1.0.0 requests nothing and runs without a grant"
    );
    let (data_dir, database_url, temp) = server.stop_keeping_data().await;

    // 1.1.0 also asks for kv: it waits, 1.0.0 keeps serving.
    let server = Setup::reuse(data_dir, database_url)
        .plugins_dir_untrusted(&[("schema-demo.wasm", wasm("schema-v1-1"))])
        .start()
        .await;
    let (_, listing) = server.admin_get("/api/v1/admin/plugins").await;
    let active = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "schema-demo")
        .unwrap()
        .clone();
    assert_eq!(active["version"], "1.0.0");
    assert_eq!(listing["pending"][0]["version"], "1.1.0");
    assert_eq!(listing["pending"][0]["missing"]["kv"], true);
    let (status, _, _) = server
        .call(M::GET, "/api/v1/schema-demo/items", &admin, None)
        .await;
    assert_eq!(status, 200);

    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/admin/plugins/schema-demo/grants",
            &admin,
            Some(json!({ "accept_requested": true })),
        )
        .await;
    assert_eq!(
        (status, body["version"].as_str()),
        (200, Some("1.1.0")),
        "{body}"
    );
    let (_, listing) = server.admin_get("/api/v1/admin/plugins").await;
    let active = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "schema-demo")
        .unwrap()
        .clone();
    assert_eq!(active["version"], "1.1.0");
    assert_eq!(active["granted"]["kv"], true);
    assert!(listing["pending"].as_array().unwrap().is_empty());
    server.stop().await;
    drop(temp);
}

#[tokio::test]
async fn credentials_are_write_only_and_bound_to_their_row() {
    let server = TestServer::start().await;
    let alice = server.user("alice@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let admin = server.admin_token.clone();

    // A wrong type is refused without echoing the value.
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/credentials",
            &alice,
            Some(json!({ "name": "x", "service_type": "t", "secret": "hunter2" })),
        )
        .await;
    assert_eq!(status, 422);
    assert!(!body.to_string().contains("hunter2"), "{body}");
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/credentials",
            &alice,
            Some(json!({ "name": "x", "service_type": "t" })),
        )
        .await;
    assert_eq!(status, 422);
    assert!(message(&body).contains("secret"));

    let (status, created, _) = server
        .call(
            M::POST,
            "/api/v1/credentials",
            &alice,
            Some(json!({ "name": "github", "service_type": "github", "secret": { "token": "ghp_alice_secret" } })),
        )
        .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_string();
    for (_, body, _) in [
        server
            .call(M::GET, &format!("/api/v1/credentials/{id}"), &alice, None)
            .await,
        server
            .call(M::GET, "/api/v1/credentials", &alice, None)
            .await,
        server
            .call(
                M::PATCH,
                &format!("/api/v1/credentials/{id}"),
                &alice,
                Some(json!({ "secret": { "token": "ghp_rotated_secret" } })),
            )
            .await,
    ] {
        assert!(
            !body.to_string().contains("secret\":{") && !body.to_string().contains("ghp_"),
            "{body}"
        );
    }
    let (status, _, _) = server
        .call(
            M::POST,
            "/api/v1/credentials",
            &alice,
            Some(json!({ "name": "github", "service_type": "github", "secret": {} })),
        )
        .await;
    assert_eq!(status, 409, "names are unique per owner");

    // Other members: 404. Admins: metadata only.
    let (status, _, _) = server
        .call(M::GET, &format!("/api/v1/credentials/{id}"), &bob, None)
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = server
        .call(M::DELETE, &format!("/api/v1/credentials/{id}"), &bob, None)
        .await;
    assert_eq!(status, 404);
    let (status, body, _) = server
        .call(M::GET, &format!("/api/v1/credentials/{id}"), &admin, None)
        .await;
    assert_eq!(status, 200);
    assert!(!body.to_string().contains("ghp_"));

    // At rest: only ciphertext.
    use sqlx::Row;
    let sealed: Vec<u8> = sqlx::query("SELECT secret FROM credentials WHERE id = $1")
        .bind(&id)
        .fetch_one(server.state.db.reader())
        .await
        .unwrap()
        .get(0);
    assert!(!sealed.windows(6).any(|w| w == b"ghp_ro"));
    assert_eq!(sealed[0], 1, "format version");

    // A ciphertext copied into another row does not decrypt there.
    let (_, bobs, _) = server
        .call(
            M::POST,
            "/api/v1/credentials",
            &bob,
            Some(json!({ "name": "github", "service_type": "github", "secret": { "token": "bob" }, "allowed_plugins": ["p"] })),
        )
        .await;
    sqlx::query("UPDATE credentials SET secret = $1 WHERE id = $2")
        .bind(&sealed)
        .bind(bobs["id"].as_str().unwrap())
        .execute(server.state.db.writer())
        .await
        .unwrap();
    let bob_id = bobs["owner"].as_str().unwrap();
    let error = kai_host::services::secrets::store::reveal(
        &server.state.db,
        &server.state.core.keys,
        bob_id,
        "github",
        "p",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            error,
            kai_host::services::secrets::store::CredentialError::Unreadable { .. }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("cannot be decrypted"), "{error}");

    let (status, _, _) = server
        .call(
            M::DELETE,
            &format!("/api/v1/credentials/{id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, 204);
    server.stop().await;
}
