//! Caps inside a port: per feature, and per end user (a default every user
//! gets, and overrides for named users), in the budget's unit and over the
//! budget's period. The rule is the port's own ([`decide`]) applied to each
//! cap that concerns a call, port first: a call passes only when every one
//! allows it, and a refusal names the cap that refused it.
//!
//! In a budget's JSON they are `featureCaps` (`{"<feature>": {"softCap"?,
//! "hardCap"}}`), `userCap` (`{"softCap"?, "hardCap"}`, every end user's)
//! and `userCaps` (`{"<user>": {...}}`, overrides), merged like the other
//! fields: a missing field keeps its value, `null` removes it (a whole map,
//! or one entry of it).
//!
//! A sub-cap may be set above the port's hard cap: it is then never the one
//! that refuses first, and saving it is allowed (a port's cap can be lowered
//! without touching its features'). A sub-cap's soft cap above its hard cap
//! is refused, as the port's is.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::text::shown_as_written;
use crate::tokens::tokens_from_f64;
use crate::{decide, Budget, DecisionCode, Error, ErrorCode, RefusalReason};

/// One cap inside a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubCap {
    /// Above this much the call is flagged (defaults to the hard cap).
    pub soft_cap: Option<u64>,
    /// At this much, calls of this scope are refused until the reset.
    pub hard_cap: u64,
}

/// Every cap inside a port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubCaps {
    /// Caps per feature.
    pub features: BTreeMap<String, SubCap>,
    /// The cap every end user gets, unless overridden.
    pub user_default: Option<SubCap>,
    /// Caps of named end users.
    pub users: BTreeMap<String, SubCap>,
}

/// Which cap a decision is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The port's own budget.
    Port,
    /// A feature's cap.
    Feature(String),
    /// An end user's cap.
    User(String),
}

impl Scope {
    /// `port`, `feature` or `user`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Port => "port",
            Scope::Feature(_) => "feature",
            Scope::User(_) => "user",
        }
    }

    /// The feature's or user's id (`None` for the port).
    pub fn id(&self) -> Option<&str> {
        match self {
            Scope::Port => None,
            Scope::Feature(id) | Scope::User(id) => Some(id),
        }
    }
}

impl SubCap {
    /// This cap as a budget of the port's period and switch, for the core's
    /// rule. Caps inside a port count tokens, whatever the port's unit.
    pub fn as_budget(&self, port: &Budget) -> Budget {
        Budget {
            enabled: port.enabled,
            soft_cap_tokens: self.soft_cap.unwrap_or(self.hard_cap),
            hard_cap_tokens: self.hard_cap,
            period: port.period,
            ..Budget::default()
        }
    }

    fn json(&self) -> Value {
        let mut m = Map::new();
        if let Some(soft) = self.soft_cap {
            m.insert("softCap".into(), soft.into());
        }
        m.insert("hardCap".into(), self.hard_cap.into());
        Value::Object(m)
    }
}

impl SubCaps {
    /// True when there is no cap inside the port.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty() && self.user_default.is_none() && self.users.is_empty()
    }

    /// The caps that concern a call of `feature` for `user` (port's not
    /// included), feature first.
    pub fn applicable(&self, feature: &str, user: Option<&str>) -> Vec<(Scope, SubCap)> {
        let mut out = Vec::new();
        if let Some(cap) = self.features.get(feature) {
            out.push((Scope::Feature(feature.to_owned()), *cap));
        }
        if let Some(user) = user {
            if let Some(cap) = self.users.get(user).or(self.user_default.as_ref()) {
                out.push((Scope::User(user.to_owned()), *cap));
            }
        }
        out
    }

    /// The JSON fields of these caps (`featureCaps`, `userCap`, `userCaps`),
    /// to put beside a budget's.
    pub fn json_fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if !self.features.is_empty() {
            m.insert(
                "featureCaps".into(),
                Value::Object(
                    self.features
                        .iter()
                        .map(|(k, c)| (k.clone(), c.json()))
                        .collect(),
                ),
            );
        }
        if let Some(cap) = &self.user_default {
            m.insert("userCap".into(), cap.json());
        }
        if !self.users.is_empty() {
            m.insert(
                "userCaps".into(),
                Value::Object(
                    self.users
                        .iter()
                        .map(|(k, c)| (k.clone(), c.json()))
                        .collect(),
                ),
            );
        }
        m
    }

    /// Reads stored caps tolerantly (an unreadable entry is dropped).
    pub fn from_json(value: &Value) -> SubCaps {
        let cap = |v: &Value| read_cap(v, "cap").ok();
        let map = |name: &str| -> BTreeMap<String, SubCap> {
            value
                .get(name)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), cap(v)?)))
                .collect()
        };
        SubCaps {
            features: map("featureCaps"),
            user_default: value.get("userCap").and_then(cap),
            users: map("userCaps"),
        }
    }

    /// Applies the sub-cap fields of a budget update (`featureCaps`,
    /// `userCap`, `userCaps`; missing keeps, `null` removes, per map and per
    /// entry).
    ///
    /// # Errors
    /// `invalid-type` (not an object, a cap not an object, a hard cap
    /// missing), the token rules' codes for caps, `invalid-value` for an id
    /// that is empty, too long or has control or invisible characters,
    /// `unknown-field` for a field a cap does not have,
    /// `soft-cap-above-hard-cap`.
    pub fn merge(&self, update: &Map<String, Value>) -> Result<SubCaps, Error> {
        let mut next = self.clone();
        if let Some(v) = update.get("featureCaps") {
            merge_map(&mut next.features, v, "featureCaps", 64)?;
        }
        if let Some(v) = update.get("userCap") {
            next.user_default = match v {
                Value::Null => None,
                v => Some(read_cap(v, "userCap")?),
            };
        }
        if let Some(v) = update.get("userCaps") {
            merge_map(&mut next.users, v, "userCaps", 128)?;
        }
        for (field, len, max) in [
            ("featureCaps", next.features.len(), MAX_FEATURE_CAPS),
            ("userCaps", next.users.len(), MAX_USER_CAPS),
        ] {
            if len > max {
                return Err(invalid(
                    ErrorCode::InvalidValue,
                    field,
                    format!("{field} may hold at most {max} caps (this update makes {len}); every other end user gets userCap"),
                ));
            }
        }
        Ok(next)
    }
}

/// Feature caps a port may have.
pub const MAX_FEATURE_CAPS: usize = 200;
/// End users with a cap of their own a port may have (the budget travels
/// whole with every save; the rest of the users share `userCap`).
pub const MAX_USER_CAPS: usize = 1000;

/// The names of the sub-cap fields of a budget.
pub const FIELDS: [&str; 3] = ["featureCaps", "userCap", "userCaps"];

fn invalid(code: ErrorCode, field: &str, message: impl Into<String>) -> Error {
    Error::new(code, Some(field), message)
}

fn read_cap(value: &Value, field: &str) -> Result<SubCap, Error> {
    let Value::Object(m) = value else {
        return Err(invalid(
            ErrorCode::InvalidType,
            field,
            format!("{field} must be an object with hardCap (and softCap)"),
        ));
    };
    if let Some(name) = m
        .keys()
        .find(|k| !matches!(k.as_str(), "softCap" | "hardCap"))
    {
        return Err(invalid(
            ErrorCode::UnknownField,
            &format!("{field}.{name}"),
            format!("unknown field \"{name}\": a cap has softCap and hardCap"),
        ));
    }
    let number = |name: &str| -> Result<Option<u64>, Error> {
        let at = format!("{field}.{name}");
        match m.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                tokens_from_f64(n.as_f64().unwrap_or(f64::INFINITY), &at).map(Some)
            }
            Some(_) => Err(invalid(
                ErrorCode::InvalidType,
                &at,
                format!("{at} must be a number"),
            )),
        }
    };
    let hard_cap = number("hardCap")?.ok_or_else(|| {
        invalid(
            ErrorCode::MissingField,
            &format!("{field}.hardCap"),
            format!("{field} needs a hardCap"),
        )
    })?;
    let soft_cap = number("softCap")?;
    if soft_cap.is_some_and(|s| s > hard_cap) {
        return Err(invalid(
            ErrorCode::SoftCapAboveHardCap,
            &format!("{field}.softCap"),
            format!("{field}.softCap cannot exceed {field}.hardCap"),
        ));
    }
    Ok(SubCap { soft_cap, hard_cap })
}

fn merge_map(
    map: &mut BTreeMap<String, SubCap>,
    value: &Value,
    field: &str,
    max: usize,
) -> Result<(), Error> {
    match value {
        Value::Null => map.clear(),
        Value::Object(entries) => {
            for (id, v) in entries {
                let at = format!("{field}.{id}");
                // `text::valid_id`'s rule, written out: the npm package's
                // wasm is smaller so.
                if id.is_empty() || id.chars().count() > max || !shown_as_written(id) {
                    return Err(invalid(
                        ErrorCode::InvalidValue,
                        &at,
                        format!("an id in {field} must be 1 to {max} characters without control, bidirectional or zero-width characters"),
                    ));
                }
                match v {
                    Value::Null => {
                        map.remove(id);
                    }
                    v => {
                        map.insert(id.clone(), read_cap(v, &at)?);
                    }
                }
            }
        }
        _ => {
            return Err(invalid(
                ErrorCode::InvalidType,
                field,
                format!("{field} must be an object (or null)"),
            ))
        }
    }
    Ok(())
}

/// A refusal by one cap: which, why, what it counted and its hard cap.
pub type CapRefusal = (Scope, RefusalReason, u64, u64);

fn refusal_of(code: DecisionCode) -> Option<RefusalReason> {
    match code {
        DecisionCode::HardCapExceeded => Some(RefusalReason::HardCapExceeded),
        DecisionCode::EstimatedExceedsCap => Some(RefusalReason::EstimatedExceedsCap),
        _ => None,
    }
}

/// The gate's decision over every cap that concerns a call: the port's
/// budget first, then each sub-cap, each by the core's rule on its own
/// usage; the first that refuses decides. `caps` pairs each scope with its
/// cap and what it counts (used plus held in that scope).
pub fn decide_all(
    port: &Budget,
    port_used: u64,
    caps: &[(Scope, SubCap, u64)],
    estimate: u64,
) -> Result<(), CapRefusal> {
    if let Some(reason) = refusal_of(decide(port, port_used, estimate)) {
        return Err((Scope::Port, reason, port_used, port.hard_cap()));
    }
    decide_sub_caps(port, caps, estimate)
}

/// The decision over the caps inside a port alone (the port's own budget
/// gives their period and switch): the first that refuses decides.
pub fn decide_sub_caps(
    port: &Budget,
    caps: &[(Scope, SubCap, u64)],
    estimate: u64,
) -> Result<(), CapRefusal> {
    for (scope, cap, used) in caps {
        if let Some(reason) = refusal_of(decide(&cap.as_budget(port), *used, estimate)) {
            return Err((scope.clone(), reason, *used, cap.hard_cap));
        }
    }
    Ok(())
}

impl SubCaps {
    /// The decision of the caps inside a port over a call of `feature` for
    /// `user` estimated at `estimate`: the caps that apply, each counted by
    /// `count` (used plus held in its scope), judged in order. Nothing is
    /// counted when no cap applies or the budget is disabled. The gate and
    /// the npm package both decide by this.
    ///
    /// # Errors
    /// What `count` fails with.
    pub fn decide<E>(
        &self,
        port: &Budget,
        feature: &str,
        user: Option<&str>,
        estimate: u64,
        mut count: impl FnMut(&Scope) -> Result<u64, E>,
    ) -> Result<Result<(), CapRefusal>, E> {
        let applicable = self.applicable(feature, user);
        if applicable.is_empty() || !port.enabled {
            return Ok(Ok(()));
        }
        let mut caps = Vec::with_capacity(applicable.len());
        for (scope, cap) in applicable {
            let used = count(&scope)?;
            caps.push((scope, cap, used));
        }
        Ok(decide_sub_caps(port, &caps, estimate))
    }
}
