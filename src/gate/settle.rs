//! Counting calls: a hold settled with its real usage (commit), and a
//! call made without a hold (record); each exactly once.

use chrono::{DateTime, Utc};

use super::*;
use crate::amount::{TotalTooLarge, Totals};
use crate::time::ms;

impl<S: Sql> Gate<'_, S> {
    /// Settles a hold with the call's real usage, exactly once. A held hold
    /// gets a new entry, now; an expired one's estimated entry takes the
    /// real usage (its instant, hence its periods, stay) and the counters
    /// move by the difference.
    /// `write_id` names the request: the same request again (the caller
    /// retrying after a lost answer) is not reported as a replay.
    pub fn commit(
        &self,
        id: &str,
        usage: &CallUsage,
        body_hash: &str,
        write_id: &str,
        now: DateTime<Utc>,
    ) -> Result<CommitOutcome, GateError> {
        self.expire_due(now)?;
        let budget = self.budget()?.budget;
        let period = budget.period;
        let load = |g: &Self| g.load(period, None, now);
        let Some((hold, has_entry)) = self.t.hold_and_entry(id)? else {
            return Ok(CommitOutcome::NotFound { load: load(self)? });
        };
        // Priced by the caller, else at the port's fallback price. A `usd`
        // budget refuses a call it cannot price, as a usage write of it is
        // refused (never counted as free); a token budget's row keeps its
        // hold's money estimate, if it had one.
        let cost_usd = budget.money_cost(usage.cost_usd, &usage.tokens);
        let unsettled = matches!(hold.state, HoldState::Held | HoldState::Expired);
        if budget.unit == crate::Unit::Usd && cost_usd.is_none() && unsettled {
            return Ok(CommitOutcome::Unpriced {
                hold,
                load: load(self)?,
            });
        }
        // Counts the ledger of record could not keep exactly are never
        // written: refused like any other total past the exact range.
        let Some(total) = usage.tokens.exact_total() else {
            return Ok(CommitOutcome::TooLarge {
                refusal: TotalTooLarge::new(usage.tokens.beyond()),
                load: load(self)?,
            });
        };
        let settling = Settling {
            cost_usd: cost_usd.or(hold.estimated_usd),
            usage,
            body_hash,
            write_id,
            total,
            period,
            unit: budget.unit,
            now,
        };
        match hold.state {
            HoldState::Held => self.commit_held(hold, has_entry, &settling),
            HoldState::Committed => self.commit_again(hold, &settling),
            HoldState::Expired => self.commit_expired(hold, &settling),
            HoldState::Released => Ok(CommitOutcome::Conflict {
                hold,
                load: settling.load(self)?,
            }),
        }
    }

    /// A held hold's commit: a new entry, now; a conflict when the ledger
    /// has an entry under its request id already (`has_entry`).
    fn commit_held(
        &self,
        hold: Hold,
        has_entry: bool,
        s: &Settling<'_>,
    ) -> Result<CommitOutcome, GateError> {
        if has_entry {
            return Ok(CommitOutcome::Conflict {
                hold,
                load: s.load(self)?,
            });
        }
        let at = ms(s.now);
        // Used plus what the other open holds hold stays exact.
        let now_load = s.load(self)?;
        let others = Totals::new(now_load.held_tokens, now_load.held_usd).less(Totals::new(
            hold.estimated_tokens,
            hold.estimated_usd.unwrap_or(0),
        ));
        let actual = Totals::new(s.total, s.cost_usd.unwrap_or(0));
        if let Some(refusal) = self.overflow(at, others, actual)? {
            return Ok(CommitOutcome::TooLarge {
                refusal,
                load: s.load(self)?,
            });
        }
        let funded_by = self.settle_funding(
            &hold.request_id,
            s.unit
                .pick(hold.estimated_tokens, hold.estimated_usd.unwrap_or(0)),
            s.amount(),
            at,
        )?;
        let entry = s.written_over(Entry {
            funded_by,
            seq: self.t.take_seq()?,
            request_id: hold.request_id.clone(),
            reservation_id: Some(hold.id.clone()),
            user_id: hold.user_id.clone(),
            feature: hold.feature.clone(),
            created_at: at,
            version: 1,
            ..Entry::default()
        });
        self.t.insert_entry(&entry)?;
        self.count(&entry, 1)?;
        self.settled(hold, entry, s)
    }

    /// A committed hold's commit again: the same body answers as the first
    /// time; another conflicts.
    fn commit_again(&self, hold: Hold, s: &Settling<'_>) -> Result<CommitOutcome, GateError> {
        let entry = match hold.entry_seq {
            Some(seq) => self.t.entry(seq)?,
            None => None,
        };
        Ok(match entry {
            Some(entry) if entry.body_hash == s.body_hash => CommitOutcome::Committed {
                hold,
                replayed: entry.write_id != s.write_id,
                entry,
                load: s.load(self)?,
            },
            _ => CommitOutcome::Conflict {
                hold,
                load: s.load(self)?,
            },
        })
    }

    /// An expired hold's late commit: its estimated entry takes the real
    /// usage, in its own periods.
    fn commit_expired(&self, hold: Hold, s: &Settling<'_>) -> Result<CommitOutcome, GateError> {
        let estimated = match hold.entry_seq {
            Some(seq) => self.t.entry(seq)?.filter(|e| e.estimated),
            None => None,
        };
        let Some(old) = estimated else {
            return Ok(CommitOutcome::Conflict {
                hold,
                load: s.load(self)?,
            });
        };
        // Its estimate leaves the totals of its periods as the real usage
        // takes its place.
        let without = self
            .t
            .largest_port_totals(self.starts(old.created_at)?)?
            .less(Totals::new(old.total_tokens(), old.cost_usd.unwrap_or(0)));
        let actual = Totals::new(s.total, s.cost_usd.unwrap_or(0));
        if let Err(refusal) = without.checked_add(actual) {
            return Ok(CommitOutcome::TooLarge {
                refusal,
                load: s.load(self)?,
            });
        }
        self.count(&old, -1)?;
        let funded_by = self.settle_funding(
            &hold.request_id,
            s.unit
                .pick(hold.estimated_tokens, hold.estimated_usd.unwrap_or(0)),
            s.amount(),
            old.created_at,
        )?;
        // The estimated row keeps its number, request, instant (hence its
        // periods) and feature; the hold's end user stands unless the usage
        // names its own.
        let entry = s.written_over(Entry {
            funded_by,
            user_id: hold.user_id.clone(),
            version: old.version + 1,
            ..old
        });
        self.t.replace_entry(&entry)?;
        self.count(&entry, 1)?;
        self.settled(hold, entry, s)
    }

    /// Marks `hold` committed into `entry`, now.
    fn settled(
        &self,
        hold: Hold,
        entry: Entry,
        s: &Settling<'_>,
    ) -> Result<CommitOutcome, GateError> {
        let hold = self.t.settle(
            hold,
            HoldState::Committed,
            ms(s.now),
            Some(s.total),
            Some(entry.seq),
        )?;
        Ok(CommitOutcome::Committed {
            hold,
            entry,
            load: s.load(self)?,
            replayed: false,
        })
    }

    /// Counts a call made without a hold, exactly once per request id, in
    /// the periods of `occurred_at`.
    /// `write_id` names the request, as for [`Gate::commit`].
    pub fn record(
        &self,
        usage: &CallUsage,
        request_id: &str,
        body_hash: &str,
        write_id: &str,
        occurred_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome, GateError> {
        self.expire_due(now)?;
        let budget = self.budget()?.budget;
        let period = budget.period;
        if let Some(entry) = self.t.entry_by_request(request_id)? {
            let load = self.load(period, None, now)?;
            return Ok(if entry.body_hash == body_hash {
                RecordOutcome::Recorded {
                    replayed: entry.write_id != write_id,
                    entry,
                    load,
                }
            } else {
                RecordOutcome::Conflict { entry, load }
            });
        }
        let cost_usd = budget.money_cost(usage.cost_usd, &usage.tokens);
        if budget.unit == crate::Unit::Usd && cost_usd.is_none() {
            return Ok(RecordOutcome::Unpriced {
                load: self.load(period, None, now)?,
            });
        }
        let at = ms(occurred_at);
        // Used plus what open holds hold stays exact.
        let (_, held_tokens, held_usd) = self.t.open_holds()?;
        let Some(total) = usage.tokens.exact_total() else {
            self.count_refusal_now(request_id, refusals::TOO_LARGE, "port", now)?;
            return Ok(RecordOutcome::TooLarge {
                refusal: TotalTooLarge::new(usage.tokens.beyond()),
                load: self.load(period, None, now)?,
            });
        };
        let amounts = Totals::new(total, cost_usd.unwrap_or(0));
        if let Some(refusal) = self.overflow(at, Totals::new(held_tokens, held_usd), amounts)? {
            self.count_refusal_now(request_id, refusals::TOO_LARGE, "port", now)?;
            return Ok(RecordOutcome::TooLarge {
                refusal,
                load: self.load(period, None, now)?,
            });
        }
        let funded_by = self.fund_record(
            request_id,
            budget.unit.pick(total, cost_usd.unwrap_or(0)),
            at,
            now,
        )?;
        let entry = Entry {
            funded_by,
            seq: self.t.take_seq()?,
            request_id: request_id.to_owned(),
            reservation_id: None,
            user_id: usage.user_id.clone(),
            feature: usage.feature.clone().unwrap_or_else(|| "default".into()),
            provider: usage.provider.clone(),
            model: usage.model.clone(),
            tokens: usage.tokens,
            cost_usd,
            body_hash: body_hash.to_owned(),
            estimated: false,
            created_at: at,
            version: 1,
            write_id: write_id.to_owned(),
            price_version: usage.price_version.clone(),
            price_source: usage.price_source.clone(),
        };
        self.t.insert_entry(&entry)?;
        self.count(&entry, 1)?;
        Ok(RecordOutcome::Recorded {
            entry,
            load: self.load(period, None, now)?,
            replayed: false,
        })
    }
}

/// One commit's numbers, as its steps share them.
struct Settling<'u> {
    usage: &'u CallUsage,
    body_hash: &'u str,
    write_id: &'u str,
    /// The usage's exact total tokens.
    total: u64,
    /// What it costs (micro-dollars), as charged.
    cost_usd: Option<u64>,
    /// The budget's period.
    period: crate::Period,
    /// The budget's unit.
    unit: crate::Unit,
    now: DateTime<Utc>,
}

impl Settling<'_> {
    /// `base` (a row's number, request, instant and version) with this
    /// usage written over it: its end user and feature where it names them,
    /// provider, model, counts, cost, fingerprint and writer.
    fn written_over(&self, base: Entry) -> Entry {
        Entry {
            user_id: self.usage.user_id.clone().or(base.user_id),
            feature: self.usage.feature.clone().unwrap_or(base.feature),
            provider: self.usage.provider.clone(),
            model: self.usage.model.clone(),
            tokens: self.usage.tokens,
            cost_usd: self.cost_usd,
            body_hash: self.body_hash.to_owned(),
            estimated: false,
            write_id: self.write_id.to_owned(),
            price_version: self.usage.price_version.clone(),
            price_source: self.usage.price_source.clone(),
            ..base
        }
    }

    /// The usage's amount in the budget's unit.
    fn amount(&self) -> u64 {
        self.unit.pick(self.total, self.cost_usd.unwrap_or(0))
    }

    /// The port's load in the budget's period, now.
    fn load<S: Sql>(&self, gate: &Gate<'_, S>) -> Result<PortLoad, GateError> {
        gate.load(self.period, None, self.now)
    }
}
