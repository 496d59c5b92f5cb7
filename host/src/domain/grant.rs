//! Capabilities as sets: what a plugin asks for, or what the operator
//! granted it, and the questions a host call asks of a grant.

use serde::{Deserialize, Serialize};

/// The host services a plugin can ask for by name (`describe.services`),
/// each behind its own WIT interface. Granted as a [`CoreAccess`] with
/// write access: a service acts on the caller's own data.
pub const HOST_SERVICES: &[&str] = &["state", "memory"];

/// Access to one core model, or to a host service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoreAccess {
    /// `collections`, `documents`, or a host service of [`HOST_SERVICES`].
    pub model: String,
    pub write: bool,
}

/// A set of capabilities: requested by a plugin, or granted to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

impl Grant {
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

    pub fn event(&self, kind: &str) -> bool {
        self.events.iter().any(|e| e == kind)
    }

    pub fn public_route(&self, method: &str, path: &str) -> bool {
        self.public_routes
            .iter()
            .any(|r| *r == format!("{method} {path}"))
    }

    /// Whether `url` is on the outbound allow-list (scheme, host and port
    /// must match; a granted port of `*` matches any port).
    pub fn outbound(&self, url: &url::Url) -> bool {
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
            let Ok(origin) = url::Url::parse(origin) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
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
