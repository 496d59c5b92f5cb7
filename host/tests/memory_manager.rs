//! The MemoryManager through the real server: sessions and messages over
//! REST (windows by count and by token budget, the pinned system message
//! and the summary, retention as messages arrive, ranked search, strict
//! order under concurrent appends, bad input), and through
//! `kai:fusion/memory` from a real plugin (`memory-probe`), granted and not.

mod support;

use reqwest::Method as M;
use serde_json::{Value, json};
use std::sync::Arc;
use support::{Setup, TestServer, wasm};

const SESSIONS: &str = "/api/v1/memory/sessions";
const SEARCH: &str = "/api/v1/memory/messages:search";

async fn new_session(server: &TestServer, token: &str, body: Value) -> String {
    let session = server
        .call_expecting(M::POST, SESSIONS, token, Some(body), 201)
        .await;
    session["id"].as_str().unwrap().to_string()
}

async fn append(server: &TestServer, token: &str, session: &str, messages: Value) -> Value {
    server
        .call_expecting(
            M::POST,
            &format!("{SESSIONS}/{session}/messages"),
            token,
            Some(json!({ "messages": messages })),
            201,
        )
        .await
}

async fn window(server: &TestServer, token: &str, session: &str, query: &str) -> Value {
    server
        .call_expecting(
            M::GET,
            &format!("{SESSIONS}/{session}/window?{query}"),
            token,
            None,
            200,
        )
        .await
}

fn seqs(messages: &Value) -> Vec<i64> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// Every message of a session, oldest first, read page by page.
async fn all_messages(server: &TestServer, token: &str, session: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{SESSIONS}/{session}/messages?limit=7&cursor={c}"),
            None => format!("{SESSIONS}/{session}/messages?limit=7"),
        };
        let page = server.call_expecting(M::GET, &path, token, None, 200).await;
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return all,
        }
    }
}

#[tokio::test]
async fn windows_by_count_and_token_budget_with_the_pinned_system_message_and_summary() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let session = new_session(
        &server,
        &ann,
        json!({ "name": "support chat", "agent": "helper", "metadata": { "channel": "web" } }),
    )
    .await;
    let mut batch = vec![json!({ "role": "system", "content": "You are terse.", "tokens": 5 })];
    for n in 1..=10 {
        let role = if n % 2 == 1 { "user" } else { "assistant" };
        batch.push(json!({ "role": role, "content": format!("turn {n}"), "tokens": 10 * n }));
    }
    let appended = append(&server, &ann, &session, Value::Array(batch)).await;
    assert_eq!(seqs(&appended), (0..=10).collect::<Vec<_>>());

    // The last N, oldest first.
    let last = window(&server, &ann, &session, "last=3").await;
    assert_eq!(seqs(&last["messages"]), vec![8, 9, 10]);
    assert_eq!(last["pinned"], Value::Null);
    assert_eq!(last["tokens"], 80 + 90 + 100);

    // A budget: the newest whole messages that fit (100 + 90 + 80 = 270;
    // the next, 70, would pass 300).
    let budget = window(&server, &ann, &session, "max_tokens=300").await;
    assert_eq!(seqs(&budget["messages"]), vec![8, 9, 10]);
    assert_eq!(budget["tokens"], 270);
    // With the system message pinned, its 5 tokens come first and still fit.
    let pinned = window(&server, &ann, &session, "max_tokens=300&pin_system=true").await;
    assert_eq!(pinned["pinned"]["seq"], 0);
    assert_eq!(pinned["pinned"]["content"], "You are terse.");
    assert_eq!(seqs(&pinned["messages"]), vec![8, 9, 10]);
    assert_eq!(pinned["tokens"], 275);
    // A pinned message in the window is not given twice.
    let everything = window(&server, &ann, &session, "last=100&pin_system=true").await;
    assert_eq!(seqs(&everything["messages"]), (1..=10).collect::<Vec<_>>());
    // A budget smaller than the newest message gives no message at all.
    let tiny = window(&server, &ann, &session, "max_tokens=99").await;
    assert_eq!(tiny["messages"], json!([]));

    // The summary, prepended when asked, counts against the budget.
    let summary = "ann asked about turns one to seven; ".repeat(8);
    let updated = server
        .call_expecting(
            M::PUT,
            &format!("{SESSIONS}/{session}/summary"),
            &ann,
            Some(json!({ "content": summary, "through_seq": 7 })),
            200,
        )
        .await;
    assert_eq!(updated["summary"]["through_seq"], 7);
    let with_summary = window(
        &server,
        &ann,
        &session,
        "max_tokens=300&pin_system=true&summary=true",
    )
    .await;
    assert_eq!(with_summary["summary"]["content"], summary);
    // 5 pinned + the summary's estimate (288 characters: 72 + 4) leave 219:
    // 100 and 90 fit, 80 does not.
    assert_eq!(seqs(&with_summary["messages"]), vec![9, 10]);
    assert_eq!(with_summary["tokens"], 5 + 76 + 190);
    let without = window(&server, &ann, &session, "last=2").await;
    assert_eq!(without["summary"], Value::Null);
    server
        .call_expecting(
            M::DELETE,
            &format!("{SESSIONS}/{session}/summary"),
            &ann,
            None,
            200,
        )
        .await;
    let gone = window(&server, &ann, &session, "last=2&summary=true").await;
    assert_eq!(gone["summary"], Value::Null);

    // Tool calls and their answers keep their fields; tokens are estimated
    // when not given.
    let tool = append(
        &server,
        &ann,
        &session,
        json!([
            { "role": "assistant", "content": "", "tool_calls": [{ "id": "c1", "name": "lookup" }] },
            { "role": "tool", "content": "found it", "tool_call_id": "c1", "name": "lookup" },
        ]),
    )
    .await;
    assert_eq!(seqs(&tool), vec![11, 12]);
    assert_eq!(tool[0]["tool_calls"][0]["id"], "c1");
    assert_eq!(tool[1]["tool_call_id"], "c1");
    assert_eq!(tool[1]["tokens"], 2 + 2 + 4, "\"found it\" and \"lookup\"");
    let listed = all_messages(&server, &ann, &session).await;
    assert_eq!(
        listed
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        (0..=12).collect::<Vec<_>>()
    );
    let got = server
        .call_expecting(M::GET, &format!("{SESSIONS}/{session}"), &ann, None, 200)
        .await;
    assert_eq!(got["message_count"], 13);
    assert_eq!(got["next_seq"], 13);
    assert_eq!(got["agent"], "helper");
    assert_eq!(got["metadata"], json!({ "channel": "web" }));
    server.stop().await;
}

#[tokio::test]
async fn retention_trims_as_messages_arrive_and_keeps_the_system_message() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let session = new_session(&server, &ann, json!({ "retention": { "max_messages": 4 } })).await;
    append(
        &server,
        &ann,
        &session,
        json!([{ "role": "system", "content": "rules" }, { "role": "user", "content": "a" }]),
    )
    .await;
    for text in ["b", "c", "d", "e", "f"] {
        append(
            &server,
            &ann,
            &session,
            json!([{ "role": "user", "content": text }]),
        )
        .await;
    }
    let kept = all_messages(&server, &ann, &session).await;
    let kept_seqs: Vec<i64> = kept.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        kept_seqs,
        vec![0, 3, 4, 5, 6],
        "the newest 4 and the system message"
    );
    let got = server
        .call_expecting(M::GET, &format!("{SESSIONS}/{session}"), &ann, None, 200)
        .await;
    assert_eq!(got["message_count"], 5);

    // A batch larger than the retention keeps only its newest.
    let appended = append(
        &server,
        &ann,
        &session,
        json!([
            { "role": "user", "content": "g" }, { "role": "user", "content": "h" },
            { "role": "user", "content": "i" }, { "role": "user", "content": "j" },
            { "role": "user", "content": "k" }, { "role": "user", "content": "l" },
        ]),
    )
    .await;
    assert_eq!(seqs(&appended), vec![9, 10, 11, 12]);

    // A tighter retention applies at once.
    let patched = server
        .call_expecting(
            M::PATCH,
            &format!("{SESSIONS}/{session}"),
            &ann,
            Some(json!({ "name": "renamed", "retention": { "max_messages": 2 } })),
            200,
        )
        .await;
    assert_eq!(patched["name"], "renamed");
    assert_eq!(patched["message_count"], 3);
    let kept = all_messages(&server, &ann, &session).await;
    let kept_seqs: Vec<i64> = kept.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(kept_seqs, vec![0, 11, 12]);

    // By age: messages older than the limit go when the next arrives.
    let aging = new_session(
        &server,
        &ann,
        json!({ "retention": { "max_age_seconds": 1 } }),
    )
    .await;
    append(
        &server,
        &ann,
        &aging,
        json!([{ "role": "user", "content": "old" }]),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    append(
        &server,
        &ann,
        &aging,
        json!([{ "role": "user", "content": "new" }]),
    )
    .await;
    let kept = all_messages(&server, &ann, &aging).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["content"], "new");

    // Clearing removes every message and the summary; seqs go on.
    server
        .call_expecting(
            M::PUT,
            &format!("{SESSIONS}/{session}/summary"),
            &ann,
            Some(json!({ "content": "so far" })),
            200,
        )
        .await;
    let cleared = server
        .call_expecting(
            M::DELETE,
            &format!("{SESSIONS}/{session}/messages"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(cleared["removed"], 3);
    let after = append(
        &server,
        &ann,
        &session,
        json!([{ "role": "user", "content": "again" }]),
    )
    .await;
    assert_eq!(seqs(&after), vec![13]);
    let got = server
        .call_expecting(M::GET, &format!("{SESSIONS}/{session}"), &ann, None, 200)
        .await;
    assert_eq!(got["summary"], Value::Null);
    assert_eq!(got["message_count"], 1);
    server.stop().await;
}

#[tokio::test]
async fn search_ranks_the_better_match_first_within_what_the_caller_sees() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let first = new_session(&server, &ann, json!({ "name": "billing" })).await;
    let second = new_session(&server, &ann, json!({ "name": "shipping" })).await;
    let bobs = new_session(&server, &bob, json!({})).await;
    append(
        &server,
        &ann,
        &first,
        json!([
            { "role": "user", "content": "My refund for the order has not arrived." },
            { "role": "assistant", "content": "Refund issued: refund number 42, refund of the whole order." },
            { "role": "user", "content": "Where is my parcel?" },
        ]),
    )
    .await;
    append(
        &server,
        &ann,
        &second,
        json!([{ "role": "user", "content": "The parcel with the refund form is late." }]),
    )
    .await;
    append(
        &server,
        &bob,
        &bobs,
        json!([{ "role": "user", "content": "refund refund refund please" }]),
    )
    .await;

    let hits = server
        .call_expecting(M::GET, &format!("{SEARCH}?q=refund"), &ann, None, 200)
        .await;
    let items = hits["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        3,
        "ann's three matching messages, not bob's: {hits}"
    );
    assert_eq!(
        items[0]["seq"], 1,
        "the message saying refund most ranks first"
    );
    assert!(items[0]["score"].as_f64().unwrap() > items[2]["score"].as_f64().unwrap());
    assert!(
        items[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>Refund</mark>"),
        "{hits}"
    );
    // A phrase, an exclusion, a prefix, one session, one role.
    let phrase = server
        .call_expecting(
            M::GET,
            &format!("{SEARCH}?q=%22refund+form%22"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(phrase["items"][0]["session_id"], second.as_str());
    assert_eq!(phrase["items"].as_array().unwrap().len(), 1);
    let excluded = server
        .call_expecting(
            M::GET,
            &format!("{SEARCH}?q=refund+-parcel"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(excluded["items"].as_array().unwrap().len(), 2);
    let prefix = server
        .call_expecting(
            M::GET,
            &format!("{SEARCH}?q=parc*&session_id={first}"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(seqs(&prefix["items"]), vec![2]);
    let by_role = server
        .call_expecting(
            M::GET,
            &format!("{SEARCH}?q=refund&role=assistant"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(seqs(&by_role["items"]), vec![1]);
    // Pages.
    let page = server
        .call_expecting(
            M::GET,
            &format!("{SEARCH}?q=refund&limit=2"),
            &ann,
            None,
            200,
        )
        .await;
    let next = page["next_cursor"].as_str().unwrap();
    let rest = server
        .call_expecting(
            M::GET,
            &format!("{SEARCH}?q=refund&limit=2&cursor={next}"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);

    // Bob sees only his; another member's session is a 404; the admin all.
    let theirs = server
        .call_expecting(M::GET, &format!("{SEARCH}?q=refund"), &bob, None, 200)
        .await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1);
    let (status, _, _) = server
        .call(
            M::GET,
            &format!("{SEARCH}?q=refund&session_id={first}"),
            &bob,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let all = server
        .call_expecting(M::GET, &format!("{SEARCH}?q=refund"), &admin, None, 200)
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);

    // Bad queries name the problem.
    for (query, says) in [
        ("%22unclosed", "not closed"),
        ("-only", "every term is excluded"),
        ("refund&role=robot", "unknown role"),
    ] {
        let (status, body, _) = server
            .call(M::GET, &format!("{SEARCH}?q={query}"), &ann, None)
            .await;
        assert_eq!(status, 422, "{query}: {body}");
        assert!(message(&body).contains(says), "{query}: {body}");
    }

    // The index follows clears and deletes.
    server
        .call_expecting(
            M::DELETE,
            &format!("{SESSIONS}/{first}/messages"),
            &ann,
            None,
            200,
        )
        .await;
    server
        .call_expecting(M::DELETE, &format!("{SESSIONS}/{second}"), &ann, None, 204)
        .await;
    let none = server
        .call_expecting(M::GET, &format!("{SEARCH}?q=refund"), &ann, None, 200)
        .await;
    assert_eq!(none["items"], json!([]));
    let (status, _, _) = server
        .call(M::GET, &format!("{SESSIONS}/{second}"), &ann, None)
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_atomic_and_strictly_ordered() {
    let server = Arc::new(TestServer::start().await);
    let ann = server.user("ann@example.com", false).await;
    let session = new_session(&server, &ann, json!({})).await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (server, ann, session) = (server.clone(), ann.clone(), session.clone());
            tokio::spawn(async move {
                let mut batches = Vec::new();
                for round in 0..5 {
                    let batch: Vec<Value> = (0..4)
                        .map(
                            |i| json!({ "role": "user", "content": format!("w{w} r{round} m{i}") }),
                        )
                        .collect();
                    let appended = append(&server, &ann, &session, Value::Array(batch)).await;
                    batches.push(seqs(&appended));
                }
                batches
            })
        })
        .collect();
    let mut taken = Vec::new();
    for writer in writers {
        for batch in writer.await.unwrap() {
            assert!(
                batch.windows(2).all(|p| p[1] == p[0] + 1),
                "a batch is contiguous: {batch:?}"
            );
            taken.extend(batch);
        }
    }
    taken.sort_unstable();
    assert_eq!(
        taken,
        (0..160).collect::<Vec<_>>(),
        "no seq twice, none skipped"
    );
    let stored = all_messages(&server, &ann, &session).await;
    assert_eq!(stored.len(), 160);
    for m in &stored {
        // Each message's text says which batch wrote it; a batch's four
        // messages sit together in the stored order.
        let seq = m["seq"].as_i64().unwrap();
        let text = m["content"].as_str().unwrap();
        let first = &stored[(seq - seq % 4) as usize]["content"]
            .as_str()
            .unwrap();
        assert_eq!(
            text.rsplit_once(' ').unwrap().0,
            first.rsplit_once(' ').unwrap().0
        );
    }
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_changes_nothing() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let session = new_session(&server, &ann, json!({ "name": "kept" })).await;
    append(
        &server,
        &ann,
        &session,
        json!([{ "role": "user", "content": "one" }]),
    )
    .await;
    let messages = format!("{SESSIONS}/{session}/messages");
    let ok = json!({ "role": "user", "content": "fine" });
    let cases: Vec<(M, String, Value, u16, &str)> = vec![
        (
            M::POST,
            messages.clone(),
            json!({ "messages": [ok.clone(), { "role": "robot", "content": "x" }] }),
            422,
            "messages[1].role",
        ),
        (
            M::POST,
            messages.clone(),
            json!({ "messages": [{ "role": "tool", "content": "x" }] }),
            422,
            "messages[0].tool_call_id",
        ),
        (
            M::POST,
            messages.clone(),
            json!({ "messages": [{ "role": "user", "content": "x", "tool_call_id": "c" }] }),
            422,
            "only on a tool message",
        ),
        (
            M::POST,
            messages.clone(),
            json!({ "messages": [{ "role": "user", "content": "x", "tool_calls": [] }] }),
            422,
            "only on an assistant message",
        ),
        (
            M::POST,
            messages.clone(),
            json!({ "messages": [{ "role": "assistant", "content": "x", "tool_calls": { "id": 1 } }] }),
            422,
            "JSON array",
        ),
        (
            M::POST,
            messages.clone(),
            json!({ "messages": [{ "role": "user", "content": "x", "metadata": [1] }] }),
            422,
            "messages[0].metadata",
        ),
        (
            M::POST,
            messages.clone(),
            json!({ "messages": [] }),
            422,
            "give 1 to 1000 messages",
        ),
        (
            M::POST,
            messages.clone(),
            json!({ "messages": [ok.clone()], "extra": 1 }),
            422,
            "extra",
        ),
        (
            M::POST,
            SESSIONS.to_string(),
            json!({ "retention": { "max_messages": 0 } }),
            422,
            "retention.max_messages",
        ),
        (
            M::POST,
            SESSIONS.to_string(),
            json!({ "name": "x".repeat(201) }),
            422,
            "name",
        ),
        (
            M::POST,
            SESSIONS.to_string(),
            json!({ "workflow": "" }),
            422,
            "workflow",
        ),
        (
            M::PATCH,
            format!("{SESSIONS}/{session}"),
            json!({ "retention": { "max_age_seconds": 0 } }),
            422,
            "retention.max_age_seconds",
        ),
        (
            M::PUT,
            format!("{SESSIONS}/{session}/summary"),
            json!({ "content": "s", "through_seq": 5 }),
            422,
            "through_seq",
        ),
        (
            M::GET,
            format!("{SESSIONS}/{session}/window?last=0"),
            Value::Null,
            422,
            "last",
        ),
        (
            M::GET,
            format!("{SESSIONS}/{session}/window?last=2&max_tokens=9"),
            Value::Null,
            400,
            "not both",
        ),
        (
            M::GET,
            format!("{SESSIONS}/{session}/window?max_tokens=abc"),
            Value::Null,
            400,
            "max_tokens",
        ),
        (
            M::GET,
            format!("{SESSIONS}/not-a-uuid"),
            Value::Null,
            400,
            "id",
        ),
        (
            M::POST,
            messages.clone(),
            json!({ "messages": [ok.clone()] }),
            404,
            "not found",
        ),
    ];
    for (i, (method, path, body, status, says)) in cases.into_iter().enumerate() {
        let token = if i == 17 { &bob } else { &ann };
        let body = (!body.is_null()).then_some(body);
        let (got, answer, _) = server.call(method.clone(), &path, token, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert!(
            answer.to_string().contains(says),
            "{method} {path} should name `{says}`: {answer}"
        );
    }
    let stored = all_messages(&server, &ann, &session).await;
    assert_eq!(stored.len(), 1, "nothing appended by a refused batch");
    let got = server
        .call_expecting(M::GET, &format!("{SESSIONS}/{session}"), &ann, None, 200)
        .await;
    assert_eq!(got["name"], "kept");
    assert_eq!(
        got["retention"],
        json!({ "max_messages": null, "max_age_seconds": null })
    );
    assert_eq!(got["summary"], Value::Null);
    assert_eq!(got["next_seq"], 1);
    let listed = server
        .call_expecting(M::GET, SESSIONS, &ann, None, 200)
        .await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "no session made"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_plugin_uses_memory_and_state_through_wit_only_when_granted() {
    let server = Setup::new()
        .await
        .plugins_dir_untrusted(&[("memory-probe.wasm", wasm("memory-probe"))])
        .start()
        .await;
    let admin = server.admin_token.clone();
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let (_, listing) = server.admin_get("/api/v1/admin/plugins").await;
    let pending = &listing["pending"][0];
    assert_eq!(pending["name"], "memory-probe", "{listing}");
    assert_eq!(
        pending["requested"]["core_models"],
        json!([{ "model": "memory", "write": true }, { "model": "state", "write": true }])
    );

    // Running, but without the services: every call is denied.
    server
        .call_expecting(
            M::POST,
            "/api/v1/admin/plugins/memory-probe/grants",
            &admin,
            Some(json!({ "grant": {} })),
            200,
        )
        .await;
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/memory-probe/conversations",
            &ann,
            Some(json!({ "name": "c" })),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        message(&body).contains("not granted the host service `memory`"),
        "{body}"
    );
    let none = server
        .call_expecting(M::GET, SESSIONS, &admin, None, 200)
        .await;
    assert_eq!(none["items"], json!([]));

    server
        .call_expecting(
            M::POST,
            "/api/v1/admin/plugins/memory-probe/grants",
            &admin,
            Some(json!({ "accept_requested": true })),
            200,
        )
        .await;
    let made = server
        .call_expecting(
            M::POST,
            "/api/v1/memory-probe/conversations",
            &ann,
            Some(json!({ "name": "plugin chat" })),
            201,
        )
        .await;
    let session = made["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/memory-probe/conversations/{session}");
    // Each turn appends the user's message and the reply, and checkpoints
    // the turn count through `state`.
    for n in 0..3 {
        let turn = server
            .call_expecting(
                M::POST,
                &format!("{path}/turns"),
                &ann,
                Some(json!({ "text": format!("question {n} about invoices") })),
                201,
            )
            .await;
        assert_eq!(turn["seqs"], json!([2 * n, 2 * n + 1]));
        assert_eq!(turn["checkpoint_step"], n);
    }
    // A turn whose request fails is rolled back with it.
    let (status, _, _) = server
        .call(
            M::POST,
            &format!("{path}/turns"),
            &ann,
            Some(json!({ "text": "lost", "answer": 500 })),
        )
        .await;
    assert_eq!(status, 500);
    let seen = server
        .call_expecting(M::GET, &format!("{path}/window?last=3"), &ann, None, 200)
        .await;
    assert_eq!(seen["seqs"], json!([3, 4, 5]));
    assert_eq!(seen["roles"], json!(["assistant", "user", "assistant"]));
    let found = server
        .call_expecting(
            M::GET,
            "/api/v1/memory-probe/search?q=invoices",
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(found["count"], 6, "each question and its reply");
    assert!(
        found["first_snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>invoices</mark>")
    );

    // The REST API sees the plugin's session, labelled with the plugin.
    let listed = server
        .call_expecting(
            M::GET,
            &format!("{SESSIONS}?plugin=memory-probe"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(listed["items"][0]["id"], session.as_str());
    assert_eq!(listed["items"][0]["message_count"], 6);
    // A session made through REST is the caller's too, so the plugin acting
    // for ann reaches it; acting for bob it does not.
    let rest_session = new_session(&server, &ann, json!({})).await;
    server
        .call_expecting(
            M::POST,
            &format!("/api/v1/memory-probe/conversations/{rest_session}/turns"),
            &ann,
            Some(json!({ "text": "hello" })),
            201,
        )
        .await;
    let (status, _, _) = server
        .call(M::GET, &format!("{path}/window?last=3"), &bob, None)
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn a_query_matching_more_than_ten_thousand_messages_ranks_the_newest_of_them() {
    let server = TestServer::start().await;
    let ann = server.user("ann@example.com", false).await;
    let session = new_session(&server, &ann, json!({})).await;
    // The best match of all comes first in time...
    append(
        &server,
        &ann,
        &session,
        json!([{ "role": "user", "content": "common common common common common" }]),
    )
    .await;
    // ...then 10,000 weaker ones.
    for round in 0..10 {
        let batch: Vec<Value> = (0..1000)
            .map(|i| json!({ "role": "user", "content": format!("common note {round} {i} with more words") }))
            .collect();
        append(&server, &ann, &session, Value::Array(batch)).await;
    }
    let hits = server
        .call_expecting(
            M::GET,
            &format!("{SEARCH}?q=common&limit=5"),
            &ann,
            None,
            200,
        )
        .await;
    assert_eq!(hits["items"].as_array().unwrap().len(), 5);
    assert!(
        hits["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|hit| hit["seq"] != 0),
        "the 10,000 newest matches are ranked, the oldest is not: {hits}"
    );
    // A narrower query still finds it.
    let narrow = server
        .call_expecting(M::GET, &format!("{SEARCH}?q=common+-note"), &ann, None, 200)
        .await;
    assert_eq!(seqs(&narrow["items"]), vec![0]);
    server.stop().await;
}
