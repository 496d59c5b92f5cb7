//! Request parsing with errors in our format: JSON bodies (a media type
//! other than JSON is a 415, a body over the limit a 413, malformed JSON a
//! 400; a wrong, missing or unknown field is a 422 naming the field's path),
//! path ids and names (a 400 naming the parameter), query parameters
//! (unknown ones are refused by name), and the `If-Match` /
//! `If-None-Match` preconditions.

use super::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri, header};
use serde::de::DeserializeOwned;
use std::str::FromStr;

/// A JSON body of type `T`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        if !has_media_type(request.headers(), is_json) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge {
                        limit: state.config.max_body_bytes,
                    }
                } else {
                    ApiError::BadRequest(format!("could not read the body: {rejection}"))
                }
            })?;
        // Every body of the API is an object; serde would also take a
        // struct's fields from an array (`[null, null]`).
        if let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace())
            && *first != b'{'
            && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok()
        {
            return Err(ApiError::validation("body", "must be a JSON object"));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// Whether the request's `Content-Type` names a media type `accepts` takes
/// (parameters such as `charset` aside).
pub fn has_media_type(headers: &HeaderMap, accepts: impl Fn(&str) -> bool) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| accepts(&essence.trim().to_ascii_lowercase()))
}

/// `application/json`, or a JSON-based type such as
/// `application/merge-patch+json`.
pub fn is_json(essence: &str) -> bool {
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

/// The page size of list routes when a request names none.
pub const DEFAULT_LIMIT: u32 = 50;

/// A nested object of a request body, read as `T`: serde would also take
/// a struct's fields from an array (`[null, null]`), which no body of the
/// API means (the body itself is checked by [`ApiJson`]).
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<'de, T: DeserializeOwned> serde::Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        if !value.is_object() {
            return Err(D::Error::custom("must be a JSON object"));
        }
        T::deserialize(value)
            .map(JsonObject)
            .map_err(D::Error::custom)
    }
}

/// Written back as the object it holds (a view that echoes a body).
impl<T: serde::Serialize> serde::Serialize for JsonObject<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Parses JSON, naming the failing field's path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::BadRequest(format!("malformed JSON: {inner}"))
        } else {
            let field = if path == "." {
                "body".to_string()
            } else {
                path
            };
            ApiError::validation(field, strip_position(&inner.to_string()))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A UUID from the path, or a 400 naming the parameter.
pub fn path_id(name: &str, value: &str) -> Result<String, ApiError> {
    crate::domain::canonical_uuid(value).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "path parameter `{name}`: `{value}` is not a valid UUID"
        ))
    })
}

/// The `{name}` path parameter of the admin plugin routes, checked as a
/// plugin name before anything looks it up.
pub struct PluginName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PluginName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(value) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("path parameter `name`: {e}")))?;
        path_plugin_name("name", &value).map(PluginName)
    }
}

/// A plugin name from the path, or a 400 naming the parameter.
pub fn path_plugin_name(name: &str, value: &str) -> Result<String, ApiError> {
    if crate::domain::is_plugin_name(value) {
        Ok(value.to_string())
    } else {
        Err(ApiError::BadRequest(format!(
            "path parameter `{name}`: {value:?} is not a plugin name \
             (lower-case letters, digits and `-`)"
        )))
    }
}

/// The query string, checked against the parameters a route accepts.
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parses the query of `uri`, refusing parameters not in `allowed`
    /// and parameters given twice.
    pub fn parse(uri: &Uri, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter `{name}`; this route accepts: {}",
                    allowed.join(", ")
                )));
            }
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::BadRequest(format!(
                    "query parameter `{name}` is given twice"
                )));
            }
        }
        Ok(Self(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parses a parameter, or a 400 naming it.
    /// `limit`, the size of a page: [`DEFAULT_LIMIT`] when not given; the
    /// query layer checks its range.
    pub fn page_limit(&self) -> Result<u32, ApiError> {
        Ok(self
            .parsed::<u32>("limit", "a number")?
            .unwrap_or(DEFAULT_LIMIT))
    }

    pub fn parsed<T: FromStr>(&self, name: &str, expected: &str) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "query parameter `{name}`: `{v}` is not {expected}"
                    ))
                })
            })
            .transpose()
    }

    /// An RFC 3339 timestamp parameter, in microseconds.
    pub fn timestamp(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| t.timestamp_micros())
                    .map_err(|_| {
                        ApiError::BadRequest(format!(
                            "query parameter `{name}`: `{v}` is not an RFC 3339 timestamp"
                        ))
                    })
            })
            .transpose()
    }

    /// A boolean flag (`true`/`false`), default false.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self.parsed::<bool>(name, "true or false")?.unwrap_or(false))
    }
}

/// The version an `If-Match` header expects: `None` without the header or
/// with `*`.
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    precondition(headers, header::IF_MATCH)
}

/// The version an `If-None-Match` header names, if any.
pub fn if_none_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    precondition(headers, header::IF_NONE_MATCH)
}

fn precondition(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(&name) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name}: expected an entity tag such as \"3\" (from an ETag header), got `{text}`"
            ))
        })
}

/// The entity tag of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}
