//! The WorkflowService's executions: starting a run of a workflow's newest
//! version, reading one with its timeline, listing, cancelling, retrying
//! from the failed step; and what the runner (`crate::runner`) writes
//! after each step.
//!
//! Who sees what: an execution is its starter's; its workflow must be
//! visible to the caller too (the owner's, or an admin's). Another member
//! gets a 404 for either.
//!
//! A run's state ([`RunState`]) lives in checkpoints on a StateManager
//! thread of its own, written as the first-party `workflows` plugin (so the
//! owner can read them through the state API but not write them). Each
//! write moves the thread's head by compare-and-swap from the head the
//! runner read, in the same transaction as the timeline and the execution
//! row, which only the runner holding the execution's lease may change.

use super::events::EventKind;
use super::events::emit::emit;
use super::state::{self as checkpoints, Actor};
use super::{Ctx, ModelError, Session, validate, workflows};
use crate::domain::execution::{Execution, ExecutionStatus, RunState, StartedBy, StepRecord};
use crate::domain::state::{NewCheckpoint, NewThread};
use crate::domain::workflow::{self, Graph, PluginKinds};
use crate::domain::{Principal, Role};
use crate::store::executions as rows;
pub use crate::store::executions::Progress;
use crate::store::query::select::Scope;
use crate::store::workflows as workflow_rows;
use crate::util::now_micros;
use serde_json::{Value, json};

/// The actor runs' checkpoints are written as: the first-party plugin
/// whose node kinds compute.
pub const RUNNER_ACTOR: Actor<'static> = Actor::Plugin("workflows");
/// Largest execution input, as JSON.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// Checkpoints kept per run: the timeline keeps every step.
const KEEP_CHECKPOINTS: u32 = 10;
/// Most attempts one timeline answer holds; `after` pages on.
pub const TIMELINE_PAGE: u32 = 1000;
/// Largest output a step may give, as JSON: the timeline and the run's
/// checkpoint hold it.
pub const MAX_STEP_OUTPUT_BYTES: usize = 1024 * 1024;

/// How deep sub-runs may nest (a run, its sub-run, that one's...): deeper
/// is most likely a workflow that starts itself.
pub const MAX_SUB_RUN_DEPTH: usize = 8;

/// What starts a run.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub started_by: StartedBy,
    /// The run whose `workflow` node starts this one.
    pub parent: Option<&'a Execution>,
}

impl Origin<'static> {
    pub const MANUAL: Origin<'static> = Origin::by(StartedBy::Manual);

    pub const fn by(started_by: StartedBy) -> Self {
        Origin {
            started_by,
            parent: None,
        }
    }
}

/// Starts a run of workflow `workflow_id`'s newest version with `input`,
/// queued for a runner. When `plugins` (the node kinds plugins run now) is
/// given, a graph with a kind none runs is refused; a triggered run is not
/// refused, and fails at such a step instead, where its timeline shows why.
pub async fn start(
    ctx: &Ctx<'_>,
    workflow_id: &str,
    input: Value,
    plugins: Option<&PluginKinds>,
    origin: Origin<'_>,
) -> Result<Execution, ModelError> {
    let workflow = workflows::get(ctx, workflow_id).await?;
    let size = input.to_string().len();
    if size > MAX_INPUT_BYTES {
        return Err(ModelError::invalid(
            "input",
            format!("is {size} bytes as JSON; the most is {MAX_INPUT_BYTES}"),
        ));
    }
    if let Some(plugins) = plugins {
        runnable(&workflow.graph, plugins)?;
    }
    let now = now_micros();
    let id = uuid::Uuid::now_v7().to_string();
    // The run and its checkpoint thread are the workflow owner's, whoever
    // starts it: the runner acts as them.
    let owner = Principal::new(workflow.owner.clone(), Role::Member);
    let as_owner = Ctx {
        principal: &owner,
        ..*ctx
    };
    let ctx = &as_owner;
    let thread = checkpoints::create_thread(
        ctx,
        RUNNER_ACTOR,
        NewThread {
            metadata: Some(json!({ "workflow": workflow.id, "execution": id })),
            keep_last: Some(KEEP_CHECKPOINTS),
        },
    )
    .await?;
    let state = RunState::start(&workflow.graph, input.clone(), now);
    checkpoints::put(
        ctx,
        RUNNER_ACTOR,
        &thread.id,
        NewCheckpoint {
            parent_id: None,
            values: state_values(&state),
            metadata: Some(json!({ "step": "start" })),
        },
    )
    .await?;
    let execution = Execution {
        id,
        workflow_id: workflow.id,
        version: workflow.version,
        // A run uses the rights of the workflow's owner, whoever starts it
        // (an admin may start a member's workflow).
        owner: workflow.owner.clone(),
        status: ExecutionStatus::Queued,
        input,
        output: None,
        error: None,
        thread_id: thread.id,
        steps: 0,
        created_at: now,
        started_at: None,
        finished_at: None,
        updated_at: now,
        due_at: now,
        parent_id: origin.parent.map(|parent| parent.id.clone()),
        root_id: origin
            .parent
            .map(|parent| parent.root_id.as_ref().unwrap_or(&parent.id).clone()),
        started_by: origin.started_by,
    };
    rows::insert(ctx.session, &execution).await?;
    Ok(execution)
}

/// Refuses a graph with a node the runner cannot run now.
fn runnable(graph: &Graph, plugins: &PluginKinds) -> Result<(), ModelError> {
    for (i, node) in graph.nodes.iter().enumerate() {
        if workflow::built_in(&node.kind).is_none() && !plugins.contains_key(&node.kind) {
            return Err(ModelError::invalid(
                format!("nodes[{i}].kind"),
                format!(
                    "node `{}` is of the kind `{}`, which no enabled plugin runs now",
                    node.id, node.kind
                ),
            ));
        }
    }
    Ok(())
}

/// Execution `id` of workflow `workflow_id`, if the caller may see both.
pub async fn get(ctx: &Ctx<'_>, workflow_id: &str, id: &str) -> Result<Execution, ModelError> {
    let workflow = workflows::get(ctx, workflow_id).await?;
    let id = validate::uuid("execution_id", id)?;
    rows::get(ctx.session, &id)
        .await?
        .filter(|e| e.workflow_id == workflow.id)
        .filter(|e| ctx.principal.is_admin() || e.owner == ctx.principal.user_id)
        .ok_or_else(|| not_found(&id))
}

/// Execution `id` with its timeline: the attempts after `after` (a seq;
/// 0 from the first), at most [`TIMELINE_PAGE`] of them.
pub async fn get_with_timeline(
    ctx: &Ctx<'_>,
    workflow_id: &str,
    id: &str,
    after: i64,
) -> Result<(Execution, Vec<StepRecord>), ModelError> {
    let execution = get(ctx, workflow_id, id).await?;
    let timeline = rows::steps(ctx.session, &execution.id, after, TIMELINE_PAGE).await?;
    Ok((execution, timeline))
}

/// Whether any execution may be due for a runner (a read, so that idle
/// runners do not take the writer to find nothing).
pub async fn any_due(session: &Session, now: i64) -> Result<bool, ModelError> {
    Ok(rows::any_due(session, now).await?)
}

/// A page of workflow `workflow_id`'s executions the caller started (an
/// admin: all), newest first, of `status` when given.
pub async fn list(
    ctx: &Ctx<'_>,
    workflow_id: &str,
    status: Option<ExecutionStatus>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Execution>, Option<String>), ModelError> {
    let workflow = workflows::get(ctx, workflow_id).await?;
    let scope = Scope::for_principal(ctx.principal);
    Ok(rows::page(
        ctx.session,
        &workflow.id,
        status,
        scope.as_ref(),
        limit,
        cursor,
    )
    .await?)
}

/// Cancels a live execution; a step running now finishes, but nothing it
/// gave is kept and nothing after it runs.
/// Its live sub-runs are cancelled with it, and a parent waiting for it
/// is woken (its `workflow` node then fails).
pub async fn cancel(ctx: &Ctx<'_>, workflow_id: &str, id: &str) -> Result<Execution, ModelError> {
    let execution = get(ctx, workflow_id, id).await?;
    let now = now_micros();
    // The deepest sub-runs first, the run last: rows are locked children
    // before parents, the order in which a sub-run's end wakes its parent.
    cancel_sub_runs(ctx.session, &execution.id, now).await?;
    if !rows::cancel(ctx.session, &execution.id, now).await? {
        // The caller's unit of work is not committed: the sub-runs stay.
        return Err(ModelError::Conflict(format!(
            "execution {} has already ended ({})",
            execution.id,
            execution.status.as_str()
        )));
    }
    // A sub-run its step committed after the first look: with the run
    // cancelled (and its row held until this unit of work commits), no
    // step of it can commit another.
    cancel_sub_runs(ctx.session, &execution.id, now).await?;
    if let Some(parent) = &execution.parent_id {
        rows::wake(ctx.session, parent, now).await?;
    }
    get(ctx, workflow_id, id).await
}

/// Cancels the live sub-runs under execution `id`, deepest first.
async fn cancel_sub_runs(session: &Session, id: &str, now: i64) -> Result<(), ModelError> {
    let mut generations = vec![vec![id.to_string()]];
    for _ in 0..MAX_SUB_RUN_DEPTH {
        let mut children = Vec::new();
        for parent in generations.last().into_iter().flatten() {
            children.extend(rows::live_children(session, parent).await?);
        }
        if children.is_empty() {
            break;
        }
        generations.push(children);
    }
    for generation in generations.iter().skip(1).rev() {
        for child in generation {
            rows::cancel(session, child, now).await?;
        }
    }
    Ok(())
}

/// How many sub-runs the tree under top run `root_id` has started.
pub async fn sub_runs_under(session: &Session, root_id: &str) -> Result<i64, ModelError> {
    Ok(rows::sub_runs_under(session, root_id).await?)
}

/// Execution `id` as the runner reads it, whoever's it is.
pub async fn get_any(session: &Session, id: &str) -> Result<Option<Execution>, ModelError> {
    Ok(rows::get(session, id).await?)
}

/// Those of `ids` that have ended.
pub async fn ended_among(
    session: &Session,
    ids: &[String],
) -> Result<std::collections::HashSet<String>, ModelError> {
    let mut ended = std::collections::HashSet::new();
    for id in ids {
        if rows::get(session, id)
            .await?
            .is_none_or(|e| e.status.is_final())
        {
            ended.insert(id.clone());
        }
    }
    Ok(ended)
}

/// How many runs above `execution` started it as a sub-run.
pub async fn depth(session: &Session, execution: &Execution) -> Result<usize, ModelError> {
    let mut depth = 0;
    let mut parent = execution.parent_id.clone();
    while let Some(id) = parent {
        depth += 1;
        if depth > MAX_SUB_RUN_DEPTH {
            break;
        }
        parent = rows::get(session, &id).await?.and_then(|e| e.parent_id);
    }
    Ok(depth)
}

/// Runs a failed execution again from the step that failed it, with that
/// step's attempts counted on.
pub async fn retry(ctx: &Ctx<'_>, workflow_id: &str, id: &str) -> Result<Execution, ModelError> {
    let execution = get(ctx, workflow_id, id).await?;
    let refuse = || {
        ModelError::Conflict(format!(
            "execution {} is {}: only a failed execution is retried",
            execution.id,
            execution.status.as_str()
        ))
    };
    if execution.status != ExecutionStatus::Failed {
        return Err(refuse());
    }
    let now = now_micros();
    let checkpoint = checkpoints::latest(ctx, RUNNER_ACTOR, &execution.thread_id)
        .await?
        .ok_or_else(refuse)?;
    let mut state = run_state(&checkpoint.values)?;
    let failed = state.failed.take().ok_or_else(refuse)?;
    state.retry_later(failed, now);
    checkpoints::put(
        ctx,
        RUNNER_ACTOR,
        &execution.thread_id,
        NewCheckpoint {
            parent_id: Some(checkpoint.id),
            values: state_values(&state),
            metadata: Some(json!({ "step": "retry" })),
        },
    )
    .await?;
    if !rows::requeue(ctx.session, &execution.id, now).await? {
        return Err(refuse());
    }
    get(ctx, workflow_id, id).await
}

/// The graph of the version an execution runs.
pub async fn graph_of(ctx: &Ctx<'_>, execution: &Execution) -> Result<Graph, ModelError> {
    workflow_rows::get_version(ctx.session, &execution.workflow_id, execution.version)
        .await?
        .map(|version| version.graph)
        .ok_or_else(|| {
            ModelError::NotFound(format!(
                "version {} of workflow {} is gone",
                execution.version, execution.workflow_id
            ))
        })
}

/// The run's newest checkpoint: its id and the state it holds.
pub async fn latest_state(
    ctx: &Ctx<'_>,
    execution: &Execution,
) -> Result<(String, RunState), ModelError> {
    let checkpoint = checkpoints::latest(ctx, RUNNER_ACTOR, &execution.thread_id)
        .await?
        .ok_or_else(|| {
            ModelError::NotFound(format!("execution {} has no checkpoint", execution.id))
        })?;
    Ok((checkpoint.id, run_state(&checkpoint.values)?))
}

/// What a runner writes after one or more steps.
pub struct StepWrite<'a> {
    pub execution: &'a Execution,
    pub runner: &'a str,
    /// The checkpoint the runner read, which must still be the head.
    pub head: &'a str,
    pub state: &'a RunState,
    /// The attempts to add to the timeline.
    pub steps: &'a [StepRecord],
    pub progress: Progress<'a>,
}

/// Writes the run's new checkpoint, its timeline and its row; the new
/// head, or `None` with nothing written when the runner lost the
/// execution (cancelled, or taken by another runner).
pub async fn record(ctx: &Ctx<'_>, write: StepWrite<'_>) -> Result<Option<String>, ModelError> {
    let execution = write.execution;
    let checkpoint = match checkpoints::put(
        ctx,
        RUNNER_ACTOR,
        &execution.thread_id,
        NewCheckpoint {
            parent_id: Some(write.head.to_string()),
            values: state_values(write.state),
            metadata: Some(json!({ "steps": execution.steps + write.steps.len() as i64 })),
        },
    )
    .await
    {
        Ok(checkpoint) => checkpoint,
        Err(ModelError::Conflict(_)) => return Ok(None),
        Err(error) => return Err(error),
    };
    rows::insert_steps(ctx.session, &execution.id, execution.steps + 1, write.steps).await?;
    if !record_progress(ctx, execution, write.runner, &write.progress).await? {
        return Ok(None);
    }
    Ok(Some(checkpoint.id))
}

/// Takes the earliest due execution for `runner`, leased for `lease`.
pub async fn claim(
    session: &Session,
    runner: &str,
    lease: std::time::Duration,
) -> Result<Option<Execution>, ModelError> {
    Ok(rows::claim(session, runner, lease.as_micros() as i64).await?)
}

/// Keeps `runner`'s lease on execution `id` until `lease_until`, while a
/// long step runs; false when it no longer holds it.
pub async fn renew_lease(
    session: &Session,
    id: &str,
    runner: &str,
    lease_until: i64,
) -> Result<bool, ModelError> {
    Ok(rows::renew(session, id, runner, lease_until).await?)
}

/// Writes `progress` of an execution `runner` holds (without a step, for
/// an execution that cannot run); false when it no longer holds it. A
/// sub-run that ends wakes the run waiting for it, and a run that succeeds
/// or fails emits `workflow.execution.succeeded` or `.failed` (subject:
/// its id) to the plugins subscribed, after commit.
pub async fn record_progress(
    ctx: &Ctx<'_>,
    execution: &Execution,
    runner: &str,
    progress: &Progress<'_>,
) -> Result<bool, ModelError> {
    if !rows::record(ctx.session, &execution.id, runner, progress).await? {
        return Ok(false);
    }
    if progress.status.is_final()
        && let Some(parent) = &execution.parent_id
    {
        rows::wake(ctx.session, parent, progress.now).await?;
    }
    let event = match progress.status {
        ExecutionStatus::Succeeded => Some(EventKind::ExecutionSucceeded),
        ExecutionStatus::Failed => Some(EventKind::ExecutionFailed),
        _ => None,
    };
    if let Some(event) = event {
        emit(ctx, event, &execution.id, None, None).await?;
    }
    Ok(true)
}

/// Deletes up to `limit` executions that ended before `cutoff`, with their
/// timelines and checkpoint threads; how many.
pub async fn delete_ended_before(
    session: &Session,
    cutoff: i64,
    limit: u32,
) -> Result<usize, ModelError> {
    let ended = rows::ended_before(session, cutoff, limit).await?;
    for (id, thread) in &ended {
        rows::delete(session, id).await?;
        crate::store::state::delete_thread(session, thread).await?;
    }
    Ok(ended.len())
}

fn state_values(state: &RunState) -> Value {
    serde_json::to_value(state).expect("a run state serializes")
}

fn run_state(values: &str) -> Result<RunState, ModelError> {
    serde_json::from_str(values).map_err(|error| {
        ModelError::Database(sqlx::Error::Protocol(format!(
            "a run's checkpoint does not hold a run state: {error}"
        )))
    })
}

fn not_found(id: &str) -> ModelError {
    ModelError::NotFound(format!("execution {id} not found"))
}
