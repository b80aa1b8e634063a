//! What the Worker asks a port's object and what it answers: one JSON
//! request per operation, answered with the gate's own outcome types.

use serde::{Deserialize, Serialize};

use crate::gate::{
    Applied, CallUsage, Hold, HoldRequest, Operation, Outcome, PortLoad, StoredBudget,
};

/// One operation on a port's gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum GateRequest {
    /// Where the port stands (budget, loads, holds, outbox).
    View {
        /// One feature's load instead of the port's, if given.
        feature: Option<String>,
        /// Deliver the outbox first (for reports that read D1 next).
        sync: bool,
        /// Report where the caps inside the port stand too (status).
        #[serde(default)]
        caps: bool,
    },
    /// Where the port stands, and the caps inside it a call would cross.
    Check {
        /// The call's feature.
        feature: String,
        /// The call's end user.
        user_id: Option<String>,
        /// The call's estimated tokens.
        estimated_tokens: u64,
    },
    /// Check and hold.
    Reserve {
        /// The hold wanted.
        hold: HoldRequest,
    },
    /// Settle a hold with the real usage.
    Commit {
        /// The hold's id.
        id: String,
        /// The usage.
        usage: CallUsage,
        /// Fingerprint of the request.
        body_hash: String,
        /// The Worker request's id (the same on its retries).
        write_id: String,
    },
    /// Give a hold back.
    Release {
        /// The hold's id.
        id: String,
    },
    /// Count a call made without a hold.
    Record {
        /// The usage.
        usage: CallUsage,
        /// Its idempotency key.
        request_id: String,
        /// Fingerprint of the request.
        body_hash: String,
        /// The Worker request's id (the same on its retries).
        write_id: String,
        /// When it happened (epoch ms).
        occurred_at: i64,
    },
    /// Save a partial budget update.
    SaveBudget {
        /// The update, as sent.
        update: serde_json::Value,
        /// `If-Match`, if sent.
        if_match: Option<String>,
        /// Who saves it.
        actor: String,
    },
    /// One hold.
    Hold {
        /// Its id.
        id: String,
    },
    /// Holds, newest first.
    Holds {
        /// Every state (else open and unsettled expired ones).
        all: bool,
        /// At most this many.
        limit: u32,
    },
    /// Deliver the outbox to the ledger of record now, then answer how
    /// many entries are still on their way.
    Sync,
    /// Put the set-aside entries back on their way.
    RetrySetAside,
    /// The port's alert thresholds (percents of the hard cap, the
    /// forecast), each replaced first when given (then crossings are
    /// noticed at once).
    Alerts {
        /// The new percents, validated by the caller.
        percents: Option<Vec<u8>>,
        /// Whether to watch the forecast.
        #[serde(default)]
        projected: Option<bool>,
    },
    /// A change to, or a question about, the port's credits and raises.
    Grants {
        /// What to do.
        request: crate::gate::credits::GrantOp,
    },
    /// A grant from the port's group (a recall, or a need served): answered
    /// with the report the port owes back, if any.
    Allowance {
        /// The grant.
        grant: crate::allowance::Grant,
    },
    /// Benchmarks only (the test seams): fill the gate with `rows`
    /// delivered entries of history.
    SeedHistory {
        /// How many.
        rows: u64,
        /// Distinct end users the rows go round (0: none).
        #[serde(default)]
        users: u64,
    },
    /// The port's gateway settings as saved.
    GatewaySettings,
    /// Save the port's gateway settings (validated by the Worker) whole.
    SaveGatewaySettings {
        /// The settings.
        settings: crate::llm::port_settings::PortSettings,
        /// `If-Match`, if sent.
        if_match: Option<String>,
        /// Who saves them.
        actor: String,
    },
    /// A gateway call's hold under the port's settings and the actions at
    /// its caps.
    GatewayReserve {
        /// The hold.
        hold: crate::gate::gateway::GatewayHold,
        /// SHA-256 (hex) of the port key the call presents, when a port
        /// key: a key revoked through the API is refused here
        /// ([`GateRequest::RevokeKeys`]), however the Worker knew it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// To the port's own object: a report of its shard `shard` (what it
    /// consumed, holds and needs), answered with the shard's grant and the
    /// port's budget ([`ShardAnswered`]).
    ShardReport {
        /// The shard.
        shard: u32,
        /// Its report.
        report: crate::allowance::Report,
        /// The reservation waiting on the report's need, if one is: a
        /// refusal of the need is counted under its request id.
        #[serde(default)]
        request_id: Option<String>,
    },
    /// Port keys revoked (by their SHA-256 hex): every later gateway hold
    /// presenting one is refused, before the key leaves KV.
    RevokeKeys {
        /// The keys' hashes.
        hashes: Vec<String>,
    },
}

impl GateRequest {
    /// The gate operation the request asks for, or `None` for
    /// [`GateRequest::Sync`], [`GateRequest::Allowance`],
    /// [`GateRequest::ShardReport`] and [`GateRequest::RevokeKeys`] (the
    /// objects' own work, no operation).
    pub fn operation(self) -> Option<Operation> {
        Some(match self {
            GateRequest::View { feature, caps, .. } => Operation::View { feature, caps },
            GateRequest::Check {
                feature,
                user_id,
                estimated_tokens,
            } => Operation::Check {
                feature,
                user_id,
                estimated_tokens,
            },
            GateRequest::Reserve { hold } => Operation::Reserve(hold),
            GateRequest::Commit {
                id,
                usage,
                body_hash,
                write_id,
            } => Operation::Commit {
                id,
                usage,
                body_hash,
                write_id,
            },
            GateRequest::Release { id } => Operation::Release { id },
            GateRequest::Record {
                usage,
                request_id,
                body_hash,
                write_id,
                occurred_at,
            } => Operation::Record {
                usage,
                request_id,
                body_hash,
                write_id,
                occurred_at: crate::time::instant(occurred_at),
            },
            GateRequest::SaveBudget {
                update,
                if_match,
                actor,
            } => Operation::SaveBudget {
                update,
                if_match,
                actor,
            },
            GateRequest::Hold { id } => Operation::Hold { id },
            GateRequest::Holds { all, limit } => Operation::Holds { all, limit },
            GateRequest::Alerts {
                percents,
                projected,
            } => Operation::Alerts {
                percents,
                projected,
            },
            GateRequest::SeedHistory { rows, users } => Operation::SeedHistory { rows, users },
            GateRequest::RetrySetAside => Operation::RetrySetAside,
            GateRequest::Grants { request } => Operation::Grants(request),
            GateRequest::GatewaySettings => Operation::GatewaySettings,
            GateRequest::SaveGatewaySettings {
                settings,
                if_match,
                actor,
            } => Operation::SaveGatewaySettings {
                settings,
                if_match,
                actor,
            },
            GateRequest::GatewayReserve { hold, .. } => Operation::GatewayReserve(hold),
            GateRequest::Sync
            | GateRequest::Allowance { .. }
            | GateRequest::ShardReport { .. }
            | GateRequest::RevokeKeys { .. } => return None,
        })
    }
}

/// The answer to an operation that may change the port: its outcome, with
/// the budget the gate decided under (for the answer's budget headers) and
/// the port's load after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answered<T> {
    /// The enforced budget.
    pub budget: StoredBudget,
    /// The port's load in the budget's period, after the operation.
    #[serde(default)]
    pub load: PortLoad,
    /// The outcome.
    pub result: T,
    /// The group above the port over its soft cap (its id), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_soft: Option<String>,
}

/// The JSON answer of an applied operation, as [`super::GateClient`]
/// reads it for that operation.
pub fn answer_of(applied: Applied) -> serde_json::Value {
    fn json<T: Serialize>(value: &T) -> serde_json::Value {
        serde_json::to_value(value).unwrap_or_default()
    }
    let Applied {
        budget,
        load,
        result,
        group_soft,
        ..
    } = applied;
    let answered = |result: serde_json::Value| {
        json(&Answered {
            budget: budget.clone(),
            load,
            result,
            group_soft: group_soft.clone(),
        })
    };
    match result {
        Outcome::View(view) => json(&view),
        Outcome::Check(check) => json(&check),
        Outcome::Reserve(o) => answered(json(&o)),
        Outcome::Commit(o) => answered(json(&o)),
        Outcome::Release(o) => answered(json(&o)),
        Outcome::Record(o) => answered(json(&o)),
        Outcome::Save(o) => json(&o),
        Outcome::Hold(hold) => json(&HoldAnswer { hold }),
        Outcome::Holds(holds) => json(&HoldsAnswer { holds }),
        Outcome::Alerts(thresholds) => json(&thresholds),
        Outcome::Seeded => json(&()),
        Outcome::Retried(retried) => json(&RetriedAnswer { retried }),
        Outcome::Grants(o) => answered(json(&o)),
        Outcome::Ticked { expired, pruned } => {
            serde_json::json!({ "expired": expired, "pruned": pruned })
        }
        Outcome::GatewaySettings(saved) => json(&saved),
        Outcome::GatewaySave(o) => json(&o),
        Outcome::GatewayReserve(o) => answered(json(&o)),
    }
}

/// The answer to [`GateRequest::Hold`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldAnswer {
    /// The hold, if the port has it.
    pub hold: Option<Hold>,
}

/// The answer to [`GateRequest::Holds`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldsAnswer {
    /// The holds.
    pub holds: Vec<Hold>,
}

/// The answer to [`GateRequest::RetrySetAside`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetriedAnswer {
    /// Set-aside entries put back on their way.
    pub retried: u64,
}

/// The answer to [`GateRequest::Sync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncAnswer {
    /// Entries still on their way to the ledger of record.
    pub pending_entries: u64,
}

/// The object's error answer (its storage failed, or the ledger of record
/// could not be read at first start): the Worker fails closed with 503.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateFailure {
    /// What went wrong.
    pub message: String,
}

/// The port's own object's answer to [`GateRequest::ShardReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardAnswered {
    /// The shard's grant.
    pub grant: crate::allowance::Grant,
    /// The port's cap refused the shard's need (nothing lent came back
    /// to meet it).
    pub refusal: Option<crate::gate::Refusal>,
    /// The port's budget, which the shard enforces as its own.
    pub budget: StoredBudget,
    /// Where the port stands as a whole (for the numbers the shard's
    /// answers show).
    #[serde(default)]
    pub standing: crate::gate::PortStanding,
}

/// The port's own object's answer to a reservation or a usage write sent
/// to it while the port has shards: the request belongs to a shard (its
/// place under `elsewhere` shards), and the Worker sends it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Elsewhere {
    /// The port's shard count.
    pub elsewhere: u32,
}
