//! The gate's one entry: [`Gate::apply`] runs any [`Operation`] at `now`
//! inside the storage transaction the caller provides, notices the alert
//! crossings a change made in that same transaction, and answers the
//! budget and the load the operation ended with, once.

use chrono::{DateTime, Utc};

use super::*;
use crate::alerts::watch::{self, AlertThresholds};
use crate::alerts::{AlertEvent, Standing};

/// End users listed nearest their caps in a status report.
pub const TOP_USERS: u32 = 10;

/// One operation on a port's gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Where the port stands (expires what is due first).
    View {
        /// One feature's load instead of the port's, if given.
        feature: Option<String>,
        /// Report where the caps inside the port stand too.
        caps: bool,
    },
    /// Where the port stands, and the first cap inside it a call would
    /// cross (the port's own cap is judged on the view by [`judge`]).
    Check {
        /// The call's feature.
        feature: String,
        /// The call's end user.
        user_id: Option<String>,
        /// The call's estimated tokens.
        estimated_tokens: u64,
    },
    /// Check and hold.
    Reserve(HoldRequest),
    /// Settle a hold with the real usage.
    Commit {
        /// The hold's id.
        id: String,
        /// The usage.
        usage: CallUsage,
        /// Fingerprint of the request.
        body_hash: String,
        /// The request's id (the same on its retries).
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
        /// The request's id (the same on its retries).
        write_id: String,
        /// When it happened.
        occurred_at: DateTime<Utc>,
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
    /// The alert thresholds (percents of the hard cap, the forecast),
    /// each replaced first when given.
    Alerts {
        /// The new percents, validated by the caller.
        percents: Option<Vec<u8>>,
        /// Whether to watch the forecast (the `projected` threshold).
        projected: Option<bool>,
    },
    /// Benchmarks only: `rows` delivered entries of history.
    SeedHistory {
        /// How many.
        rows: u64,
        /// Distinct end users the rows go round (0: none).
        users: u64,
    },
    /// Put every set-aside ledger entry back on its way to the ledger of
    /// record (after the cause D1 refused it for was mended).
    RetrySetAside,
    /// A change to, or a question about, the port's credits and raises.
    Grants(credits::GrantOp),
    /// A wake-up: expires what is due, notices period resets, prunes when
    /// the daily pruning is due ([`wake::prune_due`]).
    Tick,
    /// The port's gateway settings as saved.
    GatewaySettings,
    /// Save the port's gateway settings (validated by the caller) whole.
    SaveGatewaySettings {
        /// The settings.
        settings: crate::llm::port_settings::PortSettings,
        /// `If-Match`, if sent.
        if_match: Option<String>,
        /// Who saves them.
        actor: String,
    },
    /// A gateway call's hold, under the port's settings and the actions
    /// at its caps.
    GatewayReserve(gateway::GatewayHold),
}

impl Operation {
    /// True when the operation may change what the stores of record, the
    /// snapshot or the alert outbox are owed (the object delivers after
    /// it).
    pub fn changes(&self) -> bool {
        !matches!(
            self,
            Operation::View { .. }
                | Operation::Check { .. }
                | Operation::Hold { .. }
                | Operation::Holds { .. }
                | Operation::Alerts {
                    percents: None,
                    projected: None
                }
                | Operation::Grants(credits::GrantOp::Credits | credits::GrantOp::Raises)
                | Operation::GatewaySettings
                | Operation::SaveGatewaySettings { .. }
        )
    }
}

/// What an operation came to, by operation.
// One value per request, moved once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// [`Operation::View`].
    View(PortView),
    /// [`Operation::Check`].
    Check(PortCheck),
    /// [`Operation::Reserve`].
    Reserve(ReserveOutcome),
    /// [`Operation::Commit`].
    Commit(CommitOutcome),
    /// [`Operation::Release`].
    Release(ReleaseOutcome),
    /// [`Operation::Record`].
    Record(RecordOutcome),
    /// [`Operation::SaveBudget`].
    Save(SaveOutcome),
    /// [`Operation::Hold`].
    Hold(Option<Hold>),
    /// [`Operation::Holds`].
    Holds(Vec<Hold>),
    /// [`Operation::Alerts`]: the thresholds in force.
    Alerts(AlertThresholds),
    /// [`Operation::SeedHistory`].
    Seeded,
    /// [`Operation::RetrySetAside`]: how many entries went back on their way.
    Retried(u64),
    /// [`Operation::Grants`].
    Grants(credits::GrantOutcome),
    /// [`Operation::Tick`].
    Ticked {
        /// Holds expired.
        expired: usize,
        /// True when it pruned.
        pruned: bool,
    },
    /// [`Operation::GatewaySettings`].
    GatewaySettings(gateway::SavedGatewaySettings),
    /// [`Operation::SaveGatewaySettings`].
    GatewaySave(gateway::GatewaySaveOutcome),
    /// [`Operation::GatewayReserve`].
    GatewayReserve(gateway::GatewayReserveOutcome),
}

/// The answer of [`Gate::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The enforced budget, after the operation.
    pub budget: StoredBudget,
    /// The port's load in the budget's period, after the operation.
    pub load: PortLoad,
    /// The operation's own outcome.
    pub result: Outcome,
    /// Alert events the operation wrote to the outbox (crossings,
    /// resolutions): the object hands them to the queue.
    pub alerts: usize,
    /// The group above the port over its soft cap, as its last grant said
    /// (a port under a group only).
    pub group_soft: Option<String>,
}

impl<S: Sql> Gate<'_, S> {
    /// Runs `operation` at `now`, in the caller's storage transaction:
    /// dispatches it, notices the alert thresholds a change crossed or
    /// resolved (once: concurrent changes are serialized by the
    /// transaction), and answers the budget and load it ended with.
    ///
    /// # Errors
    /// The storage's: the caller rolls the transaction back.
    pub fn apply(&self, operation: Operation, now: DateTime<Utc>) -> Result<Applied, GateError> {
        let (result, observe) = self.dispatch(operation, now)?;
        let alerts = if observe {
            self.observe_alerts(now)?.len() + self.observe_credits(now)?
        } else {
            0
        };
        let budget = self.budget()?;
        let load = self.load(budget.budget.period, None, now)?;
        let load = self.port_wide(&budget, load, now)?;
        let group_soft = match budget.parent {
            Some(_) => self.allowance()?.over_soft,
            None => None,
        };
        Ok(Applied {
            budget,
            load,
            result,
            alerts,
            group_soft,
        })
    }

    /// Where the port stands against its caps at `now`: its enforced
    /// budget and the usage counted in the budget's period, in the
    /// budget's unit. The one place the unit and the numbers of alerts
    /// come from.
    ///
    /// # Errors
    /// The storage's.
    pub fn standing(&self, now: DateTime<Utc>) -> Result<Standing, GateError> {
        let stored = self.budget()?;
        let budget = stored.budget;
        let load = self.load(budget.period, None, now)?;
        // A port with shards: what they consumed counts as the port's.
        let (shards_used, _) = self.shards_standing(&stored, now)?;
        Ok(Standing::of_budget(
            &budget,
            load.used_amount(budget.unit).saturating_add(shards_used),
            now,
        ))
    }

    /// Notices the alert crossings and resolutions at `now`, writing each
    /// event to the outbox in the caller's transaction; answers the events.
    ///
    /// # Errors
    /// The storage's.
    pub fn observe_alerts(&self, now: DateTime<Utc>) -> Result<Vec<AlertEvent>, GateError> {
        // A shard sees a part of its port: the port's own object watches
        // the whole.
        if self.shard()?.is_some() {
            return Ok(Vec::new());
        }
        let standing = self.standing(now)?;
        let port = self.port()?.unwrap_or_default();
        Ok(watch::observe_standing(
            self.t.sql(),
            &port,
            &standing,
            now.timestamp_millis(),
        )?)
    }

    /// Runs one operation; answers its outcome and whether alerts are to
    /// be observed after it.
    fn dispatch(
        &self,
        operation: Operation,
        now: DateTime<Utc>,
    ) -> Result<(Outcome, bool), GateError> {
        Ok(match operation {
            Operation::View { feature, caps } => {
                let mut view = self.view(feature.as_deref(), now)?;
                if caps {
                    view.caps = Some(self.caps_report(&view.budget, TOP_USERS, now)?);
                }
                (Outcome::View(view), false)
            }
            Operation::Check {
                feature,
                user_id,
                estimated_tokens,
            } => {
                let check = self.check(&feature, user_id.as_deref(), estimated_tokens, now)?;
                (Outcome::Check(check), false)
            }
            Operation::Reserve(hold) => (Outcome::Reserve(self.reserve(&hold, now)?), true),
            Operation::Commit {
                id,
                usage,
                body_hash,
                write_id,
            } => {
                let outcome = self.commit(&id, &usage, &body_hash, &write_id, now)?;
                (Outcome::Commit(outcome), true)
            }
            Operation::Release { id } => (Outcome::Release(self.release(&id, now)?), true),
            Operation::Record {
                usage,
                request_id,
                body_hash,
                write_id,
                occurred_at,
            } => {
                let outcome =
                    self.record(&usage, &request_id, &body_hash, &write_id, occurred_at, now)?;
                (Outcome::Record(outcome), true)
            }
            Operation::SaveBudget {
                update,
                if_match,
                actor,
            } => {
                let outcome = self.save_budget(&update, if_match.as_deref(), &actor, now)?;
                let saved = matches!(outcome, SaveOutcome::Saved { .. });
                if saved {
                    // Owed to the settings store (KV) until written there.
                    self.set_note(REPLICA_NOTE, Some("pending"))?;
                }
                // A raised cap resolves crossings; a lowered one raises them.
                (Outcome::Save(outcome), saved)
            }
            Operation::Hold { id } => (Outcome::Hold(self.hold(&id)?), false),
            Operation::Holds { all, limit } => (Outcome::Holds(self.holds(all, limit)?), false),
            Operation::Alerts {
                percents,
                projected,
            } => {
                let changes = percents.is_some() || projected.is_some();
                if let Some(p) = percents {
                    watch::set_percents(self.t.sql(), &p)?;
                }
                if let Some(on) = projected {
                    watch::set_projected(self.t.sql(), on)?;
                }
                let set = AlertThresholds::read(self.t.sql())?;
                (Outcome::Alerts(set), changes)
            }
            Operation::SeedHistory { rows, users } => {
                self.seed_history(rows, users, now)?;
                (Outcome::Seeded, false)
            }
            Operation::RetrySetAside => (Outcome::Retried(self.retry_set_aside()?), false),
            Operation::Grants(op) => {
                let read = matches!(op, credits::GrantOp::Credits | credits::GrantOp::Raises);
                (Outcome::Grants(self.grants(op, now)?), !read)
            }
            Operation::Tick => (self.tick(now)?, true),
            Operation::GatewaySettings => {
                (Outcome::GatewaySettings(self.gateway_settings()?), false)
            }
            Operation::SaveGatewaySettings {
                settings,
                if_match,
                actor,
            } => {
                let outcome =
                    self.save_gateway_settings(&settings, if_match.as_deref(), &actor, now)?;
                (Outcome::GatewaySave(outcome), false)
            }
            Operation::GatewayReserve(hold) => (
                Outcome::GatewayReserve(self.gateway_reserve(&hold, now)?),
                true,
            ),
        })
    }

    /// The wake-up's own work: expiry, and the daily pruning when due.
    fn tick(&self, now: DateTime<Utc>) -> Result<Outcome, GateError> {
        // A period's rollover is recorded at its start, request or not.
        let expired = self.expire_due(now)?;
        let at = now.timestamp_millis();
        let pruned_at = self.note(PRUNED_NOTE)?.and_then(|v| v.parse::<i64>().ok());
        let pruned = wake::prune_due(pruned_at, at);
        if pruned {
            self.prune(now)?;
            watch::prune(self.t.sql(), at - watch::SENT_RETENTION_MS)?;
            self.set_note(PRUNED_NOTE, Some(&at.to_string()))?;
        }
        Ok(Outcome::Ticked { expired, pruned })
    }

    /// What is coming, for [`wake::next_wake`]: read in one transaction.
    ///
    /// # Errors
    /// The storage's.
    pub fn facts(&self, now: i64) -> Result<wake::Facts, GateError> {
        let sql = self.t.sql();
        Ok(wake::Facts {
            next_expiry: self.next_expiry()?,
            pending_entries: self.pending_count()?,
            replica_pending: self.note(REPLICA_NOTE)?.is_some(),
            alerts_pending: !watch::pending(sql, 1)?.is_empty(),
            next_alert_reset: watch::next_reset(sql)?,
            pruned_at: self.note(PRUNED_NOTE)?.and_then(|v| v.parse::<i64>().ok()),
            next_room_change: self.next_room_change(now)?,
            next_allowance_return: self
                .allowance_next(&crate::allowance::DEFAULT_SIZING, crate::time::instant(now))?,
        })
    }

    /// True while a saved budget is owed to the settings store.
    ///
    /// # Errors
    /// The storage's.
    pub fn replica_pending(&self) -> Result<bool, GateError> {
        Ok(self.note(REPLICA_NOTE)?.is_some())
    }

    /// Records that the settings store has the saved budget.
    ///
    /// # Errors
    /// The storage's.
    pub fn replica_written(&self) -> Result<(), GateError> {
        self.set_note(REPLICA_NOTE, None)
    }
}

/// The note kept while a saved budget is owed to the settings store.
const REPLICA_NOTE: &str = "budget-replica";
/// The note of when the gate was last pruned (epoch ms).
const PRUNED_NOTE: &str = "pruned-at";
