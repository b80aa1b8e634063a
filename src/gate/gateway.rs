//! The port's gateway settings (strict mode, default output bound, models,
//! actions at the caps), saved through the API and bound to the next call,
//! and the hold a gateway call asks for under them: the settings' version
//! checked, the actions at the caps applied ([`crate::actions::verdict`]),
//! a throttle's slots counted, all in the hold's one turn.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::actions::{self, Acted, ActionTaken, Cap, CapActions, Standing, Verdict};
use crate::llm::port_settings::PortSettings;
use crate::time::{instant, iso, ms};
use crate::{Decision, DecisionCode};

/// The port's gateway settings as saved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedGatewaySettings {
    /// The settings.
    pub settings: PortSettings,
    /// When they were saved (ISO 8601, unique per save): their `ETag`.
    pub updated_at: Option<String>,
    /// Who saved them.
    pub updated_by: Option<String>,
    /// Their version (epoch ms of the save; 0: never saved).
    pub version: i64,
}

/// What saving the gateway settings came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum GatewaySaveOutcome {
    /// Saved: the next call is judged under them.
    Saved {
        /// As saved.
        saved: SavedGatewaySettings,
        /// As they were until this save (read in the same transaction), for
        /// the audit record.
        before: SavedGatewaySettings,
    },
    /// `If-Match` named another version: nothing saved.
    PreconditionFailed {
        /// The settings in force.
        saved: SavedGatewaySettings,
    },
}

/// A gateway call's hold: the hold, the model it calls, the settings
/// version the Worker prepared it under, the actions in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayHold {
    /// The hold.
    pub hold: HoldRequest,
    /// The model called.
    pub model: String,
    /// The settings version the call was prepared under (`None`: unknown).
    pub seen: Option<i64>,
    /// The actions at the caps (the port's saved ones over the
    /// deployment's).
    pub actions: CapActions,
    /// The call was downgraded already.
    pub downgraded: bool,
    /// The actions at the call's feature's own cap (the port's settings'
    /// `features` entry for it; none: the feature's cap acts as without
    /// settings).
    #[serde(default, skip_serializing_if = "is_none")]
    pub feature_actions: CapActions,
}

fn is_none(actions: &CapActions) -> bool {
    *actions == CapActions::default()
}

/// What a gateway call's hold came to.
// One value per request, moved once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum GatewayReserveOutcome {
    /// The call was prepared under other settings than the port's: these
    /// are; nothing was held.
    Settings {
        /// The settings in force.
        saved: SavedGatewaySettings,
    },
    /// Hold it again with this cheaper model; nothing was held.
    Downgrade {
        /// The cheaper model.
        model: String,
        /// The cap.
        cap: Cap,
        /// The cap is the call's feature's.
        #[serde(default)]
        feature: bool,
    },
    /// A throttle's slots of this minute are taken; nothing was held.
    Throttled {
        /// Seconds to the next minute.
        retry_after: u64,
        /// The throttle is at the call's feature's soft cap.
        #[serde(default)]
        feature: bool,
    },
    /// The action at the soft cap refuses; nothing was held.
    Refused {
        /// The cap.
        cap: Cap,
        /// The cap is the call's feature's.
        #[serde(default)]
        feature: bool,
    },
    /// The hold's own outcome, and the action that let the call on.
    Reserve {
        /// The hold's outcome.
        outcome: ReserveOutcome,
        /// The action, if one applied.
        acted: Option<Acted>,
        /// The settings version in force.
        version: i64,
        /// A throttle's slot taken on behalf of a hold short of the port's
        /// allowance (its group is asked next): given back when the hold
        /// is not taken after all ([`Gate::return_throttle_slot`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slot: Option<ThrottleSlot>,
    },
    /// The port key the call presents was revoked (the port's object
    /// answers this, before the gate); nothing was held.
    KeyRevoked,
}

/// One call's place in a throttle's minute: the port's throttle, or a
/// feature's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleSlot {
    /// The feature whose throttle it is (`None`: the port's).
    pub feature: Option<String>,
    /// The minute (epoch ms of its start).
    pub minute: i64,
}

impl<S: Sql> Gate<'_, S> {
    /// The gateway settings saved for the port (none saved: empty, version 0).
    pub fn gateway_settings(&self) -> Result<SavedGatewaySettings, GateError> {
        let row = self.t.one(
            "SELECT settings, updated_at, updated_by FROM gateway_settings WHERE id = 1",
            &[],
        )?;
        let Some(row) = row else {
            return Ok(SavedGatewaySettings::default());
        };
        let version = row.int("updated_at").unwrap_or(0);
        Ok(SavedGatewaySettings {
            settings: row
                .text("settings")
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default(),
            updated_at: Some(iso(instant(version))),
            updated_by: row.text("updated_by"),
            version,
        })
    }

    /// Saves the port's gateway settings (validated by the caller) whole,
    /// only over the version `if_match` names (`*` matches any). The
    /// version is the save's instant, at least a millisecond after the
    /// one before.
    pub fn save_gateway_settings(
        &self,
        settings: &PortSettings,
        if_match: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<GatewaySaveOutcome, GateError> {
        let current = self.gateway_settings()?;
        if !save::if_match_allows(if_match, current.updated_at.as_deref()) {
            return Ok(GatewaySaveOutcome::PreconditionFailed { saved: current });
        }
        let version = ms(now).max(current.version + 1);
        let text = serde_json::to_string(settings).map_err(|e| GateError(e.to_string()))?;
        self.t.exec(
            "INSERT INTO gateway_settings (id, settings, updated_at, updated_by) \
             VALUES (1, ?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET \
             settings = excluded.settings, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
            &[text.into(), version.into(), actor.into()],
        )?;
        Ok(GatewaySaveOutcome::Saved {
            saved: self.gateway_settings()?,
            before: current,
        })
    }

    /// A gateway call's hold: refused unseen when the call was prepared
    /// under other settings than the port's; else the actions at the caps
    /// judge it on where it stands, and a hold they let on is taken as
    /// [`Gate::reserve`] takes it (a throttle's slot counted once held).
    pub fn gateway_reserve(
        &self,
        req: &GatewayHold,
        now: DateTime<Utc>,
    ) -> Result<GatewayReserveOutcome, GateError> {
        let saved = self.gateway_settings()?;
        if req.seen.unwrap_or(0) != saved.version {
            return Ok(GatewayReserveOutcome::Settings { saved });
        }
        let now_ms = ms(now);
        // Without actions nothing depends on the standings: not judged twice.
        let (port, feature) = if is_none(&req.actions) && is_none(&req.feature_actions) {
            (Standing::Under, Standing::Under)
        } else {
            let (stored, port) = self.standing_of(&req.hold, now)?;
            let feature = if is_none(&req.feature_actions) {
                Standing::Under
            } else {
                self.feature_standing(&stored, &req.hold, now)?
            };
            (port, feature)
        };
        let (by_feature, verdict) = actions::verdict_of_caps(
            (&req.actions, port),
            (&req.feature_actions, feature),
            &req.model,
            req.downgraded,
            now_ms,
            |of_feature, minute| {
                let scope = of_feature.then_some(req.hold.feature.as_str());
                self.throttle_taken(scope, minute).unwrap_or(u64::MAX)
            },
        );
        let scope = if by_feature { "feature" } else { "port" };
        let (acted, slot) = match verdict {
            Verdict::Downgrade { model, cap } => {
                return Ok(GatewayReserveOutcome::Downgrade {
                    model,
                    cap,
                    feature: by_feature,
                })
            }
            Verdict::Throttled { retry_after } => {
                self.count_refusal_now(&req.hold.request_id, refusals::THROTTLED, scope, now)?;
                return Ok(GatewayReserveOutcome::Throttled {
                    retry_after,
                    feature: by_feature,
                });
            }
            Verdict::Refused { cap } => {
                let reason = refusals::refused_at(cap.as_str());
                self.count_refusal_now(&req.hold.request_id, &reason, scope, now)?;
                return Ok(GatewayReserveOutcome::Refused {
                    cap,
                    feature: by_feature,
                });
            }
            Verdict::Proceed { acted, slot } => (acted, slot),
        };
        let outcome = self.reserve(&req.hold, now)?;
        let held = matches!(
            outcome,
            ReserveOutcome::Held {
                replayed: false,
                ..
            }
        );
        // A hold short of the port's allowance takes its slot now too, so
        // no call judged meanwhile takes it: the throttle stays exact while
        // the group is asked, and the slot comes back if the hold fails.
        let short = matches!(outcome, ReserveOutcome::Short { .. });
        let mut taken = None;
        if let (Some(minute), true) = (slot, held || short) {
            let scope = by_feature.then_some(req.hold.feature.as_str());
            self.take_throttle_slot(scope, minute)?;
            taken = short.then(|| ThrottleSlot {
                feature: scope.map(str::to_owned),
                minute,
            });
        }
        // A refusal is the hard cap's, whatever let the call on: the
        // port's, or the feature's when the feature has actions of its own.
        let acted = match &outcome {
            ReserveOutcome::Refused { refusal, .. }
                if refusal.scope == "port"
                    || (refusal.scope == "feature" && !is_none(&req.feature_actions)) =>
            {
                Some(Acted {
                    cap: Cap::Hard,
                    action: ActionTaken::Refused,
                    feature: refusal.scope == "feature",
                })
            }
            ReserveOutcome::Held { .. } => acted,
            _ => None,
        };
        Ok(GatewayReserveOutcome::Reserve {
            outcome,
            acted,
            version: saved.version,
            slot: taken,
        })
    }

    /// Gives back a throttle's slot taken for a hold that was not taken
    /// after all (its group refused it, or could not be reached).
    pub fn return_throttle_slot(&self, slot: &ThrottleSlot) -> Result<(), GateError> {
        match &slot.feature {
            None => self.t.exec(
                "UPDATE throttle_minutes SET calls = calls - 1 WHERE minute = ?1 AND calls > 0",
                &[slot.minute.into()],
            )?,
            Some(feature) => self.t.exec(
                "UPDATE feature_throttle_minutes SET calls = calls - 1 \
                 WHERE feature = ?1 AND minute = ?2 AND calls > 0",
                &[feature.into(), slot.minute.into()],
            )?,
        };
        Ok(())
    }

    /// Where a hold stands against the port's caps, judged as the hold
    /// itself is (its room: raises, rollover, credits); and the budget.
    fn standing_of(
        &self,
        hold: &HoldRequest,
        now: DateTime<Utc>,
    ) -> Result<(StoredBudget, Standing), GateError> {
        self.expire_due(now)?;
        let (stored, load) = self.budget_load(now)?;
        let room = self.room_view(&stored, &load, now)?;
        let standing = match credits::judge_in(&stored.budget, &room, &hold.estimate(), now) {
            Judged::Decided {
                decision: Decision::Refused { .. },
                ..
            } => Standing::OverHard,
            Judged::Decided {
                decision: Decision::Allowed { soft_cap: true, .. },
                ..
            } => Standing::OverSoft,
            _ => Standing::Under,
        };
        Ok((stored, standing))
    }

    /// Where a hold stands against its feature's own cap (none: under),
    /// by the rule every cap is judged by ([`crate::decide`]) on the
    /// feature's used and held tokens.
    fn feature_standing(
        &self,
        stored: &StoredBudget,
        hold: &HoldRequest,
        now: DateTime<Utc>,
    ) -> Result<Standing, GateError> {
        let Some(cap) = stored.caps.features.get(&hold.feature) else {
            return Ok(Standing::Under);
        };
        let window = stored.budget.window(now);
        let (used, _, _) = self.t.counter(
            window.period,
            ms(window.start),
            &store::feature_scope(&hold.feature),
        )?;
        let counted = crate::amount::sum(used, self.t.held(Some(&hold.feature))?.0);
        Ok(
            match crate::decide(
                &cap.as_budget(&stored.budget),
                counted,
                hold.estimated_tokens,
            ) {
                DecisionCode::HardCapExceeded | DecisionCode::EstimatedExceedsCap => {
                    Standing::OverHard
                }
                DecisionCode::AllowedOverSoftCap => Standing::OverSoft,
                _ => Standing::Under,
            },
        )
    }

    /// Calls a throttle let through in `minute`: the port's (`feature`
    /// none), or a feature's own.
    fn throttle_taken(&self, feature: Option<&str>, minute: i64) -> Result<u64, GateError> {
        let row = match feature {
            None => self.t.one(
                "SELECT calls FROM throttle_minutes WHERE minute = ?1",
                &[minute.into()],
            )?,
            Some(feature) => self.t.one(
                "SELECT calls FROM feature_throttle_minutes WHERE feature = ?1 AND minute = ?2",
                &[feature.into(), minute.into()],
            )?,
        };
        Ok(row.map_or(0, |row| row.count("calls")))
    }

    /// Counts one call through in `minute` (the port's throttle, or
    /// `feature`'s); earlier minutes are forgotten.
    fn take_throttle_slot(&self, feature: Option<&str>, minute: i64) -> Result<(), GateError> {
        match feature {
            None => {
                self.t.exec(
                    "DELETE FROM throttle_minutes WHERE minute < ?1",
                    &[minute.into()],
                )?;
                self.t.exec(
                    "INSERT INTO throttle_minutes (minute, calls) VALUES (?1, 1) \
                     ON CONFLICT (minute) DO UPDATE SET calls = calls + 1",
                    &[minute.into()],
                )?;
            }
            Some(feature) => {
                self.t.exec(
                    "DELETE FROM feature_throttle_minutes WHERE minute < ?1",
                    &[minute.into()],
                )?;
                self.t.exec(
                    "INSERT INTO feature_throttle_minutes (feature, minute, calls) \
                     VALUES (?1, ?2, 1) ON CONFLICT (feature, minute) \
                     DO UPDATE SET calls = calls + 1",
                    &[feature.into(), minute.into()],
                )?;
            }
        }
        Ok(())
    }
}
