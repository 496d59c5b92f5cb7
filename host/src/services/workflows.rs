//! The WorkflowService's definitions: workflows owned by a user, each save
//! a new version after the graph has passed every rule of
//! [`crate::domain::workflow`]. The owner sees and changes their
//! workflows, an admin all of them; another member gets a 404.

use super::validate;
use super::{Ctx, ModelError, Session};
use crate::domain::trigger::{self, Trigger, TriggerSpec};
use crate::domain::workflow::{self, PluginKinds, Workflow, WorkflowInput, WorkflowVersion};
use crate::domain::{Principal, Role};
use crate::store::query::select::Scope;
use crate::store::workflows as rows;
use crate::util::now_micros;

/// Longest workflow name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A workflow as saved, with its webhook's secret when this save made one
/// (the one time it is shown).
#[derive(Debug)]
pub struct Saved {
    pub workflow: Workflow,
    pub webhook_secret: Option<String>,
}

/// Saves a new workflow; `plugins` are the node kinds the enabled plugins
/// run now.
pub async fn create(
    ctx: &Ctx<'_>,
    input: WorkflowInput,
    plugins: PluginKinds,
) -> Result<Saved, ModelError> {
    let input = checked(input, plugins).await?;
    let triggers = checked_triggers(
        ctx,
        &ctx.principal.user_id,
        input.triggers.as_deref().unwrap_or_default(),
    )
    .await?;
    let now = now_micros();
    let created = Workflow {
        id: uuid::Uuid::now_v7().to_string(),
        owner: ctx.principal.user_id.clone(),
        name: input.name,
        description: input.description.unwrap_or_default(),
        version: 1,
        graph: input.graph,
        triggers,
        created_at: now,
        updated_at: now,
    };
    rows::insert(ctx.session, &created).await?;
    let webhook_secret = keep_webhook(ctx, &created, false).await?;
    Ok(Saved {
        workflow: created,
        webhook_secret,
    })
}

/// The triggers of `specs` for a workflow of `owner`, checked; each event
/// trigger's collection must be one the owner sees (an admin may save a
/// member's workflow, whose runs act as the member).
async fn checked_triggers(
    ctx: &Ctx<'_>,
    owner: &str,
    specs: &[TriggerSpec],
) -> Result<Vec<Trigger>, ModelError> {
    let owner = if owner == ctx.principal.user_id {
        ctx.principal.clone()
    } else {
        super::users::acting(&ctx.core.db, owner)
            .await?
            .unwrap_or_else(|| Principal::new(owner.to_string(), Role::Member))
    };
    let ctx = &Ctx {
        principal: &owner,
        ..*ctx
    };
    let triggers = trigger::check(specs).map_err(|e| ModelError::invalid(e.field, e.message))?;
    for (i, t) in triggers.iter().enumerate() {
        if let Trigger::Event { collection_id, .. } = t {
            let field = format!("triggers[{i}].collection_id");
            let id = validate::uuid(&field, collection_id)?;
            if super::collections::get(ctx, &id).await.is_err() {
                return Err(ModelError::invalid(
                    field,
                    format!("collection {id} not found"),
                ));
            }
        }
    }
    // Canonical ids, so that events match them.
    Ok(triggers
        .into_iter()
        .map(|t| match t {
            Trigger::Event {
                event,
                collection_id,
            } => Trigger::Event {
                event,
                collection_id: crate::domain::canonical_uuid(&collection_id)
                    .unwrap_or(collection_id),
            },
            other => other,
        })
        .collect())
}

/// Gives a workflow with a webhook trigger a secret if it has none (or a
/// new one when `rotate`), and removes the secret of one without; the new
/// secret, if one was made.
async fn keep_webhook(
    ctx: &Ctx<'_>,
    workflow: &Workflow,
    rotate: bool,
) -> Result<Option<String>, ModelError> {
    let wanted = workflow.triggers.contains(&Trigger::Webhook);
    let has = rows::webhook_secret_hash(ctx.session, &workflow.id)
        .await?
        .is_some();
    match (wanted, has) {
        (true, false) => Ok(Some(issue_webhook_secret(ctx.session, &workflow.id).await?)),
        (true, true) if rotate => Ok(Some(issue_webhook_secret(ctx.session, &workflow.id).await?)),
        (false, true) => {
            rows::set_webhook_secret_hash(ctx.session, &workflow.id, None).await?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// A new webhook secret for workflow `id`: 32 random bytes, of which only
/// the SHA-256 is kept; it replaces the old one.
async fn issue_webhook_secret(session: &Session, id: &str) -> Result<String, ModelError> {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    let secret = hex::encode(bytes);
    rows::set_webhook_secret_hash(session, id, Some(&webhook_secret_hash(&secret))).await?;
    Ok(secret)
}

/// What is kept of a webhook secret: its SHA-256, in hex.
pub fn webhook_secret_hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// A new secret for workflow `id`'s webhook; the old one stops working.
pub async fn rotate_webhook(ctx: &Ctx<'_>, id: &str) -> Result<String, ModelError> {
    let workflow = get(ctx, id).await?;
    if !workflow.triggers.contains(&Trigger::Webhook) {
        return Err(ModelError::Conflict(format!(
            "workflow {} has no webhook trigger; save it with {{\"type\": \"webhook\"}} in its triggers",
            workflow.id
        )));
    }
    keep_webhook(ctx, &workflow, true)
        .await?
        .ok_or_else(|| ModelError::Conflict("the webhook secret was not made".into()))
}

pub async fn get(ctx: &Ctx<'_>, id: &str) -> Result<Workflow, ModelError> {
    let id = validate::uuid("id", id)?;
    rows::get(ctx.session, &id)
        .await?
        .filter(|w| ctx.principal.can_see(&w.owner))
        .ok_or_else(|| not_found(&id))
}

/// A page of the workflows the caller sees, oldest first.
pub async fn list(
    ctx: &Ctx<'_>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Workflow>, Option<String>), ModelError> {
    let scope = Scope::for_principal(ctx.principal);
    Ok(rows::page(ctx.session, scope.as_ref(), limit, cursor).await?)
}

/// Saves a new version of the workflow: its name, description, graph and
/// triggers (the current ones when not given).
pub async fn update(
    ctx: &Ctx<'_>,
    id: &str,
    input: WorkflowInput,
    plugins: PluginKinds,
) -> Result<Saved, ModelError> {
    let current = get(ctx, id).await?;
    let input = checked(input, plugins).await?;
    let triggers = match &input.triggers {
        Some(specs) => checked_triggers(ctx, &current.owner, specs).await?,
        None => current.triggers.clone(),
    };
    let change = Workflow {
        name: input.name,
        graph: input.graph,
        triggers,
        updated_at: now_micros(),
        ..current
    };
    let owner = (!ctx.principal.is_admin()).then_some(ctx.principal.user_id.as_str());
    let saved = rows::save(ctx.session, &change, input.description.as_deref(), owner)
        .await?
        .ok_or_else(|| not_found(&change.id))?;
    let webhook_secret = keep_webhook(ctx, &saved, false).await?;
    Ok(Saved {
        workflow: saved,
        webhook_secret,
    })
}

/// Deletes a workflow with every version of it.
pub async fn delete(ctx: &Ctx<'_>, id: &str) -> Result<(), ModelError> {
    let workflow = get(ctx, id).await?;
    // Its executions and their timelines go with it by the foreign keys;
    // their checkpoint threads are not referenced, so they go here.
    for thread in crate::store::executions::thread_ids(ctx.session, &workflow.id).await? {
        crate::store::state::delete_thread(ctx.session, &thread).await?;
    }
    rows::delete(ctx.session, &workflow.id).await?;
    Ok(())
}

/// Version `version` of a workflow.
pub async fn version(ctx: &Ctx<'_>, id: &str, version: i64) -> Result<WorkflowVersion, ModelError> {
    let workflow = get(ctx, id).await?;
    rows::get_version(ctx.session, &workflow.id, version)
        .await?
        .ok_or_else(|| {
            ModelError::NotFound(format!(
                "workflow {} has no version {version} (its newest is {})",
                workflow.id, workflow.version
            ))
        })
}

/// A page of a workflow's versions, newest first.
pub async fn versions(
    ctx: &Ctx<'_>,
    id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<WorkflowVersion>, Option<String>), ModelError> {
    let workflow = get(ctx, id).await?;
    Ok(rows::page_versions(ctx.session, &workflow.id, limit, cursor).await?)
}

async fn checked(input: WorkflowInput, plugins: PluginKinds) -> Result<WorkflowInput, ModelError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.contains('\0') {
        return Err(ModelError::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters without NUL"),
        ));
    }
    let description = input
        .description
        .as_deref()
        .map(|d| validate::description("description", d))
        .transpose()?;
    let graph = validated(input.graph, plugins).await?;
    Ok(WorkflowInput {
        name: name.to_string(),
        description,
        graph,
        triggers: input.triggers,
    })
}

/// Stack for checking a graph: compiling a deeply nested jq expression
/// recurses once per level (up to an expression's 4,096 bytes).
const CHECK_STACK_BYTES: usize = 64 * 1024 * 1024;

/// `graph` once it has passed every rule. The check runs on a thread of
/// its own, with a deep stack and off the async workers (it compiles each
/// expression).
async fn validated(
    graph: workflow::Graph,
    plugins: PluginKinds,
) -> Result<workflow::Graph, ModelError> {
    let (done, outcome) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("workflow-check".into())
        .stack_size(CHECK_STACK_BYTES)
        .spawn(move || {
            let kind_of = |name: &str| workflow::known_kind(name, &plugins);
            let result = workflow::validate(&graph, &kind_of).map(|()| graph);
            let _ = done.send(result);
        })
        .map_err(|error| ModelError::Database(sqlx::Error::Io(error)))?;
    let result = outcome.await.map_err(|_| {
        ModelError::Database(sqlx::Error::Protocol(
            "the workflow check stopped without an answer".into(),
        ))
    })?;
    result.map_err(|error| ModelError::invalid(error.field, error.message))
}

fn not_found(id: &str) -> ModelError {
    ModelError::NotFound(format!("workflow {id} not found"))
}
