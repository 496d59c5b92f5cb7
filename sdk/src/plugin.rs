//! The [`Plugin`] builder: one value that is both the manifest the host reads
//! (`describe`) and the table of handlers it dispatches to (`handle`,
//! `on-event`). Declaring a route and its handler in one call means the two
//! can never drift apart.

use crate::bindings::exports::kai::fusion::describe::{
    self, Capabilities, CoreModelAccess, Delivery, Dependency, Limits, Manifest,
};
use crate::bindings::exports::kai::fusion::events::{self, Event};
use crate::bindings::exports::kai::fusion::handler;
use crate::http::{Error, Request, Response};

pub use crate::bindings::exports::kai::fusion::describe::{
    CoreModel, Field, FieldType, Index, Model,
};

type RouteHandler = Box<dyn Fn(&Request) -> Result<Response, Error>>;
type EventHandler = Box<dyn Fn(&Event) -> Result<(), String>>;

/// A route declaration: method, path pattern and whether it is public.
#[derive(Debug, Clone)]
pub struct Route {
    method: &'static str,
    path: String,
    public: bool,
}

impl Route {
    fn new(method: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            public: false,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new("POST", path)
    }

    pub fn put(path: impl Into<String>) -> Self {
        Self::new("PUT", path)
    }

    pub fn patch(path: impl Into<String>) -> Self {
        Self::new("PATCH", path)
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self::new("DELETE", path)
    }

    /// Asks for the route to be reachable without a token. The operator must
    /// grant it; anonymous requests then reach the handler with no principal.
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }
}

/// A plugin: its manifest plus the handlers behind its routes and events.
pub struct Plugin {
    manifest: Manifest,
    routes: Vec<(&'static str, String, RouteHandler)>,
    events: Vec<(String, EventHandler)>,
}

impl Plugin {
    /// A plugin named `name` (lower-case letters, digits, `-`) at `version`
    /// (semver; `env!("CARGO_PKG_VERSION")` keeps it in step with Cargo).
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            manifest: Manifest {
                name: name.to_string(),
                version: version.to_string(),
                description: String::new(),
                host_api: crate::DEFAULT_HOST_API_REQUIREMENT.to_string(),
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
            routes: Vec::new(),
            events: Vec::new(),
        }
    }

    /// One line for operators.
    pub fn description(mut self, text: &str) -> Self {
        self.manifest.description = text.to_string();
        self
    }

    /// Overrides the host API requirement (default `^0.1`).
    pub fn host_api(mut self, requirement: &str) -> Self {
        self.manifest.host_api = requirement.to_string();
        self
    }

    /// Asks for a shorter deadline per call than the host default.
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.manifest.limits.timeout_ms = Some(ms);
        self
    }

    /// Asks for a memory ceiling per instance, in MiB.
    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.manifest.limits.memory_mib = Some(mib);
        self
    }

    /// Mounts `handler` at `route`.
    pub fn route(
        mut self,
        route: Route,
        handler: impl Fn(&Request) -> Result<Response, Error> + 'static,
    ) -> Self {
        self.manifest.routes.push(describe::Route {
            method: route.method.to_string(),
            path: route.path.clone(),
            public: route.public,
        });
        self.routes
            .push((route.method, route.path, Box::new(handler)));
        self
    }

    /// Declares a table this plugin owns.
    pub fn model(mut self, model: Model) -> Self {
        self.manifest.models.push(model);
        self
    }

    /// Subscribes `handler` to a core event such as `document.updated`.
    pub fn on_event(
        mut self,
        event: &str,
        delivery: Delivery,
        handler: impl Fn(&Event) -> Result<(), String> + 'static,
    ) -> Self {
        self.manifest.subscriptions.push(describe::Subscription {
            event: event.to_string(),
            delivery,
        });
        self.events.push((event.to_string(), Box::new(handler)));
        self
    }

    /// Requests read access to a core model.
    pub fn reads(mut self, model: CoreModel) -> Self {
        self.manifest
            .capabilities
            .core_models
            .push(CoreModelAccess {
                model,
                write: false,
            });
        self
    }

    /// Requests read and write access to a core model.
    pub fn writes(mut self, model: CoreModel) -> Self {
        self.manifest
            .capabilities
            .core_models
            .push(CoreModelAccess { model, write: true });
        self
    }

    /// Requests read access to another plugin's exported model, `plugin/model`.
    pub fn reads_plugin_model(mut self, qualified: &str) -> Self {
        self.manifest
            .capabilities
            .plugin_models
            .push(qualified.to_string());
        self
    }

    /// Requests use of a named credential (injected by the host, not seen).
    pub fn credential(mut self, name: &str) -> Self {
        self.manifest
            .capabilities
            .credentials
            .push(name.to_string());
        self
    }

    /// Requests the right to read granted credentials' secrets.
    pub fn reveal_credentials(mut self) -> Self {
        self.manifest.capabilities.reveal_credentials = true;
        self
    }

    /// Requests outbound HTTP to an origin such as `https://api.example.com`.
    pub fn outbound(mut self, origin: &str) -> Self {
        self.manifest
            .capabilities
            .outbound_hosts
            .push(origin.to_string());
        self
    }

    /// Requests a private key-value store.
    pub fn kv(mut self) -> Self {
        self.manifest.capabilities.kv = true;
        self
    }

    /// Declares that this plugin needs another one, e.g. `("doc-versioning", "^1.2")`.
    pub fn depends_on(mut self, plugin: &str, requirement: &str) -> Self {
        self.manifest.dependencies.push(Dependency {
            plugin: plugin.to_string(),
            requirement: requirement.to_string(),
        });
        self
    }

    /// The manifest as the host will read it.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Dispatches a request to the handler of the route the host matched.
    pub fn handle(&self, request: Request) -> Response {
        let handler = self
            .routes
            .iter()
            .find(|(method, path, _)| *method == request.method() && path == request.route());
        match handler {
            Some((_, _, handler)) => handler(&request).unwrap_or_else(Error::into_response),
            None => Error::not_found(format!(
                "plugin `{}` has no route {} {}",
                self.manifest.name,
                request.method(),
                request.route()
            ))
            .into_response(),
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
pub trait Entry {
    fn build() -> Plugin;
}

impl<T: Entry> describe::Guest for T {
    fn describe() -> Manifest {
        T::build().manifest
    }
}

impl<T: Entry> handler::Guest for T {
    fn handle(request: handler::Request) -> handler::Response {
        T::build().handle(Request::from_wit(request)).into_wit()
    }
}

impl<T: Entry> events::Guest for T {
    fn on_event(event: Event) -> Result<(), String> {
        T::build().deliver(&event)
    }
}
