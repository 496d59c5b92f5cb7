//! The example plugin: one public route that greets by name.
//!
//! `GET /api/v1/hello/{name}` answers `{"message": "hello, <name>"}`.

use kai_sdk::prelude::*;
use serde_json::json;

/// The repository README's plugin example, compiled by `cargo test --doc`
/// so that it cannot drift from the SDK (here, since the SDK's package
/// holds only its own guide).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct RepositoryReadme;

/// The plugin: its manifest and its one handler.
pub fn plugin() -> Plugin {
    Plugin::new("hello", env!("CARGO_PKG_VERSION"))
        .description("Greets whoever asks: GET /api/v1/hello/{name}")
        .route(
            Route::get("/api/v1/hello/{name}")
                .public()
                .summary("Greets `name`"),
            hello,
        )
}

fn hello(req: &Request) -> Result<Response, Error> {
    let name = req.param("name")?;
    Response::json(200, &json!({ "message": format!("hello, {name}") }))
}

kai_sdk::plugin!(plugin);

#[cfg(test)]
mod tests {
    use kai_sdk::testing::TestRequest;

    #[test]
    fn greets_by_name() {
        let response = TestRequest::get("/api/v1/hello/world").send(&super::plugin());
        assert_eq!(response.status, 200);
        assert_eq!(response.body_json()["message"], "hello, world");
    }

    #[test]
    fn declares_one_public_route() {
        let plugin = super::plugin();
        let routes: Vec<_> = plugin.routes().collect();
        assert_eq!(routes.len(), 1);
        assert!(routes[0].is_public());
    }
}
