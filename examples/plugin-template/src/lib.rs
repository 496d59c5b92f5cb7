//! A minimal KAI-Fusion plugin: `GET /api/v1/greetings/{name}` for signed-in
//! callers, answering who asked.

use kai_sdk::prelude::*;
use serde_json::json;

pub fn plugin() -> Plugin {
    Plugin::new("plugin-template", env!("CARGO_PKG_VERSION"))
        .description("A starting point for your own plugin")
        .route(Route::get("/api/v1/greetings/{name}"), greet)
}

fn greet(req: &Request) -> Result<Response, Error> {
    let name = req.param("name")?;
    let caller = req.require_principal()?;
    log::info(&format!("greeting {name} for {}", caller.id));
    Response::json(200, &json!({ "greeting": format!("hello, {name}"), "asked_by": caller.id }))
}

kai_sdk::plugin!(plugin);

#[cfg(test)]
mod tests {
    use kai_sdk::testing::TestRequest;

    #[test]
    fn greets_signed_in_callers() {
        let response = TestRequest::get("/api/v1/greetings/ada")
            .as_principal("user-1", &["member"])
            .send(&super::plugin());
        assert_eq!(response.status, 200);
        assert_eq!(response.body_json()["asked_by"], "user-1");
    }

    #[test]
    fn refuses_anonymous_callers() {
        let response = TestRequest::get("/api/v1/greetings/ada").send(&super::plugin());
        assert_eq!(response.status, 401);
    }
}
