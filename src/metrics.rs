//! Metrics for operators, in the Prometheus text exposition format
//! (version 0.0.4, which OpenMetrics scrapers read too): the writer
//! ([`Exposition`]) and what a port's standing adds to it
//! ([`port_samples`], [`refusal_samples`]) and a group's ([`group_samples`]).
//! Pure: the Worker gathers the standings and serves the text at
//! `GET /v1/metrics`.
//!
//! Labels stay bounded: one series per port and per group (and per state
//! of a budget, per reason and scope of a port's refusals); end users and
//! features are never labels.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::forecast::forecast_of;
use crate::gate::{PortLoad, RefusalCount};
use crate::pricing::usd_number;
use crate::time::parse_rfc3339;
use crate::{cap_status, Budget, CapState, Unit};

/// What kind of metric a family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A value that only goes up (until its source restarts).
    Counter,
}

impl Kind {
    const fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One metric family: its name, help, kind, and its sample lines.
#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    lines: Vec<String>,
}

/// A scrape's text being written: samples are grouped under their family's
/// `# HELP` and `# TYPE` lines, families in the order first used.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    /// An empty scrape.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Adds a sample of the family `name` (declared with `kind` and `help`
    /// the first time) with `labels`.
    pub fn sample(
        &mut self,
        name: &'static str,
        kind: Kind,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let index = match self.families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.families.push(Family {
                    name,
                    help,
                    kind,
                    lines: Vec::new(),
                });
                self.families.len() - 1
            }
        };
        let mut line = String::from(name);
        if !labels.is_empty() {
            line.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                line.push_str(key);
                line.push_str("=\"");
                line.push_str(&escape_label(value));
                line.push('"');
            }
            line.push('}');
        }
        line.push(' ');
        line.push_str(&number(value));
        self.families[index].lines.push(line);
    }

    /// The scrape's text, each line ending with a newline.
    pub fn finish(self) -> String {
        let mut out = String::new();
        for f in self.families {
            out.push_str(&format!("# HELP {} {}\n", f.name, f.help));
            out.push_str(&format!("# TYPE {} {}\n", f.name, f.kind.as_str()));
            for line in f.lines {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped, as the format wants.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: whole numbers without a fraction, `NaN`, `+Inf`, `-Inf`.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if value.fract() == 0.0 && value.abs() < 9.007_199_254_740_992e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// An amount of `unit` as the metrics show it: tokens, or dollars.
fn amount(unit: Unit, n: u64) -> f64 {
    match unit {
        Unit::Tokens => n as f64,
        Unit::Usd => usd_number(n),
    }
}

/// Adds where `port` stands at `now` (its enforced `budget` and the `load`
/// counted in the budget's period) to `out`: usage, holds, calls and cost
/// in the period, the caps and what remains (labelled with the budget's
/// `unit`), the reset, the state, and the forecast.
pub fn port_samples(
    out: &mut Exposition,
    port: &str,
    budget: &Budget,
    load: &PortLoad,
    now: DateTime<Utc>,
) {
    let p = [("port", port)];
    let unit = budget.unit.as_str();
    let pu = [("port", port), ("unit", unit)];
    let status = cap_status(budget, load.gate_amount(budget.unit), now);
    out.sample(
        "ai_budget_port_used_tokens",
        Kind::Gauge,
        "Tokens counted by the port's gate in its current period (holds not included)",
        &p,
        load.used_tokens as f64,
    );
    out.sample(
        "ai_budget_port_held_tokens",
        Kind::Gauge,
        "Tokens held by the port's open reservations",
        &p,
        load.held_tokens as f64,
    );
    out.sample(
        "ai_budget_port_cost_usd",
        Kind::Gauge,
        "Cost of the calls counted in the port's current period, in US dollars",
        &p,
        usd_number(load.used_usd),
    );
    out.sample(
        "ai_budget_port_calls",
        Kind::Gauge,
        "Calls counted in the port's current period",
        &p,
        load.calls as f64,
    );
    out.sample(
        "ai_budget_port_used",
        Kind::Gauge,
        "What the gate judges the port on (used and held), in the budget's unit",
        &pu,
        amount(budget.unit, status.used),
    );
    out.sample(
        "ai_budget_port_soft_cap",
        Kind::Gauge,
        "The port's soft cap, in the budget's unit",
        &pu,
        amount(budget.unit, status.soft_cap),
    );
    out.sample(
        "ai_budget_port_hard_cap",
        Kind::Gauge,
        "The port's hard cap, in the budget's unit",
        &pu,
        amount(budget.unit, status.hard_cap),
    );
    if let Some(remaining) = status.remaining {
        out.sample(
            "ai_budget_port_remaining",
            Kind::Gauge,
            "Left under the port's hard cap (absent when the budget is disabled), in the budget's unit",
            &pu,
            amount(budget.unit, remaining),
        );
    }
    out.sample(
        "ai_budget_port_period_end_seconds",
        Kind::Gauge,
        "When the port's current period ends and its budget resets (Unix seconds)",
        &p,
        status.window.end.timestamp_millis() as f64 / 1000.0,
    );
    for state in [
        CapState::Disabled,
        CapState::Ok,
        CapState::Soft,
        CapState::Hard,
    ] {
        out.sample(
            "ai_budget_port_state",
            Kind::Gauge,
            "1 for the band the port is in (disabled, ok, soft, hard), 0 for the others",
            &[("port", port), ("state", state.as_str())],
            f64::from(u8::from(status.state == state)),
        );
    }
    if let Some(f) = forecast_of(budget, load.used_amount(budget.unit), now, None) {
        out.sample(
            "ai_budget_port_projected_used",
            Kind::Gauge,
            "The usage the period would end with at its average rate so far, in the budget's unit",
            &pu,
            amount(budget.unit, f.projected_used),
        );
        out.sample(
            "ai_budget_port_runs_out_before_reset",
            Kind::Gauge,
            "1 when the period's average rate reaches the hard cap before the reset",
            &p,
            f64::from(u8::from(f.runs_out_before_reset())),
        );
        if let Some(at) = f.run_out_at {
            out.sample(
                "ai_budget_port_run_out_seconds",
                Kind::Gauge,
                "When the hard cap is reached at the period's average rate (Unix seconds), for ports that run out before the reset",
                &p,
                at.timestamp_millis() as f64 / 1000.0,
            );
        }
    }
}

/// Adds the requests `port`'s gate refused in its budget's current period
/// to `out`, one sample per reason and scope of the cap that refused
/// (`port`, `feature`, `user`: never which feature or user). A gauge, as
/// the period's calls are: it starts from zero at each period's start.
pub fn refusal_samples(out: &mut Exposition, port: &str, refusals: &[RefusalCount]) {
    for r in refusals {
        out.sample(
            "ai_budget_port_refusals",
            Kind::Gauge,
            "Requests refused in the port's current period (zero again at the period's start), by reason and the scope of the cap that refused",
            &[("port", port), ("reason", &r.reason), ("scope", &r.scope)],
            r.count as f64,
        );
    }
}

/// Where a group stands: the fields of its status
/// (`GET /v1/groups/{group}/status`) that [`group_samples`] shows, in the
/// budget's unit (tokens, or micro-dollars).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GroupLine {
    /// The group.
    pub group: String,
    /// The unit of its budget.
    pub unit: Unit,
    /// Used by its children in the current period.
    pub used: u64,
    /// Held by its children's open reservations.
    pub held: u64,
    /// Lent to its children and not yet returned.
    pub lent: u64,
    /// Lent and not yet used or held.
    pub unused: u64,
    /// The hard cap in force.
    pub cap: u64,
    /// The soft cap.
    pub soft_cap: u64,
    /// `disabled`, `ok`, `soft` or `hard`.
    pub state: String,
    /// When the period ends (RFC 3339).
    pub resets_at: String,
}

/// Adds where a group stands to `out`: what its children used and hold,
/// what it has lent and is still unused, its caps, its band and its
/// period's end.
pub fn group_samples(out: &mut Exposition, line: &GroupLine) {
    let g = [("group", line.group.as_str())];
    let gu = [("group", line.group.as_str()), ("unit", line.unit.as_str())];
    let amounts = [
        (
            "ai_budget_group_used",
            "What the group's children used in its current period, in the budget's unit",
            line.used,
        ),
        (
            "ai_budget_group_held",
            "What the group's children hold in open reservations, in the budget's unit",
            line.held,
        ),
        (
            "ai_budget_group_lent",
            "Allowance the group has lent to its children and not had back, in the budget's unit",
            line.lent,
        ),
        (
            "ai_budget_group_lent_unused",
            "Lent allowance not yet used or held by the children (the slack), in the budget's unit",
            line.unused,
        ),
        (
            "ai_budget_group_soft_cap",
            "The group's soft cap, in the budget's unit",
            line.soft_cap,
        ),
        (
            "ai_budget_group_hard_cap",
            "The group's hard cap in force, in the budget's unit",
            line.cap,
        ),
    ];
    for (name, help, value) in amounts {
        out.sample(name, Kind::Gauge, help, &gu, amount(line.unit, value));
    }
    if let Some(end) = parse_rfc3339(&line.resets_at) {
        out.sample(
            "ai_budget_group_period_end_seconds",
            Kind::Gauge,
            "When the group's current period ends and its budget resets (Unix seconds)",
            &g,
            end.timestamp_millis() as f64 / 1000.0,
        );
    }
    for state in ["disabled", "ok", "soft", "hard"] {
        out.sample(
            "ai_budget_group_state",
            Kind::Gauge,
            "1 for the band the group is in (disabled, ok, soft, hard), 0 for the others",
            &[("group", line.group.as_str()), ("state", state)],
            f64::from(u8::from(line.state == state)),
        );
    }
}
