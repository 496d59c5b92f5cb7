//! Capability grants: what a plugin asks for (from its manifest) and what
//! the operator granted. A plugin's calls are checked against its grant,
//! never against its request.
//!
//! The operator's decision is recorded with the request it answered. A
//! version whose request stays within a decided request runs with the
//! recorded grant (which may be a subset: an operator may refuse parts);
//! a version that asks for more waits for a new decision, and the version
//! already running keeps serving meanwhile. Bundled plugins, and those the
//! operator lists as trusted, are granted what they request.

use crate::store::{Db, plugins};
use crate::wit::bindings::exports::kai::fusion::describe::{CoreModel, Delivery};
use crate::wit::manifest::Manifest;
use serde::{Deserialize, Serialize};

/// Access to one core model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreAccess {
    /// `collections` or `documents`.
    pub model: String,
    pub write: bool,
}

/// A set of capabilities: requested by a plugin, or granted to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Grant {
    pub core_models: Vec<CoreAccess>,
    /// `<plugin>/<model>` pairs, read-only.
    pub plugin_models: Vec<String>,
    /// Names of credentials the plugin may use.
    pub credentials: Vec<String>,
    pub reveal_credentials: bool,
    /// Origins such as `https://api.example.com:443` or `http://127.0.0.1:*`.
    pub outbound_hosts: Vec<String>,
    pub kv: bool,
    /// Event kinds, e.g. `document.updated`.
    pub events: Vec<String>,
    /// `METHOD /path` of routes reachable without a token.
    pub public_routes: Vec<String>,
}

fn core_name(model: CoreModel) -> &'static str {
    match model {
        CoreModel::Collections => "collections",
        CoreModel::Documents => "documents",
    }
}

impl Grant {
    /// Everything `manifest` asks for.
    pub fn requested_by(manifest: &Manifest) -> Grant {
        let capabilities = &manifest.capabilities;
        Grant {
            core_models: capabilities
                .core_models
                .iter()
                .map(|a| CoreAccess {
                    model: core_name(a.model).into(),
                    write: a.write,
                })
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

    pub fn is_empty(&self) -> bool {
        *self == Grant::default()
    }

    /// What `self` has that `other` lacks.
    pub fn beyond(&self, other: &Grant) -> Grant {
        let list = |mine: &[String], theirs: &[String]| -> Vec<String> {
            mine.iter()
                .filter(|x| !theirs.contains(x))
                .cloned()
                .collect()
        };
        Grant {
            core_models: self
                .core_models
                .iter()
                .filter(|a| !other.core(&a.model, a.write))
                .cloned()
                .collect(),
            plugin_models: list(&self.plugin_models, &other.plugin_models),
            credentials: list(&self.credentials, &other.credentials),
            reveal_credentials: self.reveal_credentials && !other.reveal_credentials,
            outbound_hosts: list(&self.outbound_hosts, &other.outbound_hosts),
            kv: self.kv && !other.kv,
            events: list(&self.events, &other.events),
            public_routes: list(&self.public_routes, &other.public_routes),
        }
    }

    /// Whether `self` includes everything in `other`.
    pub fn covers(&self, other: &Grant) -> bool {
        other.beyond(self).is_empty()
    }

    /// Read (or, with `write`, write) access to a core model.
    pub fn core(&self, model: &str, write: bool) -> bool {
        self.core_models
            .iter()
            .any(|a| a.model == model && (a.write || !write))
    }

    pub fn core_model(&self, model: CoreModel, write: bool) -> bool {
        self.core(core_name(model), write)
    }

    pub fn event(&self, kind: &str, _delivery: Delivery) -> bool {
        self.events.iter().any(|e| e == kind)
    }

    pub fn public_route(&self, method: &str, path: &str) -> bool {
        self.public_routes
            .iter()
            .any(|r| *r == format!("{method} {path}"))
    }

    /// Whether `url` is on the outbound allow-list (scheme, host and port
    /// must match; a granted port of `*` matches any port).
    pub fn outbound(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let Some(port) = url.port_or_known_default() else {
            return false;
        };
        self.outbound_hosts.iter().any(|allowed| {
            let allowed = allowed.trim_end_matches('/');
            let (origin, any_port) = match allowed.strip_suffix(":*") {
                Some(origin) => (origin, true),
                None => (allowed, false),
            };
            let Ok(origin) = reqwest::Url::parse(origin) else {
                return false;
            };
            origin.scheme() == url.scheme()
                && origin
                    .host_str()
                    .is_some_and(|h| h.eq_ignore_ascii_case(host))
                && (any_port || origin.port_or_known_default() == Some(port))
        })
    }
}

/// The recorded decision for a plugin: (requested, granted).
pub async fn load(db: &Db, plugin: &str) -> anyhow::Result<Option<(Grant, Grant)>> {
    let Some((requested, granted)) = plugins::grant_decision(db, plugin).await? else {
        return Ok(None);
    };
    Ok(Some((
        serde_json::from_str(&requested)?,
        serde_json::from_str(&granted)?,
    )))
}

/// Records the operator's decision.
pub async fn save(
    db: &Db,
    plugin: &str,
    requested: &Grant,
    granted: &Grant,
    by: Option<&str>,
) -> anyhow::Result<()> {
    let requested = serde_json::to_string(requested)?;
    let granted = serde_json::to_string(granted)?;
    plugins::save_grant_decision(db, plugin, &requested, &granted, by).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).unwrap()
    }

    #[test]
    fn outbound_origins_match_scheme_host_and_port() {
        let grant = Grant {
            outbound_hosts: vec![
                "https://api.example.com".into(),
                "http://127.0.0.1:*".into(),
                "http://internal:8080".into(),
            ],
            ..Grant::default()
        };
        assert!(grant.outbound(&url("https://api.example.com/v1/x")));
        assert!(grant.outbound(&url("https://API.example.com:443/")));
        assert!(
            !grant.outbound(&url("http://api.example.com/")),
            "scheme matters"
        );
        assert!(
            !grant.outbound(&url("https://api.example.com:8443/")),
            "port matters"
        );
        assert!(!grant.outbound(&url("https://evil.example.com/")));
        assert!(!grant.outbound(&url("https://api.example.com.evil.net/")));
        assert!(grant.outbound(&url("http://127.0.0.1:41234/hook")));
        assert!(!grant.outbound(&url("http://localhost:41234/hook")));
        assert!(grant.outbound(&url("http://internal:8080/")));
        assert!(!grant.outbound(&url("http://internal:8081/")));
    }

    #[test]
    fn beyond_and_covers_compare_capability_sets() {
        let requested = Grant {
            core_models: vec![CoreAccess {
                model: "documents".into(),
                write: true,
            }],
            kv: true,
            credentials: vec!["github".into()],
            ..Grant::default()
        };
        let read_only = Grant {
            core_models: vec![CoreAccess {
                model: "documents".into(),
                write: false,
            }],
            kv: true,
            ..Grant::default()
        };
        let missing = requested.beyond(&read_only);
        assert_eq!(missing.core_models.len(), 1);
        assert_eq!(missing.credentials, ["github"]);
        assert!(!missing.kv);
        assert!(!read_only.covers(&requested));
        assert!(requested.covers(&read_only.beyond(&requested)));
        assert!(requested.covers(&requested));
    }
}
