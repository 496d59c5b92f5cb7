//! The master keys of the credential store under a running server: new
//! keys seal at once, a key is removed only when nothing uses it, a wrong
//! key stops the start, and a damaged credential stays that credential's
//! problem. The `kai keys` commands run as the real binary, as an operator
//! would run them beside the server.

mod support;

use serde_json::{Value, json};
use sqlx::Row;
use support::{M, Setup, TestServer, drop_database, kai_on, wasm};

/// Creates a credential for `token`; returns its JSON.
async fn credential(server: &TestServer, token: &str, name: &str, secret: &str) -> Value {
    server
        .call_expecting(
            M::POST,
            "/api/v1/credentials",
            token,
            Some(json!({ "name": name, "service_type": "api", "secret": { "token": secret }, "allowed_plugins": ["outbound-probe"] })),
            201,
        )
        .await
}

/// A heartbeat of a server that is not this test's: one on another machine.
async fn fake_node(server: &TestServer, sealing: i64, holds: &str) {
    sqlx::query(
        "INSERT INTO key_ring_nodes (node_id, description, sealing_key, key_ids, seen_at) \
         VALUES ('other', 'node-b pid 7 (10.0.0.2:8080)', $1, $2, $3)",
    )
    .bind(sealing)
    .bind(holds)
    .bind(kai_host::util::now_micros())
    .execute(server.state.db.writer())
    .await
    .unwrap();
}

async fn forget_fake_node(server: &TestServer) {
    sqlx::query("DELETE FROM key_ring_nodes WHERE node_id = 'other'")
        .execute(server.state.db.writer())
        .await
        .unwrap();
}

/// The `readable` flag of each of the caller's credentials, by name.
async fn readable(server: &TestServer, token: &str) -> Vec<(String, Value)> {
    let list = server
        .call_expecting(M::GET, "/api/v1/credentials", token, None, 200)
        .await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["readable"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_running_server_seals_under_a_new_key_at_once_and_an_old_key_goes_only_when_unused() {
    let server = TestServer::start().await;
    let alice = server.user("alice@example.com", false).await;
    assert_eq!(credential(&server, &alice, "c0", "zero").await["key_id"], 1);

    let (code, out) = server.kai(&["keys", "generate"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("generated key 2"), "{out}");
    // No restart, no rotation: the next secret is sealed under key 2.
    assert_eq!(credential(&server, &alice, "c1", "one").await["key_id"], 2);

    let (code, out) = server.kai(&["keys", "remove", "1"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("key 1 still seals 1 credential(s)") && out.contains("kai keys rotate"),
        "{out}"
    );

    // Another server that lacks key 2 would not read what a rotation seals.
    fake_node(&server, 1, "[1]").await;
    let (code, out) = server.kai(&["keys", "rotate"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("node-b pid 7") && out.contains("do not hold key 2"),
        "{out}"
    );
    forget_fake_node(&server).await;

    let (code, out) = server.kai(&["keys", "rotate"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 credential(s) now under key 2"), "{out}");

    // A server still sealing under key 1 keeps it.
    fake_node(&server, 1, "[1, 2]").await;
    let (code, out) = server.kai(&["keys", "remove", "1"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("node-b pid 7") && out.contains("new credentials are sealed under"),
        "{out}"
    );
    forget_fake_node(&server).await;

    // This server reports key 2 at its next heartbeat (every 5 s).
    let removed = server
        .eventually(15, || async {
            let (code, out) = server.kai(&["keys", "remove", "1"]).await;
            (code == 0).then_some(out)
        })
        .await;
    assert!(removed.contains("removed key 1"), "{removed}");
    assert_eq!(credential(&server, &alice, "c2", "two").await["key_id"], 2);
    let (code, list) = server.kai(&["keys", "list"]).await;
    assert_eq!(code, 0, "{list}");
    assert!(!list.contains("MISSING"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("1 ") && l.ends_with("retired")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("2 ") && l.contains(" 3  seals new secrets")),
        "{list}"
    );

    // A restart reads every credential.
    let (data_dir, database_url, temp) = server.stop_keeping_data().await;
    let server = Setup::reuse(data_dir, database_url).start().await;
    let _temp = temp;
    assert_eq!(
        readable(&server, &alice).await,
        [
            ("c0".to_string(), json!(true)),
            ("c1".to_string(), json!(true)),
            ("c2".to_string(), json!(true))
        ]
    );
    let owner = kai_host::store::users::find_by_email(&server.state.db, "alice@example.com")
        .await
        .unwrap()
        .unwrap();
    for (name, value) in [("c0", "zero"), ("c1", "one"), ("c2", "two")] {
        let secret = kai_host::services::secrets::store::reveal(
            &server.state.db,
            &server.state.core.keys,
            &owner.id,
            name,
            "outbound-probe",
        )
        .await
        .unwrap();
        assert_eq!(secret.as_str(), format!("{{\"token\":\"{value}\"}}"));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_key_retired_in_the_database_never_seals_a_secret() {
    // As when another machine's operator removed key 1 after rotating to a
    // key this server's key file lacks.
    let server = TestServer::start().await;
    let alice = server.user("alice@example.com", false).await;
    sqlx::query("UPDATE master_keys SET retired_at = 1 WHERE key_id = 1")
        .execute(server.state.db.writer())
        .await
        .unwrap();
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/credentials",
            &alice,
            Some(json!({ "name": "c", "service_type": "api", "secret": { "token": "t" } })),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let rows: i64 = sqlx::query("SELECT COUNT(*) FROM credentials")
        .fetch_one(server.state.db.reader())
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
    server.stop().await;
}

/// Flips one bit of the stored secret of credential `id`.
async fn damage(db: &kai_host::store::Db, id: &str) {
    let mut sealed: Vec<u8> = sqlx::query("SELECT secret FROM credentials WHERE id = $1")
        .bind(id)
        .fetch_one(db.reader())
        .await
        .unwrap()
        .get(0);
    let last = sealed.len() - 3;
    sealed[last] ^= 0x10;
    sqlx::query("UPDATE credentials SET secret = $1 WHERE id = $2")
        .bind(sealed)
        .bind(id)
        .execute(db.writer())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_damaged_credential_is_that_credentials_problem_only() {
    let server = Setup::new()
        .await
        .plugins_dir(&[("outbound-probe.wasm", wasm("outbound-probe"))])
        .start()
        .await;
    let alice = server.user("alice@example.com", false).await;
    let damaged = credential(&server, &alice, "test-api", "broken").await;
    let damaged_id = damaged["id"].as_str().unwrap().to_string();
    credential(&server, &alice, "other", "fine").await;
    damage(&server.state.db, &damaged_id).await;
    let (data_dir, database_url, temp) = server.stop_keeping_data().await;

    // The server starts; only that credential is affected.
    let server = Setup::reuse(data_dir.clone(), database_url.clone())
        .configure(|c| c.trusted_plugins = vec!["outbound-probe".into()])
        .configure(|c| c.plugins_dir = Some(data_dir.join("../plugins")))
        .start()
        .await;
    let _temp = temp;
    assert_eq!(
        readable(&server, &alice).await,
        [
            ("other".to_string(), json!(true)),
            ("test-api".to_string(), json!(false))
        ]
    );
    let (status, body, _) = server
        .call(
            M::GET,
            "/api/v1/outbound-probe/reveal/test-api",
            &alice,
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be decrypted"),
        "{body}"
    );
    assert!(!body.to_string().contains("broken"));

    let (code, out) = server.kai(&["keys", "verify"]).await;
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("1 of 2 open") && out.contains(&damaged_id),
        "{out}"
    );

    // Rotation moves what it can and names what it cannot.
    assert_eq!(server.kai(&["keys", "generate"]).await.0, 0);
    let (code, out) = server.kai(&["keys", "rotate"]).await;
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("1 credential(s) now under key 2") && out.contains(&damaged_id),
        "{out}"
    );
    let (code, out) = server.kai(&["keys", "remove", "1"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("key 1 still seals 1 credential(s)"), "{out}");

    // Its owner sets a new secret, which repairs it.
    let path = format!("/api/v1/credentials/{damaged_id}");
    let repaired = server
        .call_expecting(
            M::PATCH,
            &path,
            &alice,
            Some(json!({ "secret": { "token": "new" } })),
            200,
        )
        .await;
    assert_eq!(repaired["readable"], true);
    assert_eq!(repaired["key_id"], 2);
    let (status, body, _) = server
        .call(
            M::GET,
            "/api/v1/outbound-probe/reveal/test-api",
            &alice,
            None,
        )
        .await;
    assert_eq!(
        (status, body["secret"]["token"].clone()),
        (200, json!("new"))
    );
    let (code, out) = server.kai(&["keys", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_or_missing_key_stops_the_start_and_names_the_key() {
    let server = TestServer::start().await;
    let alice = server.user("alice@example.com", false).await;
    credential(&server, &alice, "c", "secret").await;
    let (data_dir, database_url, temp) = server.stop_keeping_data().await;
    let key_file = data_dir.join("master.key");
    let start = |data_dir: std::path::PathBuf| {
        let database_url = database_url.clone();
        async move {
            kai_host::server::Server::prepare(Setup::reuse(data_dir, database_url).config)
                .await
                .err()
                .map(|e| format!("{e:#}"))
        }
    };

    // Another key under the same id.
    std::fs::remove_file(&key_file).unwrap();
    kai_host::services::secrets::KeyRing::default()
        .generate_into(&key_file, 0)
        .unwrap();
    let error = start(data_dir.clone())
        .await
        .expect("a wrong key is refused");
    assert!(
        error.contains("master key 1") && error.contains("refusing to start"),
        "{error}"
    );
    // The CLI says the same of that key.
    let (code, out) = kai_on(&data_dir, database_url.as_deref(), &["keys", "list"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("WRONG KEY"), "{out}");

    // A key file without the key the credential needs.
    std::fs::remove_file(&key_file).unwrap();
    kai_host::services::secrets::KeyRing::default()
        .generate_into(&key_file, 1)
        .unwrap();
    let error = start(data_dir.clone())
        .await
        .expect("a missing key is refused");
    assert!(error.contains("need master key(s) 1"), "{error}");

    // No key at all.
    std::fs::remove_file(&key_file).unwrap();
    let error = start(data_dir.clone()).await.expect("no key is refused");
    assert!(error.contains("no master key is configured"), "{error}");
    drop_database(database_url).await;
    drop(temp);
}
