//! Path patterns such as `/api/v1/hello/{name}`: parsing, matching and the
//! overlap test used to refuse conflicting routes.
//!
//! A pattern is a list of segments, each either a literal or a `{param}` that
//! matches any one non-empty segment; the last may be a catch-all `{*rest}`
//! that matches the rest of the path (one or more segments). Catch-alls are
//! not declared by plugins: the host mounts a `wasi:http` component with one
//! ([`PathPattern::with_rest`]). Two patterns overlap when some path matches
//! both: at every position the literals are equal or at least one side is a
//! parameter, over as many segments as both can match.

use std::fmt;

/// Path prefixes that belong to the host; no plugin route or mount may
/// live there: the admin API, the console and the API reference.
pub const RESERVED_PREFIXES: &[&str] = &["/api/v1/admin", "/admin", "/docs"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    /// The rest of the path; only ever the last segment.
    Rest(String),
}

/// A parsed, validated path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    raw: String,
    segments: Vec<Segment>,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("path `{0}` must start with `/`")]
    NotAbsolute(String),
    #[error("path `{0}` has an empty segment")]
    EmptySegment(String),
    #[error(
        "path `{path}` has an invalid parameter `{segment}` (use `{{name}}` with a-z, 0-9 and _)"
    )]
    BadParam { path: String, segment: String },
    #[error("path `{path}` uses the parameter `{name}` twice")]
    DuplicateParam { path: String, name: String },
    #[error("path `{path}` contains a character not allowed in a route: `{ch}`")]
    BadChar { path: String, ch: char },
}

impl PathPattern {
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        let Some(rest) = raw.strip_prefix('/') else {
            return Err(PatternError::NotAbsolute(raw.to_string()));
        };
        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for segment in rest.split('/') {
            if segment.is_empty() {
                return Err(PatternError::EmptySegment(raw.to_string()));
            }
            if segment.starts_with('{') || segment.ends_with('}') {
                let name = segment
                    .strip_prefix('{')
                    .and_then(|s| s.strip_suffix('}'))
                    .filter(|name| is_identifier(name))
                    .ok_or_else(|| PatternError::BadParam {
                        path: raw.to_string(),
                        segment: segment.to_string(),
                    })?;
                if names.contains(&name) {
                    return Err(PatternError::DuplicateParam {
                        path: raw.to_string(),
                        name: name.to_string(),
                    });
                }
                names.push(name);
                segments.push(Segment::Param(name.to_string()));
            } else {
                if let Some(ch) = segment.chars().find(|c| !is_literal_char(*c)) {
                    return Err(PatternError::BadChar {
                        path: raw.to_string(),
                        ch,
                    });
                }
                segments.push(Segment::Literal(segment.to_string()));
            }
        }
        Ok(Self {
            raw: raw.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether some request path would match both patterns.
    pub fn overlaps(&self, other: &PathPattern) -> bool {
        let compatible = |(a, b): (&Segment, &Segment)| match (a, b) {
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            _ => true,
        };
        // A catch-all matches one or more segments: the patterns overlap
        // where their segments before it agree and the other is long enough
        // to give it at least one.
        let agree = self.fixed().iter().zip(other.fixed()).all(compatible);
        match (self.has_rest(), other.has_rest()) {
            (false, false) => self.segments.len() == other.segments.len() && agree,
            (true, false) => other.segments.len() >= self.segments.len() && agree,
            (false, true) => self.segments.len() >= other.segments.len() && agree,
            (true, true) => agree,
        }
    }

    /// Whether both patterns match exactly the same paths: the same
    /// literals and parameters at the same positions, whatever the
    /// parameters' names. Two such routes of one plugin are ambiguous;
    /// any other overlap is settled by precedence (see [`Self::overlaps`]
    /// and the route table: a literal segment wins over a parameter).
    pub fn same_paths(&self, other: &PathPattern) -> bool {
        self.agree(other, |pair| match pair {
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            (Segment::Param(_), Segment::Param(_)) | (Segment::Rest(_), Segment::Rest(_)) => true,
            _ => false,
        })
    }

    /// Whether both patterns have as many segments and `at` holds for the
    /// two segments at every position.
    fn agree(&self, other: &PathPattern, at: impl Fn((&Segment, &Segment)) -> bool) -> bool {
        self.segments.len() == other.segments.len()
            && self.segments.iter().zip(&other.segments).all(at)
    }

    /// The declared parameter names, in path order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) | Segment::Rest(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// The pattern with each parameter named after its position (`{p3}`),
    /// for the lookup router, where parameters at the same depth must share
    /// a name.
    pub fn positional(&self) -> String {
        let mut path = String::new();
        for (i, segment) in self.segments.iter().enumerate() {
            path.push('/');
            match segment {
                Segment::Literal(literal) => path.push_str(literal),
                Segment::Param(_) => path.push_str(&format!("{{p{i}}}")),
                Segment::Rest(_) => path.push_str(&format!("{{*p{i}}}")),
            }
        }
        path
    }

    /// The pattern as an OpenAPI path template: a catch-all `{*rest}` is
    /// written `{rest}`, as OpenAPI has no catch-all.
    pub fn openapi_path(&self) -> String {
        if !self.has_rest() {
            return self.raw.clone();
        }
        self.raw.replacen("{*", "{", 1)
    }

    /// This pattern followed by a catch-all `{*name}` matching the rest of
    /// a path, as the host mounts a `wasi:http` component.
    pub fn with_rest(&self, name: &str) -> PathPattern {
        debug_assert!(!self.has_rest() && is_identifier(name));
        let mut segments = self.segments.clone();
        segments.push(Segment::Rest(name.to_string()));
        PathPattern {
            raw: format!("{}/{{*{name}}}", self.raw),
            segments,
        }
    }

    /// The segments before a catch-all (all of them when there is none).
    fn fixed(&self) -> &[Segment] {
        &self.segments[..self.segments.len() - usize::from(self.has_rest())]
    }

    /// Whether the pattern ends in a catch-all.
    pub fn has_rest(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Rest(_)))
    }

    /// Whether the pattern is literal segments only (a path, not a pattern).
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Whether the pattern lies under `prefix` (a literal path such as
    /// `/api/v1/admin`).
    pub fn is_under(&self, prefix: &str) -> bool {
        let prefix: Vec<&str> = prefix.trim_matches('/').split('/').collect();
        self.segments.len() >= prefix.len()
            && prefix
                .iter()
                .zip(&self.segments)
                .all(|(want, have)| matches!(have, Segment::Literal(l) if l == want))
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Unreserved URL characters plus `:` (as in `documents:bulk`).
fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathPattern {
        PathPattern::parse(s).unwrap()
    }

    #[test]
    fn parses_literals_and_params() {
        assert!(PathPattern::parse("/api/v1/hello/{name}").is_ok());
        assert!(PathPattern::parse("/api/v1/collections/{id}/documents:bulk").is_ok());
    }

    #[test]
    fn refuses_malformed_patterns() {
        assert!(matches!(
            PathPattern::parse("api"),
            Err(PatternError::NotAbsolute(_))
        ));
        assert!(matches!(
            PathPattern::parse("/a//b"),
            Err(PatternError::EmptySegment(_))
        ));
        assert!(matches!(
            PathPattern::parse("/a/{B}"),
            Err(PatternError::BadParam { .. })
        ));
        assert!(matches!(
            PathPattern::parse("/a/{x"),
            Err(PatternError::BadParam { .. })
        ));
        assert!(matches!(
            PathPattern::parse("/a/{x}/{x}"),
            Err(PatternError::DuplicateParam { .. })
        ));
        assert!(matches!(
            PathPattern::parse("/a/b c"),
            Err(PatternError::BadChar { .. })
        ));
        assert!(matches!(
            PathPattern::parse("/a/*"),
            Err(PatternError::BadChar { .. })
        ));
    }

    #[test]
    fn overlap_is_symmetric_and_segment_wise() {
        assert!(p("/api/v1/hello/{name}").overlaps(&p("/api/v1/hello/{who}")));
        assert!(p("/api/v1/hello/{name}").overlaps(&p("/api/v1/hello/world")));
        assert!(p("/api/v1/hello/world").overlaps(&p("/api/v1/hello/{name}")));
        assert!(!p("/api/v1/hello/{name}").overlaps(&p("/api/v1/hello/{name}/x")));
        assert!(!p("/api/v1/a/{x}").overlaps(&p("/api/v1/b/{x}")));
        assert!(!p("/api/v1/documents/{id}").overlaps(&p("/api/v1/documents/{id}/versions")));
    }

    #[test]
    fn only_patterns_of_one_shape_match_the_same_paths() {
        assert!(p("/api/v1/b/{id}").same_paths(&p("/api/v1/b/{key}")));
        assert!(!p("/api/v1/b/{id}").same_paths(&p("/api/v1/b/stats")));
        assert!(!p("/api/v1/b/{id}/x").same_paths(&p("/api/v1/b/y/{id}")));
        assert!(!p("/api/v1/b/{id}").same_paths(&p("/api/v1/b/{id}/x")));
    }

    #[test]
    fn positional_names_depend_only_on_depth() {
        let a = p("/api/v1/documents/{id}/versions");
        let b = p("/api/v1/documents/{doc}/analytics");
        assert_eq!(a.positional(), "/api/v1/documents/{p3}/versions");
        assert_eq!(b.positional(), "/api/v1/documents/{p3}/analytics");
        assert_eq!(b.param_names().collect::<Vec<_>>(), ["doc"]);
    }

    #[test]
    fn a_catch_all_overlaps_every_longer_path_under_it() {
        let mount = p("/apps/app").with_rest("path");
        assert_eq!(mount.as_str(), "/apps/app/{*path}");
        assert_eq!(mount.positional(), "/apps/app/{*p2}");
        assert_eq!(mount.param_names().collect::<Vec<_>>(), ["path"]);
        assert!(mount.overlaps(&p("/apps/app/x")));
        assert!(mount.overlaps(&p("/apps/{name}/x/y/z")));
        assert!(p("/apps/app/x/y").overlaps(&mount));
        assert!(!mount.overlaps(&p("/apps/app")));
        assert!(!mount.overlaps(&p("/apps/other/x")));
        assert!(mount.overlaps(&p("/apps").with_rest("rest")));
        assert!(mount.overlaps(&p("/apps/app/x").with_rest("rest")));
        assert!(!mount.overlaps(&p("/api/v1").with_rest("rest")));
        assert!(mount.same_paths(&p("/apps/app").with_rest("other")));
        assert!(!mount.same_paths(&p("/apps/app/{x}")));
        assert!(p("/apps/app").is_literal() && !mount.is_literal());
    }

    #[test]
    fn prefix_test_needs_literal_segments() {
        assert!(p("/api/v1/admin/x").is_under("/api/v1/admin"));
        assert!(!p("/api/v1/{x}/y").is_under("/api/v1/admin"));
        assert!(!p("/api/v2/admin").is_under("/api/v1/admin"));
    }
}
