//! Usage summaries: what the ledger says about the current period.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::tokens::add_tokens;
use crate::{Period, PeriodWindow};

/// One ledger row, as far as the budget rules care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    /// The product feature that made the call (`ocr`, `chat`, ...).
    pub feature: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// When the call was recorded.
    pub created_at: DateTime<Utc>,
}

impl UsageRow {
    /// Input plus output tokens: what counts against the budget.
    pub fn total_tokens(&self) -> u64 {
        add_tokens(self.input_tokens, self.output_tokens)
    }
}

/// Tokens and calls of one feature in a period (the original
/// `periodBreakdown` row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FeatureUsage {
    /// The feature.
    pub feature: String,
    /// Total tokens of its calls.
    pub tokens: u64,
    /// Number of calls.
    pub calls: u64,
}

/// Usage in the period containing an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageSummary {
    /// The period summed over.
    pub window: PeriodWindow,
    /// Tokens used in the window, all features together.
    pub used_tokens: u64,
    /// Calls in the window.
    pub calls: u64,
    /// Per feature, most tokens first (ties by feature name).
    pub breakdown: Vec<FeatureUsage>,
}

impl UsageSummary {
    /// Tokens one feature used in the window (0 for a feature with no calls).
    pub fn feature_tokens(&self, feature: &str) -> u64 {
        self.breakdown
            .iter()
            .find(|usage| usage.feature == feature)
            .map_or(0, |usage| usage.tokens)
    }
}

/// Sums the rows that fall in the `period` containing `now`.
///
/// A row counts when `start <= created_at < end`. (The original summed every
/// row since the start; rows after the end only exist when `now` is moved
/// back, as a preview does, and belong to a later period.)
///
/// # Example
/// ```
/// use ai_budget::{summarize_usage, Period, UsageRow};
/// use chrono::{TimeZone, Utc};
///
/// let at = |d| Utc.with_ymd_and_hms(2026, 5, d, 9, 0, 0).unwrap();
/// let row = |feature: &str, d| UsageRow { feature: feature.into(), input_tokens: 70, output_tokens: 30, created_at: at(d) };
/// let rows = [row("ocr", 4), row("chat", 5), row("ocr", 6), row("ocr", 12)];
/// // Wednesday 6 May: the week began on Monday 4 May; the 12th is next week.
/// let summary = summarize_usage(Period::Week, &rows, at(6));
/// assert_eq!(summary.used_tokens, 300);
/// assert_eq!(summary.feature_tokens("ocr"), 200);
/// assert_eq!(summary.breakdown[0].calls, 2);
/// ```
pub fn summarize_usage<'a>(
    period: Period,
    rows: impl IntoIterator<Item = &'a UsageRow>,
    now: DateTime<Utc>,
) -> UsageSummary {
    summarize_window(period.window(now), rows)
}

/// Usage of the rows that fall in `window` (a period of a port's calendar,
/// [`Budget::window`](crate::Budget::window)), as [`summarize_usage`]
/// sums it.
pub fn summarize_window<'a>(
    window: PeriodWindow,
    rows: impl IntoIterator<Item = &'a UsageRow>,
) -> UsageSummary {
    let mut features: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let (mut used_tokens, mut calls) = (0, 0);
    for row in rows
        .into_iter()
        .filter(|row| window.contains(row.created_at))
    {
        let tokens = row.total_tokens();
        let entry = features.entry(row.feature.as_str()).or_default();
        entry.0 = add_tokens(entry.0, tokens);
        entry.1 += 1;
        used_tokens = add_tokens(used_tokens, tokens);
        calls += 1;
    }
    let mut breakdown: Vec<FeatureUsage> = features
        .into_iter()
        .map(|(feature, (tokens, calls))| FeatureUsage {
            feature: feature.to_owned(),
            tokens,
            calls,
        })
        .collect();
    // Stable sort over name-ordered input: equal token counts stay by name.
    breakdown.sort_by_key(|usage| std::cmp::Reverse(usage.tokens));
    UsageSummary {
        window,
        used_tokens,
        calls,
        breakdown,
    }
}
