//! `GroupGate`: the Durable Object that is one group. It stores its
//! [`GroupState`] as one row of its SQLite storage, read and written in
//! one synchronous turn per step (nothing interleaves inside a step);
//! between steps it awaits its parent (a need it cannot cover from its own
//! allowance) and its children (recalls, and needs served).
//!
//! Requests come from the Worker's API, from ports' objects and from other
//! groups ([`super::client`]): the operation as JSON, the group in
//! `x-group`, and under the test seams the instant in `x-now` and
//! `x-fault: group.restart` (restart before the request).
//!
//! Each change observes the group's soft and hard caps
//! ([`GroupState::observe`]); the events it raises are handed to the alert
//! queue after the request (again by the alarm while the queue fails).
//! Its alarm gives the group's unused allowance back to its own parent
//! when the group has been idle for the return delay (or at the parent's
//! period end), with no request needed.

// `#[durable_object]` generates the class's JS-facing constructor and
// methods, which carry no doc comments of their own.
#![allow(missing_docs)]

use std::cell::Cell;

use chrono::{DateTime, Utc};
use serde::Serialize;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::client::{push_grant, GroupClient};
use super::protocol::{GroupFailure, GroupRequest};
use crate::allowance::{Grant, Report, Sizing, DEFAULT_SIZING};
use crate::group::{child_key, ChildKind, GroupAnswer, GroupState};
use crate::worker::alerts::{log_event, AlertMessage, QUEUE_BINDING};
use crate::worker::clock::{self, Clock};

/// One group, as a SQLite-backed Durable Object.
#[durable_object]
pub struct GroupGate {
    state: State,
    env: Env,
    /// The clock the alarm runs on: the latest request's, going on (a
    /// restart forgets it; the runtime's clock then).
    clock: Cell<Clock>,
    /// When the alarm is set for (runtime ms), as far as this instance
    /// knows.
    alarm_at: Cell<Option<f64>>,
    /// The alert outbox is being handed to the queue.
    sending: Cell<bool>,
}

fn json_answer<T: Serialize>(status: u16, value: &T) -> Result<Response> {
    Ok(Response::from_json(value)?.with_status(status))
}

fn failure(message: impl Into<String>) -> Result<Response> {
    json_answer(
        503,
        &GroupFailure {
            message: message.into(),
        },
    )
}

/// The sizing of every group's allowances.
const SIZING: Sizing = DEFAULT_SIZING;
/// How long a group waits to hand its alert events to the queue again
/// after the queue failed (epoch ms).
const ALERT_RETRY_MS: i64 = 5_000;

impl GroupGate {
    fn load(&self) -> std::result::Result<GroupState, String> {
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS group_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )
        .map_err(|e| e.to_string())?;
        let cursor = sql
            .exec("SELECT value FROM group_state WHERE key = 'state'", None)
            .map_err(|e| e.to_string())?;
        let rows: Vec<serde_json::Value> = cursor.to_array().map_err(|e| e.to_string())?;
        Ok(rows
            .first()
            .and_then(|row| row.get("value"))
            .and_then(|v| v.as_str())
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default())
    }

    fn store(&self, group: &GroupState) -> std::result::Result<(), String> {
        let text = serde_json::to_string(group).map_err(|e| e.to_string())?;
        self.state
            .storage()
            .sql()
            .exec(
                "INSERT INTO group_state (key, value) VALUES ('state', ?) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                Some(vec![text.into()]),
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Loads, changes and stores the state in one turn; the caps'
    /// crossings the change made are observed in the same turn.
    fn change<T>(&self, op: impl FnOnce(&mut GroupState) -> T) -> std::result::Result<T, String> {
        let mut group = self.load()?;
        let out = op(&mut group);
        group.observe(self.clock.get().now());
        self.store(&group)?;
        Ok(out)
    }

    /// Hands the outbox's alert events to the queue, oldest first, and
    /// takes out each the queue took (a deployment without the queue: the
    /// log line is the alert). One run at a time (`sending`): the running
    /// one picks up the events written meanwhile. Answers false when some
    /// are left.
    async fn send_alerts(&self, now: DateTime<Utc>) -> bool {
        if self.sending.replace(true) {
            return true;
        }
        let mut all = true;
        while all && self.load().is_ok_and(|g| !g.alerts.outbox.is_empty()) {
            all = self.send_outbox(now).await;
        }
        self.sending.set(false);
        all
    }

    async fn send_outbox(&self, now: DateTime<Utc>) -> bool {
        let Ok(group) = self.load() else {
            return false;
        };
        if group.alerts.outbox.is_empty() {
            return true;
        }
        let key = child_key(ChildKind::Group, &group.id);
        let queue = self.env.queue(QUEUE_BINDING).ok();
        let fixed = crate::worker::bindings::seams_on(&self.env).then(|| crate::time::iso(now));
        let mut sent = Vec::new();
        for event in &group.alerts.outbox {
            let message = AlertMessage {
                port: key.clone(),
                event_id: event.id.clone(),
                body: event.body.clone(),
                endpoint: None,
                now: fixed.clone(),
            };
            if let Some(queue) = &queue {
                if let Err(e) = queue.send(&message).await {
                    worker::console_warn!("group alerts: queueing event {} failed: {e}", event.id);
                    break;
                }
            }
            log_event(&event.body);
            sent.push(event.id.clone());
        }
        let all = sent.len() == group.alerts.outbox.len();
        self.change(|g| g.alerts_sent(&sent)).is_ok() && all
    }

    /// Sends grants to children (but `skip`, answered apart); applies the
    /// reports they answer with, and sends on the grants those make room
    /// for.
    async fn push(
        &self,
        clock: Clock,
        sends: Vec<(String, Grant)>,
        skip: &str,
        now: DateTime<Utc>,
    ) {
        let mut queue = sends;
        while let Some((key, grant)) = queue.pop() {
            if key == skip {
                continue;
            }
            let Some((kind, id)) = ChildKind::of_key(&key) else {
                continue;
            };
            let grant = match self.load() {
                Ok(group) => group.stamped(grant, now),
                Err(_) => grant,
            };
            match push_grant(&self.env, clock, kind, id, &grant).await {
                Ok(Some(report)) => {
                    if let Ok((_, others, _)) =
                        self.change(|g| g.report(&key, &report, &SIZING, now))
                    {
                        queue.extend(others);
                    }
                }
                Ok(None) => {}
                Err(e) => worker::console_error!("group: a grant to {key}: {e:?}"),
            }
        }
    }

    /// Asks the group's parent for `need` (0: a report only). Answers the
    /// parent's refusal, if it refused.
    async fn ask_parent(
        &self,
        clock: Clock,
        need: u64,
        now: DateTime<Utc>,
    ) -> std::result::Result<Option<crate::gate::Refusal>, String> {
        let Some((parent, id, report)) = self.change(|g| {
            let report = g.parent_report(need, &SIZING, now);
            g.parent.clone().map(|p| (p, g.id.clone(), report))
        })?
        else {
            return Ok(None);
        };
        let answer = GroupClient::new(&self.env, &parent, clock)
            .report(&child_key(ChildKind::Group, &id), &report)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let (owed, recalls) = self.change(|g| g.on_grant(&answer.grant, now))?;
        self.push(clock, recalls, "", now).await;
        if owed {
            Box::pin(self.ask_parent(clock, 0, now)).await?;
        }
        Ok(answer.refusal)
    }

    async fn report(
        &self,
        clock: Clock,
        child: String,
        report: Report,
        now: DateTime<Utc>,
    ) -> std::result::Result<GroupAnswer, String> {
        let (mut answer, others, short) =
            self.change(|g| g.report(&child, &report, &SIZING, now))?;
        let granted = |g: &GroupState| g.lender.children.get(&child).map_or(0, |l| l.granted);
        let before = self.load().map(|g| granted(&g))?;
        // Others' slack is recalled now, so that a need that does not fit
        // is refused only when nothing lent comes back.
        self.push(clock, others, &child, now).await;
        if short > 0 {
            if let Some(refusal) = self.ask_parent(clock, short, now).await? {
                self.change(GroupState::refuse_waiting)?;
                answer.refusal = Some(refusal);
                return Ok(answer);
            }
        }
        let served = self.change(|g| g.serve(now))?;
        self.push(clock, served, &child, now).await;
        let refused = answer.refusal.is_some();
        let (grant, refusal) = self.change(|g| {
            let end = g.limits(now).window.1;
            let refusal = if refused && granted(g) <= before {
                // Refused now: the child asks again with its next call.
                if let Some(line) = g.lender.children.get_mut(&child) {
                    line.waiting = 0;
                }
                Some(g.refusal(now))
            } else {
                None
            };
            let grant = g.lender.grant(&child, end);
            (g.stamped(grant, now), refusal)
        })?;
        answer.grant = grant;
        answer.refusal = refusal;
        Ok(answer)
    }
}

impl DurableObject for GroupGate {
    fn new(state: State, env: Env) -> GroupGate {
        GroupGate {
            state,
            env,
            clock: Cell::new(Clock::System),
            alarm_at: Cell::new(None),
            sending: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let seams = crate::worker::bindings::seams_on(&self.env);
        let header = req.headers().get(clock::NOW_HEADER).ok().flatten();
        let clock = Clock::for_request(seams, header.as_deref());
        let now = clock.now();
        if let Clock::Fixed(_) = clock {
            self.clock.set(clock.running_on());
        }
        let Some(id) = req.headers().get("x-group").ok().flatten() else {
            return failure("the request names no group");
        };
        // The test seam: `group.restart` restarts the object before the
        // request (its storage carries on; nothing is kept in memory).
        let fault = req.headers().get("x-fault").ok().flatten();
        if seams && fault.is_some_and(|f| f.split(',').any(|p| p.trim() == "group.restart")) {
            let _ = self
                .state
                .block_concurrency_while(async {
                    Err::<(), worker::Error>("restarted by a test fault".into())
                })
                .await;
            return failure("the group restarted");
        }
        let request: GroupRequest = match req
            .text()
            .await
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => return failure(format!("the group request is not valid: {e}")),
        };
        // What is due on its own first: allowance given back when idle.
        if let Ok(true) = self.change(|g| g.give_back_due(&SIZING, now)) {
            let _ = self.ask_parent(clock, 0, now).await;
        }
        let out: std::result::Result<serde_json::Value, String> = match request {
            GroupRequest::View => self
                .load()
                .map(|g| serde_json::to_value(g).unwrap_or_default()),
            GroupRequest::Status => self.load().map(|g| g.status(now)),
            GroupRequest::Save { update, actor } => {
                let saved =
                    self.change(|g| g.save(&id, &update, &actor, now).map(|()| g.on_cap(now)));
                match saved {
                    Ok(Ok(recalls)) => {
                        self.push(clock, recalls, "", now).await;
                        if let Ok(Some((old, report))) = self.load().map(|g| g.farewell) {
                            let sent = GroupClient::new(&self.env, &old, clock)
                                .report(&child_key(ChildKind::Group, &id), &report)
                                .await;
                            if sent.is_ok() {
                                let _ = self.change(|g| g.farewell = None);
                            }
                        }
                        self.load()
                            .map(|g| serde_json::json!({ "budget": g.budget_json() }))
                    }
                    Ok(Err(e)) => Ok(serde_json::json!({ "invalid": {
                        "code": e.code().as_str(), "field": e.field(), "message": e.message(),
                    }})),
                    Err(e) => Err(e),
                }
            }
            GroupRequest::Report { child, report } => self
                .report(clock, child, report, now)
                .await
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            GroupRequest::Grant { grant } => {
                match self.change(|g| {
                    let (owed, recalls) = g.on_grant(&grant, now);
                    let served = g.serve(now);
                    (owed, recalls, served)
                }) {
                    Ok((owed, mut recalls, served)) => {
                        recalls.extend(served);
                        self.push(clock, recalls, "", now).await;
                        let report = if owed {
                            self.change(|g| g.parent_report(0, &SIZING, now)).ok()
                        } else {
                            None
                        };
                        Ok(serde_json::to_value(report).unwrap_or_default())
                    }
                    Err(e) => Err(e),
                }
            }
            GroupRequest::Below { below } => self
                .change(|g| g.below = g.below.max(below))
                .map(|()| serde_json::Value::Null),
            GroupRequest::Alerts { percents } => self.change(|g| {
                if let Some(mut percents) = percents {
                    percents.sort_unstable();
                    percents.dedup();
                    g.alerts.percents = percents;
                }
                serde_json::json!({ "percents": g.alerts.percents })
            }),
        };
        let alerts_left = !self.send_alerts(now).await;
        self.schedule(alerts_left).await;
        match out {
            Ok(value) => json_answer(200, &value),
            Err(e) => failure(e),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_at.set(None);
        let clock = self.clock.get();
        let now = clock.now();
        if let Ok(true) = self.change(|g| g.give_back_due(&SIZING, now)) {
            if let Err(e) = self.ask_parent(clock, 0, now).await {
                worker::console_error!("group alarm: {e}");
            }
        }
        let alerts_left = !self.send_alerts(now).await;
        self.schedule(alerts_left).await;
        Response::ok("alarm")
    }
}

impl GroupGate {
    /// Sets the alarm for when the group next gives its unused allowance
    /// back to its parent on its own (idle for the return delay, or at the
    /// parent's period end), or retries the alert queue (`alerts_left`),
    /// unless one is set sooner.
    async fn schedule(&self, alerts_left: bool) {
        let clock = self.clock.get();
        let retry = alerts_left.then(|| clock.now().timestamp_millis() + ALERT_RETRY_MS);
        let due = self.load().ok().and_then(|g| g.next_due(&SIZING));
        let Some(due) = [due, retry].into_iter().flatten().min() else {
            return;
        };
        let due = due.max(clock.now().timestamp_millis() + 1);
        let at = clock.runtime_ms(due);
        if self.alarm_at.get().is_some_and(|set| set <= at) {
            return;
        }
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at));
        match self
            .state
            .storage()
            .set_alarm(worker::ScheduledTime::new(date))
            .await
        {
            Ok(()) => self.alarm_at.set(Some(at)),
            Err(e) => worker::console_error!("group: setting the alarm failed: {e}"),
        }
    }
}
