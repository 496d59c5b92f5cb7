//! Conversation memory for agents and workflows: the host's MemoryManager
//! (needs `Plugin::memory()`).
//!
//! A [`Session`] is one conversation, owned by a user. It holds
//! [`Message`]s in a strict order: each gets the next `seq` (from 0, never
//! reused), and an [`append`] of several is all or none and never
//! interleaves with another. A [`Window`] is what a model is given: the
//! newest messages by count or by token budget, optionally after the
//! session's first system message (pinned, whatever its age) and its
//! [`Summary`] (written by whoever summarizes, with [`set_summary`]). A
//! session's [`Retention`] drops old messages as new ones arrive, but never
//! its first system message.
//!
//! The plugin acts as its caller: it sees all of the caller's sessions (an
//! admin's: all), whoever made them, so a workflow and the REST client
//! that started it share one conversation.
//!
//! ```ignore
//! let session = memory::create_session(NewSession::new("support").agent("triage"))?;
//! memory::append(&session.id, [
//!     NewMessage::system("You answer briefly."),
//!     NewMessage::user("Where is my order?"),
//! ])?;
//! let window = memory::window(&session.id, WindowRequest::last(20).pin_system().with_summary())?;
//! assert_eq!(window.pinned.unwrap().role, Role::System);
//! ```

#[cfg(not(target_arch = "wasm32"))]
use crate::__private::native::memory as wit;
use crate::host::{HostError, host_call};
#[cfg(target_arch = "wasm32")]
use crate::wit::kai::fusion::memory as wit;
use serde_json::Value;

/// A page of a listing, and the cursor of the next (the same type as
/// [`state::Page`](crate::state::Page)).
pub use crate::state::Page;

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    /// The role as models' chat APIs spell it: `system`, `user`,
    /// `assistant`, `tool`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// What a session keeps; each `None` is no limit (the default keeps
/// everything). Applied as messages arrive; the session's first system
/// message is always kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many messages, the newest (1 to 1,000,000).
    pub max_messages: Option<u32>,
    /// Drop messages older than this (up to 100 years).
    pub max_age_seconds: Option<u64>,
}

/// A session's summary of its older messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub content: String,
    /// The newest message it covers, as its writer said.
    pub through_seq: Option<i64>,
    /// Microseconds since the Unix epoch, UTC.
    pub updated_at: i64,
}

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
    /// A JSON object.
    pub metadata: Value,
    pub retention: Retention,
    pub summary: Option<Summary>,
    /// Messages held now (after retention and clears).
    pub message_count: u64,
    /// The seq the next message gets.
    pub next_seq: i64,
    /// Microseconds since the Unix epoch, UTC.
    pub created_at: i64,
    pub updated_at: i64,
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
    /// An assistant message's tool calls: a JSON array.
    pub tool_calls: Option<Value>,
    /// The call a tool message answers.
    pub tool_call_id: Option<String>,
    /// A JSON object.
    pub metadata: Value,
    /// Its size in tokens, as given or estimated.
    pub tokens: u32,
    /// Microseconds since the Unix epoch, UTC.
    pub created_at: i64,
}

/// A session to make ([`create_session`]), owned by the caller.
///
/// ```ignore
/// NewSession::new("support")
///     .workflow("returns")
///     .metadata(json!({ "ticket": 42 }))
///     .retention(Retention { max_messages: Some(500), ..Default::default() })
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewSession {
    /// Up to 200 characters; may be empty.
    pub name: String,
    /// Labels for the workflow and agent that use it (1 to 200 characters).
    pub workflow: Option<String>,
    pub agent: Option<String>,
    /// A JSON object; `Null` (the default) for `{}`.
    pub metadata: Value,
    pub retention: Retention,
}

impl NewSession {
    /// A session named `name`, with no labels, no metadata and no limits.
    pub fn new(name: impl Into<String>) -> Self {
        NewSession {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn workflow(mut self, workflow: impl Into<String>) -> Self {
        self.workflow = Some(workflow.into());
        self
    }

    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// A JSON object.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    fn into_wit(self) -> wit::NewSession {
        wit::NewSession {
            name: self.name,
            workflow: self.workflow,
            agent: self.agent,
            metadata: object_text(&self.metadata),
            retention: self.retention.into_wit(),
        }
    }
}

/// A change to a session ([`update_session`]): each field given is set,
/// the others are left as they are.
///
/// ```ignore
/// SessionChange::default().name("support (closed)").retention(Retention::default())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionChange {
    pub name: Option<String>,
    /// A JSON object, replacing the old one.
    pub metadata: Option<Value>,
    /// Replaces the old retention; a tighter one drops messages at once.
    pub retention: Option<Retention>,
}

impl SessionChange {
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    fn into_wit(self) -> wit::SessionChange {
        wit::SessionChange {
            name: self.name,
            metadata: self.metadata.map(|m| m.to_string()),
            retention: self.retention.map(Retention::into_wit),
        }
    }
}

/// A message to [`append`]: made with [`NewMessage::user`] and its
/// siblings, then the builder methods for what else it carries.
///
/// ```ignore
/// NewMessage::assistant("")
///     .tool_calls(json!([{ "id": "call_1", "type": "function",
///                          "function": { "name": "lookup", "arguments": "{}" } }]));
/// NewMessage::tool("call_1", r#"{"status": "shipped"}"#).name("lookup");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub role: Role,
    /// Up to 1 MiB.
    pub content: String,
    /// The speaker's name (a tool's or a participant's).
    pub name: Option<String>,
    /// The tool calls of an assistant message (and only of one): a JSON
    /// array.
    pub tool_calls: Option<Value>,
    /// The call a tool message answers: required on a tool message, and
    /// refused on any other.
    pub tool_call_id: Option<String>,
    /// A JSON object; `Null` for `{}`.
    pub metadata: Value,
    /// Its size in tokens; `None` has the host estimate it from the text
    /// (about four characters a token).
    pub tokens: Option<u32>,
}

impl NewMessage {
    /// A message of `role` saying `content`, with nothing else.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        NewMessage {
            role,
            content: content.into(),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            metadata: Value::Null,
            tokens: None,
        }
    }

    /// Instructions to the model.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// What the user said.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// What the model answered.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// A tool's result, answering the assistant's call `call_id`.
    pub fn tool(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        let mut message = Self::new(Role::Tool, content);
        message.tool_call_id = Some(call_id.into());
        message
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Its size in tokens, when the plugin knows it better than the host's
    /// estimate.
    pub fn tokens(mut self, tokens: u32) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// A JSON object.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// An assistant message's tool calls: a JSON array.
    pub fn tool_calls(mut self, tool_calls: Value) -> Self {
        self.tool_calls = Some(tool_calls);
        self
    }

    fn into_wit(self) -> wit::NewMessage {
        wit::NewMessage {
            role: self.role.into_wit(),
            content: self.content,
            name: self.name,
            tool_calls: self.tool_calls.map(|calls| calls.to_string()),
            tool_call_id: self.tool_call_id,
            metadata: object_text(&self.metadata),
            tokens: self.tokens,
        }
    }
}

/// Which messages a window holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSize {
    /// The newest N (1 to 1,000).
    Last(u32),
    /// The newest that fit this many tokens (1 to 10,000,000), whole
    /// messages only, counting the pinned message and the summary too.
    MaxTokens(u32),
}

/// What to read as a [`Window`].
///
/// ```ignore
/// WindowRequest::last(50).pin_system().with_summary()
/// WindowRequest::max_tokens(8_000)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRequest {
    pub size: WindowSize,
    /// Put the session's first system message first, whatever its age.
    pub pin_system: bool,
    /// Put the session's summary before the messages.
    pub with_summary: bool,
}

impl WindowRequest {
    /// The newest `n` messages.
    pub fn last(n: u32) -> Self {
        Self::sized(WindowSize::Last(n))
    }

    /// The newest messages that fit `budget` tokens.
    pub fn max_tokens(budget: u32) -> Self {
        Self::sized(WindowSize::MaxTokens(budget))
    }

    fn sized(size: WindowSize) -> Self {
        WindowRequest {
            size,
            pin_system: false,
            with_summary: false,
        }
    }

    /// Also gives the session's first system message, first.
    pub fn pin_system(mut self) -> Self {
        self.pin_system = true;
        self
    }

    /// Also gives the session's summary, before the messages.
    pub fn with_summary(mut self) -> Self {
        self.with_summary = true;
        self
    }

    fn into_wit(self) -> wit::WindowRequest {
        wit::WindowRequest {
            size: match self.size {
                WindowSize::Last(n) => wit::WindowSize::Last(n),
                WindowSize::MaxTokens(n) => wit::WindowSize::MaxTokens(n),
            },
            pin_system: self.pin_system,
            with_summary: self.with_summary,
        }
    }
}

/// What to give a model, in this order: `pinned`, `summary`, then
/// `messages` (oldest first).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The session's first system message, when asked for and there is
    /// one (`messages` then leave it out).
    pub pinned: Option<Message>,
    /// The session's summary, when asked for and there is one.
    pub summary: Option<Summary>,
    pub messages: Vec<Message>,
    /// The tokens of all three.
    pub tokens: u64,
}

/// A message that matches a [`search`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub message: Message,
    /// The text around the match, HTML-escaped, the match in `<mark>`.
    pub snippet: String,
    /// Higher is better.
    pub score: f64,
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A JSON object field as the WIT takes it: `Null` as empty (`{}`).
fn object_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        value => value.to_string(),
    }
}

impl Role {
    fn into_wit(self) -> wit::Role {
        match self {
            Role::System => wit::Role::System,
            Role::User => wit::Role::User,
            Role::Assistant => wit::Role::Assistant,
            Role::Tool => wit::Role::Tool,
        }
    }
}

impl From<wit::Role> for Role {
    fn from(role: wit::Role) -> Self {
        match role {
            wit::Role::System => Role::System,
            wit::Role::User => Role::User,
            wit::Role::Assistant => Role::Assistant,
            wit::Role::Tool => Role::Tool,
        }
    }
}

impl Retention {
    fn into_wit(self) -> wit::Retention {
        wit::Retention {
            max_messages: self.max_messages,
            max_age_seconds: self.max_age_seconds,
        }
    }
}

impl From<wit::Retention> for Retention {
    fn from(r: wit::Retention) -> Self {
        Retention {
            max_messages: r.max_messages,
            max_age_seconds: r.max_age_seconds,
        }
    }
}

impl From<wit::Summary> for Summary {
    fn from(s: wit::Summary) -> Self {
        Summary {
            content: s.content,
            through_seq: s.through_seq,
            updated_at: s.updated_at,
        }
    }
}

impl From<wit::Session> for Session {
    fn from(s: wit::Session) -> Self {
        Session {
            metadata: json(&s.metadata),
            id: s.id,
            owner: s.owner,
            name: s.name,
            plugin: s.plugin,
            workflow: s.workflow,
            agent: s.agent,
            retention: s.retention.into(),
            summary: s.summary.map(Summary::from),
            message_count: s.message_count,
            next_seq: s.next_seq,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

impl From<wit::Message> for Message {
    fn from(m: wit::Message) -> Self {
        Message {
            metadata: json(&m.metadata),
            tool_calls: m.tool_calls.as_deref().map(json),
            session_id: m.session_id,
            seq: m.seq,
            role: m.role.into(),
            content: m.content,
            name: m.name,
            tool_call_id: m.tool_call_id,
            tokens: m.tokens,
            created_at: m.created_at,
        }
    }
}

impl From<wit::Window> for Window {
    fn from(w: wit::Window) -> Self {
        Window {
            pinned: w.pinned.map(Message::from),
            summary: w.summary.map(Summary::from),
            messages: w.messages.into_iter().map(Message::from).collect(),
            tokens: w.tokens,
        }
    }
}

impl From<wit::SearchHit> for SearchHit {
    fn from(h: wit::SearchHit) -> Self {
        SearchHit {
            message: h.message.into(),
            snippet: h.snippet,
            score: h.score,
        }
    }
}

/// A new session owned by the caller, labelled as this plugin's.
pub fn create_session(input: NewSession) -> Result<Session, HostError> {
    host_call!(wit::create_session(&input.into_wit()), Session::from)
}

pub fn get_session(id: &str) -> Result<Session, HostError> {
    host_call!(wit::get_session(id), Session::from)
}

/// The caller's sessions (an admin's: all), whoever made them, newest
/// first.
pub fn list_sessions(limit: u32, cursor: Option<&str>) -> Result<Page<Session>, HostError> {
    host_call!(wit::list_sessions(limit, cursor), |page| Page {
        items: page.items.into_iter().map(Session::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// Sets what `change` gives; a tighter retention drops messages at once.
pub fn update_session(id: &str, change: SessionChange) -> Result<Session, HostError> {
    host_call!(wit::update_session(id, &change.into_wit()), Session::from)
}

/// Deletes the session with its messages and summary.
pub fn delete_session(id: &str) -> Result<(), HostError> {
    host_call!(wit::delete_session(id))
}

/// Appends `messages` (1 to 1,000) after every earlier one, all or none;
/// returns them as stored, with their seqs and token counts.
pub fn append(
    session_id: &str,
    messages: impl IntoIterator<Item = NewMessage>,
) -> Result<Vec<Message>, HostError> {
    let messages: Vec<wit::NewMessage> = messages.into_iter().map(NewMessage::into_wit).collect();
    host_call!(wit::append(session_id, &messages), |messages| {
        messages.into_iter().map(Message::from).collect()
    })
}

/// The session's messages, oldest first.
pub fn messages(
    session_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<Message>, HostError> {
    host_call!(wit::messages(session_id, limit, cursor), |page| Page {
        items: page.items.into_iter().map(Message::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// What to give a model now: the newest messages as `request` sizes them,
/// with the pinned system message and the summary when it asks for them.
pub fn window(session_id: &str, request: WindowRequest) -> Result<Window, HostError> {
    host_call!(
        wit::read_window(session_id, request.into_wit()),
        Window::from
    )
}

/// Sets the session's summary to `content`, saying it covers the messages
/// up to `through_seq`; `None` removes it.
pub fn set_summary(
    session_id: &str,
    content: Option<&str>,
    through_seq: Option<i64>,
) -> Result<Session, HostError> {
    host_call!(
        wit::set_summary(session_id, content, through_seq),
        Session::from
    )
}

/// Removes every message and the summary, keeping the session (and its
/// seq counter); returns how many messages went.
pub fn clear(session_id: &str) -> Result<u64, HostError> {
    host_call!(wit::clear(session_id))
}

/// The caller's messages that match `query`, best first, in one session
/// when `session_id` is given. Words must all match; `"phrases"`,
/// `prefix*` and `-excluded` terms as in document search; a query that
/// does not parse is [`HostError::Invalid`].
pub fn search(
    query: &str,
    session_id: Option<&str>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<SearchHit>, HostError> {
    host_call!(wit::search(query, session_id, limit, cursor), |page| Page {
        items: page.items.into_iter().map(SearchHit::from).collect(),
        next_cursor: page.next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__private::native::{self, NativeHost};
    use serde_json::json;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Records the one call it gets and answers it with `answer`.
    struct Recorder {
        answer: serde_json::Value,
        call: RefCell<Option<(String, String, serde_json::Value)>>,
    }

    impl NativeHost for Recorder {
        fn call(&self, interface: &str, function: &str, args: Value) -> Value {
            *self.call.borrow_mut() = Some((interface.into(), function.into(), args));
            self.answer.clone()
        }
    }

    fn with_host<T>(answer: Value, call: impl FnOnce() -> T) -> (T, (String, String, Value)) {
        let host = Rc::new(Recorder {
            answer,
            call: RefCell::new(None),
        });
        let previous = native::install(Some(host.clone()));
        let result = call();
        native::install(previous);
        let made = host.call.borrow_mut().take().expect("no host call");
        (result, made)
    }

    fn message(seq: i64, role: &str) -> Value {
        json!({
            "session_id": "s1", "seq": seq, "role": role, "content": "hi", "name": null,
            "tool_calls": null, "tool_call_id": null, "metadata": "{\"a\":1}", "tokens": 5,
            "created_at": 7,
        })
    }

    #[test]
    fn appends_send_the_wit_records_and_read_back_json() {
        let mut stored = message(3, "Tool");
        stored["tool_call_id"] = json!("call_1");
        let (appended, (interface, function, args)) = with_host(json!({ "Ok": [stored] }), || {
            append(
                "s1",
                [
                    NewMessage::user("hi").tokens(5),
                    NewMessage::assistant("")
                        .tool_calls(json!([{ "id": "call_1" }]))
                        .metadata(json!({ "a": 1 })),
                    NewMessage::tool("call_1", "done").name("lookup"),
                ],
            )
        });
        assert_eq!(
            (interface.as_str(), function.as_str()),
            ("memory", "append")
        );
        assert_eq!(args[0], "s1");
        assert_eq!(
            args[1][0],
            json!({ "role": "User", "content": "hi", "name": null, "tool_calls": null,
                    "tool_call_id": null, "metadata": "", "tokens": 5 })
        );
        assert_eq!(args[1][1]["tool_calls"], r#"[{"id":"call_1"}]"#);
        assert_eq!(args[1][1]["metadata"], r#"{"a":1}"#);
        assert_eq!(
            (
                &args[1][2]["role"],
                &args[1][2]["tool_call_id"],
                &args[1][2]["name"]
            ),
            (&json!("Tool"), &json!("call_1"), &json!("lookup"))
        );
        let appended = appended.unwrap();
        assert_eq!(appended[0].role, Role::Tool);
        assert_eq!(appended[0].metadata, json!({ "a": 1 }));
        assert_eq!(appended[0].tool_call_id.as_deref(), Some("call_1"));
    }

    #[test]
    fn a_window_request_goes_to_read_window() {
        let answer = json!({ "Ok": {
            "pinned": message(0, "System"),
            "summary": { "content": "earlier", "through_seq": 9, "updated_at": 1 },
            "messages": [message(10, "User")],
            "tokens": 12,
        }});
        let (window, (_, function, args)) = with_host(answer, || {
            window(
                "s1",
                WindowRequest::max_tokens(800).pin_system().with_summary(),
            )
        });
        assert_eq!(function, "read-window");
        assert_eq!(
            args,
            json!(["s1", { "size": { "MaxTokens": 800 }, "pin_system": true, "with_summary": true }])
        );
        let window = window.unwrap();
        assert_eq!(window.pinned.unwrap().role, Role::System);
        assert_eq!(window.summary.unwrap().through_seq, Some(9));
        assert_eq!((window.messages[0].seq, window.tokens), (10, 12));
    }

    #[test]
    fn sessions_send_empty_metadata_for_none_and_changes_only_what_is_given() {
        let session = json!({
            "id": "s1", "owner": "u1", "name": "chat", "plugin": "notes", "workflow": null,
            "agent": "triage", "metadata": "{}",
            "retention": { "max_messages": 100, "max_age_seconds": null },
            "summary": null, "message_count": 0, "next_seq": 0, "created_at": 1, "updated_at": 1,
        });
        let retention = Retention {
            max_messages: Some(100),
            ..Default::default()
        };
        let (created, (_, function, args)) = with_host(json!({ "Ok": session }), || {
            create_session(NewSession::new("chat").agent("triage").retention(retention))
        });
        assert_eq!(function, "create-session");
        assert_eq!(
            args[0],
            json!({ "name": "chat", "workflow": null, "agent": "triage", "metadata": "",
                    "retention": { "max_messages": 100, "max_age_seconds": null } })
        );
        let created = created.unwrap();
        assert_eq!(
            (created.metadata, created.retention),
            (json!({}), retention)
        );

        let (_, (_, function, args)) = with_host(json!({ "Ok": session }), || {
            update_session("s1", SessionChange::default().metadata(json!({ "b": 2 })))
        });
        assert_eq!(function, "update-session");
        assert_eq!(
            args,
            json!(["s1", { "name": null, "metadata": "{\"b\":2}", "retention": null }])
        );
    }

    #[test]
    fn without_a_host_calls_are_unavailable() {
        assert!(matches!(clear("s1"), Err(HostError::Unavailable(_))));
    }
}
