//! OpenTelemetry export of spans over OTLP/HTTP (`--otlp-endpoint`), off
//! by default.
//!
//! Two kinds of span are exported: each request's server span (named
//! `METHOD route-template`) and, inside it, each plugin call. Their ids are
//! the ones the trace-context layer already put in `traceparent` headers,
//! so what a caller, a plugin's upstream and the collector see agree. The
//! spans are built here as finished records and handed to the SDK's batch
//! processor, which exports them from a thread of its own with the
//! `opentelemetry-otlp` exporter (protobuf); nothing on a request waits on
//! the collector, and a full queue drops spans rather than requests.
//!
//! A span is exported only if its trace is sampled: a caller that sends a
//! `traceparent` with the sampled flag off is not exported.

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanEvents, SpanLinks, SpanProcessor,
};
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

/// How long a batch waits before it is sent: spans reach the collector
/// within about a second.
const BATCH_DELAY: Duration = Duration::from_secs(1);
/// Spans held while the collector is slow or away; more are dropped.
const MAX_QUEUED_SPANS: usize = 8192;
/// The deadline of one export request.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where finished spans go.
pub struct SpanExport {
    processor: BatchSpanProcessor,
    scope: InstrumentationScope,
}

impl SpanExport {
    /// Starts exporting to the collector at `endpoint`, its base URL (as in
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`): spans go to `<endpoint>/v1/traces`.
    /// The HTTP requests run on the current Tokio runtime; the exporter
    /// also honours `OTEL_EXPORTER_OTLP_HEADERS` (e.g. a collector's token).
    pub fn start(endpoint: &url::Url, node_id: &str) -> anyhow::Result<Self> {
        let traces = traces_url(endpoint);
        let client = RuntimeClient {
            client: reqwest::Client::builder().timeout(EXPORT_TIMEOUT).build()?,
            runtime: tokio::runtime::Handle::current(),
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces.as_str())
            .with_timeout(EXPORT_TIMEOUT)
            .build()?;
        let mut processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(BATCH_DELAY)
                    .with_max_queue_size(MAX_QUEUED_SPANS)
                    .build(),
            )
            .build();
        processor.set_resource(
            &Resource::builder_empty()
                .with_service_name("kai-fusion")
                .with_attributes([
                    KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
                    KeyValue::new("service.instance.id", node_id.to_string()),
                ])
                .build(),
        );
        tracing::info!(endpoint = %traces, "exporting spans (OTLP/HTTP)");
        Ok(SpanExport {
            processor,
            scope: InstrumentationScope::builder("kai-fusion")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        })
    }

    /// Queues a finished span for export.
    pub fn export(&self, span: FinishedSpan) {
        self.processor.on_end(SpanData {
            span_context: SpanContext::new(
                TraceId::from(span.trace_id),
                SpanId::from(span.span_id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: span
                .parent
                .map_or(SpanId::INVALID, |p| SpanId::from(p.span_id)),
            parent_span_is_remote: span.parent.is_some_and(|p| p.remote),
            span_kind: span.kind,
            name: span.name,
            start_time: span.start,
            end_time: span.end,
            attributes: span.attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: match span.error {
                Some(message) => Status::error(message),
                None => Status::Unset,
            },
            instrumentation_scope: self.scope.clone(),
        });
    }

    /// Sends what is queued and stops the exporter's thread. Blocks for up
    /// to the export timeout: call it off the runtime's worker threads.
    pub fn shutdown(&self) {
        if let Err(error) = self.processor.shutdown() {
            tracing::warn!(%error, "the last spans could not be exported");
        }
    }
}

/// `<endpoint>/v1/traces`, however the base path ends.
fn traces_url(endpoint: &url::Url) -> url::Url {
    let mut url = endpoint.clone();
    let path = format!("{}/v1/traces", endpoint.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// The span a span was started in.
#[derive(Debug, Clone, Copy)]
pub struct ParentSpan {
    pub span_id: u64,
    /// Started in another process (the caller's span).
    pub remote: bool,
}

/// A span as it ended.
pub struct FinishedSpan {
    pub trace_id: u128,
    pub span_id: u64,
    pub parent: Option<ParentSpan>,
    pub kind: SpanKind,
    pub name: Cow<'static, str>,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<KeyValue>,
    /// Why the work failed; `None` when it did not.
    pub error: Option<String>,
}

/// The exporter's HTTP client: the server's reqwest client, each request
/// run on the server's runtime (the batch processor's thread has none).
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body);
        self.runtime
            .spawn(async move {
                let response = request.send().await?;
                let mut answer = Response::builder().status(response.status());
                for (name, value) in response.headers() {
                    answer = answer.header(name, value);
                }
                let body = response.bytes().await?;
                Ok::<_, HttpError>(answer.body(body)?)
            })
            .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_go_to_the_traces_path_under_the_endpoint() {
        for (endpoint, traces) in [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            (
                "https://otel.example/otlp/",
                "https://otel.example/otlp/v1/traces",
            ),
        ] {
            let endpoint = url::Url::parse(endpoint).unwrap();
            assert_eq!(traces_url(&endpoint).as_str(), traces);
        }
    }
}
