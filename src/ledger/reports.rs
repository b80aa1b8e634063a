//! What the reports read from the ledger of record (D1): a port's ledger
//! page by page, its breakdown per feature and its daily series from the
//! rollup, and every port's current periods for the port list. Each is one
//! statement and a reader of its rows.

use crate::gate::Entry;
use crate::sql::{Row, Statement};
use crate::time::{instant, ms};
use crate::{FeatureUsage, Period, PeriodWindow};

const ENTRY_COLUMNS: &str = "seq, request_id, reservation_id, user_id, feature, provider, model, \
    input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, \
    body_hash, estimated, created_at, version, cost_usd_micros, funded_by, price_version, price_source";

/// A ledger row as an entry (the gate's own reader: the columns are the same).
pub use crate::gate::store::entry_of;

/// Up to `limit` rows of `port`, newest first, numbered below `before`
/// (the cursor of the previous page) when given.
pub fn ledger_page(port: &str, before: Option<u64>, limit: u32) -> Statement {
    Statement::new(
        format!(
            "SELECT {ENTRY_COLUMNS} FROM usage_ledger WHERE port_id = ?1 AND seq < ?2 \
             ORDER BY seq DESC LIMIT ?3"
        ),
        vec![
            port.into(),
            before.unwrap_or(crate::MAX_TOKENS).into(),
            i64::from(limit).into(),
        ],
    )
}

/// Tokens, micro-dollars and calls per feature in `window`, most tokens
/// first (ties by feature name).
pub fn breakdown(port: &str, window: &PeriodWindow) -> Statement {
    Statement::new(
        "SELECT feature, tokens, calls, usd_micros FROM usage_rollup \
         WHERE port_id = ?1 AND period = ?2 AND period_start = ?3 AND calls > 0 \
         ORDER BY tokens DESC, feature ASC",
        vec![
            port.into(),
            window.period.as_str().into(),
            ms(window.start).into(),
        ],
    )
}

/// The rows of [`breakdown`]: each feature's usage and its cost in
/// micro-dollars.
pub fn breakdown_of(rows: &[Row]) -> Vec<(FeatureUsage, u64)> {
    rows.iter()
        .map(|r| {
            let usage = FeatureUsage {
                feature: r.text("feature").unwrap_or_default(),
                tokens: r.count("tokens"),
                calls: r.count("calls"),
            };
            (usage, r.count("usd_micros"))
        })
        .collect()
}

/// Tokens and calls of one day of the port's calendar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyUsage {
    /// The local date.
    pub date: chrono::NaiveDate,
    /// The day's start.
    pub day: chrono::DateTime<chrono::Utc>,
    /// Tokens counted that day.
    pub tokens: u64,
    /// Calls counted that day.
    pub calls: u64,
    /// Micro-dollars counted that day.
    pub usd: u64,
}

/// Tokens and calls of every day of `window`.
pub fn daily(port: &str, window: &PeriodWindow) -> Statement {
    Statement::new(
        "SELECT period_start AS day, SUM(tokens) AS tokens, SUM(calls) AS calls, \
           SUM(usd_micros) AS usd FROM usage_rollup \
         WHERE port_id = ?1 AND period = 'day' AND period_start >= ?2 AND period_start < ?3 \
         GROUP BY period_start",
        vec![port.into(), ms(window.start).into(), ms(window.end).into()],
    )
}

/// The rows of [`daily`], one per day of `window` (days without calls as
/// zeros).
pub fn daily_of(window: &PeriodWindow, rows: &[Row]) -> Vec<DailyUsage> {
    window
        .days()
        .map(|(date, day)| {
            let row = rows.iter().find(|r| r.int("day") == Some(ms(day)));
            DailyUsage {
                date,
                day,
                tokens: row.map_or(0, |r| r.count("tokens")),
                calls: row.map_or(0, |r| r.count("calls")),
                usd: row.map_or(0, |r| r.count("usd")),
            }
        })
        .collect()
}

/// Every port's used tokens in the periods that may be its current day,
/// week and month whatever its calendar (those that started at most a
/// period and 27 hours, the widest gap between two zones, before `now`),
/// and what its object last reported of its holds (for the port list).
pub fn all_ports(now: chrono::DateTime<chrono::Utc>) -> [Statement; 2] {
    const HOUR: i64 = 3_600_000;
    let now = ms(now);
    [
        Statement::new(
            "SELECT port_id, period, period_start, SUM(tokens) AS used, SUM(usd_micros) AS usd, \
               SUM(calls) AS calls \
             FROM usage_rollup WHERE period_start <= ?4 AND ( \
               (period = 'day' AND period_start > ?1) OR (period = 'week' AND period_start > ?2) \
               OR (period = 'month' AND period_start > ?3)) \
             GROUP BY port_id, period, period_start",
            vec![
                (now - 51 * HOUR).into(),
                (now - (7 * 24 + 27) * HOUR).into(),
                (now - (31 * 24 + 27) * HOUR).into(),
                now.into(),
            ],
        ),
        Statement::new(
            "SELECT port_id, held_tokens, held_usd_micros, pending_entries, refusals_period_start, \
               refusals FROM port_gates",
            vec![],
        ),
    ]
}

/// One port's rollup in one period window, as read by [`all_ports`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollupLine {
    /// The port.
    pub port: String,
    /// The kind of period.
    pub period: Period,
    /// The window's start (epoch ms).
    pub start: i64,
    /// Tokens counted.
    pub tokens: u64,
    /// Micro-dollars counted.
    pub usd: u64,
    /// Calls counted.
    pub calls: u64,
}

/// What one port's object last reported of itself, as read by
/// [`all_ports`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateReport {
    /// The port.
    pub port: String,
    /// Tokens held by open holds.
    pub held_tokens: u64,
    /// Micro-dollars held by open holds.
    pub held_usd: u64,
    /// Ledger entries not yet delivered to D1.
    pub pending: u64,
    /// The start of the period `refusals` count in (epoch ms).
    pub refusals_start: i64,
    /// The requests refused in that period, by reason and scope.
    pub refusals: Vec<crate::gate::RefusalCount>,
}

/// Every port's current-period usage and holds, as read by [`all_ports`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllPorts {
    /// The rollup of the recent days, weeks and months.
    pub used: Vec<RollupLine>,
    /// What each object last reported.
    pub reports: Vec<GateReport>,
}

impl AllPorts {
    /// Reads the two results of [`all_ports`].
    pub fn of(used: &[Row], held: &[Row]) -> AllPorts {
        AllPorts {
            used: used
                .iter()
                .filter_map(|r| {
                    Some(RollupLine {
                        port: r.text("port_id")?,
                        period: r.text("period")?.parse().ok()?,
                        start: r.int("period_start")?,
                        tokens: r.count("used"),
                        usd: r.count("usd"),
                        calls: r.count("calls"),
                    })
                })
                .collect(),
            reports: held
                .iter()
                .filter_map(|r| {
                    Some(GateReport {
                        port: r.text("port_id")?,
                        held_tokens: r.count("held_tokens"),
                        held_usd: r.count("held_usd_micros"),
                        pending: r.count("pending_entries"),
                        refusals_start: r.int("refusals_period_start").unwrap_or(0),
                        refusals: r
                            .text("refusals")
                            .and_then(|t| serde_json::from_str(&t).ok())
                            .unwrap_or_default(),
                    })
                })
                .collect(),
        }
    }

    /// `port`'s ledger entries not yet delivered to D1, as its object last
    /// reported.
    pub fn pending_of(&self, port: &str) -> u64 {
        self.reports_of(port).map(|r| r.pending).sum()
    }

    /// `port`'s refusals by reason and scope in the current window of
    /// `budget`'s period, as its object last reported (none when its last
    /// report counted an earlier period).
    pub fn refusals_of(
        &self,
        port: &str,
        budget: &crate::Budget,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<crate::gate::RefusalCount> {
        let start = ms(budget.window(now).start);
        self.reports_of(port)
            .filter(|r| r.refusals_start == start)
            .flat_map(|r| r.refusals.iter().cloned())
            .collect()
    }

    fn reports_of<'a>(&'a self, port: &'a str) -> impl Iterator<Item = &'a GateReport> + Clone {
        self.reports.iter().filter(move |r| r.port == port)
    }

    /// Every port with usage in the current UTC day, week or month, or
    /// holds (a port with another calendar has a saved budget, so it is
    /// listed by that).
    pub fn ports(&self, now: chrono::DateTime<chrono::Utc>) -> impl Iterator<Item = &String> {
        self.used
            .iter()
            .filter(move |l| l.start == ms(l.period.start(now)))
            .map(|l| &l.port)
            .chain(self.reports.iter().map(|r| &r.port))
    }

    /// `port`'s used and held tokens and micro-dollars, and its calls, in
    /// the current window of `budget`'s period, in its calendar.
    pub fn load_of(
        &self,
        port: &str,
        budget: &crate::Budget,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::gate::PortLoad {
        let start = ms(budget.window(now).start);
        let used = self
            .used
            .iter()
            .filter(|l| l.port == port && l.period == budget.period && l.start == start);
        let held = self.reports_of(port);
        crate::gate::PortLoad {
            used_tokens: used.clone().map(|l| l.tokens).sum(),
            used_usd: used.clone().map(|l| l.usd).sum(),
            calls: used.map(|l| l.calls).sum(),
            held_tokens: held.clone().map(|r| r.held_tokens).sum(),
            held_usd: held.map(|r| r.held_usd).sum(),
            ..crate::gate::PortLoad::default()
        }
    }
}

/// Rollup rows of periods that started before `before` (epoch ms), which
/// no page shows any more: the ledger keeps the calls.
pub fn prune_rollup(before: i64) -> Statement {
    Statement::new(
        "DELETE FROM usage_rollup WHERE period IN ('day', 'week', 'month') AND period_start < ?1",
        vec![before.into()],
    )
}

/// What the first start of a port's object takes from D1: the rollup of
/// the periods it can still use, its open and unsettled expired holds of
/// before, those holds' estimated rows, and its highest ledger number.
pub fn import(port: &str, since: i64) -> [Statement; 4] {
    [
        Statement::new(
            "SELECT period, period_start, feature, tokens, calls, usd_micros FROM usage_rollup \
             WHERE port_id = ?1 AND period_start >= ?2",
            vec![port.into(), since.into()],
        ),
        Statement::new(
            "SELECT id, request_id, feature, estimated_tokens, state, body_hash, created_at, \
               expires_at, settled_at FROM reservations WHERE port_id = ?1 AND state IN ('held', 'expired') ORDER BY id",
            vec![port.into()],
        ),
        Statement::new(
            format!(
                "SELECT {ENTRY_COLUMNS} FROM usage_ledger WHERE port_id = ?1 AND estimated = 1 \
                 AND reservation_id IS NOT NULL"
            ),
            vec![port.into()],
        ),
        Statement::new(
            // The port's own numbers only: its shards number theirs apart.
            "SELECT COALESCE(MAX(seq), 0) AS last FROM usage_ledger WHERE port_id = ?1 AND seq < ?2",
            vec![
                port.into(),
                (crate::allowance::shards::OWN_SEQ_END as i64).into(),
            ],
        ),
    ]
}

/// The import of a port's object from the four results of [`import`]
/// (the budget comes from KV).
pub fn import_of(results: &[Vec<Row>]) -> crate::gate::Import {
    use crate::gate::{Hold, HoldState, Import, ImportedCounter};
    let empty = Vec::new();
    let rows = |i: usize| results.get(i).unwrap_or(&empty);
    let entries: Vec<Entry> = rows(2).iter().map(entry_of).collect();
    let holds = rows(1)
        .iter()
        .map(|r| {
            let request_id = r.text("request_id").unwrap_or_default();
            let state = HoldState::parse(&r.text("state").unwrap_or_default());
            let entry_seq = entries
                .iter()
                .find(|e| e.request_id == request_id)
                .map(|e| e.seq);
            Hold {
                id: r.text("id").unwrap_or_default(),
                request_id,
                feature: r.text("feature").unwrap_or_default(),
                user_id: None,
                estimated_tokens: r.count("estimated_tokens"),
                // Holds of before money budgets had no money bound.
                estimated_usd: None,
                state,
                body_hash: r.text("body_hash").unwrap_or_default(),
                actual_tokens: None,
                created_at: r.int("created_at").unwrap_or(0),
                expires_at: r.int("expires_at").unwrap_or(0),
                settled_at: r.int("settled_at"),
                entry_seq: if state == HoldState::Expired {
                    entry_seq
                } else {
                    None
                },
            }
        })
        .filter(|h| h.state == HoldState::Held || h.entry_seq.is_some())
        .collect();
    Import {
        budget: None,
        counters: rows(0)
            .iter()
            .map(|r| ImportedCounter {
                period: r.text("period").unwrap_or_default(),
                period_start: r.int("period_start").unwrap_or(0),
                feature: r.text("feature").unwrap_or_default(),
                tokens: r.count("tokens"),
                calls: r.count("calls"),
                usd: r.count("usd_micros"),
            })
            .collect(),
        holds,
        entries,
        last_seq: rows(3).first().map_or(0, |r| r.count("last")),
    }
}

/// The instant of stored epoch milliseconds.
pub fn at(ms: i64) -> chrono::DateTime<chrono::Utc> {
    instant(ms)
}
