//! `kai:fusion/outbound-http`: HTTP requests from plugins, only to origins
//! on the plugin's granted allow-list (scheme, host and port), checked
//! before any connection is made; redirects are not followed (they could
//! lead off the list). A deadline and a response size cap apply.
//!
//! With `credential`, the host opens a granted credential of the caller and
//! injects it as a header (bearer, basic, or a named header). The guest
//! never holds the secret; the header value is marked sensitive so it is
//! never logged.

use super::CallState;
use super::Caller;
use crate::wit::bindings::kai::fusion::outbound_http::{
    Host, Injection, OutboundRequest, OutboundResponse,
};
use crate::wit::bindings::kai::fusion::types::Error as WitError;
use base64::Engine as _;
use futures::StreamExt;
use reqwest::header::{HeaderName, HeaderValue};
use std::time::Duration;
use zeroize::Zeroizing;

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The client plugins' outbound requests go through (it follows no
/// redirects), and their limits.
pub struct OutboundHttp {
    pub client: reqwest::Client,
    /// The longest a request may take; a plugin may ask for less.
    pub timeout: Duration,
    /// The largest response body a plugin receives.
    pub max_bytes: usize,
}

impl OutboundHttp {
    /// A client that never follows redirects (a redirect could leave the
    /// granted origin), with these limits.
    pub fn new(timeout: Duration, max_bytes: usize) -> reqwest::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            timeout,
            max_bytes,
        })
    }
}

impl Caller {
    /// Sends `request`, with the calling request's `traceparent` unless the
    /// plugin set one.
    async fn send(
        &self,
        request: OutboundRequest,
        traceparent: Option<String>,
    ) -> Result<OutboundResponse, WitError> {
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| WitError::Invalid(format!("url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WitError::Invalid(
                "url: only http and https are supported".into(),
            ));
        }
        if !self.grants()?.outbound(&url) {
            return Err(WitError::Denied(format!(
                "plugin `{}` may not call {}://{}:{} (not on its granted outbound list)",
                self.plugin_name,
                url.scheme(),
                url.host_str().unwrap_or(""),
                url.port_or_known_default().unwrap_or(0)
            )));
        }
        let method = request.method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(WitError::Invalid(format!(
                "method `{}` is not supported",
                request.method
            )));
        }
        let outbound = &self.host.services.outbound;
        let timeout = request
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()))
            .unwrap_or(Duration::MAX)
            .min(outbound.timeout);
        let mut builder = outbound
            .client
            .request(method.parse().expect("checked methods parse"), url)
            .timeout(timeout)
            .body(request.body);
        for (name, value) in &request.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| WitError::Invalid(format!("header `{name}` is not a valid name")))?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|_| {
                WitError::Invalid(format!("the value of header `{name}` is not valid"))
            })?;
            builder = builder.header(name, value);
        }
        if let Some(traceparent) = traceparent
            && !request
                .headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("traceparent"))
        {
            builder = builder.header("traceparent", traceparent);
        }
        if let Some(credential) = &request.credential {
            let secret = self.credential_secret(&credential.name).await?;
            let injection = match &credential.injection {
                Injection::Bearer(key) => HeaderInjection::Bearer(key),
                Injection::Basic((user, password)) => HeaderInjection::Basic(user, password),
                Injection::Header((header, key)) => HeaderInjection::Header(header, key),
            };
            let (name, value) =
                credential_header(&credential.name, &secret, &injection).map_err(|e| match e {
                    InjectError::Unreadable(m) => WitError::Unavailable(m),
                    InjectError::Invalid(m) => WitError::Invalid(m),
                })?;
            super::credentials::count_use(&self.plugin_name, "inject");
            builder = builder.header(name, value);
        }
        let response = builder.send().await.map_err(|e| {
            let reason = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            WitError::Unavailable(format!("the outbound request {reason}"))
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let limit = outbound.max_bytes;
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|_| WitError::Unavailable("the outbound response broke off".into()))?;
            if body.len() + chunk.len() > limit {
                return Err(WitError::Unavailable(format!(
                    "the outbound response exceeds {limit} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            status,
            headers,
            body,
        })
    }
}

/// Where a credential's secret goes in a request: which fields of the
/// secret (a JSON object) fill which header.
#[derive(Debug, Clone)]
pub enum HeaderInjection<'a> {
    /// `Authorization: Bearer <secret[key]>`.
    Bearer(&'a str),
    /// `Authorization: Basic base64(<secret[user]>:<secret[password]>)`.
    Basic(&'a str, &'a str),
    /// `<header>: <secret[key]>`.
    Header(&'a str, &'a str),
}

/// Why a credential could not fill its header.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InjectError {
    /// The stored secret is not a JSON object.
    #[error("{0}")]
    Unreadable(String),
    /// The injection names a field the secret lacks, or a bad header.
    #[error("{0}")]
    Invalid(String),
}

/// The header that carries credential `name`'s `secret` as `injection`
/// asks, marked sensitive so that it is never logged.
pub fn credential_header(
    name: &str,
    secret: &str,
    injection: &HeaderInjection<'_>,
) -> Result<(HeaderName, HeaderValue), InjectError> {
    let object: serde_json::Value = serde_json::from_str(secret).map_err(|_| {
        InjectError::Unreadable(format!("credential `{name}` is not a JSON object"))
    })?;
    let field = |key: &str| {
        object
            .get(key)
            .and_then(|v| v.as_str())
            .map(|s| Zeroizing::new(s.to_string()))
            .ok_or_else(|| {
                InjectError::Invalid(format!("credential `{name}` has no string field `{key}`"))
            })
    };
    let (header, value) = match injection {
        HeaderInjection::Bearer(key) => (
            reqwest::header::AUTHORIZATION,
            Zeroizing::new(format!("Bearer {}", field(key)?.as_str())),
        ),
        HeaderInjection::Basic(user, password) => {
            let pair = Zeroizing::new(format!(
                "{}:{}",
                field(user)?.as_str(),
                field(password)?.as_str()
            ));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
            (
                reqwest::header::AUTHORIZATION,
                Zeroizing::new(format!("Basic {encoded}")),
            )
        }
        HeaderInjection::Header(header, key) => (
            HeaderName::try_from(*header).map_err(|_| {
                InjectError::Invalid(format!("header `{header}` is not a valid name"))
            })?,
            field(key)?,
        ),
    };
    let mut value = HeaderValue::try_from(value.as_str()).map_err(|_| {
        InjectError::Invalid(format!("credential `{name}` does not fit in a header"))
    })?;
    value.set_sensitive(true);
    Ok((header, value))
}

impl Host for CallState {
    async fn send(
        &mut self,
        request: OutboundRequest,
    ) -> wasmtime::Result<Result<OutboundResponse, WitError>> {
        let caller = self.caller();
        let traceparent = self.context.traceparent.clone();
        Ok(async move { caller?.send(request, traceparent).await }.await)
    }
}
