//! The Worker's side of a port's operations on its gate (what stands,
//! checks, holds and their settling, usage written, saves, the ledger's
//! delivery, credits and alert thresholds): each one request through
//! [`GateClient`]'s transport, answered with the gate's outcome types.

use super::client::{commit_request, learn_shards, GateClient};
use super::protocol::{Answered, GateRequest, HoldAnswer, HoldsAnswer, RetriedAnswer, SyncAnswer};
use crate::alerts::watch::AlertThresholds;
use crate::allowance::shards;
use crate::gate::{
    CallUsage, CommitOutcome, Hold, HoldRequest, PortCheck, PortView, RecordOutcome,
    ReleaseOutcome, ReserveOutcome, SaveOutcome,
};
use crate::worker::d1::StoreError;

impl GateClient {
    /// Where the port stands (one feature's load, when given); with
    /// `sync`, after delivering the outbox to D1 (for reports).
    pub async fn view(&self, feature: Option<&str>, sync: bool) -> Result<PortView, StoreError> {
        let view: PortView = self
            .call(&GateRequest::View {
                feature: feature.map(str::to_owned),
                sync,
                caps: false,
            })
            .await?;
        learn_shards(self.port(), view.budget.shards);
        Ok(view)
    }

    /// Where the port stands for its status report: after delivering the
    /// outbox, with where the caps inside the port stand.
    pub async fn status_view(&self) -> Result<PortView, StoreError> {
        self.call(&GateRequest::View {
            feature: None,
            sync: true,
            caps: true,
        })
        .await
    }

    /// Where the port stands, and the first cap inside it a call of
    /// `feature` for `user_id` estimated at `estimated_tokens` would cross.
    pub async fn check(
        &self,
        feature: &str,
        user_id: Option<&str>,
        estimated_tokens: u64,
    ) -> Result<PortCheck, StoreError> {
        self.call(&GateRequest::Check {
            feature: feature.to_owned(),
            user_id: user_id.map(str::to_owned),
            estimated_tokens,
        })
        .await
    }

    /// Check and hold.
    /// A port with shards holds it in the request id's shard, under an id
    /// that names the shard ([`shards::hold_prefix`]).
    pub async fn reserve(
        &self,
        hold: &HoldRequest,
    ) -> Result<Answered<ReserveOutcome>, StoreError> {
        let random = hold.hold_id.strip_prefix("rsv_").unwrap_or(&hold.hold_id);
        self.placed(&hold.request_id, |shard| GateRequest::Reserve {
            hold: HoldRequest {
                hold_id: format!("{}{random}", shards::hold_prefix(shard)),
                ..hold.clone()
            },
        })
        .await
    }

    /// Settle a hold with its real usage; `write_id` names this request.
    pub async fn commit(
        &self,
        id: &str,
        usage: &CallUsage,
        body_hash: &str,
        write_id: &str,
    ) -> Result<Answered<CommitOutcome>, StoreError> {
        self.call_holding(id, &commit_request(id, usage, body_hash, write_id))
            .await
    }

    /// Give a hold back.
    pub async fn release(&self, id: &str) -> Result<Answered<ReleaseOutcome>, StoreError> {
        self.call_holding(id, &GateRequest::Release { id: id.to_owned() })
            .await
    }

    /// Count a call made without a hold; `write_id` names this request.
    pub async fn record(
        &self,
        usage: &CallUsage,
        request_id: &str,
        body_hash: &str,
        write_id: &str,
        occurred_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Answered<RecordOutcome>, StoreError> {
        self.placed(request_id, |_| GateRequest::Record {
            usage: usage.clone(),
            request_id: request_id.to_owned(),
            body_hash: body_hash.to_owned(),
            write_id: write_id.to_owned(),
            occurred_at: occurred_at.timestamp_millis(),
        })
        .await
    }

    /// Save a partial budget update.
    pub async fn save_budget(
        &self,
        update: serde_json::Value,
        if_match: Option<String>,
        actor: &str,
    ) -> Result<SaveOutcome, StoreError> {
        let outcome = self
            .call(&GateRequest::SaveBudget {
                update,
                if_match,
                actor: actor.to_owned(),
            })
            .await?;
        if let SaveOutcome::Saved { budget } = &outcome {
            learn_shards(self.port(), budget.shards);
        }
        Ok(outcome)
    }

    /// One hold.
    pub async fn hold(&self, id: &str) -> Result<Option<Hold>, StoreError> {
        let answer: HoldAnswer = self
            .call_holding(id, &GateRequest::Hold { id: id.to_owned() })
            .await?;
        Ok(answer.hold)
    }

    /// Holds, newest first: the port's own object's and, for a port with
    /// shards, those of every shard that may hold some (under any count
    /// still in force).
    pub async fn holds(&self, all: bool, limit: u32) -> Result<Vec<Hold>, StoreError> {
        let request = GateRequest::Holds { all, limit };
        let answer: HoldsAnswer = self.call(&request).await?;
        let mut holds = answer.holds;
        let budget = self.view(None, false).await?.budget;
        let counts = budget
            .shard_history
            .in_force(budget.shards, self.clock.now().timestamp_millis());
        let shards = counts
            .iter()
            .filter(|c| **c > 1)
            .max()
            .copied()
            .unwrap_or(0);
        for shard in 0..shards {
            let more: HoldsAnswer = self.at_shard(Some(shard))?.call(&request).await?;
            holds.extend(more.holds);
        }
        if shards > 0 {
            holds.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
            holds.truncate(limit as usize);
        }
        Ok(holds)
    }

    /// Deliver the outbox now; how many entries are still on their way.
    pub async fn sync(&self) -> Result<u64, StoreError> {
        let answer: SyncAnswer = self.call(&GateRequest::Sync).await?;
        Ok(answer.pending_entries)
    }

    /// Puts the port's set-aside ledger entries back on their way to D1;
    /// answers how many.
    pub async fn retry_set_aside(&self) -> Result<u64, StoreError> {
        let answer: RetriedAnswer = self.call(&GateRequest::RetrySetAside).await?;
        Ok(answer.retried)
    }

    /// Changes or reads the port's credits and raises.
    pub async fn grants(
        &self,
        request: crate::gate::credits::GrantOp,
    ) -> Result<Answered<crate::gate::credits::GrantOutcome>, StoreError> {
        self.call(&GateRequest::Grants { request }).await
    }

    /// The port's alert thresholds; each part replaced first when given.
    pub async fn alerts(
        &self,
        percents: Option<Vec<u8>>,
        projected: Option<bool>,
    ) -> Result<AlertThresholds, StoreError> {
        self.call(&GateRequest::Alerts {
            percents,
            projected,
        })
        .await
    }
}
