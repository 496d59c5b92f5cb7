//! Workflow executions: a run of one workflow version, its timeline, and
//! the run's state that the runner checkpoints after every step.
//!
//! How a run walks its graph. The run holds *tokens*: nodes to run, each
//! with its input, its attempt and the time it may run from. It starts
//! with one token, the graph's first node with the execution's input; a
//! runner takes the earliest token that is due, runs its node, and puts
//! the tokens that follow:
//!
//! - a step node (`transform`, a plugin's kind, ...) hands its output to
//!   the node its one edge leads to; with no edge it ends a way through the
//!   graph, and its output is kept as a result;
//! - `branch` hands its input on along the first edge whose condition
//!   holds, else its edge without one; none: the run fails there;
//! - `loop` does the same, and counts its passes over the whole run: past
//!   `max_iterations`, only edges that leave the cycle may be taken (a loop
//!   inside another is bounded by its passes in all, not per outer pass);
//! - `parallel` hands its input to every edge at once;
//! - `join` waits for one arrival from each edge into it, then hands on an
//!   object of them by the node they came from;
//! - `delay` hands its input on once its `seconds` have passed: the run
//!   waits without holding a runner.
//!
//! The run succeeds when no token is left: its output is the one result,
//! or an object of the results by node when several ways ended. A step
//! that fails for good (or runs out of retries) fails the run, and the
//! token is kept so that a retry starts from that node.

use super::workflow::{Graph, Node};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Where an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Waiting for a runner to take it.
    Queued,
    /// A runner holds it and runs its steps.
    Running,
    /// Sleeping: its next step is due later (a delay, a retry's backoff).
    Waiting,
    Succeeded,
    Failed,
    Cancelled,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 6] = [
        Self::Queued,
        Self::Running,
        Self::Waiting,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the execution has ended (nothing more will run).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// One execution of a workflow version.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub id: String,
    pub workflow_id: String,
    /// The workflow version it runs, pinned at start.
    pub version: i64,
    /// Who started it: its steps act as them.
    pub owner: String,
    pub status: ExecutionStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    /// The StateManager thread its checkpoints are on.
    pub thread_id: String,
    /// Attempts recorded in its timeline.
    pub steps: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
    /// When a runner may next take it.
    pub due_at: i64,
    /// The execution whose `workflow` node started this one as a sub-run.
    pub parent_id: Option<String>,
    /// The run at the top of its tree of sub-runs (none for a top run).
    pub root_id: Option<String>,
    /// What started it.
    pub started_by: StartedBy,
}

/// What started an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartedBy {
    /// A request to `POST .../executions`.
    Manual,
    /// A core event the workflow has a trigger for.
    Event,
    /// A tick of the workflow's cron schedule.
    Schedule,
    /// A call to the workflow's webhook.
    Webhook,
    /// Another run's `workflow` node (a sub-run).
    Workflow,
}

impl StartedBy {
    pub const ALL: [StartedBy; 5] = [
        Self::Manual,
        Self::Event,
        Self::Schedule,
        Self::Webhook,
        Self::Workflow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Event => "event",
            Self::Schedule => "schedule",
            Self::Webhook => "webhook",
            Self::Workflow => "workflow",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// How one attempt of a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    /// Failed for now; another attempt follows.
    Retrying,
    Failed,
    /// Started a sub-run (its id is the output) and waits for it.
    Waiting,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
            Self::Waiting => "waiting",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Succeeded, Self::Retrying, Self::Failed, Self::Waiting]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One attempt of one step, in an execution's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// 1 for the first attempt recorded, one more for each after.
    pub seq: i64,
    pub node_id: String,
    pub kind: String,
    pub attempt: u32,
    pub status: StepStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub started_at: i64,
    pub duration_us: i64,
    /// The worker that ran it: `<server node id>/<n>`.
    pub worker: String,
}

/// A node waiting to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub node: String,
    /// The node it came from (none for the first): a `join` tells its
    /// arrivals apart by it.
    #[serde(default)]
    pub from: Option<String>,
    pub input: Value,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// Microseconds since the epoch before which it does not run.
    pub not_before: i64,
    /// Which pass through its node this is (1 on the first): with the
    /// execution and the node, it makes the step's idempotency key.
    pub pass: u32,
    /// The sub-run a `workflow` node started and waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<String>,
}

/// How long a token waiting for a sub-run sleeps before the run looks at
/// the sub-run again, should the sub-run's end not wake it first (it
/// ended while its parent was running another step).
pub const AWAIT_RECHECK_MICROS: i64 = 10_000_000;

/// A run's state, as its checkpoints hold it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Nodes waiting to run, in the order they were reached.
    pub tokens: VecDeque<Token>,
    /// Passes through each node so far.
    #[serde(default)]
    pub passes: BTreeMap<String, u32>,
    /// Arrivals at each `join`, by the node they came from.
    #[serde(default)]
    pub arrivals: BTreeMap<String, Map<String, Value>>,
    /// The outputs of steps that ended a way through the graph, by node.
    #[serde(default)]
    pub results: Map<String, Value>,
    /// The step that failed the run, to start again from on a retry.
    #[serde(default)]
    pub failed: Option<Token>,
}

/// What running a token's node gave, for [`RunState::advance`].
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A step node's output, handed to its edge.
    Output(Value),
    /// A `branch` or `loop` node chose the edge at this index of the graph.
    Chosen(usize),
    /// A `delay`: its input goes on at this time.
    After(i64),
    /// A `parallel` node: its input goes to every edge.
    FanOut,
    /// A `workflow` node started this sub-run: the token waits for it.
    Await(String),
}

impl RunState {
    /// A run of `graph` from its first node with `input`.
    pub fn start(graph: &Graph, input: Value, now: i64) -> Self {
        let mut state = RunState::default();
        if let Some(first) = graph.nodes.first() {
            state.push(None, &first.id, input, now);
        }
        state
    }

    fn push(&mut self, from: Option<&str>, node: &str, input: Value, not_before: i64) {
        let pass = self.passes.entry(node.to_string()).or_insert(0);
        *pass += 1;
        let pass = *pass;
        self.tokens.push_back(Token {
            node: node.to_string(),
            from: from.map(str::to_string),
            input,
            attempt: 1,
            not_before,
            pass,
            awaiting: None,
        });
    }

    /// The index of the first token due at `now`.
    pub fn due(&self, now: i64) -> Option<usize> {
        self.tokens.iter().position(|t| t.not_before <= now)
    }

    /// When the next token is due, if any is left.
    pub fn next_due(&self) -> Option<i64> {
        self.tokens.iter().map(|t| t.not_before).min()
    }

    /// Takes the token at `index` (from [`RunState::due`]) to run it.
    pub fn take(&mut self, index: usize) -> Option<Token> {
        self.tokens.remove(index)
    }

    /// Puts `token` back to be tried again at `not_before` (a sub-run it
    /// waited for is left: the next attempt starts another).
    pub fn retry_later(&mut self, mut token: Token, not_before: i64) {
        token.attempt += 1;
        token.not_before = not_before;
        token.awaiting = None;
        self.tokens.push_back(token);
    }

    /// The sub-runs tokens wait for.
    pub fn awaited(&self) -> Vec<String> {
        self.tokens
            .iter()
            .filter_map(|t| t.awaiting.clone())
            .collect()
    }

    /// Makes the tokens waiting for one of `ended` due at `now`, and those
    /// whose sub-run goes on but whose time to look again has come wait
    /// [`AWAIT_RECHECK_MICROS`] more.
    pub fn resume_awaiting(&mut self, ended: &HashSet<String>, now: i64) {
        for token in &mut self.tokens {
            let Some(child) = &token.awaiting else {
                continue;
            };
            if ended.contains(child) {
                token.not_before = now;
            } else if token.not_before <= now {
                token.not_before = now + AWAIT_RECHECK_MICROS;
            }
        }
    }

    /// Hands on what `token`'s node gave; the output recorded for its step.
    pub fn advance(&mut self, graph: &Graph, token: &Token, outcome: Outcome, now: i64) -> Value {
        let leaving: Vec<(usize, &str)> = graph
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| e.from == token.node)
            .map(|(i, e)| (i, e.to.as_str()))
            .collect();
        match outcome {
            Outcome::Output(output) => {
                match leaving.first() {
                    Some((_, to)) => self.push(Some(&token.node), to, output.clone(), now),
                    None => {
                        self.results.insert(token.node.clone(), output.clone());
                    }
                }
                output
            }
            Outcome::Chosen(edge) => {
                let to = &graph.edges[edge].to;
                self.push(Some(&token.node), to, token.input.clone(), now);
                serde_json::json!({ "to": to })
            }
            Outcome::After(at) => {
                // A delay always has a way on (the graph's rules).
                if let Some((_, to)) = leaving.first() {
                    self.push(Some(&token.node), to, token.input.clone(), at);
                }
                token.input.clone()
            }
            Outcome::FanOut => {
                for (_, to) in &leaving {
                    self.push(Some(&token.node), to, token.input.clone(), now);
                }
                token.input.clone()
            }
            Outcome::Await(child) => {
                let mut waiting = token.clone();
                waiting.not_before = now + AWAIT_RECHECK_MICROS;
                waiting.awaiting = Some(child.clone());
                self.tokens.push_back(waiting);
                serde_json::json!({ "execution_id": child })
            }
        }
    }

    /// Records that `from`'s output arrived at the join `join`; once every
    /// edge into it has brought one, the join's output (an object of them
    /// by node), handed on as a step node's.
    pub fn arrive(
        &mut self,
        graph: &Graph,
        join: &str,
        from: &str,
        output: Value,
    ) -> Option<Value> {
        let expected: HashSet<&str> = graph
            .edges
            .iter()
            .filter(|e| e.to == join)
            .map(|e| e.from.as_str())
            .collect();
        let arrived = self.arrivals.entry(join.to_string()).or_default();
        arrived.insert(from.to_string(), output);
        if expected.iter().all(|from| arrived.contains_key(*from)) {
            self.arrivals.remove(join).map(Value::Object)
        } else {
            None
        }
    }

    /// The run's output once no token is left: the one result, or an
    /// object of them by node.
    pub fn output(&self) -> Value {
        match self.results.len() {
            0 => Value::Null,
            1 => self.results.values().next().cloned().unwrap_or(Value::Null),
            _ => Value::Object(self.results.clone()),
        }
    }
}

/// The edges leaving `node` that a `loop` may take after its last allowed
/// pass: those whose end cannot lead back to it.
pub fn exits(graph: &Graph, node: &str) -> Vec<usize> {
    graph
        .edges
        .iter()
        .enumerate()
        .filter(|(_, e)| e.from == node && !reaches(graph, &e.to, node))
        .map(|(i, _)| i)
        .collect()
}

/// Whether a path leads from `from` to `to`.
fn reaches(graph: &Graph, from: &str, to: &str) -> bool {
    let mut seen = HashSet::new();
    let mut stack = vec![from];
    while let Some(at) = stack.pop() {
        if at == to {
            return true;
        }
        if seen.insert(at) {
            stack.extend(
                graph
                    .edges
                    .iter()
                    .filter(|e| e.from == at)
                    .map(|e| e.to.as_str()),
            );
        }
    }
    false
}

/// The node `id` of `graph`.
pub fn node<'a>(graph: &'a Graph, id: &str) -> Option<&'a Node> {
    graph.nodes.iter().find(|n| n.id == id)
}

/// The key a step's every attempt shares and no other step has.
pub fn idempotency_key(execution: &str, token: &Token) -> String {
    format!("{execution}:{}:{}", token.node, token.pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph(value: Value) -> Graph {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_linear_run_hands_each_output_on_and_ends_with_the_last() {
        let g = graph(json!({
            "nodes": [
                {"id": "a", "kind": "transform", "config": {"expression": "."}},
                {"id": "b", "kind": "transform", "config": {"expression": "."}}
            ],
            "edges": [{"from": "a", "to": "b"}]
        }));
        let mut state = RunState::start(&g, json!(1), 0);
        let a = state.take(state.due(0).unwrap()).unwrap();
        assert_eq!(a.node, "a");
        state.advance(&g, &a, Outcome::Output(json!(2)), 0);
        let b = state.take(state.due(0).unwrap()).unwrap();
        assert_eq!((b.node.as_str(), &b.input), ("b", &json!(2)));
        state.advance(&g, &b, Outcome::Output(json!(3)), 0);
        assert!(state.tokens.is_empty());
        assert_eq!(state.output(), json!(3));
    }

    #[test]
    fn a_join_waits_for_every_way_in_and_a_loop_exit_leaves_the_cycle() {
        let g = graph(json!({
            "nodes": [
                {"id": "fan", "kind": "parallel"},
                {"id": "x", "kind": "transform", "config": {"expression": "."}},
                {"id": "y", "kind": "transform", "config": {"expression": "."}},
                {"id": "j", "kind": "join"}
            ],
            "edges": [
                {"from": "fan", "to": "x"}, {"from": "fan", "to": "y"},
                {"from": "x", "to": "j"}, {"from": "y", "to": "j"}
            ]
        }));
        let mut state = RunState::start(&g, json!(0), 0);
        assert_eq!(state.arrive(&g, "j", "x", json!(1)), None);
        assert_eq!(
            state.arrive(&g, "j", "y", json!(2)),
            Some(json!({"x": 1, "y": 2}))
        );
        assert!(state.arrivals.is_empty());

        let looped = graph(json!({
            "nodes": [
                {"id": "l", "kind": "loop", "config": {"max_iterations": 2}},
                {"id": "body", "kind": "transform", "config": {"expression": "."}},
                {"id": "done", "kind": "transform", "config": {"expression": "."}}
            ],
            "edges": [
                {"from": "l", "to": "body", "condition": "true"},
                {"from": "body", "to": "l"},
                {"from": "l", "to": "done"}
            ]
        }));
        assert_eq!(exits(&looped, "l"), vec![2]);
    }

    #[test]
    fn a_delay_hands_on_later_and_passes_count_per_node() {
        let g = graph(json!({
            "nodes": [
                {"id": "wait", "kind": "delay", "config": {"seconds": 5}},
                {"id": "b", "kind": "transform", "config": {"expression": "."}}
            ],
            "edges": [{"from": "wait", "to": "b"}]
        }));
        let mut state = RunState::start(&g, json!("x"), 0);
        let wait = state.take(0).unwrap();
        state.advance(&g, &wait, Outcome::After(5_000_000), 0);
        assert_eq!(state.due(0), None);
        assert_eq!(state.next_due(), Some(5_000_000));
        assert_eq!(state.due(5_000_000), Some(0));
        assert_eq!(idempotency_key("e", &state.tokens[0]), "e:b:1");
    }
}
