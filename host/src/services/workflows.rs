//! The WorkflowService's definitions: workflows owned by a user, each save
//! a new version after the graph has passed every rule of
//! [`crate::domain::workflow`]. The owner sees and changes their
//! workflows, an admin all of them; another member gets a 404.

use super::validate;
use super::{Ctx, ModelError};
use crate::domain::workflow::{self, PluginKinds, Workflow, WorkflowInput, WorkflowVersion};
use crate::store::query::select::Scope;
use crate::store::workflows as rows;
use crate::util::now_micros;

/// Longest workflow name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Saves a new workflow; `plugins` are the node kinds the enabled plugins
/// run now.
pub async fn create(
    ctx: &Ctx<'_>,
    input: WorkflowInput,
    plugins: PluginKinds,
) -> Result<Workflow, ModelError> {
    let input = checked(input, plugins).await?;
    let now = now_micros();
    let created = Workflow {
        id: uuid::Uuid::now_v7().to_string(),
        owner: ctx.principal.user_id.clone(),
        name: input.name,
        description: input.description.unwrap_or_default(),
        version: 1,
        graph: input.graph,
        created_at: now,
        updated_at: now,
    };
    rows::insert(ctx.session, &created).await?;
    Ok(created)
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

/// Saves a new version of the workflow: its name, description and graph.
pub async fn update(
    ctx: &Ctx<'_>,
    id: &str,
    input: WorkflowInput,
    plugins: PluginKinds,
) -> Result<Workflow, ModelError> {
    let current = get(ctx, id).await?;
    let input = checked(input, plugins).await?;
    let change = Workflow {
        name: input.name,
        graph: input.graph,
        updated_at: now_micros(),
        ..current
    };
    let owner = (!ctx.principal.is_admin()).then_some(ctx.principal.user_id.as_str());
    let saved = rows::save(ctx.session, &change, input.description.as_deref(), owner)
        .await?
        .ok_or_else(|| not_found(&change.id))?;
    Ok(saved)
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
