//! Host calls of plugin code that runs natively (in `cargo test`), where
//! there is no component to import them.
//!
//! Each SDK module calls the host through the generated import functions
//! on wasm and through the functions of the same names here natively: they
//! hand the call, serialized, to the [`NativeHost`] installed on the
//! thread, or answer `unavailable` when there is none. A test host (the
//! `kai-test-host` crate) installs one that runs the real host's functions
//! on an in-process database. Not part of the API: the shape of a call is
//! the WIT contract's, and free to change with it.

use crate::wit::kai::fusion::types::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::rc::Rc;

/// Something that answers host calls natively.
pub trait NativeHost {
    /// Calls `function` of the WIT interface `interface` (`persistence`,
    /// `insert`) with its arguments as a JSON array, and returns its
    /// `result` (`{"Ok": ..}` or `{"Err": ..}`, serde's form of the
    /// generated types).
    fn call(&self, interface: &str, function: &str, args: serde_json::Value) -> serde_json::Value;
}

thread_local! {
    static HOST: RefCell<Option<Rc<dyn NativeHost>>> = const { RefCell::new(None) };
}

/// Installs `host` for host calls made on this thread and returns the one
/// it replaces (put it back when the call that installed this one ends).
pub fn install(host: Option<Rc<dyn NativeHost>>) -> Option<Rc<dyn NativeHost>> {
    HOST.with(|slot| std::mem::replace(&mut *slot.borrow_mut(), host))
}

/// Calls the installed host; `unavailable` when there is none.
fn call<A: Serialize, T: DeserializeOwned>(
    interface: &str,
    function: &str,
    args: A,
) -> Result<T, Error> {
    let host = HOST.with(|slot| slot.borrow().clone());
    let Some(host) = host else {
        return Err(Error::Unavailable(
            "host calls need the KAI-Fusion host; natively there is none unless a test host \
             (kai-test-host) runs the plugin"
                .into(),
        ));
    };
    let args = serde_json::to_value(args).expect("host call arguments serialize");
    let answer = host.call(interface, function, args);
    serde_json::from_value(answer).unwrap_or_else(|e| {
        panic!("the native host answered `{interface}.{function}` in a form it does not take: {e}")
    })
}

/// Native stand-ins of the generated import functions: every generated
/// item of the interface, with its functions shadowed by these.
macro_rules! interface {
    ($module:ident, $wit:literal { $(fn $name:ident($($arg:ident),*) -> $ok:ty;)* }) => {
        pub mod $module {
            #[allow(unused_imports)]
            pub use crate::wit::kai::fusion::$module::*;
            $(
                pub fn $name(
                    $($arg: impl serde::Serialize),*
                ) -> Result<$ok, crate::wit::kai::fusion::types::Error> {
                    super::call($wit, &stringify!($name).replace('_', "-"), ($($arg,)*))
                }
            )*
        }
    };
}

interface!(persistence, "persistence" {
    fn insert(model, fields) -> String;
    fn get(model, id) -> Option<Entity>;
    fn update(model, id, fields) -> bool;
    fn update_where(model, filter, changes, returning) -> Updated;
    fn delete(model, id) -> bool;
    fn delete_where(model, filter) -> u64;
    fn query(model, select) -> Page;
    fn count(model, filter) -> u64;
    fn aggregate(model, query) -> Vec<crate::wit::kai::fusion::query::AggregateRow>;
});

interface!(models, "models" {
    fn get_collection(id) -> Collection;
    fn list_collections(limit, cursor) -> CollectionPage;
    fn create_collection(input) -> Collection;
    fn update_collection(id, patch) -> Collection;
    fn delete_collection(id) -> ();
    fn get_document(id) -> Document;
    fn query_documents(filter, order, limit, cursor) -> DocumentPage;
    fn search_documents(query, filter, limit, cursor) -> SearchPage;
    fn create_document(input) -> Document;
    fn update_document(id, patch, expected_version) -> Document;
    fn delete_document(id, expected_version) -> ();
    fn aggregate(model, query) -> Vec<crate::wit::kai::fusion::query::AggregateRow>;
});

interface!(kv, "kv" {
    fn get(key) -> Option<Vec<u8>>;
    fn set(key, value, ttl_ms) -> ();
    fn delete(key) -> bool;
    fn list_keys(prefix, after, limit) -> Vec<String>;
});

interface!(outbound_http, "outbound-http" {
    fn send(request) -> OutboundResponse;
});

interface!(credentials, "credentials" {
    fn reveal(name) -> String;
});

interface!(state, "state" {
    fn create_thread(input) -> Thread;
    fn get_thread(id) -> Thread;
    fn list_threads(limit, cursor) -> ThreadPage;
    fn update_thread(id, metadata, keep_last) -> Thread;
    fn delete_thread(id) -> ();
    fn put(thread_id, parent, values, metadata) -> Checkpoint;
    fn latest(thread_id) -> Option<Checkpoint>;
    fn get_checkpoint(thread_id, checkpoint_id) -> Checkpoint;
    fn history(thread_id, limit, cursor) -> CheckpointPage;
    fn put_writes(thread_id, checkpoint_id, task, writes) -> ();
    fn pending_writes(thread_id, checkpoint_id) -> Vec<PendingWrite>;
    fn fork(thread_id, checkpoint_id, metadata) -> Thread;
});

interface!(memory, "memory" {
    fn create_session(input) -> Session;
    fn get_session(id) -> Session;
    fn list_sessions(limit, cursor) -> SessionPage;
    fn update_session(id, change) -> Session;
    fn delete_session(id) -> ();
    fn append(session_id, messages) -> Vec<Message>;
    fn messages(session_id, limit, cursor) -> MessagePage;
    fn read_window(session_id, request) -> Window;
    fn set_summary(session_id, content, through_seq) -> Session;
    fn clear(session_id) -> u64;
    fn search(query, session_id, limit, cursor) -> SearchPage;
});
