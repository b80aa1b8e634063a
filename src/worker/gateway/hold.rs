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
use crate::actions::{Acted, ActionTaken, Cap};
use crate::gate::gateway::{GatewayHold, GatewayReserveOutcome, SavedGatewaySettings};
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
        key: Option<&str>,
    ) -> Result<Reserved, ApiError> {
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
            .bound_now(
                &prepared.model,
                input,
                output,
                prepared.service_tier,
                self.now,
            )
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
            let asked = GatewayHold {
                hold,
                model: prepared.model.clone(),
                seen: ready.version,
                actions: ready.settings.actions(),
                downgraded: ready.downgraded.is_some(),
                feature_actions: ready.settings.feature_actions(&ready.feature),
            };
            let answer = gate.gateway_reserve(&asked, key).await?;
            self.group_soft.clone_from(&answer.group_soft);
            let budget = answer.budget.budget;
            let (result, acted) = match answer.result {
                GatewayReserveOutcome::Settings { saved } => return Ok(Reserved::Settings(saved)),
                GatewayReserveOutcome::Downgrade {
                    model,
                    cap,
                    feature,
                } => {
                    let acted = Acted {
                        cap,
                        action: ActionTaken::Downgraded,
                        feature,
                    };
                    return Ok(Reserved::Downgrade(model, acted));
                }
                GatewayReserveOutcome::Throttled {
                    retry_after,
                    feature,
                } => {
                    self.remember(budget, &answer.load);
                    return Err(throttled(retry_after, feature.then_some(&*ready.feature)));
                }
                GatewayReserveOutcome::Refused { cap, feature } => {
                    self.remember(budget, &answer.load);
                    return Err(refused_at(cap, feature.then_some(&*ready.feature)));
                }
                GatewayReserveOutcome::Reserve { outcome, acted, .. } => (outcome, acted),
                GatewayReserveOutcome::KeyRevoked => return Ok(Reserved::KeyRevoked),
            };
            match result {
                ReserveOutcome::Held {
                    hold,
                    load,
                    replayed: false,
                } => {
                    return Ok(Reserved::Held(Held {
                        reservation_id: hold.id,
                        request_id,
                        budget,
                        load,
                        acted,
                    }))
                }
                // A call under this key was settled: the next attempt.
                ReserveOutcome::Held { hold, .. } if hold.state != HoldState::Held => continue,
                refused => {
                    let mut error = self.refused_hold(budget, refused, prices_down, prepared);
                    if let Some(acted) = acted {
                        action_headers(error.headers_mut(), acted, &ready.feature);
                    }
                    return Err(error);
                }
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

/// What a hold came to, short of an error.
pub(super) enum Reserved {
    /// Held.
    Held(Held),
    /// The call was prepared under settings no longer the port's: these are.
    Settings(SavedGatewaySettings),
    /// An action at a cap sends the call with this cheaper model.
    Downgrade(String, Acted),
    /// The port key the call presents was revoked: nothing was held.
    KeyRevoked,
}

/// The `X-Budget-Action` and `X-Budget-Cap` headers of what an action did,
/// and for an action at the call's `feature`'s own cap, `X-Budget-Scope:
/// feature` and `X-Budget-Scope-Id` (as a refusal by that cap names it).
pub(super) fn action_headers(
    headers: &mut Vec<(&'static str, String)>,
    acted: Acted,
    feature: &str,
) {
    headers.push(("X-Budget-Action", acted.action.as_str().to_owned()));
    headers.push(("X-Budget-Cap", acted.cap.as_str().to_owned()));
    if acted.feature {
        headers.push(("X-Budget-Scope", "feature".to_owned()));
        headers.push(("X-Budget-Scope-Id", feature.to_owned()));
    }
}

/// Whose cap an action's answer speaks of: the port's, or `feature`'s.
fn whose(feature: Option<&str>) -> String {
    match feature {
        Some(feature) => format!("the feature {feature:?}"),
        None => "the port".to_owned(),
    }
}

/// 429 `budget-throttled`: the throttle at the soft cap (the port's, or
/// `feature`'s own) let this minute's calls through; `Retry-After` is the
/// next minute.
fn throttled(retry_after: u64, feature: Option<&str>) -> ApiError {
    let mut error = ApiError::new(
        429,
        "budget-throttled",
        format!(
            "{} is above its soft cap and its calls are throttled: retry in {retry_after} s",
            whose(feature)
        ),
    )
    .with_retry_after(retry_after);
    action_headers(
        error.headers_mut(),
        Acted {
            cap: Cap::Soft,
            action: ActionTaken::Throttled,
            feature: feature.is_some(),
        },
        feature.unwrap_or_default(),
    );
    error
}

/// 429 `budget-exceeded` by the action at `cap` (`refuse` at the soft
/// cap) of the port, or of `feature`'s own cap.
fn refused_at(cap: Cap, feature: Option<&str>) -> ApiError {
    let mut error = ApiError::new(
        429,
        "budget-exceeded",
        format!(
            "{} is above its {} cap and its gateway settings refuse calls there",
            whose(feature),
            cap.as_str()
        ),
    );
    action_headers(
        error.headers_mut(),
        Acted {
            cap,
            action: ActionTaken::Refused,
            feature: feature.is_some(),
        },
        feature.unwrap_or_default(),
    );
    error
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
