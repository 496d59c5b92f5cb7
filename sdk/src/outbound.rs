//! Outbound HTTP to the origins the operator allowed (`Plugin::outbound`),
//! optionally with a stored credential injected by the host: the plugin
//! names the credential and how to use it, and never sees the secret.
//!
//! ```ignore
//! use kai_sdk::outbound::{Inject, OutboundRequest};
//! let response = OutboundRequest::get("https://api.github.com/user")
//!     .credential("github", Inject::Bearer("token".into()))
//!     .send()?;
//! ```

#[cfg(not(target_arch = "wasm32"))]
use crate::__private::native::outbound_http as wit;
use crate::host::{HostError, host_call};
#[cfg(target_arch = "wasm32")]
use crate::wit::kai::fusion::outbound_http as wit;

/// What the remote server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutboundResponse {
    /// A header value; names are matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::http::header(&self.headers, name)
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// How the host puts a credential's secret (a JSON object) into the request.
#[derive(Debug, Clone)]
pub enum Inject {
    /// `Authorization: Bearer <secret[key]>`.
    Bearer(String),
    /// `Authorization: Basic ...` from two fields of the secret.
    Basic {
        user_key: String,
        password_key: String,
    },
    /// `<header>: <secret[key]>`.
    Header { header: String, key: String },
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    request: wit::OutboundRequest,
}

impl OutboundRequest {
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            request: wit::OutboundRequest {
                method: method.to_string(),
                url: url.to_string(),
                headers: Vec::new(),
                body: Vec::new(),
                timeout_ms: None,
                credential: None,
            },
        }
    }

    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request
            .headers
            .push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.request.body = body.into();
        self
    }

    pub fn json(self, value: &serde_json::Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }

    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.request.timeout_ms = Some(ms);
        self
    }

    /// Has the host inject the caller's credential `name`.
    pub fn credential(mut self, name: &str, inject: Inject) -> Self {
        let injection = match inject {
            Inject::Bearer(key) => wit::Injection::Bearer(key),
            Inject::Basic {
                user_key,
                password_key,
            } => wit::Injection::Basic((user_key, password_key)),
            Inject::Header { header, key } => wit::Injection::Header((header, key)),
        };
        self.request.credential = Some(wit::CredentialUse {
            name: name.to_string(),
            injection,
        });
        self
    }

    pub fn send(self) -> Result<OutboundResponse, HostError> {
        host_call!(wit::send(&self.request), OutboundResponse::from)
    }
}
