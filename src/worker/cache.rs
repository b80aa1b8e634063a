//! What the isolate remembers between requests, so a warm request reads
//! nothing from KV: port keys and prices.
//!
//! A port key's record (the port it acts for) is remembered for
//! [`KEY_TTL_MS`], and a request presenting a remembered key, to the
//! gateway or to the API, reads nothing from KV. Revocation still binds the
//! very next request: revoking a key through the API records its hash in
//! the port's object first, and a request presenting a remembered key
//! carries its hash to the port's object, which refuses a revoked one
//! whatever an isolate remembers (and the isolate then forgets it); one
//! that reaches no object confirms the key with KV
//! ([`super::port_key`]). A record never changes otherwise (a key acts
//! for one port for its whole life); the delay only bounds how long a key
//! taken out of KV by hand, not through the API, keeps working. (Budgets
//! are not remembered: the port's gate enforces its own, so a saved budget
//! binds the very next call everywhere.)
//!
//! Prices (`price:v1:{model}` in KV) are remembered for [`PRICE_TTL_MS`]:
//! KV itself takes up to a minute to carry a change to other locations, so
//! a price change binds calls held or settled after it within that delay
//! plus [`PRICE_TTL_MS`] (`crate::worker::prices`); in the isolate that
//! saved it, at once (a write forgets what was remembered).
//!
//! Workers run one request at a time per isolate thread, so a thread-local
//! map is the isolate's memory; it is bounded by [`MAX_ENTRIES`].

use std::cell::RefCell;
use std::collections::HashMap;

use super::caller::Caller;

/// How long a port key's record is used before it is read from KV again
/// (a revocation through the API binds at once regardless: see above).
pub const KEY_TTL_MS: f64 = 300_000.0;
/// How long a price entry read from KV is used before it is read again.
pub const PRICE_TTL_MS: f64 = 10_000.0;
/// Entries kept per map; past it the map is emptied (a cold start's cost).
pub const MAX_ENTRIES: usize = 4_096;

struct Entry<T> {
    value: T,
    read_at_ms: f64,
}

#[derive(Default)]
struct Memory {
    keys: HashMap<String, Entry<Caller>>,
    /// Price entries by KV key (`None`: no entry).
    prices: HashMap<String, Entry<Option<String>>>,
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

/// A price entry's KV text (`Some(None)`: none) as read less than
/// [`PRICE_TTL_MS`] ago.
pub fn price(kv_key: &str, now_ms: f64) -> Option<Option<String>> {
    MEMORY.with(|m| fresh(&m.borrow().prices, kv_key, PRICE_TTL_MS, now_ms))
}

/// Remembers a price entry's KV text as read now.
pub fn remember_price(kv_key: &str, text: Option<String>, now_ms: f64) {
    MEMORY.with(|m| put(&mut m.borrow_mut().prices, kv_key, text, now_ms));
}

/// Forgets a price entry (this isolate changed it).
pub fn forget_price(kv_key: &str) {
    MEMORY.with(|m| m.borrow_mut().prices.remove(kv_key));
}
