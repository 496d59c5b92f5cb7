//! `kai:fusion/state`: the StateManager's threads and checkpoints, as the
//! calling request's principal and within the calling plugin's own threads
//! (`crate::services::state` with [`Actor::Plugin`]). Granted as the host
//! service `state`; a write that fails leaves nothing behind: under a
//! savepoint of the call's unit of work, or, for `put`, by construction
//! (see [`Writes`]).

use super::models::{Failure, json_field, optional_json_field};
use super::{CallState, Caller};
use crate::domain::state::{NewCheckpoint, NewThread, ThreadChange};
use crate::services::state::{self, Actor};
use crate::services::{Ctx, ModelError};
use crate::wit::bindings::kai::fusion::state::{
    Checkpoint, CheckpointPage, Host, NewThread as WitNewThread, PendingWrite, Thread, ThreadPage,
};
use crate::wit::bindings::kai::fusion::types::Error as WitError;

type Result<T> = std::result::Result<T, WitError>;

/// How a host function's writes stay whole when it fails.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writes {
    /// It writes nothing.
    None,
    /// Under a savepoint of the call's unit of work: a failure undoes its
    /// writes and the plugin carries on.
    Savepoint,
    /// Whole by construction: it fails before its first write (a conflict,
    /// bad input) or the database failed mid-way, which traps the call so
    /// the request's unit of work is rolled back. Spares the savepoint's
    /// two statements on the hot path of `put`, where SQLite's one writer
    /// holds them.
    WholeOrTrap,
}

/// Runs `operation` as the caller's principal, acting as the calling
/// plugin, once its grant allows the `state` service.
async fn as_caller<T>(
    caller: Result<Caller>,
    writes: Writes,
    operation: impl AsyncFnOnce(&Ctx<'_>, Actor<'_>) -> std::result::Result<T, Failure>,
) -> wasmtime::Result<Result<T>> {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return Ok(Err(error)),
    };
    let principal = match caller.service_principal("state") {
        Ok(principal) => principal,
        Err(error) => return Ok(Err(error)),
    };
    let ctx = caller.ctx(&principal);
    let actor = Actor::Plugin(&caller.plugin_name);
    let result = match writes {
        Writes::Savepoint => ctx.atomically(operation(&ctx, actor)).await,
        Writes::None => operation(&ctx, actor).await,
        Writes::WholeOrTrap => match operation(&ctx, actor).await {
            Err(Failure::Model(ModelError::Database(error))) => {
                tracing::error!(plugin = %caller.plugin_name, error = %error, "database error in state.put");
                return Err(wasmtime::format_err!(
                    "the database failed while a checkpoint was being put"
                ));
            }
            other => other,
        },
    };
    Ok(result.map_err(|failure| match failure {
        Failure::Input(error) => error,
        Failure::Model(error) => caller.model_error(error),
    }))
}

impl Host for CallState {
    async fn create_thread(&mut self, input: WitNewThread) -> wasmtime::Result<Result<Thread>> {
        as_caller(self.caller(), Writes::Savepoint, async |ctx, actor| {
            let metadata = match input.metadata.as_str() {
                "" => None,
                text => Some(json_field("metadata", text)?),
            };
            let thread = state::create_thread(
                ctx,
                actor,
                NewThread {
                    metadata,
                    keep_last: input.keep_last,
                },
            )
            .await?;
            Ok((&thread).into())
        })
        .await
    }

    async fn get_thread(&mut self, id: String) -> wasmtime::Result<Result<Thread>> {
        as_caller(self.caller(), Writes::None, async |ctx, actor| {
            Ok((&state::get_thread(ctx, actor, &id).await?).into())
        })
        .await
    }

    async fn list_threads(
        &mut self,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<ThreadPage>> {
        as_caller(self.caller(), Writes::None, async |ctx, actor| {
            let (items, next_cursor) =
                state::list_threads(ctx, actor, None, limit, cursor.as_deref()).await?;
            Ok(ThreadPage {
                items: items.iter().map(Thread::from).collect(),
                next_cursor,
            })
        })
        .await
    }

    async fn update_thread(
        &mut self,
        id: String,
        metadata: Option<String>,
        keep_last: Option<u32>,
    ) -> wasmtime::Result<Result<Thread>> {
        as_caller(self.caller(), Writes::Savepoint, async |ctx, actor| {
            let change = ThreadChange {
                metadata: optional_json_field("metadata", metadata.as_deref())?,
                keep_last: Some(keep_last),
            };
            Ok((&state::update_thread(ctx, actor, &id, change).await?).into())
        })
        .await
    }

    async fn delete_thread(&mut self, id: String) -> wasmtime::Result<Result<()>> {
        as_caller(self.caller(), Writes::Savepoint, async |ctx, actor| {
            Ok(state::delete_thread(ctx, actor, &id).await?)
        })
        .await
    }

    async fn put(
        &mut self,
        thread_id: String,
        parent: Option<String>,
        values: String,
        metadata: String,
    ) -> wasmtime::Result<Result<Checkpoint>> {
        as_caller(self.caller(), Writes::WholeOrTrap, async |ctx, actor| {
            let input = NewCheckpoint {
                parent_id: parent,
                values: json_field("values", &values)?,
                metadata: match metadata.as_str() {
                    "" => None,
                    text => Some(json_field("metadata", text)?),
                },
            };
            Ok(state::put(ctx, actor, &thread_id, input).await?.into())
        })
        .await
    }

    async fn latest(&mut self, thread_id: String) -> wasmtime::Result<Result<Option<Checkpoint>>> {
        as_caller(self.caller(), Writes::None, async |ctx, actor| {
            Ok(state::latest(ctx, actor, &thread_id)
                .await?
                .map(Checkpoint::from))
        })
        .await
    }

    async fn get_checkpoint(
        &mut self,
        thread_id: String,
        checkpoint_id: String,
    ) -> wasmtime::Result<Result<Checkpoint>> {
        as_caller(self.caller(), Writes::None, async |ctx, actor| {
            Ok(
                state::get_checkpoint(ctx, actor, &thread_id, &checkpoint_id)
                    .await?
                    .into(),
            )
        })
        .await
    }

    async fn history(
        &mut self,
        thread_id: String,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<CheckpointPage>> {
        as_caller(self.caller(), Writes::None, async |ctx, actor| {
            let (items, next_cursor) =
                state::history(ctx, actor, &thread_id, limit, cursor.as_deref()).await?;
            Ok(CheckpointPage {
                items: items.into_iter().map(Checkpoint::from).collect(),
                next_cursor,
            })
        })
        .await
    }

    async fn put_writes(
        &mut self,
        thread_id: String,
        checkpoint_id: String,
        task: String,
        writes: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<()>> {
        as_caller(self.caller(), Writes::Savepoint, async |ctx, actor| {
            let writes = writes
                .iter()
                .enumerate()
                .map(|(i, (channel, value))| {
                    Ok((
                        channel.clone(),
                        json_field(&format!("writes[{i}].value"), value)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(state::put_writes(ctx, actor, &thread_id, &checkpoint_id, &task, writes).await?)
        })
        .await
    }

    async fn pending_writes(
        &mut self,
        thread_id: String,
        checkpoint_id: String,
    ) -> wasmtime::Result<Result<Vec<PendingWrite>>> {
        as_caller(self.caller(), Writes::None, async |ctx, actor| {
            Ok(
                state::pending_writes(ctx, actor, &thread_id, &checkpoint_id)
                    .await?
                    .into_iter()
                    .map(PendingWrite::from)
                    .collect(),
            )
        })
        .await
    }

    async fn fork(
        &mut self,
        thread_id: String,
        checkpoint_id: String,
        metadata: Option<String>,
    ) -> wasmtime::Result<Result<Thread>> {
        as_caller(self.caller(), Writes::Savepoint, async |ctx, actor| {
            let metadata = optional_json_field("metadata", metadata.as_deref())?;
            Ok((&state::fork(ctx, actor, &thread_id, &checkpoint_id, metadata).await?).into())
        })
        .await
    }
}
