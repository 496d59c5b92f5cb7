//! Bad input, route by route: each case gets the status and error code it
//! should, as JSON, and changes nothing (every table's rows and the
//! resources it aimed at are the same afterwards). The number of cases is
//! the one `docs/SECURITY.md` states.

mod support;

use serde_json::{Value, json};
use support::{M, Setup, TestServer, wasm};

/// One bad request: method, path (`{collection}`, `{document}`,
/// `{credential}`, `{user}` and `{token}` stand for real ids), content
/// type, body, and the status and code it must get.
struct Case {
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn json_case(
    method: &'static str,
    path: &'static str,
    body: Value,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        method,
        path,
        content_type: "application/json",
        body: body.to_string().into_bytes(),
        status,
        code,
    }
}

fn raw_case(
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: &[u8],
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        method,
        path,
        content_type,
        body: body.to_vec(),
        status,
        code,
    }
}

fn get(path: &'static str, status: u16, code: &'static str) -> Case {
    raw_case("GET", path, "application/json", b"", status, code)
}

const V: &str = "validation_failed";
const B: &str = "bad_request";

fn cases() -> Vec<Case> {
    let long = "x".repeat(300);
    let mut cases = vec![
        // Bodies that are not JSON, or not of a JSON media type.
        raw_case(
            "POST",
            "/api/v1/collections",
            "application/json",
            b"{",
            400,
            B,
        ),
        raw_case(
            "POST",
            "/api/v1/collections",
            "application/json",
            b"",
            400,
            B,
        ),
        raw_case(
            "POST",
            "/api/v1/collections",
            "application/json",
            b"{} {}",
            400,
            B,
        ),
        raw_case(
            "POST",
            "/api/v1/collections",
            "application/json",
            b"\xff\xfe",
            400,
            B,
        ),
        raw_case(
            "POST",
            "/api/v1/collections",
            "text/plain",
            b"{\"name\":\"x\"}",
            415,
            "unsupported_media_type",
        ),
        raw_case(
            "POST",
            "/api/v1/collections",
            "application/jsonXYZ",
            b"{\"name\":\"x\"}",
            415,
            "unsupported_media_type",
        ),
        raw_case(
            "POST",
            "/api/v1/collections",
            "",
            b"{\"name\":\"x\"}",
            415,
            "unsupported_media_type",
        ),
        raw_case(
            "POST",
            "/api/v1/collections/{collection}/documents",
            "text/html",
            b"{}",
            415,
            "unsupported_media_type",
        ),
        // Collections: wrong, missing and unknown fields.
        json_case("POST", "/api/v1/collections", json!({}), 422, V),
        json_case("POST", "/api/v1/collections", json!({ "name": "" }), 422, V),
        json_case("POST", "/api/v1/collections", json!({ "name": 5 }), 422, V),
        json_case(
            "POST",
            "/api/v1/collections",
            json!({ "name": "n\u{0}ul" }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections",
            json!({ "name": long }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections",
            json!({ "name": "x", "owner": "me" }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections",
            json!({ "name": "x", "metadata": [1] }),
            422,
            V,
        ),
        json_case("POST", "/api/v1/collections", json!(["name"]), 422, V),
        // A struct's fields given as an array: serde takes that form, the
        // API does not.
        json_case("PATCH", "/api/v1/users/{user}", json!([null, null]), 422, V),
        json_case("POST", "/api/v1/tokens", json!(["t", null, null]), 422, V),
        json_case(
            "PATCH",
            "/api/v1/collections/{collection}",
            json!({ "name": null, "x": 1 }),
            422,
            V,
        ),
        json_case(
            "PATCH",
            "/api/v1/collections/{collection}",
            json!({ "description": 7 }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections",
            json!({ "name": "existing's collection" }),
            409,
            "conflict",
        ),
        // Documents.
        json_case(
            "POST",
            "/api/v1/collections/{collection}/documents",
            json!({}),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections/{collection}/documents",
            json!({ "title": "" }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections/{collection}/documents",
            json!({ "title": "t", "format": "docx" }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections/{collection}/documents",
            json!({ "title": "t", "tags": "a" }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections/{collection}/documents",
            json!({ "title": "t", "tags": [""] }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections/{collection}/documents",
            json!({ "title": "t", "format": "json", "content": "{" }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections/{collection}/documents:bulk",
            json!({ "documents": [] }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/collections/{collection}/documents:bulk",
            json!({ "documents": [{ "title": "ok" }, { "title": "" }] }),
            422,
            V,
        ),
        json_case(
            "PATCH",
            "/api/v1/documents/{document}",
            json!({ "title": 1 }),
            422,
            V,
        ),
        json_case(
            "PATCH",
            "/api/v1/documents/{document}",
            json!({ "version": 9 }),
            422,
            V,
        ),
        json_case(
            "PUT",
            "/api/v1/documents/{document}",
            json!({ "content": "no title" }),
            422,
            V,
        ),
        // Path parameters.
        get("/api/v1/collections/not-a-uuid", 400, B),
        get(
            "/api/v1/collections/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
            400,
            B,
        ),
        get("/api/v1/documents/1", 400, B),
        get("/api/v1/users/%00", 400, B),
        get("/api/v1/credentials/'%20OR%201=1--", 400, B),
        raw_case(
            "DELETE",
            "/api/v1/tokens/not-a-token",
            "application/json",
            b"",
            400,
            B,
        ),
        get("/api/v1/admin/plugins/Hello", 400, B),
        get("/api/v1/admin/plugins/hello%00", 400, B),
        get(
            "/api/v1/documents/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/versions",
            400,
            B,
        ),
        get(
            "/api/v1/collections/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/analytics",
            400,
            B,
        ),
        // Query parameters.
        get("/api/v1/collections?limit=abc", 400, B),
        get("/api/v1/collections?limit=0", 400, B),
        get("/api/v1/collections?limit=100000", 400, B),
        get("/api/v1/collections?nope=1", 400, B),
        get("/api/v1/collections?limit=1&limit=2", 400, B),
        get("/api/v1/collections?cursor=garbage", 400, "invalid_cursor"),
        get(
            "/api/v1/collections/{collection}/documents?sort=sideways",
            400,
            B,
        ),
        get(
            "/api/v1/collections/{collection}/documents?created_after=yesterday",
            400,
            B,
        ),
        get(
            "/api/v1/collections/{collection}/documents?format=docx",
            400,
            B,
        ),
        get(
            "/api/v1/collections/{collection}/documents?include=everything",
            400,
            B,
        ),
        get("/api/v1/documents/{document}/versions?limit=0", 400, B),
        get("/api/v1/documents/{document}/versions/0", 400, B),
        get(
            "/api/v1/collections/{collection}/analytics?from=2020-02-31",
            422,
            V,
        ),
        get(
            "/api/v1/collections/{collection}/analytics?from=9223372036854775807-01-01",
            422,
            V,
        ),
        get(
            "/api/v1/collections/{collection}/analytics?from=2026-02-01&to=2026-01-01",
            422,
            V,
        ),
        get("/api/v1/tokens?user_id=not-a-uuid", 400, B),
        // Users and tokens.
        json_case(
            "POST",
            "/api/v1/users",
            json!({ "email": "not an email" }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/users",
            json!({ "email": "a@b.c", "role": "root" }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/users",
            json!({ "email": "admin@localhost" }),
            409,
            "conflict",
        ),
        json_case(
            "PATCH",
            "/api/v1/users/{user}",
            json!({ "disabled": "yes" }),
            422,
            V,
        ),
        json_case("POST", "/api/v1/tokens", json!({ "name": "" }), 422, V),
        json_case(
            "POST",
            "/api/v1/tokens",
            json!({ "name": "t", "expires_in_days": 0 }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/tokens",
            json!({ "name": "t", "expires_in_days": -1 }),
            422,
            V,
        ),
        // Credentials.
        json_case(
            "POST",
            "/api/v1/credentials",
            json!({ "name": "c", "service_type": "t" }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/credentials",
            json!({ "name": "c", "service_type": "t", "secret": "plain" }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/credentials",
            json!({ "name": "bad name", "service_type": "t", "secret": {} }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/credentials",
            json!({ "name": "c", "service_type": "t", "secret": {}, "allowed_plugins": ["Not A Plugin"] }),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/credentials",
            json!({ "name": "existing", "service_type": "t", "secret": {} }),
            409,
            "conflict",
        ),
        json_case(
            "PATCH",
            "/api/v1/credentials/{credential}",
            json!({ "secret": [1] }),
            422,
            V,
        ),
        // Preconditions.
        json_case(
            "PATCH",
            "/api/v1/documents/{document}",
            json!({ "title": "stale" }),
            412,
            "precondition_failed",
        ),
        // Plugins.
        raw_case(
            "POST",
            "/api/v1/admin/plugins",
            "application/wasm",
            b"not wasm",
            422,
            "invalid_plugin",
        ),
        raw_case(
            "POST",
            "/api/v1/admin/plugins",
            "application/json",
            b"{}",
            415,
            "unsupported_media_type",
        ),
        raw_case(
            "POST",
            "/api/v1/admin/plugins?force=maybe",
            "application/wasm",
            b"\0asm",
            400,
            B,
        ),
        json_case(
            "POST",
            "/api/v1/admin/plugins/hello/grants",
            json!({ "grant": { "nonsense": true } }),
            422,
            V,
        ),
        json_case(
            "PUT",
            "/api/v1/collections/{collection}/version-retention",
            json!({ "keep": 0 }),
            422,
            V,
        ),
        json_case(
            "PUT",
            "/api/v1/collections/{collection}/version-retention",
            json!({}),
            422,
            V,
        ),
        json_case(
            "POST",
            "/api/v1/documents/{document}/versions/99/restore",
            json!({}),
            404,
            "not_found",
        ),
        // Methods a route does not have.
        raw_case(
            "DELETE",
            "/api/v1/collections",
            "application/json",
            b"",
            405,
            "method_not_allowed",
        ),
        raw_case(
            "PUT",
            "/api/v1/documents/{document}/versions",
            "application/json",
            b"",
            405,
            "method_not_allowed",
        ),
    ];
    // Oversized: a body over the configured limit, on a core and a plugin
    // route.
    let big = json!({ "name": "x".repeat(70 * 1024) })
        .to_string()
        .into_bytes();
    cases.push(Case {
        body: big.clone(),
        ..json_case(
            "POST",
            "/api/v1/collections",
            json!({}),
            413,
            "payload_too_large",
        )
    });
    cases.push(Case {
        body: big,
        ..json_case(
            "PUT",
            "/api/v1/collections/{collection}/version-retention",
            json!({}),
            413,
            "payload_too_large",
        )
    });
    cases
}

/// Rows in every table the API writes to, and the resources the cases aim
/// at: what must not change.
async fn state_of(server: &TestServer, ids: &Ids) -> Value {
    use sqlx::Row;
    let mut counts = serde_json::Map::new();
    for table in [
        "collections",
        "documents",
        "credentials",
        "users",
        "api_tokens",
        "plugins",
        "plugin_grants",
        "plg_doc_versioning_document_version",
    ] {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(server.state.db.reader())
            .await
            .unwrap()
            .get(0);
        counts.insert(table.into(), n.into());
    }
    let admin = server.admin_token.clone();
    let mut resources = Vec::new();
    for path in [
        format!("/api/v1/collections/{}", ids.collection),
        format!("/api/v1/documents/{}", ids.document),
        format!("/api/v1/credentials/{}", ids.credential),
        format!("/api/v1/users/{}", ids.user),
        format!("/api/v1/collections/{}/version-retention", ids.collection),
    ] {
        let (_, body, _) = server.call(M::GET, &path, &admin, None).await;
        resources.push(body);
    }
    json!({ "counts": counts, "resources": resources })
}

struct Ids {
    collection: String,
    document: String,
    credential: String,
    user: String,
    token: String,
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let server = Setup::new()
        .await
        .configure(|c| c.max_body_bytes = 64 * 1024)
        .plugins_dir(&[("tx-hook.wasm", wasm("tx-hook"))])
        .start()
        .await;
    let admin = server.admin_token.clone();
    let (collection, document) = server.collection_with_document(&admin, "existing").await;
    let credential = server
        .call_expecting(
            M::POST,
            "/api/v1/credentials",
            &admin,
            Some(json!({ "name": "existing", "service_type": "t", "secret": { "k": "v" } })),
            201,
        )
        .await;
    let member = server
        .call_expecting(
            M::POST,
            "/api/v1/users",
            &admin,
            Some(json!({ "email": "m@example.com" })),
            201,
        )
        .await;
    let token = server
        .call_expecting(
            M::POST,
            "/api/v1/tokens",
            &admin,
            Some(json!({ "name": "spare" })),
            201,
        )
        .await;
    let ids = Ids {
        collection,
        document,
        credential: credential["id"].as_str().unwrap().into(),
        user: member["id"].as_str().unwrap().into(),
        token: token["id"].as_str().unwrap().into(),
    };
    let before = state_of(&server, &ids).await;

    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let path = case
            .path
            .replace("{collection}", &ids.collection)
            .replace("{document}", &ids.document)
            .replace("{credential}", &ids.credential)
            .replace("{user}", &ids.user)
            .replace("{token}", &ids.token);
        let mut request = server
            .client
            .request(case.method.parse().unwrap(), server.url(&path))
            .bearer_auth(&admin)
            .body(case.body.clone());
        if !case.content_type.is_empty() {
            request = request.header("content-type", case.content_type);
        }
        if case.status == 412 {
            request = request.header("if-match", "\"99\"");
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("(not JSON)");
        let message = body["error"]["message"].as_str().unwrap_or("");
        if status != case.status || code != case.code || message.is_empty() {
            failures.push(format!(
                "{} {}: expected {} {}, got {status} {code}: {message}",
                case.method, case.path, case.status, case.code
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        state_of(&server, &ids).await,
        before,
        "bad input changed something"
    );
    support::assert_documented_count("Bad inputs", cases.len());
    server.stop().await;
}
