//! A read-through cache of the plugins' key-value store, for the embedded
//! SQLite database.
//!
//! Every `kv.get` would otherwise be a query, and with SQLite a query is a
//! round trip to the connection's worker thread: tens of microseconds for a
//! read that takes one inside SQLite. Only this process writes the file, so
//! the cache can be exact:
//!
//! - It only ever holds committed values. A key a session has written is
//!   *pending* from that write until the session commits or rolls back
//!   ([`KvCache::begin_write`], [`KvCache::end_write`]): meanwhile every
//!   read of it goes to the database (so the writing session sees its own
//!   write, and others the committed value) and nothing may cache it.
//! - A read that raced a commit cannot leave the old value behind: it takes
//!   a [`Ticket`] (the invalidation count) before it queries, and its fill
//!   is dropped if anything was invalidated since.
//! - A read inside a transaction may fill too: with one writer at a time,
//!   what a transaction reads of a key that is not pending is what is
//!   committed.
//! - Entries keep their expiry; an expired entry answers "absent", as the
//!   row would.
//!
//! With PostgreSQL other nodes write the same rows, so the cache is off
//! and every read goes to the database.

use std::collections::HashMap;
use std::sync::Mutex;

/// Values larger than this are not cached (they are rare, and copying them
/// is not where the time goes).
const MAX_CACHED_VALUE: usize = 64 << 10;
/// Bytes of keys and values the cache may hold; when a fill would pass it,
/// the cache starts over empty.
const MAX_CACHED_BYTES: usize = 32 << 20;

/// What the cache knows of one key.
struct Entry {
    /// `None`: the key is absent.
    value: Option<Vec<u8>>,
    /// Microseconds since the epoch after which the value is gone.
    expires_at: Option<i64>,
}

/// Bytes an entry for `key` holding `value` counts against the cap.
fn size(key: &str, value: Option<&Vec<u8>>) -> usize {
    key.len() + value.map_or(0, Vec::len)
}

#[derive(Default)]
struct Entries {
    by_plugin: HashMap<String, HashMap<String, Entry>>,
    /// Keys written by sessions that have not finished: how many sessions.
    pending: HashMap<String, HashMap<String, u32>>,
    bytes: usize,
    /// Bumped by every invalidation.
    invalidations: u64,
}

impl Entries {
    fn is_pending(&self, plugin: &str, key: &str) -> bool {
        self.pending
            .get(plugin)
            .is_some_and(|keys| keys.contains_key(key))
    }

    /// Drops `key`'s entry and voids every ticket taken so far.
    fn forget(&mut self, plugin: &str, key: &str) {
        self.invalidations += 1;
        if let Some(entry) = self
            .by_plugin
            .get_mut(plugin)
            .and_then(|keys| keys.remove(key))
        {
            self.bytes -= size(key, entry.value.as_ref());
        }
    }
}

pub struct KvCache {
    enabled: bool,
    entries: Mutex<Entries>,
}

impl std::fmt::Debug for KvCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCache")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// Taken before a read that may fill the cache.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

/// The answer of [`KvCache::lookup`].
pub enum Lookup {
    /// The committed value (`None`: absent or expired).
    Hit(Option<Vec<u8>>),
    /// Read the database, then [`KvCache::fill`] with this ticket.
    Miss(Ticket),
}

impl KvCache {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// Whether entries are kept at all (SQLite) or every read goes to the
    /// database (PostgreSQL).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map stays consistent even if a holder panicked: every update
        // is a single insert or remove.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached value of `plugin`'s `key` at time `now` (microseconds).
    pub fn lookup(&self, plugin: &str, key: &str, now: i64) -> Lookup {
        if !self.enabled {
            // The ticket is never used: a disabled cache takes no fills.
            return Lookup::Miss(Ticket(0));
        }
        let entries = self.entries();
        let hit = entries
            .by_plugin
            .get(plugin)
            .and_then(|keys| keys.get(key))
            .map(|entry| match entry.expires_at {
                Some(at) if at <= now => None,
                _ => entry.value.clone(),
            });
        match hit {
            Some(value) => Lookup::Hit(value),
            None => Lookup::Miss(Ticket(entries.invalidations)),
        }
    }

    /// Remembers what a read found, unless something was invalidated since
    /// its `ticket` was taken or the key is being written.
    pub fn fill(
        &self,
        ticket: Ticket,
        plugin: &str,
        key: &str,
        value: Option<Vec<u8>>,
        expires_at: Option<i64>,
    ) {
        let added = size(key, value.as_ref());
        if !self.enabled || value.as_ref().is_some_and(|v| v.len() > MAX_CACHED_VALUE) {
            return;
        }
        let mut entries = self.entries();
        if entries.invalidations != ticket.0 || entries.is_pending(plugin, key) {
            return;
        }
        if entries.bytes + added > MAX_CACHED_BYTES {
            entries.by_plugin.clear();
            entries.bytes = 0;
        }
        let previous = entries
            .by_plugin
            .entry(plugin.to_string())
            .or_default()
            .insert(key.to_string(), Entry { value, expires_at });
        entries.bytes += added;
        if let Some(previous) = previous {
            entries.bytes -= size(key, previous.value.as_ref());
        }
    }

    /// A session wrote `plugin`'s `key` (not yet committed).
    pub fn begin_write(&self, plugin: &str, key: &str) {
        if !self.enabled {
            return;
        }
        let mut entries = self.entries();
        *entries
            .pending
            .entry(plugin.to_string())
            .or_default()
            .entry(key.to_string())
            .or_default() += 1;
        entries.forget(plugin, key);
    }

    /// The session that wrote `plugin`'s `key` committed or rolled back.
    pub fn end_write(&self, plugin: &str, key: &str) {
        if !self.enabled {
            return;
        }
        let mut entries = self.entries();
        if let Some(keys) = entries.pending.get_mut(plugin) {
            if let Some(count) = keys.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    keys.remove(key);
                }
            }
            if keys.is_empty() {
                entries.pending.remove(plugin);
            }
        }
        entries.forget(plugin, key);
    }

    /// Forgets everything of `plugin` (its store was purged).
    pub fn invalidate_plugin(&self, plugin: &str) {
        let mut entries = self.entries();
        entries.invalidations += 1;
        if let Some(cached) = entries.by_plugin.remove(plugin) {
            let freed: usize = cached
                .iter()
                .map(|(key, entry)| size(key, entry.value.as_ref()))
                .sum();
            entries.bytes -= freed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(lookup: Lookup) -> Option<Option<Vec<u8>>> {
        match lookup {
            Lookup::Hit(v) => Some(v),
            Lookup::Miss(_) => None,
        }
    }

    fn ticket(cache: &KvCache, plugin: &str, key: &str) -> Ticket {
        match cache.lookup(plugin, key, 0) {
            Lookup::Miss(t) => t,
            Lookup::Hit(_) => panic!("expected a miss"),
        }
    }

    #[test]
    fn a_fill_after_an_invalidation_is_dropped() {
        let cache = KvCache::new(true);
        let before = ticket(&cache, "p", "k");
        cache.begin_write("p", "k");
        cache.end_write("p", "k");
        cache.fill(before, "p", "k", Some(b"old".to_vec()), None);
        assert!(value(cache.lookup("p", "k", 0)).is_none());
        let fresh = ticket(&cache, "p", "k");
        cache.fill(fresh, "p", "k", Some(b"new".to_vec()), None);
        assert_eq!(
            value(cache.lookup("p", "k", 0)),
            Some(Some(b"new".to_vec()))
        );
    }

    #[test]
    fn a_pending_key_is_neither_served_nor_filled() {
        let cache = KvCache::new(true);
        let t = ticket(&cache, "p", "k");
        cache.fill(t, "p", "k", Some(b"committed".to_vec()), None);
        cache.begin_write("p", "k");
        cache.begin_write("p", "k");
        let during = ticket(&cache, "p", "k");
        cache.fill(during, "p", "k", Some(b"committed".to_vec()), None);
        assert!(value(cache.lookup("p", "k", 0)).is_none());
        cache.end_write("p", "k");
        // Another session still writes it.
        let t = ticket(&cache, "p", "k");
        cache.fill(t, "p", "k", Some(b"x".to_vec()), None);
        assert!(value(cache.lookup("p", "k", 0)).is_none());
        cache.end_write("p", "k");
        let t = ticket(&cache, "p", "k");
        cache.fill(t, "p", "k", Some(b"new".to_vec()), None);
        assert_eq!(
            value(cache.lookup("p", "k", 0)),
            Some(Some(b"new".to_vec()))
        );
        assert!(cache.entries().pending.is_empty());
        assert_eq!(cache.entries().bytes, "k".len() + 3);
    }

    #[test]
    fn expired_entries_answer_absent_and_plugins_are_apart() {
        let cache = KvCache::new(true);
        let t = ticket(&cache, "p", "k");
        cache.fill(t, "p", "k", Some(b"v".to_vec()), Some(100));
        assert_eq!(value(cache.lookup("p", "k", 99)), Some(Some(b"v".to_vec())));
        assert_eq!(value(cache.lookup("p", "k", 100)), Some(None));
        assert!(value(cache.lookup("q", "k", 0)).is_none());
        cache.invalidate_plugin("p");
        assert!(value(cache.lookup("p", "k", 0)).is_none());
        assert_eq!(cache.entries().bytes, 0);
    }

    #[test]
    fn a_disabled_cache_always_misses() {
        let cache = KvCache::new(false);
        let t = ticket(&cache, "p", "k");
        cache.fill(t, "p", "k", None, None);
        assert!(value(cache.lookup("p", "k", 0)).is_none());
    }
}
