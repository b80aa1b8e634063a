//! The port object's execution: what it owes the stores of record after a
//! change, carried out. The ledger goes to D1 (right after a change, off
//! the request's path, and again from the alarm with backoff while D1
//! fails), a saved budget to KV, alert events to the queue, and the alarm
//! is set for what comes next. Every decision (when to wake, what a
//! delivery does after D1's reply, the one backoff rule) is
//! [`crate::gate::wake`]'s; this file only executes it.

use std::rc::Rc;

use chrono::{DateTime, Utc};
use wasm_bindgen::JsValue;

use super::instance::{another_handle, Inner};
use super::storage::{atomically, reading};
use crate::gate::wake::{self, Next, Reply};
use crate::gate::Entry;
use crate::ledger::delivery::{self, Delivered};
use crate::worker::alerts::outbox as alerts;
use crate::worker::clock;
use crate::worker::d1::{StoreError, D1};
use crate::worker::fault::Faults;
use crate::worker::settings::Settings;

/// How long a `sync` waits for a delivery already under way.
const SYNC_WAIT_MS: f64 = 5_000.0;

/// The note that makes every D1 call of the object fail (test seams).
pub(super) const D1_DOWN_NOTE: &str = "d1-down";

/// After a change: ledger entries go to D1 at once (off the request's
/// path) when the object delivered nothing in the last
/// [`wake::DELIVERY_DELAY_MS`], else with the alarm's batch within it; a
/// change of holds alone reaches the port list's snapshot within
/// [`wake::SNAPSHOT_DELAY_MS`], batched by the alarm. Either way the alarm
/// is set for what is due. The changes made while this is under way join
/// it (one more round for those its last batch missed): the calls of a busy
/// port share D1 batches, hand-offs of alerts and settings of the alarm
/// instead of one each.
pub(super) fn after_change(inner: &Rc<Inner>) {
    inner.courier.borrow_mut().touch();
    inner.changes.set(inner.changes.get().wrapping_add(1));
    if inner.gathering.replace(true) {
        // The round under way carries this change too.
        return;
    }
    let inner = inner.clone();
    let state = another_handle(&inner.state);
    state.wait_until(async move {
        loop {
            let seen = inner.changes.get();
            send_alerts(&inner, false).await;
            let entries = reading(&inner.state, |g| g.pending_count()).unwrap_or(1);
            let alarm_at = inner.alarm_at.get().map(|at| at as i64);
            let now = clock::system_ms() as i64;
            let delivered_at = inner.delivered_at.get();
            let next = wake::after_change(entries, alarm_at, delivered_at, now);
            if next.deliver {
                inner.delivered_at.set(Some(now));
                deliver(inner.clone()).await;
            }
            if next.schedule {
                schedule(&inner).await;
            }
            if inner.changes.get() == seen {
                break;
            }
        }
        inner.gathering.set(false);
    });
}

/// Hands the alert outbox to the queue (off every request's path):
/// `always` from the alarm, else only when a change wrote events.
pub(super) async fn send_alerts(inner: &Rc<Inner>, always: bool) {
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
pub(super) async fn catch_up(inner: &Rc<Inner>, faults: &Rc<Faults>) {
    sync(inner.clone()).await;
    sync_budget_replica(inner, faults.clone()).await;
}

/// Waits for a delivery under way, then delivers what is left.
async fn sync(inner: Rc<Inner>) {
    let deadline = clock::system_ms() + SYNC_WAIT_MS;
    while inner.courier.borrow().delivering && clock::system_ms() < deadline {
        worker::Delay::from(std::time::Duration::from_millis(2)).await;
    }
    inner.courier.borrow_mut().touch();
    deliver(inner).await;
}

/// Delivers the outbox to D1 until nothing is left or D1 fails. One
/// delivery runs at a time; changes made meanwhile are picked up by the
/// loop.
pub(super) async fn deliver(inner: Rc<Inner>) {
    if !inner.courier.borrow_mut().begin() {
        return;
    }
    if let Some(port) = inner.port() {
        loop {
            let next = inner.courier.borrow_mut().next_batch();
            let Some(size) = next else { break };
            if !deliver_batch(&inner, &port, size).await {
                break;
            }
        }
    }
    inner.courier.borrow_mut().end();
}

/// Sends one batch of at most `size` entries; false when the loop stops.
async fn deliver_batch(inner: &Rc<Inner>, port: &str, size: u32) -> bool {
    let now = inner.now();
    let at = now.timestamp_millis();
    let batch = atomically(&inner.state, move |g| {
        let (pending, snapshot) = delivery::next_batch(g, size, at)?;
        let budget = g.budget()?.budget;
        Ok((pending, snapshot, budget, g.note(D1_DOWN_NOTE)?.is_some()))
    });
    let Ok((pending, snapshot, budget, down)) = batch else {
        return false;
    };
    let faults = if down {
        Faults::from_header(true, Some("d1.deliver".into()))
    } else {
        Faults::none()
    };
    let Ok(db) = inner.env.d1("DB") else {
        worker::console_error!("gate: the DB binding is missing");
        return false;
    };
    let d1 = D1::new(db, Rc::new(faults));
    let result = d1
        .run_fresh("d1.deliver", |attempt| {
            delivery::batch(port, &budget, &pending, attempt, snapshot.clone())
        })
        .await;
    let entries = pending.len();
    let reply = match &result {
        Ok((results, _)) => {
            let outcome =
                delivery::outcome(&pending, results.last().map_or(&[][..], Vec::as_slice));
            for d in &outcome {
                if let Delivered::Duplicate { seq } = d {
                    worker::console_warn!(
                        "gate: port {port} entry {seq} repeats a request id the ledger already holds; uncounted"
                    );
                }
            }
            if let Err(e) = atomically(&inner.state, move |g| delivery::record(g, &outcome)) {
                worker::console_error!("gate: marking a delivery: {e}");
                return false;
            }
            Reply::Stored { entries }
        }
        Err(StoreError::Failed(message)) => Reply::Failed { entries, message },
        // Unreachable, overloaded: backed off like any passing failure.
        Err(_) => Reply::Failed {
            entries,
            message: "",
        },
    };
    let next = inner.courier.borrow_mut().reply(reply);
    match next {
        Next::Continue => true,
        Next::SetAsideFirst => {
            if let (Some((entry, _)), Err(StoreError::Failed(message))) = (pending.first(), &result)
            {
                set_aside(
                    inner,
                    port,
                    entry,
                    &crate::gate::wake::reason_of(message),
                    now,
                );
            }
            true
        }
        Next::Stop => {
            worker::console_warn!(
                "gate: delivering port {port}'s ledger to D1 failed ({} in a row): {:?}",
                inner.courier.borrow().failures,
                result.err()
            );
            false
        }
    }
}

/// Sets aside an entry D1 refused for good, so the entries behind it are
/// delivered: counted in the port's status, logged as one JSON line and
/// sent as a `ledger-row-set-aside` alert event, in one transaction.
fn set_aside(inner: &Rc<Inner>, port: &str, entry: &Entry, reason: &str, now: DateTime<Utc>) {
    let fields = serde_json::json!({
        "seq": entry.seq,
        "version": entry.version,
        "requestId": entry.request_id,
        "reason": reason,
        "setAsideAt": crate::time::iso(now),
    });
    worker::console_error!(
        "{}",
        serde_json::json!({ "log": "ledger-row-set-aside", "port": port, "entry": fields })
    );
    let object = inner.state.id().to_string();
    let (entry, reason, seq) = (entry.clone(), reason.to_owned(), entry.seq);
    match atomically(&inner.state, move |g| {
        g.set_aside_noticed(&entry, &reason, fields, now)
    }) {
        Ok(_) => alerts::mark_written(&object),
        Err(e) => worker::console_error!("gate: setting entry {seq} aside: {e}"),
    }
}

/// Writes the saved budget to KV (the settings store that lists ports and
/// that the page reads), when a save has not reached it yet.
pub(super) async fn sync_budget_replica(inner: &Rc<Inner>, faults: Rc<Faults>) {
    let Some(port) = inner.port() else {
        return;
    };
    let pending = atomically(&inner.state, |g| Ok((g.replica_pending()?, g.budget()?)));
    let Ok((true, budget)) = pending else {
        return;
    };
    let settings = Settings::new(inner.env.clone(), faults);
    match settings.write_budget(&port, &budget).await {
        Ok(()) => {
            let _ = atomically(&inner.state, |g| g.replica_written());
        }
        Err(e) => worker::console_warn!("gate: writing port {port}'s budget to KV failed: {e:?}"),
    }
}

/// Sets the alarm for what [`wake::next_wake`] says comes first, unless it
/// is already set sooner.
pub(super) async fn schedule(inner: &Rc<Inner>) {
    let clock = inner.clock.get();
    let now = clock.now().timestamp_millis();
    let Ok(facts) = reading(&inner.state, move |g| g.facts(now)) else {
        return;
    };
    let courier = *inner.courier.borrow();
    let next = wake::next_wake(&facts, &courier, clock.now().timestamp_millis());
    let at = clock.runtime_ms(next);
    if inner.alarm_at.get().is_some_and(|set| set <= at) {
        return;
    }
    let date = js_sys::Date::new(&JsValue::from_f64(at));
    super::tally::count(super::tally::Work::AlarmSet);
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
