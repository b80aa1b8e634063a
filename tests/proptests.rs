//! Properties of the core that must hold for every input, not only the
//! examples in the other test files.
#![cfg(not(target_arch = "wasm32"))]

use ai_budget::{
    cap_status, decide, evaluate, summarize_usage, tokens_from_f64, Budget, CapState, Decision,
    DecisionCode, Period, RawBudget, RefusalReason, UsageRow, MAX_TOKENS,
};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use proptest::prelude::*;

/// Milliseconds since 1970 of the first instant of year 1 and the last of
/// year 9999.
fn instant_range() -> std::ops::RangeInclusive<i64> {
    let first = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
    let last = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap();
    first.timestamp_millis()..=last.timestamp_millis() + 999
}

/// Any millisecond from year 1 to year 9999, with boundaries made likely:
/// midnights, and the millisecond either side of one.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let any = instant_range().prop_map(|ms| Utc.timestamp_millis_opt(ms).unwrap());
    let near_midnight = (instant_range(), -1i64..=1).prop_map(|(ms, offset)| {
        let day = Utc.timestamp_millis_opt(ms).unwrap().date_naive();
        day.and_time(NaiveTime::MIN).and_utc() + Duration::milliseconds(offset)
    });
    prop_oneof![any, near_midnight]
        .prop_filter("inside years 1..=9999", |t| (1..=9999).contains(&t.year()))
}

fn period() -> impl Strategy<Value = Period> {
    prop::sample::select(Period::ALL.to_vec())
}

/// Token counts: small ones (where the caps of tests live), and the whole
/// range up to 2^53 - 1.
fn tokens() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..=2_000, 0..=MAX_TOKENS]
}

/// Any budget the rules can hold, including a stored soft cap above the hard
/// cap (which `normalize` keeps, as the seed did).
fn budget() -> impl Strategy<Value = Budget> {
    (any::<bool>(), tokens(), tokens(), period()).prop_map(|(enabled, soft, hard, period)| Budget {
        enabled,
        soft_cap_tokens: soft,
        hard_cap_tokens: hard,
        period,
        ..Budget::default()
    })
}

/// A budget `merge` can produce: soft cap at most the hard cap.
fn valid_budget() -> impl Strategy<Value = Budget> {
    budget().prop_map(|mut budget| {
        if budget.soft_cap_tokens > budget.hard_cap_tokens {
            std::mem::swap(&mut budget.soft_cap_tokens, &mut budget.hard_cap_tokens);
        }
        budget
    })
}

/// An enabled budget with usage below its hard cap and an estimate that
/// fits in what remains.
fn fitting_call() -> impl Strategy<Value = (Budget, u64, u64)> {
    (budget(), 1..=MAX_TOKENS)
        .prop_flat_map(|(budget, hard)| (Just(budget), Just(hard), 0..hard))
        .prop_flat_map(|(budget, hard, used)| {
            (Just(budget), Just(hard), Just(used), 0..=hard - used)
        })
        .prop_map(|(budget, hard, used, estimate)| {
            let budget = Budget {
                enabled: true,
                hard_cap_tokens: hard,
                ..budget
            };
            (budget, used, estimate)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    // ---- the gate ---------------------------------------------------------

    /// "Below the cap" is `used < hard`: at `used == hard` the seed refuses
    /// even an estimate of 0 (`remaining <= 0`).
    #[test]
    fn a_call_that_fits_under_the_hard_cap_is_never_refused((budget, used, estimate) in fitting_call()) {
        prop_assert!(decide(&budget, used, estimate).is_allowed());
    }

    #[test]
    fn an_accepted_estimate_never_crosses_the_hard_cap(
        budget in budget(), used in tokens(), estimate in tokens(),
    ) {
        let budget = Budget { enabled: true, ..budget };
        if decide(&budget, used, estimate).is_allowed() {
            prop_assert!(used + estimate <= budget.hard_cap_tokens);
        }
    }

    #[test]
    fn usage_at_or_above_the_hard_cap_refuses_every_call(
        budget in budget(), over in tokens(), estimate in tokens(),
    ) {
        let budget = Budget { enabled: true, ..budget };
        let used = budget.hard_cap_tokens + over;
        prop_assert_eq!(decide(&budget, used, estimate), DecisionCode::HardCapExceeded);
    }

    #[test]
    fn a_disabled_budget_allows_every_call(
        budget in budget(), used in tokens(), estimate in tokens(),
    ) {
        let budget = Budget { enabled: false, ..budget };
        prop_assert_eq!(decide(&budget, used, estimate), DecisionCode::Allowed);
    }

    #[test]
    fn evaluate_agrees_with_decide(
        budget in budget(), used in tokens(), estimate in tokens(), now in instant(),
    ) {
        let code = decide(&budget, used, estimate);
        let decision = evaluate(&budget, used, estimate, now);
        prop_assert_eq!(decision.is_allowed(), code.is_allowed());
        prop_assert_eq!(decision.used(), used);
        prop_assert_eq!(decision.window(), budget.period.window(now));
        match decision {
            Decision::Allowed { remaining, soft_cap, .. } => {
                prop_assert_eq!(soft_cap, code == DecisionCode::AllowedOverSoftCap);
                let expected = budget.enabled.then(|| budget.hard_cap_tokens - used);
                prop_assert_eq!(remaining, expected);
            }
            Decision::Refused { reason, cap, .. } => {
                let expected = match code {
                    DecisionCode::HardCapExceeded => RefusalReason::HardCapExceeded,
                    _ => RefusalReason::EstimatedExceedsCap,
                };
                prop_assert_eq!(reason, expected);
                prop_assert_eq!(cap, budget.hard_cap_tokens);
            }
        }
    }

    #[test]
    fn the_cap_status_band_agrees_with_the_gate(
        budget in budget(), used in tokens(), now in instant(),
    ) {
        let status = cap_status(&budget, used, now);
        let expected = if !budget.enabled {
            CapState::Disabled
        } else {
            match decide(&budget, used, 0) {
                DecisionCode::HardCapExceeded => CapState::Hard,
                DecisionCode::AllowedOverSoftCap => CapState::Soft,
                DecisionCode::Allowed => CapState::Ok,
                DecisionCode::EstimatedExceedsCap => {
                    return Err(TestCaseError::fail("an estimate of 0 always fits"));
                }
            }
        };
        prop_assert_eq!(status.state, expected);
        prop_assert_eq!(status.window, budget.period.window(now));
        if budget.enabled {
            prop_assert_eq!(status.remaining, Some(budget.hard_cap_tokens.saturating_sub(used)));
        }
    }

    // ---- periods ----------------------------------------------------------

    #[test]
    fn every_instant_lies_in_its_window(period in period(), t in instant()) {
        let window = period.window(t);
        prop_assert!(window.start <= t, "{period}: start {} > {t}", window.start);
        prop_assert!(t < window.end, "{period}: end {} <= {t}", window.end);
        prop_assert!(window.contains(t));
    }

    #[test]
    fn a_window_starts_at_midnight_on_its_periods_first_day(period in period(), t in instant()) {
        let start = period.start(t);
        prop_assert_eq!(start.time(), NaiveTime::MIN);
        match period {
            Period::Day => prop_assert_eq!(start.date_naive(), t.date_naive()),
            Period::Week => prop_assert_eq!(start.weekday(), Weekday::Mon),
            Period::Month => prop_assert_eq!(start.day(), 1),
        }
    }

    #[test]
    fn a_window_is_as_long_as_its_period(period in period(), t in instant()) {
        let window = period.window(t);
        let days = (window.end - window.start).num_days();
        let expected = match period {
            Period::Day => 1..=1,
            Period::Week => 7..=7,
            Period::Month => 28..=31,
        };
        prop_assert!(expected.contains(&days), "{period}: {days} days");
        prop_assert_eq!(window.end - window.start, Duration::days(days));
        prop_assert_eq!(window.days().count() as i64, days);
    }

    #[test]
    fn each_window_ends_where_the_next_begins(period in period(), t in instant()) {
        let window = period.window(t);
        prop_assume!(window.end.year() <= 9999);
        prop_assert_eq!(period.start(window.end), window.end);
    }

    #[test]
    fn the_instant_before_a_window_belongs_to_the_previous_one(period in period(), t in instant()) {
        let window = period.window(t);
        let before = window.start - Duration::milliseconds(1);
        prop_assume!(before.year() >= 1);
        let previous = period.window(before);
        prop_assert_eq!(previous.end, window.start);
        prop_assert!(previous.contains(before));
        prop_assert!(!window.contains(before));
    }

    #[test]
    fn every_instant_of_a_window_has_the_same_window(period in period(), t in instant(), f in 0.0f64..1.0) {
        let window = period.window(t);
        let length = (window.end - window.start).num_milliseconds();
        let inside = window.start + Duration::milliseconds((length as f64 * f) as i64);
        prop_assert_eq!(period.window(inside), window);
    }

    #[test]
    fn seconds_until_reset_never_lets_a_client_back_early(period in period(), t in instant()) {
        let window = period.window(t);
        let wait = window.seconds_until_reset(t);
        prop_assert!(wait >= 1);
        prop_assert!(t + Duration::seconds(wait as i64) >= window.end);
        prop_assert!(t + Duration::seconds(wait as i64 - 1) < window.end);
    }

    // ---- budget settings --------------------------------------------------

    #[test]
    fn merging_a_valid_budgets_own_raw_form_gives_that_budget(
        current in budget(), next in valid_budget(),
    ) {
        prop_assert_eq!(current.merge(&RawBudget::from_budget(&next)), Ok(next));
    }

    #[test]
    fn merging_an_empty_update_changes_nothing(current in valid_budget()) {
        prop_assert_eq!(current.merge(&RawBudget::default()), Ok(current));
    }

    #[test]
    fn normalizing_a_budgets_raw_form_gives_that_budget(budget in budget()) {
        prop_assert_eq!(Budget::normalize(&RawBudget::from_budget(&budget)), budget);
    }

    #[test]
    fn a_budget_survives_a_trip_through_stored_json(budget in budget()) {
        let json = serde_json::to_string(&budget).unwrap();
        let raw: RawBudget = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(Budget::normalize(&raw), budget);
    }

    #[test]
    fn a_merge_result_never_has_its_soft_cap_above_its_hard_cap(
        current in valid_budget(), soft in prop::option::of(tokens()), hard in prop::option::of(tokens()),
    ) {
        let update = RawBudget {
            soft_cap_tokens: soft.map(Into::into),
            hard_cap_tokens: hard.map(Into::into),
            ..RawBudget::default()
        };
        match current.merge(&update) {
            Ok(next) => {
                prop_assert!(next.soft_cap_tokens <= next.hard_cap_tokens);
                prop_assert_eq!(next.soft_cap_tokens, soft.unwrap_or(current.soft_cap_tokens));
                prop_assert_eq!(next.hard_cap_tokens, hard.unwrap_or(current.hard_cap_tokens));
            }
            Err(err) => {
                prop_assert_eq!(err.message(), "softCapTokens cannot exceed hardCapTokens");
                prop_assert!(
                    soft.unwrap_or(current.soft_cap_tokens) > hard.unwrap_or(current.hard_cap_tokens)
                );
            }
        }
    }

    // ---- token counts -------------------------------------------------------

    #[test]
    fn every_whole_count_up_to_the_maximum_reads_back_unchanged(n in 0..=MAX_TOKENS) {
        prop_assert_eq!(tokens_from_f64(n as f64, "estimatedTokens"), Ok(n));
    }

    #[test]
    fn a_number_with_a_fraction_is_never_a_token_count(n in 0u64..(1 << 40), f in 0.001f64..0.999) {
        // Below 2^40 an f64 still resolves thousandths, so `n + f` keeps its fraction.
        prop_assert!(tokens_from_f64(n as f64 + f, "estimatedTokens").is_err());
    }

    // ---- usage ----------------------------------------------------------------

    #[test]
    fn a_summary_counts_exactly_the_rows_in_its_window(
        period in period(),
        now in instant(),
        offsets in prop::collection::vec((0usize..4, -40i64 * 86_400_000..40 * 86_400_000, 0u64..5_000, 0u64..5_000), 0..40),
    ) {
        let features = ["ocr", "chat", "search", "translate"];
        let rows: Vec<UsageRow> = offsets
            .iter()
            .map(|&(feature, offset, input, output)| UsageRow {
                feature: features[feature].into(),
                input_tokens: input,
                output_tokens: output,
                created_at: now + Duration::milliseconds(offset),
            })
            .collect();
        let summary = summarize_usage(period, &rows, now);
        let window = period.window(now);
        let inside: Vec<&UsageRow> = rows.iter().filter(|row| window.contains(row.created_at)).collect();
        prop_assert_eq!(summary.used_tokens, inside.iter().map(|row| row.input_tokens + row.output_tokens).sum::<u64>());
        prop_assert_eq!(summary.calls, inside.len() as u64);
        prop_assert_eq!(summary.breakdown.iter().map(|usage| usage.tokens).sum::<u64>(), summary.used_tokens);
        prop_assert_eq!(summary.breakdown.iter().map(|usage| usage.calls).sum::<u64>(), summary.calls);
        let ordered = summary.breakdown.windows(2).all(|pair| {
            (std::cmp::Reverse(pair[0].tokens), &pair[0].feature)
                < (std::cmp::Reverse(pair[1].tokens), &pair[1].feature)
        });
        prop_assert!(ordered, "most tokens first, then by name: {:?}", summary.breakdown);
        for feature in features {
            let expected: u64 = inside
                .iter()
                .filter(|row| row.feature == feature)
                .map(|row| row.input_tokens + row.output_tokens)
                .sum();
            prop_assert_eq!(summary.feature_tokens(feature), expected);
        }
    }
}

#[test]
fn the_instant_strategy_reaches_the_ends_of_its_range() {
    // Guards the helper: the range really spans years 1 to 9999.
    let range = instant_range();
    let first = Utc.timestamp_millis_opt(*range.start()).unwrap();
    let last = Utc.timestamp_millis_opt(*range.end()).unwrap();
    assert_eq!((first.year(), first.hour()), (1, 0));
    assert_eq!((last.year(), last.month(), last.day()), (9999, 12, 31));
}
