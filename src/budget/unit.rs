//! What a budget's caps count: tokens, or US dollars.

use std::str::FromStr;

use crate::{Error, ErrorCode};

/// What a budget's caps count.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Tokens (input plus output): the caps are `softCapTokens` and
    /// `hardCapTokens`.
    #[default]
    Tokens,
    /// US dollars, exact to the micro-dollar: the caps are `softCapUsd` and
    /// `hardCapUsd`, and each call counts what it costs at its model's price.
    Usd,
}

impl Unit {
    /// `tokens` or `usd`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Tokens => "tokens",
            Unit::Usd => "usd",
        }
    }

    /// Of two amounts of one call or period, the one in this unit: tokens,
    /// or micro-dollars.
    pub const fn pick(self, tokens: u64, usd_micros: u64) -> u64 {
        match self {
            Unit::Tokens => tokens,
            Unit::Usd => usd_micros,
        }
    }
}

impl Unit {
    /// An amount in this unit as the API shows it: whole tokens, or
    /// micro-dollars as decimal dollars.
    pub fn amount_json(self, amount: u64) -> serde_json::Value {
        match self {
            Unit::Tokens => amount.into(),
            Unit::Usd => crate::pricing::usd_number(amount).into(),
        }
    }
}

impl FromStr for Unit {
    type Err = Error;

    /// Parses `tokens` or `usd` (exactly).
    fn from_str(s: &str) -> Result<Unit, Error> {
        match s {
            "tokens" => Ok(Unit::Tokens),
            "usd" => Ok(Unit::Usd),
            _ => Err(Error::new(
                ErrorCode::InvalidValue,
                Some("unit"),
                format!("unit must be \"tokens\" or \"usd\" (got {s:?})"),
            )),
        }
    }
}
