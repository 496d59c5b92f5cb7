//! The HTTP API: where every request goes.
//!
//! Core routes are registered through [`CoreApi`], which records each
//! (method, path) as it mounts it: that list is what plugin routes are
//! checked against and what `/api/v1/admin/routes` shows, so it cannot
//! drift from the router. Everything the core router does not know falls
//! through to [`plugin_proxy`], which looks the request up in the plugin
//! route table.
//!
//! - [`connection`]: the listener, and hyper's own error answers in JSON.
//! - [`error`]: the JSON error type.
//! - [`extract`]: JSON bodies, ids, query parameters, preconditions.
//! - [`auth`]: bearer-token extractors.
//! - [`failure_limiter`]: failed authentications counted per address.
//! - [`unit`]: a request's unit of work (principal + transaction).
//! - [`collections`], [`documents`]: the core data API.
//! - [`users`]: users, the caller, API tokens.
//! - [`credentials`]: the encrypted credential store.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`admin`]: the admin routes, under /api/v1/admin.
//! - [`metrics`]: request metrics, and `GET /metrics`.
//! - [`plugin_proxy`]: requests to plugin routes.

pub mod admin;
pub mod auth;
pub mod collections;
pub mod connection;
pub mod credentials;
pub mod documents;
pub mod error;
pub mod extract;
pub mod failure_limiter;
pub mod health;
pub mod metrics;
pub mod plugin_proxy;
pub mod unit;
pub mod users;

use crate::domain::PathPattern;
use crate::plugins::routes::CoreRoute;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{HeaderName, Request};
use axum::routing::{MethodFilter, on};
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The header that carries the request id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The core router, with the list of what it serves.
pub struct CoreApi {
    router: Router<AppState>,
    routes: Vec<CoreRoute>,
}

impl CoreApi {
    /// Every core route of the host.
    pub fn new() -> Self {
        let api = CoreApi {
            router: Router::new(),
            routes: Vec::new(),
        };
        let api = health::mount(api);
        let api = collections::mount(api);
        let api = documents::mount(api);
        let api = users::mount(api);
        let api = credentials::mount(api);
        let api = metrics::mount(api);
        admin::mount(api)
    }

    /// Mounts `handler` for `method` on `path`.
    pub fn route<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            "DELETE" => MethodFilter::DELETE,
            other => panic!("unsupported method {other}"),
        };
        self.router = self.router.route(path, on(filter, handler));
        self.routes.push(CoreRoute {
            method,
            pattern: PathPattern::parse(path).expect("core route patterns are valid"),
        });
        self
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
        let router = self
            .router
            .fallback(plugin_proxy::dispatch)
            .with_state(state);
        // The first layer is the outermost.
        let app = ServiceBuilder::new()
            .layer(metrics::TrackLayer(request_metrics))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id,
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
