//! Running one step: what each node kind does, and how a failure meets
//! the node's retry policy. Nodes that compute (a `transform`, the
//! conditions of a `branch` or `loop`, a plugin's kind) run in a plugin's
//! sandbox; the others only move the run's tokens.

use super::Runner;
use crate::domain::Principal;
use crate::domain::execution::{self, Execution, Outcome, Token};
use crate::domain::workflow::{Graph, MAX_LOOP_ITERATIONS, Node, NodeStep, StepFailure};
use crate::plugins::invoke;
use crate::services::Session;
use crate::util::now_micros;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The first-party plugin whose kinds compute the built-in nodes.
const COMPUTE: &str = "workflows";

/// How a step ended.
pub(super) enum StepEnd {
    /// Done: the run moves on as the outcome says.
    Done(Outcome),
    /// To be tried again at `at` (microseconds since the epoch).
    Retry { message: String, at: i64 },
    /// For good, or out of retries.
    Failed(String),
}

/// The kind of node `id`, as the timeline names it.
pub(super) fn kind_of(graph: &Graph, id: &str) -> String {
    execution::node(graph, id).map_or_else(String::new, |n| n.kind.clone())
}

/// Runs `token`'s node (not a `join`: the run itself counts arrivals).
pub(super) async fn run(
    runner: &Runner,
    session: &Arc<Session>,
    execution: &Execution,
    principal: &Principal,
    graph: &Graph,
    token: &Token,
) -> StepEnd {
    let Some(node) = execution::node(graph, &token.node) else {
        return StepEnd::Failed(format!("the graph has no node `{}`", token.node));
    };
    let step = Step {
        runner,
        session,
        execution,
        principal,
        token,
        node,
    };
    let result = match node.kind.as_str() {
        "transform" => step
            .compute("transform", node.config.clone(), &token.input)
            .await
            .map(Outcome::Output),
        "branch" | "loop" => step.choose(graph).await,
        "parallel" => Ok(Outcome::FanOut),
        "delay" => {
            let seconds = node
                .config
                .get("seconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            Ok(Outcome::After(now_micros() + seconds.max(0) * 1_000_000))
        }
        kind if kind.contains('.') && workflow_kind(kind) => step
            .plugin(kind, node.config.clone(), &token.input)
            .await
            .map(Outcome::Output),
        kind => Err(StepFailure::Failed(format!(
            "this server does not run {kind} nodes"
        ))),
    };
    match result {
        Ok(outcome) => StepEnd::Done(outcome),
        Err(StepFailure::Failed(message)) => StepEnd::Failed(message),
        Err(StepFailure::Retry(message)) => match node.retry {
            Some(retry) if token.attempt <= retry.max => StepEnd::Retry {
                at: now_micros() + retry.backoff_before(token.attempt + 1).as_micros() as i64,
                message,
            },
            _ => StepEnd::Failed(format!(
                "{message} (attempt {} of {})",
                token.attempt,
                node.retry.map_or(1, |r| r.max + 1)
            )),
        },
    }
}

/// A plugin's kind, `<plugin>.<kind>`, rather than a built-in with a dot
/// (`memory.append`, `document.create`, ...).
fn workflow_kind(kind: &str) -> bool {
    crate::domain::workflow::built_in(kind).is_none()
}

/// One step being run.
struct Step<'a> {
    runner: &'a Runner,
    session: &'a Arc<Session>,
    execution: &'a Execution,
    principal: &'a Principal,
    token: &'a Token,
    node: &'a Node,
}

impl Step<'_> {
    /// Runs the first-party plugin's `kind`.
    async fn compute(
        &self,
        kind: &str,
        config: Map<String, Value>,
        input: &Value,
    ) -> Result<Value, StepFailure> {
        self.plugin(&format!("{COMPUTE}.{kind}"), config, input)
            .await
    }

    /// Runs the plugin kind `kind` (`<plugin>.<kind>`) on `input`.
    async fn plugin(
        &self,
        kind: &str,
        config: Map<String, Value>,
        input: &Value,
    ) -> Result<Value, StepFailure> {
        let set = self.runner.registry.snapshot();
        let Some((entry, name)) = set.node_runner(kind) else {
            return Err(StepFailure::Retry(format!(
                "no enabled plugin runs the node kind `{kind}`"
            )));
        };
        invoke::run_node(
            &self.runner.hooks,
            &entry.plugin,
            &entry.grant,
            self.session.clone(),
            NodeStep {
                kind: name.to_string(),
                config,
                input: input.clone(),
                execution_id: self.execution.id.clone(),
                node_id: self.node.id.clone(),
                attempt: self.token.attempt,
                idempotency_key: execution::idempotency_key(&self.execution.id, self.token),
                principal: self.principal.clone(),
                request_id: format!("{}:{}", self.execution.id, self.node.id),
            },
            self.node
                .timeout_ms
                .map(|ms| Duration::from_millis(u64::from(ms))),
        )
        .await
    }

    /// The edge a `branch` or `loop` takes: the first whose condition holds
    /// (asked of the sandbox), else the one without a condition. A loop past
    /// its `max_iterations` passes may take only edges that leave its cycle.
    async fn choose(&self, graph: &Graph) -> Result<Outcome, StepFailure> {
        let node = self.node;
        let mut candidates: Vec<usize> = graph
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| e.from == node.id)
            .map(|(i, _)| i)
            .collect();
        let max = node
            .config
            .get("max_iterations")
            .and_then(Value::as_i64)
            .unwrap_or(MAX_LOOP_ITERATIONS);
        let exhausted = node.kind == "loop" && i64::from(self.token.pass) > max;
        if exhausted {
            let exits = execution::exits(graph, &node.id);
            candidates.retain(|i| exits.contains(i));
        }
        let conditional: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|i| graph.edges[*i].condition.is_some())
            .collect();
        if !conditional.is_empty() {
            let conditions: Vec<&str> = conditional
                .iter()
                .filter_map(|i| graph.edges[*i].condition.as_deref())
                .collect();
            let mut config = Map::new();
            config.insert("conditions".into(), json!(conditions));
            let chosen = self.compute("choose", config, &self.token.input).await?;
            if let Some(index) = chosen["index"].as_u64() {
                return conditional
                    .get(index as usize)
                    .map(|edge| Outcome::Chosen(*edge))
                    .ok_or_else(|| {
                        StepFailure::Failed("the condition chosen is not one asked".into())
                    });
            }
        }
        match candidates
            .iter()
            .find(|i| graph.edges[**i].condition.is_none())
        {
            Some(edge) => Ok(Outcome::Chosen(*edge)),
            None if exhausted => Err(StepFailure::Failed(format!(
                "loop `{}` has run its max_iterations ({max}) and no way out of it holds",
                node.id
            ))),
            None => Err(StepFailure::Failed(format!(
                "no condition of {} `{}` holds and it has no edge without one",
                node.kind, node.id
            ))),
        }
    }
}
