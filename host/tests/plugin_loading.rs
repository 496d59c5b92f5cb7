//! Loading plugins at start: good ones serve, bad ones are refused with a
//! message that says why, and the rest keep serving.

mod support;

use serde_json::Value;
use support::{M, Setup, TestServer, wasm};

/// The refusal whose origin mentions `file`, as the admin API reports it.
async fn refusal(server: &TestServer, file: &str) -> String {
    let (status, body) = server.admin_get("/api/v1/admin/plugins").await;
    assert_eq!(status, 200);
    body["refused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["origin"].as_str().unwrap().contains(file))
        .unwrap_or_else(|| panic!("no refusal for {file}: {body}"))["error"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The admin API's entry for the loaded plugin `name`.
async fn plugin_entry(server: &TestServer, name: &str) -> Value {
    let (status, body) = server.admin_get("/api/v1/admin/plugins").await;
    assert_eq!(status, 200);
    body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not loaded: {body}"))
        .clone()
}

fn plugin_names(body: &Value) -> Vec<String> {
    body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn bad_files_are_refused_by_cause_and_the_rest_serve() {
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let server = Setup::new()
        .await
        .plugins_dir(&[
            ("junk.wasm", b"definitely not wasm".to_vec()),
            ("core.wasm", core_module),
            ("other-world.wasm", wasm("other-world")),
            ("needs-host-9.wasm", wasm("needs-host-9")),
            ("hello-clash.wasm", wasm("hello-clash")),
            ("route-ambiguous.wasm", wasm("route-ambiguous")),
            ("route-doc-bad.wasm", wasm("route-doc-bad")),
            ("shadow-core.wasm", wasm("shadow-core")),
            ("readme.txt", b"ignored: not a .wasm file".to_vec()),
        ])
        .start()
        .await;

    let junk = refusal(&server, "junk.wasm").await;
    assert!(junk.contains("not a WebAssembly component"), "{junk}");
    assert!(junk.contains("magic number"), "{junk}");

    let core = refusal(&server, "core.wasm").await;
    assert!(core.contains("core WebAssembly module"), "{core}");

    let other = refusal(&server, "other-world.wasm").await;
    assert!(
        other.contains("does not target the kai:fusion/plugin world"),
        "{other}"
    );

    let future = refusal(&server, "needs-host-9.wasm").await;
    assert!(future.contains("needs host API `^9.0`"), "{future}");
    assert!(future.contains("kai:fusion 0.2.4"), "{future}");

    let clash = refusal(&server, "hello-clash.wasm").await;
    assert!(clash.contains("`hello-clash`"), "{clash}");
    assert!(clash.contains("`hello`"), "{clash}");
    assert!(
        clash.contains("/api/v1/hello/{who}") && clash.contains("/api/v1/hello/{name}"),
        "{clash}"
    );

    assert!(
        clash.contains(
            "a path belongs to one plugin: mount the route elsewhere, or remove `hello` first"
        ),
        "{clash}"
    );

    let ambiguous = refusal(&server, "route-ambiguous.wasm").await;
    assert!(
        ambiguous.contains("GET /api/v1/twice/{a}") && ambiguous.contains("GET /api/v1/twice/{b}"),
        "{ambiguous}"
    );
    assert!(
        ambiguous.contains("remove one, or make a segment of one a literal"),
        "{ambiguous}"
    );

    let documented = refusal(&server, "route-doc-bad.wasm").await;
    assert!(
        documented.contains("documents route `POST /api/v1/route-doc-bad`")
            && documented.contains("request schema must be a JSON object or a boolean"),
        "{documented}"
    );

    let shadow = refusal(&server, "shadow-core.wasm").await;
    assert!(
        shadow.contains("`shadow-core`") && shadow.contains("core API"),
        "{shadow}"
    );
    assert!(shadow.contains("/api/v1/documents/{id}"), "{shadow}");
    assert!(
        shadow.contains("the core API owns every method on its paths"),
        "{shadow}"
    );

    // Nothing refused made it in, and the bundled plugin still serves.
    let (_, body) = server.admin_get("/api/v1/admin/plugins").await;
    let names = plugin_names(&body);
    assert!(names.contains(&"hello".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| [
            "hello-clash",
            "needs-host-9",
            "route-ambiguous",
            "route-doc-bad"
        ]
        .contains(&n.as_str())),
        "{names:?}"
    );
    let (status, _) = server.get("/api/v1/hello/still-here").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn admin_lists_plugins_and_the_full_route_table() {
    let server = TestServer::start().await;
    let (status, body) = server.admin_get("/api/v1/admin/plugins").await;
    assert_eq!(status, 200);
    let hello = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hello")
        .expect("hello is listed");
    assert_eq!(hello["status"], "active");
    assert_eq!(hello["source"], "bundled");
    assert_eq!(hello["routes"][0]["path"], "/api/v1/hello/{name}");
    assert_eq!(hello["routes"][0]["public"], true);
    assert_eq!(hello["limits"]["timeout_ms"], 5000);
    assert_eq!(hello["limits"]["memory_bytes"], 64 << 20);

    let misbehave = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "misbehave");
    assert!(misbehave.is_none(), "fixtures are not bundled");

    let (status, body) = server.admin_get("/api/v1/admin/routes").await;
    assert_eq!(status, 200);
    let routes = body["routes"].as_array().unwrap();
    assert!(
        routes
            .iter()
            .any(|r| r["path"] == "/healthz" && r["owner"] == "core")
    );
    assert!(
        routes
            .iter()
            .any(|r| r["path"] == "/api/v1/admin/plugins" && r["owner"] == "core")
    );
    assert!(
        routes
            .iter()
            .any(|r| r["path"] == "/api/v1/hello/{name}" && r["owner"] == "plugin:hello")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_plugin_asking_for_less_time_gets_it() {
    let server = TestServer::with_fixture("misbehave").await;
    let misbehave = plugin_entry(&server, "misbehave").await;
    assert_eq!(misbehave["limits"]["timeout_ms"], 1000);
    assert_eq!(misbehave["source"], "directory");
    server.stop().await;
}

#[tokio::test]
async fn the_operator_cap_wins_over_what_a_plugin_asks() {
    let server = Setup::new()
        .await
        .plugins_dir(&[("misbehave.wasm", wasm("misbehave"))])
        .configure(|c| {
            c.plugin_timeout_ms = 300;
            c.plugin_memory_mib = 16;
        })
        .start()
        .await;
    let limits = plugin_entry(&server, "misbehave").await["limits"].clone();
    assert_eq!(limits["timeout_ms"], 300);
    assert_eq!(limits["memory_bytes"], 16 << 20);
    let (status, _) = server.admin_get("/api/v1/misbehave/loop").await;
    assert_eq!(status, 504);
    server.stop().await;
}

// Two workers: the spinning guest yields only at epoch ticks, and on one
// thread it would slow everything else down to its tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugins_requests_take_turns_and_other_plugins_keep_their_own() {
    let server = Setup::new()
        .await
        .plugins_dir(&[
            ("misbehave.wasm", wasm("misbehave")),
            ("hello.wasm", wasm("hello")),
        ])
        // misbehave asks for a 1 s deadline itself.
        .configure(|c| c.plugin_concurrency = 1)
        .start()
        .await;
    let misbehave = plugin_entry(&server, "misbehave").await;
    assert_eq!(misbehave["limits"]["concurrent_requests"], 1);

    // A request that spins until its deadline takes misbehave's one turn;
    // the server says when it holds it.
    let in_flight = || {
        server.state.control.plugins.snapshot().plugins["misbehave"]
            .plugin
            .requests_in_flight()
    };
    let url = server.url("/api/v1/misbehave/loop");
    let token = server.admin_token.clone();
    let sent = std::time::Instant::now();
    let spinning = tokio::spawn(async move {
        let response = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    });
    server
        .eventually(10, || async { (in_flight() == 1).then_some(()) })
        .await;

    // Another plugin has turns of its own.
    let (status, body) = server.admin_get("/api/v1/hello/turns").await;
    assert_eq!(status, 200, "{body}");

    // misbehave's next request waits for the turn, and gets it when the
    // spinning one is stopped at its deadline (1 s after it was sent at the
    // latest), instead of failing. Its wait counts against its own
    // deadline, so it is sent well before the spinning one ends.
    tokio::time::sleep(std::time::Duration::from_millis(400).saturating_sub(sent.elapsed())).await;
    let asked = std::time::Instant::now();
    let (status, body) = server.admin_get("/api/v1/misbehave/ok").await;
    let waited = asked.elapsed();
    assert_eq!(status, 200, "{body}");
    assert_eq!(spinning.await.unwrap(), 504);
    // The spinning request held the turn for its whole second, which began
    // after it was sent: the answer cannot have come sooner than that
    // (however late this test's tasks are polled, which only adds).
    let spinner_ends_no_sooner_than =
        std::time::Duration::from_millis(1000).saturating_sub(asked.duration_since(sent));
    assert!(
        waited + std::time::Duration::from_millis(20) >= spinner_ends_no_sooner_than,
        "misbehave/ok answered after {waited:?}, while the turn was held for {spinner_ends_no_sooner_than:?} more"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_restart_brings_back_the_same_plugins_and_admin() {
    let server = TestServer::with_fixture("misbehave").await;
    let token = server.admin_token.clone();
    let (_, before) = server.admin_get("/api/v1/admin/plugins").await;
    let (data_dir, database_url, temp) = server.stop_keeping_data().await;

    // Second start: no plugins directory this time; the registry in the
    // database brings misbehave back, and the first admin is not recreated.
    let token_file = std::fs::read_to_string(data_dir.join("admin.token")).unwrap();
    let server = Setup::reuse(data_dir.clone(), database_url).start().await;
    assert_eq!(server.admin_token, token.trim());
    assert_eq!(
        std::fs::read_to_string(data_dir.join("admin.token")).unwrap(),
        token_file
    );
    let (status, after) = server.admin_get("/api/v1/admin/plugins").await;
    assert_eq!(status, 200);
    let summary = |body: &Value| {
        let mut list: Vec<(String, String, String)> = body["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["version"].as_str().unwrap().to_string(),
                    p["sha256"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        list.sort();
        list
    };
    assert_eq!(summary(&before), summary(&after));
    let (status, _) = server.admin_get("/api/v1/misbehave/ok").await;
    assert_eq!(status, 200);
    server.stop().await;
    drop(temp);
}

#[cfg(unix)]
#[tokio::test]
async fn the_bootstrap_token_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start().await;
    let mode = std::fs::metadata(server.data_dir.join("admin.token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    server.stop().await;
}

/// A plugin built against an earlier `kai:fusion` of the same compatible
/// series (0.1.0, before `query-columns` existed) loads on this host and
/// does all its work: its transactional hook writes through `persistence`
/// inside each change, and its route reads those rows back.
#[tokio::test]
async fn a_plugin_built_against_host_api_0_1_0_still_loads_and_serves() {
    use serde_json::json;
    use support::M;
    let old = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/prebuilt/tx-hook-api-0.1.0.wasm"
    ))
    .unwrap();
    let server = Setup::new()
        .await
        .plugins_dir(&[("tx-hook.wasm", old)])
        .start()
        .await;
    let (_, listing) = server.admin_get("/api/v1/admin/plugins").await;
    assert_eq!(listing["refused"], json!([]), "{listing}");
    let loaded = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "tx-hook")
        .unwrap_or_else(|| panic!("tx-hook is not loaded: {listing}"));
    assert_eq!(loaded["host_api"], "^0.1", "{loaded}");

    let token = server.admin_token.clone();
    let (_, id) = server.collection_with_document(&token, "one").await;
    let (status, _, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/documents/{id}"),
            &token,
            Some(json!({ "title": "two" })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body, _) = server
        .call(
            M::GET,
            &format!("/api/v1/tx-hook/changes?document_id={id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let recorded: Vec<(i64, &str)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["version"].as_i64().unwrap(), c["title"].as_str().unwrap()))
        .collect();
    assert_eq!(recorded, [(1, "one"), (2, "two")]);
    server.stop().await;
}

#[path = "fixtures/route-precedence/src/cases.rs"]
mod route_cases;

/// The cases the fixture's native tests check through `TestRequest`, here
/// against the server's route table: a plugin's literal route beside its
/// parameter route installs, and both route every path alike.
#[tokio::test]
async fn a_literal_route_wins_over_a_parameter_route_as_in_native_tests() {
    let server = Setup::new()
        .await
        .plugins_dir(&[("route-precedence.wasm", wasm("route-precedence"))])
        .start()
        .await;
    plugin_entry(&server, "route-precedence").await;
    for case in route_cases::CASES {
        let (status, body) = server.admin_get(case.path).await;
        route_cases::check(case, status, &body);
    }
    server.stop().await;
}

/// The repository's root.
fn repository() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
}

/// Runs `kai` with `args` from the repository's root, with no server;
/// builds get a target directory of their own, apart from the one this
/// test runs from. Returns the exit code, stdout and stderr.
async fn kai_local(args: &[&str]) -> (i32, String, String) {
    let root = repository();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kai"))
        .args(args)
        .current_dir(root)
        .env("CARGO_TARGET_DIR", root.join("target/plugin-build"))
        .output()
        .await
        .expect("kai runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

async fn kai_plugin_build(crate_dir: &str, json: bool) -> (i32, String, String) {
    let mut args = vec!["plugin", "build", crate_dir];
    if json {
        args.push("--json");
    }
    kai_local(&args).await
}

/// `kai plugin build` needs no server: it builds the crate for
/// wasm32-wasip2, loads the component as a server would and prints what it
/// declares, or the server's refusal.
#[tokio::test]
async fn kai_plugin_build_builds_a_crate_and_checks_it_as_a_server_would() {
    let (code, out, err) = kai_plugin_build("host/tests/fixtures/route-precedence", false).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("built route-precedence 1.0.0 (host API ^0.2.0)"),
        "{out}"
    );
    assert!(out.contains("GET    /api/v1/bookmarks/stats"), "{out}");
    assert!(
        out.contains("GET    /api/v1/bookmarks/{id}/tags/{tag}"),
        "{out}"
    );
    assert!(
        out.contains("install it with: kai plugin install")
            && out.contains("wasm32-wasip2/release/route_precedence.wasm"),
        "{out}"
    );

    let (code, out, err) = kai_plugin_build("host/tests/fixtures/route-precedence", true).await;
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).expect("--json prints one JSON document");
    assert_eq!(report["manifest"]["name"], "route-precedence");
    assert_eq!(report["manifest"]["routes"].as_array().unwrap().len(), 4);
    let wasm = std::fs::read(report["wasm"].as_str().unwrap()).unwrap();
    assert_eq!(report["size_bytes"], wasm.len());

    let (code, _, err) = kai_plugin_build("host/tests/fixtures/route-ambiguous", false).await;
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("builds, but a server would refuse it"),
        "{err}"
    );
    assert!(
        err.contains("remove one, or make a segment of one a literal"),
        "{err}"
    );
}

/// `kai plugin new` writes a crate outside any workspace whose native tests
/// pass and which builds into a plugin a server accepts; a taken directory
/// or a bad name changes nothing.
#[tokio::test]
async fn kai_plugin_new_makes_a_crate_that_tests_and_builds() {
    let parent = tempfile::tempdir().unwrap();
    let parent_dir = parent.path().to_str().unwrap();
    let sdk = repository().join("sdk");
    let new = |name: &'static str| {
        let sdk = sdk.to_str().unwrap().to_string();
        let parent_dir = parent_dir.to_string();
        async move { kai_local(&["plugin", "new", name, "--dir", &parent_dir, "--sdk", &sdk]).await }
    };
    let (code, out, err) = new("bookmarks").await;
    assert_eq!(code, 0, "{out}{err}");
    let dir = parent.path().join("bookmarks");
    assert!(
        out.contains(&format!("created plugin `bookmarks` in {}", dir.display())),
        "{out}"
    );
    for file in ["Cargo.toml", "src/lib.rs", ".gitignore"] {
        assert!(dir.join(file).is_file(), "{file} was not written");
    }

    // The versions the workspace is tested with, so that the test host's
    // dependencies are the ones built already.
    std::fs::copy(repository().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let tested = tokio::process::Command::new(env!("CARGO"))
        .arg("test")
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", repository().join("target/plugin-build"))
        .output()
        .await
        .unwrap();
    let test_output = String::from_utf8_lossy(&tested.stdout);
    assert!(
        tested.status.success(),
        "{test_output}{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    assert!(
        test_output.contains("test result: ok. 4 passed"),
        "{test_output}"
    );

    let (code, out, err) = kai_plugin_build(dir.to_str().unwrap(), false).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("built bookmarks 0.1.0"), "{out}");
    assert!(
        out.contains("POST   /api/v1/bookmarks/notes/{id}/view"),
        "{out}"
    );

    let (code, _, err) = new("bookmarks").await;
    assert_ne!(code, 0);
    assert!(err.contains("exists already"), "{err}");
    let (code, _, err) = new("Bad_Name").await;
    assert_ne!(code, 0);
    assert!(err.contains("`Bad_Name` is not a plugin name"), "{err}");
    assert!(!parent.path().join("Bad_Name").exists());
}

/// `kai plugin dev` installs a crate on a running server, then builds and
/// reinstalls it on every saved change; each round prints one line.
#[tokio::test]
async fn kai_plugin_dev_reinstalls_the_plugin_on_every_save() {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

    let server = Setup::new().await.start().await;
    let alice = server.user("alice@example.com", false).await;
    let parent = tempfile::tempdir().unwrap();
    let sdk = repository().join("sdk");
    let (code, out, err) = kai_local(&[
        "plugin",
        "new",
        "devloop",
        "--dir",
        parent.path().to_str().unwrap(),
        "--sdk",
        sdk.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let dir = parent.path().join("devloop");

    let mut dev = tokio::process::Command::new(env!("CARGO_BIN_EXE_kai"))
        .args(["plugin", "dev", dir.to_str().unwrap()])
        .args(["--server", &format!("http://{}", server.addr)])
        .args(["--token", &server.admin_token])
        // A target directory of its own: the other tests' builds in
        // `target/plugin-build` would hold its lock through a rebuild.
        .env("CARGO_TARGET_DIR", repository().join("target/plugin-dev"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kai plugin dev starts");
    let mut stderr = dev.stderr.take().unwrap();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    let mut next_reload = async || loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(300), lines.next_line())
            .await
            .expect("a reload within 5 minutes")
            .unwrap()
            .expect("kai plugin dev keeps running");
        if line.starts_with("reloaded ") || line.starts_with("installed ") {
            return line;
        }
    };
    // What the plugin answers an empty title with: the line the edit changes.
    let refusal = async || {
        let body = serde_json::json!({ "title": "" });
        let (status, body, _) = server
            .call(M::POST, "/api/v1/devloop/notes", &alice, Some(body))
            .await;
        assert_eq!(status, 422, "{body}");
        body["error"]["message"].as_str().unwrap().to_string()
    };

    // The template reads documents and subscribes to their updates: the
    // first install waits for the operator's grant, later ones keep it.
    let first = next_reload().await;
    assert!(
        first.starts_with("installed devloop 0.1.0, waiting for a grant"),
        "{first}"
    );
    server
        .call_expecting(
            M::POST,
            "/api/v1/admin/plugins/devloop/grants",
            &server.admin_token,
            Some(serde_json::json!({ "accept_requested": true })),
            200,
        )
        .await;
    assert_eq!(refusal().await, "title: required text");

    let source = dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&source).unwrap();
    assert!(text.contains(r#""title: required text""#));
    std::fs::write(
        &source,
        text.replace(r#""title: required text""#, r#""title: give one""#),
    )
    .unwrap();
    let saved = std::time::Instant::now();
    let second = next_reload().await;
    println!(
        "a save to a reload: {} ms ({second})",
        saved.elapsed().as_millis()
    );
    assert!(second.starts_with("reloaded devloop 0.1.0 in "), "{second}");
    assert_eq!(refusal().await, "title: give one");

    dev.kill().await.unwrap();
    let errors = errors.await.unwrap();
    assert!(!errors.contains("not reloaded"), "{errors}");
    server.stop().await;
}
