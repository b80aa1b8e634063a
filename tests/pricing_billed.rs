//! Prices as providers bill them: provider-documented examples priced by
//! the shipped table, each to the micro-dollar (input-size cliffs, 1-hour
//! cache writes, batch, flex and priority tiers), and the hold that bounds
//! every one of them.

use ai_budget::pricing::billing::{
    bound_as_billed, cost_as_billed, BilledPrice, Billing, ServiceTier,
};
use ai_budget::pricing::default_prices;
use ai_budget::{ErrorCode, TokenCounts};

/// A call's tokens: all input (cached reads and cache writes inside it),
/// cached reads, cache writes, output (reasoning inside it), reasoning.
fn tokens(input: u64, cached: u64, writes: u64, output: u64, reasoning: u64) -> TokenCounts {
    TokenCounts {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: writes,
        output_tokens: output,
        reasoning_tokens: reasoning,
    }
}

fn served(tier: ServiceTier) -> Billing {
    Billing {
        service_tier: tier,
        ..Billing::default()
    }
}

/// One documented example: the model, the call, how it was billed, and
/// its cost worked by hand from the provider's published prices.
struct Example {
    what: &'static str,
    model: &'static str,
    tokens: TokenCounts,
    billing: Billing,
    micros: u64,
}

fn examples() -> Vec<Example> {
    vec![
        Example {
            what: "Gemini 2.5 Pro at 200k prompt tokens: the small-prompt rates",
            model: "gemini-2.5-pro",
            tokens: tokens(200_000, 0, 0, 1_000, 0),
            // 200 000 x $1.25 + 1 000 x $10
            billing: Billing::default(),
            micros: 260_000,
        },
        Example {
            what: "Gemini 2.5 Pro one token past 200k: the whole request at the long-prompt rates",
            model: "gemini-2.5-pro",
            tokens: tokens(200_001, 0, 0, 1_000, 0),
            // 200 001 x $2.50 + 1 000 x $15 = 515 002.5, rounded up
            billing: Billing::default(),
            micros: 515_003,
        },
        Example {
            what: "Gemini 2.5 Pro long prompt with cached content and thoughts",
            model: "gemini-2.5-pro-2025-06-17",
            tokens: tokens(300_000, 100_000, 0, 4_000, 3_000),
            // 200 000 x $2.50 + 100 000 x $0.25 + 4 000 x $15 (thoughts inside the output, once)
            billing: Billing::default(),
            micros: 585_000,
        },
        Example {
            what: "Claude Sonnet 4.5 past 200k input tokens (1M context): every kind at the long-context rates",
            model: "claude-sonnet-4-5",
            tokens: tokens(250_000, 50_000, 0, 2_000, 0),
            // 200 000 x $6 + 50 000 x $0.60 + 2 000 x $22.50
            billing: Billing::default(),
            micros: 1_275_000,
        },
        Example {
            what: "Claude Sonnet 4.5 with 1-hour and 5-minute cache writes",
            model: "claude-sonnet-4-5-20250929",
            tokens: tokens(13_000, 0, 12_000, 500, 0),
            // 1 000 x $3 + 2 000 x $3.75 + 10 000 x $6 + 500 x $15
            billing: Billing {
                cache_write_1h_tokens: 10_000,
                ..Billing::default()
            },
            micros: 78_000,
        },
        Example {
            what: "Claude Haiku 4.5 in a batch with 1-hour cache writes: half of every rate",
            model: "claude-haiku-4-5",
            tokens: tokens(10_000, 4_000, 2_000, 1_000, 0),
            // 4 000 x $0.50 + 4 000 x $0.05 + 2 000 x $1 + 1 000 x $2.50
            billing: Billing {
                service_tier: ServiceTier::Batch,
                cache_write_1h_tokens: 2_000,
            },
            micros: 6_700,
        },
        Example {
            what: "GPT-4.1 in a batch: half price",
            model: "gpt-4.1",
            tokens: tokens(1_000_000, 0, 0, 100_000, 0),
            // 1 000 000 x $1 + 100 000 x $4
            billing: served(ServiceTier::Batch),
            micros: 1_400_000,
        },
        Example {
            what: "GPT-4.1 served at priority",
            model: "gpt-4.1-2025-04-14",
            tokens: tokens(10_000, 4_000, 0, 1_000, 0),
            // 6 000 x $3.50 + 4 000 x $0.875 + 1 000 x $14
            billing: served(ServiceTier::Priority),
            micros: 38_500,
        },
        Example {
            what: "GPT-5 served at flex, its reasoning inside the output",
            model: "gpt-5",
            tokens: tokens(20_000, 10_000, 0, 5_000, 4_000),
            // 10 000 x $0.625 + 10 000 x $0.0625 + 5 000 x $5
            billing: served(ServiceTier::Flex),
            micros: 31_875,
        },
        Example {
            what: "o3 at the standard tier: reasoning priced once, as output",
            model: "o3",
            tokens: tokens(2_000, 0, 0, 3_000, 2_500),
            // 2 000 x $2 + 3 000 x $8
            billing: Billing::default(),
            micros: 28_000,
        },
        Example {
            what: "a tier the entry does not price is billed at standard rates",
            model: "gpt-4.1",
            tokens: tokens(1_000, 0, 0, 100, 0),
            // 1 000 x $2 + 100 x $8 (gpt-4.1 has no flex price)
            billing: served(ServiceTier::Flex),
            micros: 2_800,
        },
    ]
}

#[test]
fn documented_examples_cost_what_the_providers_bill_to_the_micro_dollar() {
    let table = default_prices();
    for e in examples() {
        let price = table.billed_of(e.model).expect(e.model);
        assert_eq!(
            cost_as_billed(&e.tokens, &e.billing, &price),
            e.micros,
            "{}",
            e.what
        );
    }
}

#[test]
fn the_hold_bounds_every_documented_example_at_the_tier_asked_for_or_standard() {
    let table = default_prices();
    let tiers = [
        ServiceTier::Standard,
        ServiceTier::Batch,
        ServiceTier::Flex,
        ServiceTier::Priority,
    ];
    for e in examples() {
        let price = table.billed_of(e.model).unwrap();
        for asked in tiers {
            let bound =
                bound_as_billed(e.tokens.input_tokens, e.tokens.output_tokens, &price, asked);
            for served in [ServiceTier::Standard, asked] {
                let billing = Billing {
                    service_tier: served,
                    ..e.billing
                };
                assert!(
                    cost_as_billed(&e.tokens, &billing, &price) <= bound,
                    "{} asked {asked:?}, served {served:?}",
                    e.what
                );
            }
        }
    }
    // A hold for a standard call is not raised to the priority price.
    let gpt41 = table.billed_of("gpt-4.1").unwrap();
    assert_eq!(
        bound_as_billed(1_000, 1_000, &gpt41, ServiceTier::Standard),
        10_000
    );
    assert_eq!(
        bound_as_billed(1_000, 1_000, &gpt41, ServiceTier::Priority),
        17_500
    );
}

#[test]
fn the_tier_billed_is_the_one_the_answer_names() {
    assert_eq!(
        ServiceTier::from_answer(Some("priority")),
        ServiceTier::Priority
    );
    assert_eq!(ServiceTier::from_answer(Some("flex")), ServiceTier::Flex);
    assert_eq!(ServiceTier::from_answer(Some("batch")), ServiceTier::Batch);
    for standard in [Some("default"), Some("standard"), Some("auto"), None] {
        assert_eq!(ServiceTier::from_answer(standard), ServiceTier::Standard);
    }
}

#[test]
fn a_flat_price_is_billed_as_before_at_every_tier_and_size() {
    let table = default_prices();
    let flat = table.billed_of("gpt-4o-mini").unwrap();
    assert!(flat.is_flat());
    let t = tokens(1_000_000, 0, 0, 1_000_000, 0);
    let standard = cost_as_billed(&t, &Billing::default(), &flat);
    assert_eq!(standard, 750_000, "$0.15 + $0.60");
    assert_eq!(
        cost_as_billed(&t, &served(ServiceTier::Priority), &flat),
        standard
    );
}

#[test]
fn a_bad_entry_is_refused_with_its_field() {
    let bad = |v: serde_json::Value| BilledPrice::from_json(&v).unwrap_err();
    let base = |extra: serde_json::Value| {
        let mut v = serde_json::json!({"inputPerMTok": 1, "outputPerMTok": 2});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let e = bad(base(
        serde_json::json!({"serviceTiers": {"turbo": {"inputPerMTok": 1, "outputPerMTok": 1}}}),
    ));
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::UnknownField, Some("turbo"))
    );
    let e = bad(base(serde_json::json!({"tiers": [
        {"above": 200, "inputPerMTok": 2, "outputPerMTok": 3},
        {"above": 100, "inputPerMTok": 2, "outputPerMTok": 3}]})));
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::InvalidValue, Some("tiers"))
    );
    let e = bad(base(
        serde_json::json!({"tiers": [{"inputPerMTok": 2, "outputPerMTok": 3}]}),
    ));
    assert_eq!(e.field(), Some("above"));
    let e = bad(base(serde_json::json!({"cacheWrite1hPerMTok": -1})));
    assert_eq!(e.code(), ErrorCode::NegativeAmount);
    let e = bad(base(
        serde_json::json!({"tiers": [{"above": 5, "inputPerMTok": 2, "outputPerMTok": 3, "x": 1}]}),
    ));
    assert_eq!((e.code(), e.field()), (ErrorCode::UnknownField, Some("x")));
}

#[test]
fn a_flat_price_set_over_a_billed_entry_replaces_its_tiers() {
    let mut table = default_prices();
    assert!(!table.billed_of("gemini-2.5-pro").unwrap().is_flat());
    let flat = ai_budget::pricing::Price::per_mtok(1.0, None, None, 2.0).unwrap();
    table.set("gemini-2.5-pro", flat);
    assert_eq!(
        table.billed_of("gemini-2.5-pro").unwrap(),
        BilledPrice::flat(flat)
    );
}

/// An admin's entry with every field a shipped entry may have.
fn admin_entry() -> serde_json::Value {
    serde_json::json!({
        "inputPerMTok": 3, "cachedInputPerMTok": 0.3, "cacheWritePerMTok": 3.75,
        "cacheWrite1hPerMTok": 6, "outputPerMTok": 15,
        "tiers": [{ "above": 200000, "inputPerMTok": 6, "cachedInputPerMTok": 0.6,
            "cacheWritePerMTok": 7.5, "cacheWrite1hPerMTok": 12, "outputPerMTok": 22.5 }],
        "serviceTiers": { "batch": { "inputPerMTok": 1.5, "outputPerMTok": 7.5 } }
    })
}

#[test]
fn an_entry_as_shown_reads_back_as_the_same_entry() {
    // The API shows an entry by `json` and an admin sends it back to
    // `PUT /v1/prices/{model}`: the same entry, shipped or the admin's.
    let table = default_prices();
    for (model, _) in table.iter() {
        let billed = table.billed_of(model).unwrap();
        assert_eq!(
            BilledPrice::from_json(&billed.json()).unwrap(),
            billed,
            "{model}"
        );
    }
    let admin = BilledPrice::from_json(&admin_entry()).unwrap();
    let shown = admin.json();
    assert_eq!(shown["tiers"][0]["above"], 200_000);
    assert_eq!(shown["tiers"][0]["cacheWrite1hPerMTok"], 12.0);
    assert_eq!(shown["serviceTiers"]["batch"]["outputPerMTok"], 7.5);
    assert_eq!(BilledPrice::from_json(&shown).unwrap(), admin);
    // A flat entry shows no tiers.
    let flat = BilledPrice::from_json(&serde_json::json!({"inputPerMTok": 1, "outputPerMTok": 2}))
        .unwrap()
        .json();
    assert!(flat.get("tiers").is_none() && flat.get("serviceTiers").is_none());
}

#[test]
fn an_admin_entry_prices_by_its_tiers_service_tier_and_cache_write_kinds() {
    let price = BilledPrice::from_json(&admin_entry()).unwrap();
    // 200 001 input (10 000 cached reads, 20 000 cache writes of which
    // 5 000 for an hour), 1 000 output: the whole request at the tier's
    // rates: 170 001 x $6 + 10 000 x $0.6 + 15 000 x $7.5 + 5 000 x $12
    // + 1 000 x $22.5 = 1 020 006 + 6 000 + 112 500 + 60 000 + 22 500.
    let t = tokens(200_001, 10_000, 20_000, 1_000, 0);
    let billing = Billing {
        cache_write_1h_tokens: 5_000,
        ..Billing::default()
    };
    assert_eq!(cost_as_billed(&t, &billing, &price), 1_221_006);
    // At the threshold: the base rates (170 000 x $3 + 10 000 x $0.3
    // + 20 000 x $3.75 + 1 000 x $15; no 1-hour writes).
    let t = tokens(200_000, 10_000, 20_000, 1_000, 0);
    assert_eq!(cost_as_billed(&t, &Billing::default(), &price), 603_000);
    // Served in batch: the batch rates (cached reads and writes at its
    // input price), 1 000 x $1.5 + 100 x $7.5.
    let t = tokens(1_000, 0, 0, 100, 0);
    assert_eq!(
        cost_as_billed(&t, &served(ServiceTier::Batch), &price),
        2_250
    );
    // The hold for 300 000 input at standard: the tier's highest input
    // price ($12, 1-hour writes) and output: 3 600 000 + 1 000 x 22.5.
    assert_eq!(
        bound_as_billed(300_000, 1_000, &price, ServiceTier::Standard),
        3_622_500
    );
}

#[test]
fn an_admin_entry_is_refused_with_the_field_at_fault() {
    let with = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut v = admin_entry();
        change(&mut v);
        BilledPrice::from_json(&v).unwrap_err()
    };
    // A fractional token count where a whole one is required.
    let e = with(&|v| v["tiers"][0]["above"] = serde_json::json!(200000.5));
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::InvalidType, Some("above"))
    );
    // A negative price inside a tier and inside a service tier.
    let e = with(&|v| v["tiers"][0]["outputPerMTok"] = serde_json::json!(-1));
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::NegativeAmount, Some("outputPerMTok"))
    );
    let e = with(&|v| v["serviceTiers"]["batch"]["inputPerMTok"] = serde_json::json!(-0.5));
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::NegativeAmount, Some("inputPerMTok"))
    );
    // An unknown field at the top and an unknown service tier.
    let e = with(&|v| v["effectiveUntil"] = serde_json::json!("2026-01-01"));
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::UnknownField, Some("effectiveUntil"))
    );
    let e = with(&|v| {
        v["serviceTiers"]["scale"] = serde_json::json!({"inputPerMTok": 1, "outputPerMTok": 1})
    });
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::UnknownField, Some("scale"))
    );
    // Two tiers at the same count.
    let e = with(&|v| {
        v["tiers"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"above": 200000, "inputPerMTok": 1, "outputPerMTok": 1}));
    });
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::InvalidValue, Some("tiers"))
    );
}
