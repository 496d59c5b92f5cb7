//! The durable step runner of the WorkflowService: workers in every
//! `kai serve` that take executions from the queue in the database and
//! run their steps.
//!
//! A worker takes the earliest due execution whose lease has run out
//! (`services::executions::claim`), reads the run's newest checkpoint and
//! runs its due steps one at a time: a node that computes runs in a fresh
//! sandboxed instance of the plugin that runs its kind (the first-party
//! `workflows` plugin for `transform` and the conditions of `branch` and
//! `loop`), acting as the user who started the execution, with the
//! plugin's grants and deadline (or the node's shorter `timeout_ms`). After
//! each step one transaction writes what the step wrote through the host,
//! the run's next checkpoint (compare-and-swap on its StateManager thread),
//! the step's attempt in the timeline and the execution's row, fenced by
//! the lease: if the execution was cancelled or another worker took it,
//! nothing of the step is kept. So after `kill -9` at any moment a run
//! resumes from its last finished step, and no finished step runs again.
//!
//! A worker lets an execution go when it waits (a `delay`, a retry's
//! backoff: its `due_at` is set to when), ends, or has run
//! [`STEPS_PER_TURN`] steps, so that long runs share the workers.

pub mod retention;
pub mod schedule;
mod steps;

use crate::domain::Principal;
use crate::domain::execution::{
    Execution, ExecutionStatus, Outcome, RunState, StepRecord, StepStatus, Token,
};
use crate::domain::grant::Grant;
use crate::domain::workflow::Graph;
use crate::plugins::hooks::PluginHooks;
use crate::plugins::registry::PluginRegistry;
use crate::services::executions::{self, Progress, StepWrite};
use crate::services::{Core, Ctx, ModelError, Session, users};
use crate::util::now_micros;
use std::sync::Arc;
use std::time::Duration;
use steps::StepEnd;
use tokio::sync::Notify;

/// How long a taken execution stays a worker's unless renewed: each
/// step's end renews it, and so does a heartbeat every third of it while a
/// step runs. A worker that died (`kill -9`, a lost node) leaves a lease
/// that runs out within this, and another worker on any node takes the
/// execution over from its last checkpoint.
pub const LEASE: Duration = Duration::from_secs(10);
/// Steps a worker runs of one execution before letting others have a turn.
pub const STEPS_PER_TURN: u32 = 64;
/// How often an idle worker looks for due work (delays, retries, work
/// queued on another node) when nothing wakes it.
pub const POLL: Duration = Duration::from_millis(200);

/// The runner of one server: its workers share a wake-up.
pub struct Runner {
    hooks: Arc<PluginHooks>,
    /// The origins `http` nodes may call (`workflow_outbound_hosts`).
    outbound: Grant,
    registry: Arc<PluginRegistry>,
    /// Sub-runs one run's tree may start in all (`max_sub_runs`).
    max_sub_runs: u32,
    /// This server among the nodes: the lease holder's name is
    /// `<node>/<worker>`.
    node_id: String,
    wake: Notify,
    /// Set when the server stops: workers let their executions go after
    /// the step they are running.
    stopping: std::sync::atomic::AtomicBool,
}

impl Runner {
    pub fn new(
        hooks: Arc<PluginHooks>,
        registry: Arc<PluginRegistry>,
        node_id: String,
        outbound_hosts: Vec<String>,
        max_sub_runs: u32,
    ) -> Arc<Runner> {
        Arc::new(Runner {
            hooks,
            outbound: Grant {
                outbound_hosts,
                ..Grant::default()
            },
            registry,
            max_sub_runs,
            node_id,
            wake: Notify::new(),
            stopping: Default::default(),
        })
    }

    /// Wakes an idle worker: an execution was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs `workers` workers until `stopped` resolves; a step running then
    /// finishes first.
    pub async fn run(
        self: Arc<Self>,
        workers: usize,
        stopped: impl Future<Output = ()> + Send + 'static,
    ) {
        let (stop, stop_seen) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::with_capacity(workers);
        for n in 0..workers {
            let runner = self.clone();
            let mut stop_seen = stop_seen.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("{}/{n}", runner.node_id);
                while !*stop_seen.borrow() {
                    let worked = match runner.turn(&name).await {
                        Ok(worked) => worked,
                        Err(error) => {
                            tracing::warn!(%error, worker = %name, "a workflow worker's turn failed");
                            false
                        }
                    };
                    if !worked {
                        tokio::select! {
                            _ = runner.wake.notified() => {}
                            _ = tokio::time::sleep(POLL) => {}
                            _ = stop_seen.changed() => {}
                        }
                    }
                }
            }));
        }
        stopped.await;
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = stop.send(true);
        self.wake.notify_waiters();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// One turn of worker `name`: takes a due execution and runs it until
    /// it waits, ends or has had its turn. False when nothing was due.
    async fn turn(&self, name: &str) -> Result<bool, ModelError> {
        if !self.registry.is_ready() {
            // The plugins that run steps are still loading.
            return Ok(false);
        }
        let db = &self.hooks.services().core.db;
        let session = Arc::new(Session::new(db.clone()));
        let now = now_micros();
        if !executions::any_due(&session, now).await? {
            return Ok(false);
        }
        let claimed = executions::claim(&session, name, LEASE).await?;
        let Some(execution) = claimed else {
            session.rollback().await;
            return Ok(false);
        };
        self.hooks.services().core.commit(&session).await?;
        // The worker's wake-up may have been meant for another execution.
        self.wake.notify_one();
        let Some(principal) = users::acting(db, &execution.owner).await? else {
            self.end_without_running(
                name,
                &execution,
                "the user who started it is disabled or gone",
            )
            .await?;
            return Ok(true);
        };
        let mut run = match Run::load(self, name, execution.clone(), principal).await {
            Ok(run) => run,
            // Its version or its checkpoint thread is gone (the owner may
            // delete the thread): it cannot go on.
            Err(ModelError::NotFound(why) | ModelError::Invalid { message: why, .. }) => {
                self.end_without_running(name, &execution, &format!("its state is gone: {why}"))
                    .await?;
                return Ok(true);
            }
            Err(error) => return Err(error),
        };
        for _ in 0..STEPS_PER_TURN {
            if !run.step(self).await? {
                return Ok(true);
            }
            if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
        }
        run.let_go(self).await?;
        Ok(true)
    }

    /// Fails an execution that cannot run at all.
    async fn end_without_running(
        &self,
        name: &str,
        execution: &Execution,
        why: &str,
    ) -> Result<(), ModelError> {
        let session = run_session(&self.hooks.services().core);
        let now = now_micros();
        let progress = Progress {
            status: ExecutionStatus::Failed,
            output: None,
            error: Some(why),
            new_steps: 0,
            finished_at: Some(now),
            due_at: now,
            lease_until: None,
            now,
        };
        let owner = Principal::new(execution.owner.clone(), crate::domain::Role::Member);
        executions::record_progress(&self.ctx(&session, &owner), execution, name, &progress)
            .await?;
        self.hooks.services().core.commit(&session).await?;
        Ok(())
    }

    /// Renews `worker`'s lease on execution `id` every third of [`LEASE`]
    /// until the returned guard drops; the notice fires when the lease is
    /// lost (the execution was cancelled, or another worker took it).
    fn keep_lease(&self, id: &str, worker: &str) -> (AbortOnDrop, Arc<Notify>) {
        let core = self.hooks.services().core.clone();
        let (id, worker) = (id.to_string(), worker.to_string());
        let lost = Arc::new(Notify::new());
        let notice = lost.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 3).await;
                let session = Session::new(core.db.clone());
                let until = now_micros() + LEASE.as_micros() as i64;
                let renewed = executions::renew_lease(&session, &id, &worker, until).await;
                match renewed {
                    Ok(true) => {
                        let _ = core.commit(&session).await;
                    }
                    // Cancelled or taken over: its end would not be kept.
                    Ok(false) => {
                        session.rollback().await;
                        notice.notify_one();
                        return;
                    }
                    Err(error) => {
                        session.rollback().await;
                        tracing::warn!(%error, execution = %id, "renewing a lease failed");
                    }
                }
            }
        });
        (AbortOnDrop(task), lost)
    }

    fn ctx<'a>(&'a self, session: &'a Arc<Session>, principal: &'a Principal) -> Ctx<'a> {
        Ctx {
            core: &self.hooks.services().core,
            hooks: &*self.hooks,
            session,
            principal,
            depth: 0,
        }
    }
}

/// A session for what a run writes: its changes, and the events of its
/// end, start no workflow by a trigger.
fn run_session(core: &Core) -> Arc<Session> {
    let session = Session::new(core.db.clone());
    session.mark_within_run();
    Arc::new(session)
}

/// A task aborted when this drops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An execution a worker holds: its graph, its newest checkpoint and the
/// state it holds.
struct Run<'a> {
    worker: &'a str,
    execution: Execution,
    principal: Principal,
    graph: Graph,
    head: String,
    state: RunState,
}

impl<'a> Run<'a> {
    async fn load(
        runner: &Runner,
        worker: &'a str,
        execution: Execution,
        principal: Principal,
    ) -> Result<Run<'a>, ModelError> {
        let session = Arc::new(Session::new(runner.hooks.services().core.db.clone()));
        let ctx = runner.ctx(&session, &principal);
        let graph = executions::graph_of(&ctx, &execution).await?;
        let (head, mut state) = executions::latest_state(&ctx, &execution).await?;
        let awaited = state.awaited();
        if !awaited.is_empty() {
            let ended = executions::ended_among(&session, &awaited).await?;
            state.resume_awaiting(&ended, now_micros());
        }
        session.rollback().await;
        Ok(Run {
            worker,
            execution,
            principal,
            graph,
            head,
            state,
        })
    }

    /// Runs the next due step and records it. False when the runner has
    /// let the execution go (it waits, ended, or was lost).
    async fn step(&mut self, runner: &Runner) -> Result<bool, ModelError> {
        let now = now_micros();
        let Some(index) = self.state.due(now) else {
            self.let_go(runner).await?;
            return Ok(false);
        };
        let token = self.state.take(index).expect("a due token");
        let core = &runner.hooks.services().core;
        // What the step writes starts no workflow by a trigger.
        let mut session = run_session(core);
        let started = now_micros();
        let end = if steps::kind_of(&self.graph, &token.node) == "join" {
            let from = token.from.as_deref().unwrap_or_default();
            // Until every way in has arrived, the join waits: no step yet.
            self.state
                .arrive(&self.graph, &token.node, from, token.input.clone())
                .map(|joined| StepEnd::Done(Outcome::Output(joined)))
        } else {
            let (_heartbeat, lost) = runner.keep_lease(&self.execution.id, self.worker);
            let running = steps::run(
                runner,
                &session,
                &self.execution,
                &self.principal,
                &self.graph,
                &token,
            );
            tokio::select! {
                end = running => Some(end),
                // Nothing of the step would be kept: stop it now rather
                // than hold the worker until it ends.
                () = lost.notified() => {
                    session.rollback().await;
                    tracing::info!(
                        execution = %self.execution.id,
                        node = %token.node,
                        "the execution was cancelled or taken over; its running step was stopped"
                    );
                    return Ok(false);
                }
            }
        };
        let record = |status, output, error| StepRecord {
            seq: 0,
            node_id: token.node.clone(),
            kind: steps::kind_of(&self.graph, &token.node),
            attempt: token.attempt,
            status,
            input: token.input.clone(),
            output,
            error,
            started_at: started,
            duration_us: now_micros() - started,
            worker: self.worker.to_string(),
        };
        let end = match end {
            Some(StepEnd::Done(Outcome::Output(output)))
                if output.to_string().len() > executions::MAX_STEP_OUTPUT_BYTES =>
            {
                Some(StepEnd::Failed(format!(
                    "its output is over {} bytes as JSON",
                    executions::MAX_STEP_OUTPUT_BYTES
                )))
            }
            end => end,
        };
        let mut timeline = Vec::new();
        let mut failure = None;
        match end {
            None => {}
            Some(StepEnd::Done(outcome)) => {
                let status = match &outcome {
                    Outcome::Await(_) => StepStatus::Waiting,
                    _ => StepStatus::Succeeded,
                };
                let output = self
                    .state
                    .advance(&self.graph, &token, outcome, now_micros());
                timeline.push(record(status, Some(output), None));
            }
            Some(StepEnd::Retry { message, at }) => {
                // Nothing the failed attempt wrote is kept.
                session.rollback().await;
                session = run_session(core);
                timeline.push(record(StepStatus::Retrying, None, Some(message)));
                self.state.retry_later(token.clone(), at);
            }
            Some(StepEnd::Failed(message)) => {
                session.rollback().await;
                session = run_session(core);
                failure = Some(format!("node `{}` failed: {message}", token.node));
                timeline.push(record(StepStatus::Failed, None, Some(message)));
                self.state.failed = Some(Token {
                    awaiting: None,
                    ..token.clone()
                });
            }
        }
        if failure.is_none()
            && self.state.tokens.is_empty()
            && let Some(join) = self.state.arrivals.keys().next()
        {
            // A join reached through only some of its ways in (after a
            // branch) would wait for ever.
            failure = Some(format!(
                "join `{join}` waits for a way in that the run did not take"
            ));
        }
        let (status, running_on) = match failure {
            Some(_) => (ExecutionStatus::Failed, false),
            None => self.next_status(),
        };
        let kept = self
            .write(runner, &session, &timeline, status, failure.as_deref())
            .await?;
        if kept && timeline.iter().any(|t| t.status == StepStatus::Waiting) {
            // A sub-run was queued.
            runner.wake();
        }
        Ok(kept && running_on)
    }

    /// What the run is after its state changed: running on (true), waiting,
    /// or ended.
    fn next_status(&self) -> (ExecutionStatus, bool) {
        if self.state.tokens.is_empty() {
            (ExecutionStatus::Succeeded, false)
        } else if self.state.due(now_micros()).is_some() {
            (ExecutionStatus::Running, true)
        } else {
            (ExecutionStatus::Waiting, false)
        }
    }

    /// Writes the step's record with the run's new state in `session`,
    /// with whatever the step wrote there; false when the execution was
    /// lost (then nothing is kept).
    async fn write(
        &mut self,
        runner: &Runner,
        session: &Arc<Session>,
        timeline: &[StepRecord],
        status: ExecutionStatus,
        error: Option<&str>,
    ) -> Result<bool, ModelError> {
        let now = now_micros();
        let output = (status == ExecutionStatus::Succeeded).then(|| self.state.output());
        let holds = status == ExecutionStatus::Running;
        let progress = Progress {
            status,
            output: output.as_ref(),
            error,
            new_steps: timeline.len() as i64,
            finished_at: status.is_final().then_some(now),
            due_at: self.state.next_due().unwrap_or(now).max(now),
            lease_until: holds.then_some(now + LEASE.as_micros() as i64),
            now,
        };
        let ctx = runner.ctx(session, &self.principal);
        let written = executions::record(
            &ctx,
            StepWrite {
                execution: &self.execution,
                runner: self.worker,
                head: &self.head,
                state: &self.state,
                steps: timeline,
                progress,
            },
        )
        .await;
        match written {
            Ok(Some(head)) => {
                runner.hooks.services().core.commit(session).await?;
                self.head = head;
                self.execution.steps += timeline.len() as i64;
                self.execution.status = status;
                Ok(true)
            }
            Ok(None) => {
                session.rollback().await;
                tracing::info!(
                    execution = %self.execution.id,
                    worker = %self.worker,
                    "the execution was cancelled or taken over; its step was not kept"
                );
                Ok(false)
            }
            // The run's state cannot be kept (a checkpoint over the
            // StateManager's limit, its thread deleted): it fails here
            // rather than run the step again for ever.
            Err(ModelError::Invalid { field, message }) => {
                session.rollback().await;
                let why = format!("the run's state could not be kept: {field}: {message}");
                runner
                    .end_without_running(self.worker, &self.execution, &why)
                    .await?;
                Ok(false)
            }
            Err(ModelError::NotFound(message)) => {
                session.rollback().await;
                let why = format!("the run's state is gone: {message}");
                runner
                    .end_without_running(self.worker, &self.execution, &why)
                    .await?;
                Ok(false)
            }
            Err(error) => {
                session.rollback().await;
                Err(error)
            }
        }
    }

    /// Lets the execution go: running on later (its turn is over), waiting
    /// for its next due step, or ended.
    async fn let_go(&mut self, runner: &Runner) -> Result<(), ModelError> {
        let (status, _) = self.next_status();
        let status = match status {
            ExecutionStatus::Running => ExecutionStatus::Queued,
            other => other,
        };
        let session = run_session(&runner.hooks.services().core);
        self.write(runner, &session, &[], status, None).await?;
        if status == ExecutionStatus::Queued {
            runner.wake();
        }
        Ok(())
    }
}
