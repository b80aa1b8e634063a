//! What the port gate keeps: holds, ledger entries, loads and the budget
//! as stored (the outcome of each operation is [`super::outcome`]). Plain
//! data (instants as epoch milliseconds), serializable, so the Worker and
//! the port's Durable Object exchange exactly these values.

use serde::{Deserialize, Serialize};

use crate::tokens::add_tokens;
use crate::tokens::TokenCounts;
use crate::{Budget, Unit};

/// The real usage of one call, as committed or recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallUsage {
    /// The end user the call was made for.
    pub user_id: Option<String>,
    /// The product feature (`None` on a commit: the reservation's).
    pub feature: Option<String>,
    /// The LLM provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Tokens by kind.
    pub tokens: TokenCounts,
    /// What the call cost, in micro-dollars, priced by the caller at
    /// settlement (`None`: its model has no price; a commit then charges
    /// its hold's money estimate, if it had one).
    #[serde(default)]
    pub cost_usd: Option<u64>,
    /// The version of the price `cost_usd` was priced by (its
    /// `effectiveFrom`, or the shipped table's date), when the caller
    /// priced it.
    #[serde(default)]
    pub price_version: Option<String>,
    /// Where that version comes from: `shipped` or `admin`.
    #[serde(default)]
    pub price_source: Option<String>,
}

/// A request for a hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldRequest {
    /// Tokens to hold.
    pub estimated_tokens: u64,
    /// The feature the call is for.
    pub feature: String,
    /// The end user the call is for.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The caller's idempotency key.
    pub request_id: String,
    /// Seconds until an unsettled hold expires.
    pub ttl_seconds: u64,
    /// Fingerprint of the request, to tell a retry from a conflicting reuse.
    pub body_hash: String,
    /// The hold's id, chosen by the caller (fresh for every request).
    pub hold_id: String,
    /// Micro-dollars to hold (an upper bound of the call's cost), when the
    /// call is priced; a `usd` budget refuses a hold without one.
    #[serde(default)]
    pub estimated_usd: Option<u64>,
    /// The estimate's input and output tokens, when the call names a model
    /// the price table does not know: the gate prices them with the port's
    /// fallback price, if it has one.
    #[serde(default)]
    pub unpriced_estimate: Option<(u64, u64)>,
}

/// A hold's life: held, then committed, released or expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldState {
    /// Counting its estimate against the cap until settled.
    Held,
    /// Settled with the call's real usage (a ledger entry).
    Committed,
    /// Given back: the call did not happen.
    Released,
    /// Not settled in time: charged as its estimate until a late commit.
    Expired,
}

impl HoldState {
    /// `held`, `committed`, `released` or `expired`.
    pub const fn as_str(self) -> &'static str {
        match self {
            HoldState::Held => "held",
            HoldState::Committed => "committed",
            HoldState::Released => "released",
            HoldState::Expired => "expired",
        }
    }

    /// The state of its stored name (`held` for anything unknown).
    pub fn parse(name: &str) -> HoldState {
        match name {
            "committed" => HoldState::Committed,
            "released" => HoldState::Released,
            "expired" => HoldState::Expired,
            _ => HoldState::Held,
        }
    }
}

/// A hold on part of a port's budget (a reservation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// `rsv_` and 24 hex digits.
    pub id: String,
    /// The caller's request id.
    pub request_id: String,
    /// The feature the call is for.
    pub feature: String,
    /// The end user the call is for.
    pub user_id: Option<String>,
    /// Tokens held.
    pub estimated_tokens: u64,
    /// Micro-dollars held, when the call was priced.
    #[serde(default)]
    pub estimated_usd: Option<u64>,
    /// Where it stands.
    pub state: HoldState,
    /// Fingerprint of the reserving request.
    pub body_hash: String,
    /// Tokens committed, once committed.
    pub actual_tokens: Option<u64>,
    /// When it was taken (epoch ms).
    pub created_at: i64,
    /// When an unsettled hold expires (epoch ms).
    pub expires_at: i64,
    /// When it was committed, released or expired (epoch ms).
    pub settled_at: Option<i64>,
    /// The ledger entry it settled into (committed, or expired at its
    /// estimate).
    pub entry_seq: Option<u64>,
}

/// One counted call: a ledger entry, numbered per port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The port's ledger sequence number: the entry's id, increasing.
    pub seq: u64,
    /// The caller's request id: unique per port.
    pub request_id: String,
    /// The hold it settled, if any.
    pub reservation_id: Option<String>,
    /// The end user.
    pub user_id: Option<String>,
    /// The product feature.
    pub feature: String,
    /// The LLM provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Tokens by kind.
    pub tokens: TokenCounts,
    /// What the call cost, in micro-dollars, as priced when it was settled
    /// (`None`: unpriced). Kept when prices change later.
    #[serde(default)]
    pub cost_usd: Option<u64>,
    /// Fingerprint of the request that wrote it.
    pub body_hash: String,
    /// True while it is an expired hold charged at its estimate.
    pub estimated: bool,
    /// When the call was counted (epoch ms): its periods.
    pub created_at: i64,
    /// Bumped by every change (a late commit): the ledger of record is
    /// behind while its copy is older.
    pub version: u64,
    /// The request that wrote it (its last change): a retry of that very
    /// request is told apart from a replay by another.
    #[serde(default)]
    pub write_id: String,
    /// What funded it beyond the period's cap: each source and its amount
    /// in the budget's unit (`cap:70,cr_…:30`); `None`: the cap alone.
    #[serde(default)]
    pub funded_by: Option<String>,
    /// The version of the price its cost was priced by, and its source
    /// (`shipped` or `admin`), when the caller priced it.
    #[serde(default)]
    pub price_version: Option<String>,
    /// See `price_version`.
    #[serde(default)]
    pub price_source: Option<String>,
}

/// The columns of a ledger entry, named alike in the gate's `entries`
/// table and in D1's `usage_ledger`, in the order of [`Entry::values`]:
/// the one list both stores are written and read by.
pub const ENTRY_COLUMNS: [&str; 21] = [
    "seq",
    "request_id",
    "reservation_id",
    "user_id",
    "feature",
    "provider",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "body_hash",
    "estimated",
    "created_at",
    "version",
    "write_id",
    "cost_usd_micros",
    "funded_by",
    "price_version",
    "price_source",
];

impl Entry {
    /// The entry's values, in the order of [`ENTRY_COLUMNS`].
    pub fn values(&self) -> Vec<crate::sql::Value> {
        vec![
            self.seq.into(),
            (&self.request_id).into(),
            self.reservation_id.clone().into(),
            self.user_id.clone().into(),
            (&self.feature).into(),
            (&self.provider).into(),
            (&self.model).into(),
            self.tokens.input_tokens.into(),
            self.tokens.cached_input_tokens.into(),
            self.tokens.cache_write_tokens.into(),
            self.tokens.output_tokens.into(),
            self.tokens.reasoning_tokens.into(),
            (&self.body_hash).into(),
            self.estimated.into(),
            self.created_at.into(),
            self.version.into(),
            (&self.write_id).into(),
            self.cost_usd.into(),
            self.funded_by.clone().into(),
            self.price_version.clone().into(),
            self.price_source.clone().into(),
        ]
    }

    /// Input plus output.
    pub fn total_tokens(&self) -> u64 {
        self.tokens.total()
    }
}

/// A ledger entry the ledger of record refused for good, set aside so the
/// entries behind it are delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetAside {
    /// The entry's number.
    pub seq: u64,
    /// Its request id.
    pub request_id: String,
    /// The version refused.
    pub version: u64,
    /// What the ledger of record said.
    pub reason: String,
    /// When it was set aside (epoch ms).
    pub at: i64,
}

/// Tokens a port has used and holds in one period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortLoad {
    /// Tokens of counted calls in the period.
    pub used_tokens: u64,
    /// Counted calls in the period.
    pub calls: u64,
    /// Estimates of open holds, whatever period they were taken in: they
    /// commit into the current one.
    pub held_tokens: u64,
    /// The part of `used_tokens` that expired holds were charged at.
    pub expired_tokens: u64,
    /// Micro-dollars of the period's ledger rows (unpriced rows add 0).
    #[serde(default)]
    pub used_usd: u64,
    /// Micro-dollars held by open holds.
    #[serde(default)]
    pub held_usd: u64,
}

impl PortLoad {
    /// What the gate counts against the hard cap: used (expired holds
    /// included) and open holds.
    pub fn gate_tokens(&self) -> u64 {
        add_tokens(self.used_tokens, self.held_tokens)
    }

    /// Used plus held micro-dollars: what the gate judges a `usd` budget on.
    pub fn gate_usd(&self) -> u64 {
        add_tokens(self.used_usd, self.held_usd)
    }

    /// Used plus held, in `unit`: what the gate judges a budget on.
    pub fn gate_amount(&self, unit: Unit) -> u64 {
        unit.pick(self.gate_tokens(), self.gate_usd())
    }

    /// What counted calls used, in `unit` (tokens or micro-dollars).
    pub fn used_amount(&self, unit: Unit) -> u64 {
        unit.pick(self.used_tokens, self.used_usd)
    }

    /// This load with `used` and `held` more in `unit` (what a port's
    /// other objects counted: its shards', or for a shard the rest of its
    /// port's).
    pub fn with_more(mut self, unit: Unit, used: u64, held: u64) -> PortLoad {
        match unit {
            Unit::Tokens => {
                self.used_tokens = self.used_tokens.saturating_add(used);
                self.held_tokens = self.held_tokens.saturating_add(held);
            }
            Unit::Usd => {
                self.used_usd = self.used_usd.saturating_add(used);
                self.held_usd = self.held_usd.saturating_add(held);
            }
        }
        self
    }
}

/// A port's budget as the gate enforces it, with who saved it and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBudget {
    /// The settings.
    pub budget: Budget,
    /// The caps inside the port (per feature, per end user).
    pub caps: crate::caps::SubCaps,
    /// The most unused room carried into the next period, in the
    /// budget's unit (`rollover: {"max": amount}`); `None`: no rollover.
    pub rollover: Option<u64>,
    /// Who saved it (absent for a port that never had one).
    pub updated_by: Option<String>,
    /// When it was saved (ISO 8601 with milliseconds); unique per save, so
    /// it serves as the budget's `ETag`.
    pub updated_at: Option<String>,
    /// The group above the port, whose hard cap binds its calls too
    /// (through an allowance: [`crate::allowance`]); `None` for a port on
    /// its own.
    pub parent: Option<String>,
    /// How many gate objects the port's reservations are spread over
    /// (1 to [`MAX_SHARDS`](crate::allowance::shards::MAX_SHARDS); 1: the
    /// port's own object alone, as for every port before shards).
    pub shards: u32,
    /// The shard counts the port had, newest first (empty while the count
    /// never changed): where an earlier count's reservations are settled.
    pub shard_history: crate::allowance::shards::CountHistory,
}

impl StoredBudget {
    /// Whether the port has or had more than one shard (a count still
    /// kept): only then is there a lender's side to read.
    pub fn ever_sharded(&self) -> bool {
        self.shards > 1 || !self.shard_history.changes.is_empty()
    }

    /// The defaults of a port never configured.
    pub fn unsaved() -> StoredBudget {
        StoredBudget {
            budget: Budget::default(),
            caps: crate::caps::SubCaps::default(),
            rollover: None,
            updated_by: None,
            updated_at: None,
            parent: None,
            shards: 1,
            shard_history: Default::default(),
        }
    }

    /// The API's JSON: the budget's fields, its caps inside the port
    /// (`featureCaps`, `userCap`, `userCaps`, when set), `parent` (when
    /// set), `shards` (when more than 1), `shardCounts` (once the count
    /// changed), `updatedBy`, `updatedAt`.
    pub fn json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self.budget).unwrap_or_default();
        // The API always shows the money settings, a token budget's too.
        if !self.budget.has_money_settings() {
            value["unit"] = self.budget.unit.as_str().into();
            value["softCapUsd"] = serde_json::Value::Null;
            value["hardCapUsd"] = serde_json::Value::Null;
            value["fallbackPrice"] = serde_json::Value::Null;
        }
        if let serde_json::Value::Object(m) = &mut value {
            m.extend(self.caps.json_fields());
        }
        if let Some(max) = self.rollover {
            value["rollover"] = serde_json::json!({ "max": self.budget.unit.amount_json(max) });
        }
        if let Some(parent) = &self.parent {
            value["parent"] = parent.clone().into();
        }
        if self.shards > 1 {
            value["shards"] = self.shards.into();
        }
        if !self.shard_history.changes.is_empty() {
            value["shardCounts"] = serde_json::to_value(&self.shard_history).unwrap_or_default();
        }
        value["updatedBy"] = self.updated_by.clone().into();
        value["updatedAt"] = self.updated_at.clone().into();
        value
    }

    /// Reads the API's JSON (or a stored value) tolerantly: the core's
    /// [`Budget::normalize`] for the settings, the audit fields if present.
    pub fn from_json(value: &serde_json::Value) -> StoredBudget {
        let raw: crate::RawBudget = serde_json::from_value(value.clone()).unwrap_or_default();
        let text = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let budget = Budget::normalize(&raw);
        StoredBudget {
            rollover: value
                .get("rollover")
                .and_then(|r| rollover_max(budget.unit, r).ok().flatten()),
            budget,
            caps: crate::caps::SubCaps::from_json(value),
            updated_by: text("updatedBy"),
            updated_at: text("updatedAt"),
            parent: text("parent").filter(|p| crate::allowance::valid_id(p)),
            shards: crate::allowance::shards::shards_update(value)
                .ok()
                .flatten()
                .unwrap_or(1),
            shard_history: value
                .get("shardCounts")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
        }
    }
}

impl Serialize for StoredBudget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for StoredBudget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StoredBudget, D::Error> {
        Ok(StoredBudget::from_json(&serde_json::Value::deserialize(d)?))
    }
}

/// Reads a budget's `rollover` field in `unit`: `null` turns it off
/// (`None`), `{"max": amount}` sets the most carried over (whole tokens,
/// or decimal dollars).
///
/// # Errors
/// `invalid-type` for anything else, then the amount's own errors (field
/// `rollover.max`).
pub fn rollover_max(unit: Unit, value: &serde_json::Value) -> Result<Option<u64>, crate::Error> {
    if value.is_null() {
        return Ok(None);
    }
    let field = "rollover.max";
    let max = value
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.get("max"))
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| {
            crate::Error::new(
                crate::ErrorCode::InvalidType,
                Some("rollover"),
                "rollover must be null or {\"max\": amount}",
            )
        })?;
    Ok(Some(match unit {
        Unit::Tokens => crate::tokens_from_f64(max, field)?,
        Unit::Usd => crate::pricing::usd_micros(max, field)?,
    }))
}
