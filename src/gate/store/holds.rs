//! The holds table: open holds weigh on the gate, settled ones answer
//! retries until they are pruned.

use super::Tables;
use crate::gate::model::{Hold, HoldState};
use crate::sql::{Fact, Row, Sql, SqlError};

/// No open hold expires before this instant (epoch ms; `i64::MAX` when no
/// hold is open): a lower bound that spares the scan for due holds on
/// every operation. A new hold lowers it to its own expiry; settling a
/// hold only leaves it a looser bound.
const OPEN_HOLDS_EXPIRE_FROM: Fact = Fact::on("holds", "no open hold expires before");

impl<S: Sql> Tables<'_, S> {
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

    /// The hold with this id, and whether the ledger already has an entry
    /// under its request id: what a commit reads first, in one statement.
    pub fn hold_and_entry(&self, id: &str) -> Result<Option<(Hold, bool)>, SqlError> {
        let q = format!(
            "SELECT {}, EXISTS (SELECT 1 FROM entries AS e WHERE e.request_id = holds.request_id) \
             AS has_entry FROM holds WHERE id = ?1",
            Self::HOLD_COLUMNS
        );
        Ok(self
            .one(&q, &[id.into()])?
            .as_ref()
            .map(|row| (Self::hold_of(row), row.count("has_entry") > 0)))
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
        let params = [
            (&hold.id).into(),
            (&hold.request_id).into(),
            (&hold.feature).into(),
            hold.user_id.clone().into(),
            hold.estimated_tokens.into(),
            (&hold.body_hash).into(),
            hold.created_at.into(),
            hold.expires_at.into(),
            hold.estimated_usd.into(),
        ];
        // An open hold more: the earliest expiry is its own if sooner.
        let expires_at = hold.expires_at;
        self.keeping(
            OPEN_HOLDS_EXPIRE_FROM,
            |from| Some(from.min(expires_at)),
            || {
                self.exec(
                    "INSERT INTO holds (id, request_id, feature, user_id, estimated_tokens, state, \
                       body_hash, created_at, expires_at, estimated_usd_micros) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'held', ?6, ?7, ?8, ?9)",
                    &params,
                )
            },
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
        // A settled hold is no longer open: every open one still expires
        // no earlier than before.
        let settled = state != HoldState::Held;
        self.keeping(OPEN_HOLDS_EXPIRE_FROM, |from| settled.then_some(from), || {
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
            )
        })?;
        Ok(())
    }

    /// Settles `hold` as [`Self::settle_hold`] does, and answers it as it is
    /// stored now (no read back).
    pub fn settle(
        &self,
        hold: Hold,
        state: HoldState,
        at: i64,
        actual: Option<u64>,
        entry_seq: Option<u64>,
    ) -> Result<Hold, SqlError> {
        self.settle_hold(&hold.id, state, at, actual, entry_seq)?;
        Ok(Hold {
            state,
            settled_at: Some(at),
            actual_tokens: actual.or(hold.actual_tokens),
            entry_seq: entry_seq.or(hold.entry_seq),
            ..hold
        })
    }

    /// Open holds that expire at or before `at`, earliest first. No read
    /// when no open hold expires that early, as far as the storage keeps
    /// it known (`OPEN_HOLDS_EXPIRE_FROM`); the read that runs also
    /// reads the next open hold to expire after `at`, and keeps when the
    /// earliest open hold expires.
    pub fn due_holds(&self, at: i64) -> Result<Vec<Hold>, SqlError> {
        if self
            .sql()
            .fact(OPEN_HOLDS_EXPIRE_FROM)
            .is_some_and(|from| at < from)
        {
            return Ok(Vec::new());
        }
        let q = format!(
            "SELECT {} FROM holds WHERE state = 'held' AND (expires_at <= ?1 OR id = \
               (SELECT id FROM holds WHERE state = 'held' AND expires_at > ?1 \
                ORDER BY expires_at, id LIMIT 1)) \
             ORDER BY expires_at, id",
            Self::HOLD_COLUMNS
        );
        let open: Vec<Hold> = self
            .exec(&q, &[at.into()])?
            .iter()
            .map(Self::hold_of)
            .collect();
        let earliest = open.first().map_or(i64::MAX, |hold| hold.expires_at);
        self.sql().keep_fact(OPEN_HOLDS_EXPIRE_FROM, earliest);
        Ok(open
            .into_iter()
            .filter(|hold| hold.expires_at <= at)
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
}
