//! Requests, responses and errors as a plugin handler sees them.
//!
//! Errors render in the host's format, `{"error": {"code", "message"}}`, so a
//! client cannot tell a plugin route from a core route by its errors.

use crate::wit::exports::kai::fusion::handler as wit;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The caller, as authenticated by the host. Plugins never see tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable user id (a UUID).
    pub id: String,
    /// Roles such as `admin` or `member`.
    pub roles: Vec<String>,
}

impl Principal {
    /// Whether the caller has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }
}

/// An HTTP request routed to this plugin by the host.
#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) route: String,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) principal: Option<Principal>,
    pub(crate) request_id: String,
    pub(crate) received_at: i64,
}

impl From<wit::Request> for Request {
    fn from(r: wit::Request) -> Self {
        Self {
            method: r.method,
            path: r.path,
            route: r.route,
            params: r.params,
            query: r.query,
            headers: r.headers,
            body: r.body,
            principal: r.principal.map(Into::into),
            request_id: r.request_id,
            received_at: r.received_at,
        }
    }
}

impl Request {
    /// The upper-case HTTP method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The route pattern that matched, e.g. `/api/v1/hello/{name}`.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// A path parameter of the matched pattern, or a 400 naming it.
    pub fn param(&self, name: &str) -> Result<&str, Error> {
        lookup(&self.params, name)
            .ok_or_else(|| Error::bad_request(format!("missing path parameter `{name}`")))
    }

    /// A path parameter that must be a UUID, lower-cased, or a 400 naming
    /// it (as core routes answer).
    pub fn param_uuid(&self, name: &str) -> Result<String, Error> {
        let value = self.param(name)?;
        if is_uuid(value) {
            Ok(value.to_ascii_lowercase())
        } else {
            Err(Error::bad_request(format!(
                "path parameter `{name}`: `{value}` is not a valid UUID"
            )))
        }
    }

    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        lookup(&self.query, name)
    }

    /// All query parameters, in request order.
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query
    }

    /// A header value; names are matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON, or a 400 saying why it is not valid.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::bad_request(format!("invalid JSON body: {e}")))
    }

    /// The authenticated caller; `None` on a public route called without
    /// a token (with one, the host checked it: a bad token never gets here).
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// The authenticated caller, or a 401 for anonymous requests.
    pub fn require_principal(&self) -> Result<&Principal, Error> {
        self.principal()
            .ok_or_else(|| Error::new(401, "unauthenticated", "this route needs a token"))
    }

    /// The host's id for this request (also in the host's logs).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// When the host received the request, in microseconds since the epoch.
    pub fn received_at(&self) -> i64 {
        self.received_at
    }
}

/// The hyphenated form `8-4-4-4-12` of hex digits.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The value of header `name` among `headers`, matched case-insensitively.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An HTTP response to hand back to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// An empty buffer for a JSON body, sized for a typical listing page so it
/// rarely regrows (serde_json alone starts at 128 bytes).
pub(crate) fn json_body() -> Vec<u8> {
    Vec::with_capacity(4096)
}

impl Response {
    /// A response with no body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Self, Error> {
        let mut body = json_body();
        serde_json::to_writer(&mut body, value)
            .map_err(|e| Error::internal(format!("could not serialize the response: {e}")))?;
        Ok(Self::json_bytes(status, body))
    }

    /// A response whose body is already JSON, such as
    /// [`JsonPage::to_vec`](crate::persistence::JsonPage::to_vec).
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    /// A response with a body of any type, such as a file.
    pub fn bytes(status: u16, content_type: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: text.into().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The body parsed as JSON (handy in tests).
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn into_wit(self) -> wit::Response {
        wit::Response {
            status: self.status,
            headers: self.headers,
            body: self.body,
        }
    }
}

/// A failed request: becomes `{"error": {"code", "message"}}` with `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Error {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400: the request is malformed; say what is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    /// 404: the resource does not exist or is not the caller's.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "conflict", message)
    }

    /// 422: well-formed but invalid input; name the field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "validation_failed", message)
    }

    /// 500: something went wrong inside the plugin.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "plugin_error", message)
    }

    /// The error as a response.
    pub fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        Response {
            status: self.status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for Error {}
