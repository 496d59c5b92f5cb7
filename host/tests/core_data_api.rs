//! The core data API over HTTP: collections and documents, validation that
//! names the field and changes nothing, ownership between principals,
//! ETags with If-Match / If-None-Match, filters, cursor pagination, bulk.

mod support;

use serde_json::{Value, json};
use support::{M, TestServer};

struct World {
    server: TestServer,
    alice: String,
    bob: String,
    admin: String,
}

async fn world() -> World {
    let server = TestServer::start().await;
    let alice = server.user("alice@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let admin = server.admin_token.clone();
    World {
        server,
        alice,
        bob,
        admin,
    }
}

async fn collection(w: &World, token: &str, name: &str) -> String {
    let (status, body, headers) = w
        .server
        .call(
            M::POST,
            "/api/v1/collections",
            token,
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(headers["location"], format!("/api/v1/collections/{id}"));
    id
}

async fn document(w: &World, token: &str, collection: &str, body: Value) -> Value {
    let (status, body, _) = w
        .server
        .call(
            M::POST,
            &format!("/api/v1/collections/{collection}/documents"),
            token,
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test]
async fn collections_crud_and_rules() {
    let w = world().await;
    let id = collection(&w, &w.alice, "Research").await;

    // Unique per owner: Alice again is a conflict, Bob may use the name.
    let (status, body, _) = w
        .server
        .call(
            M::POST,
            "/api/v1/collections",
            &w.alice,
            Some(json!({ "name": "Research" })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Research")
    );
    collection(&w, &w.bob, "Research").await;

    // Bob cannot see or change Alice's collection; the admin can.
    for (method, body) in [
        (M::GET, None),
        (M::PATCH, Some(json!({ "name": "x" }))),
        (M::DELETE, None),
    ] {
        let (status, _, _) = w
            .server
            .call(method, &format!("/api/v1/collections/{id}"), &w.bob, body)
            .await;
        assert_eq!(status, 404);
    }
    let (status, body, _) = w
        .server
        .call(M::GET, &format!("/api/v1/collections/{id}"), &w.admin, None)
        .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Research")));

    let (status, body, _) = w
        .server
        .call(
            M::PATCH,
            &format!("/api/v1/collections/{id}"),
            &w.alice,
            Some(json!({ "description": "papers", "metadata": { "team": "r&d" } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["description"], "papers");
    assert_eq!(body["metadata"]["team"], "r&d");

    // Listing is per owner; admins see everyone's.
    let (_, alice_list, _) = w
        .server
        .call(M::GET, "/api/v1/collections", &w.alice, None)
        .await;
    assert_eq!(alice_list["items"].as_array().unwrap().len(), 1);
    let (_, admin_list, _) = w
        .server
        .call(M::GET, "/api/v1/collections", &w.admin, None)
        .await;
    assert_eq!(admin_list["items"].as_array().unwrap().len(), 2);

    // A collection with documents cannot be deleted; an empty one can.
    document(&w, &w.alice, &id, json!({ "title": "a" })).await;
    let (status, body, _) = w
        .server
        .call(
            M::DELETE,
            &format!("/api/v1/collections/{id}"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let empty = collection(&w, &w.alice, "Empty").await;
    let (status, _, _) = w
        .server
        .call(
            M::DELETE,
            &format!("/api/v1/collections/{empty}"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = w
        .server
        .call(
            M::GET,
            &format!("/api/v1/collections/{empty}"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(status, 404);
    w.server.stop().await;
}

#[tokio::test]
async fn bad_input_names_the_problem_and_changes_nothing() {
    let w = world().await;
    let id = collection(&w, &w.alice, "Inbox").await;
    let docs = format!("/api/v1/collections/{id}/documents");
    let long_title = "t".repeat(501);
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({ "title": "" }), 422, "title"),
        (json!({ "title": "   " }), 422, "title"),
        (json!({ "title": long_title }), 422, "title"),
        (json!({ "title": "x", "format": "pdf" }), 422, "format"),
        (
            json!({ "title": "x", "format": "json", "content": "{not json" }),
            422,
            "content",
        ),
        (json!({ "title": "x", "metadata": [1, 2] }), 422, "metadata"),
        (json!({ "title": "x", "tags": ["ok", ""] }), 422, "tags[1]"),
        (json!({ "title": "x", "colour": "red" }), 422, "colour"),
        (json!({ "title": 7 }), 422, "title"),
        (json!({ "content": "no title" }), 422, "title"),
    ];
    for (body, status, field) in cases {
        let (got, answer, _) = w
            .server
            .call(M::POST, &docs, &w.alice, Some(body.clone()))
            .await;
        assert_eq!(got, status, "{body} -> {answer}");
        let text = answer["error"].to_string();
        assert!(
            text.contains(field),
            "{body}: error should name `{field}`: {answer}"
        );
    }
    // Content over the configured limit (1 MiB by default).
    let big = "x".repeat((1 << 20) + 1);
    let (status, answer, _) = w
        .server
        .call(
            M::POST,
            &docs,
            &w.alice,
            Some(json!({ "title": "big", "content": big })),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("content")
    );

    // Malformed JSON, the wrong media type, malformed ids, unknown params.
    let response = w
        .server
        .client
        .post(w.server.url(&docs))
        .bearer_auth(&w.alice)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = support::json_of(response).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let response = w
        .server
        .client
        .post(w.server.url(&docs))
        .bearer_auth(&w.alice)
        .body("title=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let (status, body, _) = w
        .server
        .call(M::GET, "/api/v1/documents/not-a-uuid", &w.alice, None)
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not-a-uuid")
    );
    let (status, body, _) = w
        .server
        .call(M::GET, &format!("{docs}?colour=red"), &w.alice, None)
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    let (status, _, _) = w
        .server
        .call(M::GET, &format!("{docs}?limit=0"), &w.alice, None)
        .await;
    assert_eq!(status, 400);
    let (status, _, _) = w
        .server
        .call(
            M::GET,
            &format!("{docs}?created_after=yesterday"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(status, 400);

    // Nothing of the above was written.
    let (_, list, _) = w.server.call(M::GET, &docs, &w.alice, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    w.server.stop().await;
}

#[tokio::test]
async fn documents_carry_derived_fields_etags_and_versions() {
    let w = world().await;
    let id = collection(&w, &w.alice, "Notes").await;
    let doc = document(
        &w,
        &w.alice,
        &id,
        json!({ "title": "  First  ", "content": "one two  three", "format": "md", "tags": ["a", "b", "a"], "metadata": { "k": 1 } }),
    )
    .await;
    let doc_id = doc["id"].as_str().unwrap().to_string();
    assert_eq!(doc["title"], "First");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["word_count"], 3);
    assert_eq!(doc["size_bytes"], 14);
    assert_eq!(doc["tags"], json!(["a", "b"]));
    assert_eq!(doc["content_hash"], sha256_hex("one two  three"));
    assert!(doc["owner"].is_string());
    assert!(doc["archived_at"].is_null());

    let path = format!("/api/v1/documents/{doc_id}");
    let (status, body, headers) = w.server.call(M::GET, &path, &w.alice, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!(body["content"], "one two  three");

    // A conditional GET with the current ETag is a 304.
    let response = w
        .server
        .client
        .get(w.server.url(&path))
        .bearer_auth(&w.alice)
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);

    // PATCH with the right If-Match bumps the version; a stale one is 412
    // and changes nothing.
    let patched = w
        .server
        .client
        .patch(w.server.url(&path))
        .bearer_auth(&w.alice)
        .header("if-match", "\"1\"")
        .json(&json!({ "content": "changed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.headers()["etag"], "\"2\"");
    let (status, body) = support::json_of(patched).await;
    assert_eq!((status, body["version"].as_i64()), (200, Some(2)));
    assert_eq!(body["word_count"], 1);
    let stale = w
        .server
        .client
        .put(w.server.url(&path))
        .bearer_auth(&w.alice)
        .header("if-match", "\"1\"")
        .json(&json!({ "title": "lost update", "content": "x" }))
        .send()
        .await
        .unwrap();
    let (status, body) = support::json_of(stale).await;
    assert_eq!(status, 412, "{body}");
    let (_, current, _) = w.server.call(M::GET, &path, &w.alice, None).await;
    assert_eq!(
        (current["title"].as_str(), current["version"].as_i64()),
        (Some("First"), Some(2))
    );

    // PUT replaces everything; a no-op PATCH makes no new version.
    let (status, body, _) = w
        .server
        .call(
            M::PUT,
            &path,
            &w.alice,
            Some(json!({ "title": "Replaced", "content": "new", "format": "txt" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["version"].as_i64(), body["tags"].clone()),
        (Some(3), json!([]))
    );
    let (_, body, _) = w
        .server
        .call(
            M::PATCH,
            &path,
            &w.alice,
            Some(json!({ "title": "Replaced" })),
        )
        .await;
    assert_eq!(body["version"], 3);

    // Archive, then delete with a stale and a fresh If-Match.
    let (_, body, _) = w
        .server
        .call(M::PATCH, &path, &w.alice, Some(json!({ "archived": true })))
        .await;
    assert!(body["archived_at"].is_string());
    let stale_delete = w
        .server
        .client
        .delete(w.server.url(&path))
        .bearer_auth(&w.alice)
        .header("if-match", "\"3\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale_delete.status(), 412);
    let delete = w
        .server
        .client
        .delete(w.server.url(&path))
        .bearer_auth(&w.alice)
        .header("if-match", "\"4\"")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    let (status, _, _) = w.server.call(M::GET, &path, &w.alice, None).await;
    assert_eq!(status, 404);
    w.server.stop().await;
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn other_principals_get_404_and_admins_see_all() {
    let w = world().await;
    let id = collection(&w, &w.alice, "Private").await;
    let doc = document(&w, &w.alice, &id, json!({ "title": "secret" })).await;
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    for (method, body) in [
        (M::GET, None),
        (M::PATCH, Some(json!({ "title": "mine now" }))),
        (M::PUT, Some(json!({ "title": "mine now", "content": "" }))),
        (M::DELETE, None),
    ] {
        let (status, _, _) = w.server.call(method, &path, &w.bob, body).await;
        assert_eq!(status, 404);
    }
    let (status, _, _) = w
        .server
        .call(
            M::GET,
            &format!("/api/v1/collections/{id}/documents"),
            &w.bob,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = w
        .server
        .call(
            M::POST,
            &format!("/api/v1/collections/{id}/documents"),
            &w.bob,
            Some(json!({ "title": "planted" })),
        )
        .await;
    assert_eq!(status, 404);

    // The admin can read and edit; the document stays Alice's.
    let (status, body, _) = w
        .server
        .call(
            M::PATCH,
            &path,
            &w.admin,
            Some(json!({ "title": "edited by admin" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["owner"], doc["owner"]);
    let (_, body, _) = w.server.call(M::GET, &path, &w.alice, None).await;
    assert_eq!(body["title"], "edited by admin");
    w.server.stop().await;
}

#[tokio::test]
async fn lists_filter_and_paginate_in_a_stable_order() {
    let w = world().await;
    let id = collection(&w, &w.alice, "Many").await;
    let docs = format!("/api/v1/collections/{id}/documents");
    let mut expected = Vec::new();
    for i in 0..23 {
        let format = if i % 3 == 0 { "md" } else { "txt" };
        let tags = if i % 2 == 0 {
            json!(["even"])
        } else {
            json!(["odd"])
        };
        let content = if i == 7 { "the Needle is here" } else { "hay" };
        let doc = document(
            &w,
            &w.alice,
            &id,
            json!({ "title": format!("doc {i:02}"), "format": format, "tags": tags, "content": content }),
        )
        .await;
        expected.push(doc["id"].as_str().unwrap().to_string());
    }
    // Archive one: hidden unless asked for.
    w.server
        .call(
            M::PATCH,
            &format!("/api/v1/documents/{}", expected[1]),
            &w.alice,
            Some(json!({ "archived": true })),
        )
        .await;

    // Walk all pages of 5: every active document once, in creation order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{docs}?limit=5");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page, _) = w.server.call(M::GET, &path, &w.alice, None).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            assert!(
                item.get("content").is_none(),
                "lists omit content unless asked"
            );
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let active: Vec<String> = expected
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(seen, active);

    let count = |body: &Value| body["items"].as_array().unwrap().len();
    let (_, body, _) = w
        .server
        .call(
            M::GET,
            &format!("{docs}?tag=even&limit=100"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(count(&body), 12);
    let (_, body, _) = w
        .server
        .call(
            M::GET,
            &format!("{docs}?format=md&limit=100"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(count(&body), 8);
    let (_, body, _) = w
        .server
        .call(
            M::GET,
            &format!("{docs}?q=needle&include=content"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(count(&body), 1);
    assert_eq!(body["items"][0]["content"], "the Needle is here");
    let (_, body, _) = w
        .server
        .call(
            M::GET,
            &format!("{docs}?include_archived=true&limit=100"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(count(&body), 23);
    let (_, body, _) = w
        .server
        .call(
            M::GET,
            &format!("{docs}?sort=-title&limit=3"),
            &w.alice,
            None,
        )
        .await;
    let titles: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["doc 22", "doc 21", "doc 20"]);
    let far_future = "2999-01-01T00:00:00Z";
    let (_, body, _) = w
        .server
        .call(
            M::GET,
            &format!("{docs}?created_after={far_future}"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(count(&body), 0);
    let (_, body, _) = w
        .server
        .call(
            M::GET,
            &format!(
                "{docs}?created_before={far_future}&updated_after=2000-01-01T00:00:00Z&limit=100"
            ),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(count(&body), 22);
    w.server.stop().await;
}

#[tokio::test]
async fn bulk_creates_all_or_nothing() {
    let w = world().await;
    let id = collection(&w, &w.alice, "Bulk").await;
    let bulk = format!("/api/v1/collections/{id}/documents:bulk");
    let mut documents: Vec<Value> = (0..1000)
        .map(|i| json!({ "title": format!("bulk {i}"), "tags": ["b"] }))
        .collect();
    documents[417] = json!({ "title": "" });
    let (status, body, _) = w
        .server
        .call(
            M::POST,
            &bulk,
            &w.alice,
            Some(json!({ "documents": documents })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("documents[417].title"),
        "{body}"
    );
    let (_, list, _) = w
        .server
        .call(
            M::GET,
            &format!("/api/v1/collections/{id}/documents"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "nothing was written"
    );

    documents[417] = json!({ "title": "fixed", "tags": ["b"] });
    let (status, body, _) = w
        .server
        .call(
            M::POST,
            &bulk,
            &w.alice,
            Some(json!({ "documents": documents })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 1000);
    let (_, list, _) = w
        .server
        .call(
            M::GET,
            &format!("/api/v1/collections/{id}/documents?tag=b&limit=1000"),
            &w.alice,
            None,
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1000);

    documents.push(json!({ "title": "one too many" }));
    let (status, body, _) = w
        .server
        .call(
            M::POST,
            &bulk,
            &w.alice,
            Some(json!({ "documents": documents })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    w.server.stop().await;
}
