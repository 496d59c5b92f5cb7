//! Drive a plugin natively, without a host, in ordinary `cargo test`s.
//!
//! [`TestRequest`] matches its path against the plugin's declared routes the
//! way the host does, with the same router (`matchit`, one per method,
//! parameters named by position): a literal segment takes precedence over a
//! `{param}` at the same place, and two routes of one shape are refused as
//! the host refuses to install them. It fills in the path parameters and
//! calls the handler directly.
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

    /// The principal the request is sent as (for a native test host).
    #[doc(hidden)]
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// The route of `plugin` this request reaches, if any (for a native
    /// test host).
    #[doc(hidden)]
    pub fn matched_route<'p>(&self, plugin: &'p Plugin) -> Option<&'p crate::Route> {
        let (path, _) = route_for(plugin, &self.method, &self.path)?;
        plugin
            .routes()
            .find(|route| route.method().eq_ignore_ascii_case(&self.method) && route.path() == path)
    }

    /// Routes the request to the matching handler of `plugin` and returns
    /// its response; a 404 when no declared route matches.
    ///
    /// # Panics
    /// When two routes of `plugin` with one method match exactly the same
    /// paths (`/a/{x}` and `/a/{y}`): the host refuses to install it.
    pub fn send(self, plugin: &Plugin) -> Response {
        let Some((route, params)) = route_for(plugin, &self.method, &self.path) else {
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

/// The route of `plugin` that serves `method path` and its parameters, as
/// the host's route table finds them.
fn route_for(plugin: &Plugin, method: &str, path: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut router = matchit::Router::new();
    let routes: Vec<_> = plugin
        .routes()
        .filter(|route| route.method().eq_ignore_ascii_case(method))
        .collect();
    for (index, route) in routes.iter().enumerate() {
        if let Err(error) = router.insert(positional(route.path()), index) {
            panic!(
                "plugin `{}`: route `{} {}` matches the same paths as another of its routes \
                 ({error}); the host refuses to install it",
                plugin.name(),
                route.method(),
                route.path()
            );
        }
    }
    let found = router.at(path).ok()?;
    let route = routes[*found.value];
    let names = route
        .path()
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'));
    let params = names
        .zip(found.params.iter())
        .map(|(name, (_, value))| (name.to_string(), value.to_string()))
        .collect();
    Some((route.path().to_string(), params))
}

/// `pattern` with each parameter named after its segment's position
/// (`/a/{p1}`), as the host's route table inserts it, so that parameters
/// at one depth share a name.
fn positional(pattern: &str) -> String {
    pattern
        .trim_start_matches('/')
        .split('/')
        .enumerate()
        .map(|(i, segment)| {
            if segment.starts_with('{') {
                format!("/{{p{i}}}")
            } else {
                format!("/{segment}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    // Precedence between literal and parameter routes is checked by the
    // `route-precedence` test fixture, natively and against a server.
    use super::TestRequest;
    use crate::prelude::*;

    #[test]
    #[should_panic(expected = "matches the same paths")]
    fn routes_of_one_shape_are_refused_as_the_host_refuses_them() {
        let plugin = Plugin::new("twice", "1.0.0")
            .route(Route::get("/api/v1/twice/{a}"), |_| {
                Ok(Response::empty(204))
            })
            .route(Route::get("/api/v1/twice/{b}"), |_| {
                Ok(Response::empty(204))
            });
        TestRequest::get("/api/v1/twice/x").send(&plugin);
    }
}
