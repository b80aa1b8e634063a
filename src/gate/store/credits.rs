//! The tables of a port's room beyond its cap: credits and what each
//! request drew from them, temporary raises, and each period's rollover.

use super::Tables;
use crate::room::{Credit, Raise};
use crate::sql::{Row, Sql, SqlError, Value};
use crate::Unit;

/// A grant of credits as stored: the rule's view and its own fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditRow {
    /// The grant, with what was drawn from it.
    #[serde(flatten)]
    pub credit: Credit,
    /// The request that granted it.
    pub request_id: String,
    /// The unit of its amount.
    pub unit: Unit,
    /// A note, as given.
    #[serde(default)]
    pub note: Option<String>,
}

/// A raise as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RaiseRow {
    /// The raise (its `endsAt` brought forward when it was ended early).
    #[serde(flatten)]
    pub raise: Raise,
    /// The request that added it.
    pub request_id: String,
    /// The unit of its amounts.
    pub unit: Unit,
    /// A note, as given.
    #[serde(default)]
    pub note: Option<String>,
    /// When it was added (epoch ms).
    pub created_at: i64,
    /// When it was ended early (epoch ms).
    #[serde(default)]
    pub ended_at: Option<i64>,
}

fn unit_of(row: &Row) -> Unit {
    row.text("unit")
        .and_then(|u| u.parse().ok())
        .unwrap_or_default()
}

fn amount(row: &Row, column: &str) -> u64 {
    row.int(column).map_or(0, |v| v.max(0) as u64)
}

const CREDIT_SELECT: &str = "SELECT c.id, c.request_id, c.unit, c.amount, c.expires_at, c.note, \
    c.created_at, c.voided_at, \
    (SELECT COALESCE(SUM(d.amount), 0) FROM draws d WHERE d.credit_id = c.id) AS spent \
    FROM credits c";

const RAISE_SELECT: &str = "SELECT id, request_id, unit, extra, soft_extra, starts_at, ends_at, \
    note, created_at, ended_at FROM raises";

impl<S: Sql> Tables<'_, S> {
    fn credit_of(row: &Row) -> CreditRow {
        CreditRow {
            credit: Credit {
                id: row.text("id").unwrap_or_default(),
                amount: amount(row, "amount"),
                spent: amount(row, "spent"),
                expires_at: row.int("expires_at"),
                created_at: row.int("created_at").unwrap_or(0),
                voided_at: row.int("voided_at"),
            },
            request_id: row.text("request_id").unwrap_or_default(),
            unit: unit_of(row),
            note: row.text("note"),
        }
    }

    /// Every grant, soonest-expiring first.
    pub fn credits(&self) -> Result<Vec<CreditRow>, SqlError> {
        let q = format!(
            "{CREDIT_SELECT} ORDER BY COALESCE(c.expires_at, 9007199254740991), c.created_at, c.id"
        );
        Ok(self.exec(&q, &[])?.iter().map(Self::credit_of).collect())
    }

    /// The grant with this id, or granted by this request.
    pub fn credit(&self, id: &str, request_id: &str) -> Result<Option<CreditRow>, SqlError> {
        let q = format!("{CREDIT_SELECT} WHERE c.id = ?1 OR c.request_id = ?2");
        Ok(self
            .one(&q, &[id.into(), request_id.into()])?
            .as_ref()
            .map(Self::credit_of))
    }

    /// Stores a new grant.
    pub fn insert_credit(&self, row: &CreditRow) -> Result<(), SqlError> {
        self.exec(
            "INSERT INTO credits (id, request_id, unit, amount, expires_at, note, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                (&row.credit.id).into(),
                (&row.request_id).into(),
                row.unit.as_str().into(),
                row.credit.amount.into(),
                row.credit.expires_at.into(),
                row.note.clone().into(),
                row.credit.created_at.into(),
            ],
        )?;
        Ok(())
    }

    /// Voids what is left of a grant, at `at`.
    pub fn void_credit(&self, id: &str, at: i64) -> Result<(), SqlError> {
        self.exec(
            "UPDATE credits SET voided_at = ?2 WHERE id = ?1 AND voided_at IS NULL",
            &[id.into(), at.into()],
        )?;
        Ok(())
    }

    /// Records what `request_id` drew from credits, in order (open while
    /// its hold is).
    pub fn insert_draws(
        &self,
        request_id: &str,
        draws: &[(String, u64)],
        open: bool,
        at: i64,
    ) -> Result<(), SqlError> {
        for (ord, (credit, part)) in draws.iter().enumerate() {
            self.exec(
                "INSERT INTO draws (request_id, credit_id, drawn, amount, open, at, ord) \
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
                &[
                    request_id.into(),
                    credit.into(),
                    (*part).into(),
                    open.into(),
                    at.into(),
                    (ord as u64).into(),
                ],
            )?;
        }
        Ok(())
    }

    /// What `request_id` drew when it was held: each credit and amount, in
    /// order.
    pub fn drawn(&self, request_id: &str) -> Result<Vec<(String, u64)>, SqlError> {
        Ok(self
            .exec(
                "SELECT credit_id, drawn FROM draws WHERE request_id = ?1 ORDER BY ord",
                &[request_id.into()],
            )?
            .iter()
            .map(|r| (r.text("credit_id").unwrap_or_default(), amount(r, "drawn")))
            .collect())
    }

    /// Settles what `request_id` drew: each credit's amount as settled,
    /// counted at `at`.
    pub fn settle_draws(
        &self,
        request_id: &str,
        parts: &[(String, u64)],
        at: i64,
    ) -> Result<(), SqlError> {
        for (credit, part) in parts {
            self.exec(
                "UPDATE draws SET amount = ?3, open = 0, at = ?4 \
                 WHERE request_id = ?1 AND credit_id = ?2",
                &[request_id.into(), credit.into(), (*part).into(), at.into()],
            )?;
        }
        Ok(())
    }

    /// Gives back what `request_id` drew (a released hold).
    pub fn delete_draws(&self, request_id: &str) -> Result<(), SqlError> {
        self.exec(
            "DELETE FROM draws WHERE request_id = ?1",
            &[request_id.into()],
        )?;
        Ok(())
    }

    /// What credits fund of the use in `[start, end)` and of open holds.
    pub fn funded(&self, start: i64, end: i64) -> Result<u64, SqlError> {
        Ok(self
            .one(
                "SELECT COALESCE(SUM(amount), 0) AS a FROM draws \
                 WHERE open = 1 OR (at >= ?1 AND at < ?2)",
                &[start.into(), end.into()],
            )?
            .map_or(0, |r| amount(&r, "a")))
    }

    /// What credits funded of the settled use in `[start, end)`.
    pub fn funded_settled(&self, start: i64, end: i64) -> Result<u64, SqlError> {
        Ok(self
            .one(
                "SELECT COALESCE(SUM(amount), 0) AS a FROM draws \
                 WHERE open = 0 AND at >= ?1 AND at < ?2",
                &[start.into(), end.into()],
            )?
            .map_or(0, |r| amount(&r, "a")))
    }

    fn raise_of(row: &Row) -> RaiseRow {
        RaiseRow {
            raise: Raise {
                id: row.text("id").unwrap_or_default(),
                extra: amount(row, "extra"),
                soft_extra: row.int("soft_extra").map(|v| v.max(0) as u64),
                starts_at: row.int("starts_at").unwrap_or(0),
                ends_at: row.int("ends_at").unwrap_or(0),
            },
            request_id: row.text("request_id").unwrap_or_default(),
            unit: unit_of(row),
            note: row.text("note"),
            created_at: row.int("created_at").unwrap_or(0),
            ended_at: row.int("ended_at"),
        }
    }

    /// Every raise, by start.
    pub fn raises(&self) -> Result<Vec<RaiseRow>, SqlError> {
        let q = format!("{RAISE_SELECT} ORDER BY starts_at, created_at, id");
        Ok(self.exec(&q, &[])?.iter().map(Self::raise_of).collect())
    }

    /// The raise with this id, or added by this request.
    pub fn raise(&self, id: &str, request_id: &str) -> Result<Option<RaiseRow>, SqlError> {
        let q = format!("{RAISE_SELECT} WHERE id = ?1 OR request_id = ?2");
        Ok(self
            .one(&q, &[id.into(), request_id.into()])?
            .as_ref()
            .map(Self::raise_of))
    }

    /// Stores a new raise.
    pub fn insert_raise(&self, row: &RaiseRow) -> Result<(), SqlError> {
        let r = &row.raise;
        self.exec(
            "INSERT INTO raises (id, request_id, unit, extra, soft_extra, starts_at, ends_at, note, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[
                (&r.id).into(),
                (&row.request_id).into(),
                row.unit.as_str().into(),
                r.extra.into(),
                r.soft_extra.into(),
                r.starts_at.into(),
                r.ends_at.into(),
                row.note.clone().into(),
                row.created_at.into(),
            ],
        )?;
        Ok(())
    }

    /// Ends a raise at `at` (if it had not ended by then).
    pub fn end_raise(&self, id: &str, at: i64) -> Result<(), SqlError> {
        self.exec(
            "UPDATE raises SET ended_at = ?2, ends_at = MAX(starts_at, ?2) \
             WHERE id = ?1 AND ends_at > ?2",
            &[id.into(), at.into()],
        )?;
        Ok(())
    }

    /// The rollover recorded into the period of `period` starting at
    /// `start`: its unit, amount and when it was recorded (epoch ms).
    pub fn rollover(&self, period: &str, start: i64) -> Result<Option<(Unit, u64, i64)>, SqlError> {
        Ok(self
            .one(
                "SELECT unit, amount, computed_at FROM rollovers \
                 WHERE period = ?1 AND period_start = ?2",
                &[period.into(), start.into()],
            )?
            .map(|r| {
                let at = r.int("computed_at").unwrap_or(0);
                (unit_of(&r), amount(&r, "amount"), at)
            }))
    }

    /// Records a period's rollover, once (a second record keeps the first).
    pub fn record_rollover(
        &self,
        period: &str,
        start: i64,
        unit: Unit,
        amount: u64,
        unused: u64,
        at: i64,
    ) -> Result<(), SqlError> {
        self.exec(
            "INSERT INTO rollovers (period, period_start, unit, amount, unused, computed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            &[
                period.into(),
                start.into(),
                unit.as_str().into(),
                amount.into(),
                unused.into(),
                Value::Integer(at),
            ],
        )?;
        Ok(())
    }
}
