//! The port gate: one port's enforced budget, open holds, usage counters
//! and recent ledger, and every operation on them, as plain Rust over a
//! small SQL interface ([`sql::Sql`]).
//!
//! In the Worker this runs inside the port's Durable Object (`PortGate`),
//! one operation per synchronous turn of the object, so no two requests
//! can interleave inside one: a reservation reads the counters, asks the
//! core ([`evaluate`](crate::evaluate)) and writes the hold in the same
//! turn, and no SQL anywhere restates the rule. Natively it runs over an
//! in-process SQLite, which is how the tests drive it.
//!
//! What the gate promises:
//! - **No overshoot**: a hold is granted only when the core allows it on
//!   the port's used tokens plus every open hold, whatever period a hold
//!   was taken in (it commits into the current one).
//! - **Exactly once**: a request id is counted once; a retry with the same
//!   body answers as the first time (`replayed`), another body conflicts.
//! - **Expiry**: a hold not settled by its expiry becomes a ledger entry at
//!   its estimate ([`charge::expired_hold`](crate::charge::expired_hold)),
//!   at the instant it expired; a late commit corrects that entry in its own
//!   periods.
//! - **Exact totals**: no write takes a total past 2^53 - 1, in tokens or
//!   in micro-dollars, a period's used or used plus held
//!   ([`Totals::checked_add`], [`TotalTooLarge`]).
//! - **An outbox**: every entry written or corrected is kept, with a
//!   version, until the ledger of record (D1) has that version
//!   ([`Gate::pending`], [`Gate::delivered`]).
//!
//! Time is a parameter of every operation; nothing here reads a clock.

pub mod model;
pub mod schema;

pub mod store;
pub mod sub_caps;

use chrono::{DateTime, Utc};

use crate::amount::{self as amounts, TotalTooLarge, Totals};
use crate::sql::{Sql, SqlError};
use crate::time::{instant, iso, ms};
use crate::TokenCounts;
use crate::{charge, evaluate, Decision, RawBudget, MAX_TOKENS};
pub use model::*;
use store::{scopes, Tables};
pub use sub_caps::{CapsReport, PortCheck, ScopeLoad};

/// Settled holds are forgotten this long after they settled (a retried
/// commit or release of an older one answers 404); longer than a month, so
/// no period's gate ever depends on a forgotten one.
pub const HOLD_RETENTION_DAYS: i64 = 40;
/// Delivered ledger entries are forgotten by the gate this long after they
/// were counted: a request id is exactly-once in the gate for this long
/// (the ledger of record keeps every entry, unique per request id).
pub const ENTRY_RETENTION_DAYS: i64 = 40;
/// Counters of periods that started longer ago than this are pruned: the
/// oldest period a late commit can still correct is inside it.
pub const COUNTER_RETENTION_DAYS: i64 = 100;
/// At most this many unsettled holds are listed.
pub const LISTED_HOLDS: u32 = 100;
/// At most this many set-aside entries are listed.
pub const LISTED_SET_ASIDE: u32 = 20;

const DAY_MS: i64 = 86_400_000;

/// Why an operation could not run: its storage failed. Nothing it did is
/// kept (the caller runs each operation as one transaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateError(pub String);

impl From<SqlError> for GateError {
    fn from(e: SqlError) -> GateError {
        GateError(e.0)
    }
}

impl std::fmt::Display for GateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GateError {}

/// What the gate reads once from the stores of record when a port's object
/// starts for the first time on a deployment that already has data.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Import {
    /// The budget saved before (KV).
    pub budget: Option<StoredBudget>,
    /// Usage per period kind, period start and feature, of the periods a
    /// gate or a late commit can still use (D1's rollup).
    pub counters: Vec<ImportedCounter>,
    /// Open holds, and expired ones a late commit may still correct.
    pub holds: Vec<Hold>,
    /// The ledger entries of those expired holds (still estimates).
    pub entries: Vec<Entry>,
    /// The port's highest ledger number so far.
    pub last_seq: u64,
}

/// One imported counter.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportedCounter {
    /// `day`, `week` or `month`.
    pub period: String,
    /// Its start (epoch ms).
    pub period_start: i64,
    /// The feature.
    pub feature: String,
    /// Tokens.
    pub tokens: u64,
    /// Calls.
    pub calls: u64,
    /// Micro-dollars.
    #[serde(default)]
    pub usd: u64,
}

/// The gate's answer to a question about the port (check, usage, status).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortView {
    /// The enforced budget.
    pub budget: StoredBudget,
    /// The load in the budget's period (one feature's, when asked).
    pub load: PortLoad,
    /// The load under each period kind: day, week, month.
    pub by_period: [PortLoad; 3],
    /// Open holds and expired ones not yet committed late, newest first.
    pub holds: Vec<Hold>,
    /// Ledger entries still on their way to the ledger of record.
    pub pending_entries: u64,
    /// Ledger entries the ledger of record refused for good, set aside.
    #[serde(default)]
    pub set_aside_entries: u64,
    /// The first of them (at most [`LISTED_SET_ASIDE`]).
    #[serde(default)]
    pub set_aside: Vec<SetAside>,
    /// Where the caps inside the port stand (asked for by reports only).
    #[serde(default)]
    pub caps: Option<CapsReport>,
}

/// One port's gate over its storage, for one operation.
pub struct Gate<'a, S: Sql> {
    t: Tables<'a, S>,
    /// The budget as read in this operation (a save replaces it).
    budget: std::cell::RefCell<Option<StoredBudget>>,
}

impl<'a, S: Sql> Gate<'a, S> {
    /// The gate over `sql`, its schema brought up to date.
    ///
    /// # Errors
    /// The storage's.
    pub fn open(sql: &'a S) -> Result<Gate<'a, S>, GateError> {
        schema::migrate(sql)?;
        Ok(Gate::over(sql))
    }

    /// The gate over storage already at the newest schema (see
    /// [`Gate::open`]).
    pub fn over(sql: &'a S) -> Gate<'a, S> {
        Gate {
            t: Tables::new(sql),
            budget: std::cell::RefCell::new(None),
        }
    }

    /// The port this gate is for, once known.
    pub fn port(&self) -> Result<Option<String>, GateError> {
        Ok(self.t.meta("port")?)
    }

    /// Records the port this gate is for.
    pub fn set_port(&self, port: &str) -> Result<(), GateError> {
        Ok(self.t.set_meta("port", port)?)
    }

    /// A small value of the object's own (its alarm's bookkeeping, test
    /// switches), kept with the gate's state.
    pub fn note(&self, key: &str) -> Result<Option<String>, GateError> {
        Ok(self.t.meta(&format!("note:{key}"))?)
    }

    /// Sets (or, with `None`, clears) a note.
    pub fn set_note(&self, key: &str, value: Option<&str>) -> Result<(), GateError> {
        let key = format!("note:{key}");
        match value {
            Some(v) => self.t.set_meta(&key, v)?,
            None => self.t.delete_meta(&key)?,
        }
        Ok(())
    }

    /// Forgets an entry the ledger of record already held under another
    /// number (a request id counted long ago, which the gate no longer
    /// remembered): it is uncounted, so the gate's counters stay equal to
    /// the ledger's.
    pub fn forget_duplicate(&self, seq: u64) -> Result<(), GateError> {
        if let Some(entry) = self.t.entry(seq)? {
            self.count(&entry, -1)?;
            self.t.delete_entry(seq)?;
        }
        Ok(())
    }

    /// True once the port's state was imported (or found empty) at its
    /// object's first start.
    pub fn imported(&self) -> Result<bool, GateError> {
        Ok(self.t.meta("imported")?.is_some())
    }

    /// Takes the state of a port that existed before its object did. Runs
    /// once: a second call changes nothing.
    pub fn import(&self, import: &Import) -> Result<(), GateError> {
        if self.imported()? {
            return Ok(());
        }
        if let Some(budget) = &import.budget {
            self.t.set_meta("budget", &budget.json().to_string())?;
            *self.budget.borrow_mut() = Some(budget.clone());
        }
        for c in &import.counters {
            let Ok(period) = c.period.parse::<crate::Period>() else {
                continue;
            };
            let start = instant(c.period_start);
            if ms(period.start(start)) != c.period_start {
                continue;
            }
            let tokens = i64::try_from(c.tokens).unwrap_or(i64::MAX);
            let usd = i64::try_from(c.usd).unwrap_or(i64::MAX);
            let calls = i64::try_from(c.calls).unwrap_or(i64::MAX);
            for scope in [
                store::PORT_SCOPE.to_owned(),
                store::feature_scope(&c.feature),
            ] {
                self.t
                    .count_period(period, c.period_start, &scope, (tokens, usd), calls)?;
            }
        }
        for e in &import.entries {
            self.t.insert_entry(e)?;
            self.t.mark_delivered(e.seq, e.version)?;
        }
        for h in &import.holds {
            self.t.insert_hold(h)?;
            if h.state != HoldState::Held {
                self.t.settle_hold(
                    &h.id,
                    h.state,
                    h.settled_at.unwrap_or(h.expires_at),
                    None,
                    h.entry_seq,
                )?;
            }
        }
        self.t
            .set_meta("next_seq", &(import.last_seq + 1).to_string())?;
        self.t.set_meta("imported", "1")?;
        Ok(())
    }

    // ------------------------------------------------------------ budget

    /// The enforced budget (the defaults for a port never configured).
    pub fn budget(&self) -> Result<StoredBudget, GateError> {
        if let Some(budget) = self.budget.borrow().as_ref() {
            return Ok(budget.clone());
        }
        let budget = self
            .t
            .meta("budget")?
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .map_or_else(StoredBudget::unsaved, |v| StoredBudget::from_json(&v));
        *self.budget.borrow_mut() = Some(budget.clone());
        Ok(budget)
    }

    /// Saves a partial update of the budget, merged and validated by the
    /// core, only over the version `if_match` names (`*` matches any).
    /// Binds every operation after it. `updatedAt` is unique per save (at
    /// least a millisecond after the previous one), so it serves as the
    /// budget's version.
    /// The update is the API's JSON: the budget's fields, merged by
    /// [`Budget::merge`](crate::Budget::merge), and the caps inside the
    /// port, by [`SubCaps::merge`](crate::caps::SubCaps::merge).
    pub fn save_budget(
        &self,
        update: &serde_json::Value,
        if_match: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<SaveOutcome, GateError> {
        let current = self.budget()?;
        if let Some(expected) = if_match.map(str::trim) {
            let matches = expected == "*"
                || current
                    .updated_at
                    .as_deref()
                    .is_some_and(|at| expected.trim_matches('"') == at);
            if !matches {
                return Ok(SaveOutcome::PreconditionFailed { budget: current });
            }
        }
        if update.as_object().is_some_and(|m| m.is_empty()) {
            return Ok(SaveOutcome::Unchanged { budget: current });
        }
        let invalid = |e: crate::Error| SaveOutcome::Invalid {
            code: e.code().as_str().to_owned(),
            field: e.field().map(str::to_owned),
            message: e.message().to_owned(),
        };
        // The caps inside the port are merged on their own; the rest is the
        // budget's, merged by the core as it always was.
        let mut rest = update.clone();
        let caps = match rest.as_object_mut() {
            Some(fields) => {
                let caps_update: serde_json::Map<String, serde_json::Value> = crate::caps::FIELDS
                    .iter()
                    .filter_map(|k| fields.remove(*k).map(|v| ((*k).to_owned(), v)))
                    .collect();
                match current.caps.merge(&caps_update) {
                    Ok(caps) => caps,
                    Err(e) => return Ok(invalid(e)),
                }
            }
            None => current.caps.clone(),
        };
        let raw: RawBudget = serde_json::from_value(rest).unwrap_or(RawBudget {
            not_an_object: true,
            ..RawBudget::default()
        });
        let budget = match current.budget.merge(&raw) {
            Ok(budget) => budget,
            Err(e) => return Ok(invalid(e)),
        };
        let previous = current
            .updated_at
            .as_deref()
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc));
        let at = match previous {
            Some(p) if p >= now => p + chrono::Duration::milliseconds(1),
            _ => now,
        };
        let saved = StoredBudget {
            budget,
            caps,
            updated_by: Some(actor.to_owned()),
            updated_at: Some(iso(at)),
        };
        self.t.set_meta("budget", &saved.json().to_string())?;
        *self.budget.borrow_mut() = Some(saved.clone());
        Ok(SaveOutcome::Saved { budget: saved })
    }

    // ------------------------------------------------------------ reads

    /// The port's load in the period of `period` containing `now` (one
    /// feature's when given).
    pub fn load(
        &self,
        period: crate::Period,
        feature: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<PortLoad, GateError> {
        Ok(self.t.load(&period.window(now), feature)?)
    }

    fn budget_load(&self, now: DateTime<Utc>) -> Result<(StoredBudget, PortLoad), GateError> {
        let stored = self.budget()?;
        let load = self.load(stored.budget.period, None, now)?;
        Ok((stored, load))
    }

    /// Where the port stands at `now`: its budget, its load in the budget's
    /// period (one feature's when given) and under each period kind, its
    /// unsettled holds and how much of its ledger is still on its way.
    /// Expires what is due first.
    pub fn view(&self, feature: Option<&str>, now: DateTime<Utc>) -> Result<PortView, GateError> {
        self.expire_due(now)?;
        let budget = self.budget()?;
        let by_period = crate::Period::ALL.map(|p| self.load(p, None, now));
        let [day, week, month] = by_period;
        Ok(PortView {
            load: self.load(budget.budget.period, feature, now)?,
            budget,
            by_period: [day?, week?, month?],
            holds: self.t.unsettled_holds(LISTED_HOLDS)?,
            pending_entries: self.t.pending_count()?,
            set_aside: self.t.set_aside_entries(LISTED_SET_ASIDE)?,
            set_aside_entries: self.t.set_aside_count()?,
            caps: None,
        })
    }

    /// One hold, if the port has it.
    pub fn hold(&self, id: &str) -> Result<Option<Hold>, GateError> {
        Ok(self.t.hold(id)?)
    }

    /// Holds, newest first: every state kept, or only open ones and expired
    /// ones not yet committed late.
    pub fn holds(&self, all: bool, limit: u32) -> Result<Vec<Hold>, GateError> {
        Ok(self.t.holds(all, limit)?)
    }

    /// How many holds are open, and the tokens and micro-dollars they hold.
    pub fn open_holds(&self) -> Result<(u64, u64, u64), GateError> {
        Ok(self.t.open_holds()?)
    }

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
            let room = Totals::new(MAX_TOKENS, MAX_TOKENS).less(self.t.largest_port_totals(at)?);
            let input = charge.input_tokens.min(room.tokens);
            let seq = self.t.take_seq()?;
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
            };
            self.t.insert_entry(&entry)?;
            self.count(&entry, 1)?;
            self.t
                .settle_hold(&hold.id, HoldState::Expired, at, None, Some(seq))?;
        }
        Ok(due.len())
    }

    /// When the next open hold expires (epoch ms): when the object's alarm
    /// should next run for expiry.
    pub fn next_expiry(&self) -> Result<Option<i64>, GateError> {
        Ok(self.t.next_expiry()?)
    }

    /// Counts (`sign` 1) or uncounts (`sign` -1) an entry in its scopes and
    /// periods.
    fn count(&self, entry: &Entry, sign: i64) -> Result<(), SqlError> {
        let tokens = i64::try_from(entry.total_tokens()).unwrap_or(i64::MAX);
        let usd = i64::try_from(entry.cost_usd.unwrap_or(0)).unwrap_or(i64::MAX);
        self.t.count_amounts(
            entry.created_at,
            &scopes(&entry.feature, entry.user_id.as_deref()),
            sign * tokens,
            sign * usd,
            sign,
        )
    }

    /// The rule of exact totals for a write at `at`: `None` when adding
    /// `more` to the port's largest totals of the periods containing `at`
    /// (plus `held`, for a new hold) keeps every total, in tokens and in
    /// micro-dollars, within 2^53 - 1; else the refusal, naming the unit.
    fn overflow(
        &self,
        at: i64,
        held: Totals,
        more: Totals,
    ) -> Result<Option<TotalTooLarge>, GateError> {
        let largest = self.t.largest_port_totals(at)?;
        let base = Totals::new(
            amounts::sum(largest.tokens, held.tokens),
            amounts::sum(largest.usd, held.usd),
        );
        Ok(base.checked_add(more).err())
    }

    // ------------------------------------------------------------ reserve

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
        // A model the table does not price takes the port's fallback price.
        let estimated_usd = stored
            .budget
            .money_bound(req.estimated_usd, req.unpriced_estimate);
        if unit == crate::Unit::Usd && estimated_usd.is_none() {
            return Ok(ReserveOutcome::Unpriced { load });
        }
        let estimate = unit.pick(req.estimated_tokens, estimated_usd.unwrap_or(u64::MAX));
        let decision = evaluate(&stored.budget, load.gate_amount(unit), estimate, now);
        if let Decision::Refused {
            reason,
            used_tokens,
            cap_tokens,
            window,
        } = decision
        {
            return Ok(ReserveOutcome::Refused {
                refusal: Refusal {
                    reason: reason.as_str().to_owned(),
                    scope: "port".into(),
                    scope_id: None,
                    used_tokens,
                    cap_tokens,
                    unit,
                    period_start: ms(window.start),
                    resets_at: ms(window.end),
                },
                load,
            });
        }
        if let Some(refusal) = self.sub_cap_refusal(
            &stored,
            &req.feature,
            req.user_id.as_deref(),
            req.estimated_tokens,
            now,
        )? {
            return Ok(ReserveOutcome::Refused { refusal, load });
        }
        let at = ms(now);
        let held = Totals::new(load.held_tokens, load.held_usd);
        let amounts = Totals::new(req.estimated_tokens, estimated_usd.unwrap_or(0));
        if let Some(refusal) = self.overflow(at, held, amounts)? {
            return Ok(ReserveOutcome::TooLarge { refusal, load });
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

    // ------------------------------------------------------------ commit

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
        let Some(hold) = self.t.hold(id)? else {
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
        let cost_usd = cost_usd.or(hold.estimated_usd);
        // Counts the ledger of record could not keep exactly are never
        // written: refused like any other total past the exact range.
        let Some(total) = usage.tokens.exact_total() else {
            return Ok(CommitOutcome::TooLarge {
                refusal: TotalTooLarge::new(usage.tokens.beyond()),
                load: load(self)?,
            });
        };
        match hold.state {
            HoldState::Held => {
                if self.t.entry_by_request(&hold.request_id)?.is_some() {
                    return Ok(CommitOutcome::Conflict {
                        hold,
                        load: load(self)?,
                    });
                }
                let at = ms(now);
                // Used plus what the other open holds hold stays exact.
                let now_load = load(self)?;
                let others = Totals::new(now_load.held_tokens, now_load.held_usd).less(
                    Totals::new(hold.estimated_tokens, hold.estimated_usd.unwrap_or(0)),
                );
                let actual = Totals::new(total, cost_usd.unwrap_or(0));
                if let Some(refusal) = self.overflow(at, others, actual)? {
                    return Ok(CommitOutcome::TooLarge {
                        refusal,
                        load: load(self)?,
                    });
                }
                let entry = Entry {
                    seq: self.t.take_seq()?,
                    request_id: hold.request_id.clone(),
                    reservation_id: Some(hold.id.clone()),
                    user_id: usage.user_id.clone().or_else(|| hold.user_id.clone()),
                    feature: usage
                        .feature
                        .clone()
                        .unwrap_or_else(|| hold.feature.clone()),
                    provider: usage.provider.clone(),
                    model: usage.model.clone(),
                    tokens: usage.tokens,
                    cost_usd,
                    body_hash: body_hash.to_owned(),
                    estimated: false,
                    created_at: at,
                    version: 1,
                    write_id: write_id.to_owned(),
                };
                self.t.insert_entry(&entry)?;
                self.count(&entry, 1)?;
                self.t.settle_hold(
                    &hold.id,
                    HoldState::Committed,
                    at,
                    Some(total),
                    Some(entry.seq),
                )?;
                let hold = self.t.hold(id)?.unwrap_or(hold);
                Ok(CommitOutcome::Committed {
                    hold,
                    entry,
                    load: load(self)?,
                    replayed: false,
                })
            }
            HoldState::Committed => {
                let entry = match hold.entry_seq {
                    Some(seq) => self.t.entry(seq)?,
                    None => None,
                };
                Ok(match entry {
                    Some(entry) if entry.body_hash == body_hash => CommitOutcome::Committed {
                        hold,
                        replayed: entry.write_id != write_id,
                        entry,
                        load: load(self)?,
                    },
                    _ => CommitOutcome::Conflict {
                        hold,
                        load: load(self)?,
                    },
                })
            }
            HoldState::Expired => {
                let estimated = match hold.entry_seq {
                    Some(seq) => self.t.entry(seq)?.filter(|e| e.estimated),
                    None => None,
                };
                let Some(old) = estimated else {
                    return Ok(CommitOutcome::Conflict {
                        hold,
                        load: load(self)?,
                    });
                };
                // Its estimate leaves the totals of its periods as the
                // real usage takes its place.
                let without = self
                    .t
                    .largest_port_totals(old.created_at)?
                    .less(Totals::new(old.total_tokens(), old.cost_usd.unwrap_or(0)));
                let actual = Totals::new(total, cost_usd.unwrap_or(0));
                if let Err(refusal) = without.checked_add(actual) {
                    return Ok(CommitOutcome::TooLarge {
                        refusal,
                        load: load(self)?,
                    });
                }
                self.count(&old, -1)?;
                let entry = Entry {
                    user_id: usage.user_id.clone().or_else(|| hold.user_id.clone()),
                    feature: usage.feature.clone().unwrap_or_else(|| old.feature.clone()),
                    provider: usage.provider.clone(),
                    model: usage.model.clone(),
                    tokens: usage.tokens,
                    cost_usd,
                    body_hash: body_hash.to_owned(),
                    estimated: false,
                    version: old.version + 1,
                    write_id: write_id.to_owned(),
                    ..old
                };
                self.t.replace_entry(&entry)?;
                self.count(&entry, 1)?;
                self.t.settle_hold(
                    &hold.id,
                    HoldState::Committed,
                    ms(now),
                    Some(total),
                    Some(entry.seq),
                )?;
                let hold = self.t.hold(id)?.unwrap_or(hold);
                Ok(CommitOutcome::Committed {
                    hold,
                    entry,
                    load: load(self)?,
                    replayed: false,
                })
            }
            HoldState::Released => Ok(CommitOutcome::Conflict {
                hold,
                load: load(self)?,
            }),
        }
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
                self.t
                    .settle_hold(&hold.id, HoldState::Released, ms(now), None, None)?;
                let hold = self.t.hold(id)?.unwrap_or(hold);
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

    // ------------------------------------------------------------ record

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
            return Ok(RecordOutcome::TooLarge {
                refusal: TotalTooLarge::new(usage.tokens.beyond()),
                load: self.load(period, None, now)?,
            });
        };
        let amounts = Totals::new(total, cost_usd.unwrap_or(0));
        if let Some(refusal) = self.overflow(at, Totals::new(held_tokens, held_usd), amounts)? {
            return Ok(RecordOutcome::TooLarge {
                refusal,
                load: self.load(period, None, now)?,
            });
        }
        let entry = Entry {
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
        };
        self.t.insert_entry(&entry)?;
        self.count(&entry, 1)?;
        Ok(RecordOutcome::Recorded {
            entry,
            load: self.load(period, None, now)?,
            replayed: false,
        })
    }

    // ------------------------------------------------------------ outbox

    /// Up to `limit` entries whose newest version the ledger of record has
    /// not got, oldest first, each with the version it has (0: none).
    pub fn pending(&self, limit: u32) -> Result<Vec<(Entry, u64)>, GateError> {
        Ok(self.t.pending_entries(limit)?)
    }

    /// How many entries are on their way to the ledger of record.
    pub fn pending_count(&self) -> Result<u64, GateError> {
        Ok(self.t.pending_count()?)
    }

    /// Sets an entry's `version` aside: the ledger of record refused it
    /// for good ([`crate::ledger::delivery::refused_for_good`]), so the
    /// entries behind it go on. It stays counted by the gate and listed
    /// ([`Gate::set_aside_entries`]) until a newer version of it (a late
    /// commit) or [`Gate::retry_set_aside`]. False when that version is
    /// already delivered or superseded.
    pub fn set_aside(
        &self,
        seq: u64,
        version: u64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, GateError> {
        Ok(self.t.set_aside(seq, version, reason, ms(now))?)
    }

    /// Up to `limit` entries set aside, oldest first.
    pub fn set_aside_entries(&self, limit: u32) -> Result<Vec<SetAside>, GateError> {
        Ok(self.t.set_aside_entries(limit)?)
    }

    /// How many entries are set aside.
    pub fn set_aside_count(&self) -> Result<u64, GateError> {
        Ok(self.t.set_aside_count()?)
    }

    /// Puts every set-aside entry back on its way; returns how many.
    pub fn retry_set_aside(&self) -> Result<u64, GateError> {
        Ok(self.t.retry_set_aside()?)
    }

    /// Records that the ledger of record now has these `(seq, version)`s.
    pub fn delivered(&self, versions: &[(u64, u64)]) -> Result<(), GateError> {
        for (seq, version) in versions {
            self.t.mark_delivered(*seq, *version)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ benchmarks

    /// Fills the gate with `rows` delivered ledger entries of 10 tokens
    /// each, spread over the day before `at`'s end, and their counters: a
    /// port with a long history, for benchmarks (the Worker offers it only
    /// under its test seams). With `users` above 0 the rows go round that
    /// many distinct end users (`user-0`, ...), each with their counters.
    /// Numbers go on from the port's.
    pub fn seed_history(&self, rows: u64, users: u64, at: DateTime<Utc>) -> Result<(), GateError> {
        let first = self
            .t
            .meta("next_seq")?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        let day = crate::Period::Day.start(at);
        let spread = (ms(at) - ms(day)).max(1);
        self.t.exec_raw(
            "INSERT INTO entries (seq, request_id, reservation_id, user_id, feature, provider, model, \
               input_tokens, output_tokens, body_hash, estimated, created_at, version, delivered_version) \
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2) \
             SELECT ?1 + i, 'seed-' || (?1 + i), NULL, \
               CASE WHEN ?5 > 0 THEN 'user-' || (i % ?5) END, 'feature-' || (i % 5), 'openai', 'gpt', 7, 3, \
               'seed', 0, ?3 + (i * 7919) % ?4, 1, 1 FROM n",
            &[
                first.into(),
                rows.into(),
                ms(day).into(),
                spread.into(),
                users.into(),
            ],
        )?;
        for period in crate::Period::ALL {
            self.t.exec_raw(
                "INSERT INTO counters (period, period_start, scope, tokens, calls) \
                 SELECT ?1, ?2, 'u:' || user_id, SUM(input_tokens + output_tokens), COUNT(*) \
                 FROM entries WHERE seq >= ?3 AND user_id IS NOT NULL GROUP BY user_id \
                 ON CONFLICT (period, period_start, scope) DO UPDATE \
                 SET tokens = tokens + excluded.tokens, calls = calls + excluded.calls",
                &[
                    period.as_str().into(),
                    ms(period.start(at)).into(),
                    first.into(),
                ],
            )?;
        }
        self.t.set_meta("next_seq", &(first + rows).to_string())?;
        let per_feature = |k: u64| (rows / 5 + u64::from(k < rows % 5)) as i64;
        for k in 0..5u64 {
            let scope = store::feature_scope(&format!("feature-{k}"));
            let calls = per_feature(k);
            self.t.count(ms(at), &[scope], calls * 10, calls)?;
        }
        let rows = rows as i64;
        self.t
            .count(ms(at), &[store::PORT_SCOPE.to_owned()], rows * 10, rows)?;
        Ok(())
    }

    // ------------------------------------------------------------ pruning

    /// Forgets what no gate or late commit can still need: holds settled
    /// and entries delivered more than their retention ago, counters of
    /// long-past periods.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<(), GateError> {
        let now = ms(now);
        self.t.prune_holds(now - HOLD_RETENTION_DAYS * DAY_MS)?;
        self.t.prune_entries(now - ENTRY_RETENTION_DAYS * DAY_MS)?;
        self.t
            .prune_counters(now - COUNTER_RETENTION_DAYS * DAY_MS)?;
        Ok(())
    }
}
