//! Settling a held call: commit the provider's usage, charge by the core's
//! rule when it was not seen to its end, or release the hold.

use std::rc::Rc;

use serde_json::json;

use super::super::gate::GateClient;
use super::super::ids::fingerprint;
use super::super::settings::Settings;
use super::provider::Estimate;
use super::stream::StreamEnd;
use crate::charge;
use crate::gate::{CallUsage, CommitOutcome, PortLoad, ReleaseOutcome};
use crate::llm::telemetry::{call_line, CallRecord, Settlement};
use crate::pricing::billing::Billing;
use crate::Budget;
use crate::TokenCounts;

/// How one commit attempt ended.
enum Settled {
    Committed(PortLoad),
    /// The gate refused it: a total would pass 2^53 - 1.
    TooLarge,
    /// The gate could not price it (a `usd` budget); the hold's bound.
    Unpriced(Option<u64>),
    NotApplied,
}

impl Settled {
    fn load(self) -> Option<PortLoad> {
        match self {
            Settled::Committed(load) => Some(load),
            _ => None,
        }
    }
}

/// A held call on its way upstream: what settling it needs.
pub(super) struct HeldCall {
    pub(super) gate: Rc<GateClient>,
    /// This call's id: its commit is known as its own on retries.
    pub(super) write_id: String,
    pub(super) port: String,
    pub(super) budget: Budget,
    pub(super) reservation_id: String,
    pub(super) user_id: Option<String>,
    /// The provider's name (the ledger's provider column).
    pub(super) provider: String,
    pub(super) model: String,
    pub(super) estimate: Estimate,
    /// The instant the call was held: it is priced by the version of the
    /// price in force then.
    pub(super) held_at: chrono::DateTime<chrono::Utc>,
    /// The price table in KV: the call is priced at settlement with the
    /// price in force then.
    pub(super) settings: Settings,
    /// The OpenTelemetry operation of the call (`chat`, `embeddings`,
    /// `generate_content`), for its log line.
    pub(super) operation: &'static str,
    /// True when the client asked for a stream.
    pub(super) streamed: bool,
    /// True once the call was answered: its commit may then wait a few
    /// milliseconds for another trip to carry it
    /// ([`GateClient::commit_after_answer`]).
    pub(super) answered: bool,
}

impl HeldCall {
    /// The same call, settled after its answer reached the client.
    pub(super) fn answered(mut self) -> HeldCall {
        self.answered = true;
        self
    }

    /// Commits `usage` (the provider's), attributing the model the response
    /// named (else the requested one), priced as `billing` says the
    /// provider billed it. Every call ends its hold: usage past
    /// the exact range (2^53 - 1 in all), or usage the gate refuses as a
    /// total past that range, is charged the hold instead
    /// ([`Self::held_charge`]), which the gate admitted and so always fits.
    pub(super) async fn commit(
        &self,
        tokens: TokenCounts,
        model: Option<&str>,
        billing: Billing,
    ) -> Option<PortLoad> {
        self.settle_usage(tokens, model, billing, Settlement::Committed)
            .await
    }

    /// [`Self::commit`], the line logged saying `how` the call was settled.
    async fn settle_usage(
        &self,
        tokens: TokenCounts,
        model: Option<&str>,
        billing: Billing,
        how: Settlement,
    ) -> Option<PortLoad> {
        if tokens.exact_total().is_none() {
            worker::console_error!(
                "gateway: {} on port {} reported usage past 2^53 - 1 tokens ({tokens:?}); charged its hold",
                self.reservation_id,
                self.port
            );
            return self
                .priced_commit(self.held_charge(), model, billing, Settlement::Charged)
                .await
                .load();
        }
        match self.priced_commit(tokens, model, billing, how).await {
            Settled::TooLarge => {
                worker::console_error!(
                    "gateway: {} on port {} reported usage that would take a total past 2^53 - 1; charged its hold",
                    self.reservation_id,
                    self.port
                );
                self.priced_commit(self.held_charge(), model, billing, Settlement::Charged)
                    .await
                    .load()
            }
            settled => settled.load(),
        }
    }

    /// Commits `tokens` priced by the table in force; a model that lost
    /// its price since the hold is charged the hold's bound.
    async fn priced_commit(
        &self,
        tokens: TokenCounts,
        model: Option<&str>,
        billing: Billing,
        how: Settlement,
    ) -> Settled {
        match self.commit_tokens(tokens, model, None, billing, how).await {
            Settled::Unpriced(Some(bound)) => {
                self.commit_tokens(tokens, model, Some(bound), billing, how)
                    .await
            }
            settled => settled,
        }
    }

    /// The hold as usage: what a call is charged when its own usage cannot
    /// be counted.
    fn held_charge(&self) -> TokenCounts {
        let charge = charge::broken_off(
            self.estimate.input_tokens,
            self.estimate.output_tokens,
            None,
        );
        TokenCounts::new(charge.input_tokens, charge.output_tokens)
    }

    /// One commit of `tokens`, at `cost` when given, else priced now.
    async fn commit_tokens(
        &self,
        tokens: TokenCounts,
        model: Option<&str>,
        cost: Option<u64>,
        billing: Billing,
        how: Settlement,
    ) -> Settled {
        let model: String = model
            .filter(|m| !m.is_empty())
            .unwrap_or(&self.model)
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect();
        let usage = CallUsage {
            user_id: self.user_id.clone(),
            feature: None,
            provider: self.provider.clone(),
            model,
            tokens,
            cost_usd: None,
            price_version: None,
            price_source: None,
        };
        // A price that cannot be read now leaves the cost to the gate: the
        // port's fallback price, else the money hold (never free).
        let priced = match cost {
            Some(cost) => Some((cost, None, None)),
            None => match self
                .settings
                .cost_billed_at(&usage.model, &usage.tokens, &billing, self.held_at)
                .await
            {
                Ok(priced) => {
                    priced.map(|(cost, version, source)| (cost, Some(version), Some(source)))
                }
                Err(e) => {
                    worker::console_warn!("gateway: prices unreadable at settlement: {e:?}");
                    None
                }
            },
        };
        let (cost_usd, price_version, price_source) = match priced {
            Some((cost, version, source)) => (Some(cost), version, source.map(str::to_owned)),
            None => (None, None, None),
        };
        let usage = CallUsage {
            cost_usd,
            price_version,
            price_source,
            ..usage
        };
        let hash = fingerprint(&json!({
            "provider": usage.provider,
            "model": usage.model,
            "userId": usage.user_id,
            "tokens": usage.tokens,
        }));
        let (id, write_id) = (&self.reservation_id, &self.write_id);
        let committed = if self.answered {
            self.gate
                .commit_after_answer(id, &usage, &hash, write_id)
                .await
        } else {
            self.gate.commit(id, &usage, &hash, write_id).await
        };
        match committed.map(|answer| answer.result) {
            Ok(CommitOutcome::Committed { load, .. }) => {
                self.log_settled(how, Some(&usage.tokens), Some(&usage.model), usage.cost_usd);
                Settled::Committed(load)
            }
            Ok(CommitOutcome::TooLarge { .. }) => Settled::TooLarge,
            // The model lost its price since the hold (which the table
            // priced, else the gate would have refused it): charged the
            // hold's bound, never free.
            Ok(CommitOutcome::Unpriced { hold, .. }) if cost.is_none() => {
                Settled::Unpriced(hold.estimated_usd)
            }
            Ok(other) => {
                worker::console_error!(
                    "gateway: commit of {} on port {} not applied: {}",
                    self.reservation_id,
                    self.port,
                    match other {
                        CommitOutcome::NotFound { .. } => "not found",
                        _ => "conflict",
                    }
                );
                Settled::NotApplied
            }
            Err(e) => {
                // The hold stays and expires: then it is charged as its estimate.
                worker::console_error!(
                    "gateway: commit of {} on port {} failed: {e:?}",
                    self.reservation_id,
                    self.port
                );
                Settled::NotApplied
            }
        }
    }

    /// Charges a call whose usage the gateway could not see to its end, by
    /// the core's rule ([`charge::broken_off`]): the hold, its input part
    /// lowered to the provider's input count when one was reported. Never
    /// zero, never more than the hold.
    pub(super) async fn charge_unseen(&self, input_reported: Option<u64>, model: Option<&str>) {
        let charge = charge::broken_off(
            self.estimate.input_tokens,
            self.estimate.output_tokens,
            input_reported,
        );
        // No detail: what the call read from cache or spent on reasoning
        // is unknown.
        self.settle_usage(
            TokenCounts::new(charge.input_tokens, charge.output_tokens),
            model,
            Billing::default(),
            Settlement::Charged,
        )
        .await;
    }

    /// Gives the hold back: the upstream refused the call.
    pub(super) async fn release(&self) -> Option<PortLoad> {
        match self
            .gate
            .release(&self.reservation_id)
            .await
            .map(|answer| answer.result)
        {
            Ok(ReleaseOutcome::Released { load, .. }) => {
                self.log_settled(Settlement::Released, None, None, None);
                Some(load)
            }
            Ok(_) => None,
            Err(e) => {
                worker::console_error!(
                    "gateway: release of {} on port {} failed: {e:?}",
                    self.reservation_id,
                    self.port
                );
                None
            }
        }
    }

    /// Writes the call's one structured log line (OpenTelemetry's GenAI
    /// names, `crate::llm::telemetry`), once its hold is settled.
    fn log_settled(
        &self,
        how: Settlement,
        tokens: Option<&TokenCounts>,
        response_model: Option<&str>,
        cost_usd: Option<u64>,
    ) {
        let line = call_line(&CallRecord {
            port: &self.port,
            reservation_id: &self.reservation_id,
            provider: &self.provider,
            operation: self.operation,
            request_model: &self.model,
            response_model,
            tokens,
            cost_usd,
            settlement: how,
            streamed: self.streamed,
        });
        worker::console_log!("{line}");
    }

    /// Settles a streamed call from how its stream ended.
    pub(super) async fn settle_stream(self, end: StreamEnd) {
        let seen = end.seen();
        match seen.final_usage() {
            Some(usage) => {
                self.commit(usage, seen.model.as_deref(), seen.billing)
                    .await;
            }
            None => {
                worker::console_warn!(
                    "gateway: stream of {} on port {} {} without usage; charged by rule",
                    self.reservation_id,
                    self.port,
                    end.as_str()
                );
                self.charge_unseen(seen.input_tokens, seen.model.as_deref())
                    .await;
            }
        }
    }
}
