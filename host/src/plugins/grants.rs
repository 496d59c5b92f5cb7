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

pub use crate::domain::grant::{CoreAccess, Grant};
use crate::store::{Db, plugins};

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
