//! One request's operation run in a port's object: the dispatch from the
//! Worker's request to the gate (one storage transaction for a change, a
//! read without one), to the exchanges with a lender and with shards, and
//! to what a change owes after it (the budget's copy in KV, a farewell to
//! a group the port left).

use std::rc::Rc;

use chrono::{DateTime, Utc};
use worker::{Response, Result};

use super::courier;
use super::instance::{another_handle, answer, failure, json_answer, seams_on, Inner};
use super::lending::{allowance_grant, report_usage, reserve, tell_group};
use super::protocol::{answer_of, Elsewhere, GateRequest, SyncAnswer};
use super::shard_exchange::shard_report;
use super::storage::{atomically, reading};
use crate::gate::{Outcome, SaveOutcome};
use crate::group::{child_key, ChildKind};
use crate::worker::alerts::outbox as alerts;
use crate::worker::clock::Clock;
use crate::worker::fault::Faults;
use crate::worker::group::client::GroupClient;

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
