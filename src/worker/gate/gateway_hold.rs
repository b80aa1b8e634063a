//! A gateway call's hold in the port's object: the gate judges it under
//! the actions at the port's caps in one turn ([`crate::gate::gateway`]);
//! a hold short of the port's allowance from its group asks the group as
//! any reservation does.

use std::rc::Rc;

use chrono::{DateTime, Utc};

use super::instance::Inner;
use super::lending;
use super::port_keys;
use super::storage::atomically;
use crate::gate::gateway::{GatewayHold, GatewayReserveOutcome};
use crate::gate::{Applied, GateError, Operation, Outcome, ReserveOutcome};
use crate::worker::alerts::outbox as alerts;

/// A gateway call's hold: refused when the port key it presents (`key`,
/// its hash) was revoked ([`port_keys`]); else judged under the actions at
/// the port's caps in one turn; a hold they let on that the port's
/// allowance from its group does not cover goes the way of
/// [`lending::reserve`] (asking the group).
pub(super) async fn reserve(
    inner: &Rc<Inner>,
    hold: GatewayHold,
    key: Option<&str>,
    now: DateTime<Utc>,
) -> std::result::Result<Applied, GateError> {
    if let Some(hash) = key {
        if port_keys::revoked(inner, hash)? {
            return Ok(port_keys::refused());
        }
    }
    let plain = hold.hold.clone();
    let applied = atomically(&inner.state, move |g| {
        g.apply(Operation::GatewayReserve(hold), now)
    })?;
    if applied.alerts > 0 {
        alerts::mark_written(&inner.state.id().to_string());
    }
    let Outcome::GatewayReserve(GatewayReserveOutcome::Reserve {
        outcome: ReserveOutcome::Short { .. },
        acted,
        version,
        slot,
    }) = applied.result
    else {
        return Ok(applied);
    };
    let asked = lending::reserve(inner, plain, now).await;
    let held = matches!(
        &asked,
        Ok(Applied {
            result: Outcome::Reserve(ReserveOutcome::Held { .. }),
            ..
        })
    );
    // The throttle's slot taken for this hold comes back if it failed.
    if let (Some(slot), false) = (slot, held) {
        atomically(&inner.state, move |g| g.return_throttle_slot(&slot))?;
    }
    let asked = asked?;
    let Outcome::Reserve(outcome) = asked.result else {
        return Ok(asked);
    };
    Ok(Applied {
        result: Outcome::GatewayReserve(GatewayReserveOutcome::Reserve {
            outcome,
            acted,
            version,
            slot: None,
        }),
        ..asked
    })
}
