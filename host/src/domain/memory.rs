//! The MemoryManager's records: conversation memory that agents and
//! workflows hold across requests.
//!
//! A [`Session`] belongs to a user and holds [`Message`]s in a strict order
//! (`seq`, from 0, never reused). A [`Window`] is what a model is given: the
//! newest messages by count or by token budget, optionally after the
//! session's pinned system message and its [`Summary`].

use serde_json::Value;

/// One conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    /// The user it belongs to.
    pub owner: String,
    pub name: String,
    /// The plugin that made it; `None` when made through the REST API.
    pub plugin: Option<String>,
    /// The workflow that uses it, as its creator labelled it.
    pub workflow: Option<String>,
    /// The agent that uses it, as its creator labelled it.
    pub agent: Option<String>,
    /// A JSON object, serialized.
    pub metadata: String,
    pub retention: Retention,
    pub summary: Option<Summary>,
    /// The seq the next message gets.
    pub next_seq: i64,
    /// Messages held now (after retention and clears).
    pub message_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a session keeps; each `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many messages, the newest.
    pub max_messages: Option<u32>,
    /// Remove messages older than this, as new ones arrive.
    pub max_age_seconds: Option<u64>,
}

/// A session's summary, written by a summarizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub content: String,
    /// The newest message it covers, as its writer says.
    pub through_seq: Option<i64>,
    pub updated_at: i64,
}

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::System, Role::User, Role::Assistant, Role::Tool];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// One message of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub session_id: String,
    /// Its place in the session, from 0.
    pub seq: i64,
    pub role: Role,
    pub content: String,
    /// The speaker's name (a tool's or a participant's).
    pub name: Option<String>,
    /// The tool calls an assistant message makes: a JSON array, serialized.
    pub tool_calls: Option<String>,
    /// The call a tool message answers.
    pub tool_call_id: Option<String>,
    /// A JSON object, serialized.
    pub metadata: String,
    /// Its size in tokens, as given or estimated.
    pub tokens: i64,
    pub created_at: i64,
}

/// The labels a listing of sessions can be narrowed to; `plugin` `""` is
/// those made through the REST API.
#[derive(Debug, Default, Clone, Copy)]
pub struct Labels<'a> {
    pub plugin: Option<&'a str>,
    pub workflow: Option<&'a str>,
    pub agent: Option<&'a str>,
}

/// A session to make.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    pub name: Option<String>,
    pub workflow: Option<String>,
    pub agent: Option<String>,
    pub metadata: Option<Value>,
    pub retention: Retention,
}

/// A change to a session: each `Some` is set.
#[derive(Debug, Clone, Default)]
pub struct SessionChange {
    pub name: Option<String>,
    pub metadata: Option<Value>,
    /// Replaces the retention; a tighter one removes messages at once.
    pub retention: Option<Retention>,
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub role: String,
    pub content: String,
    pub name: Option<String>,
    pub tool_calls: Option<Value>,
    pub tool_call_id: Option<String>,
    pub metadata: Option<Value>,
    /// Its size in tokens; estimated from its text when `None`.
    pub tokens: Option<u32>,
}

/// Which messages a window holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSize {
    /// The newest N.
    Last(u32),
    /// The newest that fit this many tokens, whole messages only.
    Tokens(u32),
}

/// What to read as a window.
#[derive(Debug, Clone, Copy)]
pub struct WindowRequest {
    pub size: WindowSize,
    /// Put the session's first system message first, whatever its age.
    pub pin_system: bool,
    /// Put the session's summary before the messages.
    pub with_summary: bool,
}

/// The messages to give a model, in the order to give them: `pinned`,
/// `summary`, then `messages` (oldest first).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub pinned: Option<Message>,
    pub summary: Option<Summary>,
    pub messages: Vec<Message>,
    /// The tokens of all three, the summary's estimated.
    pub tokens: i64,
}

/// A message's size in tokens when its writer gives none: about four
/// characters a token (the rule of thumb for English with common
/// tokenizers), plus four for the message's framing.
pub fn estimate_tokens(texts: &[&str]) -> i64 {
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    (chars as i64 + 3) / 4 + 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_unknown_ones_are_refused() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("robot"), None);
    }

    #[test]
    fn estimates_count_characters_not_bytes() {
        assert_eq!(estimate_tokens(&[""]), 4);
        assert_eq!(estimate_tokens(&["abcd"]), 5);
        assert_eq!(estimate_tokens(&["ééééé"]), 6);
        assert_eq!(estimate_tokens(&["ab", "cd", "e"]), 6);
    }
}
