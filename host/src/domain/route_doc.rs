//! What a plugin says of one of its routes for the API reference (its
//! `route-docs`, kai:fusion 0.2.1): checked when the manifest is, so a
//! plugin whose docs are wrong is refused with the reason; and turned into
//! the parts of the OpenAPI document that show them.
//!
//! A schema is JSON Schema (2020-12) and may keep named parts under
//! `$defs`, referred to as `#/$defs/<name>` (what `schemars` writes). In
//! the document those parts become components named
//! `<plugin>.<name>`, and the references are rewritten to them.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The longest schema accepted, as JSON text.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// The longest summary accepted, in characters.
pub const MAX_SUMMARY_CHARS: usize = 200;

/// A route's documentation as a plugin gives it: schemas as JSON text.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawRouteDoc<'a> {
    pub summary: Option<&'a str>,
    pub request_schema: Option<&'a str>,
    pub response_schema: Option<&'a str>,
    pub success_status: Option<u16>,
}

/// One route's documentation, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteDoc {
    pub summary: Option<String>,
    pub request_schema: Option<Value>,
    pub response_schema: Option<Value>,
    /// The status of a successful answer (2xx).
    pub success_status: u16,
}

impl RouteDoc {
    /// Checks what a plugin gave (its route is checked by the caller), or
    /// says what is wrong with it.
    pub fn validate(raw: RawRouteDoc<'_>) -> Result<Self, String> {
        if let Some(summary) = raw.summary {
            if summary.chars().count() > MAX_SUMMARY_CHARS {
                return Err(format!(
                    "its summary is longer than {MAX_SUMMARY_CHARS} characters"
                ));
            }
            if summary.chars().any(char::is_control) {
                return Err("its summary must be one line, without control characters".into());
            }
        }
        let success_status = raw.success_status.unwrap_or(200);
        if !(200..300).contains(&success_status) {
            return Err(format!(
                "its success status {success_status} is not a 2xx status"
            ));
        }
        Ok(RouteDoc {
            summary: raw.summary.map(str::to_string),
            request_schema: schema("request", raw.request_schema)?,
            response_schema: schema("response", raw.response_schema)?,
            success_status,
        })
    }

    /// A schema of this route as the OpenAPI document holds it: its
    /// `$defs` moved into `components` (collected in `components` as
    /// `<plugin>.<name>`) and its references rewritten to them.
    pub fn openapi_schema(
        schema: &Value,
        plugin: &str,
        components: &mut BTreeMap<String, Value>,
    ) -> Value {
        let mut schema = schema.clone();
        if let Value::Object(root) = &mut schema {
            root.remove("$schema");
            root.remove("$id");
            for key in ["$defs", "definitions"] {
                if let Some(Value::Object(defs)) = root.remove(key) {
                    for (name, mut def) in defs {
                        rewrite_refs(&mut def, plugin);
                        components.insert(format!("{plugin}.{name}"), def);
                    }
                }
            }
        }
        rewrite_refs(&mut schema, plugin);
        schema
    }
}

/// A schema's JSON text, checked: JSON, an object or a boolean, within the
/// size limit, and referring only to its own `$defs` by names a component
/// can have.
pub(crate) fn schema(which: &str, text: Option<&str>) -> Result<Option<Value>, String> {
    let Some(text) = text else { return Ok(None) };
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(format!(
            "its {which} schema is larger than {MAX_SCHEMA_BYTES} bytes"
        ));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("its {which} schema is not JSON: {e}"))?;
    if !(value.is_object() || value.is_boolean()) {
        return Err(format!(
            "its {which} schema must be a JSON object or a boolean (a JSON Schema)"
        ));
    }
    if let Value::Object(root) = &value {
        for key in ["$defs", "definitions"] {
            match root.get(key) {
                None => {}
                Some(Value::Object(defs)) => {
                    if let Some(name) = defs.keys().find(|name| !is_component_name(name)) {
                        return Err(format!(
                            "its {which} schema names a definition `{name}`: use letters, digits, `.`, `-` and `_`"
                        ));
                    }
                }
                Some(_) => return Err(format!("its {which} schema's `{key}` must be an object")),
            }
        }
    }
    check_refs(&value).map_err(|reference| {
        format!(
            "its {which} schema refers to `{reference}`: a schema may refer only to its own `#/$defs/<name>`"
        )
    })?;
    Ok(Some(value))
}

fn is_component_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The definition name a local reference names, if it is one.
fn local_definition(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("#/$defs/")
        .or_else(|| reference.strip_prefix("#/definitions/"))
        .filter(|name| is_component_name(name))
}

/// Every `$ref` in `value` is to one of its own definitions, or the
/// reference that is not.
fn check_refs(value: &Value) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref") {
                match reference.as_str() {
                    Some(text) if local_definition(text).is_some() => {}
                    _ => return Err(reference.to_string().trim_matches('"').to_string()),
                }
            }
            map.values().try_for_each(check_refs)
        }
        Value::Array(items) => items.iter().try_for_each(check_refs),
        _ => Ok(()),
    }
}

fn rewrite_refs(value: &mut Value, plugin: &str) {
    match value {
        Value::Object(map) => {
            rewrite_ref(map, plugin);
            map.values_mut().for_each(|v| rewrite_refs(v, plugin));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, plugin)),
        _ => {}
    }
}

fn rewrite_ref(map: &mut Map<String, Value>, plugin: &str) {
    let Some(Value::String(reference)) = map.get_mut("$ref") else {
        return;
    };
    if let Some(name) = local_definition(reference) {
        *reference = format!("#/components/schemas/{plugin}.{name}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(request: Option<&str>) -> RawRouteDoc<'_> {
        RawRouteDoc {
            summary: Some("Saves a bookmark"),
            request_schema: request,
            response_schema: None,
            success_status: Some(201),
        }
    }

    #[test]
    fn a_schema_with_definitions_becomes_components_of_the_plugin() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "NewBookmark",
            "type": "object",
            "properties": {
                "url": { "type": "string" },
                "tags": { "type": "array", "items": { "$ref": "#/$defs/Tag" } }
            },
            "$defs": { "Tag": { "type": "string", "maxLength": 40 } }
        });
        let text = schema.to_string();
        let doc = RouteDoc::validate(raw(Some(&text))).unwrap();
        assert_eq!(doc.success_status, 201);
        let mut components = BTreeMap::new();
        let embedded = RouteDoc::openapi_schema(
            doc.request_schema.as_ref().unwrap(),
            "bookmarks",
            &mut components,
        );
        assert_eq!(embedded.get("$schema"), None);
        assert_eq!(embedded.get("$defs"), None);
        assert_eq!(
            embedded["properties"]["tags"]["items"]["$ref"],
            "#/components/schemas/bookmarks.Tag"
        );
        assert_eq!(
            components["bookmarks.Tag"],
            json!({ "type": "string", "maxLength": 40 })
        );
    }

    #[test]
    fn a_wrong_doc_is_refused_with_what_is_wrong() {
        let long = "x".repeat(MAX_SCHEMA_BYTES + 1);
        for (request, says) in [
            ("not json", "request schema is not JSON"),
            ("42", "must be a JSON object or a boolean"),
            (
                r#"{"$ref": "https://example.com/s.json"}"#,
                "refers to `https://example.com/s.json`",
            ),
            (r##"{"$ref": "#/$defs/a b"}"##, "refers to `#/$defs/a b`"),
            (r#"{"$defs": {"a b": {}}}"#, "names a definition `a b`"),
            (r#"{"$defs": []}"#, "`$defs` must be an object"),
            (long.as_str(), "larger than 65536 bytes"),
        ] {
            let error = RouteDoc::validate(raw(Some(request))).unwrap_err();
            assert!(error.contains(says), "{request:.40}: {error}");
        }
        let mut bad = raw(Some("true"));
        bad.success_status = Some(404);
        assert!(
            RouteDoc::validate(bad)
                .unwrap_err()
                .contains("404 is not a 2xx")
        );
        let mut bad = raw(None);
        bad.summary = Some("two\nlines");
        assert!(RouteDoc::validate(bad).unwrap_err().contains("one line"));
    }
}
