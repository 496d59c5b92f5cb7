//! Workflow node kinds that plugins run, on a real server with real
//! compiled plugins: the `node-probe` fixture's `shout` and the bundled
//! `workflows` plugin's `transform` and `choose`. A graph may use a kind
//! only while a plugin runs it, with a config its schema accepts; a step
//! runs in a fresh instance with the plugin's grants, as the user who
//! started it, and keeps its writes only when it gives an output.

use crate::support;

use kai_host::domain::workflow::{NodeStep, StepFailure};
use kai_host::domain::{Principal, Role};
use kai_host::plugins::invoke;
use kai_host::services::Session;
use reqwest::Method as M;
use serde_json::{Value, json};
use std::sync::Arc;
use support::TestServer;

const WORKFLOWS: &str = "/api/v1/workflows";

fn one_node(kind: &str, config: Value) -> Value {
    json!({ "name": "one", "nodes": [{ "id": "a", "kind": kind, "config": config }], "edges": [] })
}

/// Runs one step of the kind `kind` (`<plugin>.<kind>`) as `user`.
async fn step(
    server: &TestServer,
    kind: &str,
    config: Value,
    input: Value,
    user: &str,
    key: &str,
) -> Result<Value, StepFailure> {
    let set = server.state.control.plugins.snapshot();
    let (entry, name) = set
        .node_runner(kind)
        .expect("an enabled plugin runs the kind");
    let Value::Object(config) = config else {
        panic!("a config is an object")
    };
    // As the runner does: the step's writes kept only with its output.
    let session = Arc::new(Session::new(server.state.db.clone()));
    let result = invoke::run_node(
        &server.state.hooks,
        &entry.plugin,
        &entry.grant,
        session.clone(),
        NodeStep {
            kind: name.to_string(),
            config,
            input,
            execution_id: "exec-1".into(),
            node_id: "a".into(),
            attempt: 1,
            idempotency_key: key.into(),
            principal: Principal::new(user, Role::Member),
            request_id: "test".into(),
        },
        None,
    )
    .await;
    match &result {
        Ok(_) => server.state.core.commit(&session).await.unwrap(),
        Err(_) => session.rollback().await,
    }
    result
}

#[tokio::test]
async fn plugin_node_kinds_are_checked_at_save_and_run_sandboxed_as_one_unit_of_work() {
    let server = TestServer::with_fixture("node-probe").await;
    let ann = server.user("ann@example.com", false).await;
    let me = server
        .call_expecting(M::GET, "/api/v1/me", &ann, None, 200)
        .await;
    let ann_id = me["id"].as_str().unwrap().to_string();

    // Saved only with a config the kind's schema accepts, the place named.
    for (config, field, says) in [
        (
            json!({ "suffix": 5 }),
            "graph.nodes[0].config.suffix",
            "string",
        ),
        (json!({}), "graph.nodes[0].config", "suffix"),
        (
            json!({ "suffix": "!", "loud": true }),
            "graph.nodes[0].config",
            "loud",
        ),
        (
            json!({ "suffix": "!", "times": 9 }),
            "graph.nodes[0].config.times",
            "3",
        ),
    ] {
        let (status, answer, _) = server
            .call(
                M::POST,
                WORKFLOWS,
                &ann,
                Some(one_node("node-probe.shout", config.clone())),
            )
            .await;
        assert_eq!(status, 422, "{config}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(field.trim_start_matches("graph.")) && message.contains(says),
            "{config}: {message} should name {field} and say {says}"
        );
        assert!(message.contains("node-probe.shout"), "{message}");
    }
    let (status, answer, _) = server
        .call(
            M::POST,
            WORKFLOWS,
            &ann,
            Some(one_node("node-probe.whisper", json!({}))),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer
            .to_string()
            .contains("unknown node kind `node-probe.whisper`")
    );
    let listed = server
        .call_expecting(M::GET, WORKFLOWS, &ann, None, 200)
        .await;
    assert_eq!(listed["items"], json!([]), "nothing saved");
    server
        .call_expecting(
            M::POST,
            WORKFLOWS,
            &ann,
            Some(one_node(
                "node-probe.shout",
                json!({ "suffix": "!", "times": 2 }),
            )),
            201,
        )
        .await;
    server
        .call_expecting(
            M::POST,
            WORKFLOWS,
            &ann,
            Some(one_node(
                "workflows.transform",
                json!({ "expression": ".a" }),
            )),
            201,
        )
        .await;

    // A step runs as the user who started it, with the plugin's grant (kv).
    let out = step(
        &server,
        "node-probe.shout",
        json!({ "suffix": "!", "times": 2 }),
        json!({ "text": "hi" }),
        &ann_id,
        "k1",
    )
    .await
    .unwrap();
    assert_eq!(out["text"], "HIHI!");
    assert_eq!(out["runs"], 1);
    assert_eq!(out["by"], ann_id.as_str());
    let runs = |key: &'static str| {
        let server = &server;
        let ann = ann.clone();
        async move {
            server
                .call_expecting(
                    M::GET,
                    &format!("/api/v1/node-probe/runs/{key}"),
                    &ann,
                    None,
                    200,
                )
                .await["runs"]
                .clone()
        }
    };
    assert_eq!(runs("k1").await, 1, "the step's write was kept");

    // A failed step keeps nothing it wrote, and says whether to try again.
    for (fail, expected) in [
        ("retry", StepFailure::Retry("asked to fail for now".into())),
        ("fail", StepFailure::Failed("asked to fail for good".into())),
    ] {
        let failed = step(
            &server,
            "node-probe.shout",
            json!({ "suffix": "" }),
            json!({ "text": "x", "fail": fail }),
            &ann_id,
            "k2",
        )
        .await;
        assert_eq!(failed, Err(expected));
    }
    assert_eq!(runs("k2").await, 0, "failed steps' writes were undone");

    // The bundled plugin runs jq in the sandbox.
    let out = step(
        &server,
        "workflows.transform",
        json!({ "expression": "{total: ([.items[].n] | add), names: [.items[].name]}" }),
        json!({ "items": [{ "n": 2, "name": "a" }, { "n": 3, "name": "b" }] }),
        &ann_id,
        "k3",
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "total": 5, "names": ["a", "b"] }));
    let chosen = step(
        &server,
        "workflows.choose",
        json!({ "conditions": [".n > 10", ".n > 1"] }),
        json!({ "n": 4 }),
        &ann_id,
        "k4",
    )
    .await
    .unwrap();
    assert_eq!(chosen, json!({ "index": 1 }));
    let Err(StepFailure::Failed(message)) = step(
        &server,
        "workflows.transform",
        json!({ "expression": ".a + 1" }),
        json!({ "a": "text" }),
        &ann_id,
        "k5",
    )
    .await
    else {
        panic!("a jq error fails the step for good");
    };
    assert!(message.contains(".a + 1"), "{message}");

    // A jq expression that never ends is stopped at the plugin's deadline,
    // and the step may be tried again.
    let started = std::time::Instant::now();
    let endless = step(
        &server,
        "workflows.transform",
        json!({ "expression": "last(repeat(1))" }),
        json!(null),
        &ann_id,
        "k6",
    )
    .await;
    assert!(
        matches!(&endless, Err(StepFailure::Retry(message)) if message.contains("workflows")),
        "{endless:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    server.stop().await;
}
