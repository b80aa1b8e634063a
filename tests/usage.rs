//! Usage summaries: the seed's `currentPeriodTokens` and `periodBreakdown`,
//! from ledger rows and an instant.

use ai_budget::{summarize_usage, FeatureUsage, Period, UsageRow, MAX_TOKENS};
use chrono::{DateTime, Duration, TimeZone, Utc};

fn at(mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, mo, d, h, 0, 0).unwrap()
}

fn row(feature: &str, input: u64, output: u64, created_at: DateTime<Utc>) -> UsageRow {
    UsageRow {
        feature: feature.into(),
        input_tokens: input,
        output_tokens: output,
        created_at,
    }
}

fn usage(feature: &str, tokens: u64, calls: u64) -> FeatureUsage {
    FeatureUsage {
        feature: feature.into(),
        tokens,
        calls,
    }
}

#[test]
fn a_rows_total_is_its_input_plus_output_tokens() {
    assert_eq!(row("ocr", 70, 30, at(5, 1, 0)).total_tokens(), 100);
    assert_eq!(
        row("ocr", MAX_TOKENS, 1, at(5, 1, 0)).total_tokens(),
        MAX_TOKENS
    );
}

#[test]
fn usage_sums_every_row_in_the_period_across_features() {
    let rows = [
        row("ocr", 100, 50, at(5, 2, 9)),
        row("chat", 10, 5, at(5, 20, 9)),
        row("ocr", 1, 1, at(5, 31, 23)),
    ];
    let summary = summarize_usage(Period::Month, &rows, at(5, 15, 12));
    assert_eq!(summary.used_tokens, 167);
    assert_eq!(summary.calls, 3);
}

#[test]
fn usage_counts_a_row_at_the_first_instant_of_the_period() {
    let rows = [row("ocr", 7, 0, at(5, 1, 0))];
    assert_eq!(
        summarize_usage(Period::Month, &rows, at(5, 15, 12)).used_tokens,
        7
    );
}

#[test]
fn usage_counts_a_row_at_the_last_millisecond_of_the_period() {
    let rows = [row("ocr", 7, 0, at(6, 1, 0) - Duration::milliseconds(1))];
    assert_eq!(
        summarize_usage(Period::Month, &rows, at(5, 15, 12)).used_tokens,
        7
    );
}

#[test]
fn usage_leaves_out_rows_before_the_period() {
    let rows = [
        row("ocr", 7, 0, at(5, 1, 0) - Duration::milliseconds(1)),
        row("ocr", 1, 0, at(5, 3, 0)),
    ];
    let summary = summarize_usage(Period::Month, &rows, at(5, 15, 12));
    assert_eq!((summary.used_tokens, summary.calls), (1, 1));
}

#[test]
fn usage_leaves_out_rows_from_a_later_period() {
    // Only possible when `now` is moved back, as a preview does.
    let rows = [row("ocr", 7, 0, at(6, 1, 0)), row("ocr", 1, 0, at(5, 3, 0))];
    let summary = summarize_usage(Period::Month, &rows, at(5, 15, 12));
    assert_eq!((summary.used_tokens, summary.calls), (1, 1));
}

#[test]
fn usage_is_summed_over_the_budgets_period() {
    // Wednesday 6 May 2026; the week began on Monday 4 May.
    let rows = [
        row("ocr", 1, 0, at(5, 1, 12)),
        row("ocr", 10, 0, at(5, 4, 12)),
        row("ocr", 100, 0, at(5, 6, 1)),
    ];
    let now = at(5, 6, 12);
    assert_eq!(summarize_usage(Period::Day, &rows, now).used_tokens, 100);
    assert_eq!(summarize_usage(Period::Week, &rows, now).used_tokens, 110);
    assert_eq!(summarize_usage(Period::Month, &rows, now).used_tokens, 111);
}

#[test]
fn a_summary_carries_the_window_it_summed_over() {
    let now = at(5, 6, 12);
    for period in Period::ALL {
        assert_eq!(summarize_usage(period, &[], now).window, period.window(now));
    }
}

#[test]
fn no_rows_is_zero_usage_and_an_empty_breakdown() {
    let summary = summarize_usage(Period::Month, &[], at(5, 6, 12));
    assert_eq!((summary.used_tokens, summary.calls), (0, 0));
    assert!(summary.breakdown.is_empty());
}

#[test]
fn usage_per_feature_counts_only_that_features_rows() {
    let rows = [
        row("ocr", 100, 50, at(5, 2, 9)),
        row("chat", 10, 5, at(5, 20, 9)),
        row("ocr", 1, 1, at(5, 31, 23)),
    ];
    let summary = summarize_usage(Period::Month, &rows, at(5, 15, 12));
    assert_eq!(summary.feature_tokens("ocr"), 152);
    assert_eq!(summary.feature_tokens("chat"), 15);
}

#[test]
fn usage_of_a_feature_with_no_calls_is_zero() {
    let rows = [
        row("ocr", 100, 50, at(5, 2, 9)),
        row("chat", 9, 0, at(4, 2, 9)),
    ];
    let summary = summarize_usage(Period::Month, &rows, at(5, 15, 12));
    assert_eq!(summary.feature_tokens("translate"), 0);
    // Its only row is last month's.
    assert_eq!(summary.feature_tokens("chat"), 0);
}

#[test]
fn feature_names_are_matched_exactly() {
    let rows = [row("ocr", 1, 0, at(5, 2, 9)), row("OCR", 2, 0, at(5, 2, 9))];
    let summary = summarize_usage(Period::Month, &rows, at(5, 15, 12));
    assert_eq!(summary.feature_tokens("ocr"), 1);
    assert_eq!(summary.feature_tokens("OCR"), 2);
}

#[test]
fn the_breakdown_gives_tokens_and_calls_per_feature() {
    let rows = [
        row("ocr", 100, 50, at(5, 2, 9)),
        row("chat", 10, 5, at(5, 20, 9)),
        row("ocr", 1, 1, at(5, 31, 23)),
    ];
    let summary = summarize_usage(Period::Month, &rows, at(5, 15, 12));
    assert_eq!(
        summary.breakdown,
        vec![usage("ocr", 152, 2), usage("chat", 15, 1)]
    );
}

#[test]
fn the_breakdown_lists_the_most_tokens_first() {
    let rows = [
        row("a", 1, 0, at(5, 2, 9)),
        row("b", 300, 0, at(5, 2, 9)),
        row("c", 20, 0, at(5, 2, 9)),
    ];
    let features: Vec<String> = summarize_usage(Period::Month, &rows, at(5, 15, 12))
        .breakdown
        .into_iter()
        .map(|usage| usage.feature)
        .collect();
    assert_eq!(features, ["b", "c", "a"]);
}

#[test]
fn the_breakdown_orders_equal_token_counts_by_feature_name() {
    let rows = [
        row("zeta", 5, 0, at(5, 2, 9)),
        row("alpha", 5, 0, at(5, 3, 9)),
        row("mid", 2, 3, at(5, 4, 9)),
    ];
    let features: Vec<String> = summarize_usage(Period::Month, &rows, at(5, 15, 12))
        .breakdown
        .into_iter()
        .map(|usage| usage.feature)
        .collect();
    assert_eq!(features, ["alpha", "mid", "zeta"]);
}

#[test]
fn the_breakdown_leaves_out_features_with_rows_only_outside_the_period() {
    let rows = [
        row("ocr", 1, 0, at(5, 2, 9)),
        row("chat", 9, 0, at(4, 30, 9)),
    ];
    let summary = summarize_usage(Period::Month, &rows, at(5, 15, 12));
    assert_eq!(summary.breakdown, vec![usage("ocr", 1, 1)]);
}

#[test]
fn a_call_with_zero_tokens_still_counts_as_a_call() {
    let rows = [row("ocr", 0, 0, at(5, 2, 9))];
    let summary = summarize_usage(Period::Month, &rows, at(5, 15, 12));
    assert_eq!(summary.calls, 1);
    assert_eq!(summary.breakdown, vec![usage("ocr", 0, 1)]);
}

#[test]
fn usage_totals_stop_at_the_largest_token_count() {
    let rows = [
        row("ocr", MAX_TOKENS, 0, at(5, 2, 9)),
        row("ocr", MAX_TOKENS, 0, at(5, 3, 9)),
    ];
    let summary = summarize_usage(Period::Month, &rows, at(5, 15, 12));
    assert_eq!(summary.used_tokens, MAX_TOKENS);
    assert_eq!(summary.breakdown, vec![usage("ocr", MAX_TOKENS, 2)]);
}

#[test]
fn a_breakdown_row_serializes_with_the_seeds_field_names() {
    assert_eq!(
        serde_json::to_value(usage("ocr", 5, 2)).unwrap(),
        serde_json::json!({"feature": "ocr", "tokens": 5, "calls": 2})
    );
}
