//! W3C Trace Context (`traceparent`): a request's trace id is its request
//! id.
//!
//! A request that carries a valid `traceparent` keeps its trace: the trace
//! id is the caller's, and the request id (`x-request-id`, in every log
//! line) is that trace id written as a UUID, unless the caller also sent a
//! request id of its own. A request without one starts a trace whose id is
//! its request id. The server's part of the request is a span of its own:
//! the request's `traceparent` header is rewritten to name it as the
//! parent, so a mounted component sees it, and so do the origins plugins
//! call (a kai:fusion plugin is not handed the header: it has the request
//! id, and the host adds the header to its outbound requests); the answer
//! carries it too, so a client can find the server's span of any answer.
//!
//! With `--otlp-endpoint`, the server span and each plugin call inside it
//! ([`PluginCallSpan`]) are exported with these ids (`telemetry::otlp`); a
//! plugin's outbound requests and a mounted component then name the plugin
//! call's span as their parent.

use super::metrics::RequestMetrics;
use crate::telemetry::otlp::{FinishedSpan, ParentSpan, SpanExport};
use axum::http::{HeaderName, HeaderValue, Request, Response};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;
use tower::{Layer, Service};

/// The W3C header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The parts of a `traceparent` this server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: u128,
    pub parent_id: u64,
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value: version `00` exactly as specified, a
    /// later version by its first four fields; `None` when invalid (an
    /// all-zero id, upper-case hex, version `ff`, a wrong length).
    pub fn parse(value: &str) -> Option<Self> {
        let mut fields = value.split('-');
        let version = fields.next()?;
        let trace_id = fields.next()?;
        let parent_id = fields.next()?;
        let flags = fields.next()?;
        let rest_ok = match version {
            "00" => fields.next().is_none(),
            "ff" => return None,
            _ => true,
        };
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !(rest_ok && hex(version, 2) && hex(trace_id, 32) && hex(parent_id, 16) && hex(flags, 2))
        {
            return None;
        }
        let parsed = TraceParent {
            trace_id: u128::from_str_radix(trace_id, 16).ok()?,
            parent_id: u64::from_str_radix(parent_id, 16).ok()?,
            flags: u8::from_str_radix(flags, 16).ok()?,
        };
        (parsed.trace_id != 0 && parsed.parent_id != 0).then_some(parsed)
    }

    /// The header value, version `00`.
    pub fn to_header(self) -> HeaderValue {
        HeaderValue::from_str(&self.to_string()).expect("hex is a valid header value")
    }
}

impl std::fmt::Display for TraceParent {
    /// The header's text, version `00`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

/// The server's span of a request, in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ServerSpan {
    pub span: TraceParent,
    /// The caller's span, when the request carried a valid `traceparent`.
    pub caller: Option<u64>,
}

impl ServerSpan {
    fn sampled(&self) -> bool {
        self.span.flags & 1 == 1
    }
}

/// A random span id (never zero).
fn new_span_id() -> u64 {
    loop {
        let id = rand::random::<u64>();
        if id != 0 {
            break id;
        }
    }
}

/// The request id a request gets when it brings none: its trace id (set by
/// [`TraceContextLayer`], which goes outside the request-id layer), as a
/// UUID.
#[derive(Clone, Copy)]
pub struct MakeTraceRequestId;

impl tower_http::request_id::MakeRequestId for MakeTraceRequestId {
    fn make_request_id<B>(
        &mut self,
        request: &Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        let id = request
            .extensions()
            .get::<ServerSpan>()
            .map(|server| uuid::Uuid::from_u128(server.span.trace_id))
            .unwrap_or_else(uuid::Uuid::new_v4);
        let value = HeaderValue::from_str(&id.hyphenated().to_string()).expect("a UUID");
        Some(tower_http::request_id::RequestId::new(value))
    }
}

/// The server's span of a request: the trace the request belongs to (see
/// the module docs) and a new span id.
fn server_span(request_id: Option<&HeaderValue>, incoming: Option<&HeaderValue>) -> ServerSpan {
    let incoming = incoming
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let trace_id = incoming
        .map(|parent| parent.trace_id)
        .or_else(|| {
            let id = uuid::Uuid::parse_str(request_id?.to_str().ok()?).ok()?;
            (!id.is_nil()).then(|| id.as_u128())
        })
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u128());
    ServerSpan {
        span: TraceParent {
            trace_id,
            parent_id: new_span_id(),
            // Sampled unless the caller decided otherwise.
            flags: incoming.map_or(1, |parent| parent.flags),
        },
        caller: incoming.map(|parent| parent.parent_id),
    }
}

/// Gives each request its [`ServerSpan`]: in its extensions, as its
/// `traceparent` header, and on its answer; exports the span when spans
/// are exported. Goes outside the request-id layer.
#[derive(Clone)]
pub struct TraceContextLayer {
    export: Option<Export>,
}

/// What exporting a request's span needs: the exporter, and the route
/// templates that name spans.
#[derive(Clone)]
struct Export {
    spans: Arc<SpanExport>,
    routes: &'static RequestMetrics,
}

impl TraceContextLayer {
    pub fn new(spans: Option<Arc<SpanExport>>, routes: &'static RequestMetrics) -> Self {
        TraceContextLayer {
            export: spans.map(|spans| Export { spans, routes }),
        }
    }
}

impl<S> Layer<S> for TraceContextLayer {
    type Service = TraceContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceContextService {
            inner,
            export: self.export.clone(),
        }
    }
}

#[derive(Clone)]
pub struct TraceContextService<S> {
    inner: S,
    export: Option<Export>,
}

impl<S, B, R> Service<Request<B>> for TraceContextService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = TraceContextFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let headers = request.headers();
        let server = server_span(headers.get(super::REQUEST_ID), headers.get(TRACEPARENT));
        let header = server.span.to_header();
        request.headers_mut().insert(TRACEPARENT, header.clone());
        request.extensions_mut().insert(server);
        let exporting = match &self.export {
            Some(export) if server.sampled() => Some(Box::new(RequestSpan {
                export: export.clone(),
                server,
                start: SystemTime::now(),
                method: request.method().clone(),
                path: super::hooks::loggable_path(request.uri().path()).into_owned(),
            })),
            _ => None,
        };
        TraceContextFuture {
            inner: self.inner.call(request),
            traceparent: Some(header),
            exporting,
        }
    }
}

/// A request's server span while it runs, when it is exported.
struct RequestSpan {
    export: Export,
    server: ServerSpan,
    start: SystemTime,
    method: axum::http::Method,
    path: String,
}

impl RequestSpan {
    fn end<R>(self, response: &Response<R>) {
        let route = self.export.routes.route_of(response, &self.path);
        let status = response.status();
        let mut attributes = vec![
            KeyValue::new("http.request.method", self.method.to_string()),
            KeyValue::new("url.path", self.path),
            KeyValue::new("http.route", route.to_string()),
            KeyValue::new("http.response.status_code", i64::from(status.as_u16())),
        ];
        if let Some(id) = response
            .headers()
            .get(super::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
        {
            attributes.push(KeyValue::new("kai.request_id", id.to_string()));
        }
        self.export.spans.export(FinishedSpan {
            trace_id: self.server.span.trace_id,
            span_id: self.server.span.parent_id,
            parent: self.server.caller.map(|span_id| ParentSpan {
                span_id,
                remote: true,
            }),
            kind: SpanKind::Server,
            name: format!("{} {route}", self.method).into(),
            start: self.start,
            end: SystemTime::now(),
            attributes,
            // A server span fails on a 5xx only (HTTP semantic conventions).
            error: status.is_server_error().then(|| {
                status
                    .canonical_reason()
                    .unwrap_or("server error")
                    .to_string()
            }),
        });
    }
}

pin_project_lite::pin_project! {
    /// Answers with the server span's `traceparent`.
    pub struct TraceContextFuture<F> {
        #[pin]
        inner: F,
        traceparent: Option<HeaderValue>,
        exporting: Option<Box<RequestSpan>>,
    }
}

impl<F, R, E> std::future::Future for TraceContextFuture<F>
where
    F: std::future::Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(span) = this.traceparent.take() {
            response.headers_mut().insert(TRACEPARENT, span);
        }
        if let Some(span) = this.exporting.take() {
            span.end(&response);
        }
        Poll::Ready(Ok(response))
    }
}

/// A plugin call inside a request's server span. When spans are exported
/// (and the trace is sampled), the call is a span of its own, which the
/// `traceparent` it hands on names; otherwise the call hands on the server
/// span's, the request's header as the layer set it.
pub struct PluginCallSpan {
    exporting: Option<CallSpan>,
}

struct CallSpan {
    spans: Arc<SpanExport>,
    server: ServerSpan,
    own: TraceParent,
    start: SystemTime,
}

impl PluginCallSpan {
    pub fn start(spans: Option<&Arc<SpanExport>>, server: Option<ServerSpan>) -> Self {
        let exporting = match (spans, server) {
            (Some(spans), Some(server)) if server.sampled() => Some(CallSpan {
                spans: spans.clone(),
                server,
                own: TraceParent {
                    parent_id: new_span_id(),
                    ..server.span
                },
                start: SystemTime::now(),
            }),
            _ => None,
        };
        PluginCallSpan { exporting }
    }

    /// The call's own `traceparent`, when it is a span of its own.
    pub fn own_traceparent(&self) -> Option<TraceParent> {
        self.exporting.as_ref().map(|call| call.own)
    }

    /// Ends the call: `outcome` is the plugin's status, or why it gave no
    /// answer.
    pub fn end(
        self,
        plugin: &crate::capabilities::Plugin,
        route: &str,
        outcome: Result<u16, String>,
    ) {
        let Some(call) = self.exporting else {
            return;
        };
        let name = &plugin.manifest.name;
        let mut attributes = vec![
            KeyValue::new("kai.plugin.name", name.clone()),
            KeyValue::new("kai.plugin.version", plugin.manifest.version.to_string()),
            KeyValue::new("http.route", route.to_string()),
        ];
        if let Ok(status) = outcome {
            attributes.push(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        call.spans.export(FinishedSpan {
            trace_id: call.own.trace_id,
            span_id: call.own.parent_id,
            parent: Some(ParentSpan {
                span_id: call.server.span.parent_id,
                remote: false,
            }),
            kind: SpanKind::Internal,
            name: format!("plugin {name}").into(),
            start: call.start,
            end: SystemTime::now(),
            attributes,
            error: match outcome {
                Err(reason) => Some(reason),
                Ok(status) if status >= 500 => Some(format!("the plugin answered {status}")),
                Ok(_) => None,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_parsed_as_the_specification_writes_it() {
        let parsed =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(parsed.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(parsed.parent_id, 0x00f067aa0ba902b7);
        assert_eq!(parsed.flags, 1);
        assert_eq!(
            parsed.to_header(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        // A later version: its first four fields, more may follow.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
                .is_some()
        );
        for invalid in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        ] {
            assert_eq!(TraceParent::parse(invalid), None, "{invalid:?}");
        }
    }

    #[test]
    fn the_server_span_keeps_the_callers_trace_or_takes_the_request_id() {
        let caller =
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        let request_id = HeaderValue::from_static("0f8fad5b-d9cb-469f-a165-70867728950e");
        let server = server_span(Some(&request_id), Some(&caller));
        assert_eq!(server.span.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_ne!(
            server.span.parent_id, 0x00f067aa0ba902b7,
            "a span of its own"
        );
        assert_eq!(server.caller, Some(0x00f067aa0ba902b7));
        assert_eq!(server.span.flags, 0, "the caller's sampling decision");

        let server = server_span(Some(&request_id), None);
        assert_eq!(server.span.trace_id, 0x0f8fad5bd9cb469fa16570867728950e);
        assert_eq!(server.span.flags, 1);
        assert_eq!(server.caller, None);

        let not_a_uuid = HeaderValue::from_static("req-42");
        let server = server_span(Some(&not_a_uuid), None);
        assert_ne!(server.span.trace_id, 0);
    }
}
