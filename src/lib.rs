//! Token budgets for AI calls, with one set of rules for every place they run.
//!
//! A company's app calls LLMs on behalf of many tenants, called **ports**.
//! Each port has a token budget over a UTC calendar [`Period`]: a soft cap
//! (warn, still allowed) and a hard cap (refuse until the period resets).
//! This crate is those rules, and the faces that enforce them.
//!
//! # Layout
//! - The top-level modules are the **pure core**: no clock, no I/O, no
//!   JavaScript. Instants are parameters; storage is the caller's business.
//!   - [`period`]: day / week / month windows and their resets.
//!   - [`budget`]: settings, read tolerantly ([`Budget::normalize`]) and
//!     updated strictly ([`Budget::merge`]).
//!   - [`caps`]: caps inside a port, per feature and per end user.
//!   - [`decision`]: the pre-flight gate ([`evaluate`], and [`decide`] on
//!     plain numbers for hot loops).
//!   - [`usage`]: summaries of ledger rows ([`summarize_usage`]).
//!   - [`status`]: cap status for banners and previews ([`cap_status`]).
//!   - [`charge`]: what a call is charged when its real usage is unknown.
//!   - [`pricing`]: money in micro-dollars, prices per model, what a call
//!     costs and the most it can cost.
//!   - [`allowance`]: escrow between budget objects (a group lending to
//!     its ports, a port to its shards): the lender's and the borrower's
//!     sides and their messages.
//!   - [`gate`]: one port's gate (holds, counters, recent ledger, outbox)
//!     over a small SQL interface: the logic of the port's Durable Object.
//!   - [`group`]: a group's budget above ports, lending allowances to
//!     them: the logic of a group's Durable Object.
//!   - [`ledger`]: the ledger of record (D1) as SQL statements: delivery
//!     from each gate's outbox, and the reports' reads.
//!   - The vocabulary the rest is written in: [`sql`] (the storage seam),
//!     [`time`] (instants as stored and shown), [`amount`] (totals kept
//!     exact), [`tokens`] (token counts and a call's [`TokenCounts`]),
//!     [`text`] (caller text: what reads as written, header values as
//!     UTF-8) and [`error`] (the one error type).
//!   - [`llm`]: what the gateway knows of LLM APIs (pure, no I/O).
//!   - [`alerts`]: thresholds and their crossings (once per period), the
//!     events webhooks get, their signature, and which URLs are accepted.
//! - `web` (feature `web`): the JavaScript API of the npm package.
//! - `worker` (feature `worker`): the Cloudflare Worker that enforces the
//!   rules over HTTP: each port's gate a Durable Object (where its budget
//!   binds; KV keeps a copy for listings), the ledger in D1.
//!
//! # Features
//! - `web`: wasm-bindgen exports for the npm package (`pkg/`). Off by default.
//! - `worker`: the Worker entry point, HTTP API, storage and gateway. Off by
//!   default. Never combine with `web`.
//!
//! # Example
//! ```
//! use ai_budget::{evaluate, Budget, Decision, Period};
//! use chrono::{TimeZone, Utc};
//!
//! let budget = Budget { enabled: true, soft_cap_tokens: 80_000, hard_cap_tokens: 100_000, period: Period::Day, ..Budget::default() };
//! let now = Utc.with_ymd_and_hms(2026, 11, 28, 17, 30, 0).unwrap();
//! let decision = evaluate(&budget, 85_000, 4_000, now);
//! assert!(matches!(decision, Decision::Allowed { soft_cap: true, remaining: Some(15_000), .. }));
//! assert_eq!(decision.resets_at(), Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap());
//! ```

#![warn(missing_docs)]

pub mod access;
pub mod actions;
pub mod admin_keys;
pub mod alerts;
pub mod allowance;
pub mod amount;
pub mod audit;
pub mod budget;
pub mod calendar;
pub mod caps;
pub mod charge;
pub mod decision;
pub mod error;
pub mod forecast;
pub mod gate;
pub mod group;
pub mod ledger;
pub mod llm;
pub mod metrics;
pub mod period;
pub mod pricing;
pub mod room;
pub mod sql;
pub mod status;
pub mod text;
pub mod time;
pub mod tokens;
pub mod usage;

#[cfg(feature = "web")]
pub mod web;

#[cfg(feature = "worker")]
pub mod worker;

pub use budget::{
    Budget, FieldValue, RawBudget, Unit, DEFAULT_HARD_CAP_TOKENS, DEFAULT_SOFT_CAP_TOKENS,
};
pub use calendar::{Calendar, CalendarChange, Zone};
pub use decision::{decide, evaluate, Decision, DecisionCode, RefusalReason};
pub use error::{Error, ErrorCode};
pub use period::{Period, PeriodWindow};
pub use status::{cap_status, CapState, CapStatus};
pub use tokens::{
    add_tokens, token_count, tokens_from_f64, tokens_from_i64, TokenCounts, MAX_TOKENS,
};
pub use usage::{summarize_usage, FeatureUsage, UsageRow, UsageSummary};
