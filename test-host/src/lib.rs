//! A KAI-Fusion host for a plugin's native tests: the plugin's handlers run
//! natively, in `cargo test`, and every host call they make runs the real
//! host's code (the same capability checks, data rules and SQL) on a
//! private SQLite database of the test's own.
//!
//! ```ignore
//! use kai_sdk::testing::TestRequest;
//! use kai_test_host::TestHost;
//!
//! #[test]
//! fn lists_what_it_created() {
//!     let host = TestHost::new(super::plugin);
//!     let ann = host.member("ann@example.com");
//!     let created = host.send(TestRequest::post("/api/v1/bookmarks").json(&json!({"url": "u"})).as_principal(&ann, &["member"]));
//!     assert_eq!(created.status, 201);
//! }
//! ```
//!
//! What holds as on a server: filters, ordering, cursors, aggregates, owned
//! models, the caller on public routes (401 without a token on others),
//! core models and the state service as the caller, kv with expiry, grants (every capability the
//! plugin requests is granted unless [`TestHost::grant`] says otherwise),
//! one unit of work per request that commits only below status 400,
//! transactional hooks inside it and after-commit events from the outbox
//! ([`TestHost::deliver_events`]). The conformance cases in the
//! repository's `host/tests/fixtures/conformance` run against this host (on
//! SQLite) and against a real server (on SQLite and PostgreSQL).
//!
//! What a server adds that this host does not: the wasm sandbox itself
//! (deadlines, memory limits, the component's imports), HTTP parsing, and
//! other plugins (another plugin's exported models are not found).

mod calls;
mod hooks;

use calls::NativeCalls;
use hooks::{Directory, TestHooks};
use kai_host::capabilities::outbound_http::OutboundHttp;
use kai_host::capabilities::{DeclaredModels, HostAccess, HostServices};
use kai_host::domain::grant::Grant;
use kai_host::domain::{CollectionInput, DocumentChange, NewDocument};
use kai_host::domain::{Principal, Role};
use kai_host::services::events::Hooks;
use kai_host::services::events::outbox::{Outbox, Worker};
use kai_host::services::secrets::{KeyRing, Keys};
use kai_host::services::{Core, Ctx, Limits, ModelError};
use kai_host::store::Db;
use kai_host::store::session::Session;
use kai_host::wit::bindings::{WitManifest, WitNodeKind, WitRouteDoc};
use kai_host::wit::manifest::Manifest;
use kai_sdk::testing::TestRequest;
use kai_sdk::{Plugin, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

/// One plugin on a private database, with the real host's rules.
/// Steps run by [`TestHost::run_node`] in this process, for their keys.
static STEPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub struct TestHost {
    runtime: Runtime,
    build: fn() -> Plugin,
    manifest: Arc<Manifest>,
    core: Arc<Core>,
    services: Arc<HostServices>,
    hooks: Arc<TestHooks>,
    models: Arc<DeclaredModels>,
    grant: Arc<Grant>,
    /// Holds the database file and the master key; removed when dropped.
    _dir: tempfile::TempDir,
}

impl TestHost {
    /// Loads the plugin `build` makes (the function passed to
    /// `kai_sdk::plugin!`) as a server would: its manifest checked, its
    /// models migrated, everything it requests granted.
    ///
    /// # Panics
    /// When a server would refuse the plugin, with the server's reason.
    pub fn new(build: fn() -> Plugin) -> TestHost {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a tokio runtime for the test host");
        let raw = kai_sdk::__private::manifest(&build());
        let raw: WitManifest = serde_json::from_value(serde_json::to_value(raw).unwrap())
            .expect("the SDK's manifest record is the host's");
        let route_docs = kai_sdk::__private::route_docs(&build());
        let route_docs: Vec<WitRouteDoc> =
            serde_json::from_value(serde_json::to_value(route_docs).unwrap())
                .expect("the SDK's route-doc record is the host's");
        let services = kai_sdk::__private::services(&build());
        let node_kinds = kai_sdk::__private::node_kinds(&build());
        let node_kinds: Vec<WitNodeKind> =
            serde_json::from_value(serde_json::to_value(node_kinds).unwrap())
                .expect("the SDK's node-kind record is the host's");
        let manifest = Manifest::validate(raw, route_docs, services, node_kinds)
            .unwrap_or_else(|e| panic!("a server would refuse this plugin: {e}"));
        let dir = tempfile::tempdir().expect("a temporary directory for the test database");
        let (core, manifest) = runtime.block_on(async {
            let db = Db::open_sqlite(dir.path())
                .await
                .expect("the test database");
            db.migrate().await.expect("the host's tables");
            let name = &manifest.name;
            kai_host::store::schema::apply::migrate(
                &db,
                name,
                &manifest.version,
                &manifest.models,
                true,
            )
            .await
            .unwrap_or_else(|e| panic!("a server would not create this plugin's models: {e}"));
            let keys = Keys::load(dir.path().join("master.key")).expect("a key file");
            KeyRing::default()
                .generate_into(keys.file(), 0)
                .expect("a master key");
            keys.reload();
            let core = Arc::new(Core {
                db,
                keys: Arc::new(keys),
                limits: Limits {
                    max_document_bytes: 10 * 1024 * 1024,
                },
                outbox: Arc::new(Outbox::default()),
                triggers: Arc::new(kai_host::services::triggers::TriggerIndex::default()),
            });
            (core, Arc::new(manifest))
        });
        let models = Arc::new(DeclaredModels::of(&manifest));
        let services = Arc::new(HostServices {
            core: core.clone(),
            outbound: OutboundHttp::new(Duration::from_secs(10), 16 * 1024 * 1024)
                .expect("an HTTP client"),
            directory: Arc::new(Directory(models.clone())),
        });
        let grant = Arc::new(manifest.requested_grant());
        let hooks = TestHooks::new(
            build,
            &manifest,
            services.clone(),
            models.clone(),
            grant.clone(),
            runtime.handle().clone(),
        );
        TestHost {
            runtime,
            build,
            manifest,
            core,
            services,
            hooks,
            models,
            grant,
            _dir: dir,
        }
    }

    /// Grants exactly `grant` instead of what the plugin requests, as the
    /// operator's `POST /api/v1/admin/plugins/{name}/grants` with
    /// `{"grant": ...}` would (the same JSON: `{"kv": true,
    /// "core_models": [{"model": "documents", "write": false}], ...}`).
    pub fn grant(mut self, grant: serde_json::Value) -> TestHost {
        let grant: Grant = serde_json::from_value(grant)
            .unwrap_or_else(|e| panic!("not a grant the admin API takes: {e}"));
        self.grant = Arc::new(grant);
        self.hooks = TestHooks::new(
            self.build,
            &self.manifest,
            self.services.clone(),
            self.models.clone(),
            self.grant.clone(),
            self.runtime.handle().clone(),
        );
        self
    }

    /// Creates a member and returns their user id, for
    /// `TestRequest::as_principal(&id, &["member"])`.
    pub fn member(&self, email: &str) -> String {
        self.user(email, Role::Member)
    }

    /// Creates an admin and returns their user id, for
    /// `TestRequest::as_principal(&id, &["admin"])`.
    pub fn admin(&self, email: &str) -> String {
        self.user(email, Role::Admin)
    }

    fn user(&self, email: &str, role: Role) -> String {
        let db = &self.core.db;
        let user = self
            .runtime
            .block_on(kai_host::store::users::create(db, email, role))
            .unwrap_or_else(|e| panic!("user `{email}`: {e}"));
        user.id
    }

    /// Creates a collection and a document titled `title` in it as the
    /// member `owner` (a user id from [`TestHost::member`]), as a REST
    /// client would: the plugin's hooks for `document.created` run. Returns
    /// the document's id.
    pub fn document(&self, owner: &str, title: &str) -> String {
        self.as_member(owner, async |ctx| {
            let collection = CollectionInput {
                name: Some(format!("{title}'s collection")),
                description: None,
                metadata: None,
            };
            let collection = kai_host::services::collections::create(ctx, collection).await?;
            let document = NewDocument {
                title: title.to_string(),
                content: String::new(),
                format: None,
                tags: Vec::new(),
                metadata: None,
            };
            Ok(
                kai_host::services::documents::create(ctx, &collection.id, document)
                    .await?
                    .id,
            )
        })
        .unwrap_or_else(|e| panic!("creating document `{title}`: {e}"))
    }

    /// Renames the document `id` as the member `user`, as a REST client
    /// would: the plugin's `document.updated` hooks run, and a
    /// transactional one that refuses makes this fail with its message
    /// (and change nothing).
    pub fn rename_document(&self, user: &str, id: &str, title: &str) -> Result<(), String> {
        self.as_member(user, async |ctx| {
            let change = DocumentChange {
                title: Some(title.to_string()),
                ..DocumentChange::default()
            };
            kai_host::services::documents::update(ctx, id, change, None).await?;
            Ok(())
        })
        .map_err(|e| e.to_string())
    }

    /// Runs a core operation as the member `user` in a unit of work of its
    /// own, committed if it succeeds.
    fn as_member<T: Send + 'static>(
        &self,
        user: &str,
        operation: impl AsyncFnOnce(&Ctx<'_>) -> Result<T, ModelError>,
    ) -> Result<T, ModelError> {
        let principal = Principal::new(user, Role::Member);
        let session = Arc::new(Session::new(self.core.db.clone()));
        let ctx = Ctx {
            core: &self.core,
            hooks: &*self.hooks,
            session: &session,
            principal: &principal,
            depth: 0,
        };
        // The hooks the operation sets off run the plugin natively, and
        // block on their own host calls: run it on a worker of the runtime.
        let outcome = tokio::task::block_in_place(|| self.runtime.block_on(operation(&ctx)));
        let handle = self.runtime.handle();
        match outcome {
            Ok(value) => {
                handle
                    .block_on(self.core.commit(&session))
                    .expect("the change commits");
                Ok(value)
            }
            Err(error) => {
                handle.block_on(session.rollback());
                Err(error)
            }
        }
    }

    /// Handles `request` as a server would: the caller checked against the
    /// route (401 without one on a route that is not public and granted),
    /// the handler run natively with host calls answered by the host's
    /// code, then everything it wrote committed if it answered below 400,
    /// rolled back otherwise (or if it panicked, after which the panic goes
    /// on).
    pub fn send(&self, request: TestRequest) -> Response {
        let plugin = (self.build)();
        let principal = request.principal().map(|p| {
            let role = if p.is_admin() {
                Role::Admin
            } else {
                Role::Member
            };
            Principal::new(p.id.clone(), role)
        });
        if principal.is_none()
            && let Some(route) = request.matched_route(&plugin)
            && !(route.is_public() && self.grant.public_route(route.method(), route.path()))
        {
            return kai_sdk::Error::new(401, "unauthorized", "a valid bearer token is required")
                .into_response();
        }
        let session = Arc::new(Session::new(self.core.db.clone()));
        let access = self.access(session.clone(), principal, 0);
        let calls = NativeCalls::new(self.runtime.handle().clone(), &self.manifest.name, access);
        let outcome = calls.run(|| request.send(&plugin));
        let handle = self.runtime.handle();
        match outcome {
            Ok(response) if response.status < 400 => {
                handle
                    .block_on(self.core.commit(&session))
                    .expect("the request's writes commit");
                response
            }
            Ok(response) => {
                handle.block_on(session.rollback());
                response
            }
            Err(panic) => {
                handle.block_on(session.rollback());
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Runs one workflow step of the plugin's node kind `kind` as the
    /// member `user`, as the server's runner does: the config checked
    /// against the kind's schema first, the handler run natively with host
    /// calls answered by the host's code, its writes committed when it
    /// gives an output and rolled back when it fails.
    pub fn run_node(
        &self,
        user: &str,
        kind: &str,
        config: serde_json::Value,
        input: serde_json::Value,
    ) -> kai_sdk::node::NodeResult {
        use kai_sdk::node::{NodeError, NodeRequest};
        let declared = self
            .manifest
            .node_kinds
            .iter()
            .find(|k| k.name == kind)
            .unwrap_or_else(|| panic!("the plugin declares no node kind `{kind}`"));
        if let Some(schema) = &declared.validator
            && let Some(error) = schema.iter_errors(&config).next()
        {
            panic!("a server would refuse this config when the workflow is saved: {error}");
        }
        let plugin = (self.build)();
        let request = NodeRequest {
            kind: kind.to_string(),
            config,
            input,
            execution_id: "test-execution".into(),
            node_id: kind.to_string(),
            attempt: 1,
            // Unique per step, as the runner's keys are.
            idempotency_key: format!(
                "test-step-{}",
                STEPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            principal: Some(kai_sdk::Principal {
                id: user.to_string(),
                roles: vec!["member".into()],
            }),
            request_id: "test".into(),
            received_at: kai_host::util::now_micros(),
        };
        let session = Arc::new(Session::new(self.core.db.clone()));
        let access = self.access(
            session.clone(),
            Some(Principal::new(user.to_string(), Role::Member)),
            0,
        );
        let calls = NativeCalls::new(self.runtime.handle().clone(), &self.manifest.name, access);
        let outcome = calls.run(|| plugin.run_node(&request));
        let handle = self.runtime.handle();
        match outcome {
            Ok(Ok(output)) => {
                handle
                    .block_on(self.core.commit(&session))
                    .expect("the step's writes commit");
                Ok(output)
            }
            Ok(Err(error)) => {
                handle.block_on(session.rollback());
                Err::<_, NodeError>(error)
            }
            Err(panic) => {
                handle.block_on(session.rollback());
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Delivers the after-commit events that are due from the outbox, as
    /// the server's event worker does after each commit; a delivery the
    /// plugin refuses is retried later, as on a server.
    pub fn deliver_events(&self) {
        let worker = Worker {
            db: self.core.db.clone(),
            hooks: self.hooks.clone() as Arc<dyn Hooks>,
            outbox: self.core.outbox.clone(),
        };
        self.runtime
            .block_on(worker.deliver_due())
            .expect("an event delivery round");
    }

    /// The database the host keeps, for assertions a test makes directly.
    pub fn db(&self) -> &Db {
        &self.core.db
    }

    /// Runs `future` on the host's runtime (a query of [`TestHost::db`]).
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    fn access(&self, session: Arc<Session>, principal: Option<Principal>, depth: u8) -> HostAccess {
        HostAccess {
            services: self.services.clone(),
            hooks: self.hooks.clone() as Arc<dyn Hooks>,
            session,
            plugin: self.models.clone(),
            grant: self.grant.clone(),
            principal,
            depth,
        }
    }
}
