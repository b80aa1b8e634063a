//! The counters per period kind, period start and scope: what the gate
//! reads at any ledger size.

use super::{feature_scope, Tables, PORT_SCOPE};
use crate::amount::Totals;
use crate::gate::model::PortLoad;
use crate::sql::{Fact, Sql, SqlError, Value};
use crate::time::ms;
use crate::{Period, PeriodWindow};

/// No counter of the port's own scope, of any period, holds more tokens
/// than this: an upper bound read once and raised by every count, so the
/// rule of exact totals needs no read while it is far from its limit.
const PORT_TOKENS_AT_MOST: Fact = Fact::on("counters", "no port counter holds more tokens than");

/// The same bound in micro-dollars.
const PORT_USD_AT_MOST: Fact =
    Fact::on("counters", "no port counter holds more micro-dollars than");

impl<S: Sql> Tables<'_, S> {
    /// Adds `tokens` and `calls` (each may be negative) to every scope's
    /// counters of the three periods that start at `starts` (day, week,
    /// month: [`Budget::period_starts`](crate::Budget::period_starts)).
    pub fn count(
        &self,
        starts: [i64; 3],
        scopes: &[String],
        tokens: i64,
        calls: i64,
    ) -> Result<(), SqlError> {
        self.count_amounts(starts, scopes, tokens, 0, calls)
    }

    /// Adds `tokens`, `usd` micro-dollars and `calls` (each may be
    /// negative) to every scope's counters of the three periods that start
    /// at `starts` (day, week, month).
    pub fn count_amounts(
        &self,
        starts: [i64; 3],
        scopes: &[String],
        tokens: i64,
        usd: i64,
        calls: i64,
    ) -> Result<(), SqlError> {
        // One statement for every (period, scope) pair.
        let mut rows = Vec::new();
        let mut params = Vec::new();
        for (period, start) in Period::ALL.into_iter().zip(starts) {
            for scope in scopes {
                let n = params.len();
                rows.push(format!(
                    "(?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6
                ));
                params.extend([
                    period.as_str().into(),
                    start.into(),
                    scope.into(),
                    tokens.into(),
                    calls.into(),
                    usd.into(),
                ]);
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO counters (period, period_start, scope, tokens, calls, usd_micros) VALUES {} \
             ON CONFLICT (period, period_start, scope) DO UPDATE SET \
               tokens = tokens + excluded.tokens, calls = calls + excluded.calls, \
               usd_micros = usd_micros + excluded.usd_micros",
            rows.join(", ")
        );
        // The port's own counters grow by what is added to them, at most.
        let port = scopes.iter().any(|s| s == PORT_SCOPE);
        let raised = |delta: i64| move |at_most: i64| Some(at_most.saturating_add(delta.max(0)));
        let (tokens, usd) = if port { (tokens, usd) } else { (0, 0) };
        self.keeping(PORT_TOKENS_AT_MOST, raised(tokens), || {
            self.keeping(PORT_USD_AT_MOST, raised(usd), || self.exec(&sql, &params))
        })?;
        Ok(())
    }

    /// Totals no counter of the port's own scope exceeds, in any period:
    /// read once (the largest of each), then kept as counts raise them.
    pub fn port_totals_at_most(&self) -> Result<Totals, SqlError> {
        let sql = self.sql();
        if let (Some(tokens), Some(usd)) =
            (sql.fact(PORT_TOKENS_AT_MOST), sql.fact(PORT_USD_AT_MOST))
        {
            return Ok(Totals::new(tokens.max(0) as u64, usd.max(0) as u64));
        }
        let row = self.one(
            "SELECT COALESCE(MAX(tokens), 0) AS t, COALESCE(MAX(usd_micros), 0) AS u \
             FROM counters WHERE scope = ''",
            &[],
        )?;
        let (tokens, usd) = row.map_or((0, 0), |r| {
            (r.int("t").unwrap_or(0), r.int("u").unwrap_or(0))
        });
        sql.keep_fact(PORT_TOKENS_AT_MOST, tokens);
        sql.keep_fact(PORT_USD_AT_MOST, usd);
        Ok(Totals::new(tokens.max(0) as u64, usd.max(0) as u64))
    }

    /// Adds `tokens`, `usd` micro-dollars and `calls` to one counter.
    pub fn count_period(
        &self,
        period: Period,
        start: i64,
        scope: &str,
        (tokens, usd): (i64, i64),
        calls: i64,
    ) -> Result<(), SqlError> {
        self.exec(
            "INSERT INTO counters (period, period_start, scope, tokens, calls, usd_micros) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (period, period_start, scope) DO UPDATE SET \
               tokens = tokens + excluded.tokens, calls = calls + excluded.calls, \
               usd_micros = usd_micros + excluded.usd_micros",
            &[
                period.as_str().into(),
                start.into(),
                scope.into(),
                tokens.into(),
                calls.into(),
                usd.into(),
            ],
        )?;
        Ok(())
    }

    /// Tokens, calls and micro-dollars of one scope in the period of
    /// `period` starting at `start`, in one read.
    pub fn counter(
        &self,
        period: Period,
        start: i64,
        scope: &str,
    ) -> Result<(u64, u64, u64), SqlError> {
        Ok(self
            .one(
                "SELECT tokens, calls, usd_micros FROM counters \
                 WHERE period = ?1 AND period_start = ?2 AND scope = ?3",
                &[period.as_str().into(), start.into(), scope.into()],
            )?
            .map_or((0, 0, 0), |r| {
                (r.count("tokens"), r.count("calls"), r.count("usd_micros"))
            }))
    }

    /// The `limit` scopes under `prefix` (such as `u:`) that counted the
    /// most tokens in the period of `period` starting at `start`: scope
    /// without its prefix, tokens, calls.
    pub fn top_scopes(
        &self,
        period: Period,
        start: i64,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<(String, u64, u64)>, SqlError> {
        // Scopes under a prefix sort between it and the prefix with its
        // last character's successor (`u:` .. `u;`).
        let mut end = prefix.to_owned();
        let last = end
            .pop()
            .map_or('\0', |c| char::from_u32(c as u32 + 1).unwrap_or(c));
        end.push(last);
        Ok(self
            .exec(
                "SELECT scope, tokens, calls FROM counters WHERE period = ?1 AND period_start = ?2 \
                 AND scope >= ?3 AND scope < ?4 ORDER BY tokens DESC, scope LIMIT ?5",
                &[
                    period.as_str().into(),
                    start.into(),
                    prefix.into(),
                    end.into(),
                    u64::from(limit).into(),
                ],
            )?
            .into_iter()
            .map(|r| {
                let scope = r.text("scope").unwrap_or_default();
                let id = scope.strip_prefix(prefix).unwrap_or(&scope).to_owned();
                (id, r.count("tokens"), r.count("calls"))
            })
            .collect())
    }

    /// The port's largest totals among the three periods that start at
    /// `starts` (day, week, month): the largest in tokens and the largest
    /// in micro-dollars (each of the period that has it).
    pub fn largest_port_totals(&self, starts: [i64; 3]) -> Result<Totals, SqlError> {
        let [day, week, month] = starts.map(Value::Integer);
        Ok(self
            .one(
                "SELECT COALESCE(MAX(tokens), 0) AS t, COALESCE(MAX(usd_micros), 0) AS u \
                 FROM counters WHERE scope = '' AND \
                 ((period = 'day' AND period_start = ?1) OR (period = 'week' AND period_start = ?2) \
                  OR (period = 'month' AND period_start = ?3))",
                &[day, week, month],
            )?
            .map_or_else(Totals::default, |r| {
                Totals::new(r.count("t"), r.count("u"))
            }))
    }

    /// Deletes counters of periods that started before `before`, and rows
    /// left empty by corrections.
    pub fn prune_counters(&self, before: i64) -> Result<(), SqlError> {
        self.exec(
            "DELETE FROM counters WHERE period_start < ?1 OR (calls <= 0 AND tokens <= 0 AND usd_micros <= 0)",
            &[before.into()],
        )?;
        Ok(())
    }

    /// The port's load in `window`: used and calls from the counters (one
    /// feature's when given), open holds whatever their age, and the part
    /// of the use that is still expired holds' estimates; in one read (the
    /// gate reads it on every operation).
    pub fn load(&self, window: &PeriodWindow, feature: Option<&str>) -> Result<PortLoad, SqlError> {
        let scope = feature.map_or_else(|| PORT_SCOPE.to_owned(), feature_scope);
        let row = self.one(
            "SELECT COALESCE(c.tokens, 0) AS tokens, COALESCE(c.calls, 0) AS calls, \
               COALESCE(c.usd_micros, 0) AS usd_micros, h.t AS held_tokens, h.u AS held_usd, \
               e.t AS expired_tokens \
             FROM (SELECT COALESCE(SUM(estimated_tokens), 0) AS t, \
                     COALESCE(SUM(estimated_usd_micros), 0) AS u FROM holds \
                   WHERE state = 'held' AND (?4 IS NULL OR feature = ?4)) AS h \
             CROSS JOIN (SELECT COALESCE(SUM(input_tokens + output_tokens), 0) AS t FROM entries \
                   WHERE estimated = 1 AND created_at >= ?2 AND created_at < ?5 \
                     AND (?4 IS NULL OR feature = ?4)) AS e \
             LEFT JOIN counters AS c \
               ON c.period = ?1 AND c.period_start = ?2 AND c.scope = ?3",
            &[
                window.period.as_str().into(),
                ms(window.start).into(),
                scope.into(),
                feature.into(),
                ms(window.end).into(),
            ],
        )?;
        Ok(row.map_or_else(PortLoad::default, |r| PortLoad {
            used_tokens: r.count("tokens"),
            calls: r.count("calls"),
            held_tokens: r.count("held_tokens"),
            expired_tokens: r.count("expired_tokens"),
            used_usd: r.count("usd_micros"),
            held_usd: r.count("held_usd"),
        }))
    }
}
