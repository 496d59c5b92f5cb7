//! Drive a plugin natively, without a host, in ordinary `cargo test`s.
//!
//! [`TestRequest`] matches its path against the plugin's declared routes the
//! way the host does (literal segments and `{param}` segments), fills in the
//! path parameters and calls the handler directly.
//!
//! ```
//! use kai_sdk::prelude::*;
//! use kai_sdk::testing::TestRequest;
//!
//! let plugin = Plugin::new("echo", "1.0.0").route(Route::get("/api/v1/echo/{word}"), |req| {
//!     Response::json(200, &serde_json::json!({ "word": req.param("word")? }))
//! });
//! let response = TestRequest::get("/api/v1/echo/hi").send(&plugin);
//! assert_eq!(response.status, 200);
//! assert_eq!(response.body_json()["word"], "hi");
//! ```

use crate::http::{Principal, Request, Response};
use crate::plugin::Plugin;

/// A request built in a test.
#[derive(Debug, Clone)]
pub struct TestRequest {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    principal: Option<Principal>,
}

impl TestRequest {
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let query = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        Self {
            method: method.to_string(),
            path: path.to_string(),
            query,
            headers: Vec::new(),
            body: Vec::new(),
            principal: None,
        }
    }

    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    pub fn post(path: &str) -> Self {
        Self::new("POST", path)
    }

    /// Sets a JSON body.
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.body = value.to_string().into_bytes();
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Sends the request as this principal.
    pub fn as_principal(mut self, id: &str, roles: &[&str]) -> Self {
        self.principal = Some(Principal {
            id: id.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        });
        self
    }

    /// Routes the request to the matching handler of `plugin` and returns
    /// its response; a 404 when no declared route matches.
    pub fn send(self, plugin: &Plugin) -> Response {
        let matched = plugin.routes().find_map(|route| {
            if !route.method().eq_ignore_ascii_case(&self.method) {
                return None;
            }
            match_pattern(route.path(), &self.path).map(|params| (route.path().to_string(), params))
        });
        let Some((route, params)) = matched else {
            return crate::Error::not_found(format!("no route for {} {}", self.method, self.path))
                .into_response();
        };
        plugin.handle(Request {
            method: self.method.to_ascii_uppercase(),
            path: self.path,
            route,
            params,
            query: self.query,
            headers: self.headers,
            body: self.body,
            principal: self.principal,
            request_id: "test".into(),
            received_at: 0,
        })
    }
}

/// Matches a `/a/{b}/c` pattern against a path, returning the parameters.
fn match_pattern(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
    let mut pattern_segments = pattern.trim_matches('/').split('/');
    let mut path_segments = path.trim_matches('/').split('/');
    let mut params = Vec::new();
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.push((name.to_string(), s.to_string()));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::match_pattern;

    #[test]
    fn patterns_match_literals_and_params() {
        assert_eq!(
            match_pattern("/api/v1/hello/{name}", "/api/v1/hello/world"),
            Some(vec![("name".into(), "world".into())])
        );
        assert_eq!(match_pattern("/api/v1/hello/{name}", "/api/v1/hello"), None);
        assert_eq!(
            match_pattern("/api/v1/hello/{name}", "/api/v1/hello/a/b"),
            None
        );
        assert_eq!(match_pattern("/api/v1/x", "/api/v1/y"), None);
    }
}
