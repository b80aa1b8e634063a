//! `PortGate`: the Durable Object that is one port's gate. This file is its
//! transport: it reads a request, runs the gate's one entry
//! ([`crate::gate::Gate::apply`]) in one synchronous storage transaction,
//! so nothing interleaves inside it, and answers. What happens after (the
//! outbox delivered to D1, the budget to KV, alert events to the queue,
//! the alarm set for what [`crate::gate::wake`] says is next) is
//! `courier`'s execution.
//!
//! On its first start on a deployment that already has data the object
//! takes the port's budget from KV and its counters and holds from D1,
//! once, before any other request runs (`first_start`).
//!
//! Requests come from the Worker only ([`super::client`]): the operation as
//! JSON, the port in `x-port`, and under the test seams the instant in
//! `x-now` and faults in `x-fault` (`gate.restart`: abort before the
//! operation; `gate.restart:after`: abort after it was stored, before the
//! answer; `d1:down` / `d1:up`: every D1 call of the object (its first-start
//! import, its deliveries) fails until told otherwise; `d1.import` and the
//! other D1 points as elsewhere, for one request).
//!
//! The alarm also gives a port's unused allowance back to its group when
//! the port has been idle for the return delay, with no request needed.

// `#[durable_object]` generates the class's JS-facing constructor and
// methods, which carry no doc comments of their own.
#![allow(missing_docs)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::courier;
use super::first_start::ensure_ready;
use super::lending::{allowance_grant, report_usage, reserve, tell_group};
use super::protocol::{answer_of, Elsewhere, GateFailure, GateRequest, SyncAnswer};
use super::shard_exchange::{shard_ready, shard_report};
use super::storage::{self, atomically, reading};
use super::tally::{Tally, WORK_HEADER};
use crate::allowance::Sizing;
use crate::gate::carried::{self, CARRIED_HEADER};
use crate::gate::wake::Courier;
use crate::gate::{GateError, Operation, Outcome, SaveOutcome};
use crate::group::{child_key, ChildKind};
use crate::worker::alerts::outbox as alerts;
use crate::worker::clock::{self, Clock};
use crate::worker::fault::Faults;
use crate::worker::group::client::GroupClient;
use crate::worker::port_key::KEY_HEADER;

/// One port's gate, as a SQLite-backed Durable Object.
#[durable_object]
pub struct PortGate {
    inner: Rc<Inner>,
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
    pub(super) keys: RefCell<super::port_keys::KnownKeys>,
}

fn seams_on(env: &Env) -> bool {
    crate::worker::bindings::seams_on(env)
}

pub(super) fn json_answer<T: Serialize>(status: u16, value: &T) -> Result<Response> {
    super::tally::count(super::tally::Work::Json);
    Ok(Response::from_json(value)?.with_status(status))
}

pub(super) fn failure(message: impl Into<String>) -> Result<Response> {
    json_answer(
        503,
        &GateFailure {
            message: message.into(),
        },
    )
}

impl Inner {
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
            super::lending::SIZING
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

impl DurableObject for PortGate {
    fn new(state: State, env: Env) -> PortGate {
        storage::new_instance(&state.id().to_string());
        PortGate {
            inner: Rc::new(Inner {
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
            }),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let inner = &self.inner;
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let seams = seams_on(&inner.env);
        let clock = Clock::for_request(seams, header(clock::NOW_HEADER).as_deref());
        let now = clock.now();
        if let Clock::Fixed(_) = clock {
            inner.clock.set(clock.running_on());
        }
        let faults = Rc::new(Faults::from_header(seams, header("x-fault")));
        let Some(port) = header("x-port").filter(|p| !p.is_empty()) else {
            return failure("the request names no port");
        };
        if faults.before("gate.restart").is_some() {
            return abort(&inner.state).await;
        }
        if let Some(sticky) = faults.sticky("d1").filter(|_| seams) {
            let down = sticky == "down";
            let _ = atomically(&inner.state, move |g| {
                g.set_note(courier::D1_DOWN_NOTE, down.then_some("1"))
            });
        }
        let shard = header(super::client::SHARD_HEADER).and_then(|k| k.parse::<u32>().ok());
        let ready = match shard {
            Some(shard) => shard_ready(inner, &port, shard, now).await,
            None => ensure_ready(inner, &port, &faults, now).await,
        };
        if let Err(message) = ready {
            return failure(message);
        }
        if let Some(hash) = header(KEY_HEADER) {
            // An unconfirmed port key (`crate::worker::port_key`): refused
            // here, before anything is done, when it was revoked.
            if shard.is_some() {
                return failure("a shard does not confirm port keys");
            }
            match super::port_keys::revoked(inner, &hash) {
                Ok(false) => {}
                Ok(true) => return super::port_keys::refused_request(),
                Err(e) => return failure(e.0),
            }
        }
        // Read as text and parsed by serde_json, not as a JS value: an amount
        // past 2^53 - 1 (a money bound of an absurd call) arrives exactly, and
        // the gate refuses it as `total-too-large` instead of the transport
        // failing on a number JavaScript cannot hold.
        let carrying = header(CARRIED_HEADER);
        let text = match req.text().await {
            Ok(text) => text,
            Err(e) => return failure(format!("{}: {e}", super::client::NOT_VALID)),
        };
        // Settlements this request carries (`crate::gate::carried`), then
        // its own operation.
        let count = carrying.map_or(Ok(0), |n| n.parse::<usize>());
        let split = count
            .map_err(|e| e.to_string())
            .and_then(|count| carried::split_request(&text, count));
        let (riders, own) = match split {
            Ok(split) => split,
            Err(e) => return failure(format!("{}: {e}", super::client::NOT_VALID)),
        };
        super::tally::count(super::tally::Work::Json);
        let request: GateRequest = match serde_json::from_str(own) {
            Ok(request) => request,
            Err(e) => return failure(format!("{}: {e}", super::client::NOT_VALID)),
        };
        // Under the test seams the answer tells the SQL the operation ran
        // (from here on: no other request's work runs in between, unless
        // the operation waits on a group).
        let tally = seams.then(Tally::now);
        let (carried_answers, carried_changed) = super::carry::run(inner, seams, &riders).await;
        if let (Clock::Fixed(_), false) = (clock, riders.is_empty()) {
            // A carried commit at its own fixed instant moved the object's
            // clock, as it would have sent alone: this request's again.
            inner.clock.set(clock.running_on());
        }
        let (mut answer, changed) = operate(inner, request, now, &faults).await;
        let changed = changed || carried_changed;
        if !carried_answers.is_empty() {
            answer = super::carry::with_answers(answer, &carried_answers).await;
        }
        if let (Some(start), Ok(response)) = (tally, &mut answer) {
            let ran = Tally::now().since(&start).object_side();
            let _ = response.headers_mut().set(WORK_HEADER, &ran);
        }
        if changed {
            courier::after_change(inner);
        }
        if faults.after("gate.restart").is_some() {
            // The operation is stored; its answer is lost with the object.
            let _ = inner.state.storage().sync().await;
            return abort(&inner.state).await;
        }
        answer
    }

    async fn alarm(&self) -> Result<Response> {
        let inner = self.inner.clone();
        inner.alarm_at.set(None);
        let now = inner.now();
        if inner.port().is_none() {
            return Response::ok("no port yet");
        }
        // Expired holds and period resets move the thresholds too.
        match atomically(&inner.state, move |g| g.apply(Operation::Tick, now)) {
            Ok(applied) if applied.alerts > 0 => {
                alerts::mark_written(&inner.state.id().to_string())
            }
            Ok(_) => {}
            Err(e) => worker::console_error!("gate alarm: {e}"),
        }
        // A port under a group idle for the return delay (or past its
        // group's period end) gives its unused allowance back on its own.
        let sizing = inner.sizing();
        if let Ok(Some(report)) = atomically(&inner.state, move |g| g.allowance_due(&sizing, now)) {
            tell_group(&inner, report, now).await;
        }
        // Whatever expired, and whatever an earlier delivery left behind.
        inner.courier.borrow_mut().touch();
        courier::deliver(inner.clone()).await;
        courier::send_alerts(&inner, true).await;
        courier::sync_budget_replica(&inner, Rc::new(Faults::none())).await;
        courier::schedule(&inner).await;
        Response::ok("alarm")
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

/// Restarts the object (a test seam): a failed `blockConcurrencyWhile`
/// makes the runtime reset it, after this request, from outside any Rust
/// frame; the next request meets a new instance over the same storage.
async fn abort(state: &State) -> Result<Response> {
    let _ = state
        .block_concurrency_while(async {
            Err::<(), worker::Error>("restarted by a test fault".into())
        })
        .await;
    failure("the port's gate restarted")
}

impl From<GateError> for worker::Error {
    fn from(e: GateError) -> worker::Error {
        worker::Error::RustError(e.0)
    }
}

/// Runs one request and answers it; true when it may have changed what
/// the stores of record are owed.
pub(super) async fn operate(
    inner: &Rc<Inner>,
    request: GateRequest,
    now: DateTime<Utc>,
    faults: &Rc<Faults>,
) -> (Result<Response>, bool) {
    let state = &inner.state;
    if matches!(request, GateRequest::View { sync: true, .. }) {
        // What is due now first, so the stores of record get it too.
        if let Err(e) = atomically(state, move |g| g.expire_due(now)) {
            worker::console_error!("gate: {e}");
        }
        courier::catch_up(inner, faults).await;
    }
    if matches!(request, GateRequest::SeedHistory { .. }) && !seams_on(&inner.env) {
        return (failure("seeding is a test seam"), false);
    }
    if let GateRequest::Allowance { grant } = request {
        return (allowance_grant(inner, grant, now), true);
    }
    if let GateRequest::ShardReport {
        shard,
        report,
        request_id,
    } = request
    {
        let answer = shard_report(inner, shard, report, request_id, now).await;
        // What the shards used is the port's: a port under a group tells
        // it after the answer, off the shard's path.
        let inner = inner.clone();
        another_handle(state).wait_until(async move { report_usage(&inner, now).await });
        return (answer, true);
    }
    if let Some(elsewhere) = elsewhere(inner, &request) {
        return (json_answer(200, &elsewhere), false);
    }
    // What the port owes its group on its own first (allowance given back
    // when idle or at the group's reset), so the group's view is current.
    let sizing = inner.sizing();
    if let Ok(Some(report)) = reading(state, move |g| g.allowance_due(&sizing, now)) {
        tell_group(inner, report, now).await;
    }
    let settles = matches!(
        request,
        GateRequest::Commit { .. } | GateRequest::Record { .. } | GateRequest::Release { .. }
    );
    if let GateRequest::Reserve { hold } = request {
        return (answer(reserve(inner, hold, now).await.map(answer_of)), true);
    }
    if let GateRequest::GatewayReserve { hold, key } = request {
        return (
            answer(
                super::gateway_hold::reserve(inner, hold, key.as_deref(), now)
                    .await
                    .map(answer_of),
            ),
            true,
        );
    }
    if let GateRequest::RevokeKeys { hashes } = request {
        return (answer(super::port_keys::revoke(inner, &hashes)), false);
    }
    let Some(operation) = request.operation() else {
        // `Sync`: the object's own work, then how much is left.
        courier::catch_up(inner, faults).await;
        let left = atomically(state, |g| g.pending_count());
        return (
            answer(left.map(|pending_entries| SyncAnswer { pending_entries })),
            false,
        );
    };
    let changes = operation.changes();
    // What only reads runs without a storage transaction (one that finds
    // something to write, say a hold expired, is run again in one).
    let applied = if changes {
        atomically(state, move |g| g.apply(operation, now))
    } else {
        reading(state, move |g| g.apply(operation.clone(), now))
    };
    if settles {
        // Usage reaches the lender after the answer, off the call's path.
        let inner = inner.clone();
        another_handle(state).wait_until(async move { report_usage(&inner, now).await });
    }
    if let Ok(applied) = &applied {
        if applied.alerts > 0 {
            alerts::mark_written(&state.id().to_string());
        }
        if matches!(applied.result, Outcome::Save(SaveOutcome::Saved { .. })) {
            courier::sync_budget_replica(inner, faults.clone()).await;
        }
    }
    // A group the port left gets its allowance back (sent after the save,
    // and again after any later save until it is through).
    let saved = matches!(&applied, Ok(a) if matches!(a.result, Outcome::Save(_)));
    if let Some(Ok(Some(farewell))) = saved.then(|| atomically(state, |g| g.farewell())) {
        let port = inner.port().unwrap_or_default();
        let sent = GroupClient::new(&inner.env, &farewell.group, Clock::Fixed(now))
            .report(&child_key(ChildKind::Port, &port), &farewell.report)
            .await;
        if sent.is_ok() {
            let _ = atomically(state, |g| g.farewell_sent());
        }
    }
    (answer(applied.map(answer_of)), changes)
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

/// A reservation or a usage write that reached the port's own object while
/// the port has shards: it belongs to a shard, and the Worker sends it
/// there. (The gateway's holds stay in the port's own object, where its
/// settings and throttle are judged.)
fn elsewhere(inner: &Rc<Inner>, request: &GateRequest) -> Option<Elsewhere> {
    if !matches!(
        request,
        GateRequest::Reserve { .. } | GateRequest::Record { .. }
    ) || inner.shard().is_some()
    {
        return None;
    }
    let shards = reading(&inner.state, |g| g.budget().map(|b| b.shards)).ok()?;
    (shards > 1).then_some(Elsewhere { elsewhere: shards })
}
