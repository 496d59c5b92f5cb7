//! The authorization matrix: every route of the host (core and admin), of
//! the bundled plugins, of the `outbound-probe` fixture and of a
//! `wasi:http` component mounted at `/apps/mounted`,
//! called as anonymous, member A (the owner of the resources in the path),
//! member B and an admin, against the expected status of each.
//!
//! The route list comes from the running server, so a route added without
//! a row here fails this test.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::{M, Setup, TestServer, wasm};

/// Expected statuses for (anonymous, member A, member B, admin).
type Expect = [u16; 4];

struct Row {
    body: Option<Value>,
    expect: Expect,
}

fn row(expect: Expect) -> Row {
    Row { body: None, expect }
}

fn with(body: Value, expect: Expect) -> Row {
    Row {
        body: Some(body),
        expect,
    }
}

fn matrix() -> BTreeMap<&'static str, Row> {
    let doc = json!({ "title": "t", "content": "c" });
    let credential = json!({ "name": "NAME", "service_type": "t", "secret": { "k": "v" } });
    let workflow = json!({
        "name": "w",
        "nodes": [{ "id": "a", "kind": "transform", "config": { "expression": "." } }],
    });
    BTreeMap::from([
        ("GET /healthz", row([200, 200, 200, 200])),
        ("GET /readyz", row([200, 200, 200, 200])),
        (
            "POST /api/v1/collections",
            with(json!({ "name": "NAME" }), [401, 201, 201, 201]),
        ),
        ("GET /api/v1/collections", row([401, 200, 200, 200])),
        ("GET /api/v1/collections/{id}", row([401, 200, 404, 200])),
        (
            "PATCH /api/v1/collections/{id}",
            with(json!({ "description": "d" }), [401, 200, 404, 200]),
        ),
        ("DELETE /api/v1/collections/{id}", row([401, 204, 404, 204])),
        (
            "POST /api/v1/collections/{id}/documents",
            with(doc.clone(), [401, 201, 404, 201]),
        ),
        (
            "GET /api/v1/collections/{id}/documents",
            row([401, 200, 404, 200]),
        ),
        (
            "POST /api/v1/collections/{id}/documents:bulk",
            with(json!({ "documents": [doc.clone()] }), [401, 201, 404, 201]),
        ),
        ("GET /api/v1/documents/{id}", row([401, 200, 404, 200])),
        (
            "PUT /api/v1/documents/{id}",
            with(doc.clone(), [401, 200, 404, 200]),
        ),
        (
            "PATCH /api/v1/documents/{id}",
            with(json!({ "title": "u" }), [401, 200, 404, 200]),
        ),
        ("DELETE /api/v1/documents/{id}", row([401, 204, 404, 204])),
        // Searched with `?q=t`: each caller's own documents.
        ("GET /api/v1/documents:search", row([401, 200, 200, 200])),
        ("GET /api/v1/me", row([401, 200, 200, 200])),
        ("GET /api/v1/users", row([401, 403, 403, 200])),
        (
            "POST /api/v1/users",
            with(json!({ "email": "NAME@example.com" }), [401, 403, 403, 201]),
        ),
        ("GET /api/v1/users/{id}", row([401, 200, 404, 200])),
        (
            "PATCH /api/v1/users/{id}",
            with(json!({ "role": "member" }), [401, 403, 403, 200]),
        ),
        ("GET /api/v1/tokens", row([401, 200, 200, 200])),
        (
            "POST /api/v1/tokens",
            with(json!({ "name": "t" }), [401, 201, 201, 201]),
        ),
        ("DELETE /api/v1/tokens/{id}", row([401, 204, 404, 204])),
        (
            "POST /api/v1/credentials",
            with(credential, [401, 201, 201, 201]),
        ),
        ("GET /api/v1/credentials", row([401, 200, 200, 200])),
        ("GET /api/v1/credentials/{id}", row([401, 200, 404, 200])),
        (
            "PATCH /api/v1/credentials/{id}",
            with(json!({ "service_type": "u" }), [401, 200, 404, 200]),
        ),
        ("DELETE /api/v1/credentials/{id}", row([401, 204, 404, 204])),
        // The StateManager: member A's thread, made through the REST API,
        // with one checkpoint.
        (
            "POST /api/v1/state/threads",
            with(json!({}), [401, 201, 201, 201]),
        ),
        ("GET /api/v1/state/threads", row([401, 200, 200, 200])),
        ("GET /api/v1/state/threads/{id}", row([401, 200, 404, 200])),
        (
            "PATCH /api/v1/state/threads/{id}",
            with(json!({ "keep_last": 5 }), [401, 200, 404, 200]),
        ),
        (
            "DELETE /api/v1/state/threads/{id}",
            row([401, 204, 404, 204]),
        ),
        (
            "POST /api/v1/state/threads/{id}/checkpoints",
            with(
                json!({ "parent_id": "CHECKPOINT", "values": {} }),
                [401, 201, 404, 201],
            ),
        ),
        (
            "GET /api/v1/state/threads/{id}/checkpoints",
            row([401, 200, 404, 200]),
        ),
        (
            "GET /api/v1/state/threads/{id}/latest",
            row([401, 200, 404, 200]),
        ),
        (
            "GET /api/v1/state/threads/{id}/checkpoints/{checkpoint_id}",
            row([401, 200, 404, 200]),
        ),
        (
            "POST /api/v1/state/threads/{id}/checkpoints/{checkpoint_id}/writes",
            with(
                json!({ "task": "t", "writes": [{ "channel": "c", "value": 1 }] }),
                [401, 204, 404, 204],
            ),
        ),
        (
            "POST /api/v1/state/threads/{id}/checkpoints/{checkpoint_id}/fork",
            with(json!({}), [401, 201, 404, 201]),
        ),
        // The MemoryManager: member A's session with one message.
        (
            "POST /api/v1/memory/sessions",
            with(json!({}), [401, 201, 201, 201]),
        ),
        ("GET /api/v1/memory/sessions", row([401, 200, 200, 200])),
        (
            "GET /api/v1/memory/sessions/{id}",
            row([401, 200, 404, 200]),
        ),
        (
            "PATCH /api/v1/memory/sessions/{id}",
            with(json!({ "name": "n" }), [401, 200, 404, 200]),
        ),
        (
            "DELETE /api/v1/memory/sessions/{id}",
            row([401, 204, 404, 204]),
        ),
        (
            "POST /api/v1/memory/sessions/{id}/messages",
            with(
                json!({ "messages": [{ "role": "user", "content": "hi" }] }),
                [401, 201, 404, 201],
            ),
        ),
        (
            "GET /api/v1/memory/sessions/{id}/messages",
            row([401, 200, 404, 200]),
        ),
        (
            "DELETE /api/v1/memory/sessions/{id}/messages",
            row([401, 200, 404, 200]),
        ),
        (
            "GET /api/v1/memory/sessions/{id}/window",
            row([401, 200, 404, 200]),
        ),
        (
            "PUT /api/v1/memory/sessions/{id}/summary",
            with(json!({ "content": "s" }), [401, 200, 404, 200]),
        ),
        (
            "DELETE /api/v1/memory/sessions/{id}/summary",
            row([401, 200, 404, 200]),
        ),
        (
            "GET /api/v1/memory/messages:search",
            row([401, 200, 200, 200]),
        ),
        // The WorkflowService's definitions: member A's workflow.
        (
            "POST /api/v1/workflows",
            with(workflow.clone(), [401, 201, 201, 201]),
        ),
        ("GET /api/v1/workflows", row([401, 200, 200, 200])),
        ("GET /api/v1/workflows/{id}", row([401, 200, 404, 200])),
        (
            "PUT /api/v1/workflows/{id}",
            with(workflow, [401, 200, 404, 200]),
        ),
        ("DELETE /api/v1/workflows/{id}", row([401, 204, 404, 204])),
        (
            "GET /api/v1/workflows/{id}/versions",
            row([401, 200, 404, 200]),
        ),
        (
            "GET /api/v1/workflows/{id}/versions/{version}",
            row([401, 200, 404, 200]),
        ),
        // Executions of member A's workflow, one of them A's own and
        // waiting (its first node is a long delay): only a failed one is
        // retried, so A and the admin get past authorization to a 409.
        (
            "POST /api/v1/workflows/{id}/executions",
            with(json!({ "input": {} }), [401, 202, 404, 202]),
        ),
        (
            "GET /api/v1/workflows/{id}/executions",
            row([401, 200, 404, 200]),
        ),
        (
            "GET /api/v1/workflows/{id}/executions/{execution_id}",
            row([401, 200, 404, 200]),
        ),
        (
            "POST /api/v1/workflows/{id}/executions/{execution_id}/cancel",
            row([401, 200, 404, 200]),
        ),
        (
            "POST /api/v1/workflows/{id}/executions/{execution_id}/retry",
            row([401, 409, 404, 409]),
        ),
        // A's workflow has no webhook trigger: no secret to renew.
        (
            "POST /api/v1/workflows/{id}/webhook",
            row([401, 409, 404, 409]),
        ),
        // Public: the secret in the path is the credential, and a wrong
        // one is the same 404 for everyone.
        (
            "POST /api/v1/hooks/{workflow}/{secret}",
            row([404, 404, 404, 404]),
        ),
        ("GET /api/v1/admin/plugins", row([401, 403, 403, 200])),
        ("GET /metrics", row([401, 403, 403, 200])),
        // The contract lists routes every member may call; the reference
        // page and its assets hold no data and load it with a token.
        ("GET /api/v1/openapi.json", row([401, 200, 200, 200])),
        ("GET /docs", row([200, 200, 200, 200])),
        ("GET /docs/kai-docs.js", row([200, 200, 200, 200])),
        ("GET /docs/swagger-ui.css", row([200, 200, 200, 200])),
        ("GET /docs/swagger-ui-bundle.js", row([200, 200, 200, 200])),
        // The console's files: it signs in with a token in the page.
        ("GET /admin", row([200, 200, 200, 200])),
        ("GET /admin/console.js", row([200, 200, 200, 200])),
        ("GET /admin/console.css", row([200, 200, 200, 200])),
        ("GET /api/v1/admin/routes", row([401, 403, 403, 200])),
        // Admins only; a JSON body is not a plugin (415) once authorised.
        (
            "POST /api/v1/admin/plugins",
            with(json!({}), [401, 403, 403, 415]),
        ),
        (
            "GET /api/v1/admin/plugins/{name}",
            row([401, 403, 403, 200]),
        ),
        (
            "POST /api/v1/admin/plugins/{name}/disable",
            row([401, 403, 403, 200]),
        ),
        (
            "POST /api/v1/admin/plugins/{name}/enable",
            row([401, 403, 403, 200]),
        ),
        (
            "POST /api/v1/admin/plugins/{name}/rollback",
            row([401, 403, 403, 409]),
        ),
        (
            "DELETE /api/v1/admin/plugins/{name}",
            row([401, 403, 403, 204]),
        ),
        (
            "POST /api/v1/admin/plugins/{name}/grants",
            with(json!({ "accept_requested": true }), [401, 403, 403, 200]),
        ),
        // Plugins: public routes answer everyone; the rest need a token,
        // then the plugin answers with the caller as principal.
        ("GET /api/v1/hello/{name}", row([200, 200, 200, 200])),
        ("GET /api/v1/outbound-probe/ping", row([200, 200, 200, 200])),
        (
            "POST /api/v1/outbound-probe/call",
            with(
                json!({ "url": "http://127.0.0.1:1/" }),
                [401, 503, 503, 503],
            ),
        ),
        (
            "GET /api/v1/outbound-probe/reveal/{name}",
            row([401, 404, 404, 404]),
        ),
        (
            "GET /api/v1/outbound-probe/documents",
            row([401, 200, 200, 200]),
        ),
        (
            "GET /api/v1/outbound-probe/shared",
            row([401, 404, 404, 404]),
        ),
        ("PUT /api/v1/outbound-probe/kv", row([401, 204, 204, 204])),
        // The bundled first-party plugins.
        (
            "GET /api/v1/documents/{id}/versions",
            row([401, 200, 404, 200]),
        ),
        (
            "GET /api/v1/documents/{id}/versions/{n}",
            row([401, 200, 404, 200]),
        ),
        (
            "GET /api/v1/documents/{id}/versions/{a}/diff/{b}",
            row([401, 200, 404, 200]),
        ),
        (
            "POST /api/v1/documents/{id}/versions/{n}/restore",
            row([401, 200, 404, 200]),
        ),
        (
            "GET /api/v1/collections/{id}/version-retention",
            row([401, 200, 404, 200]),
        ),
        (
            "PUT /api/v1/collections/{id}/version-retention",
            with(json!({ "keep": 3 }), [401, 200, 404, 200]),
        ),
        (
            "GET /api/v1/collections/{id}/analytics",
            row([401, 200, 404, 200]),
        ),
        ("GET /api/v1/analytics/overview", row([401, 200, 200, 200])),
        // A mounted wasi:http component: every method on the mount and
        // under it, for any signed-in caller.
        ("GET /apps/mounted", row([401, 200, 200, 200])),
        ("POST /apps/mounted", row([401, 200, 200, 200])),
        ("PUT /apps/mounted", row([401, 200, 200, 200])),
        ("PATCH /apps/mounted", row([401, 200, 200, 200])),
        ("DELETE /apps/mounted", row([401, 200, 200, 200])),
        ("GET /apps/mounted/{*path}", row([401, 200, 200, 200])),
        ("POST /apps/mounted/{*path}", row([401, 200, 200, 200])),
        ("PUT /apps/mounted/{*path}", row([401, 200, 200, 200])),
        ("PATCH /apps/mounted/{*path}", row([401, 200, 200, 200])),
        ("DELETE /apps/mounted/{*path}", row([401, 200, 200, 200])),
    ])
}

/// Fresh resources owned by member A, for one call.
struct Owned {
    workflow: String,
    session: String,
    collection: String,
    empty_collection: String,
    document: String,
    credential: String,
    token: String,
    user: String,
    thread: String,
    checkpoint: String,
    execution: String,
}

async fn owned_by(server: &TestServer, token: &str, n: usize) -> Owned {
    let id = |body: &Value| body["id"].as_str().unwrap().to_string();
    let (_, collection, _) = server
        .call(
            M::POST,
            "/api/v1/collections",
            token,
            Some(json!({ "name": format!("c{n}") })),
        )
        .await;
    let (_, empty, _) = server
        .call(
            M::POST,
            "/api/v1/collections",
            token,
            Some(json!({ "name": format!("e{n}") })),
        )
        .await;
    let (_, document, _) = server
        .call(
            M::POST,
            &format!("/api/v1/collections/{}/documents", id(&collection)),
            token,
            Some(json!({ "title": "t" })),
        )
        .await;
    let (_, credential, _) = server
        .call(
            M::POST,
            "/api/v1/credentials",
            token,
            Some(json!({ "name": format!("k{n}"), "service_type": "t", "secret": {} })),
        )
        .await;
    let (_, new_token, _) = server
        .call(
            M::POST,
            "/api/v1/tokens",
            token,
            Some(json!({ "name": "extra" })),
        )
        .await;
    let (_, me, _) = server.call(M::GET, "/api/v1/me", token, None).await;
    let (_, thread, _) = server
        .call(M::POST, "/api/v1/state/threads", token, Some(json!({})))
        .await;
    let (_, checkpoint, _) = server
        .call(
            M::POST,
            &format!("/api/v1/state/threads/{}/checkpoints", id(&thread)),
            token,
            Some(json!({ "values": {} })),
        )
        .await;
    let (_, session, _) = server
        .call(M::POST, "/api/v1/memory/sessions", token, Some(json!({})))
        .await;
    server
        .call(
            M::POST,
            &format!("/api/v1/memory/sessions/{}/messages", id(&session)),
            token,
            Some(json!({ "messages": [{ "role": "user", "content": "t" }] })),
        )
        .await;
    let (_, workflow, _) = server
        .call(
            M::POST,
            "/api/v1/workflows",
            token,
            Some(json!({
                "name": format!("w{n}"),
                "nodes": [
                    { "id": "a", "kind": "delay", "config": { "seconds": 3600 } },
                    { "id": "b", "kind": "transform", "config": { "expression": "." } },
                ],
                "edges": [{ "from": "a", "to": "b" }],
            })),
        )
        .await;
    let (_, execution, _) = server
        .call(
            M::POST,
            &format!("/api/v1/workflows/{}/executions", id(&workflow)),
            token,
            Some(json!({ "input": {} })),
        )
        .await;
    Owned {
        execution: id(&execution),
        workflow: id(&workflow),
        session: id(&session),
        thread: id(&thread),
        checkpoint: id(&checkpoint),
        collection: id(&collection),
        empty_collection: id(&empty),
        document: id(&document),
        credential: id(&credential),
        token: id(&new_token),
        user: id(&me),
    }
}

fn concrete(method: &str, pattern: &str, owned: &Owned) -> String {
    let id = if pattern.starts_with("/api/v1/collections/{id}") {
        if method == "DELETE" {
            &owned.empty_collection
        } else {
            &owned.collection
        }
    } else if pattern.starts_with("/api/v1/documents/") {
        &owned.document
    } else if pattern.starts_with("/api/v1/users/") {
        &owned.user
    } else if pattern.starts_with("/api/v1/tokens/") {
        &owned.token
    } else if pattern.starts_with("/api/v1/state/threads/") {
        &owned.thread
    } else if pattern.starts_with("/api/v1/memory/sessions/") {
        &owned.session
    } else if pattern.starts_with("/api/v1/workflows/") {
        &owned.workflow
    } else {
        &owned.credential
    };
    // Disable, enable, roll back and remove act on a plugin of their own.
    let name = if pattern.starts_with("/api/v1/admin/plugins/{name}/")
        && !pattern.ends_with("/grants")
        || (method == "DELETE" && pattern.contains("/plugins/"))
    {
        "swap"
    } else if pattern.contains("/plugins/") {
        "outbound-probe"
    } else if pattern.contains("/reveal/") {
        "test-api"
    } else {
        "world"
    };
    pattern
        .replace("{id}", id)
        .replace("{name}", name)
        .replace("{checkpoint_id}", &owned.checkpoint)
        .replace("{execution_id}", &owned.execution)
        .replace("{workflow}", &owned.workflow)
        .replace("{secret}", &"0".repeat(64))
        .replace("{version}", "1")
        .replace("{n}", "1")
        .replace("{a}", "1")
        .replace("{b}", "1")
        .replace("{*path}", "echo/x")
        .replace(":search", ":search?q=t")
}

#[tokio::test]
async fn every_route_answers_each_principal_as_expected() {
    let server = Setup::new()
        .await
        .plugins_dir(&[("outbound-probe.wasm", wasm("outbound-probe"))])
        .start()
        .await;
    let installed = server
        .client
        .post(server.url("/api/v1/admin/plugins"))
        .bearer_auth(&server.admin_token)
        .header("content-type", "application/wasm")
        .body(wasm("swap-v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(installed.status(), 201);
    let mounted = server
        .upload_plugin(wasm("http-app"), "?name=mounted&mount=/apps/mounted")
        .await;
    assert_eq!(mounted.0, 201, "{}", mounted.1);
    let member_a = server.user("a@example.com", false).await;
    let member_b = server.user("b@example.com", false).await;
    let admin = server.admin_token.clone();

    // The routes the server actually serves (core, then the two plugins').
    let mut routes: Vec<String> = kai_host::http::CoreApi::new()
        .routes()
        .iter()
        .map(|r| format!("{} {}", r.method, r.pattern.as_str()))
        .collect();
    let set = server.state.control.plugins.snapshot();
    routes.extend(
        set.routes
            .entries()
            .iter()
            .filter(|e| {
                [
                    "hello",
                    "outbound-probe",
                    "doc-versioning",
                    "collection-analytics",
                    "mounted",
                ]
                .contains(&e.plugin.manifest.name.as_str())
            })
            .map(|e| format!("{} {}", e.method, e.pattern.as_str())),
    );
    let matrix = matrix();
    let missing: Vec<&String> = routes
        .iter()
        .filter(|r| !matrix.contains_key(r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization matrix: {missing:?}"
    );
    let stale: Vec<&&str> = matrix
        .keys()
        .filter(|k| !routes.iter().any(|r| r == *k))
        .collect();
    assert!(
        stale.is_empty(),
        "matrix rows for routes that do not exist: {stale:?}"
    );

    let mut failures = Vec::new();
    let mut n = 0;
    for route in &routes {
        let entry = &matrix[route.as_str()];
        let (method, pattern) = route.split_once(' ').unwrap();
        for (who, token) in [
            ("anonymous", None),
            ("member A", Some(&member_a)),
            ("member B", Some(&member_b)),
            ("admin", Some(&admin)),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (who, token))| ((i, who), token))
        {
            n += 1;
            let owned = owned_by(&server, &member_a, n).await;
            let path = concrete(method, pattern, &owned);
            let body = entry.body.as_ref().map(|b| {
                let text = b
                    .to_string()
                    .replace("NAME", &format!("n{n}"))
                    .replace("CHECKPOINT", &owned.checkpoint);
                serde_json::from_str::<Value>(&text).unwrap()
            });
            let response = server
                .send(
                    method.parse().unwrap(),
                    &path,
                    token.map(|t| t.as_str()),
                    body.as_ref(),
                )
                .await;
            let status = response.status().as_u16();
            if status != entry.expect[who.0] {
                failures.push(format!(
                    "{route} as {}: expected {}, got {status}",
                    who.1, entry.expect[who.0]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix failures:\n{}",
        failures.join("\n")
    );
    support::assert_documented_count("Authorization cases", n);
    server.stop().await;
}
