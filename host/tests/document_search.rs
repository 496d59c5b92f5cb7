//! `GET /api/v1/documents:search` through the real server, on SQLite (FTS5)
//! and PostgreSQL (`tsvector`): ranking, the query syntax, the listing's
//! filters, pages, who sees what, and the index kept in step with the
//! documents through a mixed workload of 10,000 changes.

mod support;

use reqwest::Method as M;
use serde_json::{Value, json};
use std::sync::Arc;
use support::TestServer;

const SEARCH: &str = "/api/v1/documents:search";

async fn collection(server: &TestServer, token: &str, name: &str) -> String {
    let made = server
        .call_expecting(
            M::POST,
            "/api/v1/collections",
            token,
            Some(json!({ "name": name })),
            201,
        )
        .await;
    made["id"].as_str().unwrap().to_string()
}

async fn document(server: &TestServer, token: &str, collection: &str, body: Value) -> String {
    let made = server
        .call_expecting(
            M::POST,
            &format!("/api/v1/collections/{collection}/documents"),
            token,
            Some(body),
            201,
        )
        .await;
    made["id"].as_str().unwrap().to_string()
}

/// The ids a search answers, in order, and the whole answer.
async fn search(server: &TestServer, token: &str, query: &str) -> (Vec<String>, Value) {
    let url = format!("{SEARCH}?{query}");
    let answer = server.call_expecting(M::GET, &url, token, None, 200).await;
    let ids = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["id"].as_str().unwrap().to_string())
        .collect();
    (ids, answer)
}

fn q(text: &str) -> String {
    format!("q={}", urlencode(text))
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn search_ranks_matches_and_speaks_one_syntax_on_both_backends() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let notes = collection(&server, &ann, "notes").await;
    let other = collection(&server, &ann, "other").await;
    let a = document(
        &server,
        &ann,
        &notes,
        json!({ "title": "Rust async runtimes", "content": "Tokio is an async runtime for Rust. Rust, rust.", "tags": ["lang"], "format": "md" }),
    )
    .await;
    let b = document(
        &server,
        &ann,
        &notes,
        json!({ "title": "Cooking", "content": "A recipe that mentions rust once, and java." }),
    )
    .await;
    let c = document(
        &server,
        &ann,
        &notes,
        json!({ "title": "Java notes", "content": "java and the async model" }),
    )
    .await;
    let d = document(
        &server,
        &ann,
        &notes,
        json!({ "title": "E-mail tips", "content": "Send e-mail with care at the café; pi is 3.14 <b>bold</b>" }),
    )
    .await;
    let e = document(&server, &ann, &other, json!({ "title": "Rust elsewhere" })).await;
    // Documents without any of the words looked for, as most of a real
    // corpus is: how rare a word is counts in its rank.
    for i in 0..12 {
        document(
            &server,
            &ann,
            &notes,
            json!({ "title": format!("filler {i}"), "content": "other words entirely" }),
        )
        .await;
    }
    let bobs = bob_document(&server, &bob).await;

    // The better match first: in the title and three times in the content,
    // before once in the content.
    let (found, answer) = search(&server, &ann, &q("rust")).await;
    assert_eq!(found.len(), 3, "{answer}");
    let at = |id: &String| found.iter().position(|f| f == id).unwrap();
    assert!(at(&a) < at(&b), "{answer}");
    assert!(found.contains(&e));
    let score = |id: &String| answer["items"][at(id)]["score"].as_f64().unwrap();
    assert!(score(&a) > score(&b), "{answer}");
    let hit = &answer["items"][at(&a)];
    let snippet = hit["snippet"].as_str().unwrap().to_lowercase();
    assert!(snippet.contains("<mark>rust</mark>"), "{answer}");
    assert!(hit.get("content").is_none());

    for (query, expected) in [
        (r#""async runtime""#, vec![a.clone()]),
        ("runt*", vec![a.clone()]),
        ("RUST -java", vec![a.clone(), e.clone()]),
        (r#"async -"async runtime""#, vec![c.clone()]),
        ("e-mail", vec![d.clone()]),
        ("café", vec![d.clone()]),
        ("cafe", vec![]),
        ("3.14", vec![d.clone()]),
        ("bold", vec![d.clone()]),
        ("java async", vec![c.clone()]),
        ("nothing-like-this", vec![]),
    ] {
        let (mut found, answer) = search(&server, &ann, &q(query)).await;
        let mut expected = expected;
        found.sort();
        expected.sort();
        assert_eq!(found, expected, "{query}: {answer}");
    }
    // The snippet is HTML whose only markup is the host's: the document's
    // own is escaped (SQLite) or left out (PostgreSQL's headline drops it).
    let (_, answer) = search(&server, &ann, &q("bold")).await;
    let snippet = answer["items"][0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>bold</mark>"), "{snippet}");
    let unmarked = snippet.replace("<mark>", "").replace("</mark>", "");
    assert!(!unmarked.contains('<'), "{snippet}");

    // The listing's filters, and a collection to narrow to.
    let (found, _) = search(&server, &ann, &format!("{}&tag=lang", q("rust"))).await;
    assert_eq!(found, vec![a.clone()]);
    let (found, _) = search(&server, &ann, &format!("{}&format=md", q("rust"))).await;
    assert_eq!(found, vec![a.clone()]);
    let (found, _) = search(
        &server,
        &ann,
        &format!("{}&collection_id={other}", q("rust")),
    )
    .await;
    assert_eq!(found, vec![e.clone()]);
    let (found, answer) = search(&server, &ann, &format!("{}&include=content", q("tips"))).await;
    assert_eq!(found, vec![d.clone()]);
    assert!(
        answer["items"][0]["content"]
            .as_str()
            .unwrap()
            .contains("café")
    );

    // Each sees their own; an admin sees all.
    let (found, _) = search(&server, &bob, &q("rust")).await;
    assert_eq!(found, vec![bobs.clone()]);
    let (found, _) = search(&server, &server.admin_token, &q("rust")).await;
    assert_eq!(found.len(), 4);
    let (status, _, _) = server
        .call(
            M::GET,
            &format!("{SEARCH}?{}&collection_id={notes}", q("rust")),
            &bob,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // The index follows every change: update, archive, delete.
    server
        .call_expecting(
            M::PATCH,
            &format!("/api/v1/documents/{a}"),
            &ann,
            Some(json!({ "title": "Runtimes", "content": "tokio only" })),
            200,
        )
        .await;
    server
        .call_expecting(
            M::PATCH,
            &format!("/api/v1/documents/{b}"),
            &ann,
            Some(json!({ "archived": true })),
            200,
        )
        .await;
    server
        .call_expecting(
            M::DELETE,
            &format!("/api/v1/documents/{e}"),
            &ann,
            None,
            204,
        )
        .await;
    let (found, _) = search(&server, &ann, &q("rust")).await;
    assert!(found.is_empty(), "{found:?}");
    let (found, _) = search(
        &server,
        &ann,
        &format!("{}&include_archived=true", q("rust")),
    )
    .await;
    assert_eq!(found, vec![b.clone()]);
    let (found, _) = search(&server, &ann, &q("tokio")).await;
    assert_eq!(found, vec![a.clone()]);

    // Pages: every match once, then no cursor; a cursor is tied to its query.
    for i in 0..5 {
        document(
            &server,
            &ann,
            &other,
            json!({ "title": format!("paged {i}"), "content": "paged" }),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (found, answer) =
            search(&server, &ann, &format!("{}&limit=2{cursor}", q("paged"))).await;
        pages += 1;
        seen.extend(found);
        match answer["next_cursor"].as_str() {
            Some(next) => {
                let (status, wrong, _) = server
                    .call(
                        M::GET,
                        &format!("{SEARCH}?{}&cursor={next}", q("other")),
                        &ann,
                        None,
                    )
                    .await;
                assert_eq!(status, 400, "{wrong}");
                assert_eq!(wrong["error"]["code"], "invalid_cursor");
                cursor = format!("&cursor={next}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);

    // Bad syntax is a 422 naming the problem.
    for (query, problem) in [
        ("q=", "empty"),
        (&q("\"open phrase") as &str, "not closed"),
        (&q("-rust"), "excluded"),
        (&q("ru*st"), "`*` may only end a word"),
        ("tag=x", "q: is required"),
    ] {
        let (status, answer, _) = server
            .call(M::GET, &format!("{SEARCH}?{query}"), &ann, None)
            .await;
        assert_eq!(status, 422, "{query}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(problem), "{query}: {message}");
    }
    let (status, _, _) = server
        .call(
            M::GET,
            &format!("{SEARCH}?{}&sort=title", q("x")),
            &ann,
            None,
        )
        .await;
    assert_eq!(status, 400, "an unknown parameter");
    server.stop().await;
}

async fn bob_document(server: &TestServer, bob: &str) -> String {
    let mine = collection(server, bob, "bob").await;
    document(
        server,
        bob,
        &mine,
        json!({ "title": "bob", "content": "rust" }),
    )
    .await
}

/// 10,000 changes (bulk creates, updates, replaces, archive toggles,
/// restores by doc-versioning, deletes), then: the engine's own check of
/// the index against the documents, and searches for the words each
/// document holds now and held before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_index_agrees_with_the_documents_after_a_mixed_workload() {
    const DOCS: usize = 4000;
    let server = Arc::new(TestServer::start().await);
    let ann = server.user("ann@example.com", false).await;
    let notes = collection(&server, &ann, "bulk").await;
    let mut ids = Vec::new();
    for batch in 0..DOCS / 500 {
        let documents: Vec<Value> = (0..500)
            .map(|i| {
                let n = batch * 500 + i;
                json!({ "title": format!("doc {n}"), "content": format!("common m{n}v0 words") })
            })
            .collect();
        let made = server
            .call_expecting(
                M::POST,
                &format!("/api/v1/collections/{notes}/documents:bulk"),
                &ann,
                Some(json!({ "documents": documents })),
                201,
            )
            .await;
        ids.extend(
            made["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(ids.len(), DOCS);
    let ids = Arc::new(ids);

    // 6,000 more changes, 16 at a time: what each does depends on n.
    // 0..3000: content to m{n}v1; 3000..3500: replaced with m{n}v2;
    // 3500..4000: restored to version 1 (m{n}v0) after being changed;
    // 4000..5000: archived; 5000..6000: deleted (documents 0..1000).
    let mut tasks = tokio::task::JoinSet::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..16 {
        let (server, ann, ids, next) = (server.clone(), ann.clone(), ids.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= 6000 {
                    return;
                }
                match n {
                    0..3000 => {
                        let id = &ids[n];
                        server
                            .call_expecting(M::PATCH, &format!("/api/v1/documents/{id}"), &ann, Some(json!({ "content": format!("common m{n}v1 words") })), 200)
                            .await;
                    }
                    3000..3500 => {
                        let id = &ids[n];
                        server
                            .call_expecting(M::PUT, &format!("/api/v1/documents/{id}"), &ann, Some(json!({ "title": format!("doc {n}"), "content": format!("common m{n}v2 words") })), 200)
                            .await;
                    }
                    3500..4000 => {
                        let id = &ids[n];
                        server
                            .call_expecting(M::PATCH, &format!("/api/v1/documents/{id}"), &ann, Some(json!({ "content": format!("common m{n}v1 words") })), 200)
                            .await;
                        server
                            .call_expecting(M::POST, &format!("/api/v1/documents/{id}/versions/1/restore"), &ann, None, 200)
                            .await;
                    }
                    4000..5000 => {
                        let id = &ids[n - 4000 + 1000];
                        server
                            .call_expecting(M::PATCH, &format!("/api/v1/documents/{id}"), &ann, Some(json!({ "archived": true })), 200)
                            .await;
                    }
                    _ => {
                        let id = &ids[n - 5000];
                        server.call_expecting(M::DELETE, &format!("/api/v1/documents/{id}"), &ann, None, 204).await;
                    }
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    // The engine's own check of the index against what it indexes.
    use sqlx::Row;
    let db = &server.state.db;
    match db.backend() {
        kai_host::store::Backend::Sqlite => {
            sqlx::query(
                "INSERT INTO documents_fts (documents_fts, rank) VALUES ('integrity-check', 1)",
            )
            .execute(db.writer())
            .await
            .expect("the FTS5 index agrees with the documents");
            let unindexed: i64 = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM documents d WHERE NOT EXISTS \
                 (SELECT 1 FROM document_search_rows r WHERE r.document_id = d.id)) \
                 + (SELECT COUNT(*) FROM document_search_rows r WHERE NOT EXISTS \
                 (SELECT 1 FROM documents d WHERE d.id = r.document_id))",
            )
            .fetch_one(db.reader())
            .await
            .unwrap()
            .get(0);
            assert_eq!(unindexed, 0);
        }
        kai_host::store::Backend::Postgres => {
            let stale: i64 = sqlx::query(
                "SELECT COUNT(*) FROM documents WHERE search IS DISTINCT FROM \
                 (setweight(to_tsvector('simple'::regconfig, regexp_replace(title, '[!-/:-@[-`{-~]+', ' ', 'g')), 'A') \
                 || setweight(to_tsvector('simple'::regconfig, regexp_replace(left(content, 200000), '[!-/:-@[-`{-~]+', ' ', 'g')), 'B'))",
            )
            .fetch_one(db.reader())
            .await
            .unwrap()
            .get(0);
            assert_eq!(stale, 0);
        }
    }

    // Searches: what each document holds now is found, what it held
    // before is not (every 37th document, a few hundred searches).
    let everything = "&include_archived=true";
    for n in (0..DOCS).step_by(37) {
        let id = &ids[n];
        let (now, before): (Option<String>, Vec<String>) = match n {
            0..1000 => (None, vec![format!("m{n}v0"), format!("m{n}v1")]),
            1000..3000 => (Some(format!("m{n}v1")), vec![format!("m{n}v0")]),
            3000..3500 => (Some(format!("m{n}v2")), vec![format!("m{n}v0")]),
            _ => (Some(format!("m{n}v0")), vec![format!("m{n}v1")]),
        };
        if let Some(word) = now {
            let (found, answer) = search(&server, &ann, &format!("q={word}{everything}")).await;
            assert_eq!(found, vec![id.clone()], "{word}: {answer}");
        }
        for word in before {
            let (found, answer) = search(&server, &ann, &format!("q={word}{everything}")).await;
            assert!(found.is_empty(), "{word}: {answer}");
        }
    }
    let (found, answer) = search(&server, &ann, "q=common&limit=1000").await;
    assert_eq!(found.len(), 1000, "{answer}");
    assert!(
        answer["next_cursor"].is_string(),
        "archived ones are left out, the rest paged"
    );
    Arc::try_unwrap(server).ok().unwrap().stop().await;
}
