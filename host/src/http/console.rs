//! The admin console at `/admin`: a page, a script and a style sheet
//! (`host/assets/console/`), served from the binary.
//!
//! The console holds no power of its own: it signs in with an admin's API
//! token (kept in the tab's session storage) and does everything through
//! the public admin API. So these routes serve files only, without a
//! token, like `/docs`.

use super::CoreApi;
use super::assets::{CSS, HTML, JAVASCRIPT, asset};
use axum::body::Bytes;
use axum::response::Response;
use utoipa_axum::routes;

pub fn mount(api: CoreApi) -> CoreApi {
    api.route(routes!(page))
        .route(routes!(script))
        .route(routes!(style))
}

const PAGE: &str = include_str!("../../assets/console/index.html");
const SCRIPT: &str = include_str!("../../assets/console/console.js");
const STYLE: &str = include_str!("../../assets/console/console.css");

/// The console's page.
#[utoipa::path(
    get, path = "/admin", tag = "operations", operation_id = "console", security(()),
    responses((status = 200, description = "The admin console", content_type = "text/html", body = String))
)]
async fn page() -> Response {
    asset(HTML, Bytes::from_static(PAGE.as_bytes()))
}

/// The console's script.
#[utoipa::path(
    get, path = "/admin/console.js", tag = "operations", operation_id = "console_script", security(()),
    responses((status = 200, description = "The console's script", content_type = "text/javascript", body = String))
)]
async fn script() -> Response {
    asset(JAVASCRIPT, Bytes::from_static(SCRIPT.as_bytes()))
}

/// The console's style sheet.
#[utoipa::path(
    get, path = "/admin/console.css", tag = "operations", operation_id = "console_style", security(()),
    responses((status = 200, description = "The console's style sheet", content_type = "text/css", body = String))
)]
async fn style() -> Response {
    asset(CSS, Bytes::from_static(STYLE.as_bytes()))
}
