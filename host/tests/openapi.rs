//! The OpenAPI document at `/api/v1/openapi.json` and the reference page at
//! `/docs`, on the real server: the document lists exactly the routes the
//! server answers, plugin routes included, as plugins are installed,
//! upgraded, rolled back and removed.

mod support;

use kai_test_plugins::wasm;
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;
use support::TestServer;

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// The (METHOD, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(*method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The (METHOD, path) of the route table, with a mounted component's
/// catch-all `{*rest}` written as OpenAPI writes it, `{rest}`.
async fn served(server: &TestServer) -> BTreeSet<(String, String)> {
    let (status, table) = server.admin_get("/api/v1/admin/routes").await;
    assert_eq!(status, 200);
    table["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().replace("{*", "{"),
            )
        })
        .collect()
}

async fn document(server: &TestServer) -> Value {
    let (status, doc) = server.admin_get("/api/v1/openapi.json").await;
    assert_eq!(status, 200, "{doc}");
    doc
}

/// The document matches the route table; returns the document.
async fn same_routes(server: &TestServer, moment: &str) -> Value {
    let doc = document(server).await;
    let documented = documented(&doc);
    let served = served(server).await;
    assert_eq!(
        documented, served,
        "{moment}: the document and the route table differ"
    );
    doc
}

fn tags_of<'a>(doc: &'a Value, method: &str, path: &str) -> Vec<&'a str> {
    doc["paths"][path][method]["tags"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_document_follows_the_plugins_through_install_upgrade_rollback_and_removal() {
    let server = TestServer::start().await;

    let doc = same_routes(&server, "at start").await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/swap/ping"].is_null());

    let (status, _) = server.upload_plugin(wasm("swap-v1"), "").await;
    assert_eq!(status, 201);
    let doc = same_routes(&server, "after install").await;
    assert_eq!(tags_of(&doc, "get", "/api/v1/swap/ping"), ["swap 1.0.0"]);
    let tag = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "swap 1.0.0")
        .expect("the plugin's tag is described");
    assert_eq!(tag["description"], "Answers with its own version");
    // A plugin route without declared schemas: any body, and the statuses
    // the host itself answers for a plugin.
    let ping = &doc["paths"]["/api/v1/swap/ping"]["get"];
    for status in ["default", "401", "429", "413", "500", "502", "503", "504"] {
        assert!(
            ping["responses"][status].is_object(),
            "{status} missing: {ping}"
        );
    }

    let (status, _) = server.upload_plugin(wasm("swap-v2"), "").await;
    assert_eq!(status, 200);
    let doc = same_routes(&server, "after upgrade").await;
    assert_eq!(tags_of(&doc, "get", "/api/v1/swap/ping"), ["swap 2.0.0"]);

    let (status, _, _) = server
        .call(
            Method::POST,
            "/api/v1/admin/plugins/swap/rollback",
            &server.admin_token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let doc = same_routes(&server, "after rollback").await;
    assert_eq!(tags_of(&doc, "get", "/api/v1/swap/ping"), ["swap 1.0.0"]);

    // A mounted wasi:http component: its catch-all is one path parameter.
    let (status, body) = server
        .upload_plugin(wasm("http-app"), "?name=app&mount=/apps/app")
        .await;
    assert_eq!(status, 201, "{body}");
    let doc = same_routes(&server, "after mounting a component").await;
    let rest = &doc["paths"]["/apps/app/{path}"]["post"];
    assert_eq!(rest["parameters"][0]["in"], "path");
    assert!(rest["requestBody"].is_object());

    let (status, _, _) = server
        .call(
            Method::DELETE,
            "/api/v1/admin/plugins/swap",
            &server.admin_token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let doc = same_routes(&server, "after removal").await;
    assert!(doc["paths"]["/api/v1/swap/ping"].is_null());
    assert!(
        !doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"].as_str().unwrap().starts_with("swap ")),
        "the removed plugin's tag is gone"
    );
    server.stop().await;
}

#[tokio::test]
async fn core_routes_are_described_with_their_schemas_statuses_and_authentication() {
    let server = TestServer::start().await;
    let doc = document(&server).await;

    // Bearer authentication everywhere but where a route says otherwise.
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"][0]["bearer"], serde_json::json!([]));
    assert_eq!(
        doc["paths"]["/healthz"]["get"]["security"],
        serde_json::json!([{}])
    );

    // The error shape is one schema, referenced by every error answer.
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]));

    let put = &doc["paths"]["/api/v1/documents/{id}"]["put"];
    for status in [
        "200", "400", "401", "404", "412", "413", "415", "422", "429",
    ] {
        assert!(
            put["responses"][status].is_object(),
            "PUT documents {status}"
        );
    }
    assert_eq!(
        put["responses"]["412"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert_eq!(
        put["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ReplaceBody"
    );
    let admin = &doc["paths"]["/api/v1/admin/routes"]["get"];
    assert!(
        admin["responses"]["403"].is_object(),
        "admin routes answer 403"
    );
    // The answer's schema is the type the handler returns.
    let view = &doc["components"]["schemas"]["DocumentView"]["properties"];
    for field in [
        "id",
        "version",
        "tags",
        "metadata",
        "archived_at",
        "content",
    ] {
        assert!(view[field].is_object(), "DocumentView.{field}");
    }
    // The admin answers are typed too: every field the plugin list
    // answers with is in its schema, and the schema's required fields are
    // all there.
    assert_eq!(
        doc["paths"]["/api/v1/admin/plugins"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/PluginList"
    );
    let (_, list) = server.admin_get("/api/v1/admin/plugins").await;
    let plugin = &list["plugins"][0];
    let schema = &doc["components"]["schemas"]["PluginView"];
    for (field, _) in plugin.as_object().unwrap() {
        assert!(
            schema["properties"][field].is_object(),
            "PluginView.{field}"
        );
    }
    for field in schema["required"].as_array().unwrap() {
        assert!(
            plugin.get(field.as_str().unwrap()).is_some(),
            "{field} missing"
        );
    }
    for (path, schema) in [
        ("/api/v1/admin/plugins/{name}/rollback", "Report"),
        ("/api/v1/admin/plugins/{name}", "PluginDetail"),
    ] {
        let method = if path.ends_with("rollback") {
            "post"
        } else {
            "get"
        };
        assert_eq!(
            doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
                ["$ref"],
            format!("#/components/schemas/{schema}"),
            "{path}"
        );
    }
    // Operation ids are unique.
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for method in METHODS {
            if let Some(id) = item[*method]["operationId"].as_str() {
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn the_document_takes_a_token_and_the_docs_page_needs_no_other_host() {
    let server = TestServer::start().await;
    let response = server
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(response.status(), 401);
    let member = server.user("reader@example.com", false).await;
    let (status, doc, _) = server
        .call(Method::GET, "/api/v1/openapi.json", &member, None)
        .await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/api/v1/collections"].is_object());

    for (path, kind) in [
        ("/docs", "text/html"),
        ("/docs/kai-docs.js", "text/javascript"),
        ("/docs/swagger-ui.css", "text/css"),
        ("/docs/swagger-ui-bundle.js", "text/javascript"),
    ] {
        let response = server.send(Method::GET, path, None, None).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}: {:?}",
            headers["content-type"]
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'self'"), "{path}: {policy}");
        let body = response.text().await.unwrap();
        assert!(!body.is_empty(), "{path}");
        if path == "/docs" {
            for asset in [
                "/docs/swagger-ui-bundle.js",
                "/docs/kai-docs.js",
                "/docs/swagger-ui.css",
            ] {
                assert!(body.contains(asset), "the page loads {asset}");
            }
            assert!(!body.contains("http://") && !body.contains("https://"));
        }
    }
    server.stop().await;
}

/// Every `$ref` in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                found.push(reference.clone());
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn a_plugins_declared_schemas_are_in_the_document_and_its_other_routes_are_generic() {
    let server = support::Setup::new()
        .await
        .plugins_dir(&[("bookmarks.wasm", wasm("bookmarks"))])
        .start()
        .await;
    let doc = same_routes(&server, "with bookmarks").await;

    // Schemas derived from the plugin's types: the request body, the
    // answer under its success status, a named part as a component.
    let create = &doc["paths"]["/api/v1/bookmarks"]["post"];
    assert_eq!(create["summary"], "Saves a bookmark for the caller");
    let request = &create["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(request["properties"]["url"]["type"], "string", "{request}");
    assert_eq!(
        request["properties"]["url"]["description"],
        "The page's address."
    );
    assert!(
        request["required"]
            .as_array()
            .unwrap()
            .contains(&"url".into()),
        "{request}"
    );
    assert!(
        request["properties"]["tags"]
            .to_string()
            .contains("#/components/schemas/bookmarks.Tag"),
        "{request}"
    );
    assert_eq!(request.get("$defs"), None);
    assert_eq!(request.get("$schema"), None);
    assert_eq!(
        doc["components"]["schemas"]["bookmarks.Tag"]["type"], "string",
        "{}",
        doc["components"]["schemas"]
    );
    let created = &create["responses"]["201"]["content"]["application/json"]["schema"];
    assert_eq!(created["properties"]["id"]["type"], "string", "{created}");
    assert!(
        create["responses"]["default"].is_object(),
        "other answers stay the plugin's"
    );
    assert!(create["responses"]["401"].is_object(), "and the host's own");

    // A schema written as JSON.
    let click = &doc["paths"]["/api/v1/bookmarks/{id}/click"]["post"];
    assert_eq!(
        click["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["clicks"]
            ["minimum"],
        1
    );

    // A route without docs: bodies of any content, and a note saying so.
    let stats = &doc["paths"]["/api/v1/bookmarks/stats"]["get"];
    assert!(
        stats["description"]
            .as_str()
            .unwrap()
            .contains("declares no schema"),
        "{stats}"
    );
    assert!(stats["responses"]["default"].is_object());

    // Every reference in the document resolves.
    let mut found = Vec::new();
    references(&doc, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{reference} is not a component"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{reference} does not resolve"
        );
    }

    // The plugin answers as documented.
    let token = server.user("reader@example.com", false).await;
    let (status, body, _) = server
        .call(
            Method::POST,
            "/api/v1/bookmarks",
            &token,
            Some(serde_json::json!({ "url": "https://example.com", "tags": ["a"] })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].is_string(), "{body}");
    server.stop().await;
}
