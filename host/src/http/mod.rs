//! The HTTP API: where every request goes.
//!
//! Core routes are registered through [`CoreApi`], from the
//! `#[utoipa::path]` each handler carries: it records each (method, path)
//! as it mounts it, and the route's OpenAPI description with it. That list
//! is what plugin routes are checked against, what `/api/v1/admin/routes`
//! shows and what [`openapi`] documents, so none can drift from the
//! router. Everything the core router does not know falls through to
//! [`plugin_proxy`], which looks the request up in the plugin route table.
//!
//! - [`connection`]: the listener, and hyper's own error answers in JSON.
//! - [`error`]: the JSON error type.
//! - [`extract`]: JSON bodies, ids, query parameters, preconditions.
//! - [`auth`]: bearer-token extractors.
//! - [`failure_limiter`]: failed authentications counted per address.
//! - [`unit`]: a request's unit of work (principal + transaction).
//! - [`listing`]: the shapes of list answers.
//! - [`collections`], [`documents`]: the core data API.
//! - [`users`]: users, the caller, API tokens.
//! - [`credentials`]: the encrypted credential store.
//! - [`state`]: the StateManager's threads and checkpoints.
//! - [`memory`]: the MemoryManager's sessions, messages, windows and search.
//! - [`workflows`]: workflow definitions and their versions.
//! - [`executions`]: workflow runs: start, read with the timeline, list,
//!   cancel, retry.
//! - [`hooks`]: workflows' webhooks, public, the secret in the path.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`admin`]: the admin routes, under /api/v1/admin.
//! - [`metrics`]: request metrics, and `GET /metrics`.
//! - [`openapi`]: the OpenAPI document, core and plugin routes.
//! - [`docs`]: the API reference page at `/docs`.
//! - [`console`]: the admin console at `/admin`.
//! - [`assets`]: the headers of the files served from the binary.
//! - [`plugin_proxy`]: requests to plugin routes.
//! - [`trace_context`]: W3C `traceparent`, accepted and passed on.

pub mod admin;
pub mod assets;
pub mod auth;
pub mod collections;
pub mod connection;
pub mod console;
pub mod credentials;
pub mod docs;
pub mod documents;
pub mod error;
pub mod executions;
pub mod extract;
pub mod failure_limiter;
pub mod health;
pub mod hooks;
pub mod listing;
pub mod memory;
pub mod metrics;
pub mod openapi;
pub mod plugin_proxy;
pub mod state;
pub mod trace_context;
pub mod unit;
pub mod users;
pub mod workflows;

use crate::domain::PathPattern;
use crate::plugins::routes::CoreRoute;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::PathItem;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

/// The header that carries the request id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The core router, with the list of what it serves and its description.
pub struct CoreApi {
    router: OpenApiRouter<AppState>,
    routes: Vec<CoreRoute>,
}

impl CoreApi {
    /// Every core route of the host.
    pub fn new() -> Self {
        let api = CoreApi {
            router: OpenApiRouter::with_openapi(openapi::BaseDoc::openapi()),
            routes: Vec::new(),
        };
        let api = health::mount(api);
        let api = collections::mount(api);
        let api = documents::mount(api);
        let api = users::mount(api);
        let api = credentials::mount(api);
        let api = state::mount(api);
        let api = memory::mount(api);
        let api = workflows::mount(api);
        let api = executions::mount(api);
        let api = hooks::mount(api);
        let api = metrics::mount(api);
        let api = openapi::mount(api);
        let api = docs::mount(api);
        let api = console::mount(api);
        admin::mount(api)
    }

    /// Mounts the handlers of one path, given as `routes!(handler, ...)`
    /// of handlers carrying `#[utoipa::path]` for that same path.
    pub fn route(mut self, routes: UtoipaMethodRouter<AppState>) -> Self {
        let (_, paths, _) = &routes;
        assert_eq!(paths.paths.len(), 1, "one path per `route`");
        for (path, item) in &paths.paths {
            for method in methods_of(item) {
                self.routes.push(CoreRoute {
                    method,
                    pattern: PathPattern::parse(path).expect("core route patterns are valid"),
                });
            }
        }
        self.router = self.router.routes(routes);
        self
    }

    /// The OpenAPI description of the core routes.
    pub fn openapi(&self) -> OpenApi {
        self.router.get_openapi().clone()
    }

    /// The (method, path) of every core route.
    pub fn routes(&self) -> Vec<CoreRoute> {
        self.routes.clone()
    }

    /// The complete application: core routes, plugin fallback, middleware.
    ///
    /// The middleware wraps the whole router once, around routing, instead
    /// of through `Router::layer`, which wraps every route and the fallback
    /// in each layer, each in a box of its own: a request then cloned a
    /// chain of some 30 boxed services (each an allocation) on its way to
    /// a handler.
    pub fn into_app(self, state: AppState) -> Router {
        let max_body = state.config.max_body_bytes;
        // Kept for the life of the process: a server builds its app once.
        let request_metrics: &'static _ = Box::leak(Box::new(metrics::RequestMetrics::new(&self)));
        let trace_context =
            trace_context::TraceContextLayer::new(state.spans.clone(), request_metrics);
        let (router, _) = self.router.split_for_parts();
        let router = router.fallback(plugin_proxy::dispatch).with_state(state);
        // The first layer is the outermost.
        let app = ServiceBuilder::new()
            .layer(metrics::TrackLayer(request_metrics))
            .layer(trace_context)
            .layer(SetRequestIdLayer::new(
                REQUEST_ID,
                trace_context::MakeTraceRequestId,
            ))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        // The trace id of the traceparent the layer above set.
                        let trace_id = request
                            .headers()
                            .get(trace_context::TRACEPARENT)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.get(3..35))
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %hooks::loggable_path(request.uri().path()),
                            request_id,
                            trace_id,
                            plugin = tracing::field::Empty,
                        )
                    })
                    // Failures are already in the response line with their status.
                    .on_failure(())
                    .on_response(log_response),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(CatchPanicLayer::new())
            .layer(axum::middleware::map_response(error::json_errors))
            .layer(DefaultBodyLimit::max(max_body))
            .service(router);
        // Back into a `Router`, the type servers and tests take.
        Router::new().fallback_service(app)
    }
}

/// The methods a path item describes, as the route list names them.
fn methods_of(item: &PathItem) -> impl Iterator<Item = &'static str> {
    [
        ("GET", &item.get),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("PATCH", &item.patch),
        ("DELETE", &item.delete),
    ]
    .into_iter()
    .filter(|(_, operation)| operation.is_some())
    .map(|(method, _)| method)
}

/// The response line of the request's span.
fn log_response<B>(response: &axum::http::Response<B>, latency: Duration, _: &tracing::Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_us = latency.as_micros() as u64,
        "response"
    );
}

impl Default for CoreApi {
    fn default() -> Self {
        Self::new()
    }
}
