//! Core events: every change of a collection or document is one, with the
//! row before and after and who made it.
//!
//! An event waiting for after-commit delivery is stored as JSON; the shape
//! of that JSON ([`Event`]'s serde form) is kept stable, so events queued by
//! an earlier release are still delivered after an upgrade.

use super::{Collection, Document, Principal, Role};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    CollectionCreated,
    CollectionUpdated,
    CollectionDeleted,
    DocumentCreated,
    DocumentUpdated,
    DocumentDeleted,
    /// A workflow execution succeeded (subject: its id; no rows).
    ExecutionSucceeded,
    /// A workflow execution failed (subject: its id; no rows).
    ExecutionFailed,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::CollectionCreated,
        EventKind::CollectionUpdated,
        EventKind::CollectionDeleted,
        EventKind::DocumentCreated,
        EventKind::DocumentUpdated,
        EventKind::DocumentDeleted,
        EventKind::ExecutionSucceeded,
        EventKind::ExecutionFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CollectionCreated => "collection.created",
            EventKind::CollectionUpdated => "collection.updated",
            EventKind::CollectionDeleted => "collection.deleted",
            EventKind::DocumentCreated => "document.created",
            EventKind::DocumentUpdated => "document.updated",
            EventKind::DocumentDeleted => "document.deleted",
            EventKind::ExecutionSucceeded => "workflow.execution.succeeded",
            EventKind::ExecutionFailed => "workflow.execution.failed",
        }
    }

    /// Whether only after-commit subscribers may take it: a workflow run's
    /// end is not a change a plugin may refuse.
    pub fn after_commit_only(self) -> bool {
        matches!(
            self,
            EventKind::ExecutionSucceeded | EventKind::ExecutionFailed
        )
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        EventKind::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event kind `{text}`")))
    }
}

/// The row an event is about, before or after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Row {
    Collection(Collection),
    Document(Document),
}

impl From<&Document> for Row {
    fn from(doc: &Document) -> Row {
        Row::Document(doc.clone())
    }
}

impl From<&Collection> for Row {
    fn from(collection: &Collection) -> Row {
        Row::Collection(collection.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event; an after-commit delivery may repeat one.
    pub id: String,
    pub kind: EventKind,
    /// The id of the row that changed.
    pub subject: String,
    pub old: Option<Row>,
    pub new: Option<Row>,
    /// Who made the change.
    #[serde(with = "stored_principal")]
    pub principal: Option<Principal>,
    /// Microseconds since the Unix epoch, UTC.
    pub occurred_at: i64,
    /// 1 for the first delivery; after-commit retries count up.
    pub attempt: u32,
    /// Whether a workflow run made the change: what its subscribers write
    /// then starts no workflow by a trigger either (runs cannot feed each
    /// other through a plugin). Stored only when set, so the stored shape
    /// of other events is unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_run: bool,
}

/// A principal as stored in an event: `{"id": ..., "roles": [...]}`.
mod stored_principal {
    use super::{Principal, Role};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Stored {
        id: String,
        roles: Vec<String>,
    }

    pub fn serialize<S: Serializer>(
        principal: &Option<Principal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        principal
            .as_ref()
            .map(|p| Stored {
                id: p.user_id.clone(),
                roles: vec![p.role.as_str().to_string()],
            })
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Principal>, D::Error> {
        Ok(Option::<Stored>::deserialize(deserializer)?.map(|stored| {
            let admin = stored.roles.iter().any(|role| role == "admin");
            Principal::new(stored.id, if admin { Role::Admin } else { Role::Member })
        }))
    }
}
