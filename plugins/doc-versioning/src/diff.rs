//! Comparing two versions: a unified line diff of the content (from the
//! `similar` crate) and a field diff of title, format, tags and metadata.

use kai_sdk::persistence::Record;
use serde_json::{Value as Json, json};
use similar::TextDiff;

/// The diff from version `a` to version `b`.
pub fn between(a: &Record, b: &Record) -> Json {
    let (va, vb) = (a.i64("version").unwrap_or(0), b.i64("version").unwrap_or(0));
    let old = a.str("content").unwrap_or("");
    let new = b.str("content").unwrap_or("");
    let unified = TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("version {va}"), &format!("version {vb}"))
        .to_string();
    let mut fields = serde_json::Map::new();
    for name in ["title", "format", "metadata"] {
        let (from, to) = (a.get(name).to_json(), b.get(name).to_json());
        if from != to {
            fields.insert(name.into(), json!({ "from": from, "to": to }));
        }
    }
    let tags = |r: &Record| -> Vec<String> {
        serde_json::from_value(r.get("tags").to_json()).unwrap_or_default()
    };
    let (old_tags, new_tags) = (tags(a), tags(b));
    if old_tags != new_tags {
        fields.insert(
            "tags".into(),
            json!({
                "from": old_tags,
                "to": new_tags,
                "added": new_tags.iter().filter(|t| !old_tags.contains(t)).collect::<Vec<_>>(),
                "removed": old_tags.iter().filter(|t| !new_tags.contains(t)).collect::<Vec<_>>(),
            }),
        );
    }
    json!({
        "from": va,
        "to": vb,
        "content": { "changed": old != new, "unified": unified },
        "fields": fields,
    })
}
