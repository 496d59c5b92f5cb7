//! Input rules for the core models. Every error names the field it is
//! about, and nothing is written until everything has passed.

use super::ModelError;

pub const FORMATS: &[&str] = &["txt", "md", "json", "html"];
pub const MAX_TITLE_CHARS: usize = 500;
pub const MAX_TAGS: usize = 64;
pub const MAX_TAG_CHARS: usize = 100;
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
pub const MAX_COLLECTION_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// Text may not contain NUL characters (PostgreSQL cannot store them).
fn no_nul(field: &str, value: &str) -> Result<(), ModelError> {
    if value.contains('\0') {
        return Err(ModelError::invalid(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

pub fn title(field: &str, value: &str) -> Result<String, ModelError> {
    no_nul(field, value)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ModelError::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_TITLE_CHARS {
        return Err(ModelError::invalid(
            field,
            format!("must be at most {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

pub fn format(field: &str, value: &str) -> Result<String, ModelError> {
    if FORMATS.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(ModelError::invalid(
            field,
            format!(
                "unknown format `{value}`; use one of {}",
                FORMATS.join(", ")
            ),
        ))
    }
}

/// Checks content against its size limit, and JSON content for validity.
pub fn content(field: &str, value: &str, format: &str, max_bytes: usize) -> Result<(), ModelError> {
    no_nul(field, value)?;
    if value.len() > max_bytes {
        return Err(ModelError::invalid(
            field,
            format!("is {} bytes; the limit is {max_bytes}", value.len()),
        ));
    }
    if format == "json"
        && let Err(e) = serde_json::from_str::<serde_json::Value>(value)
    {
        return Err(ModelError::invalid(
            field,
            format!("is not valid JSON for format json: {e}"),
        ));
    }
    Ok(())
}

/// Trims, checks and de-duplicates tags, keeping their order.
pub fn tags(field: &str, values: &[String]) -> Result<Vec<String>, ModelError> {
    if values.len() > MAX_TAGS {
        return Err(ModelError::invalid(
            field,
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    let mut tags: Vec<String> = Vec::with_capacity(values.len());
    for (i, tag) in values.iter().enumerate() {
        let tag = tag.trim();
        if tag.is_empty()
            || tag.contains('\0')
            || tag.chars().count() > MAX_TAG_CHARS
            || tag.chars().any(char::is_control)
        {
            return Err(ModelError::invalid(
                format!("{field}[{i}]"),
                format!("a tag is 1 to {MAX_TAG_CHARS} printable characters"),
            ));
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    Ok(tags)
}

/// Metadata must be a JSON object of bounded size.
pub fn metadata(field: &str, value: &serde_json::Value) -> Result<String, ModelError> {
    if !value.is_object() {
        return Err(ModelError::invalid(field, "must be a JSON object"));
    }
    let text = value.to_string();
    if text.len() > MAX_METADATA_BYTES {
        return Err(ModelError::invalid(
            field,
            format!("must be at most {MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(text)
}

/// Metadata given as JSON text (from a plugin).
pub fn metadata_text(field: &str, text: &str) -> Result<String, ModelError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ModelError::invalid(field, format!("is not valid JSON: {e}")))?;
    metadata(field, &value)
}

pub fn collection_name(field: &str, value: &str) -> Result<String, ModelError> {
    no_nul(field, value)?;
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_COLLECTION_NAME_CHARS {
        return Err(ModelError::invalid(
            field,
            format!("must be 1 to {MAX_COLLECTION_NAME_CHARS} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

pub fn description(field: &str, value: &str) -> Result<String, ModelError> {
    no_nul(field, value)?;
    if value.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ModelError::invalid(
            field,
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(value.to_string())
}

/// A UUID in canonical form, or an error naming the field.
pub fn uuid(field: &str, value: &str) -> Result<String, ModelError> {
    crate::domain::canonical_uuid(value)
        .ok_or_else(|| ModelError::invalid(field, format!("`{value}` is not a valid UUID")))
}
