//! The StateManager through the real server: threads and checkpoints over
//! REST (compare-and-swap, history, retention, pending writes, forks) and
//! through `kai:fusion/state` from a real plugin (`state-probe`), granted
//! and not. Pending writes are read back after `kill -9` of the process.

mod support;

use reqwest::Method as M;
use serde_json::{Value, json};
use std::sync::Arc;
use support::child::{ChildServer, call, free_port};
use support::{Setup, TestServer, wasm};
use tokio::sync::Barrier;

const THREADS: &str = "/api/v1/state/threads";

async fn new_thread(server: &TestServer, token: &str, body: Value) -> String {
    let thread = server
        .call_expecting(M::POST, THREADS, token, Some(body), 201)
        .await;
    thread["id"].as_str().unwrap().to_string()
}

/// Puts a checkpoint on `parent`; returns the status and body.
async fn put(
    server: &TestServer,
    token: &str,
    thread: &str,
    parent: Option<&str>,
    values: Value,
) -> (u16, Value) {
    let (status, body, _) = server
        .call(
            M::POST,
            &format!("{THREADS}/{thread}/checkpoints"),
            token,
            Some(json!({ "parent_id": parent, "values": values })),
        )
        .await;
    (status, body)
}

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap().to_string()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn checkpoints_chain_by_compare_and_swap_with_history_and_retention() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let thread = new_thread(&server, &ann, json!({ "metadata": { "job": "import" } })).await;

    let (status, first) = put(&server, &ann, &thread, None, json!({ "done": 0 })).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["step"], 0);
    assert_eq!(first["parent_id"], Value::Null);
    let (status, second) = put(
        &server,
        &ann,
        &thread,
        Some(&id(&first)),
        json!({ "done": 1 }),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["step"], 1);
    assert_eq!(second["parent_id"], first["id"]);

    // A writer that read the first checkpoint has lost: 409 naming the head.
    let (status, body) = put(&server, &ann, &thread, Some(&id(&first)), json!({ "x": 1 })).await;
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains(&id(&second)), "{body}");
    assert!(message(&body).contains("step 1"), "{body}");
    let (status, body) = put(&server, &ann, &thread, None, json!({})).await;
    assert_eq!(status, 409, "{body}");
    // Another member does not see the thread at all.
    let (status, _) = put(&server, &bob, &thread, Some(&id(&second)), json!({})).await;
    assert_eq!(status, 404);

    let got = server
        .call_expecting(M::GET, &format!("{THREADS}/{thread}"), &ann, None, 200)
        .await;
    assert_eq!(
        got["head"],
        json!({ "checkpoint_id": id(&second), "step": 1 })
    );
    assert_eq!(got["metadata"], json!({ "job": "import" }));
    let latest = server
        .call_expecting(
            M::GET,
            &format!("{THREADS}/{thread}/latest"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(latest["values"], json!({ "done": 1 }));

    // History: newest first, in pages.
    let mut parent = id(&second);
    for n in 2..6 {
        let (status, body) = put(&server, &ann, &thread, Some(&parent), json!({ "done": n })).await;
        assert_eq!(status, 201, "{body}");
        parent = id(&body);
    }
    let mut steps = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{THREADS}/{thread}/checkpoints?limit=4&cursor={c}"),
            None => format!("{THREADS}/{thread}/checkpoints?limit=4"),
        };
        let page = server.call_expecting(M::GET, &path, &ann, None, 200).await;
        steps.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["step"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(steps, vec![5, 4, 3, 2, 1, 0]);

    // Retention: keep the last 3, at once and as checkpoints arrive.
    let patched = server
        .call_expecting(
            M::PATCH,
            &format!("{THREADS}/{thread}"),
            &ann,
            Some(json!({ "keep_last": 3 })),
            200,
        )
        .await;
    assert_eq!(patched["keep_last"], 3);
    let (status, _) = put(&server, &ann, &thread, Some(&parent), json!({ "done": 6 })).await;
    assert_eq!(status, 201);
    let page = server
        .call_expecting(
            M::GET,
            &format!("{THREADS}/{thread}/checkpoints"),
            &ann,
            None,
            200,
        )
        .await;
    let kept: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["step"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, vec![6, 5, 4]);
    let (status, body, _) = server
        .call(
            M::GET,
            &format!("{THREADS}/{thread}/checkpoints/{}", id(&first)),
            &ann,
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let patched = server
        .call_expecting(
            M::PATCH,
            &format!("{THREADS}/{thread}"),
            &ann,
            Some(json!({ "keep_last": null })),
            200,
        )
        .await;
    assert_eq!(patched["keep_last"], Value::Null);

    // Listing: each member sees their own; an admin sees all.
    let mine = server
        .call_expecting(M::GET, THREADS, &ann, None, 200)
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let theirs = server
        .call_expecting(M::GET, THREADS, &bob, None, 200)
        .await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
    let all = server
        .call_expecting(M::GET, THREADS, &server.admin_token, None, 200)
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);

    server
        .call_expecting(M::DELETE, &format!("{THREADS}/{thread}"), &ann, None, 204)
        .await;
    let (status, _, _) = server
        .call(M::GET, &format!("{THREADS}/{thread}"), &ann, None)
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

/// 16 writers read the same head and put on it at once, round after round:
/// exactly one wins each round, and the chain has no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_writers_leave_one_winner_per_step_and_no_gap() {
    const WRITERS: usize = 16;
    const ROUNDS: usize = 12;
    let server = Arc::new(TestServer::start().await);
    let ann = server.user("ann@example.com", false).await;
    let thread = new_thread(&server, &ann, json!({})).await;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (server, ann, thread, barrier) =
            (server.clone(), ann.clone(), thread.clone(), barrier.clone());
        writers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for round in 0..ROUNDS {
                let got = server
                    .call_expecting(M::GET, &format!("{THREADS}/{thread}"), &ann, None, 200)
                    .await;
                let head = got["head"]["checkpoint_id"].as_str().map(str::to_string);
                barrier.wait().await;
                let (status, body) = put(
                    &server,
                    &ann,
                    &thread,
                    head.as_deref(),
                    json!({ "writer": writer, "round": round }),
                )
                .await;
                assert!(status == 201 || status == 409, "{status} {body}");
                outcomes.push((round, status));
                // Everyone has put before anyone reads the next head.
                barrier.wait().await;
            }
            outcomes
        }));
    }
    let mut winners = vec![0; ROUNDS];
    let mut losers = vec![0; ROUNDS];
    for writer in writers {
        for (round, status) in writer.await.unwrap() {
            if status == 201 {
                winners[round] += 1;
            } else {
                losers[round] += 1;
            }
        }
    }
    assert_eq!(winners, vec![1; ROUNDS]);
    assert_eq!(losers, vec![WRITERS - 1; ROUNDS]);

    let page = server
        .call_expecting(
            M::GET,
            &format!("{THREADS}/{thread}/checkpoints?limit=1000"),
            &ann,
            None,
            200,
        )
        .await;
    let chain = page["items"].as_array().unwrap();
    assert_eq!(chain.len(), ROUNDS);
    for (i, checkpoint) in chain.iter().enumerate() {
        assert_eq!(checkpoint["step"], (ROUNDS - 1 - i) as i64);
        assert_eq!(checkpoint["values"]["round"], (ROUNDS - 1 - i) as i64);
        let parent = chain
            .get(i + 1)
            .map(|c| c["id"].clone())
            .unwrap_or(Value::Null);
        assert_eq!(
            checkpoint["parent_id"], parent,
            "the chain links each step to the one before"
        );
    }
    Arc::try_unwrap(server).ok().unwrap().stop().await;
}

#[tokio::test]
async fn a_fork_leaves_the_original_thread_untouched() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let thread = new_thread(&server, &ann, json!({ "metadata": { "n": 1 } })).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, body) = put(
            &server,
            &ann,
            &thread,
            ids.last().map(String::as_str),
            json!({ "n": n }),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        ids.push(id(&body));
    }
    let before_thread = server
        .call_expecting(M::GET, &format!("{THREADS}/{thread}"), &ann, None, 200)
        .await;
    let before_history = server
        .call_expecting(
            M::GET,
            &format!("{THREADS}/{thread}/checkpoints"),
            &ann,
            None,
            200,
        )
        .await;

    let fork = server
        .call_expecting(
            M::POST,
            &format!("{THREADS}/{thread}/checkpoints/{}/fork", ids[1]),
            &ann,
            Some(json!({})),
            201,
        )
        .await;
    assert_ne!(fork["id"], before_thread["id"]);
    assert_eq!(
        fork["forked_from"],
        json!({ "thread_id": thread, "checkpoint_id": ids[1] })
    );
    assert_eq!(fork["head"]["step"], 1);
    assert_eq!(fork["metadata"], json!({ "n": 1 }));
    let fork_id = id(&fork);
    let start = server
        .call_expecting(
            M::GET,
            &format!("{THREADS}/{fork_id}/latest"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(start["values"], json!({ "n": 1 }));
    assert_eq!(start["parent_id"], Value::Null);
    let (status, next) = put(
        &server,
        &ann,
        &fork_id,
        Some(&id(&start)),
        json!({ "n": "forked" }),
    )
    .await;
    assert_eq!(status, 201, "{next}");
    assert_eq!(next["step"], 2);

    let after_thread = server
        .call_expecting(M::GET, &format!("{THREADS}/{thread}"), &ann, None, 200)
        .await;
    let after_history = server
        .call_expecting(
            M::GET,
            &format!("{THREADS}/{thread}/checkpoints"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(after_thread, before_thread);
    assert_eq!(after_history, before_history);
    server.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_changes_nothing() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let thread = new_thread(&server, &ann, json!({})).await;
    let (_, first) = put(&server, &ann, &thread, None, json!(1)).await;
    let cases = [
        (
            M::POST,
            THREADS.to_string(),
            json!({ "keep_last": 0 }),
            422,
            "keep_last",
        ),
        (
            M::POST,
            THREADS.to_string(),
            json!({ "metadata": [1] }),
            422,
            "metadata",
        ),
        (
            M::POST,
            THREADS.to_string(),
            json!({ "color": "red" }),
            422,
            "color",
        ),
        (
            M::POST,
            format!("{THREADS}/{thread}/checkpoints"),
            json!({ "parent_id": id(&first) }),
            422,
            "values",
        ),
        (
            M::POST,
            format!("{THREADS}/{thread}/checkpoints"),
            json!({ "parent_id": "nope", "values": 1 }),
            422,
            "parent_id",
        ),
        (
            M::POST,
            format!("{THREADS}/{thread}/checkpoints/{}/writes", id(&first)),
            json!({ "task": "t", "writes": [] }),
            422,
            "writes",
        ),
        (
            M::POST,
            format!("{THREADS}/{thread}/checkpoints/{}/writes", id(&first)),
            json!({ "task": "", "writes": [{ "channel": "c", "value": 1 }] }),
            422,
            "task",
        ),
        (
            M::PATCH,
            format!("{THREADS}/{thread}"),
            json!({ "keep_last": 0 }),
            422,
            "keep_last",
        ),
        (
            M::GET,
            format!("{THREADS}/not-a-uuid"),
            Value::Null,
            400,
            "id",
        ),
    ];
    for (method, path, body, expected, field) in cases {
        let body = (!body.is_null()).then_some(body);
        let (status, answer, _) = server.call(method.clone(), &path, &ann, body.clone()).await;
        assert_eq!(status, expected, "{method} {path} {body:?}: {answer}");
        assert!(
            message(&answer).contains(field),
            "{method} {path}: {answer}"
        );
    }
    let got = server
        .call_expecting(M::GET, &format!("{THREADS}/{thread}"), &ann, None, 200)
        .await;
    assert_eq!(got["head"]["step"], 0);
    assert_eq!(got["keep_last"], Value::Null);
    let all = server
        .call_expecting(M::GET, THREADS, &ann, None, 200)
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    let latest = server
        .call_expecting(
            M::GET,
            &format!("{THREADS}/{thread}/latest"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(latest["pending_writes"], json!([]));
    server.stop().await;
}

/// A step records writes, then the server is killed (`kill -9`) before the
/// step's checkpoint: after a restart the writes are there, in order; a
/// step from a checkpoint that is no longer the newest cannot add any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_writes_are_visible_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    let database_url = support::fresh_database().await;
    let client = reqwest::Client::new();
    let start = async |client: &reqwest::Client| {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = ChildServer::spawn(port, dir.path(), database_url.as_deref(), &[], false);
        child.wait_ready(client, &base).await;
        let token = std::fs::read_to_string(dir.path().join("data/admin.token"))
            .unwrap()
            .trim()
            .to_string();
        (child, base, token)
    };
    let (mut child, base, token) = start(&client).await;
    let (status, thread) = call(&client, &base, &token, M::POST, THREADS, Some(json!({}))).await;
    assert_eq!(status, 201, "{thread}");
    let thread = id(&thread);
    let checkpoints = format!("{THREADS}/{thread}/checkpoints");
    let (status, first) = call(
        &client,
        &base,
        &token,
        M::POST,
        &checkpoints,
        Some(json!({ "values": { "n": 0 } })),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let writes = format!("{checkpoints}/{}/writes", id(&first));
    for (task, channel, value) in [("a", "out", 1), ("b", "out", 2), ("a", "log", 3)] {
        let (status, body) = call(
            &client,
            &base,
            &token,
            M::POST,
            &writes,
            Some(json!({ "task": task, "writes": [{ "channel": channel, "value": value }] })),
        )
        .await;
        assert_eq!(status, 204, "{body}");
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();

    let (_child, base, token) = start(&client).await;
    let (status, latest) = call(
        &client,
        &base,
        &token,
        M::GET,
        &format!("{THREADS}/{thread}/latest"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{latest}");
    let seen: Vec<(String, i64, String, i64)> = latest["pending_writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["task"].as_str().unwrap().to_string(),
                w["seq"].as_i64().unwrap(),
                w["channel"].as_str().unwrap().to_string(),
                w["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("a".to_string(), 0, "out".to_string(), 1),
            ("a".to_string(), 1, "log".to_string(), 3),
            ("b".to_string(), 0, "out".to_string(), 2),
        ]
    );
    // The resumed step finishes; the writes stay with the checkpoint they
    // were made from, and that checkpoint takes no more.
    let (status, second) = call(
        &client,
        &base,
        &token,
        M::POST,
        &checkpoints,
        Some(json!({ "parent_id": id(&first), "values": { "n": 1 } })),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let (status, body) = call(
        &client,
        &base,
        &token,
        M::POST,
        &writes,
        Some(json!({ "task": "a", "writes": [{ "channel": "out", "value": 9 }] })),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (_, old) = call(
        &client,
        &base,
        &token,
        M::GET,
        &format!("{checkpoints}/{}", id(&first)),
        None,
    )
    .await;
    assert_eq!(old["pending_writes"].as_array().unwrap().len(), 3, "{old}");
    drop(_child);
    support::drop_database(database_url).await;
}

#[tokio::test]
async fn a_plugin_uses_state_through_wit_only_when_granted() {
    let server = Setup::new()
        .await
        .plugins_dir_untrusted(&[("state-probe.wasm", wasm("state-probe"))])
        .start()
        .await;
    let admin = server.admin_token.clone();
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let (_, listing) = server.admin_get("/api/v1/admin/plugins").await;
    let pending = &listing["pending"][0];
    assert_eq!(pending["name"], "state-probe", "{listing}");
    assert_eq!(
        pending["requested"]["core_models"],
        json!([{ "model": "state", "write": true }])
    );

    // Running, but without the service: every call is denied.
    server
        .call_expecting(
            M::POST,
            "/api/v1/admin/plugins/state-probe/grants",
            &admin,
            Some(json!({ "grant": {} })),
            200,
        )
        .await;
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/state-probe/threads",
            &ann,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        message(&body).contains("not granted the host service `state`"),
        "{body}"
    );
    let none = server
        .call_expecting(M::GET, THREADS, &admin, None, 200)
        .await;
    assert_eq!(none["items"], json!([]));

    server
        .call_expecting(
            M::POST,
            "/api/v1/admin/plugins/state-probe/grants",
            &admin,
            Some(json!({ "accept_requested": true })),
            200,
        )
        .await;
    let thread = server
        .call_expecting(
            M::POST,
            "/api/v1/state-probe/threads",
            &ann,
            Some(json!({ "keep_last": 2 })),
            201,
        )
        .await;
    let thread_id = id(&thread);
    assert_eq!(thread["keep_last"], 2);
    let step = |parent: Option<String>, values: Value, answer: u16| json!({ "parent": parent, "values": values, "answer": answer });
    let path = format!("/api/v1/state-probe/threads/{thread_id}");
    let first = server
        .call_expecting(
            M::POST,
            &format!("{path}/step"),
            &ann,
            Some(step(None, json!({ "n": 0 }), 201)),
            201,
        )
        .await;
    let (status, body, _) = server
        .call(
            M::POST,
            &format!("{path}/step"),
            &ann,
            Some(step(None, json!({ "n": 9 }), 201)),
        )
        .await;
    assert_eq!(status, 409, "a lost race is a conflict: {body}");
    // A put whose request fails (500) is rolled back with it.
    let (status, _, _) = server
        .call(
            M::POST,
            &format!("{path}/step"),
            &ann,
            Some(step(Some(id(&first)), json!({ "n": 1 }), 500)),
        )
        .await;
    assert_eq!(status, 500);
    let second = server
        .call_expecting(
            M::POST,
            &format!("{path}/step"),
            &ann,
            Some(step(Some(id(&first)), json!({ "n": 1 }), 201)),
            201,
        )
        .await;
    assert_eq!(second["step"], 1);
    server
        .call_expecting(
            M::POST,
            &format!("{path}/writes"),
            &ann,
            Some(json!({ "checkpoint": id(&second), "task": "t", "value": "partial" })),
            204,
        )
        .await;
    let third = server
        .call_expecting(
            M::POST,
            &format!("{path}/step"),
            &ann,
            Some(step(Some(id(&second)), json!({ "n": 2 }), 201)),
            201,
        )
        .await;
    let seen = server.call_expecting(M::GET, &path, &ann, None, 200).await;
    assert_eq!(seen["latest"]["id"], third["id"]);
    assert_eq!(seen["latest"]["metadata"], json!({ "source": "step" }));
    let steps: Vec<i64> = seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, vec![2, 1], "keep_last 2 trims as checkpoints arrive");
    let fork = server
        .call_expecting(
            M::POST,
            &format!("{path}/fork"),
            &ann,
            Some(json!({ "checkpoint": id(&second) })),
            201,
        )
        .await;
    assert_eq!(fork["forked_from"], json!([thread_id, id(&second)]));

    // Another member's plugin calls see none of it; the owner's REST
    // client sees the plugin's threads but cannot advance them.
    let (status, _, _) = server.call(M::GET, &path, &bob, None).await;
    assert_eq!(status, 404);
    let theirs = server
        .call_expecting(M::GET, "/api/v1/state-probe/threads", &bob, None, 200)
        .await;
    assert_eq!(theirs["ids"], json!([]));
    let listed = server
        .call_expecting(
            M::GET,
            &format!("{THREADS}?plugin=state-probe"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert_eq!(listed["items"][0]["plugin"], "state-probe");
    let (status, body) = put(&server, &ann, &thread_id, Some(&id(&third)), json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        message(&body).contains("belongs to plugin `state-probe`"),
        "{body}"
    );
    // A thread made through REST is not the plugin's.
    let rest_thread = new_thread(&server, &ann, json!({})).await;
    let (status, _, _) = server
        .call(
            M::GET,
            &format!("/api/v1/state-probe/threads/{rest_thread}"),
            &ann,
            None,
        )
        .await;
    assert_eq!(status, 404);
    server
        .call_expecting(M::DELETE, &path, &ann, None, 204)
        .await;
    let (status, _, _) = server
        .call(M::GET, &format!("{THREADS}/{thread_id}"), &ann, None)
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}
