//! The hold: one atomic reservation of the call's estimate in the port's
//! gate, under the request id of its attempt.

use super::super::d1::StoreError;
use super::super::gate::GateClient;
use super::super::http::ApiError;
use super::super::ids::random_id;
use super::super::refusals::{group_unavailable, refusal, total_too_large, unpriced};
use super::super::settings::Settings;
use super::estimate::Ready;
use super::provider::Prepared;
use super::{Call, Held, MAX_ATTEMPTS_PER_KEY};
use crate::gate::{HoldRequest, HoldState, ReserveOutcome};
use crate::Budget;

impl Call {
    /// Holds the call's estimate. A request id whose earlier call is settled
    /// (an SDK retrying a failed call with the same `Idempotency-Key`) moves
    /// on to `{key} #2`, `{key} #3`, ... ([`attempt_request_id`]): each
    /// upstream call is counted once.
    /// The hold in money is an upper bound ([`crate::pricing::bound`]):
    /// the input estimate at the model's highest input price plus the
    /// output bound at its output price, by the table in force; a model the
    /// table does not know is priced by the port's fallback price in the
    /// gate, or refused there by a `usd` budget (400 `unpriced-model`,
    /// nothing forwarded).
    pub(super) async fn reserve(
        &mut self,
        gate: &GateClient,
        settings: &Settings,
        ready: &Ready,
        body_hash: &str,
    ) -> Result<Held, ApiError> {
        let prepared = &ready.prepared;
        let base = ready
            .idempotency_key
            .clone()
            .unwrap_or_else(|| random_id("gw_"));
        let (input, output) = (
            prepared.estimate.input_tokens,
            prepared.estimate.output_tokens,
        );
        // Prices that cannot be read leave a token budget's call alone; a
        // budget in dollars then refuses it as unavailable (503), not as
        // unpriced.
        let (estimated_usd, prices_down) = match settings
            .bound_now(&prepared.model, input, output, prepared.service_tier)
            .await
        {
            Ok(bound) => (bound, None),
            Err(e) => (None, Some(e)),
        };
        for attempt in 1..=MAX_ATTEMPTS_PER_KEY {
            let request_id = attempt_request_id(&base, attempt);
            let hold = HoldRequest {
                estimated_tokens: prepared.estimate.total(),
                feature: ready.feature.clone(),
                user_id: ready.user_id.clone(),
                request_id: request_id.clone(),
                ttl_seconds: self.config.hold_ttl_seconds,
                body_hash: body_hash.to_owned(),
                hold_id: random_id("rsv_"),
                estimated_usd,
                unpriced_estimate: estimated_usd.is_none().then_some((input, output)),
            };
            let answer = gate.reserve(&hold).await?;
            let budget = answer.budget.budget;
            match answer.result {
                ReserveOutcome::Held {
                    hold,
                    load,
                    replayed: false,
                } => {
                    return Ok(Held {
                        reservation_id: hold.id,
                        request_id,
                        budget,
                        load,
                    })
                }
                // A call under this key was settled: the next attempt.
                ReserveOutcome::Held { hold, .. } if hold.state != HoldState::Held => continue,
                refused => return Err(self.refused_hold(budget, refused, prices_down, prepared)),
            }
        }
        Err(ApiError::conflict(
            "idempotency-key-exhausted",
            format!("this Idempotency-Key was already used for {MAX_ATTEMPTS_PER_KEY} calls"),
        ))
    }

    /// The answer to a hold the gate did not make (the port's state is
    /// remembered for its headers): a call under the key still in flight,
    /// a refusal by the budget, a key used for another request, a total
    /// past the exact range, or a call with no price.
    fn refused_hold(
        &mut self,
        budget: Budget,
        outcome: ReserveOutcome,
        prices_down: Option<StoreError>,
        prepared: &Prepared,
    ) -> ApiError {
        let (error, load) = match outcome {
            ReserveOutcome::Held { load, .. } => (
                ApiError::conflict(
                    "call-in-flight",
                    "a call with this Idempotency-Key is still in flight",
                ),
                load,
            ),
            ReserveOutcome::Refused { refusal: r, load } => (refusal(&r, self.now), load),
            ReserveOutcome::Conflict { load, .. } => (
                ApiError::conflict(
                    "idempotency-key-conflict",
                    "this Idempotency-Key was used for a different request",
                ),
                load,
            ),
            ReserveOutcome::TooLarge { refusal: r, load } => (total_too_large(&r), load),
            ReserveOutcome::Short { group, load, .. } => (group_unavailable(&group), load),
            ReserveOutcome::Unpriced { load } => (
                match prices_down {
                    Some(e) => e.into(),
                    None => unpriced(Some(&prepared.model)),
                },
                load,
            ),
        };
        self.remember(budget, &load);
        error
    }
}

/// The ledger request id of a call's `attempt`-th upstream call under one
/// idempotency key: the key itself, then `{key} #2`, `{key} #3`, ... A
/// client's key (like every request id of the HTTP API) is visible ASCII,
/// never a space, so no client key is ever another key's attempt: a client
/// sending `Idempotency-Key: idem #2` is refused as malformed, and one
/// sending `idem~2` is a key of its own, untouched by retries of `idem`.
pub(super) fn attempt_request_id(key: &str, attempt: u32) -> String {
    if attempt == 1 {
        key.to_owned()
    } else {
        format!("{key} #{attempt}")
    }
}
