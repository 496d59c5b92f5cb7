//! Plugins reach data only through WIT, with the same rules as REST: their
//! own real tables, granted exports of others, a private kv, and the core
//! models as the caller. Writes of one request commit together or not at
//! all.

mod support;

use serde_json::{Value, json};
use support::{M, Setup, TestServer, wasm};

async fn server() -> TestServer {
    Setup::new()
        .await
        .plugins_dir(&[
            ("data-probe.wasm", wasm("data-probe")),
            ("outbox-hook.wasm", wasm("outbox-hook")),
        ])
        .start()
        .await
}

async fn notes(server: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let path = format!("/api/v1/data-probe/notes{query}");
    let body = server.call_expecting(M::GET, &path, token, None, 200).await;
    body["items"].as_array().unwrap().clone()
}

/// Creates one note per JSON body; returns their ids.
async fn add_notes(server: &TestServer, token: &str, rows: &[Value]) -> Vec<String> {
    let mut ids = Vec::new();
    for row in rows {
        let path = "/api/v1/data-probe/notes";
        let body = server
            .call_expecting(M::POST, path, token, Some(row.clone()), 201)
            .await;
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    ids
}

#[tokio::test]
async fn a_plugin_model_is_a_real_table_with_indexes() {
    let server = server().await;
    let token = server.admin_token.clone();
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/data-probe/notes",
            &token,
            Some(json!({ "title": "b", "score": 2.5, "tag": "x" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();

    // The row is in plg_data_probe_note, with the declared defaults.
    let row =
        sqlx::query("SELECT title, body, pinned, score FROM plg_data_probe_note WHERE id = $1")
            .bind(&id)
            .fetch_one(server.state.db.reader())
            .await
            .unwrap();
    use sqlx::Row;
    assert_eq!(row.get::<String, _>(0), "b");
    assert_eq!(row.get::<String, _>(1), "");
    assert_eq!(row.get::<i32, _>(2), 0);
    assert_eq!(row.get::<f64, _>(3), 2.5);

    // Real indexes exist for indexed, unique and composite fields.
    let index_query = match server.state.db.backend() {
        kai_host::store::Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'plg_data_probe_note' AND sql IS NOT NULL"
        }
        kai_host::store::Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'plg_data_probe_note' AND indexname <> 'plg_data_probe_note_pkey'"
        }
    };
    let indexes: i64 = sqlx::query(index_query)
        .fetch_one(server.state.db.reader())
        .await
        .unwrap()
        .get(0);
    // title, slug (unique), doc_id (reference), (tag, happened_at).
    assert_eq!(indexes, 4);
    server.stop().await;
}

#[tokio::test]
async fn persistence_crud_filters_and_aggregates() {
    let server = server().await;
    let token = server.admin_token.clone();
    let day = 86_400_000_000i64;
    let jan_5 = 1_767_571_200_000_000i64; // 2026-01-05T00:00:00Z
    let rows = [
        json!({ "title": "alpha", "tag": "red", "score": 1.0, "pinned": true, "happened_at": jan_5 + 3_600_000_000 }),
        json!({ "title": "bravo", "tag": "red", "score": 3.0, "happened_at": jan_5 + 7_200_000_000 }),
        json!({ "title": "charlie", "tag": "blue", "score": 5.0, "happened_at": jan_5 + day }),
        json!({ "title": "delta", "tag": "blue", "happened_at": jan_5 + 40 * day }),
        json!({ "title": "echo" }),
    ];
    let ids = add_notes(&server, &token, &rows).await;

    let all = notes(&server, &token, "").await;
    let titles: Vec<&str> = all.iter().map(|n| n["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["alpha", "bravo", "charlie", "delta", "echo"]);
    assert_eq!(notes(&server, &token, "?tag=red").await.len(), 2);
    assert_eq!(notes(&server, &token, "?pinned=true").await.len(), 1);

    // Cursor pagination over the plugin's own model.
    let (_, page, _) = server
        .call(M::GET, "/api/v1/data-probe/notes?limit=2", &token, None)
        .await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, page2, _) = server
        .call(
            M::GET,
            &format!("/api/v1/data-probe/notes?limit=2&cursor={cursor}"),
            &token,
            None,
        )
        .await;
    assert_eq!(page2["items"][0]["title"], "charlie");

    // Update, get, delete.
    let (status, _, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/data-probe/notes/{}", ids[4]),
            &token,
            Some(json!({ "tag": "red", "score": 2.0 })),
        )
        .await;
    assert_eq!(status, 204);
    let (_, echo, _) = server
        .call(
            M::GET,
            &format!("/api/v1/data-probe/notes/{}", ids[4]),
            &token,
            None,
        )
        .await;
    assert_eq!(
        (echo["tag"].as_str(), echo["score"].as_f64()),
        (Some("red"), Some(2.0))
    );
    let (_, body, _) = server
        .call(
            M::DELETE,
            &format!("/api/v1/data-probe/notes/{}", ids[3]),
            &token,
            None,
        )
        .await;
    assert_eq!(body["deleted"], true);

    // Aggregates, computed in SQL, against numbers computed here.
    let (status, stats, _) = server
        .call(M::GET, "/api/v1/data-probe/stats", &token, None)
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["total"], 4);
    let groups = stats["groups"].as_array().unwrap();
    let group = |tag: &str| groups.iter().find(|g| g["tag"] == tag).unwrap().clone();
    assert_eq!(group("red")["count"], 3);
    assert_eq!(group("red")["sum_score"], 6.0);
    assert_eq!(group("red")["avg_score"], 2.0);
    assert_eq!(group("red")["max_title"], "echo");
    assert_eq!(group("blue")["count"], 1);
    // Timestamps in a plugin's JSON are RFC 3339, as in core answers.
    assert_eq!(
        stats["per_day"],
        json!([
            ["2026-01-05T00:00:00.000000Z", 2],
            ["2026-01-06T00:00:00.000000Z", 1]
        ])
    );
    assert_eq!(
        stats["per_month"],
        json!([["2026-01-01T00:00:00.000000Z", 3]])
    );

    // A unique field refuses a duplicate with a conflict.
    let (status, _, _) = server
        .call(
            M::POST,
            "/api/v1/data-probe/notes",
            &token,
            Some(json!({ "title": "s1", "slug": "same" })),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/data-probe/notes",
            &token,
            Some(json!({ "title": "s2", "slug": "same" })),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    // Type errors and missing required fields name the field.
    let query =
        json!({ "model": "note", "filter": { "field": "score", "op": "eq", "values": ["high"] } });
    let (status, body, _) = server
        .call(M::POST, "/api/v1/data-probe/query", &token, Some(query))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`score` is a float field"),
        "{body}"
    );
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/data-probe/notes",
            &token,
            Some(json!({ "body": "untitled" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`title`"),
        "{body}"
    );
    server.stop().await;
}

/// Pages through the fixture's `query` route until the end.
async fn query_all(server: &TestServer, token: &str, mut query: Value) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    loop {
        let path = "/api/v1/data-probe/query";
        let body = server
            .call_expecting(M::POST, path, token, Some(query.clone()), 200)
            .await;
        pages.push(body["items"].as_array().unwrap().clone());
        match body["next_cursor"].as_str() {
            Some(cursor) => query["cursor"] = json!(cursor),
            None => return pages,
        }
    }
}

/// A select of chosen fields is the select of every field with a
/// projection: for every filter, order and page size, the same rows, pages
/// and null placement, only the asked fields (an order key that is not
/// asked for drives the cursor unseen).
#[tokio::test]
async fn a_column_select_pages_like_a_select_and_returns_only_the_asked_fields() {
    let server = server().await;
    column_selects_agree(&server, false).await;
    server.stop().await;
}

/// The same for this fixture as built against kai:fusion 0.1.3, served
/// through the host's 0.1.x adapter: its three reads (`query` by row,
/// `query-columns`, `query-packed-columns`) answer alike, and as 0.2.0's.
#[tokio::test]
async fn a_plugin_built_against_0_1_3_reads_the_same_pages_through_all_three_reads() {
    let prebuilt = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/prebuilt/data-probe-api-0.1.3.wasm"
    );
    let server = Setup::new()
        .await
        .plugins_dir(&[("data-probe.wasm", std::fs::read(prebuilt).unwrap())])
        .start()
        .await;
    let (_, listing) = server.admin_get("/api/v1/admin/plugins").await;
    let plugins = listing["plugins"].as_array().unwrap();
    let probe = plugins.iter().find(|p| p["name"] == "data-probe");
    assert_eq!(
        probe.map(|p| &p["host_api"]),
        Some(&json!("^0.1.3")),
        "{listing}"
    );
    column_selects_agree(&server, true).await;
    server.stop().await;
}

/// The column-select cases; `legacy` also reads every page through
/// 0.1.x's `query-columns` (a plugin built against 0.1.3 reads the others
/// through `query` and `query-packed-columns`).
async fn column_selects_agree(server: &TestServer, legacy: bool) {
    let token = server.admin_token.clone();
    let (_, doc) = server
        .collection_with_document(&token, "probe target")
        .await;
    let rows = [
        json!({ "title": "alpha", "body": "first", "tag": "red", "score": 1.5, "pinned": true, "happened_at": 1_000 }),
        json!({ "title": "bravo", "tag": "red", "doc_id": doc }),
        json!({ "title": "charlie", "body": "é ü 世界", "score": -3.0, "happened_at": 3_000 }),
        json!({ "title": "delta", "tag": "blue", "pinned": true, "slug": "d" }),
        json!({ "title": "echo", "body": "", "score": 0.0 }),
        json!({ "title": "foxtrot", "tag": "blue", "happened_at": 6_000, "doc_id": doc }),
        json!({ "title": "golf" }),
    ];
    add_notes(server, &token, &rows).await;
    let fields = json!([
        "tag",
        "score",
        "title",
        "happened_at",
        "pinned",
        "doc_id",
        "body"
    ]);
    let cases = [
        json!({ "limit": 3 }),
        json!({ "limit": 2, "order": ["-title"] }),
        json!({ "limit": 1, "order": ["body", "title"] }),
        json!({ "limit": 100, "filter": { "field": "tag", "op": "eq", "values": ["red"] } }),
        json!({ "limit": 2, "filter": { "field": "score", "op": "is-null", "values": [] }, "order": ["title"] }),
    ];
    for case in cases {
        let whole = query_all(server, &token, case.clone()).await;
        let mut asked = case.clone();
        asked["fields"] = fields.clone();
        let by_column = query_all(server, &token, asked.clone()).await;
        if legacy {
            asked["via"] = json!("query-columns");
            assert_eq!(
                query_all(server, &token, asked).await,
                by_column,
                "{case}: query-columns"
            );
        }
        let sizes = |pages: &[Vec<Value>]| pages.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(sizes(&whole), sizes(&by_column), "{case}: page sizes");
        for (full, columns) in whole.iter().flatten().zip(by_column.iter().flatten()) {
            let mut projected = serde_json::Map::new();
            projected.insert("id".into(), full["id"].clone());
            for field in fields.as_array().unwrap() {
                let field = field.as_str().unwrap();
                projected.insert(field.into(), full[field].clone());
            }
            assert_eq!(columns, &Value::Object(projected), "{case}");
        }
        // Every field, exactly as `query` returns them.
        let mut everything = case.clone();
        everything["fields"] = json!("*");
        assert_eq!(
            query_all(server, &token, everything.clone()).await,
            whole,
            "{case}"
        );
        if legacy {
            everything["via"] = json!("query-columns");
            assert_eq!(
                query_all(server, &token, everything).await,
                whole,
                "{case}: query-columns"
            );
        }
        // No field: the ids alone, in the same pages.
        let mut ids_only = case.clone();
        ids_only["fields"] = json!([]);
        let ids: Vec<Vec<Value>> = whole
            .iter()
            .map(|page| {
                page.iter()
                    .map(|item| json!({ "id": item["id"] }))
                    .collect()
            })
            .collect();
        assert_eq!(query_all(server, &token, ids_only).await, ids, "{case}");
    }

    // Ordered by a field that is not returned: the cursor still works, and
    // the order key does not leak into the items.
    let pages = query_all(
        server,
        &token,
        json!({ "limit": 3, "order": ["-title"], "fields": ["score"] }),
    )
    .await;
    assert_eq!(pages.len(), 3);
    let items: Vec<&Value> = pages.iter().flatten().collect();
    assert_eq!(items.len(), rows.len());
    assert!(
        items
            .iter()
            .all(|item| item.as_object().unwrap().len() == 2),
        "{items:?}"
    );
    let scores: Vec<&Value> = items.iter().map(|item| &item["score"]).collect();
    assert_eq!(
        scores,
        [
            &json!(null),
            &json!(null),
            &json!(0.0),
            &json!(null),
            &json!(-3.0),
            &json!(null),
            &json!(1.5)
        ]
    );

    // Bad field lists name the problem.
    for (fields, message) in [
        (json!(["title", "nope"]), "has no field `nope`"),
        (json!(["title", "title"]), "field `title` is listed twice"),
        (json!(["id", "title"]), "`id` is always returned"),
    ] {
        let query = Some(json!({ "fields": fields }));
        let path = "/api/v1/data-probe/query";
        let body = server
            .call_expecting(M::POST, path, &token, query, 422)
            .await;
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{text}");
    }
}

#[tokio::test]
async fn a_trap_or_an_error_answer_rolls_back_the_request() {
    let server = server().await;
    let token = server.admin_token.clone();
    let (status, _, _) = server
        .call(M::POST, "/api/v1/data-probe/write-then-trap", &token, None)
        .await;
    assert_eq!(status, 500);
    let (status, _, _) = server
        .call(M::POST, "/api/v1/data-probe/write-then-fail", &token, None)
        .await;
    assert_eq!(status, 500);
    assert!(
        notes(&server, &token, "").await.is_empty(),
        "no half-written rows"
    );
    server.stop().await;
}

/// Reads are served from memory where that is exact (SQLite): each of
/// these reads must still see exactly what was committed.
#[tokio::test]
async fn kv_reads_see_every_commit_and_no_rollback() {
    let server = server().await;
    let token = server.admin_token.clone();
    let put = |query: &'static str, body: &'static str| {
        let (server, token) = (&server, &token);
        async move {
            let response = server
                .client
                .put(server.url(&format!("/api/v1/data-probe/kv/k{query}")))
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let get = || async {
        let response = server
            .client
            .get(server.url("/api/v1/data-probe/kv/k"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    // Absent, read twice (the second read is the remembered absence).
    assert_eq!(get().await.0, 404);
    assert_eq!(get().await.0, 404);
    assert_eq!(put("", "one").await.0, 204);
    assert_eq!(get().await, (200, "one".into()));
    assert_eq!(get().await, (200, "one".into()));
    // A request that writes and then fails changes nothing.
    assert_eq!(put("?then_fail=1", "rolled back").await.0, 500);
    assert_eq!(get().await, (200, "one".into()));
    // A request reads its own write, before it commits.
    assert_eq!(put("?read_back=1", "two").await.1, "two");
    assert_eq!(get().await, (200, "two".into()));
    let (status, _, _) = server
        .call(M::DELETE, "/api/v1/data-probe/kv/k", &token, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(get().await.0, 404);
    // An entry read while alive still expires on time.
    assert_eq!(put("?ttl_ms=1500", "brief").await.0, 204);
    assert_eq!(get().await, (200, "brief".into()));
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    assert_eq!(get().await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn kv_is_private_expires_and_lists_by_prefix() {
    let server = server().await;
    let token = server.admin_token.clone();
    for key in ["app:a", "app:b", "other"] {
        let response = server
            .client
            .put(server.url(&format!("/api/v1/data-probe/kv/{key}")))
            .bearer_auth(&token)
            .body(format!("value of {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    let response = server
        .client
        .get(server.url("/api/v1/data-probe/kv/app:a"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "value of app:a");
    let (_, body, _) = server
        .call(M::GET, "/api/v1/data-probe/kv?prefix=app:", &token, None)
        .await;
    assert_eq!(body["keys"], json!(["app:a", "app:b"]));
    let (_, body, _) = server
        .call(
            M::GET,
            "/api/v1/data-probe/kv?prefix=app:&after=app:a",
            &token,
            None,
        )
        .await;
    assert_eq!(body["keys"], json!(["app:b"]));
    let (_, body, _) = server
        .call(M::DELETE, "/api/v1/data-probe/kv/app:a", &token, None)
        .await;
    assert_eq!(body["existed"], true);
    let (status, _, _) = server
        .call(M::GET, "/api/v1/data-probe/kv/app:a", &token, None)
        .await;
    assert_eq!(status, 404);

    // A key with a 1 ms TTL is gone shortly after.
    server
        .client
        .put(server.url("/api/v1/data-probe/kv/short?ttl_ms=1"))
        .bearer_auth(&token)
        .body("brief")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (status, _, _) = server
        .call(M::GET, "/api/v1/data-probe/kv/short", &token, None)
        .await;
    assert_eq!(status, 404);

    // The outbox-hook fixture did not ask for kv: no access at all.
    let rows: i64 = {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) FROM plugin_kv WHERE plugin = 'outbox-hook'")
            .fetch_one(server.state.db.reader())
            .await
            .unwrap()
            .get(0)
    };
    assert_eq!(rows, 0);
    server.stop().await;
}

#[tokio::test]
async fn another_plugins_model_is_readable_only_when_exported_and_granted() {
    let server = server().await;
    let token = server.admin_token.clone();
    server
        .call(
            M::POST,
            "/api/v1/data-probe/shared",
            &token,
            Some(json!({ "text": "hello" })),
        )
        .await;
    server
        .call(
            M::POST,
            "/api/v1/data-probe/notes",
            &token,
            Some(json!({ "title": "private" })),
        )
        .await;

    // Exported and granted: readable.
    let (status, body, _) = server
        .call(
            M::GET,
            "/api/v1/outbox-hook/peek/data-probe/shared_note",
            &token,
            None,
        )
        .await;
    assert_eq!((status, body["rows"].as_i64()), (200, Some(1)), "{body}");
    // Requested but not exported: denied.
    let (status, body, _) = server
        .call(
            M::GET,
            "/api/v1/outbox-hook/peek/data-probe/note",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an exported model")
    );
    // Not requested at all: denied.
    let (status, body, _) = server
        .call(
            M::GET,
            "/api/v1/outbox-hook/peek/tx-hook/change",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not granted")
    );

    // Read-only: data-probe's query route against its own model works, but
    // writing another plugin's model is impossible (names resolve to the
    // caller's own tables or to read-only exports).
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/data-probe/query",
            &token,
            Some(json!({ "model": "outbox-hook/delivery" })),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn plugins_see_core_models_as_their_caller() {
    let server = server().await;
    let alice = server.user("alice@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let (collection, doc) = server.collection_with_document(&alice, "alice's").await;

    let (status, body, _) = server
        .call(
            M::GET,
            &format!("/api/v1/data-probe/documents/{doc}"),
            &alice,
            None,
        )
        .await;
    assert_eq!((status, body["title"].as_str()), (200, Some("alice's")));
    // Bob, through the same plugin, cannot read or write it.
    let (status, _, _) = server
        .call(
            M::GET,
            &format!("/api/v1/data-probe/documents/{doc}"),
            &bob,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = server
        .call(
            M::POST,
            &format!("/api/v1/data-probe/documents/{doc}/retitle"),
            &bob,
            Some(json!({ "title": "bob was here" })),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = server
        .call(
            M::POST,
            &format!("/api/v1/data-probe/collections/{collection}/documents"),
            &bob,
            Some(json!({ "title": "planted" })),
        )
        .await;
    assert_eq!(status, 404);
    let (_, count, _) = server
        .call(M::GET, "/api/v1/data-probe/documents-count", &bob, None)
        .await;
    assert_eq!(count["count"], 0, "aggregates are scoped to the caller too");
    let (_, count, _) = server
        .call(M::GET, "/api/v1/data-probe/documents-count", &alice, None)
        .await;
    assert_eq!(count["count"], 1);

    // Alice, through the plugin, with If-Match semantics.
    let (status, body, _) = server
        .call(
            M::POST,
            &format!("/api/v1/data-probe/documents/{doc}/retitle"),
            &alice,
            Some(json!({ "title": "renamed", "expected_version": 7 })),
        )
        .await;
    assert_eq!(
        status, 409,
        "a stale expected version is a conflict: {body}"
    );
    let (status, body, _) = server
        .call(
            M::POST,
            &format!("/api/v1/data-probe/documents/{doc}/retitle"),
            &alice,
            Some(json!({ "title": "renamed", "expected_version": 1 })),
        )
        .await;
    assert_eq!((status, body["version"].as_i64()), (200, Some(2)), "{body}");

    // A models write followed by a trap is rolled back.
    let (status, _, _) = server
        .call(
            M::POST,
            &format!("/api/v1/data-probe/documents/{doc}/retitle-then-trap"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, 500);
    let (_, current, _) = server
        .call(M::GET, &format!("/api/v1/documents/{doc}"), &alice, None)
        .await;
    assert_eq!(
        (current["title"].as_str(), current["version"].as_i64()),
        (Some("renamed"), Some(2))
    );

    // Public callers have no principal: core models are refused.
    let (status, _, _) = server
        .call(
            M::GET,
            "/api/v1/data-probe/documents-count",
            "kai_wrong",
            None,
        )
        .await;
    assert_eq!(status, 401);
    server.stop().await;
}

#[tokio::test]
async fn every_models_call_works_through_a_plugin_as_the_caller() {
    let server = server().await;
    let alice = server.user("alice@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;

    // Collections: create, rename, list, delete, all as Alice.
    let (status, created, _) = server
        .call(
            M::POST,
            "/api/v1/data-probe/collections",
            &alice,
            Some(json!({ "name": "via plugin" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, body, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/data-probe/collections/{id}"),
            &alice,
            Some(json!({ "name": "renamed" })),
        )
        .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("renamed")));
    let (_, body, _) = server
        .call(M::GET, "/api/v1/data-probe/collections", &alice, None)
        .await;
    assert_eq!(body["names"], json!(["renamed"]));
    let (_, body, _) = server
        .call(M::GET, "/api/v1/data-probe/collections", &bob, None)
        .await;
    assert_eq!(body["names"], json!([]));
    let (status, _, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/data-probe/collections/{id}"),
            &bob,
            Some(json!({ "name": "stolen" })),
        )
        .await;
    assert_eq!(status, 404);

    // Documents: create, query in order, delete.
    for title in ["b", "a", "c"] {
        let (status, _, _) = server
            .call(
                M::POST,
                &format!("/api/v1/data-probe/collections/{id}/documents"),
                &alice,
                Some(json!({ "title": title })),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (_, body, _) = server
        .call(
            M::GET,
            &format!("/api/v1/data-probe/collections/{id}/titles"),
            &alice,
            None,
        )
        .await;
    assert_eq!(body["titles"], json!(["a", "b", "c"]));
    let (_, body, _) = server
        .call(
            M::GET,
            &format!("/api/v1/data-probe/collections/{id}/titles"),
            &bob,
            None,
        )
        .await;
    assert_eq!(body["titles"], json!([]));
    let (_, list, _) = server
        .call(
            M::GET,
            &format!("/api/v1/collections/{id}/documents"),
            &alice,
            None,
        )
        .await;
    let first = list["items"][0]["id"].as_str().unwrap().to_string();
    let (status, _, _) = server
        .call(
            M::DELETE,
            &format!("/api/v1/data-probe/documents/{first}"),
            &bob,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = server
        .call(
            M::DELETE,
            &format!("/api/v1/data-probe/documents/{first}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body, _) = server
        .call(
            M::DELETE,
            &format!("/api/v1/data-probe/collections/{id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, 409, "still holds documents: {body}");

    // persistence.delete-where removes exactly the matching rows.
    for tag in ["x", "x", "y"] {
        server
            .call(
                M::POST,
                "/api/v1/data-probe/notes",
                &alice,
                Some(json!({ "title": tag, "tag": tag })),
            )
            .await;
    }
    let (_, body, _) = server
        .call(M::DELETE, "/api/v1/data-probe/notes?tag=x", &alice, None)
        .await;
    assert_eq!(body["deleted"], 2);
    assert_eq!(notes(&server, &alice, "").await.len(), 1);
    server.stop().await;
}

/// The `bookmarks` fixture: an owned model with list fields.
async fn bookmarks_server() -> TestServer {
    Setup::new()
        .await
        .plugins_dir(&[("bookmarks.wasm", wasm("bookmarks"))])
        .start()
        .await
}

async fn user_id(server: &TestServer, token: &str) -> String {
    let me = server
        .call_expecting(M::GET, "/api/v1/me", token, None, 200)
        .await;
    me["id"].as_str().unwrap().to_string()
}

async fn bookmark_urls(server: &TestServer, token: &str, query: &str) -> Vec<String> {
    let path = format!("/api/v1/bookmarks{query}");
    let body = server.call_expecting(M::GET, &path, token, None, 200).await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["url"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_owned_model_keeps_each_callers_rows_to_themselves() {
    let server = bookmarks_server().await;
    let admin = server.admin_token.clone();
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let ann_id = user_id(&server, &ann).await;
    let add = async |token: &str, url: &str| {
        let body = json!({ "url": url, "tags": ["rust"] });
        let created = server
            .call_expecting(M::POST, "/api/v1/bookmarks", token, Some(body), 201)
            .await;
        created["id"].as_str().unwrap().to_string()
    };
    let ann_first = add(&ann, "https://a.example/1").await;
    add(&ann, "https://a.example/2").await;
    let bob_first = add(&bob, "https://b.example/1").await;

    // The host filled `owner` with the caller's id, in a real column.
    let owner: String =
        sqlx::query_scalar("SELECT owner FROM plg_bookmarks_bookmark WHERE id = $1")
            .bind(&ann_first)
            .fetch_one(server.state.db.reader())
            .await
            .unwrap();
    assert_eq!(owner, ann_id);

    // Every read is the caller's own; admins see all.
    assert_eq!(
        bookmark_urls(&server, &ann, "").await,
        ["https://a.example/1", "https://a.example/2"]
    );
    assert_eq!(
        bookmark_urls(&server, &bob, "").await,
        ["https://b.example/1"]
    );
    assert_eq!(bookmark_urls(&server, &admin, "").await.len(), 3);
    let item = server
        .call_expecting(
            M::GET,
            &format!("/api/v1/bookmarks/{ann_first}"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(item["owner"], ann_id.as_str());

    // Another member's row is not found for get, update, increment, delete.
    let path = format!("/api/v1/bookmarks/{ann_first}");
    server.call_expecting(M::GET, &path, &bob, None, 404).await;
    let patch = json!({ "url": "https://stolen.example" });
    let body = server
        .call_expecting(M::PATCH, &path, &bob, Some(patch), 200)
        .await;
    assert_eq!(body["updated"], false);
    server
        .call_expecting(M::POST, &format!("{path}/click"), &bob, None, 404)
        .await;
    let body = server
        .call_expecting(M::DELETE, &path, &bob, None, 200)
        .await;
    assert_eq!(body["deleted"], false);
    let retag = json!({ "field": "url", "change": "set", "value": "https://x", "tag": "rust" });
    let body = server
        .call_expecting(M::POST, "/api/v1/bookmarks/retag", &bob, Some(retag), 200)
        .await;
    assert_eq!(body["changed"], 1, "only bob's own row: {body}");
    let item = server.call_expecting(M::GET, &path, &ann, None, 200).await;
    assert_eq!(item["url"], "https://a.example/1", "untouched by bob");

    // `owner` is the host's to write, on insert and on update.
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/bookmarks",
            &bob,
            Some(json!({ "url": "https://c", "owner": ann_id })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        message(&body).contains("`owner` of `bookmark` is filled by the host"),
        "{body}"
    );
    let (status, body, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/bookmarks/{bob_first}"),
            &bob,
            Some(json!({ "owner": ann_id })),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // A public route reaches owned rows only with the caller's token.
    let (status, body) = server.get("/api/v1/bookmarks/count").await;
    assert_eq!(status, 403, "{body}");
    assert!(message(&body).contains("owned model"), "{body}");
    let body = server
        .call_expecting(M::GET, "/api/v1/bookmarks/count", &ann, None, 200)
        .await;
    assert_eq!(
        (body["count"].as_u64(), body["caller"].as_str()),
        (Some(2), Some(ann_id.as_str()))
    );
    server.stop().await;
}

#[tokio::test]
async fn list_fields_filter_and_group_by_element_and_increments_are_atomic() {
    let server = bookmarks_server().await;
    let ann = server.user("ann@example.com", false).await;
    let rows = [
        json!({ "url": "https://1", "tags": ["rust", "wasm"], "ratings": [5, 4] }),
        json!({ "url": "https://2", "tags": ["rust"], "ratings": [5] }),
        json!({ "url": "https://3", "tags": ["python"] }),
        json!({ "url": "https://4" }),
    ];
    let mut ids = Vec::new();
    for row in rows {
        let created = server
            .call_expecting(M::POST, "/api/v1/bookmarks", &ann, Some(row), 201)
            .await;
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    // Lists read back as the arrays written; the default is the empty list.
    for (id, tags, ratings) in [
        (&ids[0], json!(["rust", "wasm"]), json!([5, 4])),
        (&ids[3], json!([]), Value::Null),
    ] {
        let path = format!("/api/v1/bookmarks/{id}");
        let item = server.call_expecting(M::GET, &path, &ann, None, 200).await;
        assert_eq!((&item["tags"], &item["ratings"]), (&tags, &ratings));
    }

    // contains, contains-any, and an int element.
    assert_eq!(
        bookmark_urls(&server, &ann, "?tag=rust").await,
        ["https://1", "https://2"]
    );
    assert_eq!(
        bookmark_urls(&server, &ann, "?tag=wasm").await,
        ["https://1"]
    );
    assert_eq!(
        bookmark_urls(&server, &ann, "?any=wasm,python").await,
        ["https://1", "https://3"]
    );
    assert!(bookmark_urls(&server, &ann, "?tag=go").await.is_empty());
    assert_eq!(
        bookmark_urls(&server, &ann, "?rating=5").await,
        ["https://1", "https://2"]
    );
    assert_eq!(
        bookmark_urls(&server, &ann, "?rating=4").await,
        ["https://1"]
    );

    // Increments: concurrent clicks all count, and each answer is the row
    // as the increment left it.
    let click = format!("/api/v1/bookmarks/{}/click", ids[0]);
    let clicks = (0..10).map(|_| server.call(M::POST, &click, &ann, None));
    let mut seen: Vec<i64> = Vec::new();
    for (status, body, _) in futures::future::join_all(clicks).await {
        assert_eq!(status, 200, "{body}");
        seen.push(body["clicks"].as_i64().unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    let retag = json!({ "field": "clicks", "change": "increment", "value": 5, "tag": "rust" });
    let body = server
        .call_expecting(M::POST, "/api/v1/bookmarks/retag", &ann, Some(retag), 200)
        .await;
    assert_eq!(body["changed"], 2);

    // Grouping by element: one group per tag, a row counted in each of its
    // tags; rows without elements join no group.
    let stats = server
        .call_expecting(M::GET, "/api/v1/bookmarks/stats", &ann, None, 200)
        .await;
    assert_eq!(
        stats["tags"],
        json!([
            { "tag": "python", "bookmarks": 1, "clicks": 0 },
            { "tag": "rust", "bookmarks": 2, "clicks": 20 },
            { "tag": "wasm", "bookmarks": 1, "clicks": 15 },
        ])
    );
    assert_eq!(
        stats["ratings"],
        json!([{ "rating": 4, "bookmarks": 1 }, { "rating": 5, "bookmarks": 2 }])
    );

    // Bad input names what is wrong and changes nothing.
    let cases = [
        (
            json!({ "url": "x", "tags": [1] }),
            "field `tags` is of type string-list: element 0 (`1`) is not of type string",
        ),
        (
            json!({ "url": "x", "tags": "rust" }),
            "`tags` is a string-list field; a text value does not fit",
        ),
        (
            json!({ "url": "x", "tags": { "a": 1 } }),
            "needs a JSON array",
        ),
        (
            json!({ "url": "x", "ratings": ["five"] }),
            "is not of type int",
        ),
        (
            json!({ "url": "x", "tags": [null] }),
            "is not of type string",
        ),
    ];
    for (row, expected) in cases {
        let (status, body, _) = server
            .call(M::POST, "/api/v1/bookmarks", &ann, Some(row.clone()))
            .await;
        assert_eq!(status, 422, "{row}: {body}");
        assert!(message(&body).contains(expected), "{row}: {body}");
    }
    let retag = json!({ "field": "url", "change": "increment", "value": 1, "tag": "rust" });
    let (status, body, _) = server
        .call(M::POST, "/api/v1/bookmarks/retag", &ann, Some(retag))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        message(&body).contains("only int and float fields can be incremented"),
        "{body}"
    );
    assert_eq!(bookmark_urls(&server, &ann, "").await.len(), 4);
    server.stop().await;
}

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
