//! Unmodified `wasi:http/proxy` components (built in this repository from
//! `host/tests/fixtures/http-app*` with the `wasi` crate, as `wasmtime
//! serve` would run them), installed as plugins mounted under a prefix on
//! a real server: what they see of a request, the limits and grants they
//! run under, a hot swap under load and a rollback, a restart, and every
//! refusal of a bad install, which changes nothing.

mod support;

use serde_json::{Value, json};
use support::{M, Setup, TestServer, wasm};

/// The admin's install of `wasm` with `query` (`?name=...&mount=...`).
async fn install(server: &TestServer, wasm: Vec<u8>, query: &str) -> (u16, Value) {
    server.upload_plugin(wasm, query).await
}

/// GET `path` with `token`; the status and the JSON body.
async fn get(server: &TestServer, path: &str, token: &str) -> (u16, Value) {
    let (status, body, _) = server.call(M::GET, path, token, None).await;
    (status, body)
}

#[tokio::test]
async fn a_wasi_http_component_serves_under_its_mount_with_the_limits_and_grants_of_a_plugin() {
    let server = Setup::new()
        .await
        .configure(|c| {
            c.plugin_timeout_ms = 1_000;
            c.plugin_memory_mib = 64;
            c.max_response_bytes = 1 << 20;
        })
        .start()
        .await;
    let member = server.user("member@example.com", false).await;
    let app = wasm("http-app");

    // Installed with a name and a mount.
    let (status, body) = install(&server, app.clone(), "?name=app&mount=/apps/app").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], "0.1.0");
    assert_eq!(body["manifest"]["mount"]["mount"], "/apps/app");
    assert_eq!(body["route_changes"]["added"].as_array().unwrap().len(), 10);

    // A token is needed, as on any plugin route that is not public.
    assert_eq!(server.get("/apps/app").await.0, 401);
    let (status, body) = get(&server, "/apps/app", &member).await;
    assert_eq!((status, &body), (200, &json!({ "app": "http-app" })));
    assert_eq!(get(&server, "/apps/app/", &member).await.1, body);
    let (status, body) = get(&server, "/apps/app/nowhere", &member).await;
    assert_eq!((status, body["path"].as_str()), (404, Some("/nowhere")));
    assert_eq!(get(&server, "/apps/other", &member).await.0, 404);

    // The request as the component sees it: the path without the mount,
    // the query as sent, the caller named by the host, credentials and
    // spoofed host headers withheld.
    let me = get(&server, "/api/v1/me", &member).await.1;
    for method in [M::POST, M::PUT, M::PATCH, M::DELETE] {
        let response = server
            .client
            .request(method.clone(), server.url("/apps/app/echo/x?q=a%20b&r=1"))
            .bearer_auth(&member)
            .header("cookie", "session=secret")
            .header("x-custom", "yes")
            .header("x-kai-user-id", "spoofed")
            .header("x-forwarded-prefix", "/spoofed")
            .body("hello")
            .send()
            .await
            .unwrap();
        let (status, echo) = support::json_of(response).await;
        assert_eq!(status, 200, "{echo}");
        assert_eq!(echo["method"], method.as_str());
        assert_eq!(echo["target"], "/echo/x?q=a%20b&r=1");
        assert_eq!(echo["prefix"], "/apps/app");
        assert_eq!(echo["user_id"], me["id"]);
        assert_eq!(echo["user_role"], "member");
        assert_eq!(echo["authorization"], Value::Null);
        assert_eq!(echo["cookie"], Value::Null);
        assert_eq!(echo["custom"], "yes");
        assert_eq!(echo["body"], "hello");
    }

    // WASI's clock tells the time (a component has no other).
    let seconds = get(&server, "/apps/app/time", &member).await.1["seconds"]
        .as_u64()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(seconds.abs_diff(now) < 60, "{seconds} vs {now}");

    // A body streamed in many chunks arrives whole; one over the response
    // cap is refused, and the component goes on serving.
    let response = server
        .send(M::GET, "/apps/app/big?bytes=300000", Some(&member), None)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().len(), 300_000);
    let (status, body) = get(&server, "/apps/app/big?bytes=2000000", &member).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("plugin_response_too_large")),
        "{body}"
    );

    // The deadline and the memory limit end a call as they end a plugin's.
    let (status, body) = get(&server, "/apps/app/spin", &member).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (504, Some("plugin_timeout")),
        "{body}"
    );
    let (status, body) = get(&server, "/apps/app/grow", &member).await;
    assert_eq!(
        body["error"]["code"], "plugin_memory_exceeded",
        "{status} {body}"
    );
    assert_eq!(get(&server, "/apps/app", &member).await.0, 200);

    // Outbound requests are refused until an origin is granted.
    let target = format!("/apps/app/fetch?url=http://{}/readyz", server.addr);
    let (status, body) = get(&server, &target, &member).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("ErrorCode::HttpRequestDenied")),
        "{body}"
    );
    let (status, body) = install(
        &server,
        app.clone(),
        "?name=app&mount=/apps/app&outbound=http://127.0.0.1:*",
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("awaiting_grant")),
        "{body}"
    );
    assert_eq!(
        body["missing"]["outbound_hosts"],
        json!(["http://127.0.0.1:*"])
    );
    assert_eq!(
        get(&server, &target, &member).await.0,
        502,
        "0.1.0 serves until granted"
    );
    let granted = server
        .call_expecting(
            M::POST,
            "/api/v1/admin/plugins/app/grants",
            &server.admin_token,
            Some(json!({ "accept_requested": true })),
            200,
        )
        .await;
    assert_eq!(granted["version"], "0.1.1");
    let (status, body) = get(&server, &target, &member).await;
    assert_eq!(
        (status, body["status"].as_u64()),
        (200, Some(200)),
        "{body}"
    );
    let elsewhere = "/apps/app/fetch?url=http://localhost:9/";
    assert_eq!(
        get(&server, elsewhere, &member).await.1["error"],
        "ErrorCode::HttpRequestDenied"
    );

    // What the admin API tells of it.
    let (_, shown) = server.admin_get("/api/v1/admin/plugins/app").await;
    assert_eq!(
        (shown["kind"].as_str(), shown["mount"].as_str()),
        (Some("wasi-http"), Some("/apps/app"))
    );
    let (_, routes) = server.admin_get("/api/v1/admin/routes").await;
    assert!(
        routes["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/apps/app/{*path}"
                && r["method"] == "PATCH"
                && r["owner"] == "plugin:app"),
        "{routes}"
    );

    // A hot swap to another component, given only the name (the mount and
    // the granted origins stay), and a rollback, under load: no request
    // fails.
    let load = {
        let (client, url, token) = (
            server.client.clone(),
            server.url("/apps/app"),
            member.clone(),
        );
        tokio::spawn(async move {
            let (mut answered, mut failed) = (0, std::collections::BTreeMap::new());
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(3) {
                let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
                match response.status().as_u16() {
                    200 => answered += 1,
                    other => *failed.entry(other).or_insert(0) += 1,
                }
            }
            (answered, failed)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, body) = install(&server, wasm("http-app-next"), "?name=app").await;
    assert_eq!(
        (status, body["action"].as_str()),
        (200, Some("upgraded")),
        "{body}"
    );
    assert_eq!(body["version"], "0.1.2");
    let (_, body) = get(&server, "/apps/app/x?y=1", &member).await;
    assert_eq!(body, json!({ "app": "http-app-next", "target": "/x?y=1" }));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let rolled = server
        .call_expecting(
            M::POST,
            "/api/v1/admin/plugins/app/rollback",
            &server.admin_token,
            None,
            200,
        )
        .await;
    assert_eq!(rolled["version"], "0.1.1");
    let (answered, failed) = load.await.unwrap();
    assert!(
        failed.is_empty() && answered > 20,
        "{answered} answered, failed by status: {failed:?}"
    );
    assert_eq!(
        get(&server, "/apps/app", &member).await.1["app"],
        "http-app"
    );

    // A public mount needs the operator's grant, then serves without a
    // token (and still refuses a bad one).
    let (status, body) = install(&server, app.clone(), "?name=open&mount=/open&public=true").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("awaiting_grant")),
        "{body}"
    );
    assert_eq!(server.get("/open").await.0, 404);
    server
        .call_expecting(
            M::POST,
            "/api/v1/admin/plugins/open/grants",
            &server.admin_token,
            Some(json!({ "accept_requested": true })),
            200,
        )
        .await;
    assert_eq!(
        server.get("/open").await,
        (200, json!({ "app": "http-app" }))
    );
    let echo = server.get("/open/echo").await.1;
    assert_eq!(
        (echo["prefix"].as_str(), &echo["user_id"]),
        (Some("/open"), &Value::Null)
    );
    assert_eq!(get(&server, "/open", "kai_not-a-token").await.0, 401);

    // A restart brings both back as they were: mounts, grants, versions.
    let (data_dir, database_url, temp) = server.stop_keeping_data().await;
    let server = Setup::reuse(data_dir, database_url).start().await;
    let _temp = temp;
    assert_eq!(
        get(&server, "/apps/app", &member).await.1["app"],
        "http-app"
    );
    let target = format!("/apps/app/fetch?url=http://{}/readyz", server.addr);
    assert_eq!(get(&server, &target, &member).await.0, 200);
    assert_eq!(server.get("/open").await.0, 200);
    let (_, shown) = server.admin_get("/api/v1/admin/plugins/app").await;
    assert_eq!(shown["version"], "0.1.1");
    server.stop().await;
}

#[tokio::test]
async fn a_bad_install_of_a_component_is_refused_naming_the_problem_and_changes_nothing() {
    let server = TestServer::start().await;
    let app = wasm("http-app");
    let refusals: &[(&str, u16, &str)] = &[
        ("", 422, "install it with a name and a mount"),
        ("?name=app", 422, "mount"),
        ("?mount=/apps/app", 422, "name"),
        ("?name=App&mount=/a", 422, "not a plugin name"),
        ("?name=app&mount=apps", 422, "must start with `/`"),
        ("?name=app&mount=/apps/{x}", 422, "literal path"),
        (
            "?name=app&mount=/api/v1/admin/x",
            422,
            "reserved for the host",
        ),
        (
            "?name=app&mount=/a&outbound=ftp://x.example",
            422,
            "http or https",
        ),
        (
            "?name=app&mount=/a&outbound=https://x.example/path",
            422,
            "origin only",
        ),
        (
            "?name=app&mount=/a&version=one",
            422,
            "not a semantic version",
        ),
        ("?name=app&mount=/a&public=maybe", 400, "true or false"),
        ("?name=app&mount=/api/v1/collections", 409, "core API"),
    ];
    for (query, expected, says) in refusals {
        let (status, body) = install(&server, app.clone(), query).await;
        assert_eq!(status, *expected, "{query}: {body}");
        assert!(
            body.to_string().contains(says),
            "{query}: {body} does not say `{says}`"
        );
    }
    // A kai:fusion plugin declares its own name and routes.
    let (status, body) = install(&server, wasm("hello-clash"), "?name=app&mount=/a").await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string()
            .contains("install it without a name or a mount"),
        "{body}"
    );
    // Nothing was installed by any of them.
    assert_eq!(server.admin_get("/api/v1/admin/plugins/app").await.0, 404);
    let (_, routes) = server.admin_get("/api/v1/admin/routes").await;
    assert!(!routes.to_string().contains("plugin:app"), "{routes}");

    // Two mounts cannot overlap; an upgrade keeps its mount.
    assert_eq!(
        install(&server, app.clone(), "?name=app&mount=/apps")
            .await
            .0,
        201
    );
    let (status, body) = install(&server, app.clone(), "?name=inner&mount=/apps/inner").await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("plugin `app`"), "{body}");
    let (status, body) = install(&server, app.clone(), "?name=app&public=true").await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string().contains("give the mount as well"),
        "{body}"
    );
    server.stop().await;
}

/// `kai plugin install --name --mount` installs a component on a running
/// server, as an operator would.
#[tokio::test]
async fn the_cli_installs_a_component_under_a_mount() {
    let server = TestServer::start().await;
    let member = server.user("member@example.com", false).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.wasm");
    std::fs::write(&file, wasm("http-app")).unwrap();
    let (code, out) = support::kai_command(&[
        "plugin",
        "install",
        file.to_str().unwrap(),
        "--name",
        "app",
        "--mount",
        "/apps/app",
        "--server",
        &format!("http://{}", server.addr),
        "--token",
        &server.admin_token,
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("installed app 0.1.0, mounted at /apps/app"),
        "{out}"
    );
    assert_eq!(
        get(&server, "/apps/app", &member).await.1["app"],
        "http-app"
    );
    server.stop().await;
}
