//! The state every handler shares: configuration, database, the services,
//! and the plugins (runtime, live set) in [`PluginControl`]. Cheap to clone (one `Arc`). Only the
//! HTTP edge and the server's wiring see it; the layers below get the
//! narrow parts they need.

use crate::capabilities::HostServices;
use crate::config::Config;
use crate::http::failure_limiter::FailureLimiter;
use crate::plugins::PluginControl;
use crate::plugins::hooks::PluginHooks;
use crate::services::Core;
use crate::store::Db;
use crate::telemetry::otlp::SpanExport;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: Db,
    /// The runtime, the live plugin set, and what changing it works with.
    pub control: PluginControl,
    /// What the services share (the database, keys, rules, outbox).
    pub core: Arc<Core>,
    /// What plugins' host functions reach.
    pub host: Arc<HostServices>,
    /// The plugin set as event subscribers, and the way into plugin calls.
    pub hooks: Arc<PluginHooks>,
    /// The workflow runner's workers on this node.
    pub runner: Arc<crate::runner::Runner>,
    /// This server process among the nodes sharing the database.
    pub node_id: String,
    /// Failed authentications per client address.
    pub auth_failures: FailureLimiter,
    /// Webhook calls per workflow (`webhook_calls_per_minute`).
    pub webhook_calls: governor::DefaultKeyedRateLimiter<String>,
    /// The OpenAPI description of the core routes; plugin routes are added
    /// per request (`http::openapi`).
    pub api_doc: Arc<utoipa::openapi::OpenApi>,
    /// Where request and plugin-call spans are exported (`--otlp-endpoint`).
    pub spans: Option<Arc<SpanExport>>,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
