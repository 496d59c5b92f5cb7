//! Principals and API access: users and roles, tokens (shown once, stored
//! hashed, expiring, revocable, with last use), the CLI, and the rate limit
//! on failed authentications.

mod support;

use serde_json::json;
use support::{M, Setup, TestServer};

#[tokio::test]
async fn admins_manage_users_and_members_only_see_themselves() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/users",
            &admin,
            Some(json!({ "email": "Ann@Example.com" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["email"].as_str(), body["role"].as_str()),
        (Some("ann@example.com"), Some("member"))
    );
    let ann_id = body["id"].as_str().unwrap().to_string();
    let (status, _, _) = server
        .call(
            M::POST,
            "/api/v1/users",
            &admin,
            Some(json!({ "email": "ann@example.com" })),
        )
        .await;
    assert_eq!(status, 409);
    let (status, body, _) = server
        .call(
            M::POST,
            "/api/v1/users",
            &admin,
            Some(json!({ "email": "not an email" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // A member: their own record, not the list, not others, not admin routes.
    let (_, token, _) = server
        .call(
            M::POST,
            "/api/v1/tokens",
            &admin,
            Some(json!({ "name": "for ann", "user_id": ann_id })),
        )
        .await;
    let ann = token["token"].as_str().unwrap().to_string();
    let (status, me, _) = server.call(M::GET, "/api/v1/me", &ann, None).await;
    assert_eq!((status, me["id"].as_str()), (200, Some(ann_id.as_str())));
    let (status, _, _) = server.call(M::GET, "/api/v1/users", &ann, None).await;
    assert_eq!(status, 403);
    let (status, _, _) = server
        .call(M::GET, &format!("/api/v1/users/{ann_id}"), &ann, None)
        .await;
    assert_eq!(status, 200);
    let (_, admin_me, _) = server.call(M::GET, "/api/v1/me", &admin, None).await;
    let admin_id = admin_me["id"].as_str().unwrap().to_string();
    let (status, _, _) = server
        .call(M::GET, &format!("/api/v1/users/{admin_id}"), &ann, None)
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = server
        .call(M::GET, "/api/v1/admin/plugins", &ann, None)
        .await;
    assert_eq!(status, 403);

    // The last active admin cannot be demoted; another admin changes that.
    let (status, body, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/users/{admin_id}"),
            &admin,
            Some(json!({ "role": "member" })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/users/{ann_id}"),
            &admin,
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = server.call(M::GET, "/api/v1/users", &ann, None).await;
    assert_eq!(status, 200, "ann is an admin now");

    // Disabling a user shuts their tokens out.
    let (status, _, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/users/{ann_id}"),
            &admin,
            Some(json!({ "disabled": true })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = server.call(M::GET, "/api/v1/me", &ann, None).await;
    assert_eq!(status, 401);
    server.stop().await;
}

#[tokio::test]
async fn tokens_are_shown_once_revocable_expiring_and_track_use() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let (status, created, _) = server
        .call(
            M::POST,
            "/api/v1/tokens",
            &admin,
            Some(json!({ "name": "laptop", "expires_in_days": 30 })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("kai_") && secret.len() >= 4 + 43,
        "256 bits, base64url: {secret}"
    );
    assert!(created["expires_at"].is_string());
    let id = created["id"].as_str().unwrap().to_string();

    // Listed without the secret; stored only as a hash.
    let (_, list, _) = server.call(M::GET, "/api/v1/tokens", &admin, None).await;
    assert!(!list.to_string().contains(&secret));
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "bootstrap + laptop"
    );
    use sqlx::Row;
    let stored: String = sqlx::query("SELECT token_hash FROM api_tokens WHERE id = $1")
        .bind(&id)
        .fetch_one(server.state.db.reader())
        .await
        .unwrap()
        .get(0);
    assert_ne!(stored, secret);
    assert_eq!(stored.len(), 64);

    // Using it records last use.
    let (status, _, _) = server.call(M::GET, "/api/v1/me", &secret, None).await;
    assert_eq!(status, 200);
    let used = server
        .eventually(5, || async {
            let (_, list, _) = server.call(M::GET, "/api/v1/tokens", &admin, None).await;
            let laptop = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == id.as_str())
                .cloned();
            laptop.filter(|t| t["last_used_at"].is_string())
        })
        .await;
    assert!(used["last_used_at"].is_string());

    // Revoked: 401 with the same body as a wrong token.
    let (status, _, _) = server
        .call(M::DELETE, &format!("/api/v1/tokens/{id}"), &admin, None)
        .await;
    assert_eq!(status, 204);
    let revoked = server.call(M::GET, "/api/v1/me", &secret, None).await;
    let wrong = server.call(M::GET, "/api/v1/me", "kai_wrong", None).await;
    assert_eq!((revoked.0, &revoked.1), (401, &wrong.1));

    // Expired: also 401, same body.
    let (_, me, _) = server.call(M::GET, "/api/v1/me", &admin, None).await;
    let expired = kai_host::store::users::create_token(
        &server.state.db,
        me["id"].as_str().unwrap(),
        "old",
        Some(1),
    )
    .await
    .unwrap();
    let (status, body, _) = server
        .call(M::GET, "/api/v1/me", &expired.secret, None)
        .await;
    assert_eq!((status, &body), (401, &wrong.1));

    // Members manage only their own tokens.
    let member = server.user("m@example.com", false).await;
    let (status, _, _) = server
        .call(M::DELETE, &format!("/api/v1/tokens/{id}"), &member, None)
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = server
        .call(
            M::GET,
            &format!("/api/v1/tokens?user_id={}", me["id"].as_str().unwrap()),
            &member,
            None,
        )
        .await;
    assert_eq!(status, 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_disabling_each_other_at_once_leave_one_active() {
    let server = TestServer::start().await;
    let mut survivor = server.admin_token.clone();
    for round in 0..12 {
        // A second admin, then both try to take the other out at once.
        let email = format!("admin{round}@example.com");
        let other = server.user(&email, true).await;
        let (_, me, _) = server.call(M::GET, "/api/v1/me", &survivor, None).await;
        let (_, them, _) = server.call(M::GET, "/api/v1/me", &other, None).await;
        let change = if round % 2 == 0 {
            json!({ "disabled": true })
        } else {
            json!({ "role": "member" })
        };
        let them_path = format!("/api/v1/users/{}", them["id"].as_str().unwrap());
        let me_path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
        let (a, b) = tokio::join!(
            server.call(M::PATCH, &them_path, &survivor, Some(change.clone())),
            server.call(M::PATCH, &me_path, &other, Some(change.clone())),
        );
        // One wins; the other is refused (409), or, when the winner's change
        // landed before its request was authenticated, is no longer an
        // active admin (401 disabled, 403 demoted).
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert!(
            statuses[0] == 200 && [401, 403, 409].contains(&statuses[1]),
            "round {round}: {statuses:?}: {} / {}",
            a.1,
            b.1
        );
        if a.0 != 200 {
            survivor = other;
        }
        let (_, users, _) = server.call(M::GET, "/api/v1/users", &survivor, None).await;
        let active_admins = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["role"] == "admin" && u["disabled"] == false)
            .count();
        assert_eq!(active_admins, 1, "round {round}");
    }
    server.stop().await;
}

#[tokio::test]
async fn failed_authentications_are_rate_limited_per_address_and_valid_tokens_always_pass() {
    let server = Setup::new()
        .await
        .configure(|c| c.auth_failures_per_minute = 3)
        .start()
        .await;
    for _ in 0..3 {
        let (status, _, _) = server.call(M::GET, "/api/v1/me", "kai_guess", None).await;
        assert_eq!(status, 401);
    }
    let response = server
        .send(M::GET, "/api/v1/me", Some("kai_guess"), None)
        .await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    // Wrong tokens from this address stay refused until the minute is
    // over; a valid one from the same address is never refused.
    let (status, body, _) = server
        .call(M::GET, "/api/v1/me", &server.admin_token.clone(), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = server.call(M::GET, "/api/v1/me", "kai_other", None).await;
    assert_eq!(status, 429);
    // Public routes need no authentication and stay open.
    let (status, _) = server.get("/api/v1/hello/still").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_limited_on_its_own() {
    let server = Setup::new()
        .await
        .configure(|c| {
            c.auth_failures_per_minute = 3;
            c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        })
        .start()
        .await;
    let attempt = |client: &'static str, token: String| {
        let request = server
            .client
            .get(server.url("/api/v1/me"))
            .bearer_auth(token)
            .header("x-forwarded-for", client);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for _ in 0..3 {
        assert_eq!(attempt("198.51.100.1", "kai_guess".into()).await, 401);
    }
    assert_eq!(attempt("198.51.100.1", "kai_guess".into()).await, 429);
    // Another client behind the same proxy is not touched.
    assert_eq!(attempt("198.51.100.2", "kai_guess".into()).await, 401);
    assert_eq!(
        attempt("198.51.100.2", server.admin_token.clone()).await,
        200
    );
    // The Forwarded header names clients too.
    let forwarded = server
        .client
        .get(server.url("/api/v1/me"))
        .bearer_auth("kai_guess")
        .header("forwarded", "for=198.51.100.1")
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), 429);
    server.stop().await;
}

#[tokio::test]
async fn the_cli_creates_users_and_tokens() {
    let server = TestServer::start().await;
    let kai = env!("CARGO_BIN_EXE_kai");
    let mut store_args = vec![
        "--data-dir".to_string(),
        server.data_dir.display().to_string(),
    ];
    if let Some(url) = &server.database_url {
        store_args.extend(["--database-url".to_string(), url.clone()]);
    }
    let run = |args: Vec<String>| {
        let output = std::process::Command::new(kai)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kai {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let mut create = vec![
        "user".into(),
        "create".into(),
        "--admin".into(),
        "ops@example.com".into(),
    ];
    create.extend(store_args.clone());
    assert!(run(create).contains("created admin ops@example.com"));
    let mut token = vec![
        "token".into(),
        "create".into(),
        "--user".into(),
        "ops@example.com".into(),
    ];
    token.extend(store_args.clone());
    let secret = run(token).trim().to_string();
    let (status, me, _) = server.call(M::GET, "/api/v1/me", &secret, None).await;
    assert_eq!(
        (status, me["email"].as_str(), me["role"].as_str()),
        (200, Some("ops@example.com"), Some("admin"))
    );
    // The CLI keeps the API's rules: each refusal names what is wrong and
    // creates nothing.
    let refused = |args: &[&str]| {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.extend(store_args.clone());
        let output = std::process::Command::new(kai)
            .args(&args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "kai {args:?} should fail");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(refused(&["user", "create", "not an email"]).contains("email"));
    assert!(refused(&["user", "create", "OPS@example.com"]).contains("exists"));
    assert!(
        refused(&[
            "token",
            "create",
            "--user",
            "ops@example.com",
            "--name",
            " "
        ])
        .contains("name")
    );
    let (_, users, _) = server.call(M::GET, "/api/v1/users", &secret, None).await;
    let emails: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert!(!emails.contains(&"not an email"), "{emails:?}");
    server.stop().await;
}
