//! Workflow executions on a real server, SQLite or PostgreSQL, with the
//! real compiled plugins: runs queued with a 202, walked by the runner's
//! workers through transforms, a bounded loop, a fan-out and its join and
//! a branch; a plugin's node kind with retries whose failed attempts keep
//! nothing; a failed run retried from the node that failed; a per-node
//! deadline; a delay cancelled while it waits; who may see and run what;
//! `http` nodes with an injected credential; nodes that read and write
//! through the host's services; sub-runs; and the events plugins hear of
//! runs' ends.

use crate::support;

use reqwest::Method as M;
use serde_json::{Value, json};
use support::TestServer;

pub(crate) const WORKFLOWS: &str = "/api/v1/workflows";

pub(crate) fn transform(id: &str, expression: &str) -> Value {
    json!({ "id": id, "kind": "transform", "config": { "expression": expression } })
}

/// Saves `graph` as `token`'s workflow; its id.
pub(crate) async fn workflow(server: &TestServer, token: &str, graph: Value) -> String {
    let mut body = graph;
    body["name"] = json!("test");
    let saved = server
        .call_expecting(M::POST, WORKFLOWS, token, Some(body), 201)
        .await;
    saved["id"].as_str().unwrap().to_string()
}

/// Starts a run of `workflow` with `input`; the execution's path.
pub(crate) async fn start(
    server: &TestServer,
    token: &str,
    workflow: &str,
    input: Value,
) -> String {
    let (status, body, headers) = server
        .call(
            M::POST,
            &format!("{WORKFLOWS}/{workflow}/executions"),
            token,
            Some(json!({ "input": input })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let location = headers["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        format!(
            "{WORKFLOWS}/{workflow}/executions/{}",
            body["id"].as_str().unwrap()
        )
    );
    location
}

/// The execution at `path` once it has ended.
pub(crate) async fn ended(server: &TestServer, token: &str, path: &str) -> Value {
    server
        .eventually(30, || async {
            let (_, body, _) = server.call(M::GET, path, token, None).await;
            let status = body["status"].as_str().unwrap_or_default();
            ["succeeded", "failed", "cancelled"]
                .contains(&status)
                .then_some(body)
        })
        .await
}

/// A delay of `seconds`, then a transform.
pub(crate) fn nap_then_go(seconds: u64) -> Value {
    json!({
        "nodes": [
            { "id": "nap", "kind": "delay", "config": { "seconds": seconds } },
            transform("after", "."),
        ],
        "edges": [{ "from": "nap", "to": "after" }],
    })
}

/// The execution at `path` once it waits.
pub(crate) async fn once_waiting(server: &TestServer, token: &str, path: &str) -> Value {
    server
        .eventually(30, || async {
            let (_, body, _) = server.call(M::GET, path, token, None).await;
            (body["status"] == "waiting").then_some(body)
        })
        .await
}

pub(crate) fn attempts(execution: &Value) -> Vec<(String, u64, String)> {
    execution["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["node_id"].as_str().unwrap().to_string(),
                s["attempt"].as_u64().unwrap(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn runs_walk_their_graphs_through_loops_joins_and_branches() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;

    // Three transforms in a line.
    let line = workflow(
        &server,
        &ann,
        json!({
            "nodes": [
                transform("double", "{n: (.n * 2)}"),
                transform("label", "{n, label: \"n=\\(.n)\"}"),
                transform("out", ".label"),
            ],
            "edges": [{ "from": "double", "to": "label" }, { "from": "label", "to": "out" }],
        }),
    )
    .await;
    let path = start(&server, &ann, &line, json!({ "n": 21 })).await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"], "n=42");
    assert_eq!(run["version"], 1);
    assert_eq!(run["steps"], 3);
    let timeline = run["timeline"].as_array().unwrap();
    assert_eq!(
        attempts(&run),
        [
            ("double", 1, "succeeded"),
            ("label", 1, "succeeded"),
            ("out", 1, "succeeded")
        ]
        .map(|(n, a, s)| (n.to_string(), a, s.to_string()))
    );
    assert_eq!(timeline[0]["input"], json!({ "n": 21 }));
    assert_eq!(timeline[1]["input"], json!({ "n": 42 }));
    assert_eq!(timeline[2]["output"], "n=42");
    assert!(
        timeline
            .iter()
            .all(|s| s["kind"] == "transform" && s["duration_ms"].as_f64().unwrap() >= 0.0)
    );
    assert!(run["finished_at"].is_string() && run["started_at"].is_string());
    // Its checkpoints are on a StateManager thread the owner may read.
    let thread = server
        .call_expecting(
            M::GET,
            &format!(
                "/api/v1/state/threads/{}",
                run["thread_id"].as_str().unwrap()
            ),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(thread["metadata"]["execution"], run["id"]);

    // A loop bounded at 5 passes, a fan-out joined, then a branch.
    let shapes = workflow(
        &server,
        &ann,
        json!({
            "nodes": [
                transform("begin", "{n: .n}"),
                { "id": "again", "kind": "loop", "config": { "max_iterations": 5 } },
                transform("inc", "{n: (.n + 1)}"),
                { "id": "fan", "kind": "parallel" },
                transform("tens", ".n * 10"),
                transform("hundreds", ".n + 100"),
                { "id": "both", "kind": "join" },
                { "id": "pick", "kind": "branch" },
                transform("big", "\"big: \\(.tens)\""),
                transform("small", "\"small\""),
            ],
            "edges": [
                { "from": "begin", "to": "again" },
                { "from": "again", "to": "inc", "condition": ".n < 3" },
                { "from": "inc", "to": "again" },
                { "from": "again", "to": "fan" },
                { "from": "fan", "to": "tens" },
                { "from": "fan", "to": "hundreds" },
                { "from": "tens", "to": "both" },
                { "from": "hundreds", "to": "both" },
                { "from": "both", "to": "pick" },
                { "from": "pick", "to": "big", "condition": ".tens > 25" },
                { "from": "pick", "to": "small" },
            ],
        }),
    )
    .await;
    let path = start(&server, &ann, &shapes, json!({ "n": 0 })).await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"], "big: 30");
    let nodes: Vec<String> = attempts(&run).into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(nodes.iter().filter(|n| *n == "inc").count(), 3, "{nodes:?}");
    assert_eq!(
        nodes.iter().filter(|n| *n == "again").count(),
        4,
        "{nodes:?}"
    );
    assert_eq!(
        nodes.iter().filter(|n| *n == "both").count(),
        1,
        "joined once: {nodes:?}"
    );
    let both =
        &run["timeline"].as_array().unwrap()[nodes.iter().position(|n| n == "both").unwrap()];
    assert_eq!(both["output"], json!({ "tens": 30, "hundreds": 103 }));

    // From 1, the branch takes its default.
    let path = start(&server, &ann, &shapes, json!({ "n": -10 })).await;
    let run = ended(&server, &ann, &path).await;
    // -10 loops past 5 passes: the loop leaves by its way out.
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"], "small");
    let incs = attempts(&run).iter().filter(|(n, _, _)| n == "inc").count();
    assert_eq!(incs, 5, "max_iterations bounds the loop");

    // A join reached through one way of a branch fails the run, naming it;
    // an output over 1 MiB fails its step.
    let half = workflow(
        &server,
        &ann,
        json!({
            "nodes": [
                { "id": "pick", "kind": "branch" },
                transform("x", "1"),
                transform("y", "2"),
                { "id": "both", "kind": "join" },
            ],
            "edges": [
                { "from": "pick", "to": "x", "condition": ".go" },
                { "from": "pick", "to": "y" },
                { "from": "x", "to": "both" },
                { "from": "y", "to": "both" },
            ],
        }),
    )
    .await;
    let path = start(&server, &ann, &half, json!({ "go": true })).await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("join `both`"),
        "{run}"
    );
    let huge = workflow(
        &server,
        &ann,
        json!({ "nodes": [transform("big", "[range(300000)]")] }),
    )
    .await;
    let path = start(&server, &ann, &huge, json!(null)).await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("over 1048576 bytes"),
        "{run}"
    );

    // Listing by status, newest first.
    let listed = server
        .call_expecting(
            M::GET,
            &format!("{WORKFLOWS}/{shapes}/executions?status=succeeded"),
            &ann,
            None,
            200,
        )
        .await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0]["created_at"].as_str() >= items[1]["created_at"].as_str());
    assert!(items.iter().all(|i| i.get("timeline").is_none()));
    let none = server
        .call_expecting(
            M::GET,
            &format!("{WORKFLOWS}/{shapes}/executions?status=failed"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(none["items"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn failures_retry_with_backoff_keep_nothing_and_a_failed_run_retries_from_its_node() {
    let server = TestServer::with_fixture("node-probe").await;
    let ann = server.user("ann@example.com", false).await;
    let shout = |retry: Value| {
        json!({
            "nodes": [
                transform("prepare", "."),
                { "id": "shout", "kind": "node-probe.shout", "config": { "suffix": "!" }, "retry": retry },
            ],
            "edges": [{ "from": "prepare", "to": "shout" }],
        })
    };
    let runs = |execution: &Value| {
        let key = format!("{}:shout:1", execution["id"].as_str().unwrap());
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

    // Fails for now twice, then succeeds on the third attempt.
    let retried = workflow(&server, &ann, shout(json!({ "max": 3, "backoff_ms": 20 }))).await;
    let path = start(
        &server,
        &ann,
        &retried,
        json!({ "text": "hey", "fail": "retry", "succeed_at": 3 }),
    )
    .await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"]["text"], "HEY!");
    assert_eq!(run["output"]["attempt"], 3);
    assert_eq!(
        attempts(&run)[1..],
        [
            ("shout", 1, "retrying"),
            ("shout", 2, "retrying"),
            ("shout", 3, "succeeded")
        ]
        .map(|(n, a, s)| (n.to_string(), a, s.to_string()))
    );
    assert_eq!(run["timeline"][1]["error"], "asked to fail for now");
    assert_eq!(
        runs(&run).await,
        1,
        "only the attempt that succeeded kept its write"
    );

    // Out of retries: the run fails naming the node.
    let path = start(
        &server,
        &ann,
        &retried,
        json!({ "text": "x", "fail": "retry" }),
    )
    .await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("node `shout` failed") && error.contains("attempt 4 of 4"),
        "{error}"
    );
    assert_eq!(runs(&run).await, 0);

    // Failed for good on its first attempt, then retried from that node:
    // `prepare` does not run again.
    let once = workflow(&server, &ann, shout(json!({ "max": 0 }))).await;
    let path = start(
        &server,
        &ann,
        &once,
        json!({ "text": "again", "fail": "fail", "succeed_at": 2 }),
    )
    .await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("asked to fail for good")
    );
    let (status, answer, _) = server
        .call(M::POST, &format!("{path}/retry"), &ann, None)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "queued");
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"]["text"], "AGAIN!");
    assert_eq!(
        attempts(&run),
        [
            ("prepare", 1, "succeeded"),
            ("shout", 1, "failed"),
            ("shout", 2, "succeeded")
        ]
        .map(|(n, a, s)| (n.to_string(), a, s.to_string()))
    );
    assert_eq!(runs(&run).await, 1);
    let (status, answer, _) = server
        .call(M::POST, &format!("{path}/retry"), &ann, None)
        .await;
    assert_eq!(status, 409, "only a failed run is retried: {answer}");
    // The plugin subscribed to runs' ends heard of each once, after
    // commit: the failure, then the success of the retry.
    for kind in ["workflow.execution.failed", "workflow.execution.succeeded"] {
        let key = format!("{kind}:{}", run["id"].as_str().unwrap());
        let heard = server
            .eventually(30, || async {
                let (_, body, _) = server
                    .call(
                        M::GET,
                        &format!("/api/v1/node-probe/runs/{key}"),
                        &ann,
                        None,
                    )
                    .await;
                (body["runs"] != 0).then_some(body["runs"].clone())
            })
            .await;
        assert_eq!(heard, 1, "{key}");
    }

    // A node's own deadline, shorter than the plugin's.
    let endless = workflow(
        &server,
        &ann,
        json!({
            "nodes": [{ "id": "spin", "kind": "transform", "config": { "expression": "last(repeat(1))" }, "timeout_ms": 300 }],
        }),
    )
    .await;
    let started = std::time::Instant::now();
    let path = start(&server, &ann, &endless, json!(null)).await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains("spin"), "{run}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    server.stop().await;
}

#[tokio::test]
async fn a_waiting_run_is_cancelled_and_others_cannot_see_or_run_it() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let admin = server.admin_token.clone();
    let sleepy = workflow(&server, &ann, nap_then_go(3600)).await;
    let path = start(&server, &ann, &sleepy, json!({ "x": 1 })).await;
    let waiting = once_waiting(&server, &ann, &path).await;
    assert_eq!(
        attempts(&waiting),
        [("nap".to_string(), 1, "succeeded".to_string())]
    );

    // Another member sees none of it and cannot start it; an admin can read it.
    for (method, target) in [
        (M::GET, path.clone()),
        (M::GET, format!("{WORKFLOWS}/{sleepy}/executions")),
        (M::POST, format!("{WORKFLOWS}/{sleepy}/executions")),
        (M::POST, format!("{path}/cancel")),
        (M::POST, format!("{path}/retry")),
    ] {
        let body = (method == M::POST).then(|| json!({}));
        let (status, answer, _) = server.call(method.clone(), &target, &bob, body).await;
        assert_eq!(status, 404, "{method} {target}: {answer}");
    }
    server
        .call_expecting(M::GET, &path, &admin, None, 200)
        .await;

    let cancelled = server
        .call_expecting(M::POST, &format!("{path}/cancel"), &ann, None, 200)
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    let (status, answer, _) = server
        .call(M::POST, &format!("{path}/cancel"), &ann, None)
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already ended")
    );

    // Bad input is named, and starts nothing.
    let before = server
        .call_expecting(
            M::GET,
            &format!("{WORKFLOWS}/{sleepy}/executions"),
            &ann,
            None,
            200,
        )
        .await["items"]
        .as_array()
        .unwrap()
        .len();
    for (method, target, body, status, says) in [
        (
            M::GET,
            format!("{WORKFLOWS}/{sleepy}/executions?status=asleep"),
            None,
            400,
            "status",
        ),
        (
            M::POST,
            format!("{WORKFLOWS}/{sleepy}/executions"),
            Some(json!({ "inputs": 1 })),
            422,
            "inputs",
        ),
        (
            M::POST,
            format!("{WORKFLOWS}/{sleepy}/executions"),
            Some(json!({ "input": "x".repeat(1_100_000) })),
            422,
            "input",
        ),
        (
            M::GET,
            format!("{WORKFLOWS}/{sleepy}/executions/not-a-uuid"),
            None,
            400,
            "execution_id",
        ),
    ] {
        let (got, answer, _) = server.call(method.clone(), &target, &ann, body).await;
        assert_eq!(got, status, "{method} {target}: {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    let after = server
        .call_expecting(
            M::GET,
            &format!("{WORKFLOWS}/{sleepy}/executions"),
            &ann,
            None,
            200,
        )
        .await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "nothing started");

    // A run whose checkpoint thread its owner deleted fails when due,
    // rather than running again for ever.
    let short = workflow(&server, &ann, nap_then_go(1)).await;
    let doomed = start(&server, &ann, &short, json!(1)).await;
    let waiting = once_waiting(&server, &ann, &doomed).await;
    server
        .call_expecting(
            M::DELETE,
            &format!(
                "/api/v1/state/threads/{}",
                waiting["thread_id"].as_str().unwrap()
            ),
            &ann,
            None,
            204,
        )
        .await;
    let run = ended(&server, &ann, &doomed).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("state is gone"),
        "{run}"
    );

    // An admin may start a member's workflow: the run is the member's and
    // uses the member's rights.
    let by_admin = start(&server, &admin, &short, json!(2)).await;
    let run = ended(&server, &ann, &by_admin).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["owner"], waiting["owner"]);

    // Deleting the workflow takes its runs and their checkpoints.
    let thread = cancelled["thread_id"].as_str().unwrap().to_string();
    server
        .call_expecting(M::DELETE, &format!("{WORKFLOWS}/{sleepy}"), &ann, None, 204)
        .await;
    let (status, _, _) = server
        .call(
            M::GET,
            &format!("/api/v1/state/threads/{thread}"),
            &ann,
            None,
        )
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

/// What the stand-in model API saw of one request.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub run_header: Option<String>,
    pub body: Value,
}

/// A stand-in for a model API on loopback: `POST /v1/chat` answers
/// `{"answer": "echo: <prompt>"}`, except that a prompt of `flaky`
/// answers 503 the first time.
pub(crate) async fn stand_in() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/v1/chat",
            axum::routing::post(
                async |State(seen): State<Arc<Mutex<Vec<Seen>>>>,
                       headers: HeaderMap,
                       axum::Json(body): axum::Json<Value>| {
                    let header =
                        |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
                    let mut seen = seen.lock().unwrap();
                    seen.push(Seen {
                        authorization: header("authorization"),
                        idempotency_key: header("idempotency-key"),
                        run_header: header("x-run"),
                        body: body.clone(),
                    });
                    let prompt = body["prompt"].as_str().unwrap_or_default().to_string();
                    let tries = seen.iter().filter(|s| s.body["prompt"] == prompt).count();
                    if prompt == "flaky" && tries == 1 {
                        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({})));
                    }
                    (
                        StatusCode::OK,
                        axum::Json(json!({ "answer": format!("echo: {prompt}") })),
                    )
                },
            ),
        )
        // Echoes the credential it was sent, as some origins do.
        .route(
            "/v1/echo",
            axum::routing::post(async |headers: HeaderMap| {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string());
                axum::Json(json!({ "auth": auth, "note": format!("you sent {auth:?}") }))
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}

#[tokio::test]
async fn an_http_node_calls_an_allowed_origin_with_the_owners_credential_injected() {
    let (port, seen) = stand_in().await;
    let origin = format!("http://127.0.0.1:{port}");
    let server = support::Setup::new()
        .await
        .configure(|config| config.workflow_outbound_hosts = vec![origin.clone()])
        .start()
        .await;
    let ann = server.user("ann@example.com", false).await;
    let secret = "sk-secret-4f9a";
    for (name, allowed) in [("MODEL_KEY", json!(["workflows"])), ("PRIVATE", json!([]))] {
        server
            .call_expecting(
                M::POST,
                "/api/v1/credentials",
                &ann,
                Some(json!({
                    "name": name, "service_type": "model",
                    "secret": { "api_key": secret }, "allowed_plugins": allowed,
                })),
                201,
            )
            .await;
    }
    let ask = |url: &str, credential: &str| {
        json!({
            "nodes": [
                transform("prepare", "{prompt: .text}"),
                {
                    "id": "ask", "kind": "http",
                    "config": {
                        "url": url,
                        "headers": { "x-run": "{{ input.prompt | length }}" },
                        "body": { "prompt": "{{ input.prompt }}", "n": 1 },
                        "credential": { "name": credential, "bearer": "api_key" },
                    },
                    "retry": { "max": 2, "backoff_ms": 10 },
                },
                transform("answer", ".body.answer"),
            ],
            "edges": [{ "from": "prepare", "to": "ask" }, { "from": "ask", "to": "answer" }],
        })
    };
    let chat = workflow(
        &server,
        &ann,
        ask(&format!("{origin}/v1/chat"), "MODEL_KEY"),
    )
    .await;

    let path = start(&server, &ann, &chat, json!({ "text": "hello" })).await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"], "echo: hello");
    let request = seen.lock().unwrap()[0].clone();
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {secret}").as_str())
    );
    assert_eq!(
        request.idempotency_key,
        Some(format!("{}:ask:1", run["id"].as_str().unwrap()))
    );
    assert_eq!(request.run_header.as_deref(), Some("5"));
    assert_eq!(request.body, json!({ "prompt": "hello", "n": 1 }));
    assert!(
        !run.to_string().contains(secret),
        "the run never holds the secret: {run}"
    );

    // An origin that echoes the credential hands back no secret.
    let echo = workflow(
        &server,
        &ann,
        ask(&format!("{origin}/v1/echo"), "MODEL_KEY"),
    )
    .await;
    let path = start(&server, &ann, &echo, json!({ "text": "x" })).await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let step = &run["timeline"][1];
    assert_eq!(step["output"]["body"]["auth"], "[credential]", "{step}");
    assert!(!run.to_string().contains(secret), "{run}");

    // A 503 is tried again, with the same idempotency key.
    let path = start(&server, &ann, &chat, json!({ "text": "flaky" })).await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        attempts(&run)[1..],
        [
            ("ask", 1, "retrying"),
            ("ask", 2, "succeeded"),
            ("answer", 1, "succeeded")
        ]
        .map(|(n, a, s)| (n.to_string(), a, s.to_string()))
    );
    let keys: Vec<Option<String>> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.body["prompt"] == "flaky")
        .map(|s| s.idempotency_key.clone())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);

    // An origin the operator did not list, and a credential that does not
    // allow the workflows plugin, fail the step before any request.
    let before = seen.lock().unwrap().len();
    for (graph, says) in [
        (
            ask(&format!("http://127.0.0.2:{port}/v1/chat"), "MODEL_KEY"),
            "workflow_outbound_hosts",
        ),
        (
            ask(&format!("{origin}/v1/chat"), "PRIVATE"),
            "does not allow plugin `workflows`",
        ),
        (
            ask(&format!("{origin}/v1/chat"), "MISSING"),
            "no credential named `MISSING`",
        ),
    ] {
        let id = workflow(&server, &ann, graph).await;
        let path = start(&server, &ann, &id, json!({ "text": "no" })).await;
        let run = ended(&server, &ann, &path).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert!(run["error"].as_str().unwrap().contains(says), "{run}");
    }
    assert_eq!(seen.lock().unwrap().len(), before, "no request left");

    // The answer written into the document's metadata and appended to a
    // conversation, and a new document made: each once, as the owner.
    let (collection, document) = server.collection_with_document(&ann, "question").await;
    let session = server
        .call_expecting(
            M::POST,
            "/api/v1/memory/sessions",
            &ann,
            Some(json!({ "name": "chat" })),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let flow = workflow(
        &server,
        &ann,
        json!({
            "nodes": [
                {
                    "id": "ask", "kind": "http",
                    "config": {
                        "url": format!("{origin}/v1/chat"),
                        "body": { "prompt": "{{ run.text }}" },
                        "credential": { "name": "MODEL_KEY", "bearer": "api_key" },
                    },
                },
                {
                    "id": "save", "kind": "document.update",
                    "config": { "document_id": "{{ run.document }}", "metadata": { "answer": "{{ input.body.answer }}" } },
                },
                {
                    "id": "remember", "kind": "memory.append",
                    "config": { "session_id": "{{ run.session }}", "content": "{{ input.metadata.answer }}" },
                },
                {
                    "id": "file", "kind": "document.create",
                    "config": { "collection_id": "{{ run.collection }}", "title": "answered: {{ run.text }}" },
                },
            ],
            "edges": [
                { "from": "ask", "to": "save" },
                { "from": "save", "to": "remember" },
                { "from": "remember", "to": "file" },
            ],
        }),
    )
    .await;
    let path = start(
        &server,
        &ann,
        &flow,
        json!({ "text": "why", "document": document, "session": session, "collection": collection }),
    )
    .await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"]["title"], "answered: why");
    let saved = server
        .call_expecting(
            M::GET,
            &format!("/api/v1/documents/{document}"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(saved["metadata"]["answer"], "echo: why");
    let messages = server
        .call_expecting(
            M::GET,
            &format!("/api/v1/memory/sessions/{session}/messages"),
            &ann,
            None,
            200,
        )
        .await;
    let contents: Vec<&str> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["echo: why"]);
    assert!(!run.to_string().contains(secret));

    // A credential given as a bare name is refused at save.
    let mut bare = ask(&format!("{origin}/v1/chat"), "MODEL_KEY");
    bare["nodes"][1]["config"]["credential"] = json!("MODEL_KEY");
    bare["name"] = json!("bare");
    let (status, answer, _) = server.call(M::POST, WORKFLOWS, &ann, Some(bare)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("nodes[1].config.credential")
    );
    server.stop().await;
}

#[tokio::test]
async fn cancelling_a_run_stops_its_running_step_and_frees_the_worker() {
    let server = support::Setup::new()
        .await
        .configure(|config| {
            config.workflow_workers = 1;
            config.plugin_timeout_ms = 120_000;
        })
        .start()
        .await;
    let ann = server.user("ann@example.com", false).await;
    let spin = workflow(
        &server,
        &ann,
        json!({ "nodes": [{ "id": "spin", "kind": "transform", "config": { "expression": "last(repeat(1))" } }] }),
    )
    .await;
    let path = start(&server, &ann, &spin, json!(null)).await;
    server
        .eventually(30, || async {
            let (_, body, _) = server.call(M::GET, &path, &ann, None).await;
            (body["status"] == "running").then_some(())
        })
        .await;
    let cancelled = server
        .call_expecting(M::POST, &format!("{path}/cancel"), &ann, None, 200)
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    // The one worker is free again within a heartbeat, not at the step's
    // two-minute deadline.
    let quick = workflow(&server, &ann, json!({ "nodes": [transform("one", "1")] })).await;
    let started = std::time::Instant::now();
    let next = start(&server, &ann, &quick, json!(null)).await;
    let run = ended(&server, &ann, &next).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let run = server.call_expecting(M::GET, &path, &ann, None, 200).await;
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["steps"], 0, "nothing of the stopped step was kept");
    server.stop().await;
}

/// A `workflow` node that calls `child`.
fn call_workflow(id: &str, child: &str) -> Value {
    json!({ "id": id, "kind": "workflow", "config": { "workflow_id": child } })
}

#[tokio::test]
async fn a_workflow_node_runs_a_sub_run_and_waits_for_it_without_a_worker() {
    let server = support::Setup::new()
        .await
        .configure(|config| {
            config.workflow_workers = 1;
            config.max_sub_runs = 12;
        })
        .start()
        .await;
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let double = workflow(
        &server,
        &ann,
        json!({ "nodes": [transform("double", "{doubled: (.n * 2)}")] }),
    )
    .await;
    let parent = workflow(
        &server,
        &ann,
        json!({
            "nodes": [
                transform("prepare", "{n: .x}"),
                call_workflow("call", &double),
                transform("after", ".doubled + 1"),
            ],
            "edges": [{ "from": "prepare", "to": "call" }, { "from": "call", "to": "after" }],
        }),
    )
    .await;
    // One worker: the parent waits without holding it, or the sub-run
    // could never run.
    let path = start(&server, &ann, &parent, json!({ "x": 5 })).await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"], 11);
    assert_eq!(run["trigger"], "manual");
    assert_eq!(
        attempts(&run),
        [
            ("prepare", 1, "succeeded"),
            ("call", 1, "waiting"),
            ("call", 1, "succeeded"),
            ("after", 1, "succeeded"),
        ]
        .map(|(n, a, s)| (n.to_string(), a, s.to_string()))
    );
    let child = run["timeline"][1]["output"]["execution_id"]
        .as_str()
        .unwrap();
    let sub_run = server
        .call_expecting(
            M::GET,
            &format!("{WORKFLOWS}/{double}/executions/{child}"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(sub_run["trigger"], "workflow");
    assert_eq!(sub_run["parent_id"], run["id"]);
    assert_eq!(sub_run["input"], json!({ "n": 5 }));
    assert_eq!(run["timeline"][2]["output"], json!({ "doubled": 10 }));

    // A sub-run that fails fails its node; so does another member's
    // workflow, which the owner cannot see.
    let broken = workflow(
        &server,
        &ann,
        json!({ "nodes": [transform("boom", "error(\"no good\")")] }),
    )
    .await;
    let bobs = workflow(&server, &bob, json!({ "nodes": [transform("t", ".")] })).await;
    for (child, says) in [(broken.as_str(), "no good"), (bobs.as_str(), "not found")] {
        let id = workflow(
            &server,
            &ann,
            json!({ "nodes": [call_workflow("call", child)] }),
        )
        .await;
        let path = start(&server, &ann, &id, json!({})).await;
        let run = ended(&server, &ann, &path).await;
        assert_eq!(run["status"], "failed", "{run}");
        let error = run["error"].as_str().unwrap();
        assert!(error.starts_with("node `call` failed"), "{error}");
        assert!(error.contains(says), "{error}");
    }

    // Cancelling a run cancels the sub-run it waits for.
    let sleepy = workflow(&server, &ann, nap_then_go(3600)).await;
    let waits = workflow(
        &server,
        &ann,
        json!({ "nodes": [call_workflow("call", &sleepy)] }),
    )
    .await;
    let path = start(&server, &ann, &waits, json!({})).await;
    let waiting = server
        .eventually(30, || async {
            let (_, body, _) = server.call(M::GET, &path, &ann, None).await;
            (body["timeline"][0]["status"] == "waiting").then_some(body)
        })
        .await;
    let child = waiting["timeline"][0]["output"]["execution_id"]
        .as_str()
        .unwrap()
        .to_string();
    let child_path = format!("{WORKFLOWS}/{sleepy}/executions/{child}");
    once_waiting(&server, &ann, &child_path).await;
    server
        .call_expecting(M::POST, &format!("{path}/cancel"), &ann, None, 200)
        .await;
    let child_run = ended(&server, &ann, &child_path).await;
    assert_eq!(child_run["status"], "cancelled");

    // A workflow that starts itself stops at the nesting limit.
    let looping = workflow(&server, &ann, json!({ "nodes": [transform("t", ".")] })).await;
    let mut body = json!({ "name": "again", "nodes": [call_workflow("again", &looping)] });
    server
        .call_expecting(
            M::PUT,
            &format!("{WORKFLOWS}/{looping}"),
            &ann,
            Some(body.take()),
            200,
        )
        .await;
    let path = start(&server, &ann, &looping, json!({})).await;
    let run = server
        .eventually(60, || async {
            let (_, body, _) = server.call(M::GET, &path, &ann, None).await;
            (body["status"] == "failed").then_some(body)
        })
        .await;
    assert!(
        run["error"].as_str().unwrap().contains("nest 8 deep"),
        "{run}"
    );

    // A workflow that fans out into three runs of itself would start 3^8
    // sub-runs within the nesting limit: a run's whole tree starts at most
    // `max_sub_runs` (12 here), and every run of it ends.
    let fan = workflow(&server, &ann, json!({ "nodes": [transform("t", ".")] })).await;
    let mut body = json!({
        "name": "fan",
        "nodes": [
            { "id": "split", "kind": "parallel" },
            call_workflow("a", &fan),
            call_workflow("b", &fan),
            call_workflow("c", &fan),
            { "id": "all", "kind": "join" },
        ],
        "edges": [
            { "from": "split", "to": "a" }, { "from": "split", "to": "b" },
            { "from": "split", "to": "c" }, { "from": "a", "to": "all" },
            { "from": "b", "to": "all" }, { "from": "c", "to": "all" },
        ],
    });
    server
        .call_expecting(
            M::PUT,
            &format!("{WORKFLOWS}/{fan}"),
            &ann,
            Some(body.take()),
            200,
        )
        .await;
    let path = start(&server, &ann, &fan, json!({})).await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("max_sub_runs"),
        "{run}"
    );
    let runs = server
        .eventually(60, || async {
            let (_, body, _) = server
                .call(
                    M::GET,
                    &format!("{WORKFLOWS}/{fan}/executions?limit=100"),
                    &ann,
                    None,
                )
                .await;
            let items = body["items"].as_array()?.clone();
            let ended = ["succeeded", "failed", "cancelled"];
            items
                .iter()
                .all(|run| ended.contains(&run["status"].as_str().unwrap_or_default()))
                .then_some(items)
        })
        .await;
    // The run and the 12 sub-runs its tree was allowed.
    assert_eq!(runs.len(), 13, "{runs:?}");
    assert_eq!(
        runs.iter()
            .filter(|run| run["trigger"] == "workflow")
            .count(),
        12
    );
    server.stop().await;
}

#[tokio::test]
async fn memory_window_and_document_search_nodes_read_as_the_owner() {
    let server = support::TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let (collection, _) = server
        .collection_with_document(&ann, "rust async runtimes")
        .await;
    for title in ["python asyncio", "gardening"] {
        server
            .call_expecting(
                M::POST,
                &format!("/api/v1/collections/{collection}/documents"),
                &ann,
                Some(json!({ "title": title, "content": format!("all about {title}") })),
                201,
            )
            .await;
    }
    let anns = chat_session(&server, &ann).await;
    let bobs = chat_session(&server, &bob).await;
    let read = workflow(
        &server,
        &ann,
        json!({
            "nodes": [
                { "id": "both", "kind": "parallel" },
                {
                    "id": "search", "kind": "document.search",
                    "config": { "query": "{{ input.q }}", "collection_id": collection, "limit": 5 },
                },
                {
                    "id": "window", "kind": "memory.window",
                    "config": { "session_id": "{{ input.session }}", "last": 2, "pin_system": true },
                },
                { "id": "join", "kind": "join" },
            ],
            "edges": [
                { "from": "both", "to": "search" }, { "from": "both", "to": "window" },
                { "from": "search", "to": "join" }, { "from": "window", "to": "join" },
            ],
        }),
    )
    .await;
    let path = start(
        &server,
        &ann,
        &read,
        json!({ "q": "async*", "session": anns }),
    )
    .await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let titles: std::collections::BTreeSet<&str> = run["output"]["search"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["python asyncio", "rust async runtimes"]
            .into_iter()
            .collect()
    );
    let messages: Vec<(&str, &str)> = run["output"]["window"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        messages,
        [
            ("system", "be brief"),
            ("assistant", "two"),
            ("user", "three")
        ]
    );

    // Another member's session is not the owner's to read.
    let path = start(
        &server,
        &ann,
        &read,
        json!({ "q": "rust", "session": bobs }),
    )
    .await;
    let run = ended(&server, &ann, &path).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("not found"),
        "{run}"
    );
    server.stop().await;
}

/// A conversation of `token`'s with a system message and three turns.
async fn chat_session(server: &TestServer, token: &str) -> String {
    let id = server
        .call_expecting(
            M::POST,
            "/api/v1/memory/sessions",
            token,
            Some(json!({ "name": "chat" })),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .call_expecting(
            M::POST,
            &format!("/api/v1/memory/sessions/{id}/messages"),
            token,
            Some(json!({ "messages": [
                { "role": "system", "content": "be brief" },
                { "role": "user", "content": "one" },
                { "role": "assistant", "content": "two" },
                { "role": "user", "content": "three" },
            ]})),
            201,
        )
        .await;
    id
}
