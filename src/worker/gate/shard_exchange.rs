//! A hot port's shards, from the objects' side: a shard's object opening
//! (it takes its port's budget from the port's own object before it judges
//! anything), and the port's own object answering a shard's report and
//! pushing the grants that the report makes room for to the other shards.

use std::rc::Rc;

use chrono::{DateTime, Utc};
use worker::{Response, Result};

use super::instance::{answer, failure, Inner, SIZING};
use super::lending::{ask_lender, port_client};
use super::protocol::ShardAnswered;
use super::storage::atomically;
use crate::worker::alerts::outbox as alerts;

/// Opens a shard's object the first time (empty, with its own ledger
/// numbers) and takes its port's budget from the port's own object before
/// it judges anything.
pub(super) async fn shard_ready(
    inner: &Rc<Inner>,
    port: &str,
    shard: u32,
    now: DateTime<Utc>,
) -> std::result::Result<(), String> {
    if inner.ready.get() {
        return Ok(());
    }
    let port_owned = port.to_owned();
    atomically(&inner.state, move |g| g.open_shard(&port_owned, shard)).map_err(|e| e.0)?;
    inner.port.replace(Some(port.to_owned()));
    inner.shard.set(Some(Some(shard)));
    let taken = atomically(&inner.state, |g| g.note(PORT_BUDGET_NOTE)).map_err(|e| e.0)?;
    if taken.is_none() {
        let sizing = inner.sizing();
        let report = atomically(&inner.state, move |g| g.allowance_report(0, &sizing, now))
            .map_err(|e| e.0)?;
        if let Some(report) = report {
            let answer = ask_lender(inner, &report.group, &report.report, None, now)
                .await
                .map_err(|e| format!("the port's budget could not be read: {e:?}"))?;
            let grant = answer.grant;
            atomically(&inner.state, move |g| {
                g.allowance_grant(&grant, now)?;
                g.set_note(PORT_BUDGET_NOTE, Some("1"))
            })
            .map_err(|e| e.0)?;
        }
    }
    inner.ready.set(true);
    Ok(())
}

/// Set once a shard holds its port's budget.
const PORT_BUDGET_NOTE: &str = "port_budget";

/// The port's own object: shard `shard`'s report. Applied, then the other
/// shards' slack recalled when the need does not fit (each answers with
/// its report), the waiting needs served, and the shard answered with its
/// grant (or the port's refusal) and the port's budget.
pub(super) async fn shard_report(
    inner: &Rc<Inner>,
    shard: u32,
    report: crate::allowance::Report,
    request_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Response> {
    let state = &inner.state;
    let first = atomically(state, move |g| {
        let answer = g.shard_report(shard, &report, &SIZING, now)?;
        let alerts = g.observe_alerts(now)?.len();
        Ok((answer, g.shard_granted(shard)?, alerts))
    });
    let (answer, before, alerts) = match first {
        Ok(first) => first,
        Err(e) => return self::answer::<()>(Err(e)),
    };
    if alerts > 0 {
        alerts::mark_written(&state.id().to_string());
    }
    push_shards(inner, answer.others, shard, now).await;
    if answer.short > 0 {
        // A port under a group lends on what its group lent it: what it
        // lacks for the need, it asks its group for first.
        let short = answer.short;
        let asked = atomically(state, move |g| g.allowance_report(short, &SIZING, now));
        if let Ok(Some(report)) = asked {
            let answered = match ask_lender(
                inner,
                &report.group,
                &report.report,
                request_id.as_deref(),
                now,
            )
            .await
            {
                Ok(answered) => answered,
                Err(e) => return failure(format!("the port's group: {e:?}")),
            };
            let grant = answered.grant;
            if let Err(e) = atomically(state, move |g| g.allowance_grant(&grant, now)) {
                worker::console_error!("gate: {e}");
            }
            if let Some(refusal) = answered.refusal {
                // The group's cap refused it: the shard's reservation is
                // refused naming the group, counted as the port's.
                return self::answer(atomically(state, move |g| {
                    if let Some(request_id) = &request_id {
                        g.count_refusal_now(request_id, &refusal.reason, &refusal.scope, now)?;
                    }
                    Ok(ShardAnswered {
                        grant: g.shard_refuse_waiting(shard, now)?,
                        refusal: Some(refusal),
                        budget: g.budget()?,
                        standing: g.port_standing(now)?,
                    })
                }));
            }
        }
    }
    if answer.refusal.is_some() || answer.short > 0 {
        let served = atomically(state, move |g| g.shard_serve(now)).unwrap_or_default();
        push_shards(inner, served, shard, now).await;
    }
    self::answer(atomically(state, move |g| {
        let (grant, refusal) = g.shard_settle(shard, before, now)?;
        // The reservation waiting on this need is refused: counted here,
        // once per request id, as the port's.
        if let (Some(refusal), Some(request_id)) = (&refusal, &request_id) {
            g.count_refusal_now(request_id, &refusal.reason, &refusal.scope, now)?;
        }
        Ok(ShardAnswered {
            grant,
            refusal,
            budget: g.budget()?,
            standing: g.port_standing(now)?,
        })
    }))
}

/// The port's own object: sends grants to its shards (but `skip`, answered
/// apart), applies the reports they answer with, and sends on what those
/// make room for.
async fn push_shards(
    inner: &Rc<Inner>,
    sends: Vec<(String, crate::allowance::Grant)>,
    skip: u32,
    now: DateTime<Utc>,
) {
    let Some(port) = inner.port() else { return };
    let Ok(client) = port_client(inner, &port, now) else {
        return;
    };
    let mut queue = sends;
    while let Some((key, grant)) = queue.pop() {
        let Some(shard) = crate::gate::shard_lender::shard_of_child(&key) else {
            continue;
        };
        if shard == skip {
            continue;
        }
        let Ok(at) = client.at_shard(Some(shard)) else {
            continue;
        };
        match at.shard_grant(&grant).await {
            Ok(Some(report)) => {
                let applied = atomically(&inner.state, move |g| {
                    g.shard_report(shard, &report, &SIZING, now)
                });
                if let Ok(answer) = applied {
                    queue.extend(answer.others);
                }
            }
            Ok(None) => {}
            Err(e) => worker::console_error!("gate: a grant to shard {shard}: {e:?}"),
        }
    }
}
