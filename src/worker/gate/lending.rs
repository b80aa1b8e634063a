//! A port's allowance from its lender, from its object's side: its group's
//! object for a port under a group, the port's own object for one of its
//! shards. The reservation that finds the allowance short asks for more
//! (one ask at a time, the others waiting on it) and is judged again; a
//! settle's usage is reported after the answer (a shard's at most every
//! [`SHARD_REPORT_MS`]); a grant the lender sends is applied.

use std::rc::Rc;

use chrono::{DateTime, Utc};
use worker::{Response, Result};

use super::client::GateClient;
use super::instance::{answer, Inner};
use super::storage::{atomically, reading};
use crate::allowance::Grant;
use crate::gate::{Applied, GateError, Operation, Outcome, ReserveOutcome};
use crate::group::{child_key, ChildKind, GroupAnswer};
use crate::worker::alerts::outbox as alerts;
use crate::worker::clock::{self, Clock};
use crate::worker::d1::StoreError;
use crate::worker::fault::Faults;
use crate::worker::group::client::GroupClient;

/// How often a shard tells its port's own object what it used, at most
/// (ms): one report per shard per interval, however many calls it settles
/// meanwhile, so the port's object carries a few reports a second per
/// shard instead of one per call. (Usage reported late changes no
/// decision: what a shard consumed stays lent until then, which weighs the
/// same on the port's cap.)
pub const SHARD_REPORT_MS: f64 = 200.0;

/// Tells the lender what a settle used: a port's group at once, a port's
/// own object (from a shard) at most every [`SHARD_REPORT_MS`], the last
/// report trailing the last settle.
pub(super) async fn report_usage(inner: &Rc<Inner>, now: DateTime<Utc>) {
    let mut now = now;
    if inner.shard().is_some() {
        if inner.report_waiting.get() {
            return;
        }
        let wait = inner.reported_at.get() + SHARD_REPORT_MS - clock::system_ms();
        if wait > 0.0 {
            inner.report_waiting.set(true);
            worker::Delay::from(std::time::Duration::from_millis(wait as u64)).await;
            inner.report_waiting.set(false);
            now = now.max(inner.now());
        }
        inner.reported_at.set(clock::system_ms());
    }
    let sizing = inner.sizing();
    let report = reading(&inner.state, move |g| g.allowance_report(0, &sizing, now));
    if let Ok(Some(report)) = report {
        tell_group(inner, report, now).await;
    }
}

/// How many times one reservation asks its lender itself, at most.
const MAX_ASKS: u32 = 8;
/// How long one reservation waits for allowance in all (ms), its own asks
/// and others' it waits on included.
const ASK_WAIT_MS: f64 = 10_000.0;

/// Applies a grant from the port's group; answers the report owed back.
pub(super) fn allowance_grant(
    inner: &Rc<Inner>,
    grant: Grant,
    now: DateTime<Utc>,
) -> Result<Response> {
    let state = &inner.state;
    let sizing = inner.sizing();
    let owed = atomically(state, move |g| g.allowance_grant(&grant, now));
    let report = match owed {
        Ok(true) => atomically(state, move |g| g.allowance_report(0, &sizing, now))
            .map(|r| r.map(|r| r.report)),
        Ok(false) => Ok(None),
        Err(e) => Err(e),
    };
    answer(report)
}

/// Sends the port's lender a report: its group's object, or for a shard
/// its port's own object (whose answer brings the port's budget, taken as
/// the shard's own).
pub(super) async fn ask_lender(
    inner: &Rc<Inner>,
    lender: &str,
    report: &crate::allowance::Report,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> std::result::Result<GroupAnswer, StoreError> {
    let port = inner.port().unwrap_or_default();
    let Some(shard) = inner.shard() else {
        return GroupClient::new(&inner.env, lender, Clock::Fixed(now))
            .report(&child_key(ChildKind::Port, &port), report)
            .await;
    };
    let answered = port_client(inner, &port, now)?
        .shard_report(shard, report, request_id)
        .await?;
    let (budget, standing) = (answered.budget, answered.standing);
    let taken = atomically(&inner.state, move |g| {
        g.take_port_budget(&budget)?;
        g.take_port_standing(&standing, now)
    });
    if let Err(e) = taken {
        worker::console_error!("gate: {e}");
    }
    Ok(GroupAnswer {
        grant: answered.grant,
        refusal: answered.refusal,
    })
}

/// The Worker's client of `port`'s own object, from inside an object.
pub(super) fn port_client(
    inner: &Rc<Inner>,
    port: &str,
    now: DateTime<Utc>,
) -> std::result::Result<GateClient, StoreError> {
    GateClient::new(
        &inner.env,
        port,
        Clock::Fixed(now),
        None,
        Rc::new(Faults::none()),
    )
}

/// Sends the port's group a report and applies its answer.
pub(super) async fn tell_group(
    inner: &Rc<Inner>,
    report: crate::gate::GroupReport,
    now: DateTime<Utc>,
) {
    let asked = ask_lender(inner, &report.group, &report.report, None, now).await;
    match asked {
        Ok(answered) => {
            let grant = answered.grant;
            if let Err(e) = atomically(&inner.state, move |g| g.allowance_grant(&grant, now)) {
                worker::console_error!("gate: {e}");
            }
        }
        Err(e) => worker::console_error!("gate: group {}: {e:?}", report.group),
    }
}

/// A reservation: judged by the gate; when the port's caps allow it but
/// its allowance from its group does not cover it, the group is asked for
/// the shortfall (its answer: a grant, or the refusal of the cap that
/// binds, this group's or an ancestor's) and the gate judges again.
pub(super) async fn reserve(
    inner: &Rc<Inner>,
    hold: crate::gate::HoldRequest,
    now: DateTime<Utc>,
) -> std::result::Result<Applied, GateError> {
    let state = &inner.state;
    let judge = |hold: crate::gate::HoldRequest| {
        atomically(state, move |g| g.apply(Operation::Reserve(hold), now))
    };
    let mut applied = judge(hold.clone());
    // One ask of the group at a time: a reservation short of allowance
    // while another asks waits for that answer and is judged again (the
    // ask carries some ahead of need, for the calls behind it). A group
    // that cannot be reached is asked again after a short wait.
    // Given up (answered as the lender unreachable) only after
    // `MAX_ASKS` asks of its own or `ASK_WAIT_MS` in all: a lender busy
    // recalling slack for many reservations at once answers late, not
    // never.
    let mut asks = 0;
    let deadline = clock::system_ms() + ASK_WAIT_MS;
    while clock::system_ms() < deadline {
        let Ok(current) = &applied else { break };
        let Outcome::Reserve(ReserveOutcome::Short { group, need, load }) = &current.result else {
            break;
        };
        if inner.asking.get() > clock::system_ms() - 2_000.0 {
            worker::Delay::from(std::time::Duration::from_millis(2)).await;
            applied = judge(hold.clone());
            continue;
        }
        if asks == MAX_ASKS {
            break;
        }
        asks += 1;
        let (group, need, load) = (group.clone(), *need, *load);
        let sizing = inner.sizing();
        let report = match atomically(state, move |g| g.allowance_report(need, &sizing, now)) {
            Ok(Some(report)) => report.report,
            _ => break,
        };
        inner.asking.set(clock::system_ms());
        let asked = ask_lender(inner, &group, &report, Some(&hold.request_id), now).await;
        let answered = match asked {
            Ok(answered) => answered,
            Err(e) => {
                inner.asking.set(0.0);
                worker::console_error!("gate: group {group}: {e:?}");
                worker::Delay::from(std::time::Duration::from_millis(10 << asks.min(4))).await;
                applied = judge(hold.clone());
                continue;
            }
        };
        let grant = answered.grant.clone();
        let granted = atomically(state, move |g| g.allowance_grant(&grant, now));
        inner.asking.set(0.0);
        if let Err(e) = granted {
            worker::console_error!("gate: {e}");
        }
        if let Some(refusal) = answered.refusal {
            let (request_id, reason, scope) = (
                hold.request_id.clone(),
                refusal.reason.clone(),
                refusal.scope.clone(),
            );
            // A shard's refusals are counted by its port's own object,
            // which refused (the port's counts are one port's).
            let counted = match inner.shard() {
                Some(_) => Ok(()),
                None => atomically(state, move |g| {
                    g.count_refusal_now(&request_id, &reason, &scope, now)
                }),
            };
            if let Err(e) = counted {
                worker::console_error!("gate: {e}");
            }
            applied = Ok(crate::gate::Applied {
                result: Outcome::Reserve(ReserveOutcome::Refused { refusal, load }),
                ..current.clone()
            });
            break;
        }
        applied = judge(hold.clone());
    }
    if let Ok(applied) = &applied {
        if applied.alerts > 0 {
            alerts::mark_written(&state.id().to_string());
        }
    }
    applied
}
