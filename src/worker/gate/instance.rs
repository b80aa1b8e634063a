//! What one instance of a port's object keeps in memory (`Inner`: a
//! restart forgets it, the storage carries on), and the answers every part
//! of the object gives (an operation's JSON, a failure). The object's other
//! modules all build on this one.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use worker::{Env, Response, Result, State};

use super::protocol::GateFailure;
use super::storage::atomically;
use crate::allowance::{Sizing, DEFAULT_SIZING};
use crate::gate::wake::Courier;
use crate::gate::GateError;
use crate::worker::clock::Clock;

/// How a port sizes its asks of its group.
pub(super) const SIZING: Sizing = DEFAULT_SIZING;

/// Hashes an instance remembers; past it the memory starts again (a
/// lookup each, the notes being the record).
const MAX_REMEMBERED: usize = 4_096;

/// What an object instance knows of its port's keys: hash -> revoked
/// (`port_keys`).
#[derive(Default)]
pub(super) struct KnownKeys(HashMap<String, bool>);

impl KnownKeys {
    /// Whether the key with this hash was revoked, when looked up before.
    pub(super) fn get(&self, hash: &str) -> Option<bool> {
        self.0.get(hash).copied()
    }

    /// Remembers what the storage said of the key with this hash.
    pub(super) fn remember(&mut self, hash: &str, revoked: bool) {
        if self.0.len() >= MAX_REMEMBERED && !self.0.contains_key(hash) {
            self.0.clear();
        }
        self.0.insert(hash.to_owned(), revoked);
    }
}

/// What one instance of the object keeps in memory (a restart forgets it;
/// the storage carries on).
pub(super) struct Inner {
    pub(super) state: State,
    pub(super) env: Env,
    /// The port, once known (stored with the gate too).
    pub(super) port: RefCell<Option<String>>,
    /// Which shard of its port the object is (`Some(None)`: the port's own
    /// object), once known (stored with the gate too).
    pub(super) shard: Cell<Option<Option<u32>>>,
    /// True once the first-start import is known to be done.
    pub(super) ready: Cell<bool>,
    /// The clock the alarm runs on: the latest request's, going on.
    pub(super) clock: Cell<Clock>,
    /// Deliveries to D1: under way, owed, failing.
    pub(super) courier: RefCell<Courier>,
    /// When the alarm is set for (runtime ms), as far as this instance knows.
    pub(super) alarm_at: Cell<Option<f64>>,
    /// The alert outbox is being handed to the queue.
    pub(super) alerts_sending: Cell<bool>,
    /// What changes owe is being carried out (`courier::after_change`);
    /// changes made meanwhile join it.
    pub(super) gathering: Cell<bool>,
    /// Changes made by this instance, counted (for `gathering`).
    pub(super) changes: Cell<u64>,
    /// A reservation is asking the port's group for allowance since this
    /// runtime instant (ms; 0: none): the others short of it wait for that
    /// answer instead of asking too (for 2 s at most, should it be lost).
    pub(super) asking: Cell<f64>,
    /// When a change last started a delivery to D1 at once (runtime ms):
    /// changes soon after wait for the alarm to share a batch.
    pub(super) delivered_at: Cell<Option<i64>>,
    /// A shard: when it last told its port's object what it used (runtime
    /// ms), and whether a report waits for the interval's end.
    pub(super) reported_at: Cell<f64>,
    pub(super) report_waiting: Cell<bool>,
    /// The port keys this instance looked up: revoked or not.
    pub(super) keys: RefCell<KnownKeys>,
}

/// True when the test seams are on for this deployment.
pub(super) fn seams_on(env: &Env) -> bool {
    crate::worker::bindings::seams_on(env)
}

/// A JSON answer with `status`.
pub(super) fn json_answer<T: Serialize>(status: u16, value: &T) -> Result<Response> {
    super::tally::count(super::tally::Work::Json);
    Ok(Response::from_json(value)?.with_status(status))
}

/// The storage's or the request's failure, answered 503 with its message.
pub(super) fn failure(message: impl Into<String>) -> Result<Response> {
    json_answer(
        503,
        &GateFailure {
            message: message.into(),
        },
    )
}

impl Inner {
    /// A new instance's memory over the object's state.
    pub(super) fn new(state: State, env: Env) -> Inner {
        Inner {
            state,
            env,
            port: RefCell::new(None),
            shard: Cell::new(None),
            ready: Cell::new(false),
            clock: Cell::new(Clock::System),
            courier: RefCell::new(Courier::default()),
            alarm_at: Cell::new(None),
            alerts_sending: Cell::new(false),
            gathering: Cell::new(false),
            changes: Cell::new(0),
            asking: Cell::new(0.0),
            reported_at: Cell::new(0.0),
            delivered_at: Cell::new(None),
            report_waiting: Cell::new(false),
            keys: RefCell::default(),
        }
    }

    /// The instant by the object's clock.
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.get().now()
    }

    /// The port, once known.
    pub(super) fn port(&self) -> Option<String> {
        if let Some(port) = self.port.borrow().clone() {
            return Some(port);
        }
        let stored = atomically(&self.state, |g| g.port()).ok().flatten();
        self.port.replace(stored.clone());
        stored
    }

    /// How the object sizes its asks of its lender: a shard's way, or a
    /// port's under a group.
    pub(super) fn sizing(&self) -> Sizing {
        if self.shard().is_some() {
            crate::allowance::SHARD_SIZING
        } else {
            SIZING
        }
    }

    /// The shard of its port this object is (`None`: the port's own).
    pub(super) fn shard(&self) -> Option<u32> {
        if let Some(shard) = self.shard.get() {
            return shard;
        }
        let stored = atomically(&self.state, |g| g.shard());
        if let Ok(shard) = stored {
            self.shard.set(Some(shard));
        }
        stored.ok().flatten()
    }
}

/// The answer of an operation: its JSON, or the storage's failure (503).
pub(super) fn answer<T: Serialize>(out: std::result::Result<T, GateError>) -> Result<Response> {
    match out {
        Ok(value) => json_answer(200, &value),
        Err(e) => {
            worker::console_error!("gate: {e}");
            failure(e.0)
        }
    }
}

/// Another handle on the same object state, for work that outlives the
/// request (`wait_until`, `block_concurrency_while` take `'static`s).
pub(super) fn another_handle(state: &State) -> State {
    let raw: &JsValue = state.as_raw().as_ref();
    State::from(
        raw.clone()
            .unchecked_into::<worker::worker_sys::DurableObjectState>(),
    )
}
