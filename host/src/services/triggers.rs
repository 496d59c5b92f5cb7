//! Workflow triggers at work ([`crate::domain::trigger`] says what each
//! is): the runs an event, a schedule's tick or a webhook call starts.
//!
//! - Event triggers are matched in memory, in the change's transaction:
//!   [`TriggerIndex`] holds them all, reloaded after every save on this
//!   server and every second by the runner (so a save on another server
//!   node applies here within a second), and a change with no trigger
//!   waiting for it costs one lookup in a map.
//! - Schedules are rows with their next tick; the node that moves a tick
//!   on (compare-and-swap) starts its run, in the same transaction, so
//!   each tick runs once across the nodes. The next tick is the first
//!   after now: ticks missed while no server ran make one run.
//! - A webhook's secret is 32 random bytes, shown once; only its SHA-256
//!   is kept, and a call's secret is compared with it in constant time.

use super::Triggers;
use super::executions::{self, Origin};
use super::{Core, Ctx, ModelError, Session, users};
use crate::domain::execution::{Execution, StartedBy};
use crate::domain::trigger::Trigger;
use crate::domain::workflow::{PluginKinds, Workflow};
use crate::domain::{Document, EventKind, Principal, Role, Row};
use crate::services::documents::document_json;
use crate::services::events::Hooks;
use crate::store::Db;
use crate::store::workflows::{self as rows, EventTrigger};
use crate::util::format_micros;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// Schedules one pass starts at most (the rest wait for the next pass).
const SCHEDULES_PER_PASS: u32 = 100;

/// The event triggers of every workflow, by event and collection.
#[derive(Default)]
pub struct TriggerIndex {
    by_event: RwLock<HashMap<(EventKind, String), Vec<EventTrigger>>>,
    /// Whether any trigger is held: most changes need not look further.
    any: AtomicBool,
}

impl Triggers for TriggerIndex {
    fn on_event<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        kind: EventKind,
        old: Option<&'a Row>,
        new: Option<&'a Row>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(on_event(self, ctx, kind, old, new))
    }

    fn reload<'a>(&'a self, db: &'a Db) -> BoxFuture<'a, Result<(), ModelError>> {
        Box::pin(self.load(db))
    }
}

impl TriggerIndex {
    /// Reads every event trigger from the database again.
    async fn load(&self, db: &Db) -> Result<(), ModelError> {
        let session = Session::new(db.clone());
        let triggers = rows::event_triggers(&session).await?;
        let mut by_event: HashMap<(EventKind, String), Vec<EventTrigger>> = HashMap::new();
        for trigger in triggers {
            by_event
                .entry((trigger.event, trigger.collection_id.clone()))
                .or_default()
                .push(trigger);
        }
        self.any.store(!by_event.is_empty(), Ordering::Relaxed);
        *self.by_event.write().unwrap_or_else(|e| e.into_inner()) = by_event;
        Ok(())
    }

    fn matching(&self, event: EventKind, collection: &str) -> Vec<EventTrigger> {
        if !self.any.load(Ordering::Relaxed) {
            return Vec::new();
        }
        self.by_event
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(event, collection.to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

fn document(row: Option<&Row>) -> Option<&Document> {
    match row {
        Some(Row::Document(document)) => Some(document),
        _ => None,
    }
}

/// Queues, in `ctx`'s transaction, a run of every workflow waiting for
/// `event` in the collection of the document that changed (`old` before,
/// `new` after). Changes a workflow step makes start nothing. A workflow
/// that cannot start (its input too large, gone meanwhile) is skipped
/// with a warning; the change goes on.
async fn on_event(
    index: &TriggerIndex,
    ctx: &Ctx<'_>,
    event: EventKind,
    old: Option<&Row>,
    new: Option<&Row>,
) -> Result<(), sqlx::Error> {
    let Some(changed) = document(new).or(document(old)) else {
        return Ok(());
    };
    if ctx.session.within_run() {
        return Ok(());
    }
    let waiting = index.matching(event, &changed.collection_id);
    for trigger in waiting {
        if trigger.owner != changed.owner {
            // Only an admin's workflow sees another user's documents.
            let owner = users::acting(&ctx.core.db, &trigger.owner).await?;
            if !owner.is_some_and(|o| o.is_admin()) {
                continue;
            }
        }
        let input = json!({
            "trigger": "event",
            "event": event.as_str(),
            "document": document(new).map(document_json),
            "old": document(old).map(document_json),
        });
        let owner = Principal::new(trigger.owner.clone(), Role::Member);
        let as_owner = Ctx {
            principal: &owner,
            ..*ctx
        };
        let started = ctx
            .atomically(executions::start(
                &as_owner,
                &trigger.workflow_id,
                input,
                None,
                Origin::by(StartedBy::Event),
            ))
            .await;
        match started {
            Ok(_) => {}
            Err(ModelError::Database(error)) => return Err(error),
            Err(error) => tracing::warn!(
                workflow = %trigger.workflow_id,
                event = event.as_str(),
                %error,
                "a workflow's event trigger could not start a run"
            ),
        }
    }
    Ok(())
}

/// Starts a run for each schedule whose tick has come by `now`, and moves
/// each tick on to the first after `now`; how many runs started.
pub async fn start_due_schedules(
    core: &Core,
    hooks: &dyn Hooks,
    now: i64,
) -> Result<usize, ModelError> {
    let due = rows::due_schedules(&Session::new(core.db.clone()), now, SCHEDULES_PER_PASS).await?;
    let mut started = 0;
    for schedule in due {
        let session = Arc::new(Session::new(core.db.clone()));
        let next = crate::domain::trigger::parse_cron(&schedule.cron)
            .ok()
            .and_then(|cron| crate::domain::trigger::next_tick(&cron, now));
        if !rows::advance_schedule(&session, &schedule, next).await? {
            // Another server node took this tick.
            session.rollback().await;
            continue;
        }
        let owner = Principal::new(schedule.owner.clone(), Role::Member);
        let ctx = Ctx {
            core,
            hooks,
            session: &session,
            principal: &owner,
            depth: 0,
        };
        let input = json!({
            "trigger": "schedule",
            "scheduled_at": format_micros(schedule.next_at),
        });
        // Not refused for a node kind no plugin runs this moment: the run
        // fails at that step instead, where its timeline shows why.
        let run = ctx
            .atomically(executions::start(
                &ctx,
                &schedule.workflow_id,
                input,
                None,
                Origin::by(StartedBy::Schedule),
            ))
            .await;
        match run {
            Ok(_) => started += 1,
            Err(ModelError::Database(error)) => {
                session.rollback().await;
                return Err(ModelError::Database(error));
            }
            // The tick is spent either way: it is not tried again.
            Err(error) => tracing::warn!(
                workflow = %schedule.workflow_id,
                %error,
                "a workflow's schedule could not start a run"
            ),
        }
        core.commit(&session).await?;
    }
    Ok(started)
}

/// Why a webhook call started nothing.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// No such workflow, no webhook, or the wrong secret: one answer for
    /// all, so that a caller learns nothing from it.
    #[error("no webhook here")]
    NotFound,
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Workflow `workflow_id`, when it has a webhook trigger whose secret is
/// `secret` (compared in constant time).
pub async fn verify_webhook(
    session: &Session,
    workflow_id: &str,
    secret: &str,
) -> Result<Workflow, HookError> {
    let Ok(id) = super::validate::uuid("workflow", workflow_id) else {
        return Err(HookError::NotFound);
    };
    let stored = rows::webhook_secret_hash(session, &id)
        .await
        .map_err(ModelError::from)?;
    let given = super::workflows::webhook_secret_hash(secret);
    let matches = stored.is_some_and(|stored| {
        subtle::ConstantTimeEq::ct_eq(stored.as_bytes(), given.as_bytes()).into()
    });
    if !matches {
        return Err(HookError::NotFound);
    }
    rows::get(session, &id)
        .await
        .map_err(ModelError::from)?
        .filter(|workflow| workflow.triggers.contains(&Trigger::Webhook))
        .ok_or(HookError::NotFound)
}

/// Starts a run of `workflow` for a call of its webhook with `body`, as
/// the workflow's owner.
pub async fn start_by_webhook(
    core: &Core,
    hooks: &dyn Hooks,
    session: &Arc<Session>,
    plugins: &PluginKinds,
    workflow: &Workflow,
    body: Value,
) -> Result<Execution, ModelError> {
    let owner = Principal::new(workflow.owner.clone(), Role::Member);
    let ctx = Ctx {
        core,
        hooks,
        session,
        principal: &owner,
        depth: 0,
    };
    let input = json!({ "trigger": "webhook", "body": body });
    executions::start(
        &ctx,
        &workflow.id,
        input,
        Some(plugins),
        Origin::by(StartedBy::Webhook),
    )
    .await
}
