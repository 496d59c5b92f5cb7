//! Running one step: what each node kind does, and how a failure meets
//! the node's retry policy. Nodes that compute (a `transform`, the
//! conditions of a `branch` or `loop`, a plugin's kind) run in a plugin's
//! sandbox; the others only move the run's tokens.

use super::Runner;
use crate::capabilities::outbound_http::{HeaderInjection, credential_header};
use crate::domain::Principal;
use crate::domain::execution::StartedBy;
use crate::domain::execution::{self, Execution, ExecutionStatus, Outcome, Token};
use crate::domain::memory::{Message, NewMessage, Window, WindowRequest, WindowSize};
use crate::domain::search::{MARK_END, MARK_START};
use crate::domain::workflow::FORBIDDEN_HEADERS;
use crate::domain::workflow::{Graph, MAX_LOOP_ITERATIONS, Node, NodeStep, StepFailure};
use crate::domain::{DocumentChange, Filter, NewDocument, Value as FieldValue};
use crate::plugins::invoke;
use crate::services::documents::document_json;
use crate::services::executions::{self, MAX_SUB_RUN_DEPTH, Origin};
use crate::services::secrets::store::{CredentialError, reveal};
use crate::services::{ModelError, Session, collections, documents, memory};
use crate::util::now_micros;
use futures::StreamExt;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

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
        "http" => step.http().await.map(Outcome::Output),
        "memory.append" | "memory.window" | "document.create" | "document.update"
        | "document.search" => step.service().await.map(Outcome::Output),
        "workflow" => step.sub_run().await,
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

/// A window as a step's output: `messages` in the order to give a model
/// (the pinned system message first), `summary` and `tokens`.
fn window_json(window: &Window) -> Value {
    let message = |m: &Message| {
        let mut value = json!({ "seq": m.seq, "role": m.role.as_str(), "content": m.content });
        if let Some(name) = &m.name {
            value["name"] = json!(name);
        }
        if let Some(calls) = &m.tool_calls {
            value["tool_calls"] = serde_json::from_str(calls).unwrap_or(Value::Null);
        }
        if let Some(id) = &m.tool_call_id {
            value["tool_call_id"] = json!(id);
        }
        value
    };
    let messages: Vec<Value> = window
        .pinned
        .iter()
        .chain(&window.messages)
        .map(message)
        .collect();
    json!({
        "messages": messages,
        "summary": window.summary.as_ref().map(|s| &s.content),
        "tokens": window.tokens,
    })
}

/// The most hits a `document.search` node may ask for.
const MAX_SEARCH_HITS: u64 = 100;

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
    /// What a node's templates see: `input`, the node's input, and `run`,
    /// the execution's input.
    fn template_vars(&self) -> Value {
        json!({ "input": self.token.input, "run": self.execution.input })
    }

    /// The node's config rendered in the sandbox. A template that does not
    /// render (an error, its fuel or the deadline spent) would not render
    /// on a retry either: it fails the step.
    async fn render(&self, render: Map<String, Value>) -> Result<Value, StepFailure> {
        self.compute("render", render, &self.template_vars())
            .await
            .map_err(|failure| match failure {
                StepFailure::Retry(message) => {
                    StepFailure::Failed(format!("rendering the config failed: {message}"))
                }
                failed => failed,
            })
    }

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

    /// An `http` node: its URL, headers and body rendered from the input in
    /// the sandbox, then sent by the host to an origin the operator allowed
    /// (`workflow_outbound_hosts`), with the step's idempotency key and,
    /// when the node names one, the owner's credential injected as a header
    /// (the credential must allow the `workflows` plugin; neither the
    /// templates nor the timeline ever hold its secret). The output is the
    /// answer: `{status, headers, body}`, the body as JSON when it is JSON.
    /// 408, 429 and 5xx answers, and a failed connection, may pass on a
    /// retry; any other answer of 400 or more fails the step.
    async fn http(&self) -> Result<Value, StepFailure> {
        let config = &self.node.config;
        let failed = |message: String| StepFailure::Failed(message);
        let mut template = Map::new();
        for key in ["url", "headers", "body"] {
            if let Some(value) = config.get(key) {
                template.insert(key.into(), value.clone());
            }
        }
        let mut render = Map::new();
        render.insert("template".into(), Value::Object(template));
        let rendered = self.render(render).await?;
        let url_text = rendered["url"].as_str().unwrap_or_default();
        let url = reqwest::Url::parse(url_text)
            .map_err(|e| failed(format!("the url `{url_text}` is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || !self.runner.outbound.outbound(&url) {
            return Err(failed(format!(
                "{} is not an origin workflows may call; the operator lists them in workflow_outbound_hosts",
                url.origin().ascii_serialization()
            )));
        }
        let method = config
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or(if rendered.get("body").is_some() {
                "POST"
            } else {
                "GET"
            })
            .to_ascii_uppercase();
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| failed(format!("`{method}` is not an HTTP method")))?;
        let outbound = &self.runner.hooks.services().outbound;
        let timeout = self.node.timeout_ms.map_or(outbound.timeout, |ms| {
            Duration::from_millis(u64::from(ms)).min(outbound.timeout)
        });
        let mut request = outbound.client.request(method, url).timeout(timeout);
        let mut has_key = false;
        if let Some(headers) = rendered["headers"].as_object() {
            for (name, value) in headers {
                let header = HeaderName::try_from(name.as_str())
                    .ok()
                    .filter(|h| !FORBIDDEN_HEADERS.contains(&h.as_str()))
                    .ok_or_else(|| failed(format!("header `{name}` may not be set")))?;
                let value = value
                    .as_str()
                    .and_then(|v| HeaderValue::try_from(v).ok())
                    .ok_or_else(|| failed(format!("header `{name}` is not a valid value")))?;
                has_key |= header == "idempotency-key";
                request = request.header(header, value);
            }
        }
        if !has_key {
            request = request.header(
                "idempotency-key",
                execution::idempotency_key(&self.execution.id, self.token),
            );
        }
        request = match rendered.get("body") {
            None | Some(Value::Null) => request,
            Some(Value::String(text)) => request.body(text.clone()),
            Some(body) => request.json(body),
        };
        let mut secrets = Vec::new();
        if let Some(credential) = config.get("credential") {
            let (headers, values) = self.credential(credential).await?;
            request = request.headers(headers);
            secrets = values;
        }
        let response = request.send().await.map_err(|e| {
            if e.is_builder() {
                return failed("the request could not be built".into());
            }
            StepFailure::Retry(format!(
                "the request {}",
                if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "failed"
                }
            ))
        })?;
        let status = response.status().as_u16();
        // An origin that echoes the request must not hand the secret to the
        // timeline, the checkpoint or the nodes after this one.
        let redact = |text: &str| {
            secrets.iter().fold(text.to_string(), |text, secret| {
                text.replace(secret.as_str(), "[credential]")
            })
        };
        let headers: Map<String, Value> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), json!(redact(v.to_str().ok()?)))))
            .collect();
        // Read up to the limit, never more: an origin cannot make the
        // server hold a larger answer.
        let limit = outbound.max_bytes;
        let mut bytes = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| StepFailure::Retry("the answer broke off".into()))?;
            if bytes.len() + chunk.len() > limit {
                return Err(failed(format!("the answer is over {limit} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = redact(&String::from_utf8_lossy(&bytes));
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let answer = json!({ "status": status, "headers": headers, "body": body });
        match status {
            200..=299 => Ok(answer),
            300..=399 => Err(failed(format!(
                "the origin answered {status}: redirects are not followed"
            ))),
            408 | 429 | 500..=599 => {
                Err(StepFailure::Retry(format!("the origin answered {status}")))
            }
            _ => Err(failed(format!("the origin answered {status}"))),
        }
    }

    /// The header the node's `credential` (`{"name", "bearer": field}`,
    /// `{"name", "basic": [user, password]}` or `{"name", "header":
    /// [header, field]}`) puts on its request, from the owner's credential
    /// of that name.
    /// With the header, the secret's values as they could come back in an
    /// answer (each field, the header's value, the encoded pair).
    async fn credential(
        &self,
        config: &Value,
    ) -> Result<(reqwest::header::HeaderMap, Vec<Zeroizing<String>>), StepFailure> {
        let failed = |message: String| StepFailure::Failed(message);
        let name = config["name"].as_str().unwrap_or_default();
        let text = |v: &Value| v.as_str().map(str::to_string);
        let pair = |v: &Value| Some((text(&v[0])?, text(&v[1])?));
        let (bearer, basic, header) = (
            text(&config["bearer"]),
            pair(&config["basic"]),
            pair(&config["header"]),
        );
        let injection = match (&bearer, &basic, &header) {
            (Some(key), None, None) => HeaderInjection::Bearer(key),
            (None, Some((user, password)), None) => HeaderInjection::Basic(user, password),
            (None, None, Some((header, key))) => HeaderInjection::Header(header, key),
            _ => {
                return Err(failed(
                    "credential: give one of `bearer`, `basic` or `header`".into(),
                ));
            }
        };
        let core = &self.runner.hooks.services().core;
        let secret = reveal(&core.db, &core.keys, &self.principal.user_id, name, COMPUTE)
            .await
            .map_err(|e| match e {
                CredentialError::NotFound(m) | CredentialError::Denied(m) => failed(m),
                _ => StepFailure::Retry(format!("credential `{name}` could not be opened")),
            })?;
        let (header, value) =
            credential_header(name, &secret, &injection).map_err(|e| failed(e.to_string()))?;
        let mut secrets: Vec<Zeroizing<String>> =
            serde_json::from_str::<Map<String, Value>>(&secret)
                .map(|fields| {
                    fields
                        .values()
                        .filter_map(|v| v.as_str())
                        .filter(|v| v.len() >= 4)
                        .map(|v| Zeroizing::new(v.to_string()))
                        .collect()
                })
                .unwrap_or_default();
        if let Ok(whole) = value.to_str() {
            secrets.push(Zeroizing::new(whole.to_string()));
            if let Some(encoded) = whole.strip_prefix("Basic ") {
                secrets.push(Zeroizing::new(encoded.to_string()));
            }
        }
        // The longest first, so that a value inside another is not left.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(header, value);
        Ok((headers, secrets))
    }

    /// A node that writes through a host service, as the run's owner and
    /// in the step's transaction (so its write is kept exactly once, with
    /// the step): its config rendered from the input in the sandbox first.
    /// - `memory.append` `{session_id, content, role?, name?, metadata?}`:
    ///   one message (role `assistant` by default); gives `{session_id,
    ///   seq}`.
    /// - `document.create` `{collection_id, title, content?, tags?,
    ///   metadata?}` and `document.update` `{document_id, title?,
    ///   content?, tags?, metadata?}`: give the document.
    async fn service(&self) -> Result<Value, StepFailure> {
        let mut render = Map::new();
        render.insert("template".into(), Value::Object(self.node.config.clone()));
        let config = self
            .compute("render", render, &self.template_vars())
            .await?;
        let text = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_string);
        let tags = |config: &Value| -> Option<Vec<String>> {
            config.get("tags").and_then(Value::as_array).map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
        };
        let ctx = self.runner.ctx(self.session, self.principal);
        let number = |key: &str| -> Result<Option<u64>, StepFailure> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_u64()
                    .or_else(|| value.as_str()?.trim().parse().ok())
                    .map(Some)
                    .ok_or_else(|| {
                        StepFailure::Failed(format!("`{key}` must be a whole number, got {value}"))
                    }),
            }
        };
        let flag = |key: &str| config.get(key).and_then(Value::as_bool).unwrap_or(false);
        let written = match self.node.kind.as_str() {
            "memory.window" => {
                let session = text("session_id").unwrap_or_default();
                let as_u32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
                let size = match (number("last")?, number("max_tokens")?) {
                    (Some(_), Some(_)) => {
                        return Err(StepFailure::Failed(
                            "give `last` or `max_tokens`, not both".into(),
                        ));
                    }
                    (None, Some(tokens)) => WindowSize::Tokens(as_u32(tokens)),
                    (Some(last), None) => WindowSize::Last(as_u32(last)),
                    (None, None) => WindowSize::Last(20),
                };
                let request = WindowRequest {
                    size,
                    pin_system: flag("pin_system"),
                    with_summary: flag("with_summary"),
                };
                memory::window(&ctx, &session, request)
                    .await
                    .map(|window| window_json(&window))
            }
            "document.search" => {
                let limit = number("limit")?.unwrap_or(10);
                if !(1..=MAX_SEARCH_HITS).contains(&limit) {
                    return Err(StepFailure::Failed(format!(
                        "`limit` must be 1 to {MAX_SEARCH_HITS}, got {limit}"
                    )));
                }
                let filter = match text("collection_id") {
                    Some(collection) => {
                        // A missing or foreign collection fails the step
                        // rather than find nothing.
                        collections::get(&ctx, &collection)
                            .await
                            .map_err(|e| StepFailure::Failed(e.to_string()))?;
                        Filter::eq("collection_id", FieldValue::Uuid(collection))
                    }
                    None => Filter::everything(),
                };
                let request = documents::SearchRequest {
                    text: text("query").unwrap_or_default(),
                    filter,
                    limit: limit as u32,
                    cursor: None,
                };
                documents::search(&ctx, &request).await.map(|(hits, _)| {
                    let hits: Vec<Value> = hits
                        .iter()
                        .map(|hit| {
                            let mut value = document_json(&hit.document);
                            value["score"] = json!(-hit.rank);
                            value["snippet"] = json!(
                                hit.snippet
                                    .chars()
                                    .filter(|c| *c != MARK_START && *c != MARK_END)
                                    .collect::<String>()
                            );
                            value
                        })
                        .collect();
                    json!({ "hits": hits })
                })
            }
            "memory.append" => {
                let session = text("session_id").unwrap_or_default();
                let message = NewMessage {
                    role: text("role").unwrap_or_else(|| "assistant".into()),
                    content: text("content").unwrap_or_default(),
                    name: text("name"),
                    tool_calls: None,
                    tool_call_id: None,
                    metadata: config.get("metadata").cloned(),
                    tokens: None,
                };
                memory::append(&ctx, &session, vec![message])
                    .await
                    .map(|appended| {
                        json!({
                            "session_id": session,
                            "seq": appended.first().map(|m| m.seq),
                        })
                    })
            }
            "document.create" => {
                let collection = text("collection_id").unwrap_or_default();
                let input = NewDocument {
                    title: text("title").unwrap_or_default(),
                    content: text("content").unwrap_or_default(),
                    format: text("format"),
                    tags: tags(&config).unwrap_or_default(),
                    metadata: config.get("metadata").cloned(),
                };
                documents::create(&ctx, &collection, input)
                    .await
                    .map(|d| document_json(&d))
            }
            _ => {
                let id = text("document_id").unwrap_or_default();
                let change = DocumentChange {
                    title: text("title"),
                    content: text("content"),
                    format: text("format"),
                    tags: tags(&config),
                    metadata: config.get("metadata").cloned(),
                    archived: None,
                };
                documents::update(&ctx, &id, change, None)
                    .await
                    .map(|d| document_json(&d))
            }
        };
        written.map_err(|error| match error {
            ModelError::Database(e) => StepFailure::Retry(format!("the database failed: {e}")),
            other => StepFailure::Failed(other.to_string()),
        })
    }

    /// A `workflow` node `{workflow_id, input?}`: starts a run of that
    /// workflow (one its owner may see) as a sub-run, with `input` rendered
    /// from the node's input (the node's input itself when not given),
    /// in the step's transaction; the token then waits without holding a
    /// worker, and the sub-run's end wakes it. Run again once the sub-run
    /// has ended, it gives the sub-run's output, or fails with it.
    async fn sub_run(&self) -> Result<Outcome, StepFailure> {
        let failed = |message: String| StepFailure::Failed(message);
        let database = |e: ModelError| match e {
            ModelError::Database(e) => StepFailure::Retry(format!("the database failed: {e}")),
            other => StepFailure::Failed(other.to_string()),
        };
        if let Some(child) = &self.token.awaiting {
            let sub_run = match executions::get_any(self.session, child).await {
                Ok(found) => found.ok_or_else(|| failed(format!("sub-run {child} is gone")))?,
                // Looked at again later: a retry would start another.
                Err(_) => return Ok(Outcome::Await(child.clone())),
            };
            return match sub_run.status {
                ExecutionStatus::Succeeded => {
                    Ok(Outcome::Output(sub_run.output.unwrap_or(Value::Null)))
                }
                ExecutionStatus::Failed => Err(failed(format!(
                    "sub-run {child} failed: {}",
                    sub_run.error.unwrap_or_default()
                ))),
                ExecutionStatus::Cancelled => Err(failed(format!("sub-run {child} was cancelled"))),
                _ => Ok(Outcome::Await(child.clone())),
            };
        }
        let depth = executions::depth(self.session, self.execution)
            .await
            .map_err(database)?;
        if depth + 1 > MAX_SUB_RUN_DEPTH {
            return Err(failed(format!(
                "sub-runs may nest {MAX_SUB_RUN_DEPTH} deep; does a workflow start itself?"
            )));
        }
        // Fan-outs of sub-runs that start sub-runs would grow as a power
        // of the depth: a run's whole tree starts at most `max_sub_runs`.
        let root = self
            .execution
            .root_id
            .as_deref()
            .unwrap_or(&self.execution.id);
        let started = executions::sub_runs_under(self.session, root)
            .await
            .map_err(database)?;
        if started >= i64::from(self.runner.max_sub_runs) {
            return Err(failed(format!(
                "run {root} and its sub-runs have started {started} sub-runs, the most one run may (max_sub_runs)"
            )));
        }
        let mut render = Map::new();
        render.insert("template".into(), Value::Object(self.node.config.clone()));
        let config = self.render(render).await?;
        let workflow_id = config["workflow_id"].as_str().unwrap_or_default();
        let input = config
            .get("input")
            .cloned()
            .unwrap_or_else(|| self.token.input.clone());
        let set = self.runner.registry.snapshot();
        let plugins = set.node_kinds();
        let ctx = self.runner.ctx(self.session, self.principal);
        let origin = Origin {
            started_by: StartedBy::Workflow,
            parent: Some(self.execution),
        };
        let child = executions::start(&ctx, workflow_id, input, Some(plugins), origin)
            .await
            .map_err(database)?;
        Ok(Outcome::Await(child.id))
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
