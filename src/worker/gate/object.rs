//! `PortGate`: the Durable Object that is one port's gate.
//!
//! Each request runs one gate operation ([`crate::gate::Gate`]) in one
//! synchronous storage transaction, so nothing interleaves inside it. After
//! a change the object delivers its outbox to D1 (the ledger of record)
//! right away, off the request's path, and again from its alarm with
//! backoff while D1 fails; the same alarm expires holds at their expiry and
//! prunes what the gate no longer needs. On its first start on a
//! deployment that already has data it takes the port's budget from KV and
//! its counters and holds from D1, once, before any other request runs.
//!
//! Each change also notices, in its own transaction, the alert thresholds
//! it crossed or resolved ([`crate::alerts::watch`]); the events go to the
//! alert queue after the answer, and the alarm comes back for what the
//! queue did not take and for the period end of a raised crossing.
//!
//! Requests come from the Worker only ([`super::client`]): the operation as
//! JSON, the port in `x-port`, and under the test seams the instant in
//! `x-now` and faults in `x-fault` (`gate.restart`: abort before the
//! operation; `gate.restart:after`: abort after it was stored, before the
//! answer; `d1:down` / `d1:up`: every D1 call of the object (its first-start
//! import, its deliveries) fails until told otherwise; `d1.import` and the
//! other D1 points as elsewhere, for one request).

// `#[durable_object]` generates the class's JS-facing constructor and
// methods, which carry no doc comments of their own.
#![allow(missing_docs)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::protocol::{
    AlertsAnswer, Answered, GateFailure, GateRequest, HoldAnswer, HoldsAnswer, SyncAnswer,
};
use super::storage::{atomically, ObjectSql};
use crate::gate::{Entry, Gate, GateError, Import, SaveOutcome, COUNTER_RETENTION_DAYS};
use crate::ledger::delivery::{self, Delivered, OnFailure, Snapshot};
use crate::ledger::reports;
use crate::time::instant;
use crate::worker::alerts::outbox as alerts;
use crate::worker::clock::{self, Clock};
use crate::worker::d1::{StoreError, D1};
use crate::worker::fault::Faults;
use crate::worker::settings::Settings;

/// The longest wait between two delivery attempts while D1 fails.
const MAX_BACKOFF_MS: f64 = 60_000.0;
/// A delivery started right after a change is retried from the alarm this
/// long later if it never finished (the object was evicted mid-flight).
const BACKSTOP_MS: f64 = 5_000.0;
/// How often the alarm prunes what the gate no longer needs.
const PRUNE_EVERY_MS: f64 = 86_400_000.0;
/// How soon a change of holds alone (a reservation, a release) reaches the
/// port list's snapshot in D1: deliveries of such changes are batched.
const SNAPSHOT_DELAY_MS: f64 = 1_000.0;
/// How long a `sync` waits for a delivery already under way.
const SYNC_WAIT_MS: f64 = 5_000.0;
/// End users listed nearest their caps in a report.
const TOP_USERS: u32 = 10;

/// One port's gate, as a SQLite-backed Durable Object.
#[durable_object]
pub struct PortGate {
    inner: Rc<Inner>,
}

struct Inner {
    state: State,
    env: Env,
    /// The port, once known (stored with the gate too).
    port: RefCell<Option<String>>,
    /// True once the first-start import is known to be done.
    ready: Cell<bool>,
    /// Test seams only: how far the requests' clock is from the runtime's
    /// (ms), so the alarm runs on the same clock as the requests.
    offset_ms: Cell<f64>,
    /// A delivery to D1 is under way.
    delivering: Cell<bool>,
    /// Something changed since the last delivery began.
    dirty: Cell<bool>,
    /// Consecutive failed deliveries (for the backoff).
    failures: Cell<u32>,
    /// When the alarm is set for (runtime ms), as far as this instance knows.
    alarm_at: Cell<Option<f64>>,
    /// The alert outbox is being handed to the queue.
    alerts_sending: Cell<bool>,
}

fn seams_on(env: &Env) -> bool {
    crate::worker::bindings::seams_on(env)
}

fn json_answer<T: Serialize>(status: u16, value: &T) -> Result<Response> {
    Ok(Response::from_json(value)?.with_status(status))
}

fn failure(message: impl Into<String>) -> Result<Response> {
    json_answer(
        503,
        &GateFailure {
            message: message.into(),
        },
    )
}

impl Inner {
    /// The instant by the requests' clock (the runtime's, shifted by the
    /// tests' offset).
    fn now(&self) -> DateTime<Utc> {
        clock::instant_of_ms(clock::system_ms() + self.offset_ms.get())
    }

    fn port(&self) -> Option<String> {
        if let Some(port) = self.port.borrow().clone() {
            return Some(port);
        }
        let stored = atomically(&self.state, |g| g.port()).ok().flatten();
        self.port.replace(stored.clone());
        stored
    }

    /// The runtime instant (ms) of an instant by the requests' clock.
    fn runtime_ms(&self, at_ms: i64) -> f64 {
        at_ms as f64 - self.offset_ms.get()
    }
}

impl DurableObject for PortGate {
    fn new(state: State, env: Env) -> PortGate {
        PortGate {
            inner: Rc::new(Inner {
                state,
                env,
                port: RefCell::new(None),
                ready: Cell::new(false),
                offset_ms: Cell::new(0.0),
                delivering: Cell::new(false),
                dirty: Cell::new(false),
                failures: Cell::new(0),
                alarm_at: Cell::new(None),
                alerts_sending: Cell::new(false),
            }),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let inner = &self.inner;
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let seams = seams_on(&inner.env);
        let clock = Clock::for_request(seams, header(clock::NOW_HEADER).as_deref());
        let now = clock.now();
        if let Clock::Fixed(at) = clock {
            inner
                .offset_ms
                .set(at.timestamp_millis() as f64 - clock::system_ms());
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
                g.set_note("d1-down", down.then_some("1"))
            });
        }
        if let Err(message) = ensure_ready(inner, &port, &faults, now).await {
            return failure(message);
        }
        // Read as text and parsed by serde_json, not as a JS value: an amount
        // past 2^53 - 1 (a money bound of an absurd call) arrives exactly, and
        // the gate refuses it as `total-too-large` instead of the transport
        // failing on a number JavaScript cannot hold.
        let request: GateRequest = match req
            .text()
            .await
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(request) => request,
            Err(e) => return failure(format!("the gate request is not valid: {e}")),
        };
        let changes = !matches!(
            request,
            GateRequest::View { .. }
                | GateRequest::Check { .. }
                | GateRequest::Hold { .. }
                | GateRequest::Holds { .. }
                | GateRequest::Sync
                | GateRequest::Alerts { percents: None }
        );
        let answer = operate(inner, request, now, &faults).await;
        if changes {
            after_change(inner);
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
        let sql = alerts::tables(&inner.state);
        let object = inner.state.id().to_string();
        let prune_due = atomically(&inner.state, move |g| {
            g.expire_due(now)?;
            // Expired holds and period resets move the thresholds too.
            alerts::observe(g, &sql, &object, now)?;
            let last = g
                .note("pruned-at")?
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
            let due = now.timestamp_millis() as f64 - last >= PRUNE_EVERY_MS;
            if due {
                g.prune(now)?;
                alerts::prune(&sql, now)?;
                g.set_note("pruned-at", Some(&now.timestamp_millis().to_string()))?;
            }
            Ok(due)
        });
        if let Err(e) = prune_due {
            worker::console_error!("gate alarm: {e}");
        }
        // Whatever expired, and whatever an earlier delivery left behind.
        inner.dirty.set(true);
        deliver(inner.clone()).await;
        send_alerts(&inner, true).await;
        sync_budget_replica(&inner, Rc::new(Faults::none())).await;
        schedule(&inner).await;
        Response::ok("alarm")
    }
}

/// Another handle on the same object state, for work that outlives the
/// request (`wait_until`, `block_concurrency_while` take `'static`s).
fn another_handle(state: &State) -> State {
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

/// Takes the port's state from KV and D1 the first time the object starts,
/// before any other request runs.
async fn ensure_ready(
    inner: &Rc<Inner>,
    port: &str,
    faults: &Rc<Faults>,
    now: DateTime<Utc>,
) -> std::result::Result<(), String> {
    if inner.ready.get() {
        return Ok(());
    }
    let imported = atomically(&inner.state, |g| g.imported()).map_err(|e| e.0)?;
    if imported {
        inner.ready.set(true);
        inner.port.replace(Some(port.to_owned()));
        return Ok(());
    }
    let state = another_handle(&inner.state);
    let env = inner.env.clone();
    let port = port.to_owned();
    let faults = faults.clone();
    let import = async move {
        // Another request may have imported while this one waited.
        if atomically(&state, |g| g.imported())? {
            return Ok(Ok(()));
        }
        let since = now.timestamp_millis() - COUNTER_RETENTION_DAYS * 86_400_000;
        let down = atomically(&state, |g| g.note("d1-down"))?.is_some();
        let faults = if down {
            Rc::new(Faults::from_header(true, Some("d1.import".into())))
        } else {
            faults
        };
        let d1 = D1::new(env.d1("DB")?, faults.clone());
        let results = match d1.run("d1.import", &reports::import(&port, since)).await {
            Ok(results) => results,
            Err(e) => return Ok(Err(format!("D1 could not be read: {e:?}"))),
        };
        let mut import: Import = reports::import_of(&results);
        let settings = Settings::new(env.kv("BUDGETS")?, faults);
        import.budget = match settings.saved_budget(&port).await {
            Ok(budget) => budget,
            Err(e) => return Ok(Err(format!("KV could not be read: {e:?}"))),
        };
        atomically(&state, move |g| {
            g.import(&import)?;
            g.set_port(&port)
        })?;
        Ok::<_, worker::Error>(Ok(()))
    };
    // A failure is answered, not thrown: a thrown one would reset the
    // object, for nothing (it has nothing in memory to lose).
    inner
        .state
        .block_concurrency_while(import)
        .await
        .map_err(|e| format!("the port's state could not be read: {e}"))?
        .map_err(|e| format!("the port's state could not be read: {e}"))?;
    inner.ready.set(true);
    Ok(())
}

impl From<GateError> for worker::Error {
    fn from(e: GateError) -> worker::Error {
        worker::Error::RustError(e.0)
    }
}

/// Runs one operation and answers it.
async fn operate(
    inner: &Rc<Inner>,
    request: GateRequest,
    now: DateTime<Utc>,
    faults: &Rc<Faults>,
) -> Result<Response> {
    let state = &inner.state;
    let out = match request {
        GateRequest::View {
            feature,
            sync: first,
            caps,
        } => {
            if first {
                // What is due now first, so the stores of record get it too.
                if let Err(e) = atomically(state, move |g| g.expire_due(now)) {
                    worker::console_error!("gate: {e}");
                }
                catch_up(inner, faults).await;
            }
            atomically(state, move |g| {
                let mut view = g.view(feature.as_deref(), now)?;
                if caps {
                    view.caps = Some(g.caps_report(&view.budget, TOP_USERS, now)?);
                }
                Ok(view)
            })
            .map(|v| to_json(&v))
        }
        GateRequest::Check {
            feature,
            user_id,
            estimated_tokens,
        } => atomically(state, move |g| {
            g.check(&feature, user_id.as_deref(), estimated_tokens, now)
        })
        .map(|c| to_json(&c)),
        GateRequest::Reserve { hold } => answered(state, now, move |g| g.reserve(&hold, now)),
        GateRequest::Commit {
            id,
            usage,
            body_hash,
            write_id,
        } => answered(state, now, move |g| {
            g.commit(&id, &usage, &body_hash, &write_id, now)
        }),
        GateRequest::Release { id } => answered(state, now, move |g| g.release(&id, now)),
        GateRequest::Record {
            usage,
            request_id,
            body_hash,
            write_id,
            occurred_at,
        } => answered(state, now, move |g| {
            g.record(
                &usage,
                &request_id,
                &body_hash,
                &write_id,
                instant(occurred_at),
                now,
            )
        }),
        GateRequest::SaveBudget {
            update,
            if_match,
            actor,
        } => {
            let sql = alerts::tables(state);
            let object = state.id().to_string();
            let saved = atomically(state, move |g| {
                let outcome = g.save_budget(&update, if_match.as_deref(), &actor, now)?;
                if matches!(outcome, SaveOutcome::Saved { .. }) {
                    g.set_note("budget-replica", Some("pending"))?;
                    // A raised cap resolves crossings; a lowered one raises them.
                    alerts::observe(g, &sql, &object, now)?;
                }
                Ok(outcome)
            });
            if matches!(saved, Ok(SaveOutcome::Saved { .. })) {
                sync_budget_replica(inner, faults.clone()).await;
            }
            saved.map(|v| to_json(&v))
        }
        GateRequest::Hold { id } => {
            atomically(state, move |g| g.hold(&id)).map(|hold| to_json(&HoldAnswer { hold }))
        }
        GateRequest::Holds { all, limit } => atomically(state, move |g| g.holds(all, limit))
            .map(|holds| to_json(&HoldsAnswer { holds })),
        GateRequest::SeedHistory { rows, users } => {
            if !seams_on(&inner.env) {
                return failure("seeding is a test seam");
            }
            atomically(state, move |g| g.seed_history(rows, users, now)).map(|()| to_json(&()))
        }
        GateRequest::Alerts { percents } => {
            let sql = alerts::tables(state);
            let object = state.id().to_string();
            let answer = atomically(state, move |g| {
                let percents = match percents {
                    Some(p) => {
                        let saved = crate::alerts::watch::set_percents(&sql, &p)?;
                        alerts::observe(g, &sql, &object, now)?;
                        saved
                    }
                    None => crate::alerts::watch::percents(&sql)?,
                };
                Ok(AlertsAnswer { percents })
            });
            answer.map(|a| to_json(&a))
        }
        GateRequest::Sync => {
            catch_up(inner, faults).await;
            atomically(state, |g| g.pending_count())
                .map(|pending_entries| to_json(&SyncAnswer { pending_entries }))
        }
    };
    match out {
        Ok(value) => json_answer(200, &value),
        Err(e) => {
            worker::console_error!("gate: {e}");
            failure(e.0)
        }
    }
}

/// Runs a changing operation and answers its outcome with the budget the
/// gate decided under, read in the same transaction.
fn answered<T: Serialize + 'static>(
    state: &State,
    now: DateTime<Utc>,
    op: impl FnOnce(&Gate<'_, ObjectSql>) -> std::result::Result<T, GateError> + 'static,
) -> std::result::Result<serde_json::Value, GateError> {
    let sql = alerts::tables(state);
    let object = state.id().to_string();
    atomically(state, move |g| {
        let result = op(g)?;
        // Crossings are noticed in the change's own transaction: once.
        alerts::observe(g, &sql, &object, now)?;
        Ok(to_json(&Answered {
            budget: g.budget()?,
            result,
        }))
    })
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// After a change: ledger entries go to D1 now (off the request's path); a
/// change of holds alone reaches the port list's snapshot within
/// [`SNAPSHOT_DELAY_MS`], batched by the alarm. Either way the alarm is set
/// for what is due.
fn after_change(inner: &Rc<Inner>) {
    inner.dirty.set(true);
    let inner = inner.clone();
    let state = another_handle(&inner.state);
    state.wait_until(async move {
        send_alerts(&inner, false).await;
        let entries = atomically(&inner.state, |g| g.pending_count()).unwrap_or(1);
        let soon = clock::system_ms() + SNAPSHOT_DELAY_MS;
        if entries == 0 && inner.alarm_at.get().is_some_and(|at| at <= soon) {
            return;
        }
        if entries > 0 {
            deliver(inner.clone()).await;
        }
        schedule(&inner).await;
    });
}

/// Hands the alert outbox to the queue (off every request's path):
/// `always` from the alarm, else only when a change wrote events.
async fn send_alerts(inner: &Rc<Inner>, always: bool) {
    if let Some(port) = inner.port() {
        let now = inner.now().timestamp_millis();
        alerts::send(
            &inner.state,
            &inner.env,
            &port,
            &inner.alerts_sending,
            always,
            now,
        )
        .await;
    }
}

/// Brings the stores of record up to date: the ledger to D1, the budget to
/// KV (for reports, which read them next).
async fn catch_up(inner: &Rc<Inner>, faults: &Rc<Faults>) {
    sync(inner.clone()).await;
    sync_budget_replica(inner, faults.clone()).await;
}

/// Waits for a delivery under way, then delivers what is left.
async fn sync(inner: Rc<Inner>) {
    let deadline = clock::system_ms() + SYNC_WAIT_MS;
    while inner.delivering.get() && clock::system_ms() < deadline {
        worker::Delay::from(std::time::Duration::from_millis(2)).await;
    }
    inner.dirty.set(true);
    deliver(inner).await;
}

/// Delivers the outbox to D1 until nothing is left or D1 fails. One
/// delivery runs at a time; changes made meanwhile are picked up by the
/// loop.
async fn deliver(inner: Rc<Inner>) {
    if inner.delivering.replace(true) {
        return;
    }
    let Some(port) = inner.port() else {
        inner.delivering.set(false);
        return;
    };
    // Entries per batch: one at a time after D1 refused a batch for good,
    // until the row at fault is found and set aside.
    let mut size = delivery::BATCH_ENTRIES as u32;
    loop {
        if !inner.dirty.replace(false) {
            break;
        }
        let now = inner.now();
        let batch = atomically(&inner.state, move |g| {
            let pending = g.pending(size)?;
            let (open_holds, held_tokens, held_usd) = g.open_holds()?;
            let total = g.pending_count()?;
            let down = g.note("d1-down")?.is_some();
            Ok((pending, open_holds, (held_tokens, held_usd), total, down))
        });
        let Ok((pending, open_holds, (held_tokens, held_usd), total, down)) = batch else {
            break;
        };
        let snapshot = Snapshot {
            held_tokens,
            held_usd,
            open_holds,
            pending_entries: total.saturating_sub(pending.len() as u64),
            at: now.timestamp_millis(),
        };
        let faults = if down {
            Faults::from_header(true, Some("d1.deliver".into()))
        } else {
            Faults::none()
        };
        let Ok(db) = inner.env.d1("DB") else {
            worker::console_error!("gate: the DB binding is missing");
            break;
        };
        let d1 = D1::new(db, Rc::new(faults));
        let result = d1
            .run_fresh("d1.deliver", |attempt| {
                delivery::batch(&port, &pending, attempt, snapshot)
            })
            .await;
        match result {
            Ok((results, _)) => {
                inner.failures.set(0);
                let outcome =
                    delivery::outcome(&pending, results.last().map_or(&[][..], Vec::as_slice));
                for d in &outcome {
                    if let Delivered::Duplicate { seq } = d {
                        worker::console_warn!(
                            "gate: port {port} entry {seq} repeats a request id the ledger already holds; uncounted"
                        );
                    }
                }
                let stored = atomically(&inner.state, move |g| {
                    let mut versions = Vec::new();
                    for d in outcome {
                        match d {
                            Delivered::Stored { seq, version } => versions.push((seq, version)),
                            Delivered::Duplicate { seq } => g.forget_duplicate(seq)?,
                        }
                    }
                    g.delivered(&versions)
                });
                if let Err(e) = stored {
                    worker::console_error!("gate: marking a delivery: {e}");
                    break;
                }
                if pending.len() == size as usize {
                    inner.dirty.set(true);
                }
            }
            Err(StoreError::Failed(reason))
                if delivery::on_failure(pending.len(), &reason) != OnFailure::Backoff =>
            {
                inner.dirty.set(true);
                match (
                    delivery::on_failure(pending.len(), &reason),
                    pending.first(),
                ) {
                    (OnFailure::SetAside, Some((entry, _))) => {
                        set_aside(&inner, &port, entry, &delivery::reason_of(&reason), now);
                    }
                    // One of these rows is refused: find it, one at a time.
                    _ => size = 1,
                }
            }
            Err(e) => {
                inner.failures.set(inner.failures.get() + 1);
                worker::console_warn!(
                    "gate: delivering port {port}'s ledger to D1 failed ({} in a row): {e:?}",
                    inner.failures.get()
                );
                break;
            }
        }
    }
    inner.delivering.set(false);
}

/// Sets aside an entry D1 refused for good, so the entries behind it are
/// delivered: counted in the port's status, logged as one JSON line and
/// sent as a `ledger-row-set-aside` alert event, in one transaction.
fn set_aside(inner: &Rc<Inner>, port: &str, entry: &Entry, reason: &str, now: DateTime<Utc>) {
    let (seq, version, request_id) = (entry.seq, entry.version, entry.request_id.clone());
    let fields = serde_json::json!({
        "seq": seq,
        "version": version,
        "requestId": request_id,
        "reason": reason,
        "setAsideAt": crate::time::iso(now),
    });
    worker::console_error!(
        "{}",
        serde_json::json!({ "log": "ledger-row-set-aside", "port": port, "entry": fields })
    );
    let sql = alerts::tables(&inner.state);
    let port_name = port.to_owned();
    let object = inner.state.id().to_string();
    let reason = reason.to_owned();
    let done = atomically(&inner.state, move |g| {
        if g.set_aside(seq, version, &reason, now)? {
            crate::alerts::watch::notice(
                &sql,
                &port_name,
                "ledger-row-set-aside",
                fields,
                now.timestamp_millis(),
            )?;
        }
        Ok(())
    });
    match done {
        Ok(()) => alerts::mark_written(&object),
        Err(e) => worker::console_error!("gate: setting entry {seq} aside: {e}"),
    }
}

/// Writes the saved budget to KV (the settings store that lists ports and
/// that the page reads), when a save has not reached it yet.
async fn sync_budget_replica(inner: &Rc<Inner>, faults: Rc<Faults>) {
    let Some(port) = inner.port() else {
        return;
    };
    let pending = atomically(&inner.state, |g| {
        Ok((g.note("budget-replica")?.is_some(), g.budget()?))
    });
    let Ok((true, budget)) = pending else {
        return;
    };
    let Ok(kv) = inner.env.kv("BUDGETS") else {
        return;
    };
    let settings = Settings::new(kv, faults);
    match settings.write_budget(&port, &budget).await {
        Ok(()) => {
            let _ = atomically(&inner.state, |g| g.set_note("budget-replica", None));
        }
        Err(e) => worker::console_warn!("gate: writing port {port}'s budget to KV failed: {e:?}"),
    }
}

/// Sets the alarm for the earliest thing due: a hold's expiry, a delivery
/// retry (with backoff) or backstop, a budget replica retry, the daily
/// pruning.
async fn schedule(inner: &Rc<Inner>) {
    let facts = atomically(&inner.state, |g| {
        Ok((
            g.next_expiry()?,
            g.pending_count()?,
            g.note("budget-replica")?.is_some(),
            g.note("pruned-at")?.and_then(|v| v.parse::<f64>().ok()),
        ))
    });
    let Ok((next_expiry, pending, replica, pruned_at)) = facts else {
        return;
    };
    let (alerts_pending, alerts_reset) = alerts::due(&inner.state);
    let real_now = clock::system_ms();
    let mut due: Vec<f64> = Vec::new();
    if let Some(at) = next_expiry {
        due.push(inner.runtime_ms(at));
    }
    if inner.dirty.get() {
        due.push(real_now + SNAPSHOT_DELAY_MS);
    }
    if let Some(at) = alerts_reset {
        due.push(inner.runtime_ms(at));
    }
    if pending > 0 || replica || alerts_pending {
        let failures = inner.failures.get();
        let wait = if failures == 0 {
            BACKSTOP_MS
        } else {
            (1000.0 * 2f64.powi(failures.min(16) as i32 - 1)).min(MAX_BACKOFF_MS)
        };
        due.push(real_now + wait);
    }
    let prune = pruned_at.map_or(real_now + PRUNE_EVERY_MS, |at| {
        inner.runtime_ms(at as i64) + PRUNE_EVERY_MS
    });
    due.push(prune);
    let at = due
        .into_iter()
        .fold(f64::INFINITY, f64::min)
        .max(real_now + 1.0);
    if inner.alarm_at.get().is_some_and(|set| set <= at) {
        return;
    }
    let date = js_sys::Date::new(&JsValue::from_f64(at));
    match inner
        .state
        .storage()
        .set_alarm(worker::ScheduledTime::new(date))
        .await
    {
        Ok(()) => inner.alarm_at.set(Some(at)),
        Err(e) => worker::console_error!("gate: setting the alarm failed: {e}"),
    }
}
