//! The port gate's tables, one query at a time: meta values, holds,
//! counters and ledger entries. No rule lives here; [`super::Gate`]
//! decides, this reads and writes.

use super::model::{Entry, Hold, HoldState, PortLoad, SetAside};
use crate::amount::Totals;
use crate::sql::{Row, Sql, SqlError, Value};
use crate::time::{instant, ms};
use crate::tokens::TokenCounts;
use crate::{Period, PeriodWindow};

/// The scope of the port's own counters.
pub const PORT_SCOPE: &str = "";

/// The counter scope of a feature.
pub fn feature_scope(feature: &str) -> String {
    format!("f:{feature}")
}

/// The counter scope of an end user.
pub fn user_scope(user: &str) -> String {
    format!("u:{user}")
}

/// The scopes a call by `feature` for `user` counts in.
pub fn scopes(feature: &str, user: Option<&str>) -> Vec<String> {
    let mut scopes = vec![PORT_SCOPE.to_owned(), feature_scope(feature)];
    scopes.extend(user.map(user_scope));
    scopes
}

/// The typed view of the gate's storage.
pub struct Tables<'a, S: Sql> {
    sql: &'a S,
}

impl<'a, S: Sql> Tables<'a, S> {
    /// The tables over `sql`.
    pub fn new(sql: &'a S) -> Tables<'a, S> {
        Tables { sql }
    }

    fn exec(&self, query: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        self.sql.exec(query, params)
    }

    /// The storage the tables live in (the alert tables share it).
    pub fn sql(&self) -> &'a S {
        self.sql
    }

    /// Runs a statement of the gate's own (seeding for benchmarks).
    pub fn exec_raw(&self, query: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        self.sql.exec(query, params)
    }

    fn one(&self, query: &str, params: &[Value]) -> Result<Option<Row>, SqlError> {
        Ok(self.exec(query, params)?.into_iter().next())
    }

    // ------------------------------------------------------------ meta

    /// A meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>, SqlError> {
        Ok(self
            .one("SELECT value FROM meta WHERE key = ?1", &[key.into()])?
            .and_then(|r| r.text("value")))
    }

    /// Sets a meta value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), SqlError> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[key.into(), value.into()],
        )?;
        Ok(())
    }

    /// Deletes a meta value.
    pub fn delete_meta(&self, key: &str) -> Result<(), SqlError> {
        self.exec("DELETE FROM meta WHERE key = ?1", &[key.into()])?;
        Ok(())
    }

    /// The next ledger sequence number, taken (numbers are never reused,
    /// even after old entries are pruned).
    pub fn take_seq(&self) -> Result<u64, SqlError> {
        Ok(self
            .one(
                "INSERT INTO meta (key, value) VALUES ('next_seq', '2') \
                 ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) \
                 RETURNING CAST(value AS INTEGER) - 1 AS seq",
                &[],
            )?
            .map_or(1, |r| r.count("seq")))
    }

    // ------------------------------------------------------------ holds

    const HOLD_COLUMNS: &'static str = "id, request_id, feature, user_id, estimated_tokens, \
        state, body_hash, actual_tokens, created_at, expires_at, settled_at, entry_seq, \
        estimated_usd_micros";

    fn hold_of(row: &Row) -> Hold {
        Hold {
            id: row.text("id").unwrap_or_default(),
            request_id: row.text("request_id").unwrap_or_default(),
            feature: row.text("feature").unwrap_or_default(),
            user_id: row.text("user_id"),
            estimated_tokens: row.count("estimated_tokens"),
            estimated_usd: row.int("estimated_usd_micros").map(|v| v.max(0) as u64),
            state: HoldState::parse(&row.text("state").unwrap_or_default()),
            body_hash: row.text("body_hash").unwrap_or_default(),
            actual_tokens: row.int("actual_tokens").map(|v| v.max(0) as u64),
            created_at: row.int("created_at").unwrap_or(0),
            expires_at: row.int("expires_at").unwrap_or(0),
            settled_at: row.int("settled_at"),
            entry_seq: row.int("entry_seq").map(|v| v.max(0) as u64),
        }
    }

    /// The hold with this id.
    pub fn hold(&self, id: &str) -> Result<Option<Hold>, SqlError> {
        let q = format!("SELECT {} FROM holds WHERE id = ?1", Self::HOLD_COLUMNS);
        Ok(self.one(&q, &[id.into()])?.as_ref().map(Self::hold_of))
    }

    /// The hold taken under this request id.
    pub fn hold_by_request(&self, request_id: &str) -> Result<Option<Hold>, SqlError> {
        let q = format!(
            "SELECT {} FROM holds WHERE request_id = ?1",
            Self::HOLD_COLUMNS
        );
        Ok(self
            .one(&q, &[request_id.into()])?
            .as_ref()
            .map(Self::hold_of))
    }

    /// Stores a new hold.
    pub fn insert_hold(&self, hold: &Hold) -> Result<(), SqlError> {
        self.exec(
            "INSERT INTO holds (id, request_id, feature, user_id, estimated_tokens, state, body_hash, \
               created_at, expires_at, estimated_usd_micros) VALUES (?1, ?2, ?3, ?4, ?5, 'held', ?6, ?7, ?8, ?9)",
            &[
                (&hold.id).into(),
                (&hold.request_id).into(),
                (&hold.feature).into(),
                hold.user_id.clone().into(),
                hold.estimated_tokens.into(),
                (&hold.body_hash).into(),
                hold.created_at.into(),
                hold.expires_at.into(),
                hold.estimated_usd.into(),
            ],
        )?;
        Ok(())
    }

    /// Settles a hold.
    pub fn settle_hold(
        &self,
        id: &str,
        state: HoldState,
        at: i64,
        actual: Option<u64>,
        entry_seq: Option<u64>,
    ) -> Result<(), SqlError> {
        self.exec(
            "UPDATE holds SET state = ?2, settled_at = ?3, \
               actual_tokens = COALESCE(?4, actual_tokens), entry_seq = COALESCE(?5, entry_seq) \
             WHERE id = ?1",
            &[
                id.into(),
                state.as_str().into(),
                at.into(),
                actual.into(),
                entry_seq.into(),
            ],
        )?;
        Ok(())
    }

    /// Open holds that expire at or before `at`, earliest first.
    pub fn due_holds(&self, at: i64) -> Result<Vec<Hold>, SqlError> {
        let q = format!(
            "SELECT {} FROM holds WHERE state = 'held' AND expires_at <= ?1 ORDER BY expires_at, id",
            Self::HOLD_COLUMNS
        );
        Ok(self
            .exec(&q, &[at.into()])?
            .iter()
            .map(Self::hold_of)
            .collect())
    }

    /// The earliest expiry of an open hold.
    pub fn next_expiry(&self) -> Result<Option<i64>, SqlError> {
        Ok(self
            .one(
                "SELECT MIN(expires_at) AS at FROM holds WHERE state = 'held'",
                &[],
            )?
            .and_then(|r| r.int("at")))
    }

    /// Open holds and expired ones not yet committed late, newest first.
    pub fn unsettled_holds(&self, limit: u32) -> Result<Vec<Hold>, SqlError> {
        let q = format!(
            "SELECT {} FROM holds WHERE state IN ('held', 'expired') \
             ORDER BY created_at DESC, rowid DESC LIMIT ?1",
            Self::HOLD_COLUMNS
        );
        Ok(self
            .exec(&q, &[i64::from(limit).into()])?
            .iter()
            .map(Self::hold_of)
            .collect())
    }

    /// Holds newest first: every state, or only open ones and expired ones
    /// not yet committed late.
    pub fn holds(&self, all: bool, limit: u32) -> Result<Vec<Hold>, SqlError> {
        if !all {
            return self.unsettled_holds(limit);
        }
        let q = format!(
            "SELECT {} FROM holds ORDER BY created_at DESC, rowid DESC LIMIT ?1",
            Self::HOLD_COLUMNS
        );
        Ok(self
            .exec(&q, &[i64::from(limit).into()])?
            .iter()
            .map(Self::hold_of)
            .collect())
    }

    /// How many holds are open, and the tokens and micro-dollars they hold.
    pub fn open_holds(&self) -> Result<(u64, u64, u64), SqlError> {
        Ok(self
            .one(
                "SELECT COUNT(*) AS n, COALESCE(SUM(estimated_tokens), 0) AS t, \
                   COALESCE(SUM(estimated_usd_micros), 0) AS u FROM holds WHERE state = 'held'",
                &[],
            )?
            .map_or((0, 0, 0), |r| (r.count("n"), r.count("t"), r.count("u"))))
    }

    /// Tokens and micro-dollars held by open holds, in one read: all of
    /// them, or those of one feature.
    pub fn held(&self, feature: Option<&str>) -> Result<(u64, u64), SqlError> {
        Ok(self
            .one(
                "SELECT COALESCE(SUM(estimated_tokens), 0) AS t, \
                   COALESCE(SUM(estimated_usd_micros), 0) AS u FROM holds \
                 WHERE state = 'held' AND (?1 IS NULL OR feature = ?1)",
                &[feature.into()],
            )?
            .map_or((0, 0), |r| (r.count("t"), r.count("u"))))
    }

    /// Tokens held by one end user's open holds.
    pub fn held_tokens_of_user(&self, user: &str) -> Result<u64, SqlError> {
        Ok(self
            .one(
                "SELECT COALESCE(SUM(estimated_tokens), 0) AS t FROM holds WHERE state = 'held' AND user_id = ?1",
                &[user.into()],
            )?
            .map_or(0, |r| r.count("t")))
    }

    /// Deletes holds settled before `before`.
    pub fn prune_holds(&self, before: i64) -> Result<(), SqlError> {
        self.exec(
            "DELETE FROM holds WHERE settled_at IS NOT NULL AND settled_at < ?1",
            &[before.into()],
        )?;
        Ok(())
    }

    // ------------------------------------------------------------ counters

    /// Adds `tokens` and `calls` (each may be negative) to every scope's
    /// counters of the three periods containing `at`.
    pub fn count(
        &self,
        at: i64,
        scopes: &[String],
        tokens: i64,
        calls: i64,
    ) -> Result<(), SqlError> {
        self.count_amounts(at, scopes, tokens, 0, calls)
    }

    /// Adds `tokens`, `usd` micro-dollars and `calls` (each may be
    /// negative) to every scope's counters of the three periods containing
    /// `at`.
    pub fn count_amounts(
        &self,
        at: i64,
        scopes: &[String],
        tokens: i64,
        usd: i64,
        calls: i64,
    ) -> Result<(), SqlError> {
        // One statement for every (period, scope) pair.
        let at = instant(at);
        let mut rows = Vec::new();
        let mut params = Vec::new();
        for period in Period::ALL {
            let start = ms(period.start(at));
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
        self.exec(
            &format!(
                "INSERT INTO counters (period, period_start, scope, tokens, calls, usd_micros) VALUES {} \
                 ON CONFLICT (period, period_start, scope) DO UPDATE SET \
                   tokens = tokens + excluded.tokens, calls = calls + excluded.calls, \
                   usd_micros = usd_micros + excluded.usd_micros",
                rows.join(", ")
            ),
            &params,
        )?;
        Ok(())
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

    /// The port's largest totals among the three periods containing `at`:
    /// the largest in tokens and the largest in micro-dollars (each of the
    /// period that has it).
    pub fn largest_port_totals(&self, at: i64) -> Result<Totals, SqlError> {
        let at = instant(at);
        let [day, week, month] = Period::ALL.map(|p| Value::Integer(ms(p.start(at))));
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
    /// of the use that is still expired holds' estimates.
    pub fn load(&self, window: &PeriodWindow, feature: Option<&str>) -> Result<PortLoad, SqlError> {
        let scope = feature.map_or_else(|| PORT_SCOPE.to_owned(), feature_scope);
        let start = ms(window.start);
        let (used_tokens, calls, used_usd) = self.counter(window.period, start, &scope)?;
        let (held_tokens, held_usd) = self.held(feature)?;
        let expired_tokens = self
            .one(
                "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) AS t FROM entries \
                 WHERE estimated = 1 AND created_at >= ?1 AND created_at < ?2 \
                   AND (?3 IS NULL OR feature = ?3)",
                &[start.into(), ms(window.end).into(), feature.into()],
            )?
            .map_or(0, |r| r.count("t"));
        Ok(PortLoad {
            used_tokens,
            calls,
            held_tokens,
            expired_tokens,
            used_usd,
            held_usd,
        })
    }

    // ------------------------------------------------------------ entries

    const ENTRY_COLUMNS: &'static str = "seq, request_id, reservation_id, user_id, feature, \
        provider, model, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, \
        reasoning_tokens, body_hash, estimated, created_at, version, write_id, delivered_version, \
        cost_usd_micros";

    /// The entry with this sequence number.
    pub fn entry(&self, seq: u64) -> Result<Option<Entry>, SqlError> {
        let q = format!("SELECT {} FROM entries WHERE seq = ?1", Self::ENTRY_COLUMNS);
        Ok(self.one(&q, &[seq.into()])?.as_ref().map(entry_of))
    }

    /// The entry counted under this request id.
    pub fn entry_by_request(&self, request_id: &str) -> Result<Option<Entry>, SqlError> {
        let q = format!(
            "SELECT {} FROM entries WHERE request_id = ?1",
            Self::ENTRY_COLUMNS
        );
        Ok(self.one(&q, &[request_id.into()])?.as_ref().map(entry_of))
    }

    /// Stores a new entry (to be delivered).
    pub fn insert_entry(&self, e: &Entry) -> Result<(), SqlError> {
        self.exec(
            "INSERT INTO entries (seq, request_id, reservation_id, user_id, feature, provider, model, \
               input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, \
               body_hash, estimated, created_at, version, write_id, delivered_version, cost_usd_micros) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0, ?18)",
            &Self::entry_params(e),
        )?;
        Ok(())
    }

    /// Rewrites an entry's values (a late commit), bumping its version so it
    /// is delivered again.
    pub fn replace_entry(&self, e: &Entry) -> Result<(), SqlError> {
        self.exec(
            "UPDATE entries SET request_id = ?2, reservation_id = ?3, user_id = ?4, feature = ?5, \
               provider = ?6, model = ?7, input_tokens = ?8, cached_input_tokens = ?9, \
               cache_write_tokens = ?10, output_tokens = ?11, reasoning_tokens = ?12, body_hash = ?13, \
               estimated = ?14, created_at = ?15, version = ?16, write_id = ?17, cost_usd_micros = ?18 \
             WHERE seq = ?1",
            &Self::entry_params(e),
        )?;
        Ok(())
    }

    fn entry_params(e: &Entry) -> Vec<Value> {
        vec![
            e.seq.into(),
            (&e.request_id).into(),
            e.reservation_id.clone().into(),
            e.user_id.clone().into(),
            (&e.feature).into(),
            (&e.provider).into(),
            (&e.model).into(),
            e.tokens.input_tokens.into(),
            e.tokens.cached_input_tokens.into(),
            e.tokens.cache_write_tokens.into(),
            e.tokens.output_tokens.into(),
            e.tokens.reasoning_tokens.into(),
            (&e.body_hash).into(),
            e.estimated.into(),
            e.created_at.into(),
            e.version.into(),
            (&e.write_id).into(),
            e.cost_usd.into(),
        ]
    }

    /// Entries whose newest version the ledger of record has not got,
    /// oldest first, with the version it has (0: none).
    pub fn pending_entries(&self, limit: u32) -> Result<Vec<(Entry, u64)>, SqlError> {
        let q = format!(
            "SELECT {} FROM entries WHERE delivered_version < version \
               AND set_aside_version < version ORDER BY seq LIMIT ?1",
            Self::ENTRY_COLUMNS
        );
        Ok(self
            .exec(&q, &[i64::from(limit).into()])?
            .iter()
            .map(|r| (entry_of(r), r.count("delivered_version")))
            .collect())
    }

    /// How many entries are on their way to the ledger of record.
    pub fn pending_count(&self) -> Result<u64, SqlError> {
        Ok(self
            .one(
                "SELECT COUNT(*) AS n FROM entries WHERE delivered_version < version \
                   AND set_aside_version < version",
                &[],
            )?
            .map_or(0, |r| r.count("n")))
    }

    /// Sets `version` of entry `seq` aside: the ledger of record refused
    /// it for good, so it is no longer pending (the entries behind it go
    /// on) and is kept, with `reason`, until a newer version or a retry.
    /// False when that version is not the entry's newest undelivered one.
    pub fn set_aside(
        &self,
        seq: u64,
        version: u64,
        reason: &str,
        at: i64,
    ) -> Result<bool, SqlError> {
        let reason: String = reason.chars().take(500).collect();
        let undelivered = self
            .one(
                "SELECT seq FROM entries WHERE seq = ?1 AND version = ?2 AND delivered_version < ?2",
                &[seq.into(), version.into()],
            )?
            .is_some();
        if undelivered {
            self.exec(
                "UPDATE entries SET set_aside_version = ?2, set_aside_reason = ?3, set_aside_at = ?4 \
                 WHERE seq = ?1",
                &[seq.into(), version.into(), reason.into(), at.into()],
            )?;
        }
        Ok(undelivered)
    }

    /// Entries set aside (their newest version refused for good by the
    /// ledger of record), oldest first.
    pub fn set_aside_entries(&self, limit: u32) -> Result<Vec<SetAside>, SqlError> {
        let q = format!(
            "SELECT {}, set_aside_reason, set_aside_at FROM entries \
             WHERE set_aside_version = version AND delivered_version < version ORDER BY seq LIMIT ?1",
            Self::ENTRY_COLUMNS
        );
        Ok(self
            .exec(&q, &[i64::from(limit).into()])?
            .iter()
            .map(|r| SetAside {
                seq: r.count("seq"),
                request_id: r.text("request_id").unwrap_or_default(),
                version: r.count("version"),
                reason: r.text("set_aside_reason").unwrap_or_default(),
                at: r.int("set_aside_at").unwrap_or(0),
            })
            .collect())
    }

    /// How many entries are set aside.
    pub fn set_aside_count(&self) -> Result<u64, SqlError> {
        Ok(self
            .one(
                "SELECT COUNT(*) AS n FROM entries WHERE set_aside_version = version \
                   AND delivered_version < version",
                &[],
            )?
            .map_or(0, |r| r.count("n")))
    }

    /// Puts every set-aside entry back on its way (after the cause was
    /// mended); returns how many.
    pub fn retry_set_aside(&self) -> Result<u64, SqlError> {
        let n = self.set_aside_count()?;
        self.exec(
            "UPDATE entries SET set_aside_version = 0, set_aside_reason = NULL, set_aside_at = NULL \
             WHERE set_aside_version = version AND delivered_version < version",
            &[],
        )?;
        Ok(n)
    }

    /// Marks that the ledger of record has `version` of entry `seq`.
    pub fn mark_delivered(&self, seq: u64, version: u64) -> Result<(), SqlError> {
        self.exec(
            "UPDATE entries SET delivered_version = ?2 WHERE seq = ?1 AND delivered_version < ?2",
            &[seq.into(), version.into()],
        )?;
        Ok(())
    }

    /// Deletes one entry.
    pub fn delete_entry(&self, seq: u64) -> Result<(), SqlError> {
        self.exec("DELETE FROM entries WHERE seq = ?1", &[seq.into()])?;
        Ok(())
    }

    /// Deletes delivered entries created before `before` (their request
    /// ids are forgotten by the gate; the ledger of record keeps them).
    pub fn prune_entries(&self, before: i64) -> Result<(), SqlError> {
        self.exec(
            "DELETE FROM entries WHERE created_at < ?1 AND delivered_version >= version \
               AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.entry_seq = entries.seq AND h.state = 'expired')",
            &[before.into()],
        )?;
        Ok(())
    }
}

/// A row of an entries table (the gate's, or D1's ledger) as an entry.
pub fn entry_of(row: &Row) -> Entry {
    Entry {
        seq: row.count("seq"),
        request_id: row.text("request_id").unwrap_or_default(),
        reservation_id: row.text("reservation_id"),
        user_id: row.text("user_id"),
        feature: row.text("feature").unwrap_or_default(),
        provider: row.text("provider").unwrap_or_default(),
        model: row.text("model").unwrap_or_default(),
        cost_usd: row.int("cost_usd_micros").map(|v| v.max(0) as u64),
        tokens: TokenCounts {
            input_tokens: row.count("input_tokens"),
            cached_input_tokens: row.count("cached_input_tokens"),
            cache_write_tokens: row.count("cache_write_tokens"),
            output_tokens: row.count("output_tokens"),
            reasoning_tokens: row.count("reasoning_tokens"),
        },
        body_hash: row.text("body_hash").unwrap_or_default(),
        estimated: row.int("estimated").unwrap_or(0) != 0,
        created_at: row.int("created_at").unwrap_or(0),
        version: row.count("version"),
        write_id: row.text("write_id").unwrap_or_default(),
    }
}
