//! Runs started by triggers on a real server: a document event (the
//! end-to-end case: a new document sent to a stand-in model API with the
//! owner's credential injected, the answer written back into the document
//! and appended to a conversation), a webhook with its secret, rate limit
//! and rotation, and a cron schedule whose ticks missed while the server
//! was down run once.

use super::executions::{WORKFLOWS, ended, stand_in, transform, workflow};
use crate::support;
use reqwest::Method as M;
use serde_json::{Value, json};
use support::TestServer;

/// The runs of `workflow` (newest first), as the list gives them.
async fn runs(server: &TestServer, token: &str, workflow: &str) -> Vec<Value> {
    server
        .call_expecting(
            M::GET,
            &format!("{WORKFLOWS}/{workflow}/executions?limit=1000"),
            token,
            None,
            200,
        )
        .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The run of `workflow` at `path` once ended, read by its id.
async fn run_of(server: &TestServer, token: &str, workflow: &str, id: &str) -> Value {
    ended(
        server,
        token,
        &format!("{WORKFLOWS}/{workflow}/executions/{id}"),
    )
    .await
}

#[tokio::test]
async fn a_new_document_goes_through_a_model_api_and_back_into_the_document() {
    let (port, seen) = stand_in().await;
    let origin = format!("http://127.0.0.1:{port}");
    let server = support::Setup::new()
        .await
        .configure(|config| config.workflow_outbound_hosts = vec![origin.clone()])
        .start()
        .await;
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let secret = "sk-live-7d2e";
    server
        .call_expecting(
            M::POST,
            "/api/v1/credentials",
            &ann,
            Some(json!({
                "name": "MODEL_KEY", "service_type": "model",
                "secret": { "api_key": secret }, "allowed_plugins": ["workflows"],
            })),
            201,
        )
        .await;
    let (inbox, _) = server.collection_with_document(&ann, "before").await;
    let (elsewhere, _) = server.collection_with_document(&ann, "other").await;
    let session = server
        .call_expecting(
            M::POST,
            "/api/v1/memory/sessions",
            &ann,
            Some(json!({ "name": "answers" })),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let on = |event: &str, collection: &str| json!([{ "type": "event", "event": event, "collection_id": collection }]);
    let mut answer = json!({
        "nodes": [
            {
                "id": "ask", "kind": "http",
                "config": {
                    "url": format!("{origin}/v1/chat"),
                    "body": { "prompt": "{{ run.document.content }}" },
                    "credential": { "name": "MODEL_KEY", "bearer": "api_key" },
                },
            },
            {
                "id": "save", "kind": "document.update",
                "config": {
                    "document_id": "{{ run.document.id }}",
                    "metadata": { "answer": "{{ input.body.answer }}" },
                },
            },
            {
                "id": "remember", "kind": "memory.append",
                "config": { "session_id": session, "content": "{{ input.metadata.answer }}" },
            },
        ],
        "edges": [{ "from": "ask", "to": "save" }, { "from": "save", "to": "remember" }],
        "triggers": on("document.created", &inbox),
    });
    let answering = workflow(&server, &ann, answer.take()).await;
    // Waits for updates of the same collection: the run's own update must
    // not start it, a person's must.
    let mut watch = json!({
        "nodes": [transform("seen", ".document.title")],
        "triggers": on("document.updated", &inbox),
    });
    let watching = workflow(&server, &ann, watch.take()).await;

    let document = server
        .call_expecting(
            M::POST,
            &format!("/api/v1/collections/{inbox}/documents"),
            &ann,
            Some(json!({ "title": "q1", "content": "what is rust?" })),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let started = server
        .eventually(30, || async {
            let runs = runs(&server, &ann, &answering).await;
            (runs.len() == 1).then_some(runs)
        })
        .await;
    assert_eq!(started[0]["trigger"], "event");
    let run = run_of(
        &server,
        &ann,
        &answering,
        started[0]["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["input"]["event"], "document.created");
    assert_eq!(run["input"]["document"]["id"], document.as_str());

    let saved = server
        .call_expecting(
            M::GET,
            &format!("/api/v1/documents/{document}"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(saved["metadata"]["answer"], "echo: what is rust?");
    let messages = server
        .call_expecting(
            M::GET,
            &format!("/api/v1/memory/sessions/{session}/messages"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(messages["items"][0]["content"], "echo: what is rust?");
    let request = seen.lock().unwrap()[0].clone();
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {secret}").as_str()),
        "the stand-in received the credential"
    );
    assert_eq!(request.body, json!({ "prompt": "what is rust?" }));
    assert!(
        !run.to_string().contains(secret),
        "the workflow never saw the credential: {run}"
    );

    // The run's update started nothing; a document elsewhere starts
    // nothing; a person's update starts the watcher.
    server
        .call_expecting(
            M::POST,
            &format!("/api/v1/collections/{elsewhere}/documents"),
            &ann,
            Some(json!({ "title": "q2", "content": "not here" })),
            201,
        )
        .await;
    server
        .call_expecting(
            M::PATCH,
            &format!("/api/v1/documents/{document}"),
            &ann,
            Some(json!({ "title": "q1 (read)" })),
            200,
        )
        .await;
    let watched = server
        .eventually(30, || async {
            let runs = runs(&server, &ann, &watching).await;
            (!runs.is_empty()).then_some(runs)
        })
        .await;
    let run = run_of(&server, &ann, &watching, watched[0]["id"].as_str().unwrap()).await;
    assert_eq!(run["output"], "q1 (read)");
    assert_eq!(runs(&server, &ann, &watching).await.len(), 1);
    assert_eq!(runs(&server, &ann, &answering).await.len(), 1);
    assert_eq!(seen.lock().unwrap().len(), 1);

    // An admin editing ann's workflow cannot make it wait on a collection
    // ann does not see: its runs act as ann.
    let (bobs, _) = server.collection_with_document(&bob, "bob's").await;
    let body = json!({
        "name": "watch", "nodes": [transform("seen", ".document.title")],
        "triggers": on("document.updated", &bobs),
    });
    let (status, answer, _) = server
        .call(
            M::PUT,
            &format!("{WORKFLOWS}/{watching}"),
            &server.admin_token,
            Some(body),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("triggers[0].collection_id"),
        "{answer}"
    );

    // Triggers are checked: another member's collection, an event no
    // trigger waits for, a field of another type.
    for (triggers, field) in [
        (on("document.created", &inbox), "triggers[0].collection_id"),
        (on("collection.created", &inbox), "triggers[0].event"),
        (
            json!([{ "type": "webhook", "cron": "* * * * *" }]),
            "triggers[0].cron",
        ),
    ] {
        let body = json!({ "name": "t", "nodes": [transform("t", ".")], "triggers": triggers });
        let (status, answer, _) = server.call(M::POST, WORKFLOWS, &bob, Some(body)).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{answer}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_webhook_starts_runs_with_its_secret_and_is_rate_limited() {
    let server = support::Setup::new()
        .await
        .configure(|config| {
            config.webhook_calls_per_minute = 3;
            config.auth_failures_per_minute = 6;
        })
        .start()
        .await;
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let saved = server
        .call_expecting(
            M::POST,
            WORKFLOWS,
            &ann,
            Some(json!({
                "name": "hook",
                "nodes": [transform("pick", ".body.order")],
                "triggers": [{ "type": "webhook" }],
            })),
            201,
        )
        .await;
    let id = saved["id"].as_str().unwrap().to_string();
    let url = saved["webhook_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("/api/v1/hooks/{id}/")), "{url}");
    let shown = server
        .call_expecting(M::GET, &format!("{WORKFLOWS}/{id}"), &ann, None, 200)
        .await;
    assert!(shown.get("webhook_url").is_none(), "shown once: {shown}");
    assert_eq!(shown["triggers"], json!([{ "type": "webhook" }]));

    let hook = |path: String, body: Option<Value>| {
        let server = &server;
        async move {
            let response = server.send(M::POST, &path, None, body.as_ref()).await;
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").cloned();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body, retry_after)
        }
    };
    // No token: the secret is the credential.
    let (status, accepted, _) = hook(url.clone(), Some(json!({ "order": 42 }))).await;
    assert_eq!(status, 202, "{accepted}");
    let run = run_of(
        &server,
        &ann,
        &id,
        accepted["execution_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        (run["status"].as_str(), &run["output"]),
        (Some("succeeded"), &json!(42))
    );
    assert_eq!(run["trigger"], "webhook");

    // Wrong secrets, unknown workflows and bad bodies start nothing.
    let wrong = format!("/api/v1/hooks/{id}/{}", "0".repeat(64));
    assert_eq!(hook(wrong.clone(), None).await.0, 404);
    assert_eq!(hook("/api/v1/hooks/nope/x".into(), None).await.0, 404);
    let response = server
        .client
        .post(server.url(&url))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);

    // A new secret: the old one stops working. Another member gets a 404.
    let (status, _, _) = server
        .call(M::POST, &format!("{WORKFLOWS}/{id}/webhook"), &bob, None)
        .await;
    assert_eq!(status, 404);
    let rotated = server
        .call_expecting(
            M::POST,
            &format!("{WORKFLOWS}/{id}/webhook"),
            &ann,
            None,
            200,
        )
        .await;
    let new_url = rotated["webhook_url"].as_str().unwrap().to_string();
    assert_ne!(new_url, url);
    assert_eq!(hook(url.clone(), None).await.0, 404);
    // One more right call uses up the three a minute (the call with a
    // body that is not JSON counted: it had the secret); the next is a 429.
    assert_eq!(hook(new_url.clone(), None).await.0, 202);
    let (status, _, retry_after) = hook(new_url.clone(), None).await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some());
    assert_eq!(runs(&server, &ann, &id).await.len(), 2);

    // Without its webhook trigger the workflow answers no call, and has no
    // secret to renew.
    server
        .call_expecting(
            M::PUT,
            &format!("{WORKFLOWS}/{id}"),
            &ann,
            Some(json!({ "name": "hook", "nodes": [transform("pick", ".")], "triggers": [] })),
            200,
        )
        .await;
    assert_eq!(hook(new_url.clone(), None).await.0, 404);
    let (status, _, _) = server
        .call(M::POST, &format!("{WORKFLOWS}/{id}/webhook"), &ann, None)
        .await;
    assert_eq!(status, 409);

    // Wrong secrets count as failed authentications of the address.
    let mut last = 0;
    for _ in 0..4 {
        last = hook(wrong.clone(), None).await.0;
    }
    assert_eq!(last, 429);
    server.stop().await;
}

/// When the schedule run `run` was due, as its input says.
fn scheduled_at(run: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(run["input"]["scheduled_at"].as_str().unwrap()).unwrap()
}

fn created_at(run: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(run["created_at"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_schedule_runs_each_tick_once_and_ticks_missed_while_down_once() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let id = workflow(
        &server,
        &ann,
        json!({
            "nodes": [transform("tick", ".scheduled_at")],
            "triggers": [{ "type": "schedule", "cron": "* * * * * *" }],
        }),
    )
    .await;
    server
        .eventually(30, || async {
            (runs(&server, &ann, &id).await.len() >= 2).then_some(())
        })
        .await;
    let (data_dir, database_url, _temp) = server.stop_keeping_data().await;
    // Four ticks pass with no server.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let restarted_at = chrono::Utc::now();
    let server = support::Setup::reuse(data_dir, database_url).start().await;
    let since_restart = |runs: &[Value]| {
        runs.iter()
            .filter(|r| created_at(r) >= restarted_at)
            .cloned()
            .collect::<Vec<_>>()
    };
    let all = server
        .eventually(30, || async {
            let runs = runs(&server, &ann, &id).await;
            (since_restart(&runs).len() >= 3).then_some(runs)
        })
        .await;
    let mut ticks = Vec::new();
    let mut caught_up = 0;
    for listed in &all {
        let run = run_of(&server, &ann, &id, listed["id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["trigger"], "schedule");
        let at = scheduled_at(&run);
        if created_at(&run) >= restarted_at && at < restarted_at {
            caught_up += 1;
        }
        ticks.push(at);
    }
    let distinct: std::collections::BTreeSet<_> = ticks.iter().collect();
    assert_eq!(
        distinct.len(),
        ticks.len(),
        "each tick runs once: {ticks:?}"
    );
    assert_eq!(
        caught_up, 1,
        "the ticks missed while the server was down run once: {ticks:?}"
    );
    server.stop().await;
}
