//! The bundled first-party plugins end to end, through HTTP, with the real
//! compiled components: doc-versioning (history, diff, restore, retention,
//! fault injection, upgrade) and collection-analytics (numbers checked
//! against values computed here from the inserted data).

mod support;

use serde_json::{Value, json};
use support::{M, Setup, TestServer, wasm};

async fn collection(server: &TestServer, token: &str, name: &str) -> String {
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/collections",
            token,
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn versions(server: &TestServer, token: &str, doc: &str, query: &str) -> (u16, Value) {
    let (status, body, _) = server
        .call(
            M::GET,
            &format!("/api/v1/documents/{doc}/versions{query}"),
            token,
            None,
        )
        .await;
    (status, body)
}

fn kinds(body: &Value) -> Vec<(i64, String)> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["change_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A server whose `plugin` is the copy built by the previous release
/// against kai:fusion 0.1.3 (`tests/prebuilt`), installed over the bundled
/// one of the same version and served through the host's 0.1.x adapter.
async fn serving_prebuilt_0_1_3(plugin: &str) -> TestServer {
    serving_prebuilt(plugin, "0.1.3").await
}

/// A server whose `plugin` is the copy built against kai:fusion `api`
/// (`tests/prebuilt`), installed over the bundled one of the same version.
async fn serving_prebuilt(plugin: &str, api: &str) -> TestServer {
    use sha2::Digest;
    let server = TestServer::start().await;
    let path = format!(
        "{}/tests/prebuilt/{plugin}-api-{api}.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    let wasm = std::fs::read(path).unwrap();
    let sha256 = hex::encode(sha2::Sha256::digest(&wasm));
    let (status, body) = server.upload_plugin(wasm, "?force=true").await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let (_, loaded) = server
        .admin_get(&format!("/api/v1/admin/plugins/{plugin}"))
        .await;
    assert_eq!(loaded["sha256"], sha256.as_str(), "{loaded}");
    assert_eq!(loaded["host_api"], format!("^{api}"), "{loaded}");
    server
}

#[tokio::test]
async fn document_history_diff_restore_and_delete() {
    history_diff_restore_and_delete(TestServer::start().await).await;
}

#[tokio::test]
async fn doc_versioning_built_against_0_1_3_keeps_history_diff_and_restore() {
    history_diff_restore_and_delete(serving_prebuilt_0_1_3("doc-versioning").await).await;
}

/// A plugin built against 0.2.0 has no `route-docs` export: it loads and
/// serves as before, its routes in the API reference with generic bodies.
#[tokio::test]
async fn doc_versioning_built_against_0_2_0_keeps_history_diff_and_restore() {
    let server = serving_prebuilt("doc-versioning", "0.2.0").await;
    let (status, doc) = server.admin_get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let operation = &doc["paths"]["/api/v1/documents/{id}/versions"]["get"];
    assert!(
        operation["description"]
            .as_str()
            .is_some_and(|d| d.contains("declares no schema")),
        "{operation}"
    );
    history_diff_restore_and_delete(server).await;
}

async fn history_diff_restore_and_delete(server: TestServer) {
    let alice = server.user("alice@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let c = collection(&server, &alice, "docs").await;
    let (_, doc, _) = server
        .call(
            M::POST,
            &format!("/api/v1/collections/{c}/documents"),
            &alice,
            Some(json!({ "title": "Plan", "content": "line one\nline two\n", "tags": ["a"] })),
        )
        .await;
    let id = doc["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/documents/{id}");
    for change in [
        json!({ "content": "line one\nline 2\n" }),
        json!({ "title": "Plan B", "tags": ["a", "b"] }),
        json!({ "content": "line one\nline 2\nline three\n", "metadata": { "k": 1 } }),
    ] {
        let (status, _, _) = server.call(M::PATCH, &path, &alice, Some(change)).await;
        assert_eq!(status, 200);
    }

    let (status, history) = versions(&server, &alice, &id, "").await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(
        kinds(&history),
        [
            (4, "updated".into()),
            (3, "updated".into()),
            (2, "updated".into()),
            (1, "created".into())
        ]
    );
    assert!(
        history["items"][0].get("content").is_none(),
        "content only on request"
    );
    assert_eq!(
        history["items"][1]["changed_fields"],
        json!(["title", "tags"])
    );
    let (_, with_content) = versions(&server, &alice, &id, "?include=content&limit=2").await;
    assert_eq!(with_content["items"][1]["content"], "line one\nline 2\n");
    let cursor = with_content["next_cursor"].as_str().unwrap().to_string();
    let (_, rest) = versions(&server, &alice, &id, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(kinds(&rest), [(2, "updated".into()), (1, "created".into())]);
    assert!(rest["next_cursor"].is_null());

    let (status, v2) = versions(&server, &alice, &id, "/2").await;
    assert_eq!(
        (status, v2["content"].as_str()),
        (200, Some("line one\nline 2\n"))
    );

    // Diff 1..3: a unified line diff and the changed fields.
    let (status, diff) = versions(&server, &alice, &id, "/1/diff/3").await;
    assert_eq!(status, 200, "{diff}");
    let unified = diff["content"]["unified"].as_str().unwrap();
    assert!(
        unified.contains("-line two") && unified.contains("+line 2"),
        "{unified}"
    );
    assert_eq!(
        diff["fields"]["title"],
        json!({ "from": "Plan", "to": "Plan B" })
    );
    assert_eq!(diff["fields"]["tags"]["added"], json!(["b"]));
    assert!(diff["fields"].get("format").is_none());

    // Restore 2 with a stale If-Match: 412, nothing new.
    let stale = server
        .client
        .post(server.url(&format!("{path}/versions/2/restore")))
        .bearer_auth(&alice)
        .header("if-match", "\"3\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let (_, history) = versions(&server, &alice, &id, "").await;
    assert_eq!(history["items"].as_array().unwrap().len(), 4);

    // Restore 2 properly: version 5 with version 2's content.
    let restored = server
        .client
        .post(server.url(&format!("{path}/versions/2/restore")))
        .bearer_auth(&alice)
        .header("if-match", "\"4\"")
        .send()
        .await
        .unwrap();
    assert_eq!(restored.headers()["etag"], "\"5\"");
    let (status, restored) = support::json_of(restored).await;
    assert_eq!(
        (status, restored["version"].as_i64()),
        (200, Some(5)),
        "{restored}"
    );
    assert_eq!(restored["change_type"], "restored");
    // One shape per field: what a restore changed is a list of fields, as
    // for any change, and it says which version it copied.
    assert_eq!(
        restored["changed_fields"],
        json!(["title", "content", "tags", "metadata"])
    );
    assert_eq!(restored["restored_from"], 2);
    assert!(
        chrono::DateTime::parse_from_rfc3339(restored["created_at"].as_str().unwrap()).is_ok(),
        "{restored}"
    );
    let (_, current, _) = server.call(M::GET, &path, &alice, None).await;
    assert_eq!(
        (current["version"].as_i64(), current["content"].as_str()),
        (Some(5), Some("line one\nline 2\n"))
    );
    assert_eq!(
        (current["title"].as_str(), current["tags"].clone()),
        (Some("Plan"), json!(["a"]))
    );

    // Concurrent writers with a stale If-Match: 412, and no version made.
    let stale_write = server
        .client
        .patch(server.url(&path))
        .bearer_auth(&alice)
        .header("if-match", "\"4\"")
        .json(&json!({ "title": "lost" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale_write.status(), 412);
    let (_, history) = versions(&server, &alice, &id, "").await;
    assert_eq!(history["items"].as_array().unwrap().len(), 5);

    // Others see nothing; admins see everything.
    let (status, _) = versions(&server, &bob, &id, "").await;
    assert_eq!(status, 404);
    let (status, _) = versions(&server, &bob, &id, "/1/diff/2").await;
    assert_eq!(status, 404);
    let (status, _, _) = server
        .call(M::POST, &format!("{path}/versions/1/restore"), &bob, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = versions(&server, &server.admin_token.clone(), &id, "").await;
    assert_eq!(status, 200);

    // Deleting keeps the history, closed by a deleted entry.
    let (status, _, _) = server.call(M::DELETE, &path, &alice, None).await;
    assert_eq!(status, 204);
    let (status, history) = versions(&server, &alice, &id, "").await;
    assert_eq!(status, 200);
    assert_eq!(kinds(&history)[0], (6, "deleted".to_string()));
    let (status, _) = versions(&server, &bob, &id, "").await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn retention_keeps_exactly_the_newest_versions() {
    let server = TestServer::start().await;
    let alice = server.user("alice@example.com", false).await;
    let c = collection(&server, &alice, "kept").await;
    let (status, body, _) = server
        .call(
            M::PUT,
            &format!("/api/v1/collections/{c}/version-retention"),
            &alice,
            Some(json!({ "keep": 2 })),
        )
        .await;
    assert_eq!((status, body["keep"].as_i64()), (200, Some(2)), "{body}");
    let (status, _, _) = server
        .call(
            M::PUT,
            &format!("/api/v1/collections/{c}/version-retention"),
            &alice,
            Some(json!({ "keep": 0 })),
        )
        .await;
    assert_eq!(status, 422);
    let (_, doc, _) = server
        .call(
            M::POST,
            &format!("/api/v1/collections/{c}/documents"),
            &alice,
            Some(json!({ "title": "r0" })),
        )
        .await;
    let id = doc["id"].as_str().unwrap().to_string();
    for i in 1..=5 {
        server
            .call(
                M::PATCH,
                &format!("/api/v1/documents/{id}"),
                &alice,
                Some(json!({ "title": format!("r{i}") })),
            )
            .await;
    }
    let (_, history) = versions(&server, &alice, &id, "").await;
    let numbers: Vec<i64> = kinds(&history).iter().map(|(v, _)| *v).collect();
    assert_eq!(numbers, [6, 5], "the newest two; numbering unchanged");
    server.stop().await;
}

#[tokio::test]
async fn a_failed_version_write_fails_the_document_change() {
    let server = TestServer::start().await;
    let alice = server.user("alice@example.com", false).await;
    let c = collection(&server, &alice, "faults").await;
    let (_, doc, _) = server
        .call(
            M::POST,
            &format!("/api/v1/collections/{c}/documents"),
            &alice,
            Some(json!({ "title": "stable" })),
        )
        .await;
    let id = doc["id"].as_str().unwrap().to_string();
    let db = server.state.db.clone();
    let count = |table: &'static str| {
        let db = db.clone();
        async move {
            use sqlx::Row;
            sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(db.reader())
                .await
                .unwrap()
                .get::<i64, _>(0)
        }
    };
    let versions_before = count("plg_doc_versioning_document_version").await;

    // The fault: the plugin's table is out of reach.
    sqlx::query("ALTER TABLE plg_doc_versioning_document_version RENAME TO dv_hidden")
        .execute(db.writer())
        .await
        .unwrap();
    let (status, body, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/documents/{id}"),
            &alice,
            Some(json!({ "title": "must not happen" })),
        )
        .await;
    assert!(status == 409 || status == 500, "{status} {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("doc-versioning"),
        "{body}"
    );
    sqlx::query("ALTER TABLE dv_hidden RENAME TO plg_doc_versioning_document_version")
        .execute(db.writer())
        .await
        .unwrap();

    let (_, current, _) = server
        .call(M::GET, &format!("/api/v1/documents/{id}"), &alice, None)
        .await;
    assert_eq!(
        (current["title"].as_str(), current["version"].as_i64()),
        (Some("stable"), Some(1))
    );
    assert_eq!(
        count("plg_doc_versioning_document_version").await,
        versions_before
    );
    // Healed: changes and versions flow again.
    let (status, _, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/documents/{id}"),
            &alice,
            Some(json!({ "title": "now fine" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        count("plg_doc_versioning_document_version").await,
        versions_before + 1
    );
    server.stop().await;
}

#[tokio::test]
async fn an_upgrade_with_an_added_field_keeps_the_history() {
    let server = TestServer::start().await;
    let alice = server.user("alice@example.com", false).await;
    let c = collection(&server, &alice, "upgrade").await;
    let (_, doc, _) = server
        .call(
            M::POST,
            &format!("/api/v1/collections/{c}/documents"),
            &alice,
            Some(json!({ "title": "v1" })),
        )
        .await;
    let id = doc["id"].as_str().unwrap().to_string();
    server
        .call(
            M::PATCH,
            &format!("/api/v1/documents/{id}"),
            &alice,
            Some(json!({ "title": "v2" })),
        )
        .await;
    let (data_dir, database_url, temp) = server.stop_keeping_data().await;

    let server = Setup::reuse(data_dir, database_url)
        .plugins_dir(&[("doc-versioning.wasm", wasm("doc-versioning-next"))])
        .start()
        .await;
    let (_, listing) = server.admin_get("/api/v1/admin/plugins").await;
    let versioning = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "doc-versioning")
        .unwrap()
        .clone();
    assert_eq!(versioning["version"], "1.2.0", "{listing}");
    let (status, history) = versions(&server, &alice, &id, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        kinds(&history),
        [(2, "updated".into()), (1, "created".into())]
    );
    server
        .call(
            M::PATCH,
            &format!("/api/v1/documents/{id}"),
            &alice,
            Some(json!({ "title": "v3" })),
        )
        .await;
    let (_, history) = versions(&server, &alice, &id, "").await;
    assert_eq!(kinds(&history).len(), 3);
    // The new field exists in the real table, empty for old rows.
    use sqlx::Row;
    let reviewed: Vec<Option<i64>> =
        sqlx::query("SELECT reviewed FROM plg_doc_versioning_document_version ORDER BY version")
            .fetch_all(server.state.db.reader())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<Option<i64>, _>(0).unwrap_or(None))
            .collect();
    assert_eq!(reviewed, [None, None, None]);
    server.stop().await;
    drop(temp);
}

/// A generated document, as inserted.
struct Generated {
    collection: usize,
    format: &'static str,
    tags: Vec<String>,
    words: i64,
    version: i64,
    created_at: i64,
    updated_at: i64,
    archived: bool,
}

const DAY: i64 = 86_400_000_000;
const DEC_1_2025: i64 = 1_764_547_200_000_000;
const JAN_1_2026: i64 = 1_767_225_600_000_000;

#[tokio::test]
async fn analytics_match_numbers_computed_from_the_data() {
    analytics_match_the_data(TestServer::start().await).await;
}

#[tokio::test]
async fn collection_analytics_built_against_0_1_3_matches_the_data() {
    analytics_match_the_data(serving_prebuilt_0_1_3("collection-analytics").await).await;
}

async fn analytics_match_the_data(server: TestServer) {
    use rand::{Rng, SeedableRng};
    let alice = server.user("alice@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let collections = [
        collection(&server, &alice, "big").await,
        collection(&server, &alice, "small").await,
        collection(&server, &alice, "empty").await,
    ];
    let owner = kai_host::store::users::find_by_email(&server.state.db, "alice@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;

    // A few thousand documents spread over three months, inserted straight
    // into the real tables (with versions for the churn).
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let formats = ["txt", "md", "json", "html"];
    let mut docs = Vec::new();
    for i in 0..3000 {
        let created_at = DEC_1_2025 + rng.random_range(0..90 * DAY);
        let version = if i < 5 {
            40 - i as i64
        } else {
            rng.random_range(1..6)
        };
        let tags: Vec<String> = (0..12)
            .filter(|t| rng.random_range(0..100) < 60 - t * 4)
            .map(|t| format!("tag{t}"))
            .collect();
        docs.push(Generated {
            collection: usize::from(i % 5 == 0),
            format: formats[rng.random_range(0..4)],
            tags,
            words: rng.random_range(0..400),
            version,
            created_at,
            updated_at: created_at + rng.random_range(0..20 * DAY),
            archived: rng.random_range(0..10) == 0,
        });
    }
    let db = server.state.db.clone();
    let mut tx = db.writer().begin().await.unwrap();
    let mut version_rows: Vec<(usize, i64)> = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let content = "word ".repeat(doc.words as usize);
        sqlx::query(
            "INSERT INTO documents (id, collection_id, owner, title, content, format, content_hash, word_count, size_bytes, \
             version, created_at, updated_at, archived_at, tags, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, 'h', $7, $8, $9, $10, $11, $12, $13, '{}')",
        )
        .bind(&id)
        .bind(&collections[doc.collection])
        .bind(&owner)
        .bind(format!("doc {i}"))
        .bind(&content)
        .bind(doc.format)
        .bind(doc.words)
        .bind(content.len() as i64)
        .bind(doc.version)
        .bind(doc.created_at)
        .bind(doc.updated_at)
        .bind(doc.archived.then_some(doc.updated_at))
        .bind(serde_json::to_string(&doc.tags).unwrap())
        .execute(&mut *tx)
        .await
        .unwrap();
        for tag in &doc.tags {
            sqlx::query("INSERT INTO document_tags (document_id, collection_id, owner, tag) VALUES ($1, $2, $3, $4)")
                .bind(&id)
                .bind(&collections[doc.collection])
                .bind(&owner)
                .bind(tag)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        for v in 1..=doc.version.min(6) {
            let at = doc.created_at + (v - 1) * DAY / 2;
            sqlx::query(
                "INSERT INTO plg_doc_versioning_document_version (id, document_id, collection_id, owner, version, title, \
                 content, format, tags, metadata, content_hash, changed_fields, change_type, actor, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 't', '', 'txt', '[]', '{}', 'h', '[]', 'updated', NULL, $6)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&id)
            .bind(&collections[doc.collection])
            .bind(&owner)
            .bind(v)
            .bind(at)
            .execute(&mut *tx)
            .await
            .unwrap();
            version_rows.push((doc.collection, at));
        }
    }
    tx.commit().await.unwrap();
    // Written behind the host's back: recompute its per-collection statistics.
    kai_host::store::stats::rebuild(&db).await.unwrap();

    let (from, to) = (JAN_1_2026, JAN_1_2026 + 31 * DAY);
    let url = |c: &str, range: &str| format!("/api/v1/collections/{c}/analytics{range}");
    let (status, big, _) = server
        .call(
            M::GET,
            &url(&collections[0], "?from=2026-01-01&to=2026-02-01"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, 200, "{big}");

    // Independently computed.
    let mine: Vec<&Generated> = docs.iter().filter(|d| d.collection == 0).collect();
    let total = mine.len() as i64;
    let archived = mine.iter().filter(|d| d.archived).count() as i64;
    let size: i64 = mine.iter().map(|d| d.words * 5).sum();
    let words: i64 = mine.iter().map(|d| d.words).sum();
    assert_eq!(
        big["documents"],
        json!({ "total": total, "active": total - archived, "archived": archived })
    );
    assert_eq!(big["size_bytes"]["total"], size);
    assert!(
        (big["size_bytes"]["average"].as_f64().unwrap() - size as f64 / total as f64).abs() < 1e-6
    );
    assert_eq!(big["word_count"]["total"], words);
    for format in formats {
        let expected = mine.iter().filter(|d| d.format == format).count() as i64;
        assert_eq!(big["by_format"][format], expected, "{format}");
    }
    let mut tag_counts: std::collections::BTreeMap<String, i64> = Default::default();
    for doc in &mine {
        for tag in &doc.tags {
            *tag_counts.entry(tag.clone()).or_default() += 1;
        }
    }
    let mut expected_top: Vec<i64> = tag_counts.values().copied().collect();
    expected_top.sort_unstable_by(|a, b| b.cmp(a));
    expected_top.truncate(10);
    let top = big["top_tags"].as_array().unwrap();
    assert_eq!(
        top.iter()
            .map(|t| t["count"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        expected_top
    );
    for t in top {
        assert_eq!(
            tag_counts[t["tag"].as_str().unwrap()],
            t["count"].as_i64().unwrap()
        );
    }
    let activity = big["activity"].as_array().unwrap();
    assert_eq!(activity.len(), 31);
    for (i, day) in activity.iter().enumerate() {
        let start = from + i as i64 * DAY;
        let created = mine
            .iter()
            .filter(|d| (start..start + DAY).contains(&d.created_at))
            .count() as i64;
        let updated = mine
            .iter()
            .filter(|d| (start..start + DAY).contains(&d.updated_at))
            .count() as i64;
        assert_eq!(
            (day["created"].as_i64(), day["last_changed"].as_i64()),
            (Some(created), Some(updated)),
            "{day}"
        );
    }
    assert_eq!(activity[0]["date"], "2026-01-01");
    let mut edited: Vec<i64> = mine.iter().map(|d| d.version).filter(|v| *v > 1).collect();
    edited.sort_unstable_by(|a, b| b.cmp(a));
    let most: Vec<i64> = big["most_edited"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["version"].as_i64().unwrap())
        .collect();
    assert_eq!(most, edited[..5]);
    let churn = &big["churn"];
    assert_eq!(churn["available"], true, "{churn}");
    let in_range: Vec<i64> = version_rows
        .iter()
        .filter(|(c, at)| *c == 0 && (from..to).contains(at))
        .map(|(_, at)| *at)
        .collect();
    let per_day_total: i64 = churn["versions_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["versions"].as_i64().unwrap())
        .sum();
    assert_eq!(per_day_total, in_range.len() as i64);
    assert!(!churn["most_versioned"].as_array().unwrap().is_empty());

    // An empty collection, and a range with no activity.
    let (_, empty, _) = server
        .call(M::GET, &url(&collections[2], ""), &alice, None)
        .await;
    assert_eq!(empty["documents"]["total"], 0);
    assert_eq!(empty["size_bytes"]["average"], 0.0);
    assert_eq!(empty["top_tags"], json!([]));
    assert_eq!(empty["most_edited"], json!([]));
    assert_eq!(
        empty["activity"].as_array().unwrap().len(),
        30,
        "the 30 days before now by default"
    );
    let (_, quiet, _) = server
        .call(
            M::GET,
            &url(&collections[0], "?from=2020-01-01&to=2020-01-11"),
            &alice,
            None,
        )
        .await;
    assert!(
        quiet["activity"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["created"] == 0 && d["last_changed"] == 0)
    );
    assert_eq!(quiet["churn"]["versions_per_day"], json!([]));
    assert_eq!(
        quiet["documents"]["total"], total,
        "totals do not depend on the range"
    );

    // Bad dates and ranges are 422s naming the parameter; other
    // principals; the overview.
    for (query, parameter) in [
        ("?from=2026-02-01&to=2026-01-01", "from"),
        ("?from=2020-01-01&to=2026-01-01", "from"),
        ("?from=9223372036854775807-01-01", "from"),
        ("?from=2020-02-31", "from"),
        ("?to=T00:00:00.-5Z", "to"),
    ] {
        let (status, body, _) = server
            .call(M::GET, &url(&collections[0], query), &alice, None)
            .await;
        assert_eq!(status, 422, "{query}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{parameter}: ")),
            "{query}: {body}"
        );
    }
    let (status, _, _) = server
        .call(M::GET, &url(&collections[0], ""), &bob, None)
        .await;
    assert_eq!(status, 404);
    let (status, overview, _) = server
        .call(
            M::GET,
            "/api/v1/analytics/overview?from=2026-01-01&to=2026-02-01",
            &alice,
            None,
        )
        .await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["documents"]["total"], docs.len() as i64);
    assert_eq!(overview["collections"], 3);
    let all_churn: i64 = overview["churn"]["versions_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["versions"].as_i64().unwrap())
        .sum();
    assert_eq!(
        all_churn,
        version_rows
            .iter()
            .filter(|(_, at)| (from..to).contains(at))
            .count() as i64
    );
    let (_, theirs, _) = server
        .call(
            M::GET,
            "/api/v1/analytics/overview?from=2026-01-01&to=2026-02-01",
            &bob,
            None,
        )
        .await;
    assert_eq!(theirs["documents"]["total"], 0);
    assert_eq!(
        theirs["churn"]["versions_per_day"],
        json!([]),
        "other users' versions stay hidden"
    );
    server.stop().await;
}
