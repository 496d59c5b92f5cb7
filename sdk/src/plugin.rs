//! The [`Plugin`] builder: one value that is both the manifest the host reads
//! (`describe`) and the table of handlers it dispatches to (`handle`,
//! `on-event`). Declaring a route and its handler in one call means the two
//! can never drift apart.
//!
//! Every request and every event runs in a fresh instance, so the plugin is
//! built again for each. Built for one of those, it records only what
//! dispatch needs (routes, event handlers); the rest of the manifest
//! (models, capabilities, descriptions) is built only when the host asks
//! for it with `describe`, so a plugin's size does not add to the cost of
//! each request.

use crate::events::{Delivery, Event};
use crate::http::{Error, Request, Response};
use crate::model::Model;
use crate::node::{NodeError, NodeHandler, NodeKind, NodeRequest, NodeResult};
use crate::wit::exports::kai::fusion::describe::{
    self, Capabilities, CoreModelAccess, Dependency, Limits, Manifest,
};
use crate::wit::exports::kai::fusion::{events, handler};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::Cell;

/// A core model a plugin asks to read or write ([`Plugin::reads`],
/// [`Plugin::writes`]), always as the request's caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreModel {
    Collections,
    Documents,
}

type RouteHandler = Box<dyn Fn(&Request) -> Result<Response, Error>>;
type EventHandler = Box<dyn Fn(&Event) -> Result<(), String>>;

/// A function that makes a JSON Schema; called only when the host asks the
/// plugin to describe itself, never on a request.
pub type SchemaFn = fn() -> serde_json::Value;

/// A route declaration: method, path pattern, whether it is public, and
/// what the API reference says of it.
#[derive(Debug, Clone)]
pub struct Route {
    method: &'static str,
    /// Borrowed when the path is a literal, as it usually is: no allocation.
    path: Cow<'static, str>,
    public: bool,
    doc: RouteDocs,
}

/// What a route's entry in the host's API reference shows.
#[derive(Debug, Clone, Default)]
struct RouteDocs {
    summary: Option<Cow<'static, str>>,
    request: Option<SchemaFn>,
    response: Option<SchemaFn>,
    success_status: Option<u16>,
}

impl RouteDocs {
    fn is_empty(&self) -> bool {
        self.summary.is_none()
            && self.request.is_none()
            && self.response.is_none()
            && self.success_status.is_none()
    }
}

/// The JSON Schema of `T`, made with `schemars`.
#[cfg(feature = "schemars")]
fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    schemars::schema_for!(T).to_value()
}

impl Route {
    fn new(method: &'static str, path: impl Into<Cow<'static, str>>) -> Self {
        Self {
            method,
            path: path.into(),
            public: false,
            doc: RouteDocs::default(),
        }
    }

    pub fn get(path: impl Into<Cow<'static, str>>) -> Self {
        Self::new("GET", path)
    }

    pub fn post(path: impl Into<Cow<'static, str>>) -> Self {
        Self::new("POST", path)
    }

    pub fn put(path: impl Into<Cow<'static, str>>) -> Self {
        Self::new("PUT", path)
    }

    pub fn patch(path: impl Into<Cow<'static, str>>) -> Self {
        Self::new("PATCH", path)
    }

    pub fn delete(path: impl Into<Cow<'static, str>>) -> Self {
        Self::new("DELETE", path)
    }

    /// Asks for the route to be reachable without a token. The operator must
    /// grant it; anonymous requests then reach the handler with no principal.
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// One line for the host's API reference (`/docs`).
    pub fn summary(mut self, text: impl Into<Cow<'static, str>>) -> Self {
        self.doc.summary = Some(text.into());
        self
    }

    /// Documents the JSON request body as `T`'s schema, derived with
    /// `#[derive(schemars::JsonSchema)]` (the `schemars` feature).
    #[cfg(feature = "schemars")]
    pub fn request<T: schemars::JsonSchema>(mut self) -> Self {
        self.doc.request = Some(schema_of::<T>);
        self
    }

    /// Documents the JSON body of a successful answer as `T`'s schema (the
    /// `schemars` feature).
    #[cfg(feature = "schemars")]
    pub fn response<T: schemars::JsonSchema>(mut self) -> Self {
        self.doc.response = Some(schema_of::<T>);
        self
    }

    /// Documents the JSON request body with a JSON Schema of your own
    /// (2020-12; named parts under `$defs`), e.g.
    /// `.request_schema(|| json!({"type": "object", "required": ["url"]}))`.
    pub fn request_schema(mut self, schema: SchemaFn) -> Self {
        self.doc.request = Some(schema);
        self
    }

    /// Documents the JSON body of a successful answer with a JSON Schema of
    /// your own.
    pub fn response_schema(mut self, schema: SchemaFn) -> Self {
        self.doc.response = Some(schema);
        self
    }

    /// The status of a successful answer, when it is not 200 (e.g. 201).
    pub fn success_status(mut self, status: u16) -> Self {
        self.doc.success_status = Some(status);
        self
    }

    /// The upper-case HTTP method.
    pub fn method(&self) -> &str {
        self.method
    }

    /// The path pattern, e.g. `/api/v1/notes/{id}`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the route asks to be reachable without a token.
    pub fn is_public(&self) -> bool {
        self.public
    }
}

thread_local! {
    /// Set while the SDK builds the plugin to dispatch one request or event.
    static DISPATCH_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// Builds the plugin with only what dispatch needs (see the module docs).
fn build_for_dispatch<T: Entry>() -> Plugin {
    DISPATCH_ONLY.set(true);
    let plugin = T::build();
    DISPATCH_ONLY.set(false);
    plugin
}

/// A model declaration: a [`Model`], or a function that returns one, which
/// is then called only when the manifest is wanted.
pub trait ModelSource {
    fn into_model(self) -> Model;
}

impl ModelSource for Model {
    fn into_model(self) -> Model {
        self
    }
}

impl<F: FnOnce() -> Model> ModelSource for F {
    fn into_model(self) -> Model {
        self()
    }
}

/// A plugin: its manifest plus the handlers behind its routes and events.
pub struct Plugin {
    manifest: Manifest,
    /// Whether the manifest is being recorded (always, except while the SDK
    /// builds the plugin to dispatch a request or an event).
    describing: bool,
    routes: Vec<(Route, RouteHandler)>,
    events: Vec<(String, EventHandler)>,
    /// The host services it asks for (`describe.services`).
    services: Vec<&'static str>,
    /// The workflow node kinds it runs (`describe.node-kinds`).
    nodes: Vec<(NodeKind, NodeHandler)>,
}

impl Plugin {
    /// A plugin named `name` (lower-case letters, digits, `-`) at `version`
    /// (semver; `env!("CARGO_PKG_VERSION")` keeps it in step with Cargo).
    pub fn new(name: &str, version: &str) -> Self {
        let plugin = Self {
            manifest: Manifest {
                // The name is also in dispatch's "no such route" error.
                name: name.to_string(),
                version: String::new(),
                description: String::new(),
                host_api: String::new(),
                routes: Vec::new(),
                limits: Limits {
                    timeout_ms: None,
                    memory_mib: None,
                },
                models: Vec::new(),
                subscriptions: Vec::new(),
                capabilities: Capabilities {
                    core_models: Vec::new(),
                    plugin_models: Vec::new(),
                    credentials: Vec::new(),
                    reveal_credentials: false,
                    outbound_hosts: Vec::new(),
                    kv: false,
                },
                dependencies: Vec::new(),
            },
            describing: !DISPATCH_ONLY.get(),
            routes: Vec::new(),
            events: Vec::new(),
            services: Vec::new(),
            nodes: Vec::new(),
        };
        plugin.describe(|m| {
            m.version = version.to_string();
            m.host_api = crate::DEFAULT_HOST_API_REQUIREMENT.to_string();
        })
    }

    /// Applies `record` to the manifest, unless the plugin is built only to
    /// dispatch (see the module docs).
    fn describe(mut self, record: impl FnOnce(&mut Manifest)) -> Self {
        if self.describing {
            record(&mut self.manifest);
        }
        self
    }

    /// One line for operators.
    pub fn description(self, text: &str) -> Self {
        self.describe(|m| {
            m.description = text.to_string();
        })
    }

    /// Overrides the host API requirement (default `^0.2.0`).
    pub fn host_api(self, requirement: &str) -> Self {
        self.describe(|m| {
            m.host_api = requirement.to_string();
        })
    }

    /// Lets every host error a handler passes on with `?` reach the client
    /// with the host's status and message (see [`HostError::expose`]), for
    /// plugins whose routes are a thin layer over the host. Without it such
    /// errors are the plugin's failure: `500 plugin_failed`.
    ///
    /// [`HostError::expose`]: crate::HostError::expose
    pub fn expose_host_errors(self) -> Self {
        crate::host::EXPOSE_ALL.set(true);
        self
    }

    /// Asks for a shorter deadline per call than the host default.
    pub fn timeout_ms(self, ms: u32) -> Self {
        self.describe(|m| m.limits.timeout_ms = Some(ms))
    }

    /// Asks for a memory ceiling per instance, in MiB.
    pub fn memory_mib(self, mib: u32) -> Self {
        self.describe(|m| m.limits.memory_mib = Some(mib))
    }

    /// Mounts `handler` at `route`.
    pub fn route(
        mut self,
        route: Route,
        handler: impl Fn(&Request) -> Result<Response, Error> + 'static,
    ) -> Self {
        self = self.describe(|m| {
            m.routes.push(describe::Route {
                method: route.method.to_string(),
                path: route.path.to_string(),
                public: route.public,
            })
        });
        self.routes.push((route, Box::new(handler)));
        self
    }

    /// Declares a table this plugin owns: a [`Model`], or a function
    /// returning one (`.model(my_model)`), which spares building it for
    /// each request.
    pub fn model(self, model: impl ModelSource) -> Self {
        self.describe(|m| {
            m.models.push(model.into_model().into_wit());
        })
    }

    /// Subscribes `handler` to a core event such as `document.updated`.
    pub fn on_event(
        mut self,
        event: &str,
        delivery: Delivery,
        handler: impl Fn(&Event) -> Result<(), String> + 'static,
    ) -> Self {
        self = self.describe(|m| {
            m.subscriptions.push(describe::Subscription {
                event: event.to_string(),
                delivery: delivery.into(),
            })
        });
        self.events.push((event.to_string(), Box::new(handler)));
        self
    }

    /// Requests read access to a core model.
    pub fn reads(self, model: CoreModel) -> Self {
        self.describe(|m| {
            m.capabilities.core_models.push(CoreModelAccess {
                model: model.into(),
                write: false,
            });
        })
    }

    /// Requests read and write access to a core model.
    pub fn writes(self, model: CoreModel) -> Self {
        self.describe(|m| {
            m.capabilities.core_models.push(CoreModelAccess {
                model: model.into(),
                write: true,
            });
        })
    }

    /// Requests read access to another plugin's exported model, `plugin/model`.
    pub fn reads_plugin_model(self, qualified: &str) -> Self {
        self.describe(|m| {
            m.capabilities.plugin_models.push(qualified.to_string());
        })
    }

    /// Requests use of a named credential (injected by the host, not seen).
    pub fn credential(self, name: &str) -> Self {
        self.describe(|m| {
            m.capabilities.credentials.push(name.to_string());
        })
    }

    /// Requests the right to read granted credentials' secrets.
    pub fn reveal_credentials(self) -> Self {
        self.describe(|m| m.capabilities.reveal_credentials = true)
    }

    /// Requests outbound HTTP to an origin such as `https://api.example.com`.
    pub fn outbound(self, origin: &str) -> Self {
        self.describe(|m| {
            m.capabilities.outbound_hosts.push(origin.to_string());
        })
    }

    /// Requests a private key-value store.
    pub fn kv(self) -> Self {
        self.describe(|m| m.capabilities.kv = true)
    }

    /// Requests the host service `state`: durable checkpoints of
    /// long-running work ([`crate::state`]).
    /// A plugin that has not named its host API range asks for 0.2.2,
    /// the first host with the service, so an older host refuses it by
    /// name rather than by a missing import; a range already raised (to
    /// `^0.2.3` by [`Plugin::memory`]) or named by the plugin is kept.
    pub fn state(mut self) -> Self {
        if self.describing && !self.services.contains(&"state") {
            self.services.push("state");
            if self.manifest.host_api == crate::DEFAULT_HOST_API_REQUIREMENT {
                self.manifest.host_api = "^0.2.2".to_string();
            }
        }
        self
    }

    /// Requests the host service `memory`: conversation memory, sessions of
    /// messages ([`crate::memory`]), always as the caller.
    /// A plugin that has not named its host API range, or whose range
    /// [`Plugin::state`] raised to `^0.2.2`, asks for 0.2.3, the first host
    /// with the service, so an older host refuses it by name rather than by
    /// a missing import.
    pub fn memory(mut self) -> Self {
        if self.describing && !self.services.contains(&"memory") {
            self.services.push("memory");
            if self.manifest.host_api == crate::DEFAULT_HOST_API_REQUIREMENT
                || self.manifest.host_api == "^0.2.2"
            {
                self.manifest.host_api = "^0.2.3".to_string();
            }
        }
        self
    }

    /// Runs `kind` as a workflow node (see [`crate::node`]): workflows
    /// name it `<plugin>.<kind>`. A plugin that has not named its host API
    /// range, or whose range a host service raised, asks for 0.2.4, the
    /// first host that runs node kinds.
    pub fn node(
        mut self,
        kind: NodeKind,
        run: impl Fn(&NodeRequest) -> NodeResult + 'static,
    ) -> Self {
        if self.describing
            && ["^0.2.2", "^0.2.3", crate::DEFAULT_HOST_API_REQUIREMENT]
                .contains(&self.manifest.host_api.as_str())
        {
            self.manifest.host_api = "^0.2.4".to_string();
        }
        self.nodes.push((kind, Box::new(run)));
        self
    }

    /// Declares that this plugin needs another one, e.g. `("doc-versioning", "^1.2")`.
    pub fn depends_on(self, plugin: &str, requirement: &str) -> Self {
        self.describe(|m| {
            m.dependencies.push(Dependency {
                plugin: plugin.to_string(),
                requirement: requirement.to_string(),
            });
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The routes the plugin mounts, in the order they were declared.
    pub fn routes(&self) -> impl ExactSizeIterator<Item = &Route> {
        self.routes.iter().map(|(route, _)| route)
    }

    /// The manifest as the host will read it.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Dispatches a request to the handler of the route the host matched.
    pub fn handle(&self, request: Request) -> Response {
        let handler = self
            .routes
            .iter()
            .find(|(route, _)| route.method == request.method() && route.path == request.route());
        match handler {
            Some((_, handler)) => handler(&request).unwrap_or_else(Error::into_response),
            None => Error::not_found(format!(
                "plugin `{}` has no route {} {}",
                self.manifest.name,
                request.method(),
                request.route()
            ))
            .into_response(),
        }
    }

    /// What the routes' entries in the host's API reference show, for the
    /// routes that say anything.
    /// The host services it asks for, as `describe.services` gives them.
    pub(crate) fn services(&self) -> Vec<String> {
        self.services.iter().map(|s| s.to_string()).collect()
    }

    pub(crate) fn route_docs(&self) -> Vec<describe::RouteDoc> {
        self.routes
            .iter()
            .map(|(route, _)| route)
            .filter(|route| !route.doc.is_empty())
            .map(|route| describe::RouteDoc {
                method: route.method.to_string(),
                path: route.path.to_string(),
                summary: route.doc.summary.as_deref().map(str::to_string),
                request_schema: route.doc.request.map(|schema| schema().to_string()),
                response_schema: route.doc.response.map(|schema| schema().to_string()),
                success_status: route.doc.success_status,
            })
            .collect()
    }

    /// The node kinds it runs, as `describe.node-kinds` gives them.
    pub(crate) fn node_kinds(&self) -> Vec<describe::NodeKind> {
        self.nodes
            .iter()
            .map(|(kind, _)| describe::NodeKind {
                name: kind.name.to_string(),
                summary: kind.summary.clone(),
                config_schema: kind.config_schema.as_ref().map(Value::to_string),
            })
            .collect()
    }

    /// Runs one step with the handler of its kind.
    pub fn run_node(&self, request: &NodeRequest) -> NodeResult {
        match self
            .nodes
            .iter()
            .find(|(kind, _)| kind.name == request.kind)
        {
            Some((_, run)) => run(request),
            None => Err(NodeError::failed(format!(
                "plugin `{}` runs no node kind `{}`",
                self.manifest.name, request.kind
            ))),
        }
    }

    /// Delivers an event to every handler subscribed to its kind.
    pub fn deliver(&self, event: &Event) -> Result<(), String> {
        for (_, handler) in self.events.iter().filter(|(kind, _)| *kind == event.kind) {
            handler(event)?;
        }
        Ok(())
    }
}

/// Implemented by the type [`crate::plugin!`] generates; connects the
/// component's exports to the user's [`Plugin`].
#[doc(hidden)]
pub trait Entry {
    fn build() -> Plugin;
}

impl<T: Entry> describe::Guest for T {
    fn describe() -> Manifest {
        T::build().manifest
    }

    fn route_docs() -> Vec<describe::RouteDoc> {
        T::build().route_docs()
    }

    fn services() -> Vec<String> {
        T::build().services()
    }

    fn node_kinds() -> Vec<describe::NodeKind> {
        T::build().node_kinds()
    }
}

impl<T: Entry> handler::Guest for T {
    fn handle(request: handler::Request) -> handler::Response {
        build_for_dispatch::<T>().handle(request.into()).into_wit()
    }

    fn run_node(request: handler::NodeRequest) -> Result<String, handler::NodeError> {
        let request = match NodeRequest::try_from(request) {
            Ok(request) => request,
            Err(error) => return Err(handler::NodeError::Failed(error)),
        };
        match build_for_dispatch::<T>().run_node(&request) {
            Ok(output) => Ok(output.to_string()),
            Err(NodeError::Failed(message)) => Err(handler::NodeError::Failed(message)),
            Err(NodeError::Retry(message)) => Err(handler::NodeError::Retry(message)),
        }
    }
}

impl<T: Entry> events::Guest for T {
    fn on_event(event: events::Event) -> Result<(), String> {
        build_for_dispatch::<T>().deliver(&event.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::exports::kai::fusion::handler as wit;

    thread_local! {
        static MODELS_BUILT: Cell<u32> = const { Cell::new(0) };
    }

    fn counted_model() -> Model {
        MODELS_BUILT.set(MODELS_BUILT.get() + 1);
        Model::new("note")
    }

    struct Notes;

    impl Entry for Notes {
        fn build() -> Plugin {
            Plugin::new("notes", "1.2.3")
                .description("notes")
                .model(counted_model)
                .reads(CoreModel::Documents)
                .route(Route::get("/api/v1/notes/{id}"), |req| {
                    Ok(Response::text(200, req.param("id")?.to_string()))
                })
        }
    }

    #[test]
    fn route_docs_list_the_documented_routes_with_their_schemas_as_json() {
        let plugin = Plugin::new("notes", "1.0.0")
            .route(
                Route::post("/api/v1/notes")
                    .summary("Writes a note")
                    .request_schema(|| serde_json::json!({ "type": "object" }))
                    .success_status(201),
                |_| Ok(Response::empty(201)),
            )
            .route(Route::get("/api/v1/notes"), |_| Ok(Response::empty(200)));
        let docs = plugin.route_docs();
        assert_eq!(docs.len(), 1, "an undocumented route gives none");
        let doc = &docs[0];
        assert_eq!(
            (doc.method.as_str(), doc.path.as_str()),
            ("POST", "/api/v1/notes")
        );
        assert_eq!(doc.summary.as_deref(), Some("Writes a note"));
        assert_eq!(doc.request_schema.as_deref(), Some(r#"{"type":"object"}"#));
        assert_eq!(doc.response_schema, None);
        assert_eq!(doc.success_status, Some(201));
    }

    fn get_note(id: &str) -> Request {
        Request::from(wit::Request {
            method: "GET".into(),
            path: format!("/api/v1/notes/{id}"),
            route: "/api/v1/notes/{id}".into(),
            params: vec![("id".into(), id.into())],
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            principal: None,
            request_id: "test".into(),
            received_at: 0,
        })
    }

    #[test]
    fn built_for_dispatch_the_plugin_routes_without_building_its_manifest() {
        let plugin = build_for_dispatch::<Notes>();
        assert_eq!(MODELS_BUILT.get(), 0, "the model function was called");
        assert!(plugin.manifest().models.is_empty());
        assert!(plugin.manifest().routes.is_empty());
        assert!(plugin.manifest().capabilities.core_models.is_empty());
        let response = plugin.handle(get_note("n1"));
        assert_eq!((response.status, response.body), (200, b"n1".to_vec()));

        // Any other build (describe, tests) records the whole manifest.
        let full = Notes::build();
        assert_eq!(MODELS_BUILT.get(), 1);
        let manifest = full.manifest();
        assert_eq!(manifest.models[0].name, "note");
        assert_eq!(manifest.routes[0].path, "/api/v1/notes/{id}");
        assert_eq!(
            (manifest.version.as_str(), manifest.description.as_str()),
            ("1.2.3", "notes")
        );
        assert_eq!(manifest.capabilities.core_models.len(), 1);
    }

    #[test]
    fn host_services_raise_the_default_host_api_to_the_first_host_with_them() {
        let api = |plugin: Plugin| plugin.manifest().host_api.clone();
        let new = || Plugin::new("notes", "1.0.0");
        assert_eq!(api(new()), crate::DEFAULT_HOST_API_REQUIREMENT);
        assert_eq!(api(new().state()), "^0.2.2");
        assert_eq!(api(new().memory()), "^0.2.3");
        assert_eq!(api(new().state().memory()), "^0.2.3");
        assert_eq!(api(new().memory().state()), "^0.2.3", "state lowered it");
        assert_eq!(api(new().host_api("^0.2.5").memory()), "^0.2.5");
        assert_eq!(api(new().memory().host_api("^0.2")), "^0.2");
        let services = new().memory().state().memory().services();
        assert_eq!(services, ["memory", "state"]);
    }

    #[test]
    fn node_kinds_are_declared_dispatched_and_ask_for_the_first_host_that_runs_them() {
        use crate::node::{NodeError, NodeKind, NodeRequest};
        let plugin = Plugin::new("nodes", "1.0.0").memory().node(
            NodeKind::new("echo")
                .summary("Gives its input back")
                .config_schema(serde_json::json!({"type": "object"})),
            |step| Ok(step.input.clone()),
        );
        assert_eq!(plugin.manifest().host_api, "^0.2.4");
        let kinds = plugin.node_kinds();
        assert_eq!(kinds.len(), 1);
        assert_eq!(kinds[0].name, "echo");
        assert_eq!(
            kinds[0].config_schema.as_deref(),
            Some("{\"type\":\"object\"}")
        );
        let step = |kind: &str| NodeRequest {
            kind: kind.into(),
            config: serde_json::json!({}),
            input: serde_json::json!([1]),
            execution_id: "e".into(),
            node_id: "n".into(),
            attempt: 1,
            idempotency_key: "k".into(),
            principal: None,
            request_id: "r".into(),
            received_at: 0,
        };
        assert_eq!(plugin.run_node(&step("echo")), Ok(serde_json::json!([1])));
        assert_eq!(
            plugin.run_node(&step("other")),
            Err(NodeError::failed(
                "plugin `nodes` runs no node kind `other`"
            ))
        );
        let api = |plugin: Plugin| plugin.manifest().host_api.clone();
        let kind = || NodeKind::new("k");
        let node = |p: Plugin| p.node(kind(), |_| Ok(serde_json::Value::Null));
        assert_eq!(api(node(Plugin::new("a", "1.0.0")).state()), "^0.2.4");
        assert_eq!(
            api(node(Plugin::new("a", "1.0.0").host_api("^0.3"))),
            "^0.3"
        );
    }
}
