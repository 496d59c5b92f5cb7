//! The state every handler shares: configuration, database, runtime and the
//! plugin registry. Cheap to clone (one `Arc`).

use crate::config::Config;
use crate::http::auth::FailureLimiter;
use crate::plugins::PluginRegistry;
use crate::runtime::Runtime;
use crate::services::events::outbox::Outbox;
use crate::services::secrets::Keys;
use crate::store::Db;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: Db,
    pub runtime: Arc<Runtime>,
    pub plugins: Arc<PluginRegistry>,
    /// Wakes the after-commit event worker.
    pub outbox: Outbox,
    /// The master keys of the credential store.
    pub keys: Keys,
    /// This server process among the nodes sharing the database.
    pub node_id: String,
    /// Failed authentications per client address.
    pub auth_failures: FailureLimiter,
    /// The client plugins' outbound HTTP goes through (no redirects).
    pub outbound: reqwest::Client,
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
