//! What the operator says about a `wasi:http/proxy` component when
//! installing it. Such a component (what `wasmtime serve` and Spin run)
//! carries no manifest, so its name, version, the path it is mounted under,
//! whether that mount is public and the origins it may call come from the
//! install ([`MountRequest`]), are checked here into an [`HttpMount`], and
//! are kept with its bytes so that a restart, a rollback or another node
//! brings it back the same.

use super::grant::Grant;
use super::route_pattern::PathPattern;
use super::{RESERVED_PREFIXES, is_plugin_name};
use semver::Version;
use serde::{Deserialize, Serialize};

/// The most segments a mount path may have.
const MAX_MOUNT_SEGMENTS: usize = 8;

/// A `wasi:http` component's identity and mount, as installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpMount {
    pub name: String,
    pub version: Version,
    /// A literal path such as `/apps/app`; the component serves it and
    /// every path under it, and sees paths with this prefix taken off.
    pub mount: String,
    /// Whether the mount is reachable without a token (the operator must
    /// still grant it, as for a plugin's public routes).
    pub public: bool,
    /// Origins the component may call through `wasi:http/outgoing-handler`,
    /// in the grant's syntax; requested here, granted by an operator.
    pub outbound_hosts: Vec<String>,
}

/// Why an install's description of a component was refused; each names
/// the parameter that is wrong ([`MountError::field`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    #[error(
        "`{0}` is not a plugin name (1-63 lower-case letters, digits and `-`, starting with a letter)"
    )]
    Name(String),
    #[error("{0}")]
    Mount(String),
    #[error("`{origin}` {reason}")]
    Outbound { origin: String, reason: String },
    #[error("`{0}` is not a semantic version")]
    Version(String),
}

impl MountError {
    /// The install parameter that is wrong.
    pub fn field(&self) -> &'static str {
        match self {
            MountError::Name(_) => "name",
            MountError::Mount(_) => "mount",
            MountError::Outbound { .. } => "outbound",
            MountError::Version(_) => "version",
        }
    }
}

impl HttpMount {
    /// Checks what an operator gave for a component.
    pub fn new(
        name: &str,
        version: Version,
        mount: &str,
        public: bool,
        outbound_hosts: Vec<String>,
    ) -> Result<Self, MountError> {
        if !is_plugin_name(name) {
            return Err(MountError::Name(name.to_string()));
        }
        let path = PathPattern::parse(mount).map_err(|e| MountError::Mount(e.to_string()))?;
        if !path.is_literal() {
            return Err(MountError::Mount(format!(
                "`{mount}` has a parameter; a mount is a literal path such as `/apps/{name}`"
            )));
        }
        if mount.split('/').count() - 1 > MAX_MOUNT_SEGMENTS {
            return Err(MountError::Mount(format!(
                "`{mount}` has more than {MAX_MOUNT_SEGMENTS} segments"
            )));
        }
        if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| path.is_under(p)) {
            return Err(MountError::Mount(format!(
                "{prefix} is reserved for the host"
            )));
        }
        for origin in &outbound_hosts {
            check_origin(origin)?;
        }
        Ok(Self {
            name: name.to_string(),
            version,
            mount: mount.to_string(),
            public,
            outbound_hosts,
        })
    }

    /// The mount as a pattern: the path itself.
    pub fn path(&self) -> PathPattern {
        PathPattern::parse(&self.mount).expect("checked when the mount was made")
    }

    /// The path a component sees for a request to `path` under the mount:
    /// the prefix taken off, `/` for the mount itself.
    pub fn inner_path<'a>(&self, path: &'a str) -> &'a str {
        match path.strip_prefix(self.mount.as_str()) {
            Some(rest) if rest.starts_with('/') => rest,
            _ => "/",
        }
    }
}

/// What an operator gave to install a `wasi:http` component, as received.
#[derive(Debug, Clone, Default)]
pub struct MountRequest {
    pub name: String,
    /// `None`: keep the mount, public flag and outbound origins of the
    /// component serving as `name` (an upgrade in place).
    pub mount: Option<String>,
    pub public: Option<bool>,
    pub outbound_hosts: Option<Vec<String>>,
    /// `None`: the patch after the newest version recorded for `name`.
    pub version: Option<String>,
}

impl MountRequest {
    /// The checked mount this request describes, given the component now
    /// serving under its name (if any) and every version recorded for it.
    pub fn resolve(
        &self,
        serving: Option<&HttpMount>,
        recorded: &[Version],
    ) -> Result<HttpMount, MountError> {
        if !is_plugin_name(&self.name) {
            return Err(MountError::Name(self.name.clone()));
        }
        let version = match &self.version {
            Some(text) => Version::parse(text).map_err(|_| MountError::Version(text.clone()))?,
            None => recorded.iter().max().map_or(Version::new(0, 1, 0), |v| {
                Version::new(v.major, v.minor, v.patch + 1)
            }),
        };
        let (mount, public, outbound_hosts) = match &self.mount {
            Some(mount) => (
                mount.clone(),
                self.public.unwrap_or(false),
                self.outbound_hosts.clone().unwrap_or_default(),
            ),
            None if self.public.is_some() || self.outbound_hosts.is_some() => {
                return Err(MountError::Mount(
                    "give the mount as well when setting public or outbound".into(),
                ));
            }
            None => {
                let serving = serving.ok_or_else(|| {
                    MountError::Mount(format!(
                        "required: no wasi:http component named `{}` is serving, whose mount an upgrade would keep",
                        self.name
                    ))
                })?;
                (
                    serving.mount.clone(),
                    serving.public,
                    serving.outbound_hosts.clone(),
                )
            }
        };
        HttpMount::new(&self.name, version, &mount, public, outbound_hosts)
    }
}

/// An outbound origin must be what [`Grant::outbound`] can match: a URL of
/// scheme `http` or `https` with a host, nothing after it, and an optional
/// port or `:*` for any port.
pub fn check_origin(origin: &str) -> Result<(), MountError> {
    let bad = |reason: &str| MountError::Outbound {
        origin: origin.to_string(),
        reason: reason.to_string(),
    };
    let base = origin.strip_suffix(":*").unwrap_or(origin);
    let url = url::Url::parse(base).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if url.path() != "/" || url.query().is_some() || base.ends_with('/') {
        return Err(bad(
            "must be an origin only, such as `https://api.example.com` or `http://127.0.0.1:*`",
        ));
    }
    let probe = Grant {
        outbound_hosts: vec![origin.to_string()],
        ..Grant::default()
    };
    if !probe.outbound(&url) {
        return Err(bad("cannot be matched by any request"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(path: &str, outbound: &[&str]) -> Result<HttpMount, MountError> {
        HttpMount::new(
            "app",
            Version::new(0, 1, 0),
            path,
            false,
            outbound.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn a_mount_is_a_literal_path_outside_the_hosts_own() {
        assert!(mount("/apps/app", &[]).is_ok());
        assert!(matches!(mount("apps", &[]), Err(MountError::Mount(_))));
        assert!(matches!(mount("/apps/{x}", &[]), Err(MountError::Mount(_))));
        assert!(matches!(mount("/apps/", &[]), Err(MountError::Mount(_))));
        for own in ["/api/v1/admin/x", "/admin", "/docs/app"] {
            assert!(
                matches!(mount(own, &[]), Err(MountError::Mount(m)) if m.contains("reserved")),
                "{own}"
            );
        }
        assert!(matches!(
            mount("/a/b/c/d/e/f/g/h/i", &[]),
            Err(MountError::Mount(_))
        ));
        assert!(matches!(
            HttpMount::new("App", Version::new(1, 0, 0), "/a", false, vec![]),
            Err(MountError::Name(_))
        ));
    }

    #[test]
    fn outbound_origins_must_be_origins() {
        assert!(mount("/a", &["https://api.example.com", "http://127.0.0.1:*"]).is_ok());
        for bad in [
            "api.example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://example.com/",
            "https://example.com?q=1",
        ] {
            assert!(
                matches!(mount("/a", &[bad]), Err(MountError::Outbound { .. })),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn a_request_names_its_mount_or_keeps_the_serving_one() {
        let request = |mount: Option<&str>, public: Option<bool>| MountRequest {
            name: "app".into(),
            mount: mount.map(str::to_string),
            public,
            ..MountRequest::default()
        };
        let first = request(Some("/apps/app"), None).resolve(None, &[]).unwrap();
        assert_eq!(first.version, Version::new(0, 1, 0));
        let serving = HttpMount {
            public: true,
            outbound_hosts: vec!["https://x.example".into()],
            ..first.clone()
        };
        let upgrade = request(None, None)
            .resolve(
                Some(&serving),
                &[Version::new(0, 1, 0), Version::new(1, 2, 3)],
            )
            .unwrap();
        assert_eq!(upgrade.version, Version::new(1, 2, 4));
        assert_eq!(
            (upgrade.public, upgrade.outbound_hosts),
            (true, serving.outbound_hosts.clone())
        );
        assert!(matches!(
            request(None, None).resolve(None, &[]),
            Err(MountError::Mount(_))
        ));
        assert!(matches!(
            request(None, Some(true)).resolve(Some(&serving), &[]),
            Err(MountError::Mount(_))
        ));
        let versioned = MountRequest {
            version: Some("one".into()),
            ..request(Some("/a"), None)
        };
        assert!(matches!(
            versioned.resolve(None, &[]),
            Err(MountError::Version(_))
        ));
    }

    #[test]
    fn the_component_sees_paths_without_the_mount() {
        let m = mount("/apps/app", &[]).unwrap();
        assert_eq!(m.inner_path("/apps/app"), "/");
        assert_eq!(m.inner_path("/apps/app/"), "/");
        assert_eq!(m.inner_path("/apps/app/x/y"), "/x/y");
    }
}
