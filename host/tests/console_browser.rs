//! The admin console and the API reference in a real headless Chromium,
//! driven through chromedriver (WebDriver) against the real server: sign
//! in, upload a plugin, see its upgrade await a grant, grant it, find its
//! routes in the route table and in `/docs`, disable it, enable it, roll
//! it back; replay a workflow run step by step and cancel a waiting one;
//! each page is saved as a screenshot. Neither `/admin` nor
//! `/docs` loads anything from another host.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them where missing). Without them
//! the test says so and passes, unless `KAI_TEST_BROWSER=required`, which
//! CI sets. Screenshots go to `KAI_TEST_SCREENSHOTS` (by default
//! `target/console-screenshots`).

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::TestServer;

/// chromedriver on a port of its own; killed when dropped.
struct Driver {
    process: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// chromedriver and the browser, or `None` (with a notice) when this
/// machine has none and the test is not required.
fn driver() -> Option<(Driver, PathBuf)> {
    let required = std::env::var("KAI_TEST_BROWSER").as_deref() == Ok("required");
    let chromedriver = find_program(&["chromedriver"]);
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
    let (Some(chromedriver), Some(chromium)) = (chromedriver, chromium) else {
        assert!(
            !required,
            "KAI_TEST_BROWSER=required, but chromium and chromedriver are not both on PATH"
        );
        println!("notice: chromium or chromedriver is missing; the browser test is skipped");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    Some((Driver { process, url }, chromium))
}

async fn connect(driver: &Driver, chromium: &Path) -> Client {
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000"],
        }
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&driver.url)
            .await
        {
            Ok(client) => return client,
            Err(error) => {
                assert!(Instant::now() < deadline, "no WebDriver session: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Where screenshots go.
fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("KAI_TEST_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let backend = if support::postgres_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshot_dir().join(format!("{backend}-{name}.png")), png).unwrap();
}

/// Waits (up to 20 s) until the page's text contains `text`.
async fn see(client: &Client, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap_or_default();
        if body.contains(text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{text}` never appeared; the page says:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click_button(client: &Client, label: &str) {
    let xpath = format!("//button[normalize-space()='{label}']");
    let button = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no button `{label}`: {e}"));
    button.click().await.unwrap();
}

/// The hosts of every resource the page loaded.
async fn loaded_from(client: &Client) -> Vec<String> {
    let urls = client
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .concat([location.href]);",
            vec![],
        )
        .await
        .unwrap();
    urls.as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect()
}

async fn upload(client: &Client, fixture: &str) {
    let input = client.find(Locator::Css("#upload")).await.unwrap();
    let path = kai_test_plugins::wasm_path(fixture);
    input.send_keys(path.to_str().unwrap()).await.unwrap();
}

#[tokio::test]
async fn the_console_manages_a_plugin_through_its_life_in_a_real_browser() {
    let Some((driver, chromium)) = driver() else {
        return;
    };
    let server = TestServer::start().await;
    let client = connect(&driver, &chromium).await;
    let origin = server.url("");

    // Signed out: the page asks for a token.
    client.goto(&server.url("/admin")).await.unwrap();
    see(&client, "Enter an admin's API token").await;
    screenshot(&client, "01-sign-in").await;
    let field = client.find(Locator::Css("#token")).await.unwrap();
    field.send_keys(&server.admin_token).await.unwrap();
    click_button(&client, "Sign in").await;
    see(&client, "Compile cache").await;
    see(&client, "hello").await;
    screenshot(&client, "02-plugins").await;

    // Upload 1.0.0: it asks for nothing beyond its own tables, so it serves.
    upload(&client, "schema-v1").await;
    see(&client, "schema-demo 1.0.0").await;
    // 1.1.0 asks for kv as well: it waits for the operator.
    client.goto(&server.url("/admin#plugins")).await.unwrap();
    upload(&client, "schema-v1-1").await;
    see(&client, "awaits a grant").await;
    screenshot(&client, "03-awaiting-grant").await;
    click_button(&client, "Grant what 1.1.0 requests").await;
    see(&client, "schema-demo 1.1.0").await;
    screenshot(&client, "04-granted").await;

    // Its routes, in the route table and in the API reference.
    client.goto(&server.url("/admin#routes")).await.unwrap();
    see(&client, "/api/v1/schema-demo/items").await;
    see(&client, "plugin:schema-demo").await;
    screenshot(&client, "05-routes").await;
    for url in loaded_from(&client).await {
        assert!(url.starts_with(&origin), "/admin loaded {url}");
    }
    client.goto(&server.url("/docs")).await.unwrap();
    // The token entered in the console is this tab's: /docs uses it.
    see(&client, "schema-demo 1.1.0").await;
    see(&client, "/api/v1/schema-demo/items").await;
    screenshot(&client, "06-docs").await;
    for url in loaded_from(&client).await {
        assert!(url.starts_with(&origin), "/docs loaded {url}");
    }

    // Disable, enable, roll back.
    client
        .goto(&server.url("/admin#plugins/schema-demo"))
        .await
        .unwrap();
    click_button(&client, "Disable").await;
    see(&client, "schema-demo: disabled").await;
    let (status, _) = server.get("/api/v1/schema-demo/items").await;
    assert_eq!(status, 404, "a disabled plugin's route is gone");
    screenshot(&client, "07-disabled").await;
    click_button(&client, "Enable").await;
    see(&client, "schema-demo: enabled").await;
    click_button(&client, "Roll back").await;
    see(&client, "schema-demo: rolled back").await;
    see(&client, "schema-demo 1.0.0").await;
    screenshot(&client, "08-rolled-back").await;
    let (_, listing) = server.admin_get("/api/v1/admin/plugins").await;
    let demo = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "schema-demo")
        .expect("schema-demo serves");
    assert_eq!(demo["version"], "1.0.0");

    // The other pages draw from the API too.
    client.goto(&server.url("/admin#users")).await.unwrap();
    see(&client, "Tokens of").await;
    screenshot(&client, "09-users").await;
    client
        .goto(&server.url("/admin#credentials"))
        .await
        .unwrap();
    see(&client, "a secret is write-only").await;
    screenshot(&client, "10-credentials").await;
    let admin = server.admin_token.clone();
    let collection = server
        .call_expecting(
            reqwest::Method::POST,
            "/api/v1/collections",
            &admin,
            Some(json!({ "name": "charted" })),
            201,
        )
        .await;
    let id = collection["id"].as_str().unwrap();
    for (title, format) in [("one", "md"), ("two", "md"), ("three", "txt")] {
        server
            .call_expecting(
                reqwest::Method::POST,
                &format!("/api/v1/collections/{id}/documents"),
                &admin,
                Some(json!({ "title": title, "content": "a few words", "format": format, "tags": ["alpha"] })),
                201,
            )
            .await;
    }
    client
        .goto(&server.url(&format!("/admin#analytics/{id}")))
        .await
        .unwrap();
    see(&client, "3 documents").await;
    let labels = client
        .execute(
            "return [...document.querySelectorAll('svg[role=img]')].map(s => s.getAttribute('aria-label'));",
            vec![],
        )
        .await
        .unwrap();
    let labels: Vec<&str> = labels
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(labels.contains(&"Formats: md 2, txt 1"), "{labels:?}");
    assert!(labels.contains(&"Top tags: alpha 3"), "{labels:?}");
    assert!(
        labels
            .iter()
            .any(|l| l.starts_with("Activity per day: 3 documents created")),
        "{labels:?}"
    );
    screenshot(&client, "11-analytics").await;

    // Workflows: a run replayed step by step, and a waiting one cancelled.
    let save = |body: Value| {
        let server = &server;
        let admin = admin.clone();
        async move {
            server
                .call_expecting(
                    reqwest::Method::POST,
                    "/api/v1/workflows",
                    &admin,
                    Some(body),
                    201,
                )
                .await["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let greet = save(json!({
        "name": "greet",
        "nodes": [
            { "id": "shape", "kind": "transform", "config": { "expression": "{name: .who}" } },
            { "id": "say", "kind": "transform", "config": { "expression": "\"hello \" + .name" } },
        ],
        "edges": [{ "from": "shape", "to": "say" }],
    }))
    .await;
    let sleepy = save(json!({
        "name": "sleepy",
        "nodes": [
            { "id": "nap", "kind": "delay", "config": { "seconds": 3600 } },
            { "id": "wake", "kind": "transform", "config": { "expression": "." } },
        ],
        "edges": [{ "from": "nap", "to": "wake" }],
    }))
    .await;
    let mut runs = Vec::new();
    for (workflow, input, status) in [
        (&greet, json!({ "who": "ann" }), "succeeded"),
        (&sleepy, json!({}), "waiting"),
    ] {
        let path = server
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/workflows/{workflow}/executions"),
                &admin,
                Some(json!({ "input": input })),
            )
            .await
            .2["location"]
            .to_str()
            .unwrap()
            .to_string();
        let run = server
            .eventually(30, || async {
                let (_, body, _) = server.call(reqwest::Method::GET, &path, &admin, None).await;
                ["succeeded", "failed", "waiting"]
                    .contains(&body["status"].as_str().unwrap_or_default())
                    .then_some(body)
            })
            .await;
        assert_eq!(run["status"], status, "{run}");
        runs.push(path.rsplit('/').next().unwrap().to_string());
    }
    client.goto(&server.url("/admin#workflows")).await.unwrap();
    see(&client, "sleepy").await;
    client
        .goto(&server.url(&format!("/admin#workflows/{greet}")))
        .await
        .unwrap();
    see(&client, "Runs, newest first").await;
    see(&client, "succeeded").await;
    client
        .goto(&server.url(&format!("/admin#workflows/{greet}/{}", runs[0])))
        .await
        .unwrap();
    see(&client, "Timeline").await;
    client
        .find(Locator::Css(
            "tr[data-step='1'] details:last-of-type summary",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // A step's output shows once opened.
    see(&client, "\"name\": \"ann\"").await;
    screenshot(&client, "12-workflow-run").await;
    client
        .goto(&server.url(&format!("/admin#workflows/{sleepy}/{}", runs[1])))
        .await
        .unwrap();
    see(&client, "waiting").await;
    click_button(&client, "Cancel").await;
    see(&client, "run cancelled").await;
    see(&client, "cancelled").await;
    screenshot(&client, "13-run-cancelled").await;
    // Live metrics: calls to the hello plugin while the page scrapes.
    let hello = server.url("/api/v1/hello/metrics");
    let traffic = tokio::spawn(async move {
        let http = reqwest::Client::new();
        for _ in 0..150 {
            let _ = http.get(&hello).send().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    client.goto(&server.url("/admin#metrics")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let caption = match client
            .find(Locator::Css("[data-metrics-plugin='hello'] figcaption"))
            .await
        {
            Ok(caption) => caption.text().await.unwrap(),
            Err(_) => String::new(),
        };
        if caption.starts_with("requests: ") && caption != "requests: 0.00 /s" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hello plugin's request rate never showed: `{caption}`"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client
        .execute(
            "document.querySelector(\"[data-metrics-plugin='hello']\").scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    screenshot(&client, "14-metrics").await;
    traffic.abort();

    client.close().await.unwrap();
    server.stop().await;
}
