//! A plugin's manifest, checked: the raw record from the guest's `describe`
//! turned into typed values (semver versions, parsed route patterns), or an
//! error that names exactly what is wrong.

use crate::domain::EventKind;
use crate::domain::grant::{CoreAccess, Grant, HOST_SERVICES};
use crate::domain::route_doc::{self, RawRouteDoc, RouteDoc};
use crate::domain::{HttpMount, PathPattern, RESERVED_PREFIXES, is_plugin_name};
use crate::store::schema::ModelDef;
use crate::wit::bindings::exports::kai::fusion::describe as wit;
use crate::wit::bindings::{WitManifest, WitNodeKind, WitRouteDoc};
use semver::{Version, VersionReq};
use serde::Serialize;
use std::sync::Arc;

/// The versions of the `kai:fusion` WIT package this host serves, newest
/// first: the current one, and 0.1.3 (any 0.1.x plugin) through the adapter
/// in `crate::capabilities::v0_1`.
pub static HOST_API_VERSIONS: [Version; 2] = [Version::new(0, 2, 4), Version::new(0, 1, 3)];

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A validated manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub name: String,
    #[serde(serialize_with = "crate::util::serialize_display")]
    pub version: Version,
    pub description: String,
    #[serde(serialize_with = "crate::util::serialize_display")]
    pub host_api: VersionReq,
    pub routes: Vec<RouteDecl>,
    pub limits: wit::Limits,
    pub models: Vec<ModelDef>,
    pub subscriptions: Vec<wit::Subscription>,
    pub capabilities: wit::Capabilities,
    pub dependencies: Vec<Dependency>,
    /// The host services it uses (`describe.services`): `state`, `memory`.
    pub services: Vec<String>,
    /// The workflow node kinds it runs (`describe.node-kinds`).
    pub node_kinds: Vec<NodeKindDecl>,
    /// Set for a `wasi:http` component, whose manifest the host made from
    /// what the operator gave at install.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount: Option<HttpMount>,
}

/// One declared route.
#[derive(Debug, Clone, Serialize)]
pub struct RouteDecl {
    pub method: String,
    #[serde(serialize_with = "crate::util::serialize_display")]
    pub path: PathPattern,
    pub public: bool,
    /// What the plugin says of it for the API reference, if anything.
    #[serde(skip)]
    pub doc: Option<Arc<RouteDoc>>,
}

/// One workflow node kind a plugin runs; workflows name it
/// `<plugin>.<name>`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeKindDecl {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The JSON Schema a node's config must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<serde_json::Value>,
    /// The schema, compiled once at load.
    #[serde(skip)]
    pub validator: Option<Arc<jsonschema::Validator>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub plugin: String,
    #[serde(serialize_with = "crate::util::serialize_display")]
    pub requirement: VersionReq,
}

/// Why a manifest was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "plugin name `{0}` is invalid: use 1-63 lower-case letters, digits and `-`, starting with a letter"
    )]
    BadName(String),
    #[error("plugin `{name}` has an invalid version `{version}`: {reason}")]
    BadVersion {
        name: String,
        version: String,
        reason: String,
    },
    #[error("plugin `{name}` has an invalid host API requirement `{requirement}`: {reason}")]
    BadHostApi {
        name: String,
        requirement: String,
        reason: String,
    },
    #[error(
        "plugin `{name}` needs host API `{requirement}`, but this host serves kai:fusion {} (and {} for older plugins)",
        HOST_API_VERSIONS[0],
        HOST_API_VERSIONS[1]
    )]
    UnsupportedHostApi { name: String, requirement: String },
    #[error("plugin `{name}` declares route `{method} {path}`: {reason}")]
    BadRoute {
        name: String,
        method: String,
        path: String,
        reason: String,
    },
    #[error("plugin `{name}` declares a limit of 0 for {limit}")]
    BadLimit { name: String, limit: &'static str },
    #[error("plugin `{name}` declares invalid models: {reason}")]
    BadModels { name: String, reason: String },
    #[error("plugin `{name}` subscribes to the unknown event `{event}`")]
    BadSubscription { name: String, event: String },
    #[error(
        "plugin `{name}` subscribes to `{event}` as transactional; it is delivered after commit only (use Delivery::AfterCommit)"
    )]
    TransactionalOnly { name: String, event: String },
    #[error("plugin `{name}` documents route `{method} {path}`: {reason}")]
    BadRouteDoc {
        name: String,
        method: String,
        path: String,
        reason: String,
    },
    #[error(
        "plugin `{name}` asks for the host service `{service}`, which this host does not have; it has: {}",
        HOST_SERVICES.join(", ")
    )]
    UnknownService { name: String, service: String },
    #[error("plugin `{name}` declares the node kind `{kind}`: {reason}")]
    BadNodeKind {
        name: String,
        kind: String,
        reason: String,
    },
    #[error("plugin `{name}` has an invalid dependency on `{plugin}`: {reason}")]
    BadDependency {
        name: String,
        plugin: String,
        reason: String,
    },
}

impl Manifest {
    /// Everything this manifest asks for, as a grant.
    pub fn requested_grant(&self) -> Grant {
        let manifest = self;
        let capabilities = &manifest.capabilities;
        Grant {
            core_models: capabilities
                .core_models
                .iter()
                .map(|a| CoreAccess {
                    model: super::convert::core_model_name(a.model).into(),
                    write: a.write,
                })
                .chain(self.services.iter().map(|service| CoreAccess {
                    model: service.clone(),
                    write: true,
                }))
                .collect(),
            plugin_models: capabilities.plugin_models.clone(),
            credentials: capabilities.credentials.clone(),
            reveal_credentials: capabilities.reveal_credentials,
            outbound_hosts: capabilities.outbound_hosts.clone(),
            kv: capabilities.kv,
            events: manifest
                .subscriptions
                .iter()
                .map(|s| s.event.clone())
                .collect(),
            public_routes: manifest
                .routes
                .iter()
                .filter(|r| r.public)
                .map(|r| format!("{} {}", r.method, r.path))
                .collect(),
        }
    }

    /// Checks the raw manifest a guest described itself with.
    /// `route_docs`, `services` and `node_kinds` are what the optional
    /// exports of the same names said (empty where the plugin has none).
    pub fn validate(
        raw: WitManifest,
        route_docs: Vec<WitRouteDoc>,
        services: Vec<String>,
        node_kinds: Vec<WitNodeKind>,
    ) -> Result<Self, ManifestError> {
        let name = raw.name;
        if !is_plugin_name(&name) {
            return Err(ManifestError::BadName(name));
        }
        let version = Version::parse(&raw.version).map_err(|e| ManifestError::BadVersion {
            name: name.clone(),
            version: raw.version.clone(),
            reason: e.to_string(),
        })?;
        let host_api = VersionReq::parse(&raw.host_api).map_err(|e| ManifestError::BadHostApi {
            name: name.clone(),
            requirement: raw.host_api.clone(),
            reason: e.to_string(),
        })?;
        if !HOST_API_VERSIONS.iter().any(|v| host_api.matches(v)) {
            return Err(ManifestError::UnsupportedHostApi {
                name,
                requirement: raw.host_api,
            });
        }
        let mut routes = validate_routes(&name, raw.routes)?;
        attach_route_docs(&name, &mut routes, &route_docs)?;
        for (limit, value) in [
            ("timeout-ms", raw.limits.timeout_ms),
            ("memory-mib", raw.limits.memory_mib),
        ] {
            if value == Some(0) {
                return Err(ManifestError::BadLimit { name, limit });
            }
        }
        let models = super::models::validate(&name, &raw.models).map_err(|reason| {
            ManifestError::BadModels {
                name: name.clone(),
                reason,
            }
        })?;
        if let Some(bad) = raw
            .subscriptions
            .iter()
            .find(|s| EventKind::parse(&s.event).is_none())
        {
            return Err(ManifestError::BadSubscription {
                name,
                event: bad.event.clone(),
            });
        }
        if let Some(bad) = raw.subscriptions.iter().find(|s| {
            s.delivery == wit::Delivery::Transactional
                && EventKind::parse(&s.event).is_some_and(EventKind::after_commit_only)
        }) {
            return Err(ManifestError::TransactionalOnly {
                name,
                event: bad.event.clone(),
            });
        }
        if let Some(unknown) = services
            .iter()
            .find(|s| !HOST_SERVICES.contains(&s.as_str()))
        {
            return Err(ManifestError::UnknownService {
                name,
                service: unknown.clone(),
            });
        }
        let mut services = services;
        services.sort();
        services.dedup();
        let node_kinds = validate_node_kinds(&name, node_kinds)?;
        let dependencies = raw
            .dependencies
            .into_iter()
            .map(|d| {
                let requirement = VersionReq::parse(&d.requirement).map_err(|e| {
                    ManifestError::BadDependency {
                        name: name.clone(),
                        plugin: d.plugin.clone(),
                        reason: e.to_string(),
                    }
                })?;
                Ok(Dependency {
                    plugin: d.plugin,
                    requirement,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            name,
            version,
            description: raw.description,
            host_api,
            routes,
            limits: raw.limits,
            models,
            subscriptions: raw.subscriptions,
            capabilities: raw.capabilities,
            dependencies,
            services,
            node_kinds,
            mount: None,
        })
    }

    /// The manifest of a `wasi:http` component mounted as `mount`: every
    /// method on the mount path and every path under it, public if the
    /// operator asked so, the outbound origins the operator named, and the
    /// operator's default limits. It has no models, events or host
    /// interfaces: the component reaches nothing but what it is granted.
    pub fn for_http(mount: &HttpMount) -> Self {
        let path = mount.path();
        let under = path.with_rest("path");
        let routes = METHODS
            .iter()
            .flat_map(|method| {
                [&path, &under].map(|path| RouteDecl {
                    method: method.to_string(),
                    path: path.clone(),
                    public: mount.public,
                    doc: None,
                })
            })
            .collect();
        Self {
            name: mount.name.clone(),
            version: mount.version.clone(),
            description: format!("wasi:http component mounted at {}", mount.mount),
            host_api: VersionReq::STAR,
            routes,
            limits: wit::Limits {
                timeout_ms: None,
                memory_mib: None,
            },
            models: Vec::new(),
            subscriptions: Vec::new(),
            capabilities: wit::Capabilities {
                core_models: Vec::new(),
                plugin_models: Vec::new(),
                credentials: Vec::new(),
                reveal_credentials: false,
                outbound_hosts: mount.outbound_hosts.clone(),
                kv: false,
            },
            dependencies: Vec::new(),
            services: Vec::new(),
            node_kinds: Vec::new(),
            mount: Some(mount.clone()),
        }
    }
}

/// Most node kinds one plugin may declare.
const MAX_NODE_KINDS: usize = 64;

/// Checks declared node kinds: names as plugin names are made, each once,
/// a summary of one line, a config schema as route schemas are checked.
fn validate_node_kinds(
    name: &str,
    raw: Vec<WitNodeKind>,
) -> Result<Vec<NodeKindDecl>, ManifestError> {
    if raw.len() > MAX_NODE_KINDS {
        return Err(ManifestError::BadNodeKind {
            name: name.to_string(),
            kind: raw[MAX_NODE_KINDS].name.clone(),
            reason: format!("a plugin declares at most {MAX_NODE_KINDS} node kinds"),
        });
    }
    let mut kinds: Vec<NodeKindDecl> = Vec::with_capacity(raw.len());
    for kind in raw {
        let bad = |reason: String| ManifestError::BadNodeKind {
            name: name.to_string(),
            kind: kind.name.clone(),
            reason,
        };
        if !is_plugin_name(&kind.name) {
            return Err(bad(
                "use 1-63 lower-case letters, digits and `-`, starting with a letter".into(),
            ));
        }
        if kinds.iter().any(|k| k.name == kind.name) {
            return Err(bad("it is declared twice".into()));
        }
        if kind
            .summary
            .as_ref()
            .is_some_and(|s| s.contains('\n') || s.len() > 200)
        {
            return Err(bad(
                "its summary must be one line of at most 200 bytes".into()
            ));
        }
        let config_schema =
            route_doc::schema("config", kind.config_schema.as_deref()).map_err(bad)?;
        let validator = config_schema
            .as_ref()
            .map(|schema| {
                crate::domain::workflow::compile_config_schema(schema)
                    .map(Arc::new)
                    .map_err(|e| bad(format!("its config schema is not a valid JSON Schema: {e}")))
            })
            .transpose()?;
        kinds.push(NodeKindDecl {
            name: kind.name,
            summary: kind.summary,
            config_schema,
            validator,
        });
    }
    Ok(kinds)
}

fn validate_routes(name: &str, raw: Vec<wit::Route>) -> Result<Vec<RouteDecl>, ManifestError> {
    let mut routes: Vec<RouteDecl> = Vec::with_capacity(raw.len());
    for route in raw {
        let bad = |reason: String| ManifestError::BadRoute {
            name: name.to_string(),
            method: route.method.clone(),
            path: route.path.clone(),
            reason,
        };
        if !METHODS.contains(&route.method.as_str()) {
            return Err(bad(format!(
                "the method must be one of {}",
                METHODS.join(", ")
            )));
        }
        let path = PathPattern::parse(&route.path).map_err(|e| bad(e.to_string()))?;
        if !path.is_under("/api") {
            return Err(bad("plugin routes must live under /api/".into()));
        }
        if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| path.is_under(p)) {
            return Err(bad(format!("{prefix} is reserved for the host")));
        }
        // A literal segment takes precedence over a parameter (as in the
        // route table), so only routes of one shape are ambiguous.
        if let Some(other) = routes
            .iter()
            .find(|r| r.method == route.method && r.path.same_paths(&path))
        {
            return Err(bad(format!(
                "it matches exactly the paths of the plugin's own route `{} {}`, so no \
                 request could tell them apart; remove one, or make a segment of one a literal",
                other.method, other.path
            )));
        }
        routes.push(RouteDecl {
            method: route.method.clone(),
            path,
            public: route.public,
            doc: None,
        });
    }
    Ok(routes)
}

/// Checks each route doc and attaches it to the route it names.
fn attach_route_docs(
    name: &str,
    routes: &mut [RouteDecl],
    docs: &[WitRouteDoc],
) -> Result<(), ManifestError> {
    for raw in docs {
        let bad = |reason: String| ManifestError::BadRouteDoc {
            name: name.to_string(),
            method: raw.method.clone(),
            path: raw.path.clone(),
            reason,
        };
        let route = routes
            .iter_mut()
            .find(|r| r.method == raw.method && r.path.as_str() == raw.path)
            .ok_or_else(|| bad("it is not one of the plugin's routes".into()))?;
        if route.doc.is_some() {
            return Err(bad("it is documented twice".into()));
        }
        let doc = RouteDoc::validate(RawRouteDoc {
            summary: raw.summary.as_deref(),
            request_schema: raw.request_schema.as_deref(),
            response_schema: raw.response_schema.as_deref(),
            success_status: raw.success_status,
        })
        .map_err(bad)?;
        route.doc = Some(Arc::new(doc));
    }
    Ok(())
}

/// The manifest a plugin built against 0.1.x describes itself with.
pub use crate::wit::bindings::v0_1::exports::kai::fusion::describe::Manifest as WitManifestV0_1;

/// A 0.1.x manifest as the current record. 0.2.0 kept every 0.1.x member
/// and name and added one (`model.owned`, false for every older plugin),
/// so the records convert through their common serialized form.
pub fn manifest_from_v0_1(manifest: WitManifestV0_1) -> wasmtime::Result<WitManifest> {
    let mut value = serde_json::to_value(manifest)?;
    if let Some(models) = value.get_mut("models").and_then(|m| m.as_array_mut()) {
        for model in models {
            model["owned"] = serde_json::Value::Bool(false);
        }
    }
    Ok(serde_json::from_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(event: &str, delivery: &str) -> WitManifest {
        serde_json::from_value(serde_json::json!({
            "name": "listener", "version": "1.0.0", "description": "", "host_api": "^0.2.4",
            "routes": [], "limits": { "timeout_ms": null, "memory_mib": null }, "models": [],
            "subscriptions": [{ "event": event, "delivery": delivery }],
            "capabilities": {
                "core_models": [], "plugin_models": [], "credentials": [],
                "reveal_credentials": false, "outbound_hosts": [], "kv": false,
            },
            "dependencies": [],
        }))
        .expect("a manifest")
    }

    #[test]
    fn workflow_events_are_subscribed_to_after_commit_only() {
        let check = |event, delivery| {
            Manifest::validate(manifest(event, delivery), vec![], vec![], vec![]).map(|_| ())
        };
        assert!(check("workflow.execution.succeeded", "AfterCommit").is_ok());
        assert!(check("document.created", "Transactional").is_ok());
        let refused = check("workflow.execution.failed", "Transactional").unwrap_err();
        assert!(
            refused.to_string().contains("delivered after commit only"),
            "{refused}"
        );
        let unknown = check("workflow.execution.started", "AfterCommit").unwrap_err();
        assert!(unknown.to_string().contains("unknown event"), "{unknown}");
    }
}
