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

use std::rc::Rc;

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::courier;
use super::first_start::ensure_ready;
use super::instance::{failure, seams_on, Inner};
use super::lending::tell_group;
use super::operate::operate;
use super::protocol::GateRequest;
use super::shard_exchange::shard_ready;
use super::storage::{self, atomically};
use super::tally::{Tally, WORK_HEADER};
use crate::gate::carried::{self, CARRIED_HEADER};
use crate::gate::{GateError, Operation};
use crate::worker::alerts::outbox as alerts;
use crate::worker::clock::{self, Clock};
use crate::worker::fault::Faults;
use crate::worker::port_key::KEY_HEADER;

/// One port's gate, as a SQLite-backed Durable Object.
#[durable_object]
pub struct PortGate {
    inner: Rc<Inner>,
}

impl DurableObject for PortGate {
    fn new(state: State, env: Env) -> PortGate {
        storage::new_instance(&state.id().to_string());
        PortGate {
            inner: Rc::new(Inner::new(state, env)),
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
        let (carried_answers, carried_changed) = run_carried(inner, seams, &riders).await;
        if let (Clock::Fixed(_), false) = (clock, riders.is_empty()) {
            // A carried commit at its own fixed instant moved the object's
            // clock, as it would have sent alone: this request's again.
            inner.clock.set(clock.running_on());
        }
        let (mut answer, changed) = operate(inner, request, now, &faults).await;
        let changed = changed || carried_changed;
        if !carried_answers.is_empty() {
            answer = with_carried_answers(answer, &carried_answers).await;
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

/// Runs the settlements a request carries, each as if sent on its own
/// (its own transaction, at its own instant); answers each one's status
/// and answer, and whether any may have changed what the stores of record
/// are owed. Only commits ride: anything else is refused, not run.
async fn run_carried(
    inner: &Rc<Inner>,
    seams: bool,
    riders: &[carried::Carried<'_>],
) -> (Vec<(u16, String)>, bool) {
    let mut answers = Vec::with_capacity(riders.len());
    let mut changed = false;
    let none = Rc::new(Faults::none());
    for rider in riders {
        super::tally::count(super::tally::Work::Json);
        let request = match serde_json::from_str::<GateRequest>(rider.json) {
            Ok(request @ GateRequest::Commit { .. }) => request,
            Ok(_) => {
                answers.push((400, "only commits are carried".to_owned()));
                continue;
            }
            Err(e) => {
                answers.push((400, format!("the carried settlement is not valid: {e}")));
                continue;
            }
        };
        let clock = Clock::for_request(seams, rider.stamp);
        if let Clock::Fixed(_) = clock {
            // As the commit would have moved it, sent alone.
            inner.clock.set(clock.running_on());
        }
        let now = clock.now();
        let (answer, its_changes) = operate(inner, request, now, &none).await;
        changed |= its_changes;
        let answered = match answer {
            Ok(mut response) => {
                let status = response.status_code();
                response.text().await.map(|text| (status, text))
            }
            Err(e) => Err(e),
        };
        answers.push(answered.unwrap_or_else(|e| (503, e.to_string())));
    }
    (answers, changed)
}

/// A request's own answer with the answers of the settlements it carried
/// before it; a refusal (not 200) goes back alone, and the settlements'
/// owners send them again (the gate answers them as retries).
async fn with_carried_answers(
    answer: Result<Response>,
    carried_answers: &[(u16, String)],
) -> Result<Response> {
    let mut own = answer?;
    if own.status_code() != 200 {
        return Ok(own);
    }
    let text = own.text().await?;
    let mut framed = Response::ok(carried::frame_answers(carried_answers, &text))?;
    framed
        .headers_mut()
        .set(CARRIED_HEADER, &carried_answers.len().to_string())?;
    Ok(framed)
}
