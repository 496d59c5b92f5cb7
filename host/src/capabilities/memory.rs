//! `kai:fusion/memory`: the MemoryManager's sessions and messages, as the
//! calling request's principal (`crate::services::memory`). Granted as the
//! host service `memory`; a write runs under a savepoint of the call's unit
//! of work, so one that fails leaves nothing behind and the plugin carries on.

use super::models::{Failure, json_field, optional_json_field};
use super::{CallState, Caller};
use crate::domain::memory::{Labels, WindowRequest};
use crate::domain::search::snippet_html;
use crate::services::Ctx;
use crate::services::memory::{self, MessageSearchRequest};
use crate::wit::bindings::kai::fusion::memory::{
    Host, Message, MessagePage, NewMessage, NewSession, SearchHit, SearchPage, Session,
    SessionChange, SessionPage, Window, WindowRequest as WitWindowRequest,
};
use crate::wit::bindings::kai::fusion::types::Error as WitError;
use crate::wit::convert;

type Result<T> = std::result::Result<T, WitError>;

/// Runs `operation` as the caller's principal once the plugin's grant
/// allows the `memory` service; `writes` runs it under a savepoint.
async fn as_caller<T>(
    caller: Result<Caller>,
    writes: bool,
    operation: impl AsyncFnOnce(&Ctx<'_>, &str) -> std::result::Result<T, Failure>,
) -> wasmtime::Result<Result<T>> {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return Ok(Err(error)),
    };
    let principal = match caller.service_principal("memory") {
        Ok(principal) => principal,
        Err(error) => return Ok(Err(error)),
    };
    let ctx = caller.ctx(&principal);
    let result = if writes {
        ctx.atomically(operation(&ctx, &caller.plugin_name)).await
    } else {
        operation(&ctx, &caller.plugin_name).await
    };
    Ok(result.map_err(|failure| match failure {
        Failure::Input(error) => error,
        Failure::Model(error) => caller.model_error(error),
    }))
}

/// JSON text of a plugin's record: empty is left out.
fn optional_json(field: &str, text: &str) -> Result<Option<serde_json::Value>> {
    match text {
        "" => Ok(None),
        text => Ok(Some(json_field(field, text)?)),
    }
}

impl Host for CallState {
    async fn create_session(&mut self, input: NewSession) -> wasmtime::Result<Result<Session>> {
        as_caller(self.caller(), true, async |ctx, plugin| {
            let metadata = optional_json("metadata", &input.metadata)?;
            let input = convert::new_session(input, metadata);
            Ok(memory::create_session(ctx, Some(plugin), input)
                .await?
                .into())
        })
        .await
    }

    async fn get_session(&mut self, id: String) -> wasmtime::Result<Result<Session>> {
        as_caller(self.caller(), false, async |ctx, _| {
            Ok(memory::get_session(ctx, &id).await?.into())
        })
        .await
    }

    async fn list_sessions(
        &mut self,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<SessionPage>> {
        as_caller(self.caller(), false, async |ctx, _| {
            let (items, next_cursor) =
                memory::list_sessions(ctx, Labels::default(), limit, cursor.as_deref()).await?;
            Ok(SessionPage {
                items: items.into_iter().map(Session::from).collect(),
                next_cursor,
            })
        })
        .await
    }

    async fn update_session(
        &mut self,
        id: String,
        change: SessionChange,
    ) -> wasmtime::Result<Result<Session>> {
        as_caller(self.caller(), true, async |ctx, _| {
            let metadata = optional_json_field("metadata", change.metadata.as_deref())?;
            let change = convert::session_change(change, metadata);
            Ok(memory::update_session(ctx, &id, change).await?.into())
        })
        .await
    }

    async fn delete_session(&mut self, id: String) -> wasmtime::Result<Result<()>> {
        as_caller(self.caller(), true, async |ctx, _| {
            Ok(memory::delete_session(ctx, &id).await?)
        })
        .await
    }

    async fn append(
        &mut self,
        session_id: String,
        messages: Vec<NewMessage>,
    ) -> wasmtime::Result<Result<Vec<Message>>> {
        as_caller(self.caller(), true, async |ctx, _| {
            let messages = messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| {
                    let tool_calls = m
                        .tool_calls
                        .as_deref()
                        .map(|text| json_field(&format!("messages[{i}].tool_calls"), text))
                        .transpose()?;
                    let metadata = optional_json(&format!("messages[{i}].metadata"), &m.metadata)?;
                    Ok(convert::new_message(m, tool_calls, metadata))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(memory::append(ctx, &session_id, messages)
                .await?
                .into_iter()
                .map(Message::from)
                .collect())
        })
        .await
    }

    async fn messages(
        &mut self,
        session_id: String,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<MessagePage>> {
        as_caller(self.caller(), false, async |ctx, _| {
            let (items, next_cursor) =
                memory::messages(ctx, &session_id, limit, cursor.as_deref()).await?;
            Ok(MessagePage {
                items: items.into_iter().map(Message::from).collect(),
                next_cursor,
            })
        })
        .await
    }

    async fn read_window(
        &mut self,
        session_id: String,
        request: WitWindowRequest,
    ) -> wasmtime::Result<Result<Window>> {
        as_caller(self.caller(), false, async |ctx, _| {
            let request = WindowRequest::from(request);
            Ok(memory::window(ctx, &session_id, request).await?.into())
        })
        .await
    }

    async fn set_summary(
        &mut self,
        session_id: String,
        content: Option<String>,
        through_seq: Option<i64>,
    ) -> wasmtime::Result<Result<Session>> {
        as_caller(self.caller(), true, async |ctx, _| {
            let summary = content.map(|content| (content, through_seq));
            Ok(memory::set_summary(ctx, &session_id, summary).await?.into())
        })
        .await
    }

    async fn clear(&mut self, session_id: String) -> wasmtime::Result<Result<u64>> {
        as_caller(self.caller(), true, async |ctx, _| {
            Ok(memory::clear(ctx, &session_id).await?)
        })
        .await
    }

    async fn search(
        &mut self,
        query: String,
        session_id: Option<String>,
        limit: u32,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<SearchPage>> {
        as_caller(self.caller(), false, async |ctx, _| {
            let request = MessageSearchRequest {
                text: query,
                session_id,
                role: None,
                limit,
                cursor,
            };
            let (hits, next_cursor) = memory::search(ctx, &request).await?;
            Ok(SearchPage {
                items: hits
                    .into_iter()
                    .map(|hit| SearchHit {
                        snippet: snippet_html(&hit.snippet),
                        score: -hit.rank,
                        message: hit.message.into(),
                    })
                    .collect(),
                next_cursor,
            })
        })
        .await
    }
}
