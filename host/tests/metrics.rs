//! `GET /metrics` on a real server: admins only on the main listener,
//! without a token on `--metrics-listen`; a plugin's successful call, trap,
//! timeout and memory overrun each counted under its name; requests by
//! route template and status; the gauges of pools, outbox and cache.

mod support;

use support::child::free_port;
use support::{M, Setup, TestServer, wasm};

/// The value of the sample of `metric` whose labels include all of
/// `labels` (`name="value"` pairs), if one is exposed.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, rest) = series.split_once('{').unwrap_or((series, ""));
            (name == metric && labels.iter().all(|l| rest.contains(l)))
                .then(|| value.parse().ok())
                .flatten()
        })
        .next()
}

async fn scrape(server: &TestServer) -> String {
    let response = server
        .send(M::GET, "/metrics", Some(&server.admin_token), None)
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_plugins_calls_are_counted_by_outcome_and_requests_by_route() {
    let metrics_port = free_port();
    let server = Setup::new()
        .await
        .plugins_dir(&[("misbehave.wasm", wasm("misbehave"))])
        .configure(|c| {
            c.plugin_timeout_ms = 500;
            c.metrics_listen = Some(format!("127.0.0.1:{metrics_port}").parse().unwrap());
        })
        .start()
        .await;
    let member = server.user("member@example.com", false).await;

    // Admins only on the main listener.
    assert_eq!(server.get("/metrics").await.0, 401);
    let refused = server.send(M::GET, "/metrics", Some(&member), None).await;
    assert_eq!(refused.status(), 403);

    for (path, status) in [
        ("/api/v1/misbehave/ok", 200),
        ("/api/v1/misbehave/loop", 504),
        ("/api/v1/misbehave/panic", 500),
        ("/api/v1/misbehave/memory", 500),
        ("/api/v1/collections", 200),
        ("/nowhere/at/all", 404),
    ] {
        let response = server.send(M::GET, path, Some(&member), None).await;
        assert_eq!(response.status(), status, "{path}");
    }
    let text = scrape(&server).await;
    let calls = |outcome: &str| {
        sample(
            &text,
            "kai_plugin_calls_total",
            &[
                "plugin=\"misbehave\"",
                "version=\"1.0.0\"",
                "call=\"request\"",
                &format!("outcome=\"{outcome}\""),
            ],
        )
    };
    for outcome in ["ok", "timeout", "trap", "memory_exceeded"] {
        assert_eq!(calls(outcome), Some(1.0), "{outcome} calls in:\n{text}");
    }
    assert!(
        sample(
            &text,
            "kai_plugin_call_duration_seconds_count",
            &["plugin=\"misbehave\""]
        )
        .is_some_and(|n| n >= 4.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kai_plugin_instances", &["plugin=\"misbehave\""]),
        Some(0.0)
    );
    let requests = |route: &str, status: &str| {
        sample(
            &text,
            "kai_http_requests_total",
            &[
                "method=\"GET\"",
                &format!("route=\"{route}\""),
                &format!("status=\"{status}\""),
            ],
        )
    };
    assert_eq!(
        requests("/api/v1/misbehave/loop", "504"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(requests("/api/v1/collections", "200"), Some(1.0), "{text}");
    assert_eq!(
        requests("unmatched", "404").map(|n| n >= 1.0),
        Some(true),
        "{text}"
    );
    assert!(!text.contains("/nowhere"), "raw paths never become labels");
    assert!(
        sample(
            &text,
            "kai_http_request_duration_seconds_bucket",
            &["route=\"/api/v1/misbehave/ok\"", "le=\"+Inf\""]
        )
        .is_some(),
        "{text}"
    );
    for gauge in [
        "kai_db_pool_connections",
        "kai_db_pool_max",
        "kai_outbox_pending",
        "kai_outbox_oldest_age_seconds",
        "kai_compile_cache_hits_total",
        "kai_compile_cache_misses_total",
    ] {
        assert!(sample(&text, gauge, &[]).is_some(), "{gauge} in:\n{text}");
    }
    assert!(
        !text.contains(&server.admin_token),
        "no secret in the metrics"
    );

    // A change of the plugin set is counted.
    let (status, _) = server.upload_plugin(wasm("swap-v1"), "").await;
    assert_eq!(status, 201);
    let text = scrape(&server).await;
    assert_eq!(
        sample(
            &text,
            "kai_plugin_changes_total",
            &["plugin=\"swap\"", "action=\"installed\""]
        ),
        Some(1.0),
        "{text}"
    );

    // The metrics listener answers without a token, and serves nothing else.
    let client = reqwest::Client::new();
    let open = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    assert!(
        open.text()
            .await
            .unwrap()
            .contains("kai_plugin_calls_total")
    );
    let other = client
        .get(format!(
            "http://127.0.0.1:{metrics_port}/api/v1/collections"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    server.stop().await;
}
