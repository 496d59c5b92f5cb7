//! Workflow node kinds: steps a plugin runs for the host's workflow runner.
//!
//! A plugin declares a kind with [`Plugin::node`](crate::Plugin::node):
//!
//! ```ignore
//! Plugin::new("summarizer", "1.0.0").node(
//!     NodeKind::new("summarize")
//!         .summary("Shortens the input's `text` to `words` words")
//!         .config_schema(serde_json::json!({
//!             "type": "object",
//!             "properties": {"words": {"type": "integer", "minimum": 1}},
//!             "required": ["words"]
//!         })),
//!     |step| {
//!         let words = step.config["words"].as_u64().unwrap_or(10) as usize;
//!         let text = step.input["text"].as_str().unwrap_or_default();
//!         let short: Vec<&str> = text.split_whitespace().take(words).collect();
//!         Ok(serde_json::json!({"summary": short.join(" ")}))
//!     },
//! )
//! ```
//!
//! A workflow names it `summarizer.summarize`; the host checks each node's
//! `config` against the schema before the workflow is saved. Each step runs
//! in a fresh instance under the plugin's limits and grants, acting as the
//! user who started the execution; what it writes through the host is kept
//! only when it returns `Ok`. An [`NodeError::Retry`] is tried again under
//! the node's retry policy; a [`NodeError::Failed`] is not.

use crate::Principal;
use crate::host::HostError;
use serde_json::Value;

/// A kind of node, as the plugin declares it.
#[derive(Debug, Clone)]
pub struct NodeKind {
    pub(crate) name: &'static str,
    pub(crate) summary: Option<String>,
    pub(crate) config_schema: Option<Value>,
}

impl NodeKind {
    /// A kind named `name` (lower-case letters, digits and `-`).
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            summary: None,
            config_schema: None,
        }
    }

    /// One line for the API reference and the console.
    pub fn summary(mut self, text: &str) -> Self {
        self.summary = Some(text.to_string());
        self
    }

    /// The JSON Schema (draft 2020-12) a node's `config` must match.
    pub fn config_schema(mut self, schema: Value) -> Self {
        self.config_schema = Some(schema);
        self
    }
}

/// One step to run.
#[derive(Debug, Clone)]
pub struct NodeRequest {
    /// The kind's name, without the plugin's prefix.
    pub kind: String,
    /// The node's `config`, already checked against the kind's schema.
    pub config: Value,
    /// What the previous step gave (the execution's input for the first).
    pub input: Value,
    pub execution_id: String,
    pub node_id: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// The same on every attempt of this step and on no other step: send
    /// it with an outbound call so that a repeat is harmless.
    pub idempotency_key: String,
    /// Who started the execution; host calls act as them.
    pub principal: Option<Principal>,
    pub request_id: String,
    /// When the host started this attempt, in microseconds since the epoch.
    pub received_at: i64,
}

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError {
    /// For good, whatever the node's retry policy.
    Failed(String),
    /// For now: the runner tries again under the node's retry policy.
    Retry(String),
}

impl NodeError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    pub fn retry(message: impl Into<String>) -> Self {
        Self::Retry(message.into())
    }
}

/// A host that is unavailable may answer on a later attempt; any other
/// refusal will be the same next time.
impl From<HostError> for NodeError {
    fn from(error: HostError) -> Self {
        match error {
            HostError::Unavailable(message) => Self::Retry(message),
            other => Self::Failed(other.to_string()),
        }
    }
}

/// What a node handler returns.
pub type NodeResult = Result<Value, NodeError>;

pub(crate) type NodeHandler = Box<dyn Fn(&NodeRequest) -> NodeResult>;

impl TryFrom<crate::wit::exports::kai::fusion::handler::NodeRequest> for NodeRequest {
    type Error = String;

    /// The host sends JSON text; anything else is refused as the step's
    /// failure rather than a panic.
    fn try_from(r: crate::wit::exports::kai::fusion::handler::NodeRequest) -> Result<Self, String> {
        let json = |what: &str, text: &str| {
            serde_json::from_str(text).map_err(|e| format!("the step's {what} is not JSON: {e}"))
        };
        Ok(Self {
            config: json("config", &r.config)?,
            input: json("input", &r.input)?,
            kind: r.kind,
            execution_id: r.execution_id,
            node_id: r.node_id,
            attempt: r.attempt,
            idempotency_key: r.idempotency_key,
            principal: r.principal.map(Into::into),
            request_id: r.request_id,
            received_at: r.received_at,
        })
    }
}
