//! The conformance cases (`fixtures/conformance/src/cases.rs`) against a
//! real server that installed the fixture: the fixture's own test runs the
//! same cases against the native test host (`kai-test-host`), so a plugin
//! author's native tests and a server agree.

mod support;

#[path = "fixtures/conformance/src/cases.rs"]
mod cases;

use cases::{Target, Who};
use serde_json::Value as Json;
use support::{M, Setup, TestServer, wasm};
use tokio::runtime::Handle;

struct Server {
    server: TestServer,
    handle: Handle,
    ann: String,
    bob: String,
}

impl Server {
    /// Runs `future` to completion from the synchronous cases.
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        tokio::task::block_in_place(|| self.handle.block_on(future))
    }
}

impl Target for Server {
    fn call(&mut self, who: Who, method: &str, path: &str, body: Option<&Json>) -> (u16, Json) {
        let method = M::from_bytes(method.as_bytes()).unwrap();
        let server = &self.server;
        let (status, body) = match who {
            Who::Nobody => self.block_on(async {
                let mut request = server.client.request(method, server.url(path));
                if let Some(body) = body {
                    request = request.json(body);
                }
                support::json_of(request.send().await.unwrap()).await
            }),
            _ => {
                let token = match who {
                    Who::Ann => &self.ann,
                    Who::Bob => &self.bob,
                    _ => &server.admin_token,
                };
                let (status, body, _) =
                    self.block_on(server.call(method, path, token, body.cloned()));
                (status, body)
            }
        };
        (status, body)
    }

    /// Waits until the server's event worker has delivered every event.
    fn deliver_events(&mut self) {
        let db = self.server.state.db.reader().clone();
        self.block_on(async {
            for _ in 0..200 {
                let pending: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM event_outbox WHERE delivered_at IS NULL",
                )
                .fetch_one(&db)
                .await
                .unwrap();
                if pending == 0 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("events still undelivered after 10 s");
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answers_every_case_as_the_test_host_does() {
    let server = Setup::new()
        .await
        .plugins_dir(&[("conformance.wasm", wasm("conformance"))])
        .start()
        .await;
    let ann = server.user("ann@example.com", false).await;
    let bob = server.user("bob@example.com", false).await;
    let mut target = Server {
        server,
        handle: Handle::current(),
        ann,
        bob,
    };
    tokio::task::block_in_place(|| cases::run(&mut target));
    target.server.stop().await;
}
