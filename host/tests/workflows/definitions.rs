//! Workflow definitions through the real server: versions on every save,
//! who sees which workflow, and graphs refused with a 422 naming the node
//! or edge at fault, changing nothing.

use crate::support;

use reqwest::Method as M;
use serde_json::{Value, json};
use support::TestServer;

const WORKFLOWS: &str = "/api/v1/workflows";

fn transform(id: &str) -> Value {
    json!({ "id": id, "kind": "transform", "config": { "expression": "." } })
}

fn summarize_and_remember() -> Value {
    json!({
        "name": "summarize",
        "description": "Ask a model, remember the answer",
        "nodes": [
            transform("prepare"),
            { "id": "ask", "kind": "http", "config": { "url": "https://api.example.com/v1/chat", "credential": { "name": "MODEL_KEY", "bearer": "api_key" } } },
            { "id": "remember", "kind": "memory.append", "config": { "session_id": "{{input.session}}", "content": "{{ask.body.answer}}" } },
        ],
        "edges": [
            { "from": "prepare", "to": "ask" },
            { "from": "ask", "to": "remember" },
        ],
    })
}

#[tokio::test]
async fn every_save_is_a_version_and_members_see_only_their_own() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;

    let created = server
        .call_expecting(
            M::POST,
            WORKFLOWS,
            &ann,
            Some(summarize_and_remember()),
            201,
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["version"], 1);
    assert_eq!(
        created["nodes"][1]["config"]["credential"]["name"],
        "MODEL_KEY"
    );
    assert_eq!(
        created["edges"][0],
        json!({ "from": "prepare", "to": "ask" })
    );

    // A loop bounded by max_iterations, and a branch with a default.
    let mut second = summarize_and_remember();
    second["name"] = json!("summarize until short");
    second["nodes"] = json!([
        transform("prepare"),
        { "id": "again", "kind": "loop", "config": { "max_iterations": 3 } },
        transform("shorten"),
        { "id": "check", "kind": "branch" },
        transform("done"),
        transform("fallback"),
    ]);
    second["edges"] = json!([
        { "from": "prepare", "to": "again" },
        { "from": "again", "to": "shorten", "condition": ".length > 100" },
        { "from": "again", "to": "check" },
        { "from": "shorten", "to": "again" },
        { "from": "check", "to": "done", "condition": ".ok" },
        { "from": "check", "to": "fallback" },
    ]);
    let saved = server
        .call_expecting(
            M::PUT,
            &format!("{WORKFLOWS}/{id}"),
            &ann,
            Some(second),
            200,
        )
        .await;
    assert_eq!(saved["version"], 2);
    assert_eq!(
        saved["description"], "Ask a model, remember the answer",
        "kept when left out"
    );
    let got = server
        .call_expecting(M::GET, &format!("{WORKFLOWS}/{id}"), &ann, None, 200)
        .await;
    assert_eq!(got["name"], "summarize until short");
    assert_eq!(got["nodes"].as_array().unwrap().len(), 6);

    // Every version stays as it was saved, newest first.
    let first = server
        .call_expecting(
            M::GET,
            &format!("{WORKFLOWS}/{id}/versions/1"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(first["name"], "summarize");
    assert_eq!(first["nodes"][1]["id"], "ask");
    let versions = server
        .call_expecting(
            M::GET,
            &format!("{WORKFLOWS}/{id}/versions?limit=1"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(versions["items"][0]["version"], 2);
    let next = versions["next_cursor"].as_str().unwrap();
    let rest = server
        .call_expecting(
            M::GET,
            &format!("{WORKFLOWS}/{id}/versions?limit=1&cursor={next}"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(rest["items"][0]["version"], 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    let (status, body, _) = server
        .call(M::GET, &format!("{WORKFLOWS}/{id}/versions/3"), &ann, None)
        .await;
    assert_eq!(status, 404);
    assert!(body.to_string().contains("newest is 2"), "{body}");

    // Bob sees none of it; the admin sees all and may save.
    for path in [
        format!("{WORKFLOWS}/{id}"),
        format!("{WORKFLOWS}/{id}/versions"),
        format!("{WORKFLOWS}/{id}/versions/1"),
    ] {
        let (status, _, _) = server.call(M::GET, &path, &bob, None).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _, _) = server
        .call(
            M::PUT,
            &format!("{WORKFLOWS}/{id}"),
            &bob,
            Some(summarize_and_remember()),
        )
        .await;
    assert_eq!(status, 404);
    let listed = server
        .call_expecting(M::GET, WORKFLOWS, &bob, None, 200)
        .await;
    assert_eq!(listed["items"], json!([]));
    let listed = server
        .call_expecting(M::GET, WORKFLOWS, &admin, None, 200)
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let by_admin = server
        .call_expecting(
            M::PUT,
            &format!("{WORKFLOWS}/{id}"),
            &admin,
            Some(summarize_and_remember()),
            200,
        )
        .await;
    assert_eq!(by_admin["version"], 3);
    assert_eq!(by_admin["owner"], created["owner"]);

    server
        .call_expecting(M::DELETE, &format!("{WORKFLOWS}/{id}"), &ann, None, 204)
        .await;
    let (status, _, _) = server
        .call(M::GET, &format!("{WORKFLOWS}/{id}/versions/1"), &ann, None)
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_graph_is_refused_naming_the_node_or_edge_and_changes_nothing() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let kept = server
        .call_expecting(
            M::POST,
            WORKFLOWS,
            &ann,
            Some(summarize_and_remember()),
            201,
        )
        .await;
    let id = kept["id"].as_str().unwrap().to_string();
    let with =
        |nodes: Value, edges: Value| json!({ "name": "bad", "nodes": nodes, "edges": edges });
    let cases = [
        (
            with(json!([{ "id": "a", "kind": "teleport" }]), json!([])),
            "nodes[0].kind",
            "unknown node kind `teleport` (node `a`)",
        ),
        (
            with(
                json!([transform("a")]),
                json!([{ "from": "a", "to": "ghost" }]),
            ),
            "edges[0].to",
            "no node has the id `ghost`",
        ),
        (
            with(json!([transform("a"), transform("island")]), json!([])),
            "nodes[1]",
            "node `island` cannot be reached",
        ),
        (
            with(
                json!([{ "id": "call", "kind": "http", "config": {} }]),
                json!([]),
            ),
            "nodes[0].config.url",
            "required by a http node (node `call`)",
        ),
        (
            with(
                json!([transform("a"), transform("b"), transform("c")]),
                json!([{ "from": "a", "to": "b" }, { "from": "b", "to": "c" }, { "from": "c", "to": "b" }]),
            ),
            "edges",
            "nodes `b`, `c` form a cycle that passes through no loop node",
        ),
        (
            with(
                json!([{ "id": "l", "kind": "loop", "config": { "max_iterations": 100000 } }]),
                json!([]),
            ),
            "nodes[0].config.max_iterations",
            "from 1 to 10000",
        ),
        (
            with(json!([transform("a"), transform("a")]), json!([])),
            "nodes[1].id",
            "unique",
        ),
        (
            json!({ "name": "", "nodes": [transform("a")] }),
            "name",
            "1 to 200",
        ),
        (
            json!({ "name": "x", "nodes": [[1, 2, 3]] }),
            "nodes[0]",
            "JSON object",
        ),
        (
            json!({ "name": "x", "nodes": [transform("a")], "start": "a" }),
            "start",
            "unknown field",
        ),
    ];
    for (body, field, says) in cases {
        for (method, path) in [
            (M::POST, WORKFLOWS.to_string()),
            (M::PUT, format!("{WORKFLOWS}/{id}")),
        ] {
            let (status, answer, _) = server
                .call(method.clone(), &path, &ann, Some(body.clone()))
                .await;
            assert_eq!(status, 422, "{method} {body}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with(field),
                "{body}: {answer} should name `{field}`"
            );
            assert!(
                message.contains(says),
                "{body}: {answer} should say `{says}`"
            );
        }
    }
    let listed = server
        .call_expecting(M::GET, WORKFLOWS, &ann, None, 200)
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "nothing made");
    assert_eq!(listed["items"][0]["version"], 1, "nothing saved");
    server.stop().await;
}

#[tokio::test]
async fn deeply_nested_expressions_are_checked_without_harm_to_the_server() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let deep = [
        format!("{}1", "-".repeat(4000)),
        format!("{}1{}", "[".repeat(2000), "]".repeat(2000)),
        format!("{}.{}", "(".repeat(2000), ")".repeat(2000)),
        vec!["1"; 2000].join("+"),
    ];
    for expression in deep {
        let body = json!({
            "name": "deep",
            "nodes": [{ "id": "t", "kind": "transform", "config": { "expression": expression } }],
        });
        let (status, answer, _) = server.call(M::POST, WORKFLOWS, &ann, Some(body)).await;
        assert!(status == 201 || status == 422, "{status}: {answer}");
    }
    // Still serving.
    let listed = server
        .call_expecting(M::GET, WORKFLOWS, &ann, None, 200)
        .await;
    assert!(listed["items"].is_array());
    server.stop().await;
}
