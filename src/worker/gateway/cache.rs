//! Port keys the isolate remembers between gateway calls, so the common call
//! reads nothing from KV before its hold.
//!
//! A port key's record is remembered for [`KEY_TTL_MS`]. A remembered key
//! lets the hold start at once, but the key is still read from KV on every
//! call, in parallel with the hold, and nothing is forwarded until that read
//! confirms it: a revoked key is refused at once, its hold released.
//! (Budgets are not remembered: the port's gate enforces its own, so a saved
//! budget binds the very next call everywhere.)
//!
//! Workers run one request at a time per isolate thread, so a thread-local
//! map is the isolate's memory; it is bounded by [`MAX_ENTRIES`].

use std::cell::RefCell;
use std::collections::HashMap;

use super::super::auth::Caller;

/// How long a port key's record is trusted before its hold (it is always
/// confirmed before the call is forwarded).
pub const KEY_TTL_MS: f64 = 30_000.0;
/// Entries kept per map; past it the map is emptied (a cold start's cost).
pub const MAX_ENTRIES: usize = 4_096;

struct Entry<T> {
    value: T,
    read_at_ms: f64,
}

#[derive(Default)]
struct Memory {
    keys: HashMap<String, Entry<Caller>>,
}

thread_local! {
    static MEMORY: RefCell<Memory> = RefCell::new(Memory::default());
}

fn fresh<T: Clone>(map: &HashMap<String, Entry<T>>, key: &str, ttl: f64, now_ms: f64) -> Option<T> {
    map.get(key)
        .filter(|e| now_ms - e.read_at_ms < ttl && now_ms >= e.read_at_ms)
        .map(|e| e.value.clone())
}

fn put<T>(map: &mut HashMap<String, Entry<T>>, key: &str, value: T, now_ms: f64) {
    if map.len() >= MAX_ENTRIES && !map.contains_key(key) {
        map.clear();
    }
    map.insert(
        key.to_owned(),
        Entry {
            value,
            read_at_ms: now_ms,
        },
    );
}

/// The port caller a key (by its SHA-256 hash) was last confirmed as, if
/// that was less than [`KEY_TTL_MS`] ago.
pub fn key(hash: &str, now_ms: f64) -> Option<Caller> {
    MEMORY.with(|m| fresh(&m.borrow().keys, hash, KEY_TTL_MS, now_ms))
}

/// Remembers that the key with this hash acts as `caller`.
pub fn remember_key(hash: &str, caller: Caller, now_ms: f64) {
    MEMORY.with(|m| put(&mut m.borrow_mut().keys, hash, caller, now_ms));
}

/// Forgets a key (it was refused or revoked).
pub fn forget_key(hash: &str) {
    MEMORY.with(|m| m.borrow_mut().keys.remove(hash));
}
