//! OpenTelemetry export (`--otlp-endpoint`) on the real server, to a local
//! OTLP/HTTP receiver that decodes what it gets: each request's server
//! span and each plugin call's span arrive with the ids the `traceparent`
//! headers carry, a trace the caller did not sample is not exported, a
//! collector that is away costs no request, and a webhook call is exported
//! without the secret in its path.

mod support;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use serde_json::json;
use std::sync::{Arc, Mutex};
use support::{Setup, TestServer, traceparent_recorder, wasm};

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const UNSAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

/// A span as the collector received it, with its resource's attributes.
#[derive(Debug, Clone)]
struct Received {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: i32,
    attributes: Vec<KeyValue>,
    status: Option<(i32, String)>,
    resource: Vec<KeyValue>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<String> {
        text_of(&self.attributes, key)
    }
}

fn text_of(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        AnyValue::StringValue(text) => Some(text.clone()),
        AnyValue::IntValue(number) => Some(number.to_string()),
        other => Some(format!("{other:?}")),
    }
}

type Spans = Arc<Mutex<Vec<Received>>>;

/// The span the collector received with id `span_id`, if it has.
fn span_with_id(spans: &Spans, span_id: &str) -> Option<Received> {
    spans
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.span_id == span_id)
        .cloned()
}

/// A local OTLP/HTTP receiver: `POST /v1/traces` with a protobuf body.
async fn collector() -> (u16, Spans, Arc<Mutex<Vec<String>>>) {
    let spans: Spans = Arc::default();
    let content_types: Arc<Mutex<Vec<String>>> = Arc::default();
    let (record, types) = (spans.clone(), content_types.clone());
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let (record, types) = (record.clone(), types.clone());
            async move {
                let content_type = headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                types.lock().unwrap().push(content_type);
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut record = record.lock().unwrap();
                for resource_spans in request.resource_spans {
                    let resource = resource_spans
                        .resource
                        .map(|r| r.attributes)
                        .unwrap_or_default();
                    for scope in resource_spans.scope_spans {
                        for span in scope.spans {
                            record.push(Received {
                                trace_id: hex::encode(&span.trace_id),
                                span_id: hex::encode(&span.span_id),
                                parent_span_id: hex::encode(&span.parent_span_id),
                                name: span.name,
                                kind: span.kind,
                                attributes: span.attributes,
                                status: span.status.map(|s| (s.code, s.message)),
                                resource: resource.clone(),
                            });
                        }
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, spans, content_types)
}

/// A server exporting spans to `endpoint`, serving `plugins`.
async fn exporting_to(endpoint: &str, plugins: &[&str]) -> TestServer {
    let endpoint = url::Url::parse(endpoint).unwrap();
    let files: Vec<(String, Vec<u8>)> = plugins
        .iter()
        .map(|name| (format!("{name}.wasm"), wasm(name)))
        .collect();
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, w)| (n.as_str(), w.clone())).collect();
    Setup::new()
        .await
        .plugins_dir(&files)
        .configure(|config| config.otlp_endpoint = Some(endpoint))
        .start()
        .await
}

/// The (trace id, span id) of a `traceparent`.
fn ids(traceparent: &str) -> (String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    (fields[1].to_string(), fields[2].to_string())
}

fn traceparent_of(response: &reqwest::Response) -> String {
    response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn request_and_plugin_call_spans_reach_the_collector_with_the_ids_the_headers_carry() {
    let (collector_port, spans, content_types) = collector().await;
    let (upstream_port, seen) = traceparent_recorder().await;
    let server = exporting_to(
        &format!("http://127.0.0.1:{collector_port}"),
        &["data-probe", "outbound-probe"],
    )
    .await;
    let client = reqwest::Client::new();

    // A plugin route, in the caller's trace.
    let response = client
        .post(server.url("/api/v1/outbound-probe/call"))
        .bearer_auth(&server.admin_token)
        .header("traceparent", CALLER)
        .json(&json!({ "url": format!("http://127.0.0.1:{upstream_port}/hook") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (trace, server_span) = ids(&traceparent_of(&response));
    assert_eq!(trace, TRACE);
    let outbound = seen.lock().unwrap().clone();
    assert_eq!(outbound.len(), 1, "{outbound:?}");
    let (outbound_trace, call_span) = ids(outbound[0].as_deref().unwrap());
    assert_eq!(outbound_trace, TRACE);
    assert_ne!(
        call_span, server_span,
        "the plugin call is a span of its own"
    );

    // A core route, in a trace of its own.
    let response = client
        .get(server.url("/api/v1/collections?limit=5"))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let (core_trace, core_span) = ids(&traceparent_of(&response));

    // A trace the caller did not sample is not exported.
    let response = client
        .get(server.url("/api/v1/collections"))
        .bearer_auth(&server.admin_token)
        .header("traceparent", UNSAMPLED)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(traceparent_of(&response).ends_with("-00"));

    let find = |span_id: &str| span_with_id(&spans, span_id);
    let request_span = server.eventually(10, || async { find(&server_span) }).await;
    assert_eq!(request_span.trace_id, TRACE);
    assert_eq!(
        request_span.parent_span_id, "00f067aa0ba902b7",
        "the caller's span"
    );
    assert_eq!(request_span.kind, SpanKind::Server as i32);
    assert_eq!(request_span.name, "POST /api/v1/outbound-probe/call");
    assert_eq!(
        request_span.attribute("http.route").as_deref(),
        Some("/api/v1/outbound-probe/call")
    );
    assert_eq!(
        request_span.attribute("http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(
        request_span
            .attribute("http.response.status_code")
            .as_deref(),
        Some("200")
    );
    assert_eq!(
        text_of(&request_span.resource, "service.name").as_deref(),
        Some("kai-fusion")
    );
    assert_eq!(
        text_of(&request_span.resource, "service.instance.id"),
        Some(server.state.node_id.clone())
    );

    let plugin_span = server.eventually(10, || async { find(&call_span) }).await;
    assert_eq!(plugin_span.trace_id, TRACE);
    assert_eq!(
        plugin_span.parent_span_id, server_span,
        "inside the request's span"
    );
    assert_eq!(plugin_span.kind, SpanKind::Internal as i32);
    assert_eq!(plugin_span.name, "plugin outbound-probe");
    assert_eq!(
        plugin_span.attribute("kai.plugin.name").as_deref(),
        Some("outbound-probe")
    );
    assert!(plugin_span.attribute("kai.plugin.version").is_some());
    assert_eq!(
        plugin_span.attribute("http.route").as_deref(),
        Some("/api/v1/outbound-probe/call")
    );
    assert_ne!(
        plugin_span.status.as_ref().map(|s| s.0),
        Some(StatusCode::Error as i32)
    );

    let core = server.eventually(10, || async { find(&core_span) }).await;
    assert_eq!(core.trace_id, core_trace);
    assert_eq!(core.parent_span_id, "", "a trace of its own starts here");
    assert_eq!(core.name, "GET /api/v1/collections");
    assert_eq!(
        core.attribute("url.path").as_deref(),
        Some("/api/v1/collections")
    );
    assert_eq!(core.attribute("kai.request_id"), Some(request_id));

    // Stopping flushes what is queued: after it, the unsampled trace is
    // still absent, and every body was OTLP protobuf.
    let state = server.state.clone();
    server.stop().await;
    drop(state);
    let unsampled = ids(UNSAMPLED).0;
    assert!(
        spans
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.trace_id != unsampled),
        "an unsampled trace was exported"
    );
    let types = content_types.lock().unwrap().clone();
    assert!(!types.is_empty());
    assert!(
        types.iter().all(|t| t == "application/x-protobuf"),
        "{types:?}"
    );
}

#[tokio::test]
async fn a_plugin_call_that_fails_is_an_error_span_and_a_collector_away_costs_no_request() {
    // Nothing listens on this port: every export fails.
    let away = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let away_port = away.local_addr().unwrap().port();
    drop(away);
    let server = exporting_to(&format!("http://127.0.0.1:{away_port}/otlp"), &[]).await;
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let response = client
            .get(server.url("/api/v1/collections"))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let started = std::time::Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "stopping waited on the collector for {:?}",
        started.elapsed()
    );

    // A failed call is an error span: a plugin that traps.
    let (collector_port, spans, _) = collector().await;
    let server = exporting_to(
        &format!("http://127.0.0.1:{collector_port}"),
        &["data-probe"],
    )
    .await;
    let response = client
        .post(server.url("/api/v1/data-probe/write-then-trap"))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(status >= 500, "{status}");
    let (_, server_span) = ids(&traceparent_of(&response));
    let failed = server
        .eventually(10, || async {
            spans
                .lock()
                .unwrap()
                .iter()
                .find(|s| s.parent_span_id == server_span && s.name == "plugin data-probe")
                .cloned()
        })
        .await;
    let (code, message) = failed.status.clone().expect("a status");
    assert_eq!(code, StatusCode::Error as i32);
    assert!(message.contains("data-probe"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn a_webhook_call_is_exported_without_its_secret() {
    let (collector_port, spans, _) = collector().await;
    let server = exporting_to(&format!("http://127.0.0.1:{collector_port}"), &[]).await;
    let hook = server.hooked_workflow(&server.admin_token).await;
    let (workflow, secret) = hook
        .trim_start_matches("/api/v1/hooks/")
        .split_once('/')
        .map(|(w, s)| (w.to_string(), s.to_string()))
        .unwrap();

    // Called with its secret, and with a wrong one (a 404).
    let right = server
        .send(reqwest::Method::POST, &hook, None, Some(&json!({})))
        .await;
    assert_eq!(right.status(), 202);
    let wrong_secret = "0".repeat(secret.len());
    let wrong = server
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/hooks/{workflow}/{wrong_secret}"),
            None,
            Some(&json!({})),
        )
        .await;
    assert_eq!(wrong.status(), 404);
    let span_ids = [
        ids(&traceparent_of(&right)).1,
        ids(&traceparent_of(&wrong)).1,
    ];

    for span_id in &span_ids {
        let span = server
            .eventually(10, || async { span_with_id(&spans, span_id) })
            .await;
        assert_eq!(
            span.attribute("url.path"),
            Some(format!("/api/v1/hooks/{workflow}/[secret]")),
            "{span:?}"
        );
        assert!(
            !span.name.contains(&secret) && !span.name.contains(&wrong_secret),
            "{}",
            span.name
        );
    }
    server.stop().await;
    // No exported span holds either secret anywhere.
    for span in spans.lock().unwrap().iter() {
        let text = format!("{span:?}");
        assert!(
            !text.contains(&secret),
            "a webhook secret was exported: {text}"
        );
        assert!(
            !text.contains(&wrong_secret),
            "a tried secret was exported: {text}"
        );
    }
}
