//! Host calls from natively running plugin code, answered by the host's
//! own capability functions: the SDK hands each call over serialized
//! (`kai_sdk::__private::native`); it is decoded into the host's records,
//! run as the host runs it, and its answer encoded back.

use kai_host::capabilities::HostAccess;
use kai_host::runtime::call::{CallContext, CallState};
use kai_host::wit::bindings::kai::fusion as wit;
use kai_sdk::__private::native::{self, NativeHost};
use serde_json::Value as Json;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use tokio::runtime::Handle;

/// Answers the host calls of one request or event delivery.
#[derive(Clone)]
pub struct NativeCalls {
    handle: Handle,
    plugin: String,
    access: HostAccess,
}

impl NativeCalls {
    pub fn new(handle: Handle, plugin: &str, access: HostAccess) -> NativeCalls {
        NativeCalls {
            handle,
            plugin: plugin.to_string(),
            access,
        }
    }

    /// Runs `code` (a handler) with these calls answering its host calls
    /// on this thread; a panic in it is caught and handed back.
    pub fn run<T>(&self, code: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send>> {
        let previous = native::install(Some(Rc::new(self.clone())));
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(code));
        native::install(previous);
        outcome
    }
}

impl NativeHost for NativeCalls {
    fn call(&self, interface: &str, function: &str, args: Json) -> Json {
        let state = CallState::native(
            &self.plugin,
            CallContext {
                request_id: "test".into(),
                traceparent: None,
                host: Some(self.access.clone()),
            },
        );
        let (interface, function) = (interface.to_string(), function.to_string());
        wait(&self.handle, dispatch(state, interface, function, args))
    }
}

/// Runs `future` on the host's runtime and waits for it on this thread.
/// A host call made from a handler that itself runs inside a host call (a
/// transactional hook) waits on a runtime worker, which hands its other
/// work over first.
pub fn wait<T: Send + 'static>(
    handle: &Handle,
    future: impl Future<Output = T> + Send + 'static,
) -> T {
    let (answer, answered) = std::sync::mpsc::channel();
    handle.spawn(async move {
        let _ = answer.send(future.await);
    });
    let receive = || {
        answered
            .recv()
            .expect("a host call panicked in the test host (its message is above)")
    };
    if Handle::try_current().is_ok() {
        tokio::task::block_in_place(receive)
    } else {
        receive()
    }
}

/// Decodes `args` for one host function, calls it on `state`, encodes its
/// answer: one arm per function of every interface a plugin imports.
macro_rules! dispatch {
    ($state:ident, $interface:ident, $function:ident, $args:ident;
     $($name:literal => $module:ident { $($fname:literal => $method:ident($($arg:ident),*);)* })*) => {
        match ($interface.as_str(), $function.as_str()) {
            $($(
                ($name, $fname) => {
                    let ($($arg,)*) = serde_json::from_value($args).unwrap_or_else(|e| {
                        panic!("the arguments of {}.{} do not decode: {e}", $name, $fname)
                    });
                    let answer = <CallState<HostAccess> as wit::$module::Host>::$method(
                        &mut $state, $($arg),*
                    )
                    .await
                    .unwrap_or_else(|trap| panic!("{}.{} trapped: {trap:?}", $name, $fname));
                    serde_json::to_value(answer).expect("a host answer encodes")
                }
            )*)*
            (interface, function) => panic!("the test host has no `{interface}.{function}`"),
        }
    };
}

async fn dispatch(
    mut state: CallState<HostAccess>,
    interface: String,
    function: String,
    args: Json,
) -> Json {
    dispatch!(state, interface, function, args;
        "persistence" => persistence {
            "insert" => insert(model, fields);
            "get" => get(model, id);
            "update" => update(model, id, fields);
            "update-where" => update_where(model, filter, changes, returning);
            "delete" => delete(model, id);
            "delete-where" => delete_where(model, filter);
            "query" => query(model, select);
            "count" => count(model, filter);
            "aggregate" => aggregate(model, query);
        }
        "models" => models {
            "get-collection" => get_collection(id);
            "list-collections" => list_collections(limit, cursor);
            "create-collection" => create_collection(input);
            "update-collection" => update_collection(id, patch);
            "delete-collection" => delete_collection(id);
            "get-document" => get_document(id);
            "query-documents" => query_documents(filter, order, limit, cursor);
            "search-documents" => search_documents(query, filter, limit, cursor);
            "create-document" => create_document(input);
            "update-document" => update_document(id, patch, expected_version);
            "delete-document" => delete_document(id, expected_version);
            "aggregate" => aggregate(model, query);
        }
        "kv" => kv {
            "get" => get(key);
            "set" => set(key, value, ttl_ms);
            "delete" => delete(key);
            "list-keys" => list_keys(prefix, after, limit);
        }
        "outbound-http" => outbound_http {
            "send" => send(request);
        }
        "credentials" => credentials {
            "reveal" => reveal(name);
        }
        "state" => state {
            "create-thread" => create_thread(input);
            "get-thread" => get_thread(id);
            "list-threads" => list_threads(limit, cursor);
            "update-thread" => update_thread(id, metadata, keep_last);
            "delete-thread" => delete_thread(id);
            "put" => put(thread_id, parent, values, metadata);
            "latest" => latest(thread_id);
            "get-checkpoint" => get_checkpoint(thread_id, checkpoint_id);
            "history" => history(thread_id, limit, cursor);
            "put-writes" => put_writes(thread_id, checkpoint_id, task, writes);
            "pending-writes" => pending_writes(thread_id, checkpoint_id);
            "fork" => fork(thread_id, checkpoint_id, metadata);
        }
        "memory" => memory {
            "create-session" => create_session(input);
            "get-session" => get_session(id);
            "list-sessions" => list_sessions(limit, cursor);
            "update-session" => update_session(id, change);
            "delete-session" => delete_session(id);
            "append" => append(session_id, messages);
            "messages" => messages(session_id, limit, cursor);
            "read-window" => read_window(session_id, request);
            "set-summary" => set_summary(session_id, content, through_seq);
            "clear" => clear(session_id);
            "search" => search(query, session_id, limit, cursor);
        }
    )
}
