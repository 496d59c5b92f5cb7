//! The OpenAPI 3.1 contract of everything the server answers right now, at
//! `GET /api/v1/openapi.json`.
//!
//! Core routes are described by the `#[utoipa::path]` on each handler, with
//! the request and response types the handler itself uses, and collected
//! as [`CoreApi`](super::CoreApi) mounts them: a route cannot be served
//! without being in the document. Plugin routes are added per request from
//! the live plugin set, so an install, upgrade, rollback or removal shows
//! at once; each carries its plugin's name and version as a tag. A plugin
//! route the plugin documents (`route-docs`) shows its summary and its
//! request and answer schemas, the schemas' named parts as components
//! `<plugin>.<name>`; any other shows bodies of any content, and says so.
//!
//! The error statuses a route can answer are listed per route with the
//! sets below ([`Authenticated`], [`WithBody`], ...), named after what
//! causes them rather than repeated on every handler.

use super::auth::Caller;
use super::error::ErrorBody;
use crate::domain::route_doc::RouteDoc;
use crate::plugins::PluginSet;
use crate::plugins::routes::RouteEntry;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::Tag;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Required, Schema};
use utoipa::{IntoResponses, Modify};

pub fn mount(api: super::CoreApi) -> super::CoreApi {
    api.route(utoipa_axum::routes!(serve))
}

/// The name of the bearer-token security scheme.
pub const BEARER: &str = "bearer";

/// The document's fixed part: title, authentication, shared schemas, tags.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "KAI-Fusion",
        description = "The REST API of a KAI-Fusion server: the core data API (collections, documents, users, tokens, credentials), the admin API, and the routes of the plugins installed right now. Every route takes `Authorization: Bearer <token>` unless it says otherwise; errors are JSON: `{\"error\": {\"code\", \"message\"}}`."
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "health", description = "Liveness and readiness, without a token"),
        (name = "collections", description = "Collections of documents, per owner"),
        (name = "documents", description = "Documents, versioned; `ETag` and `If-Match` for safe updates"),
        (name = "users", description = "Users and the caller"),
        (name = "tokens", description = "API tokens; a new token is shown once"),
        (name = "credentials", description = "The encrypted credential store; secrets are write-only"),
        (name = "state", description = "The StateManager: threads of checkpoints put by compare-and-swap, pending writes, forks"),
        (name = "workflows", description = "The WorkflowService's definitions: graphs of nodes, checked before each save, every save a new version"),
        (name = "memory", description = "The MemoryManager: conversation sessions, messages in strict order, windows by count or token budget, summaries, retention, message search"),
        (name = "admin", description = "Plugins and routes, for admins"),
        (name = "operations", description = "Metrics and this document"),
    )
)]
pub struct BaseDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`kai_...`): the first admin's is written to the data directory at first start; `POST /api/v1/tokens` makes more.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Error responses with the shared JSON error body.
fn errors(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| (status.to_string(), RefOr::T(error_response(description))))
        .collect()
}

fn error_response(description: &str) -> Response {
    Response::builder()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build()
}

/// Declares a set of error statuses as a type handlers list in `responses`.
macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident: $(($status:literal, $description:literal)),+ $(,)?) => {
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                errors(&[$(($status, $description)),+])
            }
        }
    };
}

error_set!(
    /// A route that takes a token.
    Authenticated:
    (401, "No valid bearer token"),
    (429, "Too many failed authentications from this address; see `Retry-After`"),
);
error_set!(
    /// A route for admins.
    AdminOnly:
    (401, "No valid bearer token"),
    (403, "The token is not an admin's"),
    (429, "Too many failed authentications from this address; see `Retry-After`"),
);
error_set!(
    /// A route whose path or query parameters are checked.
    BadParameters:
    (400, "A path or query parameter is malformed or unknown"),
);
error_set!(
    /// A route that reads a JSON body.
    WithBody:
    (400, "The body is not valid JSON of the expected shape, or a parameter is malformed"),
    (413, "The body is over the configured limit"),
    (415, "The body is not `application/json`"),
    (422, "A field is invalid; `message` names it"),
);
error_set!(
    /// A route that names a resource.
    NotFound:
    (404, "No such resource, or not the caller's"),
);
error_set!(
    /// A route whose change can conflict with the current state.
    Conflict:
    (409, "Conflicts with the current state"),
);
error_set!(
    /// A write that honours `If-Match`.
    Stale:
    (412, "`If-Match` named a version that is no longer current"),
);
error_set!(
    /// `GET /readyz` when not ready.
    NotReady:
    (503, "The database is unreachable or the plugins are still loading"),
);

/// `GET /api/v1/openapi.json`: the contract of every route served now.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "operations", operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document, plugin routes included", content_type = "application/json", body = Object),
        Authenticated,
    )
)]
pub async fn serve(State(state): State<AppState>, _: Caller) -> Json<Value> {
    let set = state.control.plugins.snapshot();
    Json(with_plugins(&state.api_doc, &set))
}

/// The core document with the routes of `set`'s plugins added, their
/// declared schemas included.
pub fn with_plugins(core: &OpenApi, set: &PluginSet) -> Value {
    let mut doc = core.clone();
    let mut tags: BTreeMap<String, Tag> = BTreeMap::new();
    for entry in set.routes.entries() {
        let manifest = &entry.plugin.manifest;
        let tag = plugin_tag(&manifest.name, &manifest.version.to_string());
        tags.entry(tag.clone()).or_insert_with(|| {
            let mut described = Tag::new(&tag);
            described.description = Some(if manifest.description.is_empty() {
                format!("Routes of the plugin `{}`", manifest.name)
            } else {
                manifest.description.clone()
            });
            described
        });
        let path = entry.pattern.openapi_path();
        let item = doc.paths.paths.entry(path).or_default();
        let operation = plugin_operation(entry, tag);
        set_operation(item, &entry.method, operation);
    }
    doc.tags
        .get_or_insert_with(Vec::new)
        .extend(tags.into_values());
    let mut doc = serde_json::to_value(doc).expect("an OpenAPI document serializes");
    add_route_schemas(&mut doc, set);
    doc
}

/// Puts the schemas plugins declare for their routes into `doc` (the
/// typed document has no room for a schema given as JSON).
fn add_route_schemas(doc: &mut Value, set: &PluginSet) {
    let mut components = BTreeMap::new();
    for entry in set.routes.entries() {
        let Some(route_doc) = &entry.doc else {
            continue;
        };
        let plugin = &entry.plugin.manifest.name;
        let operation =
            &mut doc["paths"][entry.pattern.openapi_path()][entry.method.to_ascii_lowercase()];
        if let Some(schema) = &route_doc.request_schema {
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": {
                    "schema": RouteDoc::openapi_schema(schema, plugin, &mut components),
                }},
            });
        }
        if let Some(schema) = &route_doc.response_schema {
            operation["responses"][route_doc.success_status.to_string()] = json!({
                "description": "The plugin's answer on success",
                "content": { "application/json": {
                    "schema": RouteDoc::openapi_schema(schema, plugin, &mut components),
                }},
            });
        }
    }
    if !components.is_empty() {
        let schemas = &mut doc["components"]["schemas"];
        for (name, schema) in components {
            schemas[name] = schema;
        }
    }
}

/// The tag of a plugin's routes: its name and version.
pub fn plugin_tag(name: &str, version: &str) -> String {
    format!("{name} {version}")
}

/// Puts `operation` on `item` under `method`; a method OpenAPI has no field
/// for goes to `additional_operations`.
fn set_operation(item: &mut PathItem, method: &str, operation: Operation) {
    let slot = match method {
        "GET" => &mut item.get,
        "POST" => &mut item.post,
        "PUT" => &mut item.put,
        "PATCH" => &mut item.patch,
        "DELETE" => &mut item.delete,
        "HEAD" => &mut item.head,
        "OPTIONS" => &mut item.options,
        "TRACE" => &mut item.trace,
        other => {
            item.additional_operations
                .insert(other.to_string(), operation);
            return;
        }
    };
    *slot = Some(operation);
}

/// A plugin route: its parameters, a body of any type, the plugin's answer
/// of any status, and the statuses the host itself answers for it.
fn plugin_operation(entry: &RouteEntry, tag: String) -> Operation {
    let manifest = &entry.plugin.manifest;
    let mounted = manifest.mount.is_some();
    let mut operation = Operation::new();
    operation.tags = Some(vec![tag]);
    operation.summary = Some(if mounted {
        format!(
            "{} {} (the wasi:http component `{}`)",
            entry.method, entry.pattern, manifest.name
        )
    } else {
        format!(
            "{} {} (plugin `{}`)",
            entry.method, entry.pattern, manifest.name
        )
    });
    let route_doc = entry.doc.as_deref();
    if let Some(summary) = route_doc.and_then(|d| d.summary.clone()) {
        operation.summary = Some(summary);
    }
    operation.description = Some(match route_doc {
        Some(doc) if doc.request_schema.is_some() || doc.response_schema.is_some() => format!(
            "Answered by the plugin `{}`, with the schemas it declares; answers with other statuses are the plugin's own.",
            manifest.name
        ),
        _ => "Answered by a plugin. Its manifest declares no schema for this route, so the request and response bodies are shown as any content."
            .to_string(),
    });
    operation.operation_id = Some(format!(
        "plugin.{}.{}.{}",
        manifest.name,
        entry.method.to_lowercase(),
        entry.pattern.as_str()
    ));
    // A mounted component's catch-all, the pattern's last parameter.
    let rest = entry
        .pattern
        .has_rest()
        .then(|| entry.pattern.param_names().last())
        .flatten();
    let parameters: Vec<RefOr<Parameter>> = entry
        .pattern
        .param_names()
        .map(|name| {
            let mut parameter = Parameter::new(name);
            parameter.parameter_in = ParameterIn::Path;
            parameter.required = Required::True;
            parameter.schema = Some(RefOr::T(Schema::Object(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .build(),
            )));
            if Some(name) == rest {
                parameter.description =
                    Some("The rest of the path below the mount, one or more segments".into());
            }
            RefOr::T(parameter)
        })
        .collect();
    if !parameters.is_empty() {
        operation.parameters = Some(parameters);
    }
    if matches!(entry.method.as_str(), "POST" | "PUT" | "PATCH") {
        let mut body = RequestBody::new();
        body.content.insert(
            "*/*".to_string(),
            RefOr::T(Content::new(Some(any_schema()))),
        );
        operation.request_body = Some(RefOr::T(body));
    }
    let mut responses = BTreeMap::new();
    responses.insert(
        "default".to_string(),
        RefOr::T(
            Response::builder()
                .description("The plugin's answer")
                .content("*/*", Content::new(Some(any_schema())))
                .build(),
        ),
    );
    let host_answers: &[(u16, &str)] = &[
        (413, "The body is over the plugin's limit"),
        (500, "The plugin failed (a trap, or over its memory)"),
        (
            502,
            "The plugin's answer was invalid or over its size limit",
        ),
        (
            503,
            "The plugin is busy: all its instances are in use and the queue is full",
        ),
        (504, "The plugin did not answer within its time limit"),
    ];
    responses.extend(errors(host_answers));
    if entry.public {
        operation.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
        ]);
    } else {
        responses.extend(Authenticated::responses());
    }
    operation.responses.responses = responses;
    operation
}

fn any_schema() -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        utoipa::openapi::ObjectBuilder::new().build(),
    ))
}
