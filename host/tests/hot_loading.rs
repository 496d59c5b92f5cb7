//! Hot-loading in a running server: install, upgrade, roll back, disable,
//! remove, each rule checked before anything changes; zero failed requests
//! while a plugin is swapped under load; the compiled cache across a
//! restart; the watched directory; the CLI; and two nodes on one database.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{M, Setup, TestServer, wasm};

async fn serving_version(server: &TestServer, path: &str) -> Option<String> {
    let (status, body) = server.admin_get(path).await;
    (status == 200).then(|| body["version"].as_str().unwrap_or_default().to_string())
}

/// Everything an install could touch: recorded versions and plugins, model
/// schemas, events, the route table and the serving versions.
async fn fingerprint(server: &TestServer) -> Value {
    use sqlx::Row;
    let db = &server.state.db;
    let mut counts = serde_json::Map::new();
    for table in [
        "plugin_versions",
        "plugins",
        "plugin_models",
        "plugin_events",
        "plugin_grants",
    ] {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(db.reader())
            .await
            .unwrap()
            .get(0);
        counts.insert(table.into(), n.into());
    }
    let (_, routes) = server.admin_get("/api/v1/admin/routes").await;
    let (_, plugins) = server.admin_get("/api/v1/admin/plugins").await;
    let versions: Vec<Value> = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!([p["name"], p["version"], p["status"], p["sha256"]]))
        .collect();
    json!({ "counts": counts, "routes": routes, "versions": versions })
}

#[tokio::test]
async fn install_upgrade_rollback_disable_and_remove() {
    let server = TestServer::start().await;
    let (status, report) = server.upload_plugin(wasm("swap-v1"), "").await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(
        (report["action"].as_str(), report["version"].as_str()),
        (Some("installed"), Some("1.0.0"))
    );
    assert_eq!(report["manifest"]["name"], "swap");
    assert_eq!(
        report["route_changes"]["added"],
        json!(["GET /api/v1/swap/ping", "GET /api/v1/swap/slow"])
    );
    assert_eq!(report["migration_plan"]["steps"], json!([]));
    assert!(report["requested"].is_object());
    assert_eq!(
        serving_version(&server, "/api/v1/swap/ping")
            .await
            .as_deref(),
        Some("1.0.0")
    );

    let (status, report) = server.upload_plugin(wasm("swap-v2"), "").await;
    assert_eq!(
        (status, report["action"].as_str()),
        (200, Some("upgraded")),
        "{report}"
    );
    assert_eq!(report["previous_version"], "1.0.0");
    assert_eq!(
        serving_version(&server, "/api/v1/swap/ping")
            .await
            .as_deref(),
        Some("2.0.0")
    );

    let (status, report, _) = server
        .call(
            M::POST,
            "/api/v1/admin/plugins/swap/rollback",
            &server.admin_token,
            None,
        )
        .await;
    assert_eq!(
        (status, report["version"].as_str()),
        (200, Some("1.0.0")),
        "{report}"
    );
    assert_eq!(
        serving_version(&server, "/api/v1/swap/ping")
            .await
            .as_deref(),
        Some("1.0.0")
    );

    // Disabled: its routes go away; enabled: back.
    let (status, _, _) = server
        .call(
            M::POST,
            "/api/v1/admin/plugins/swap/disable",
            &server.admin_token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(server.admin_get("/api/v1/swap/ping").await.0, 404);
    let (status, _, _) = server
        .call(
            M::POST,
            "/api/v1/admin/plugins/swap/enable",
            &server.admin_token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        serving_version(&server, "/api/v1/swap/ping")
            .await
            .as_deref(),
        Some("1.0.0")
    );

    // The history says who did what, from which version to which.
    let (_, detail) = server.admin_get("/api/v1/admin/plugins/swap").await;
    let actions: Vec<(String, Value, Value)> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["from_version"].clone(),
                e["to_version"].clone(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("installed".into(), Value::Null, json!("1.0.0")),
            ("upgraded".into(), json!("1.0.0"), json!("2.0.0")),
            ("rolled_back".into(), json!("2.0.0"), json!("1.0.0")),
            ("disabled".into(), json!("1.0.0"), json!("1.0.0")),
            ("enabled".into(), json!("1.0.0"), json!("1.0.0")),
        ]
    );
    assert_eq!(detail["history"][0]["actor"], "admin@localhost");
    assert_eq!(detail["versions"].as_array().unwrap().len(), 2);

    // Removed: routes gone, the record kept.
    let (status, _, _) = server
        .call(
            M::DELETE,
            "/api/v1/admin/plugins/swap",
            &server.admin_token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(server.admin_get("/api/v1/swap/ping").await.0, 404);
    let (status, detail) = server.admin_get("/api/v1/admin/plugins/swap").await;
    assert_eq!(
        (status, detail["history"].as_array().unwrap().len()),
        (200, 6)
    );
    server.stop().await;
}

/// Each change is served as asked the moment its response arrives, however
/// fast they follow each other. On PostgreSQL every change also comes back
/// to this node as a notification, and the reconciliation it starts must
/// not apply what it read before a later change landed.
#[tokio::test]
async fn quick_toggles_are_each_served_as_asked() {
    let server = TestServer::start().await;
    let (status, report) = server.upload_plugin(wasm("swap-v1"), "").await;
    assert_eq!(status, 201, "{report}");
    for round in 0..40 {
        for action in ["disable", "enable"] {
            let path = format!("/api/v1/admin/plugins/swap/{action}");
            let (status, body, _) = server.call(M::POST, &path, &server.admin_token, None).await;
            assert_eq!(status, 200, "{action} in round {round}: {body}");
        }
        assert_eq!(
            server.admin_get("/api/v1/swap/ping").await.0,
            200,
            "ping right after disable and enable, round {round}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn every_refused_install_changes_nothing() {
    let server = Setup::new()
        .await
        .plugins_dir(&[("schema-demo.wasm", wasm("schema-v1-1"))])
        .start()
        .await;
    let (status, _) = server.upload_plugin(wasm("swap-v1"), "").await;
    assert_eq!(status, 201);
    let member = server.user("m@example.com", false).await;

    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "junk",
            b"not wasm at all".to_vec(),
            "",
            422,
            "not a WebAssembly component",
        ),
        (
            "core module",
            b"\0asm\x01\0\0\0".to_vec(),
            "",
            422,
            "core WebAssembly module",
        ),
        (
            "another world",
            wasm("other-world"),
            "",
            422,
            "does not target the kai:fusion/plugin world",
        ),
        (
            "future host",
            wasm("needs-host-9"),
            "",
            422,
            "needs host API `^9.0`",
        ),
        (
            "route conflict",
            wasm("hello-clash"),
            "",
            409,
            "conflicts with",
        ),
        ("core shadow", wasm("shadow-core"), "", 409, "core API"),
        ("same version", wasm("swap-v1"), "", 409, "is not newer"),
        (
            "unmet dependency",
            wasm("swap-dependent"),
            "",
            409,
            "needs `swap` ^2, but 1.0.0 is installed",
        ),
        (
            "destructive minor",
            wasm("schema-v1-2"),
            "",
            422,
            "destructive",
        ),
        (
            "unconfirmed destructive",
            wasm("schema-v2"),
            "",
            409,
            "`?confirm_destructive=true` on the admin API",
        ),
    ];
    for (what, bytes, query, expected, message) in cases {
        let before = fingerprint(&server).await;
        let (status, body) = server.upload_plugin(bytes, query).await;
        assert_eq!(status, expected, "{what}: {body}");
        let text = body["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{what}: `{message}` not in {text}");
        assert_eq!(
            fingerprint(&server).await,
            before,
            "{what} changed something"
        );
    }

    // Wrong media type, a member, and a removal others depend on.
    let response = server
        .client
        .post(server.url("/api/v1/admin/plugins"))
        .bearer_auth(&server.admin_token)
        .body(wasm("swap-v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = server
        .client
        .post(server.url("/api/v1/admin/plugins"))
        .bearer_auth(&member)
        .header("content-type", "application/wasm")
        .body(wasm("swap-v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(server.upload_plugin(wasm("swap-v2"), "").await.0, 200);
    assert_eq!(
        server.upload_plugin(wasm("swap-dependent"), "").await.0,
        201
    );
    let before = fingerprint(&server).await;
    let (status, body, _) = server
        .call(
            M::DELETE,
            "/api/v1/admin/plugins/swap",
            &server.admin_token,
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("swap-dependent")
    );
    assert_eq!(fingerprint(&server).await, before);
    let (status, _) = server.upload_plugin(wasm("swap-v1"), "").await;
    assert_eq!(status, 409, "an older version without force");

    // Forced reinstall of an older version; a confirmed destructive upgrade.
    let (status, body) = server.upload_plugin(wasm("swap-v2"), "?force=true").await;
    assert_eq!(
        (status, body["action"].as_str()),
        (200, Some("reinstalled"))
    );
    let (status, body) = server
        .upload_plugin(wasm("schema-v2"), "?confirm_destructive=true")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["migration_plan"]["destructive"], true);
    assert!(
        body["migration_plan"]["steps"]
            .to_string()
            .contains("drop_column")
    );
    server.stop().await;
}

#[tokio::test]
async fn swapping_under_load_fails_no_request() {
    let server = TestServer::start().await;
    assert_eq!(server.upload_plugin(wasm("swap-v1"), "").await.0, 201);
    let v1 = wasm("swap-v1");
    let v2 = wasm("swap-v2");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for i in 0..32 {
        let (client, url, token, stop) = (
            server.client.clone(),
            server.url(if i % 4 == 0 {
                "/api/v1/swap/slow"
            } else {
                "/api/v1/swap/ping"
            }),
            server.admin_token.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failures, mut versions) =
                (0u32, Vec::new(), std::collections::BTreeSet::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match client.get(&url).bearer_auth(&token).send().await {
                    Ok(response) if response.status() == 200 => {
                        let body: Value = response.json().await.unwrap();
                        versions.insert(body["version"].as_str().unwrap().to_string());
                        ok += 1;
                    }
                    Ok(response) => failures.push(format!("status {}", response.status())),
                    Err(error) => failures.push(error.to_string()),
                }
            }
            (ok, failures, versions)
        }));
    }
    let started = Instant::now();
    for round in 0..20 {
        assert_eq!(
            server.upload_plugin(v2.clone(), "").await.0,
            200,
            "upgrade {round}"
        );
        let (status, body, _) = server
            .call(
                M::POST,
                "/api/v1/admin/plugins/swap/rollback",
                &server.admin_token,
                None,
            )
            .await;
        assert_eq!(status, 200, "rollback {round}: {body}");
    }
    assert_eq!(server.upload_plugin(v2, "").await.0, 200);
    let _ = v1;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut total, mut seen) = (0u32, std::collections::BTreeSet::new());
    for client in clients {
        let (ok, failures, versions) = client.await.unwrap();
        assert!(
            failures.is_empty(),
            "failed requests during swaps: {failures:?}"
        );
        total += ok;
        seen.extend(versions);
    }
    let expected: std::collections::BTreeSet<String> =
        ["1.0.0".to_string(), "2.0.0".to_string()].into();
    assert_eq!(seen, expected);
    assert!(total > 100, "{total} requests in {:?}", started.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn a_restart_brings_back_the_set_from_the_compiled_cache() {
    let server = TestServer::start().await;
    assert_eq!(server.upload_plugin(wasm("swap-v2"), "").await.0, 201);
    let (_, before) = server.admin_get("/api/v1/admin/plugins").await;
    let (data_dir, database_url, temp) = server.stop_keeping_data().await;
    let server = Setup::reuse(data_dir, database_url).start().await;
    let (_, after) = server.admin_get("/api/v1/admin/plugins").await;
    let summary = |body: &Value| -> Vec<Value> {
        body["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| json!([p["name"], p["version"], p["sha256"]]))
            .collect()
    };
    assert_eq!(summary(&before), summary(&after));
    let hits = after["compile_cache"]["hits"].as_u64().unwrap();
    assert!(
        hits >= 4,
        "restart loads compiled components from the cache: {}",
        after["compile_cache"]
    );
    assert_eq!(
        serving_version(&server, "/api/v1/swap/ping")
            .await
            .as_deref(),
        Some("2.0.0")
    );
    // An unchanged reinstall does not compile again either.
    let misses = after["compile_cache"]["misses"].as_u64().unwrap();
    assert_eq!(
        server.upload_plugin(wasm("swap-v2"), "?force=true").await.0,
        200
    );
    let (_, again) = server.admin_get("/api/v1/admin/plugins").await;
    assert_eq!(again["compile_cache"]["misses"].as_u64().unwrap(), misses);
    server.stop().await;
    drop(temp);
}

/// Waits until swap `version` serves; when it did.
async fn wait_for(server: &TestServer, version: &str) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if serving_version(server, "/api/v1/swap/ping")
            .await
            .as_deref()
            == Some(version)
        {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "swap {version} did not appear");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_watched_directory_installs_what_is_written_into_it() {
    let watched = tempfile::tempdir().unwrap();
    let dir = watched.path().to_path_buf();
    let server = Setup::new()
        .await
        .configure(|c| c.watch_plugins = Some(dir.clone()))
        .start()
        .await;
    // Written slowly, in two halves: never read half-written.
    let bytes = wasm("swap-v1");
    let (first, second) = bytes.split_at(bytes.len() / 2);
    std::fs::write(dir.join("swap.wasm"), first).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("swap.wasm"))
        .unwrap();
    std::io::Write::write_all(&mut file, second).unwrap();
    drop(file);
    let written = Instant::now();
    let served = wait_for(&server, "1.0.0").await;
    assert!(
        served - written < Duration::from_secs(3),
        "took {:?}",
        served - written
    );

    // A broken file is reported; the old version keeps serving.
    std::fs::write(dir.join("broken.wasm"), b"garbage").unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        serving_version(&server, "/api/v1/swap/ping")
            .await
            .as_deref(),
        Some("1.0.0")
    );
    std::fs::write(dir.join("swap.wasm"), wasm("swap-v2")).unwrap();
    wait_for(&server, "2.0.0").await;
    server.stop().await;
}

#[tokio::test]
async fn the_cli_manages_plugins_on_a_running_server() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("swap.wasm");
    std::fs::write(&file, wasm("swap-v1")).unwrap();
    let file = file.to_str().unwrap().to_string();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", server.admin_token)).unwrap();
    let server_url = server.url("");
    // `kai plugin <args>`, with the server and token flags after the
    // subcommand, as a user types them; the exit code and what it printed.
    let run = |args: Vec<&str>, env: Vec<(&str, &str)>| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kai"));
        command
            .arg("plugin")
            .args(args)
            .args(["--server", &server_url])
            .env_remove("KAI_TOKEN")
            .current_dir(dir.path());
        for (name, value) in env {
            command.env(name, value);
        }
        async move {
            let output = command.output().await.unwrap();
            (
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stdout).to_string(),
                String::from_utf8_lossy(&output.stderr).to_string(),
            )
        }
    };
    let token = ["--token", server.admin_token.as_str()];
    fn with<'a>(args: &[&'a str], token: [&'a str; 2]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend(token);
        all
    }

    let (code, out, err) = run(with(&["install", &file], token), vec![]).await;
    assert_eq!((code, out.as_str()), (0, "installed swap 1.0.0\n"), "{err}");
    std::fs::write(&file, wasm("swap-v2")).unwrap();
    let token_flag = format!("--token-file={}", token_file.display());
    let (code, out, err) = run(vec!["install", &file, &token_flag], vec![]).await;
    assert_eq!(
        (code, out.as_str()),
        (0, "upgraded swap 2.0.0 (was 1.0.0)\n"),
        "{err}"
    );

    // What runs, as a table; the server's answer with --json.
    let (code, out, _) = run(with(&["list"], token), vec![]).await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("VERSION"),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("swap ") && l.contains("2.0.0") && l.contains("active")),
        "{out}"
    );
    assert!(out.lines().count() < 12, "{out}");
    let (code, out, _) = run(with(&["list", "--json"], token), vec![]).await;
    assert_eq!(code, 0);
    let listing: Value = serde_json::from_str(&out).unwrap();
    assert!(
        listing["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "swap")
    );

    // A refusal names the flag that changes it, and the message is said once.
    let (code, _, err) = run(with(&["install", &file], token), vec![]).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("pass --force") && !err.contains("force=true"),
        "{err}"
    );
    assert!(!err.contains("plugin: plugin"), "{err}");
    let (code, out, _) = run(with(&["rollback", "swap"], token), vec![]).await;
    assert_eq!((code, out.as_str()), (0, "rolled back swap to 1.0.0\n"));
    let (code, _, err) = run(with(&["install", &file, "--force"], token), vec![]).await;
    assert_eq!(code, 0, "{err}");

    // A user error is a message and its causes, never a backtrace.
    let (code, out, err) = run(
        vec!["list", "--token-file", "/nonexistent/token"],
        vec![("RUST_BACKTRACE", "1")],
    )
    .await;
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.starts_with("error: reading the token file /nonexistent/token"),
        "{err}"
    );
    assert!(
        !err.contains("stack backtrace") && !err.contains("panicked"),
        "{err}"
    );
    // No token anywhere: it says which file it tried.
    let (code, _, err) = run(vec!["list"], vec![]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("no token") && err.contains("data/admin.token"),
        "{err}"
    );

    // An install that waits for a grant exits 3, and says what to run.
    let probe = dir.path().join("outbound-probe.wasm");
    std::fs::write(&probe, wasm("outbound-probe")).unwrap();
    let (code, out, err) = run(with(&["install", probe.to_str().unwrap()], token), vec![]).await;
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("it waits for a grant of:"), "{out}");
    assert!(err.contains("kai plugin grant outbound-probe"), "{err}");
    let (code, out, _) = run(with(&["grant", "outbound-probe"], token), vec![]).await;
    assert_eq!(code, 0, "{out}");

    // A reader that stops early ends the command quietly.
    let shell = format!(
        "{} plugin list --json --server {server_url} --token {} | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_kai"),
        server.admin_token
    );
    let output = tokio::process::Command::new("bash")
        .args(["-c", &shell])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );

    let (code, _, _) = run(with(&["remove", "swap"], token), vec![]).await;
    assert_eq!(code, 0);
    let (code, _, err) = run(with(&["rollback", "swap"], token), vec![]).await;
    assert!(code == 1 && err.contains("no plugin named"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn two_nodes_on_one_database_serve_the_same_plugins() {
    if support::postgres_url().is_none() {
        eprintln!(
            "notice: two nodes share a database only on PostgreSQL; skipped without KAI_TEST_POSTGRES_URL"
        );
        return;
    }
    let node1 = TestServer::start().await;
    let other_dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::reuse(other_dir.path().join("data"), node1.database_url.clone());
    // Both nodes must share the master key.
    std::fs::create_dir_all(other_dir.path().join("data")).unwrap();
    std::fs::copy(
        node1.data_dir.join("master.key"),
        other_dir.path().join("data/master.key"),
    )
    .unwrap();
    std::fs::write(
        other_dir.path().join("data/admin.token"),
        &node1.admin_token,
    )
    .unwrap();
    setup.config.listen = "127.0.0.1:0".parse().unwrap();
    let node2 = setup.start().await;

    let serves = |node: &TestServer, version: &'static str| {
        let url = node.url("/api/v1/swap/ping");
        let (client, token) = (node.client.clone(), node.admin_token.clone());
        async move {
            let started = Instant::now();
            loop {
                let response = client
                    .request(Method::GET, &url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                if response.status() == 200
                    && response.json::<Value>().await.unwrap()["version"] == version
                {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "node did not serve {version}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(node1.upload_plugin(wasm("swap-v1"), "").await.0, 201);
    let waited = serves(&node2, "1.0.0").await;
    assert!(waited < Duration::from_secs(1), "node 2 took {waited:?}");
    assert_eq!(node1.upload_plugin(wasm("swap-v2"), "").await.0, 200);
    let waited = serves(&node2, "2.0.0").await;
    assert!(
        waited < Duration::from_secs(1),
        "node 2 took {waited:?} to serve the upgrade"
    );
    let (status, _, _) = node1
        .call(
            M::POST,
            "/api/v1/admin/plugins/swap/disable",
            &node1.admin_token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(2);
    while node2.admin_get("/api/v1/swap/ping").await.0 != 404 {
        assert!(
            Instant::now() < deadline,
            "node 2 still serves a disabled plugin"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node2.stop_keeping_data().await;
    node1.stop().await;
}
