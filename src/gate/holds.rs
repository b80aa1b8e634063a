//! Holds: taken (check and hold in one step), given back, and expired at
//! their estimate when not settled in time.

use chrono::{DateTime, Utc};

use super::*;
use crate::amount::{self as amounts, Totals};
use crate::time::ms;
use crate::{charge, TokenCounts, MAX_TOKENS};

impl<S: Sql> Gate<'_, S> {
    // ------------------------------------------------------------ expiry

    /// Expires every open hold due at `now`: each becomes a ledger entry at
    /// its estimate, at the instant it expired, unless its request id was
    /// already counted by a usage write. Returns how many expired.
    pub fn expire_due(&self, now: DateTime<Utc>) -> Result<usize, GateError> {
        let due = self.t.due_holds(ms(now))?;
        for hold in &due {
            let at = hold.expires_at;
            if self.t.entry_by_request(&hold.request_id)?.is_some() {
                self.t
                    .settle_hold(&hold.id, HoldState::Expired, at, None, None)?;
                continue;
            }
            let charge = charge::expired_hold(hold.estimated_tokens);
            // A hold was admitted within the exact range; its periods at
            // expiry may be others, so its charge (tokens and money) is
            // kept inside it too.
            let room = Totals::new(MAX_TOKENS, MAX_TOKENS)
                .less(self.t.largest_port_totals(self.starts(at)?)?);
            let input = charge.input_tokens.min(room.tokens);
            let seq = self.t.take_seq()?;
            let unit = self.budget()?.budget.unit;
            let held = unit.pick(hold.estimated_tokens, hold.estimated_usd.unwrap_or(0));
            let funded_by = self.settle_funding(&hold.request_id, held, held, at)?;
            let entry = Entry {
                seq,
                request_id: hold.request_id.clone(),
                reservation_id: Some(hold.id.clone()),
                user_id: hold.user_id.clone(),
                feature: hold.feature.clone(),
                provider: "unknown".into(),
                model: "unknown".into(),
                tokens: TokenCounts::new(input, charge.output_tokens),
                // Charged its money bound too, as it was held.
                cost_usd: hold.estimated_usd.map(|usd| usd.min(room.usd)),
                body_hash: String::new(),
                estimated: true,
                created_at: at,
                version: 1,
                write_id: String::new(),
                funded_by,
                price_version: None,
                price_source: None,
            };
            self.t.insert_entry(&entry)?;
            self.count(&entry, 1)?;
            self.t
                .settle_hold(&hold.id, HoldState::Expired, at, None, Some(seq))?;
        }
        // A period's rollover is due at its start: recorded before anything
        // else of the new period can change the one before.
        let stored = self.budget()?;
        if stored.rollover.is_some() {
            self.rollover_in(&stored, now)?;
        }
        Ok(due.len())
    }

    /// When the next open hold expires (epoch ms): when the object's alarm
    /// should next run for expiry.
    pub fn next_expiry(&self) -> Result<Option<i64>, GateError> {
        Ok(self.t.next_expiry()?)
    }

    /// Checks and holds in one step: the hold is taken only when the core
    /// allows the request's estimate on the port's used plus held amount,
    /// in the budget's unit (`req.estimated_tokens` on tokens, or
    /// `req.estimated_usd` on micro-dollars; a `usd` budget never holds a
    /// call without a money estimate).
    pub fn reserve(
        &self,
        req: &HoldRequest,
        now: DateTime<Utc>,
    ) -> Result<ReserveOutcome, GateError> {
        self.expire_due(now)?;
        let (stored, load) = self.budget_load(now)?;
        if let Some(existing) = self.t.hold_by_request(&req.request_id)? {
            return Ok(if existing.body_hash == req.body_hash {
                // The very request again (the caller retried after losing
                // the answer) took it: not a replay by another.
                let replayed = existing.id != req.hold_id;
                ReserveOutcome::Held {
                    hold: existing,
                    load,
                    replayed,
                }
            } else {
                ReserveOutcome::Conflict { existing, load }
            });
        }
        let unit = stored.budget.unit;
        // Judged in the port's room: its cap, raises, rollover and credits.
        let mut room = self.room_view(&stored, &load, now)?;
        // A port with shards: what they consumed and were lent weighs too.
        room.cap_used = room
            .cap_used
            .saturating_add(self.shards_load(&stored, now)?);
        // A model the table does not price takes the port's fallback price.
        let judged = credits::judge_in(&stored.budget, &room, &req.estimate(), now);
        let Judged::Decided {
            usd: estimated_usd, ..
        } = judged
        else {
            return Ok(ReserveOutcome::Unpriced { load });
        };
        if let Some(mut refusal) = judged.refusal(unit) {
            refusal.room = Some(room.room);
            self.count_refused(req, &refusal, now)?;
            return Ok(ReserveOutcome::Refused { refusal, load });
        }
        if let Some(refusal) = self.sub_cap_refusal(
            &stored,
            &req.feature,
            req.user_id.as_deref(),
            req.estimated_tokens,
            now,
        )? {
            self.count_refused(req, &refusal, now)?;
            return Ok(ReserveOutcome::Refused { refusal, load });
        }
        let at = ms(now);
        let held = Totals::new(load.held_tokens, load.held_usd);
        let amounts = Totals::new(req.estimated_tokens, estimated_usd.unwrap_or(0));
        if let Some(refusal) = self.overflow(at, held, amounts)? {
            let start = ms(stored.budget.window(now).start);
            self.count_refusal(&req.request_id, start, refusals::TOO_LARGE, "port", at)?;
            return Ok(ReserveOutcome::TooLarge { refusal, load });
        }
        // A port under a group holds within its allowance too.
        let amount = unit.pick(amounts.tokens, amounts.usd);
        if let Some(need) = self.allowance_take(&stored, amount, &load, now)? {
            return Ok(ReserveOutcome::Short {
                group: stored.parent.clone().unwrap_or_default(),
                need,
                load,
            });
        }
        let hold = Hold {
            id: req.hold_id.clone(),
            request_id: req.request_id.clone(),
            feature: req.feature.clone(),
            user_id: req.user_id.clone(),
            estimated_tokens: req.estimated_tokens,
            estimated_usd,
            state: HoldState::Held,
            body_hash: req.body_hash.clone(),
            actual_tokens: None,
            created_at: at,
            expires_at: at + (req.ttl_seconds as i64) * 1000,
            settled_at: None,
            entry_seq: None,
        };
        self.t.insert_hold(&hold)?;
        let amount = unit.pick(hold.estimated_tokens, hold.estimated_usd.unwrap_or(0));
        self.fund_hold(&stored, &room, &hold.request_id, amount, now)?;
        let load = PortLoad {
            held_tokens: amounts::sum(load.held_tokens, hold.estimated_tokens),
            held_usd: amounts::sum(load.held_usd, hold.estimated_usd.unwrap_or(0)),
            ..load
        };
        Ok(ReserveOutcome::Held {
            hold,
            load,
            replayed: false,
        })
    }

    /// Counts `refusal` of `req` in the refusal's period.
    fn count_refused(
        &self,
        req: &HoldRequest,
        refusal: &Refusal,
        now: DateTime<Utc>,
    ) -> Result<(), GateError> {
        self.count_refusal(
            &req.request_id,
            refusal.period_start,
            &refusal.reason,
            &refusal.scope,
            ms(now),
        )
    }

    // ------------------------------------------------------------ release

    /// Gives a hold back. Releasing twice answers the same; a committed or
    /// expired hold cannot be released.
    pub fn release(&self, id: &str, now: DateTime<Utc>) -> Result<ReleaseOutcome, GateError> {
        self.expire_due(now)?;
        let period = self.budget()?.budget.period;
        let Some(hold) = self.t.hold(id)? else {
            return Ok(ReleaseOutcome::NotFound {
                load: self.load(period, None, now)?,
            });
        };
        Ok(match hold.state {
            HoldState::Held => {
                let hold = self
                    .t
                    .settle(hold, HoldState::Released, ms(now), None, None)?;
                self.release_funding(&hold.request_id)?;
                ReleaseOutcome::Released {
                    hold,
                    load: self.load(period, None, now)?,
                }
            }
            HoldState::Released => ReleaseOutcome::Released {
                hold,
                load: self.load(period, None, now)?,
            },
            HoldState::Committed | HoldState::Expired => ReleaseOutcome::Conflict {
                hold,
                load: self.load(period, None, now)?,
            },
        })
    }
}
