//! A plugin runs sandboxed: a loop, a memory bomb or a panic fails that one
//! request with a clear JSON error, and the server keeps serving.

mod support;

use reqwest::Method;
use std::time::{Duration, Instant};
use support::{Setup, TestServer, json_of, wasm};

#[tokio::test]
async fn hello_route_answers_through_the_plugin() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/api/v1/hello/world").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "message": "hello, world" }));

    // Path parameters arrive percent-decoded.
    let (status, body) = server.get("/api/v1/hello/K%C3%A4the").await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "hello, Käthe");
    server.stop().await;
}

#[tokio::test]
async fn an_infinite_loop_gets_504_at_its_deadline_and_the_server_lives() {
    let server = TestServer::with_fixture("misbehave").await;
    let token = server.admin_token.clone();
    let started = Instant::now();
    let looping = server.send(Method::GET, "/api/v1/misbehave/loop", Some(&token), None);
    // While the guest spins, the server must keep answering.
    let probe = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.get("/healthz").await
    };
    let (response, (health_status, _)) = tokio::join!(looping, probe);
    let elapsed = started.elapsed();
    assert_eq!(health_status, 200, "healthz answered while a plugin looped");

    let (status, body) = json_of(response).await;
    assert_eq!(status, 504);
    assert_eq!(body["error"]["code"], "plugin_timeout");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("misbehave"),
        "{body}"
    );
    // The fixture asks for a 1 s deadline.
    assert!(
        elapsed < Duration::from_millis(1000 + 1000),
        "took {elapsed:?}"
    );

    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);
    let (status, body) = server.admin_get("/api/v1/misbehave/ok").await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)));
    server.stop().await;
}

#[tokio::test]
async fn a_memory_bomb_gets_500_and_the_server_lives() {
    let server = TestServer::with_fixture("misbehave").await;
    let (status, body) = server.admin_get("/api/v1/misbehave/memory").await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["code"], "plugin_memory_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("64 MiB"),
        "{body}"
    );

    let (status, body) = server.admin_get("/api/v1/misbehave/ok").await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)));
    server.stop().await;
}

#[tokio::test]
async fn a_request_may_allocate_and_free_far_more_than_its_memory_limit() {
    // 160 rounds of a 4 MiB block and 2,000 short strings: 640 MiB through
    // a 64 MiB memory. Freed memory must be reused, past the SDK's arena.
    let server = TestServer::with_fixture("misbehave").await;
    let (status, body) = server.admin_get("/api/v1/misbehave/churn").await;
    assert_eq!(status, 200, "{body}");
    let rounds_sum: u64 = (0..160).sum();
    assert_eq!(body["checksum"], rounds_sum + 160 * 2_000);
    server.stop().await;
}

#[tokio::test]
async fn a_panic_gets_500_without_leaking_the_panic_text() {
    let server = TestServer::with_fixture("misbehave").await;
    let (status, body) = server.admin_get("/api/v1/misbehave/panic").await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["code"], "plugin_failed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("misbehave"), "{message}");
    assert!(
        !message.contains("on purpose"),
        "guest internals leaked: {message}"
    );

    let (status, _) = server.get("/api/v1/hello/again").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn every_request_gets_a_fresh_instance() {
    // Many concurrent requests, some of them failing: each has its own
    // store, so failures never poison the others.
    let server = TestServer::with_fixture("misbehave").await;
    let token = server.admin_token.clone();
    let mut requests = Vec::new();
    for i in 0..24 {
        let path = if i % 3 == 0 {
            "/api/v1/misbehave/panic"
        } else {
            "/api/v1/misbehave/ok"
        };
        requests.push(server.send(Method::GET, path, Some(&token), None));
    }
    let responses = futures::future::join_all(requests).await;
    for (i, response) in responses.into_iter().enumerate() {
        let expected = if i % 3 == 0 { 500 } else { 200 };
        assert_eq!(response.status().as_u16(), expected, "request {i}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_plugin_has_no_files_environment_clock_or_network() {
    let server = TestServer::with_fixture("misbehave").await;
    let (status, body) = server.admin_get("/api/v1/misbehave/escape").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["filesystem"], false, "{body}");
    assert_eq!(body["env_vars"], 0, "{body}");
    assert_eq!(
        body["clock_secs"], 0,
        "the clock is frozen at the epoch: {body}"
    );
    assert_eq!(body["network"], false, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_plugins_standard_streams_lead_nowhere_and_exit_fails_the_request() {
    let server = TestServer::with_fixture("misbehave").await;
    // The route also closes stdout and stderr after writing to them.
    let (status, body) = server.admin_get("/api/v1/misbehave/stdio").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stderr_ok"], true, "{body}");
    assert_eq!(body["stdin"], "", "stdin is at its end: {body}");
    assert_eq!(body["terminal"], false, "{body}");

    let (status, body) = server.admin_get("/api/v1/misbehave/exit").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("plugin_failed")),
        "{body}"
    );
    let (status, _) = server.admin_get("/api/v1/misbehave/ok").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_stack_overflow_fails_that_request_only() {
    let server = TestServer::with_fixture("misbehave").await;
    // 1 KiB frames: 64 fit in the plugin's stack (1 MiB, Rust's default for
    // wasm32)...
    let (status, body) = server.admin_get("/api/v1/misbehave/recurse/64").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sum"], 64 * 65 / 2, "{body}");
    // ...4,096 do not.
    let (status, body) = server.admin_get("/api/v1/misbehave/recurse/4096").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("plugin_failed")),
        "{body}"
    );
    let (status, body) = server.admin_get("/api/v1/misbehave/recurse/8").await;
    assert_eq!((status, body["sum"].as_u64()), (200, Some(8 * 9 / 2)));
    server.stop().await;
}

#[tokio::test]
async fn plugins_run_on_the_on_demand_allocator_too() {
    let server = Setup::new()
        .await
        .plugins_dir(&[("misbehave.wasm", wasm("misbehave"))])
        .configure(|c| c.allocator = kai_host::config::Allocator::OnDemand)
        .start()
        .await;
    let (_, body) = server.admin_get("/api/v1/admin/plugins").await;
    assert_eq!(body["allocator"], "on_demand");
    let (status, _) = server.get("/api/v1/hello/on-demand").await;
    assert_eq!(status, 200);
    let (status, body) = server.admin_get("/api/v1/misbehave/memory").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("plugin_memory_exceeded"))
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let server = TestServer::with_fixture("misbehave").await;
    let token = server.admin_token.clone();
    let url = server.url("/api/v1/misbehave/loop");
    let client = server.client.clone();
    // The loop runs until its 1 s deadline; shut down while it is in flight.
    let in_flight = tokio::spawn(async move { client.get(url).bearer_auth(token).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop().await;
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request got its answer");
    assert_eq!(response.status(), 504);
}
