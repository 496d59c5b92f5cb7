//! What reaches the logs. Secrets never: with every crate logging at TRACE
//! (but the code generator, which never sees a secret and would only slow
//! the test down), create, update, use (injected outbound), reveal and fail
//! to decrypt a credential, and call a workflow's webhook (its secret is in
//! the path), then search the captured output. A plugin's
//! panic message does: the operator needs it, the client must not see it.

mod support;

use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use support::{M, Setup, TestServer, wasm};

/// Everything logged in this test process.
static CAPTURED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    CAPTURED
        .get_or_init(|| {
            let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
            let writer = Capture(buffer.clone());
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "trace,cranelift_codegen=info,regalloc2=info,wasmtime_internal_cranelift=info,cranelift_frontend=info",
                ))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .init();
            buffer
        })
        .clone()
}

#[tokio::test]
async fn no_secret_appears_in_any_log_line() {
    let logs = capture_logs();
    let upstream = {
        let app = axum::Router::new().fallback(|| async { "ok" });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        port
    };
    let server = Setup::new()
        .await
        .plugins_dir(&[("outbound-probe.wasm", wasm("outbound-probe"))])
        .start()
        .await;
    let alice = server.user("alice@example.com", false).await;
    let canary = "CANARY-5ecret-0f-alice";
    let (status, created, _) = server
        .call(
            M::POST,
            "/api/v1/credentials",
            &alice,
            Some(json!({ "name": "test-api", "service_type": "webhook", "secret": { "token": canary }, "allowed_plugins": ["outbound-probe"] })),
        )
        .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_string();
    let (status, _, _) = server
        .call(
            M::POST,
            "/api/v1/outbound-probe/call",
            &alice,
            Some(json!({ "url": format!("http://127.0.0.1:{upstream}/"), "credential": { "name": "test-api", "inject": "bearer" } })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body, _) = server
        .call(
            M::GET,
            "/api/v1/outbound-probe/reveal/test-api",
            &alice,
            None,
        )
        .await;
    assert_eq!(
        (status, body["secret"]["token"].as_str()),
        (200, Some(canary))
    );
    let second = "CANARY-second-value";
    let (status, _, _) = server
        .call(
            M::PATCH,
            &format!("/api/v1/credentials/{id}"),
            &alice,
            Some(json!({ "secret": { "token": second } })),
        )
        .await;
    assert_eq!(status, 200);
    // A wrong-typed secret is refused; its value must not be logged either.
    server
        .call(
            M::POST,
            "/api/v1/credentials",
            &alice,
            Some(json!({ "name": "n", "service_type": "t", "secret": "CANARY-as-a-string" })),
        )
        .await;
    // A decryption failure is logged, without the secret.
    sqlx::query("UPDATE credentials SET secret = $1 WHERE id = $2")
        .bind(vec![1u8; 40])
        .bind(&id)
        .execute(server.state.db.writer())
        .await
        .unwrap();
    let (status, _, _) = server
        .call(
            M::GET,
            "/api/v1/outbound-probe/reveal/test-api",
            &alice,
            None,
        )
        .await;
    assert_eq!(status, 503);
    // A webhook's secret is a credential in the path: it is called, and
    // the logs hold the path without it.
    let hook = server.hooked_workflow(&alice).await;
    let webhook_secret = hook.rsplit('/').next().unwrap().to_string();
    let response = server.send(M::POST, &hook, None, Some(&json!({}))).await;
    assert_eq!(response.status(), 202);
    server.stop().await;

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        text.len() > 10_000,
        "logging was captured ({} bytes)",
        text.len()
    );
    assert!(
        text.contains("credential could not be opened"),
        "the failure itself is logged"
    );
    assert!(!text.contains("CANARY"), "a secret reached the logs");
    assert!(!text.contains(&alice), "a token reached the logs");
    assert!(
        text.contains("/api/v1/hooks/") && text.contains("[secret]"),
        "the webhook call is logged"
    );
    assert!(
        !text.contains(&webhook_secret),
        "a webhook secret reached the logs"
    );
}

#[tokio::test]
async fn a_plugin_panic_message_reaches_the_log_and_not_the_client() {
    let logs = capture_logs();
    let server = TestServer::with_fixture("misbehave").await;
    let (status, body) = server.admin_get("/api/v1/misbehave/panic").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("plugin_failed"))
    );
    let panic_text = "the misbehave plugin panicked on purpose";
    assert!(!body.to_string().contains(panic_text), "{body}");
    // A request that does not fail logs no guest output, even when it
    // wrote to stderr.
    let (status, _) = server.admin_get("/api/v1/misbehave/ok").await;
    assert_eq!(status, 200);
    let (status, _) = server.admin_get("/api/v1/misbehave/stdio").await;
    assert_eq!(status, 200);
    // Exiting fails the request, and says so in the log.
    let (status, _) = server.admin_get("/api/v1/misbehave/exit").await;
    assert_eq!(status, 500);
    server.stop().await;

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    // The warning about the failed call carries the guest's stderr,
    // where the standard library wrote the panic message.
    let warnings: Vec<usize> = text
        .match_indices("guest_stderr=")
        .map(|(at, _)| at)
        .filter(|&at| {
            text[..at]
                .lines()
                .last()
                .is_some_and(|l| l.contains("plugin=misbehave"))
        })
        .collect();
    assert_eq!(warnings.len(), 2, "only the failed calls log guest output");
    let warning = &text[warnings[0]..];
    assert!(
        warning.starts_with("guest_stderr=thread '<unnamed>'") && warning.contains("panicked at"),
        "{warning}"
    );
    assert!(warning.contains(panic_text), "{warning}");
    assert!(
        !text.contains("wrote this to stderr"),
        "a successful call logged its stderr"
    );
    let exit = text[warnings[1]..].lines().next().unwrap();
    assert!(
        exit.starts_with("guest_stderr=the plugin called exit (status: failure)"),
        "{exit}"
    );
}
