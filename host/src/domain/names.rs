//! The names the host gives meaning to.

/// A plugin's name: `[a-z][a-z0-9-]{0,62}`. It names the plugin's tables
/// (`plg_<name>_<model>`), routes in logs and grants, so it is kept plain.
pub fn is_plugin_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `value` as a UUID in its canonical form (hyphenated, lower-case), if it
/// is one.
pub fn canonical_uuid(value: &str) -> Option<String> {
    uuid::Uuid::parse_str(value)
        .ok()
        .map(|id| id.hyphenated().to_string())
}
