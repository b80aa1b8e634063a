//! The port object's side of alerts: what it runs in each change's
//! transaction, and handing the outbox to the queue after the answer.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use worker::{Env, State};

use super::{log_event, AlertMessage, QUEUE_BINDING};
use crate::alerts::watch;
use crate::worker::gate::storage::{atomically, ObjectSql};

/// Events handed to the queue per storage read.
const BATCH: u32 = 50;

thread_local! {
    /// The objects (by id) whose storage this isolate gave the alert tables.
    static READY: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
    /// The objects (by id) that wrote events since their last hand-off: a
    /// change that raised nothing costs no outbox read after its answer.
    static WRITTEN: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// The object's storage, its alert tables made first (once per isolate and
/// object, in a transaction of its own).
pub fn tables(state: &State) -> ObjectSql {
    let sql = ObjectSql::of(state);
    let id = state.id().to_string();
    if !READY.with(|r| r.borrow().contains(&id)) {
        let made = sql.clone();
        match atomically(state, move |_| Ok(watch::migrate(&made)?)) {
            Ok(()) => READY.with(|r| {
                r.borrow_mut().insert(id);
            }),
            Err(e) => worker::console_error!("alerts: making the alert tables: {e}"),
        }
    }
    sql
}

/// Records that a change of `object` wrote events to the outbox, so the
/// next send hands them to the queue.
pub fn mark_written(object: &str) {
    WRITTEN.with(|w| w.borrow_mut().insert(object.to_owned()));
}

/// Hands every event in the outbox to the queue, oldest first, and marks
/// each sent once the queue took it; logs each event once, as it goes.
/// One run at a time per object (`sending`); events written meanwhile are
/// picked up by the running one. Unless `always` (the alarm, which also
/// finds what an earlier instance left), it reads the outbox only after
/// a change wrote to it ([`mark_written`]). Answers false when some are left (the queue
/// failed): the alarm tries again.
pub async fn send(
    state: &State,
    env: &Env,
    port: &str,
    sending: &Cell<bool>,
    always: bool,
    now_ms: i64,
) -> bool {
    let id = state.id().to_string();
    let written = WRITTEN.with(|w| w.borrow_mut().remove(&id));
    if !(written || always) {
        return true;
    }
    if sending.replace(true) {
        return true;
    }
    let queue = env.queue(QUEUE_BINDING).ok();
    // Test seams: the consumer signs and judges rotations on this clock.
    let fixed = crate::worker::bindings::seams_on(env)
        .then(|| crate::time::iso(crate::worker::clock::instant_of_ms(now_ms as f64)));
    let mut all_sent = true;
    loop {
        let sql = tables(state);
        let Ok(pending) = atomically(state, move |_| Ok(watch::pending(&sql, BATCH)?)) else {
            all_sent = false;
            break;
        };
        if pending.is_empty() {
            break;
        }
        let mut sent = Vec::new();
        for event in &pending {
            let message = AlertMessage {
                port: port.to_owned(),
                event_id: event.id.clone(),
                body: event.body.clone(),
                endpoint: None,
                now: fixed.clone(),
            };
            match &queue {
                Some(queue) => match queue.send(&message).await {
                    Ok(()) => sent.push(event.seq),
                    Err(e) => {
                        worker::console_warn!("alerts: queueing event {} failed: {e}", event.id);
                        all_sent = false;
                        break;
                    }
                },
                // A deployment without the queue: the log line is the alert.
                None => {
                    worker::console_warn!(
                        "alerts: no {QUEUE_BINDING} queue binding; event {} only logged",
                        event.id
                    );
                    sent.push(event.seq);
                }
            }
            log_event(&event.body);
        }
        let sql = tables(state);
        let marked = sent.clone();
        if atomically(state, move |_| Ok(watch::mark_sent(&sql, &marked, now_ms)?)).is_err() {
            all_sent = false;
            break;
        }
        if !all_sent || sent.len() < pending.len() {
            break;
        }
    }
    sending.set(false);
    all_sent
}
