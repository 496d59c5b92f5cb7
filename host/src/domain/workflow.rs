//! Workflow definitions: a named graph of nodes that the WorkflowService
//! runs durably, and the rules a graph must meet before it is saved.
//!
//! A [`Graph`] is nodes (`id`, `kind`, `config`) and edges (`from`, `to`,
//! an optional condition). Its first node is where a run starts. Every node
//! must be reachable from it, every edge must join two of its nodes, every
//! kind must be known (a built-in of [`BUILT_IN_KINDS`], or one a plugin
//! declares) with the config it requires, every expression (a `transform`'s,
//! an edge's condition) must compile, and any cycle must pass through a
//! `loop` node, whose `max_iterations` bounds it.

use super::trigger::{Trigger, TriggerSpec};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Bfs;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Most nodes in one graph.
pub const MAX_NODES: usize = 500;
/// Most edges in one graph.
pub const MAX_EDGES: usize = 2000;
/// Longest node id, in characters.
pub const MAX_NODE_ID_CHARS: usize = 64;
/// Longest expression (a `transform`'s, or an edge's condition), in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Largest graph, as JSON.
pub const MAX_GRAPH_BYTES: usize = 1024 * 1024;
/// The most iterations a `loop` node may allow.
pub const MAX_LOOP_ITERATIONS: i64 = 10_000;
/// The longest `delay`, in seconds: a year.
pub const MAX_DELAY_SECONDS: i64 = 365 * 24 * 3600;

/// A saved workflow at its newest version.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub id: String,
    /// The user it belongs to, whose rights its runs use.
    pub owner: String,
    pub name: String,
    pub description: String,
    /// 1 for the first save, one more for each save after.
    pub version: i64,
    pub graph: Graph,
    /// What starts its runs besides a request.
    pub triggers: Vec<Trigger>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One saved version of a workflow, as a run pins it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowVersion {
    pub workflow_id: String,
    pub version: i64,
    pub name: String,
    pub description: String,
    pub graph: Graph,
    pub created_at: i64,
}

/// What a save gives: a name, a description, the graph and the triggers
/// (the current ones when `None`).
#[derive(Debug, Clone)]
pub struct WorkflowInput {
    pub name: String,
    pub description: Option<String>,
    pub graph: Graph,
    pub triggers: Option<Vec<TriggerSpec>>,
}

/// Nodes and the edges between them; the first node starts a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub edges: Vec<Edge>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Unique within the graph: letters, digits, `_` and `-`.
    pub id: String,
    /// A built-in kind (`http`, `transform`, ...) or a plugin's.
    pub kind: String,
    /// What the kind needs, a JSON object.
    #[serde(default)]
    pub config: Map<String, Value>,
    /// How often a step that failed for now is tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// A deadline per attempt shorter than the plugin's, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
}

/// A node's retry policy: up to `max` attempts after the first, the n-th
/// after `backoff_ms * 2^(n-1)` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub max: u32,
    #[serde(default = "Retry::default_backoff_ms")]
    pub backoff_ms: u32,
}

/// The most retries a node may ask for.
pub const MAX_RETRIES: u32 = 10;
/// The longest first backoff, in milliseconds: an hour.
pub const MAX_BACKOFF_MS: u32 = 3_600_000;
/// The longest per-node deadline, in milliseconds.
pub const MAX_NODE_TIMEOUT_MS: u32 = 600_000;

impl Retry {
    fn default_backoff_ms() -> u32 {
        1000
    }

    /// The wait before attempt `attempt` (2 for the first retry).
    pub fn backoff_before(&self, attempt: u32) -> std::time::Duration {
        let doublings = attempt.saturating_sub(2).min(20);
        std::time::Duration::from_millis(u64::from(self.backoff_ms) << doublings)
    }
}

/// A transition from one node to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// Taken only when it holds, on the edges leaving a `branch` or `loop`
    /// node; an edge without one is the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// The type a config field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// Text, which may be a template over the run's data.
    Text,
    /// A jq expression ([`super::expression`]).
    Expression,
    /// A whole number within bounds.
    Integer { min: i64, max: i64 },
}

/// What a node kind requires of its node's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeKind {
    pub name: &'static str,
    /// Config fields that must be present, with their types.
    pub required: &'static [(&'static str, ConfigType)],
    /// How its node meets the graph.
    pub shape: Shape,
}

/// What a kind asks of the edges around its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Any edges; none of those leaving it carry a condition.
    Step,
    /// Its leaving edges carry conditions; at most one is the default.
    Branch,
    /// A bounded cycle passes through it; its leaving edges may carry
    /// conditions (the way on, and the way back).
    Loop,
    /// Two or more leaving edges, all taken at once.
    FanOut,
    /// Two or more arriving edges, all awaited.
    FanIn,
}

const TEXT: ConfigType = ConfigType::Text;

/// The kinds the runner knows without any plugin.
pub const BUILT_IN_KINDS: &[NodeKind] = &[
    step("http", &[("url", TEXT)]),
    step("transform", &[("expression", ConfigType::Expression)]),
    NodeKind {
        name: "branch",
        required: &[],
        shape: Shape::Branch,
    },
    NodeKind {
        name: "loop",
        required: &[(
            "max_iterations",
            ConfigType::Integer {
                min: 1,
                max: MAX_LOOP_ITERATIONS,
            },
        )],
        shape: Shape::Loop,
    },
    step(
        "delay",
        &[(
            "seconds",
            ConfigType::Integer {
                min: 1,
                max: MAX_DELAY_SECONDS,
            },
        )],
    ),
    NodeKind {
        name: "parallel",
        required: &[],
        shape: Shape::FanOut,
    },
    NodeKind {
        name: "join",
        required: &[],
        shape: Shape::FanIn,
    },
    step("memory.append", &[("session_id", TEXT), ("content", TEXT)]),
    step("memory.window", &[("session_id", TEXT)]),
    step(
        "document.create",
        &[("collection_id", TEXT), ("title", TEXT)],
    ),
    step("document.update", &[("document_id", TEXT)]),
    step("document.search", &[("query", TEXT)]),
    step("workflow", &[("workflow_id", TEXT)]),
];

const fn step(name: &'static str, required: &'static [(&'static str, ConfigType)]) -> NodeKind {
    NodeKind {
        name,
        required,
        shape: Shape::Step,
    }
}

/// The built-in kind `name`.
pub fn built_in(name: &str) -> Option<&'static NodeKind> {
    BUILT_IN_KINDS.iter().find(|kind| kind.name == name)
}

/// A kind a graph may use: a built-in, or one a plugin runs (named
/// `<plugin>.<kind>`), with the schema its config must match.
#[derive(Clone)]
pub enum KnownKind {
    BuiltIn(&'static NodeKind),
    Plugin(Option<Arc<jsonschema::Validator>>),
}

/// The kinds the enabled plugins run, by `<plugin>.<kind>`.
pub type PluginKinds = HashMap<String, Option<Arc<jsonschema::Validator>>>;

/// The kind `name`: a built-in, else one of `plugins`.
pub fn known_kind(name: &str, plugins: &PluginKinds) -> Option<KnownKind> {
    match built_in(name) {
        Some(kind) => Some(KnownKind::BuiltIn(kind)),
        None => plugins.get(name).cloned().map(KnownKind::Plugin),
    }
}

/// A plugin's config schema, compiled; the reason when it is no JSON
/// Schema.
pub fn compile_config_schema(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| e.to_string())
}

/// One step of an execution for a node kind a plugin runs.
#[derive(Debug, Clone)]
pub struct NodeStep {
    /// The kind's name within its plugin (`summarize` of
    /// `summarizer.summarize`).
    pub kind: String,
    pub config: Map<String, Value>,
    pub input: Value,
    pub execution_id: String,
    pub node_id: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// The same on every attempt of this step and on no other step.
    pub idempotency_key: String,
    /// Who started the execution: the step acts as them.
    pub principal: super::Principal,
    pub request_id: String,
}

/// Why a step gave no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepFailure {
    /// For good: no retry policy tries it again.
    #[error("{0}")]
    Failed(String),
    /// For now: tried again while the node's retry policy allows.
    #[error("{0}")]
    Retry(String),
}

/// Why a graph was refused: where (`nodes[2].config.url`, `edges[0].to`)
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct GraphError {
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> GraphError {
    GraphError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks `graph`, knowing kinds by `kind_of` (the built-ins and the
/// plugins' kinds); the first problem found, named precisely.
pub fn validate(
    graph: &Graph,
    kind_of: &dyn Fn(&str) -> Option<KnownKind>,
) -> Result<(), GraphError> {
    if graph.nodes.is_empty() || graph.nodes.len() > MAX_NODES {
        return Err(refuse(
            "nodes",
            format!("give 1 to {MAX_NODES} nodes, got {}", graph.nodes.len()),
        ));
    }
    let size = serde_json::to_string(graph).map_or(usize::MAX, |text| text.len());
    if size > MAX_GRAPH_BYTES {
        return Err(refuse(
            "nodes",
            format!("the graph is {size} bytes as JSON; the most is {MAX_GRAPH_BYTES}"),
        ));
    }
    if graph.edges.len() > MAX_EDGES {
        return Err(refuse(
            "edges",
            format!("give at most {MAX_EDGES} edges, got {}", graph.edges.len()),
        ));
    }
    let mut index: HashMap<&str, NodeIndex> = HashMap::new();
    let mut flow: DiGraph<usize, usize> = DiGraph::new();
    let mut kinds = Vec::with_capacity(graph.nodes.len());
    for (i, node) in graph.nodes.iter().enumerate() {
        let field = format!("nodes[{i}]");
        node_id(&format!("{field}.id"), &node.id)?;
        if index.insert(&node.id, flow.add_node(i)).is_some() {
            return Err(refuse(
                format!("{field}.id"),
                format!(
                    "`{}` is the id of an earlier node: ids must be unique",
                    node.id
                ),
            ));
        }
        if let Some(retry) = &node.retry {
            if retry.max > MAX_RETRIES {
                return Err(refuse(
                    format!("{field}.retry.max"),
                    format!("must be 0 to {MAX_RETRIES}, got {}", retry.max),
                ));
            }
            if retry.backoff_ms > MAX_BACKOFF_MS {
                return Err(refuse(
                    format!("{field}.retry.backoff_ms"),
                    format!("must be 0 to {MAX_BACKOFF_MS}, got {}", retry.backoff_ms),
                ));
            }
        }
        if let Some(ms) = node.timeout_ms
            && !(1..=MAX_NODE_TIMEOUT_MS).contains(&ms)
        {
            return Err(refuse(
                format!("{field}.timeout_ms"),
                format!("must be 1 to {MAX_NODE_TIMEOUT_MS}, got {ms}"),
            ));
        }
        let kind = kind_of(&node.kind).ok_or_else(|| {
            refuse(
                format!("{field}.kind"),
                format!(
                    "unknown node kind `{}` (node `{}`); the kinds are {}, and `<plugin>.<kind>` for a kind an enabled plugin runs",
                    node.kind,
                    node.id,
                    BUILT_IN_KINDS
                        .iter()
                        .map(|k| k.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        match kind {
            KnownKind::BuiltIn(kind) => {
                for (name, ty) in kind.required {
                    config_field(&field, node, name, *ty)?;
                }
                if kind.name == "http" {
                    http_config(&field, node)?;
                }
                kinds.push(*kind);
            }
            KnownKind::Plugin(schema) => {
                plugin_config(&field, node, schema.as_deref())?;
                kinds.push(step("plugin", &[]));
            }
        }
    }
    for (i, edge) in graph.edges.iter().enumerate() {
        let field = format!("edges[{i}]");
        let end = |end: &str, id: &str| {
            index.get(id).copied().ok_or_else(|| {
                refuse(
                    format!("{field}.{end}"),
                    format!(
                        "no node has the id `{id}`: the edge {} -> {} dangles",
                        edge.from, edge.to
                    ),
                )
            })
        };
        let (from, to) = (end("from", &edge.from)?, end("to", &edge.to)?);
        if let Some(earlier) = flow.find_edge(from, to) {
            return Err(refuse(
                field,
                format!(
                    "repeats edges[{}], {} -> {}: join two nodes once",
                    flow[earlier], edge.from, edge.to
                ),
            ));
        }
        if let Some(condition) = &edge.condition {
            let shape = kinds[flow[from]].shape;
            if !matches!(shape, Shape::Branch | Shape::Loop) {
                return Err(refuse(
                    format!("{field}.condition"),
                    format!(
                        "only edges leaving a branch or loop node carry a condition; `{}` is a {} node",
                        edge.from, graph.nodes[flow[from]].kind
                    ),
                ));
            }
            if condition.trim().is_empty() || condition.len() > MAX_EXPRESSION_BYTES {
                return Err(refuse(
                    format!("{field}.condition"),
                    format!("must be 1 to {MAX_EXPRESSION_BYTES} bytes of expression"),
                ));
            }
            super::expression::check(condition).map_err(|why| {
                refuse(format!("{field}.condition"), format!("`{condition}` {why}"))
            })?;
        }
        flow.add_edge(from, to, i);
    }
    shapes(graph, &flow, &kinds)?;
    reachable(graph, &flow)?;
    bounded_cycles(graph, &flow, &kinds)
}

fn node_id(field: &str, id: &str) -> Result<(), GraphError> {
    let ok = !id.is_empty()
        && id.chars().count() <= MAX_NODE_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(refuse(
            field,
            format!(
                "`{id}` is not a node id: use 1 to {MAX_NODE_ID_CHARS} letters, digits, `_` or `-`"
            ),
        ))
    }
}

fn config_field(field: &str, node: &Node, name: &str, ty: ConfigType) -> Result<(), GraphError> {
    let at = format!("{field}.config.{name}");
    let Some(value) = node.config.get(name) else {
        return Err(refuse(
            at,
            format!("is required by a {} node (node `{}`)", node.kind, node.id),
        ));
    };
    match ty {
        ConfigType::Text if value.as_str().is_some_and(|s| !s.is_empty()) => Ok(()),
        ConfigType::Text => Err(refuse(at, "must be a non-empty string")),
        ConfigType::Expression => match value.as_str() {
            Some(code) if !code.trim().is_empty() && code.len() <= MAX_EXPRESSION_BYTES => {
                super::expression::check(code).map_err(|why| {
                    refuse(at, format!("{} {why} (node `{}`)", quoted(code), node.id))
                })
            }
            _ => Err(refuse(
                at,
                format!("must be a jq expression of 1 to {MAX_EXPRESSION_BYTES} bytes"),
            )),
        },
        ConfigType::Integer { min, max } => match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(()),
            _ => Err(refuse(
                at,
                format!("must be a whole number from {min} to {max}, got {value}"),
            )),
        },
    }
}

/// Methods an `http` node may use.
pub const HTTP_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Headers an `http` node may not set: the connection's own (framing,
/// routing to a virtual host behind an allowed origin, proxies).
pub const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
];

/// An `http` node's optional config: `method`, `headers` (an object of
/// text) and `credential` (`{"name", "bearer": field}`, `{"name", "basic":
/// [user, password]}` or `{"name", "header": [header, field]}`).
fn http_config(field: &str, node: &Node) -> Result<(), GraphError> {
    let at = |name: &str| format!("{field}.config.{name}");
    if let Some(method) = node.config.get("method")
        && !method
            .as_str()
            .is_some_and(|m| HTTP_METHODS.contains(&m.to_ascii_uppercase().as_str()))
    {
        return Err(refuse(
            at("method"),
            format!("must be one of {}, got {method}", HTTP_METHODS.join(", ")),
        ));
    }
    if let Some(headers) = node.config.get("headers") {
        let Some(headers) = headers
            .as_object()
            .filter(|h| h.values().all(Value::is_string))
        else {
            return Err(refuse(at("headers"), "must be an object of text values"));
        };
        let valid = |name: &str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        };
        if let Some(name) = headers.keys().find(|name| {
            !valid(name) || FORBIDDEN_HEADERS.contains(&name.to_ascii_lowercase().as_str())
        }) {
            return Err(refuse(
                at(&format!("headers.{name}")),
                "is not a header a node may set (a valid name, not one of the connection's own)",
            ));
        }
    }
    let Some(credential) = node.config.get("credential") else {
        return Ok(());
    };
    let text = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    let pair = |v: &Value| {
        v.as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(text))
    };
    let ways = [
        credential.get("bearer").is_some_and(text),
        credential.get("basic").is_some_and(pair),
        credential.get("header").is_some_and(pair),
    ];
    if !credential.get("name").is_some_and(text) || ways.iter().filter(|w| **w).count() != 1 {
        return Err(refuse(
            at("credential"),
            "must be {\"name\": <credential>, and one of \"bearer\": <field>, \"basic\": [<user field>, <password field>] or \"header\": [<header>, <field>]}",
        ));
    }
    Ok(())
}

/// A plugin kind's node config, against the kind's schema: the first
/// mismatch, by its place in the config.
fn plugin_config(
    field: &str,
    node: &Node,
    schema: Option<&jsonschema::Validator>,
) -> Result<(), GraphError> {
    let Some(schema) = schema else { return Ok(()) };
    let config = Value::Object(node.config.clone());
    match schema.iter_errors(&config).next() {
        None => Ok(()),
        Some(error) => {
            let place = error.instance_path().to_string();
            Err(refuse(
                format!("{field}.config{}", place.replace('/', ".")),
                format!(
                    "{error} (node `{}`, checked against the schema of {})",
                    node.id, node.kind
                ),
            ))
        }
    }
}

/// The edges each kind asks for around its node.
fn shapes(
    graph: &Graph,
    flow: &DiGraph<usize, usize>,
    kinds: &[NodeKind],
) -> Result<(), GraphError> {
    use petgraph::Direction::{Incoming, Outgoing};
    for index in flow.node_indices() {
        let i = flow[index];
        let node = &graph.nodes[i];
        let leaving: Vec<&Edge> = flow
            .edges_directed(index, Outgoing)
            .map(|e| &graph.edges[*e.weight()])
            .collect();
        let arriving = flow.edges_directed(index, Incoming).count();
        let field = format!("nodes[{i}]");
        match kinds[i].shape {
            Shape::Branch | Shape::Loop => {
                let defaults = leaving.iter().filter(|e| e.condition.is_none()).count();
                if defaults > 1 {
                    return Err(refuse(
                        field,
                        format!(
                            "{} node `{}` has {defaults} edges without a condition: at most one may be the default",
                            node.kind, node.id
                        ),
                    ));
                }
                if leaving.is_empty() {
                    return Err(refuse(
                        field,
                        format!("{} node `{}` has no edge leaving it", node.kind, node.id),
                    ));
                }
            }
            Shape::FanOut if leaving.len() < 2 => {
                return Err(refuse(
                    field,
                    format!(
                        "parallel node `{}` fans out to {} node(s): give it two or more edges",
                        node.id,
                        leaving.len()
                    ),
                ));
            }
            Shape::Step if leaving.len() > 1 => {
                return Err(refuse(
                    field,
                    format!(
                        "{} node `{}` has {} edges leaving it: fan out through a parallel node, \
                         or choose through a branch node",
                        node.kind,
                        node.id,
                        leaving.len()
                    ),
                ));
            }
            // A delay hands its input on once its time has come; with
            // nowhere to hand it, it would end the run at once.
            Shape::Step if node.kind == "delay" && leaving.is_empty() => {
                return Err(refuse(
                    field,
                    format!(
                        "delay node `{}` has no edge leaving it: a run waits only on its way to another node",
                        node.id
                    ),
                ));
            }
            Shape::FanIn if arriving < 2 => {
                return Err(refuse(
                    field,
                    format!(
                        "join node `{}` awaits {arriving} edge(s): give it two or more",
                        node.id
                    ),
                ));
            }
            Shape::FanIn if leaving.len() > 1 => {
                return Err(refuse(
                    field,
                    format!(
                        "join node `{}` leads to {} nodes: a join hands on along one edge (fan out after it through `parallel`)",
                        node.id,
                        leaving.len()
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Every node can be reached from the first.
fn reachable(graph: &Graph, flow: &DiGraph<usize, usize>) -> Result<(), GraphError> {
    let mut seen = vec![false; graph.nodes.len()];
    let mut bfs = Bfs::new(flow, NodeIndex::new(0));
    while let Some(index) = bfs.next(flow) {
        seen[flow[index]] = true;
    }
    match seen.iter().position(|s| !s) {
        Some(i) => Err(refuse(
            format!("nodes[{i}]"),
            format!(
                "node `{}` cannot be reached from the first node, `{}`, where runs start",
                graph.nodes[i].id, graph.nodes[0].id
            ),
        )),
        None => Ok(()),
    }
}

/// Every cycle passes through a `loop` node (without them the graph has
/// none), and every loop node is on a cycle with a way out of it.
fn bounded_cycles(
    graph: &Graph,
    flow: &DiGraph<usize, usize>,
    kinds: &[NodeKind],
) -> Result<(), GraphError> {
    let without_loops = flow.filter_map(
        |_, &i| (kinds[i].shape != Shape::Loop).then_some(i),
        |_, &e| Some(e),
    );
    for component in tarjan_scc(&without_loops) {
        let inside = |n: NodeIndex| component.contains(&n);
        let Some(edge) = without_loops.edge_indices().find(|&e| {
            let (a, b) = without_loops
                .edge_endpoints(e)
                .expect("an edge of the graph");
            inside(a) && inside(b)
        }) else {
            continue;
        };
        let mut ids: Vec<&str> = component
            .iter()
            .map(|&n| graph.nodes[without_loops[n]].id.as_str())
            .collect();
        ids.sort_unstable();
        return Err(refuse(
            format!("edges[{}]", without_loops[edge]),
            format!(
                "nodes {} form a cycle that passes through no loop node: \
                 route it through a `loop` node, whose max_iterations bounds it",
                ids.iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    for component in tarjan_scc(flow) {
        for &n in &component {
            let i = flow[n];
            if kinds[i].shape != Shape::Loop {
                continue;
            }
            let node = &graph.nodes[i];
            let on_cycle = component.len() > 1 || flow.find_edge(n, n).is_some();
            if !on_cycle {
                return Err(refuse(
                    format!("nodes[{i}]"),
                    format!(
                        "loop node `{}` is on no cycle: an edge must lead back to it",
                        node.id
                    ),
                ));
            }
            let exits = flow
                .edges_directed(n, petgraph::Direction::Outgoing)
                .any(|e| !component.contains(&petgraph::visit::EdgeRef::target(&e)));
            if !exits {
                return Err(refuse(
                    format!("nodes[{i}]"),
                    format!(
                        "loop node `{}` has no edge out of its cycle: give it one to take \
                         when the loop ends",
                        node.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Code as an error message quotes it: at most 80 characters of it.
fn quoted(code: &str) -> String {
    match code.char_indices().nth(80) {
        Some((end, _)) => format!("`{}…`", &code[..end]),
        None => format!("`{code}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph(value: Value) -> Graph {
        serde_json::from_value(value).unwrap()
    }

    fn check(value: Value) -> Result<(), GraphError> {
        let plugins = PluginKinds::from([(
            "probe.shout".to_string(),
            Some(Arc::new(
                compile_config_schema(&json!({
                    "type": "object",
                    "properties": {"suffix": {"type": "string"}},
                    "required": ["suffix"]
                }))
                .unwrap(),
            )),
        )]);
        validate(&graph(value), &|name| known_kind(name, &plugins))
    }

    #[test]
    fn a_join_hands_on_along_one_edge_and_http_config_is_checked() {
        let error = check(json!({
            "nodes": [
                node("fan", "parallel", json!({})),
                node("a", "transform", json!({"expression": "."})),
                node("b", "transform", json!({"expression": "."})),
                node("j", "join", json!({})),
                node("c", "transform", json!({"expression": "."})),
                node("d", "transform", json!({"expression": "."}))
            ],
            "edges": [
                edge("fan", "a"), edge("fan", "b"), edge("a", "j"), edge("b", "j"),
                edge("j", "c"), edge("j", "d")
            ]
        }))
        .unwrap_err();
        assert_eq!(error.field, "nodes[3]", "{error}");
        assert!(error.message.contains("one edge"), "{error}");
        let http = |config: Value| check(json!({"nodes": [node("h", "http", config)]}));
        http(json!({"url": "https://x", "credential": {"name": "K", "bearer": "key"}})).unwrap();
        for (config, field) in [
            (
                json!({"url": "https://x", "method": "FETCH"}),
                "nodes[0].config.method",
            ),
            (
                json!({"url": "https://x", "headers": {"a": 1}}),
                "nodes[0].config.headers",
            ),
            (
                json!({"url": "https://x", "credential": "K"}),
                "nodes[0].config.credential",
            ),
            (
                json!({"url": "https://x", "credential": {"name": "K", "bearer": "k", "basic": ["u", "p"]}}),
                "nodes[0].config.credential",
            ),
        ] {
            assert_eq!(http(config.clone()).unwrap_err().field, field, "{config}");
        }
    }

    #[test]
    fn a_plugin_kind_is_known_by_its_plugin_and_its_config_meets_its_schema() {
        let one = |config: Value| json!({"nodes": [node("a", "probe.shout", config)], "edges": []});
        check(one(json!({"suffix": "!"}))).unwrap();
        let error = check(one(json!({"suffix": 3}))).unwrap_err();
        assert_eq!(error.field, "nodes[0].config.suffix", "{error}");
        assert!(error.message.contains("probe.shout"), "{error}");
        let error = check(one(json!({}))).unwrap_err();
        assert_eq!(error.field, "nodes[0].config", "{error}");
        assert!(error.message.contains("suffix"), "{error}");
        let error = check(json!({"nodes": [node("a", "probe.whisper", json!({}))], "edges": []}))
            .unwrap_err();
        assert!(
            error.message.contains("unknown node kind `probe.whisper`"),
            "{error}"
        );
    }

    fn node(id: &str, kind: &str, config: Value) -> Value {
        json!({ "id": id, "kind": kind, "config": config })
    }

    fn edge(from: &str, to: &str) -> Value {
        json!({ "from": from, "to": to })
    }

    #[test]
    fn a_linear_graph_and_a_bounded_loop_pass() {
        check(json!({
            "nodes": [
                node("a", "transform", json!({ "expression": ".x" })),
                node("b", "http", json!({ "url": "https://api.example.com/{{a.id}}" })),
            ],
            "edges": [edge("a", "b")],
        }))
        .unwrap();
        check(json!({
            "nodes": [
                node("start", "transform", json!({ "expression": "." })),
                node("again", "loop", json!({ "max_iterations": 5 })),
                node("body", "transform", json!({ "expression": ".n + 1" })),
                node("done", "transform", json!({ "expression": "." })),
            ],
            "edges": [
                edge("start", "again"),
                { "from": "again", "to": "body", "condition": ".n < 3" },
                edge("again", "done"),
                edge("body", "again"),
            ],
        }))
        .unwrap();
    }

    #[test]
    fn each_problem_is_named_where_it_is() {
        let t = |id: &str| node(id, "transform", json!({ "expression": "." }));
        let cases = [
            (json!({ "nodes": [] }), "nodes", "give 1 to"),
            (
                json!({ "nodes": [node("a", "teleport", json!({}))] }),
                "nodes[0].kind",
                "unknown node kind `teleport`",
            ),
            (
                json!({ "nodes": [t("a"), t("a")] }),
                "nodes[1].id",
                "unique",
            ),
            (
                json!({ "nodes": [t("a b")] }),
                "nodes[0].id",
                "not a node id",
            ),
            (
                json!({ "nodes": [node("h", "http", json!({}))] }),
                "nodes[0].config.url",
                "required by a http node",
            ),
            (
                json!({ "nodes": [node("l", "loop", json!({ "max_iterations": 0 }))] }),
                "nodes[0].config.max_iterations",
                "from 1 to 10000",
            ),
            (
                json!({ "nodes": [t("a")], "edges": [edge("a", "ghost")] }),
                "edges[0].to",
                "`ghost`",
            ),
            (
                json!({ "nodes": [t("a"), t("b")] }),
                "nodes[1]",
                "cannot be reached",
            ),
            (
                json!({ "nodes": [t("a"), t("b")], "edges": [edge("a", "b"), edge("b", "a")] }),
                "edges[0]",
                "`a`, `b` form a cycle",
            ),
            (
                json!({ "nodes": [t("a"), t("b")], "edges": [{ "from": "a", "to": "b", "condition": "." }] }),
                "edges[0].condition",
                "branch or loop",
            ),
            (
                json!({ "nodes": [node("p", "parallel", json!({})), t("b")], "edges": [edge("p", "b")] }),
                "nodes[0]",
                "two or more edges",
            ),
            (
                json!({ "nodes": [t("a"), node("j", "join", json!({}))], "edges": [edge("a", "j")] }),
                "nodes[1]",
                "awaits 1",
            ),
            (
                json!({ "nodes": [t("a"), node("d", "delay", json!({ "seconds": 5 }))], "edges": [edge("a", "d")] }),
                "nodes[1]",
                "a run waits only on its way to another node",
            ),
            (
                json!({ "nodes": [node("b", "branch", json!({})), t("x"), t("y")], "edges": [edge("b", "x"), edge("b", "y")] }),
                "nodes[0]",
                "at most one may be the default",
            ),
            (
                json!({ "nodes": [t("a"), t("b")], "edges": [edge("a", "b"), edge("a", "b")] }),
                "edges[1]",
                "repeats edges[0]",
            ),
            (
                json!({ "nodes": [t("a"), t("b"), t("c")], "edges": [edge("a", "b"), edge("a", "c")] }),
                "nodes[0]",
                "fan out through a parallel node",
            ),
            (
                json!({ "nodes": [node("l", "loop", json!({ "max_iterations": 2 })), t("a")], "edges": [edge("l", "a")] }),
                "nodes[0]",
                "on no cycle",
            ),
            (
                json!({ "nodes": [node("l", "loop", json!({ "max_iterations": 2 })), t("a")], "edges": [edge("l", "a"), edge("a", "l")] }),
                "nodes[0]",
                "no edge out of its cycle",
            ),
            (
                json!({ "nodes": [node("a", "transform", json!({ "expression": "-".repeat(5000) }))] }),
                "nodes[0].config.expression",
                "1 to 4096 bytes",
            ),
        ];
        for (value, field, says) in cases {
            let error = check(value.clone()).unwrap_err();
            assert_eq!(error.field, field, "{value}: {error}");
            assert!(error.message.contains(says), "{value}: {error}");
        }
    }
}
