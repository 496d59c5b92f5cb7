//! W3C Trace Context on the real server: a caller's `traceparent` keeps its
//! trace through the server, into a plugin's outbound request and a
//! mounted component's; the request id is the trace id; an answer names
//! the server's span.

mod support;

use serde_json::json;
use support::{Setup, TestServer, traceparent_recorder, wasm};

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The fields of a `traceparent`.
fn fields(value: &str) -> Vec<&str> {
    let fields: Vec<&str> = value.split('-').collect();
    assert_eq!(fields.len(), 4, "{value}");
    fields
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn a_callers_trace_goes_through_the_server_into_a_plugins_outbound_request() {
    let server = Setup::new()
        .await
        .plugins_dir(&[
            ("data-probe.wasm", wasm("data-probe")),
            ("outbound-probe.wasm", wasm("outbound-probe")),
        ])
        .start()
        .await;
    let (port, seen) = traceparent_recorder().await;
    let client = reqwest::Client::new();

    let response = client
        .post(server.url("/api/v1/outbound-probe/call"))
        .bearer_auth(&server.admin_token)
        .header("traceparent", CALLER)
        .json(&json!({ "url": format!("http://127.0.0.1:{port}/hook") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answered = header(&response, "traceparent").to_string();
    let span = fields(&answered);
    assert_eq!(span[1], TRACE, "the caller's trace");
    assert_ne!(span[2], "00f067aa0ba902b7", "the server's own span");
    assert_eq!(span[3], "01");
    assert_eq!(
        header(&response, "x-request-id"),
        "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
        "the request id is the trace id"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![Some(answered)],
        "the outbound request carries the trace, the server's span as parent"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_traceparent_the_request_id_starts_the_trace_and_a_bad_one_is_ignored() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    for sent in [
        None,
        Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
    ] {
        let mut request = client.get(server.url("/healthz"));
        if let Some(sent) = sent {
            request = request.header("traceparent", sent);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let request_id = header(&response, "x-request-id").replace('-', "");
        let traceparent = header(&response, "traceparent");
        assert_eq!(fields(traceparent)[1], request_id, "{sent:?}");
        assert_ne!(fields(traceparent)[1], TRACE.to_lowercase());
    }
    // A request id of the caller's own stays; the trace is still the caller's.
    let response = client
        .get(server.url("/healthz"))
        .header("x-request-id", "job-42")
        .header("traceparent", CALLER)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "x-request-id"), "job-42");
    assert_eq!(fields(header(&response, "traceparent"))[1], TRACE);
    server.stop().await;
}

#[tokio::test]
async fn a_mounted_component_passes_the_trace_on_to_the_origins_it_calls() {
    let server = TestServer::start().await;
    let (port, seen) = traceparent_recorder().await;
    let (status, body) = server
        .upload_plugin(
            wasm("http-app"),
            "?name=app&mount=/apps/app&outbound=http://127.0.0.1:*",
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, _, _) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/admin/plugins/app/grants",
            &server.admin_token,
            Some(json!({ "accept_requested": true })),
        )
        .await;
    assert_eq!(status, 200);
    let response = reqwest::Client::new()
        .get(server.url(&format!(
            "/apps/app/fetch?url=http://127.0.0.1:{port}/traced"
        )))
        .bearer_auth(&server.admin_token)
        .header("traceparent", CALLER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answered = header(&response, "traceparent").to_string();
    assert_eq!(fields(&answered)[1], TRACE);
    assert_eq!(seen.lock().unwrap().clone(), vec![Some(answered)]);
    server.stop().await;
}
