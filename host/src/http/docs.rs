//! `GET /docs`: an interactive reference of the OpenAPI document (Swagger
//! UI), served from the binary.
//!
//! Swagger UI's files come from the `utoipa-swagger-ui` crate, which embeds
//! the release zip that `utoipa-swagger-ui-vendored` carries from
//! crates.io: building needs no Node and no download, and the page needs
//! no other host (its Content-Security-Policy allows only this one). The
//! page itself and its script are ours (`host/assets/docs.*`): the script
//! asks for an API token, keeps it in the tab's session storage (shared
//! with the console at `/admin`), and sends it with the document's request
//! and with each "Try it out".
//!
//! The page and its assets hold no data and take no token; the document
//! they show does.

use super::CoreApi;
use super::assets::{CSS, HTML, JAVASCRIPT, asset};
use axum::body::Bytes;
use axum::response::Response;
use std::sync::{Arc, LazyLock};
use utoipa_axum::routes;
use utoipa_swagger_ui::Config;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(page))
        .route(routes!(script))
        .route(routes!(swagger_ui_css))
        .route(routes!(swagger_ui_bundle))
}

const PAGE: &str = include_str!("../../assets/docs.html");
const SCRIPT: &str = include_str!("../../assets/docs.js");

/// The page: Swagger UI, and a field for the API token.
#[utoipa::path(
    get, path = "/docs", tag = "operations", operation_id = "docs", security(()),
    responses((status = 200, description = "The API reference page", content_type = "text/html", body = String))
)]
async fn page() -> Response {
    asset(HTML, Bytes::from_static(PAGE.as_bytes()))
}

/// The page's script.
#[utoipa::path(
    get, path = "/docs/kai-docs.js", tag = "operations", operation_id = "docs_script", security(()),
    responses((status = 200, description = "The reference page's script", content_type = "text/javascript", body = String))
)]
async fn script() -> Response {
    asset(JAVASCRIPT, Bytes::from_static(SCRIPT.as_bytes()))
}

/// Swagger UI's style sheet.
#[utoipa::path(
    get, path = "/docs/swagger-ui.css", tag = "operations", operation_id = "docs_css", security(()),
    responses((status = 200, description = "Swagger UI's style sheet", content_type = "text/css", body = String))
)]
async fn swagger_ui_css() -> Response {
    asset(CSS, swagger_file("swagger-ui.css"))
}

/// Swagger UI itself.
#[utoipa::path(
    get, path = "/docs/swagger-ui-bundle.js", tag = "operations", operation_id = "docs_bundle", security(()),
    responses((status = 200, description = "Swagger UI", content_type = "text/javascript", body = String))
)]
async fn swagger_ui_bundle() -> Response {
    asset(JAVASCRIPT, swagger_file("swagger-ui-bundle.js"))
}

/// A file of the embedded Swagger UI release.
fn swagger_file(name: &str) -> Bytes {
    // `serve` formats the initializer script with this; no other file uses it.
    static CONFIG: LazyLock<Arc<Config<'static>>> =
        LazyLock::new(|| Arc::new(Config::new(["/api/v1/openapi.json"])));
    let file = utoipa_swagger_ui::serve(name, CONFIG.clone())
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("the embedded Swagger UI has `{name}`"));
    match file.bytes {
        std::borrow::Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        std::borrow::Cow::Owned(bytes) => Bytes::from(bytes),
    }
}
