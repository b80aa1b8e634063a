//! Money: amounts in micro-dollars, prices per model and what calls cost,
//! by hand and as properties (cost is monotone in every kind of token, the
//! bound of a hold is never below the cost of a call within it, sums of
//! micro-dollars are exact).
#![cfg(not(target_arch = "wasm32"))]

use ai_budget::pricing::*;
use ai_budget::ErrorCode;
use ai_budget::TokenCounts;
use proptest::prelude::*;

fn tokens(input: u64, cached: u64, write: u64, output: u64) -> TokenCounts {
    TokenCounts {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: write,
        output_tokens: output,
        reasoning_tokens: 0,
    }
}

#[test]
fn dollars_become_whole_micro_dollars_and_back_exactly() {
    for (dollars, micros, text) in [
        (0.0, 0, "0"),
        (0.000001, 1, "0.000001"),
        (0.1, 100_000, "0.1"),
        (12.5, 12_500_000, "12.5"),
        (0.29, 290_000, "0.29"),
        (4.000001, 4_000_001, "4.000001"),
        (999_999_999.999_999, MAX_MICROS - 1, "999999999.999999"),
        (1e9, MAX_MICROS, "1000000000"),
    ] {
        assert_eq!(usd_micros(dollars, "x"), Ok(micros), "{dollars}");
        assert_eq!(usd_string(micros), text);
        assert_eq!(usd_number(micros), dollars);
    }
}

#[test]
fn bad_amounts_are_refused_with_a_code_and_the_field() {
    for (value, code) in [
        (-0.01, ErrorCode::NegativeAmount),
        (0.0000001, ErrorCode::TooManyDecimals),
        (1.2345678, ErrorCode::TooManyDecimals),
        // However tiny the part below a micro-dollar: refused, not rounded.
        (5e-324, ErrorCode::TooManyDecimals),
        (1e-12, ErrorCode::TooManyDecimals),
        (4.0000000001, ErrorCode::TooManyDecimals),
        (999_999_999.999_999_9, ErrorCode::TooManyDecimals),
        (1e9 + 1.0, ErrorCode::AmountTooLarge),
        (f64::NAN, ErrorCode::InvalidNumber),
        (f64::INFINITY, ErrorCode::InvalidNumber),
    ] {
        let err = usd_micros(value, "hardCapUsd").unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            (code, Some("hardCapUsd")),
            "{value}"
        );
    }
}

#[test]
fn an_openai_call_with_cached_input_costs_what_the_price_table_says_by_hand() {
    let table = default_prices();
    let price = table
        .price_of("gpt-4.1-2025-04-14")
        .expect("a dated id uses its base model's price");
    // 10 000 prompt tokens of which 6 000 cached, 500 output, at $2 / $0.50 / $8:
    // 4 000 x 2 + 6 000 x 0.5 + 500 x 8 = 15 000 dollars per million tokens.
    assert_eq!(cost(&tokens(10_000, 6_000, 0, 500), price), 15_000);
}

#[test]
fn an_anthropic_call_with_cache_reads_and_writes_costs_what_the_price_table_says_by_hand() {
    let table = default_prices();
    let price = table.price_of("claude-sonnet-4-5-20250929").unwrap();
    // input 1 000 uncached + 2 000 read + 3 000 written, 400 output, at
    // $3 / $0.30 / $3.75 / $15: 3 000 + 600 + 11 250 + 6 000 = 20 850 per million.
    let t = tokens(1_000 + 2_000 + 3_000, 2_000, 3_000, 400);
    assert_eq!(cost(&t, price), 20_850);
}

#[test]
fn a_gemini_call_bills_its_thoughts_once_at_the_output_price() {
    let usage = ai_budget::llm::usage::read_usage(
        ai_budget::llm::usage::UsageFormat::Gemini,
        &serde_json::json!({"promptTokenCount": 10_000, "cachedContentTokenCount": 8_000,
            "candidatesTokenCount": 500, "thoughtsTokenCount": 1_500}),
    )
    .unwrap();
    let table = default_prices();
    let price = table.price_of("gemini-2.5-flash").unwrap();
    // 2 000 uncached x $0.30 + 8 000 cached x $0.03 + (500 + 1 500) x $2.50
    // = 600 + 240 + 5 000 micro-dollars.
    assert_eq!(cost(&usage, price), 5_840);
}

#[test]
fn a_fraction_of_a_micro_dollar_is_rounded_up_never_down() {
    let price = Price::per_mtok(0.1, None, None, 0.4).unwrap();
    // One input token at $0.10 per million is a tenth of a micro-dollar.
    assert_eq!(cost(&tokens(1, 0, 0, 0), &price), 1);
    assert_eq!(cost(&tokens(0, 0, 0, 0), &price), 0);
}

#[test]
fn a_model_with_no_price_has_none_and_only_dated_ids_fall_back() {
    let table = default_prices();
    assert!(table.price_of("gpt-unknown").is_none());
    assert!(
        table.price_of("gpt-4.1-turbo").is_none(),
        "a suffix that is not a date is another model"
    );
    assert_eq!(base_model("gpt-4.1-2025-04-14"), Some("gpt-4.1"));
    assert_eq!(
        base_model("claude-haiku-4-5-20251001"),
        Some("claude-haiku-4-5")
    );
    assert_eq!(base_model("gpt-4.1"), None);
}

#[test]
fn the_shipped_table_prices_every_model_it_lists() {
    let data: serde_json::Value =
        serde_json::from_str(include_str!("../src/pricing/prices.json")).unwrap();
    assert!(
        data["asOf"].as_str().is_some() && data["sources"]["openai"].as_str().is_some(),
        "the date and the source of the figures"
    );
    let listed = data["models"].as_object().unwrap().len();
    assert_eq!(
        default_prices().iter().count(),
        listed,
        "every listed model parsed"
    );
}

proptest! {
    #[test]
    fn cost_is_monotone_in_every_kind_of_token(u in 0u64..1_000_000, c in 0u64..1_000_000, w in 0u64..1_000_000, o in 0u64..1_000_000, more in 1u64..10_000, kind in 0usize..4) {
        let price = Price::per_mtok(3.0, Some(0.3), Some(3.75), 15.0).unwrap();
        let at = |u: u64, c: u64, w: u64, o: u64| cost(&tokens(u + c + w, c, w, o), &price);
        let base = at(u, c, w, o);
        let grown = match kind {
            0 => at(u + more, c, w, o),
            1 => at(u, c + more, w, o),
            2 => at(u, c, w + more, o),
            _ => at(u, c, w, o + more),
        };
        prop_assert!(grown >= base);
    }

    #[test]
    fn a_hold_in_money_is_never_below_the_cost_of_a_call_within_it(input in 0u64..10_000_000, output in 0u64..1_000_000, cached_share in 0u64..=100, write_share in 0u64..=100, used_in in 0u64..=100, used_out in 0u64..=100) {
        let price = Price::per_mtok(5.0, Some(0.5), Some(6.25), 25.0).unwrap();
        let held = bound(input, output, &price);
        let real_in = input * used_in / 100;
        let cached = real_in * cached_share / 100;
        let write = (real_in - cached) * write_share / 100;
        let real_out = output * used_out / 100;
        prop_assert!(cost(&tokens(real_in, cached, write, real_out), &price) <= held);
    }

    #[test]
    fn micro_dollar_sums_are_exact(amounts in prop::collection::vec(0u64..1_000_000_000, 1..200)) {
        // Summing whole micro-dollars is integer addition: the decimal text
        // of the sum is exactly the sum of the decimals.
        let total: u64 = amounts.iter().sum();
        let parsed: u64 = amounts.iter().map(|m| usd_micros(usd_number(*m), "x").unwrap()).sum();
        prop_assert_eq!(parsed, total);
    }

    /// One rule for every amount: accepted exactly when the number's own
    /// shortest decimal form (as JSON and JavaScript print it) has at most
    /// 6 decimals, and then read as those digits, however small the excess.
    #[test]
    fn an_amount_is_accepted_exactly_when_its_decimal_form_has_six_places_at_most(
        micros in 0u64..=MAX_MICROS,
        nudge in prop_oneof![Just(0i64), -3i64..=3],
        scale in prop_oneof![Just(1.0f64), Just(10.0), Just(0.1), Just(1e-7)],
    ) {
        let exact = usd_number(micros);
        let value = if nudge == 0 {
            exact * scale
        } else {
            f64::from_bits((exact.to_bits() as i64 + nudge).max(0) as u64)
        };
        prop_assume!(value <= 1e9);
        let text = format!("{value}");
        let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
        match usd_micros(value, "x") {
            Ok(m) => {
                prop_assert!(decimals <= 6, "{} accepted", text);
                prop_assert_eq!(usd_number(m), value);
            }
            Err(e) => {
                prop_assert!(decimals > 6, "{} refused", text);
                prop_assert_eq!(e.code(), ErrorCode::TooManyDecimals);
            }
        }
    }
}

#[test]
fn a_table_of_a_model_and_its_base_prices_them_as_the_whole_table_does() {
    let shipped = shipped_prices();
    assert_eq!(*shipped, default_prices(), "one table, read once");
    let models: Vec<&str> = shipped.iter().map(|(m, _)| m).collect();
    assert!(models.len() > 10);
    // Every shipped model, a dated id of each (priced as its base), and one
    // the table does not know.
    let dated: Vec<String> = models.iter().map(|m| format!("{m}-2031-01-02")).collect();
    let asked = models
        .iter()
        .copied()
        .chain(dated.iter().map(String::as_str))
        .chain(["no-such-model"]);
    for model in asked {
        let mut wanted = vec![model];
        wanted.extend(base_model(model));
        let small = shipped.only(&wanted);
        assert_eq!(small.priced_as(model), shipped.priced_as(model), "{model}");
        assert_eq!(small.billed_of(model), shipped.billed_of(model), "{model}");
        assert_eq!(small.price_of(model), shipped.price_of(model), "{model}");
        assert_eq!(small.has_own(model), shipped.has_own(model), "{model}");
        assert!(small.iter().count() <= 2, "{model}: only what prices it");
    }
}
