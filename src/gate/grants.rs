//! Credits and temporary raises as a port's gate keeps them: granted,
//! listed and voided; added, listed and ended early. Each write is
//! idempotent by its request id and checked in the budget's unit, with
//! nothing written on bad input. What they allow is judged in
//! [`super::credits`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::store::credits::{CreditRow, RaiseRow};
use super::*;
use crate::room::{Credit, Raise, Room};
use crate::time::ms;
use crate::{Error, ErrorCode, Unit};

/// The longest a raise may last: a year.
pub const MAX_RAISE_MS: i64 = 366 * DAY_MS;

/// A change to, or a question about, a port's credits and raises.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum GrantOp {
    /// Grant credits.
    Grant {
        /// The grant's id, chosen by the caller (fresh for every request).
        id: String,
        /// The caller's idempotency key.
        request_id: String,
        /// The amount as sent (tokens, or decimal dollars for a `usd`
        /// budget): read in the budget's unit by the gate.
        amount: serde_json::Value,
        /// The unit the caller meant, if it said.
        #[serde(default)]
        unit: Option<String>,
        /// When the credits stop counting (epoch ms).
        #[serde(default)]
        expires_at: Option<i64>,
        /// A note.
        #[serde(default)]
        note: Option<String>,
    },
    /// Every grant with what is left.
    Credits,
    /// Void what is left of a grant.
    Void {
        /// The grant's id.
        id: String,
    },
    /// Add a temporary raise.
    Raise {
        /// The raise's id, chosen by the caller.
        id: String,
        /// The caller's idempotency key.
        request_id: String,
        /// Added to the hard cap, as sent.
        extra: serde_json::Value,
        /// Added to the soft cap, as sent (absent: `extra`).
        #[serde(default)]
        soft_extra: Option<serde_json::Value>,
        /// The unit the caller meant, if it said.
        #[serde(default)]
        unit: Option<String>,
        /// When it starts (epoch ms; absent: now).
        #[serde(default)]
        starts_at: Option<i64>,
        /// When it ends (epoch ms).
        ends_at: i64,
        /// A note.
        #[serde(default)]
        note: Option<String>,
    },
    /// Every raise.
    Raises,
    /// End a raise now.
    EndRaise {
        /// The raise's id.
        id: String,
    },
}

/// What an [`GrantOp`] came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum GrantOutcome {
    /// A grant: made (or made before by the same request: `replayed`),
    /// voided, or asked for.
    Credit {
        /// The grant.
        credit: CreditView,
        /// True when an earlier request made it.
        replayed: bool,
        /// Where the port's room comes from, after it.
        room: Room,
    },
    /// Every grant.
    Credits {
        /// Soonest-expiring first.
        credits: Vec<CreditView>,
        /// Where the port's room comes from.
        room: Room,
    },
    /// A raise: added (or before: `replayed`) or ended.
    Raise {
        /// The raise.
        raise: RaiseRow,
        /// True when an earlier request added it.
        replayed: bool,
        /// Where the port's room comes from, after it.
        room: Room,
    },
    /// Every raise.
    Raises {
        /// By start.
        raises: Vec<RaiseRow>,
        /// Where the port's room comes from.
        room: Room,
    },
    /// No grant or raise has that id.
    NotFound,
    /// The request id was used before with another body.
    Conflict,
    /// Bad input: nothing was written.
    Invalid {
        /// The error code.
        code: String,
        /// The field at fault.
        field: Option<String>,
        /// For people.
        message: String,
    },
}

/// A grant as listed: the stored grant and what is left of it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditView {
    /// The grant.
    #[serde(flatten)]
    pub row: CreditRow,
    /// What is left of it now (0 once expired or voided).
    pub left: u64,
    /// True once its expiry has passed.
    pub expired: bool,
}

impl CreditView {
    fn of(row: CreditRow, now: i64) -> CreditView {
        CreditView {
            left: row.credit.left(now),
            expired: row.credit.expires_at.is_some_and(|at| at <= now),
            row,
        }
    }
}

/// Reads an amount in `unit`: whole tokens, or decimal dollars into
/// micro-dollars; more than 0.
fn amount_in(unit: Unit, value: &serde_json::Value, field: &str) -> Result<u64, Error> {
    let Some(n) = value.as_f64() else {
        return Err(Error::new(
            ErrorCode::InvalidType,
            Some(field),
            format!("{field} must be a number"),
        ));
    };
    let amount = match unit {
        Unit::Tokens => crate::tokens_from_f64(n, field)?,
        Unit::Usd => crate::pricing::usd_micros(n, field)?,
    };
    if amount == 0 {
        return Err(Error::new(
            ErrorCode::InvalidValue,
            Some(field),
            format!("{field} must be more than 0"),
        ));
    }
    Ok(amount)
}

fn unit_matches(unit: Unit, said: Option<&str>) -> Result<(), Error> {
    match said {
        Some(u) if u != unit.as_str() => Err(Error::new(
            ErrorCode::InvalidValue,
            Some("unit"),
            format!("this port's budget counts in {}", unit.as_str()),
        )),
        _ => Ok(()),
    }
}

fn too_large(field: &str) -> Error {
    Error::new(
        ErrorCode::TooManyTokens,
        Some(field),
        format!(
            "{field} would take the port's total past {}",
            crate::MAX_TOKENS
        ),
    )
}

impl<S: Sql> Gate<'_, S> {
    /// Runs a change to, or a question about, the port's credits and raises.
    pub fn grants(&self, op: GrantOp, now: DateTime<Utc>) -> Result<GrantOutcome, GateError> {
        self.expire_due(now)?;
        let at = ms(now);
        let room = |g: &Self| -> Result<Room, GateError> {
            let (stored, load) = g.budget_load(now)?;
            Ok(g.room_view(&stored, &load, now)?.room)
        };
        let invalid = |e: Error| GrantOutcome::Invalid {
            code: e.code().as_str().to_owned(),
            field: e.field().map(str::to_owned),
            message: e.message().to_owned(),
        };
        let unit = self.budget()?.budget.unit;
        Ok(match op {
            GrantOp::Grant {
                id,
                request_id,
                amount,
                unit: said,
                expires_at,
                note,
            } => {
                let checked = unit_matches(unit, said.as_deref())
                    .and_then(|()| amount_in(unit, &amount, "amount"));
                let amount = match checked {
                    Ok(a) => a,
                    Err(e) => return Ok(invalid(e)),
                };
                if let Some(existing) = self.t.credit("", &request_id)? {
                    let same = existing.credit.amount == amount
                        && existing.credit.expires_at == expires_at
                        && existing.note == note
                        && existing.unit == unit;
                    if !same {
                        return Ok(GrantOutcome::Conflict);
                    }
                    return Ok(GrantOutcome::Credit {
                        credit: CreditView::of(existing, at),
                        replayed: true,
                        room: room(self)?,
                    });
                }
                if expires_at.is_some_and(|e| e <= at) {
                    return Ok(invalid(Error::new(
                        ErrorCode::InvalidInstant,
                        Some("expiresAt"),
                        "expiresAt must be in the future",
                    )));
                }
                let left: u64 = self
                    .t
                    .credits()?
                    .iter()
                    .filter(|c| c.unit == unit)
                    .fold(0, |t, c| crate::amount::sum(t, c.credit.left(at)));
                if crate::amount::checked_total(left, amount).is_none() {
                    return Ok(invalid(too_large("amount")));
                }
                let row = CreditRow {
                    credit: Credit {
                        id,
                        amount,
                        spent: 0,
                        expires_at,
                        created_at: at,
                        voided_at: None,
                    },
                    request_id,
                    unit,
                    note,
                };
                self.t.insert_credit(&row)?;
                GrantOutcome::Credit {
                    credit: CreditView::of(row, at),
                    replayed: false,
                    room: room(self)?,
                }
            }
            GrantOp::Credits => GrantOutcome::Credits {
                credits: self
                    .t
                    .credits()?
                    .into_iter()
                    .map(|c| CreditView::of(c, at))
                    .collect(),
                room: room(self)?,
            },
            GrantOp::Void { id } => {
                if self.t.credit(&id, "")?.is_none() {
                    return Ok(GrantOutcome::NotFound);
                }
                self.t.void_credit(&id, at)?;
                let credit = self.t.credit(&id, "")?.unwrap_or_default();
                GrantOutcome::Credit {
                    credit: CreditView::of(credit, at),
                    replayed: false,
                    room: room(self)?,
                }
            }
            GrantOp::Raise {
                id,
                request_id,
                extra,
                soft_extra,
                unit: said,
                starts_at,
                ends_at,
                note,
            } => {
                let starts_at = starts_at.unwrap_or(at);
                let read = || -> Result<(u64, Option<u64>), Error> {
                    unit_matches(unit, said.as_deref())?;
                    let extra = amount_in(unit, &extra, "extra")?;
                    let soft = match &soft_extra {
                        Some(v) if v.as_f64() == Some(0.0) => Some(0),
                        Some(v) => Some(amount_in(unit, v, "softExtra")?),
                        None => None,
                    };
                    if soft.is_some_and(|s| s > extra) {
                        return Err(Error::new(
                            ErrorCode::SoftCapAboveHardCap,
                            Some("softExtra"),
                            "softExtra cannot exceed extra",
                        ));
                    }
                    Ok((extra, soft))
                };
                let (extra, soft_extra) = match read() {
                    Ok(v) => v,
                    Err(e) => return Ok(invalid(e)),
                };
                if let Some(existing) = self.t.raise("", &request_id)? {
                    let r = &existing.raise;
                    let same = r.extra == extra
                        && r.soft_extra == soft_extra
                        && existing.note == note
                        && (existing.ended_at.is_some() || r.ends_at == ends_at);
                    if !same {
                        return Ok(GrantOutcome::Conflict);
                    }
                    return Ok(GrantOutcome::Raise {
                        raise: existing,
                        replayed: true,
                        room: room(self)?,
                    });
                }
                let instant = |field: &str, message: &str| {
                    invalid(Error::new(ErrorCode::InvalidInstant, Some(field), message))
                };
                if ends_at <= starts_at {
                    return Ok(instant("endsAt", "endsAt must be after startsAt"));
                }
                if ends_at <= at {
                    return Ok(instant("endsAt", "endsAt must be in the future"));
                }
                if ends_at > at + MAX_RAISE_MS {
                    return Ok(instant("endsAt", "endsAt must be at most a year from now"));
                }
                let total = self
                    .raises_in(unit)?
                    .iter()
                    .filter(|r| r.ends_at > at)
                    .fold(self.budget()?.budget.hard_cap(), |t, r| {
                        crate::amount::sum(t, r.extra)
                    });
                if crate::amount::checked_total(total, extra).is_none() {
                    return Ok(invalid(too_large("extra")));
                }
                let row = RaiseRow {
                    raise: Raise {
                        id,
                        extra,
                        soft_extra,
                        starts_at,
                        ends_at,
                    },
                    request_id,
                    unit,
                    note,
                    created_at: at,
                    ended_at: None,
                };
                self.t.insert_raise(&row)?;
                GrantOutcome::Raise {
                    raise: row,
                    replayed: false,
                    room: room(self)?,
                }
            }
            GrantOp::Raises => GrantOutcome::Raises {
                raises: self.t.raises()?,
                room: room(self)?,
            },
            GrantOp::EndRaise { id } => {
                if self.t.raise(&id, "")?.is_none() {
                    return Ok(GrantOutcome::NotFound);
                }
                self.t.end_raise(&id, at)?;
                GrantOutcome::Raise {
                    raise: self.t.raise(&id, "")?.unwrap_or_default(),
                    replayed: false,
                    room: room(self)?,
                }
            }
        })
    }
}
