//! HTTP metrics and their endpoint.
//!
//! - [`TrackLayer`], the middleware: every answered request counted by method,
//!   route template and status, with its latency. A core route's template
//!   comes from the core route table; a plugin route's from the plugin
//!   dispatch, which marks its answer with a [`RouteTemplate`]; anything
//!   else is `unmatched`, so raw paths never become labels.
//! - `GET /metrics`: the Prometheus text exposition, for admins; or, with
//!   `--metrics-listen`, on a listener of its own without a token
//!   ([`metrics_app`]).

use super::CoreApi;
use super::auth::AdminCaller;
use crate::state::AppState;
use crate::telemetry::metrics::{
    COMPILE_CACHE_HITS, COMPILE_CACHE_MISSES, HTTP_DURATION, HTTP_REQUESTS,
};
use arc_swap::ArcSwap;
use axum::extract::State;
use axum::http::{Method, Uri, header};
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram, SharedString};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(utoipa_axum::routes!(metrics_for_admins))
}

/// The route template a plugin dispatch matched, on its answer.
#[derive(Clone)]
pub struct RouteTemplate(pub Arc<str>);

/// What the middleware works with: the core routes' templates, and the
/// handles of every (route, method, status) seen. The handles are
/// registered on first use and published copy-on-write, so a request after
/// that reads them without a lock or a shared reference count (two cores
/// bouncing one cache line cost more than the counting itself).
pub struct RequestMetrics {
    core: matchit::Router<Arc<str>>,
    routes: ArcSwap<HashMap<Arc<str>, Vec<Handles>>>,
    /// Serialises the rare insertions.
    adding: Mutex<()>,
}

#[derive(Clone)]
struct Handles {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

impl RequestMetrics {
    pub fn new(api: &CoreApi) -> Self {
        let mut core = matchit::Router::new();
        for route in api.routes() {
            // One entry per path: several methods share it.
            let _ = core.insert(
                route.pattern.positional(),
                Arc::from(route.pattern.as_str()),
            );
        }
        RequestMetrics {
            core,
            routes: ArcSwap::default(),
            adding: Mutex::new(()),
        }
    }

    /// The route template of an answered request: a plugin's answer names
    /// its route; a core route is looked up; anything else is `unmatched`.
    /// Borrowed, not cloned: a reference count shared by every request
    /// costs two cores more than the lookup.
    pub fn route_of<'a, R>(&'a self, response: &'a http::Response<R>, path: &str) -> &'a str {
        if let Some(template) = response.extensions().get::<RouteTemplate>() {
            return &template.0;
        }
        match self.core.at(path) {
            Ok(found) => found.value,
            Err(_) => "unmatched",
        }
    }

    /// Records one answered request.
    fn record(&self, route: &str, method: &'static str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let find = |routes: &HashMap<Arc<str>, Vec<Handles>>| {
            routes.get(route).and_then(|handles| {
                handles
                    .iter()
                    .find(|h| h.method == method && h.status == status)
                    .map(|h| {
                        h.requests.increment(1);
                        h.duration.record(seconds);
                    })
            })
        };
        if find(&self.routes.load()).is_some() {
            return;
        }
        let _adding = self.adding.lock().expect("metric handles");
        let current = self.routes.load_full();
        if find(&current).is_some() {
            return;
        }
        let mut routes = (*current).clone();
        let label = SharedString::from(route.to_string());
        let made = Handles {
            method,
            status,
            requests: metrics::counter!(
                HTTP_REQUESTS,
                "method" => method,
                "route" => label.clone(),
                "status" => status.to_string()
            ),
            duration: metrics::histogram!(HTTP_DURATION, "method" => method, "route" => label),
        };
        made.requests.increment(1);
        made.duration.record(seconds);
        routes.entry(Arc::from(route)).or_default().push(made);
        self.routes.store(Arc::new(routes));
    }
}

/// The middleware: counts and times every request (see the module's doc).
/// A layer of its own rather than `from_fn`, which boxes the rest of the
/// stack and its future on every request. It holds its [`RequestMetrics`]
/// for the life of the process (one per app built), so that a request
/// does not touch a shared reference count.
#[derive(Clone, Copy)]
pub struct TrackLayer(pub &'static RequestMetrics);

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            metrics: self.0,
        }
    }
}

#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    metrics: &'static RequestMetrics,
}

impl<S, B, R> Service<http::Request<B>> for Track<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        TrackFuture {
            started: Instant::now(),
            method: method_label(request.method()),
            // A clone shares the path's bytes.
            uri: request.uri().clone(),
            metrics: self.metrics,
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request on its way through the stack, recorded when it answers.
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: &'static str,
        uri: Uri,
        metrics: &'static RequestMetrics,
    }
}

impl<F, R, E> Future for TrackFuture<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let metrics = this.metrics;
            let route = metrics.route_of(response, this.uri.path());
            let status = response.status().as_u16();
            metrics.record(route, this.method, status, this.started.elapsed());
        }
        Poll::Ready(result)
    }
}

/// The method as a label: the standard ones, or `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Every metric, in the Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
        super::openapi::AdminOnly,
    )
)]
async fn metrics_for_admins(State(state): State<AppState>, _: AdminCaller) -> Response {
    exposition(&state).await
}

/// Sets the gauges of state kept elsewhere, then renders every metric.
async fn exposition(state: &AppState) -> Response {
    crate::services::state_metrics::record(&state.db).await;
    for entry in state.control.plugins.snapshot().plugins.values() {
        entry.plugin.publish_metrics();
    }
    let cache = state.control.runtime.cache_stats();
    metrics::counter!(COMPILE_CACHE_HITS).absolute(cache.hits);
    metrics::counter!(COMPILE_CACHE_MISSES).absolute(cache.misses);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics::render(),
    )
        .into_response()
}

/// The app of `--metrics-listen`: `GET /metrics` without a token, for a
/// scraper on a network the operator keeps private; nothing else.
pub fn metrics_app(state: AppState) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(
                |State(state): State<AppState>| async move { exposition(&state).await },
            ),
        )
        .with_state(state)
}
