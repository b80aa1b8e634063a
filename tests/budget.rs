//! Budget settings: tolerant reading (`normalize`, the seed's `readBudget`)
//! and strict updating (`merge`, the seed's `setAiBudget`).

use ai_budget::{
    Budget, ErrorCode, FieldValue, Period, RawBudget, DEFAULT_HARD_CAP_TOKENS,
    DEFAULT_SOFT_CAP_TOKENS, MAX_TOKENS,
};

/// Parses untrusted JSON the way stored values and updates arrive.
fn raw(json: &str) -> RawBudget {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn normalize(json: &str) -> Budget {
    Budget::normalize(&raw(json))
}

/// An enabled weekly budget, unlike the defaults in every field.
fn current() -> Budget {
    Budget {
        enabled: true,
        soft_cap_tokens: 2_000,
        hard_cap_tokens: 3_000,
        period: Period::Week,
        ..Budget::default()
    }
}

fn merge(json: &str) -> Result<Budget, ai_budget::Error> {
    current().merge(&raw(json))
}

fn merge_error(json: &str) -> (ErrorCode, Option<String>, String) {
    let err = merge(json).expect_err(json);
    (
        err.code(),
        err.field().map(str::to_owned),
        err.message().to_owned(),
    )
}

// ---- defaults -------------------------------------------------------------

#[test]
fn the_default_budget_is_disabled_monthly_with_the_seeds_caps() {
    assert_eq!(
        Budget::default(),
        Budget {
            enabled: false,
            soft_cap_tokens: 100_000,
            hard_cap_tokens: 500_000,
            period: Period::Month,
            ..Budget::default()
        }
    );
    assert_eq!(DEFAULT_SOFT_CAP_TOKENS, 100_000);
    assert_eq!(DEFAULT_HARD_CAP_TOKENS, 500_000);
}

#[test]
fn a_budget_serializes_with_the_seeds_field_names() {
    let json = serde_json::to_value(current()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "enabled": true,
            "softCapTokens": 2000,
            "hardCapTokens": 3000,
            "period": "week",
        })
    );
}

// ---- normalize ------------------------------------------------------------

#[test]
fn normalize_keeps_every_valid_field() {
    let budget = normalize(
        r#"{"enabled": true, "softCapTokens": 10, "hardCapTokens": 20, "period": "day"}"#,
    );
    assert_eq!(
        budget,
        Budget {
            enabled: true,
            soft_cap_tokens: 10,
            hard_cap_tokens: 20,
            period: Period::Day,
            ..Budget::default()
        }
    );
}

#[test]
fn normalize_gives_the_defaults_for_an_empty_object() {
    assert_eq!(normalize("{}"), Budget::default());
}

#[test]
fn normalize_gives_the_defaults_for_a_value_that_is_not_an_object() {
    for json in ["null", "true", "42", "\"month\"", "[1, 2]", "[]"] {
        let value = raw(json);
        assert!(value.not_an_object, "{json}");
        assert_eq!(Budget::normalize(&value), Budget::default(), "{json}");
    }
}

#[test]
fn normalize_enables_only_for_the_boolean_true() {
    assert!(normalize(r#"{"enabled": true}"#).enabled);
    for value in ["false", "\"true\"", "1", "null", "{}", "[true]"] {
        let json = format!(r#"{{"enabled": {value}}}"#);
        assert!(!normalize(&json).enabled, "{json}");
    }
}

#[test]
fn normalize_replaces_a_wrongly_typed_cap_with_its_default() {
    for value in ["\"9000\"", "true", "null", "{}", "[9000]"] {
        let json = format!(r#"{{"softCapTokens": {value}, "hardCapTokens": {value}}}"#);
        let budget = normalize(&json);
        assert_eq!(budget.soft_cap_tokens, DEFAULT_SOFT_CAP_TOKENS, "{json}");
        assert_eq!(budget.hard_cap_tokens, DEFAULT_HARD_CAP_TOKENS, "{json}");
    }
}

#[test]
fn normalize_replaces_a_negative_cap_with_its_default() {
    let budget = normalize(r#"{"softCapTokens": -1, "hardCapTokens": -500000}"#);
    assert_eq!(budget.soft_cap_tokens, DEFAULT_SOFT_CAP_TOKENS);
    assert_eq!(budget.hard_cap_tokens, DEFAULT_HARD_CAP_TOKENS);
}

#[test]
fn normalize_replaces_a_fractional_cap_with_its_default() {
    let budget = normalize(r#"{"softCapTokens": 10.5, "hardCapTokens": 0.001}"#);
    assert_eq!(budget.soft_cap_tokens, DEFAULT_SOFT_CAP_TOKENS);
    assert_eq!(budget.hard_cap_tokens, DEFAULT_HARD_CAP_TOKENS);
}

#[test]
fn normalize_replaces_a_non_finite_cap_with_its_default() {
    // JSON cannot carry these, but a JS object handed to the package can.
    for n in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let value = RawBudget {
            soft_cap_tokens: Some(n.into()),
            hard_cap_tokens: Some(n.into()),
            ..RawBudget::default()
        };
        let budget = Budget::normalize(&value);
        assert_eq!(budget.soft_cap_tokens, DEFAULT_SOFT_CAP_TOKENS, "{n}");
        assert_eq!(budget.hard_cap_tokens, DEFAULT_HARD_CAP_TOKENS, "{n}");
    }
}

#[test]
fn normalize_replaces_a_cap_above_2_pow_53_minus_1_with_its_default() {
    let budget = normalize(r#"{"hardCapTokens": 9007199254740992}"#);
    assert_eq!(budget.hard_cap_tokens, DEFAULT_HARD_CAP_TOKENS);
    let budget = normalize(r#"{"hardCapTokens": 1e300}"#);
    assert_eq!(budget.hard_cap_tokens, DEFAULT_HARD_CAP_TOKENS);
}

#[test]
fn normalize_accepts_caps_from_zero_to_2_pow_53_minus_1() {
    let budget = normalize(r#"{"softCapTokens": 0, "hardCapTokens": 9007199254740991}"#);
    assert_eq!(budget.soft_cap_tokens, 0);
    assert_eq!(budget.hard_cap_tokens, MAX_TOKENS);
}

#[test]
fn normalize_accepts_a_whole_cap_written_as_a_float() {
    assert_eq!(
        normalize(r#"{"hardCapTokens": 9000.0}"#).hard_cap_tokens,
        9_000
    );
    assert_eq!(
        normalize(r#"{"hardCapTokens": 9e3}"#).hard_cap_tokens,
        9_000
    );
}

#[test]
fn normalize_replaces_an_unknown_period_with_month() {
    for value in ["\"fortnight\"", "\"Day\"", "\"\"", "7", "null", "true"] {
        let json = format!(r#"{{"period": {value}}}"#);
        assert_eq!(normalize(&json).period, Period::Month, "{json}");
    }
}

#[test]
fn normalize_reads_each_known_period() {
    for period in Period::ALL {
        let json = format!(r#"{{"period": "{period}"}}"#);
        assert_eq!(normalize(&json).period, period);
    }
}

#[test]
fn normalize_ignores_unknown_fields() {
    let budget = normalize(
        r#"{"enabled": true, "hardCapTokens": 7, "softCapTokens": 3, "updatedBy": "ops", "updatedAt": 1}"#,
    );
    assert_eq!(
        budget,
        Budget {
            enabled: true,
            soft_cap_tokens: 3,
            hard_cap_tokens: 7,
            period: Period::Month,
            ..Budget::default()
        }
    );
}

#[test]
fn normalize_keeps_a_stored_soft_cap_above_the_hard_cap_as_the_seed_did() {
    let budget = normalize(r#"{"softCapTokens": 900, "hardCapTokens": 100}"#);
    assert_eq!((budget.soft_cap_tokens, budget.hard_cap_tokens), (900, 100));
}

#[test]
fn normalize_judges_each_field_on_its_own() {
    let budget = normalize(
        r#"{"enabled": "yes", "softCapTokens": 5, "hardCapTokens": -5, "period": "day"}"#,
    );
    assert_eq!(
        budget,
        Budget {
            enabled: false,
            soft_cap_tokens: 5,
            hard_cap_tokens: DEFAULT_HARD_CAP_TOKENS,
            period: Period::Day,
            ..Budget::default()
        }
    );
}

// ---- merge: what is kept and what is replaced ------------------------------

#[test]
fn merge_of_an_empty_update_keeps_everything() {
    assert_eq!(merge("{}"), Ok(current()));
}

#[test]
fn merge_keeps_each_field_that_is_null() {
    assert_eq!(
        merge(r#"{"enabled": null, "softCapTokens": null, "hardCapTokens": null, "period": null}"#),
        Ok(current())
    );
}

#[test]
fn merge_replaces_each_field_that_is_given() {
    assert_eq!(
        merge(r#"{"enabled": false, "softCapTokens": 10, "hardCapTokens": 20, "period": "month"}"#),
        Ok(Budget {
            enabled: false,
            soft_cap_tokens: 10,
            hard_cap_tokens: 20,
            period: Period::Month,
            ..Budget::default()
        })
    );
}

#[test]
fn merge_replaces_only_the_fields_that_are_given() {
    let expected = |f: fn(&mut Budget)| {
        let mut budget = current();
        f(&mut budget);
        Ok(budget)
    };
    assert_eq!(
        merge(r#"{"enabled": false}"#),
        expected(|b| b.enabled = false)
    );
    assert_eq!(
        merge(r#"{"softCapTokens": 5}"#),
        expected(|b| b.soft_cap_tokens = 5)
    );
    assert_eq!(
        merge(r#"{"hardCapTokens": 9000}"#),
        expected(|b| b.hard_cap_tokens = 9_000)
    );
    assert_eq!(
        merge(r#"{"period": "day"}"#),
        expected(|b| b.period = Period::Day)
    );
}

#[test]
fn merge_accepts_a_soft_cap_equal_to_the_hard_cap() {
    let budget = merge(r#"{"softCapTokens": 3000}"#).unwrap();
    assert_eq!(budget.soft_cap_tokens, budget.hard_cap_tokens);
}

#[test]
fn merge_accepts_zero_caps() {
    let budget = merge(r#"{"softCapTokens": 0, "hardCapTokens": 0}"#).unwrap();
    assert_eq!((budget.soft_cap_tokens, budget.hard_cap_tokens), (0, 0));
}

#[test]
fn merge_accepts_caps_up_to_2_pow_53_minus_1() {
    let budget =
        merge(r#"{"softCapTokens": 9007199254740991, "hardCapTokens": 9007199254740991}"#).unwrap();
    assert_eq!(budget.hard_cap_tokens, MAX_TOKENS);
}

// ---- merge: the seed's two errors, word for word ---------------------------

#[test]
fn merge_rejects_a_negative_soft_cap_with_the_seeds_message() {
    let (code, field, message) = merge_error(r#"{"softCapTokens": -1}"#);
    assert_eq!(code, ErrorCode::NegativeTokens);
    assert_eq!(field.as_deref(), Some("softCapTokens"));
    assert_eq!(message, "Token caps must be non-negative");
}

#[test]
fn merge_rejects_a_negative_hard_cap_with_the_seeds_message() {
    let (code, field, message) = merge_error(r#"{"hardCapTokens": -0.5}"#);
    assert_eq!(code, ErrorCode::NegativeTokens);
    assert_eq!(field.as_deref(), Some("hardCapTokens"));
    assert_eq!(message, "Token caps must be non-negative");
}

#[test]
fn merge_rejects_a_soft_cap_above_the_hard_cap_with_the_seeds_message() {
    let (code, field, message) = merge_error(r#"{"softCapTokens": 3001}"#);
    assert_eq!(code, ErrorCode::SoftCapAboveHardCap);
    assert_eq!(field.as_deref(), Some("softCapTokens"));
    assert_eq!(message, "softCapTokens cannot exceed hardCapTokens");
}

#[test]
fn merge_blames_the_hard_cap_when_only_it_was_lowered_below_the_soft_cap() {
    let (code, field, message) = merge_error(r#"{"hardCapTokens": 1999}"#);
    assert_eq!(code, ErrorCode::SoftCapAboveHardCap);
    assert_eq!(field.as_deref(), Some("hardCapTokens"));
    assert_eq!(message, "softCapTokens cannot exceed hardCapTokens");
}

#[test]
fn merge_blames_the_soft_cap_when_both_caps_are_given_out_of_order() {
    let (code, field, _) = merge_error(r#"{"softCapTokens": 20, "hardCapTokens": 10}"#);
    assert_eq!(code, ErrorCode::SoftCapAboveHardCap);
    assert_eq!(field.as_deref(), Some("softCapTokens"));
}

#[test]
fn merge_checks_the_soft_cap_against_the_current_hard_cap() {
    // The seed compared the merged values, not the input alone.
    let lowered = Budget::default().merge(&raw(r#"{"hardCapTokens": 50000}"#));
    assert_eq!(
        lowered.unwrap_err().message(),
        "softCapTokens cannot exceed hardCapTokens"
    );
}

// ---- merge: stricter than the seed ----------------------------------------

#[test]
fn merge_rejects_an_update_that_is_not_an_object() {
    for json in ["null", "[]", "5", "\"day\"", "false"] {
        let (code, field, message) = merge_error(json);
        assert_eq!(code, ErrorCode::InvalidType, "{json}");
        assert_eq!(field, None, "{json}");
        assert_eq!(message, "a budget update must be an object");
    }
}

#[test]
fn merge_rejects_an_unknown_field_and_names_it() {
    let (code, field, message) = merge_error(r#"{"softCap": 10}"#);
    assert_eq!(code, ErrorCode::UnknownField);
    assert_eq!(field.as_deref(), Some("softCap"));
    assert!(message.contains("\"softCap\""), "{message}");
}

#[test]
fn merge_rejects_a_wrongly_typed_enabled() {
    for value in ["\"true\"", "1", "{}", "[]"] {
        let (code, field, message) = merge_error(&format!(r#"{{"enabled": {value}}}"#));
        assert_eq!(code, ErrorCode::InvalidType, "{value}");
        assert_eq!(field.as_deref(), Some("enabled"));
        assert_eq!(message, "enabled must be a boolean");
    }
}

#[test]
fn merge_rejects_a_wrongly_typed_cap() {
    for name in ["softCapTokens", "hardCapTokens"] {
        for value in ["\"100\"", "true", "{}", "[1]"] {
            let (code, field, message) = merge_error(&format!(r#"{{"{name}": {value}}}"#));
            assert_eq!(code, ErrorCode::InvalidType, "{name}: {value}");
            assert_eq!(field.as_deref(), Some(name));
            assert_eq!(message, format!("{name} must be a number"));
        }
    }
}

#[test]
fn merge_rejects_a_wrongly_typed_period() {
    for value in ["7", "true", "{}", "[\"day\"]"] {
        let (code, field, message) = merge_error(&format!(r#"{{"period": {value}}}"#));
        assert_eq!(code, ErrorCode::InvalidType, "{value}");
        assert_eq!(field.as_deref(), Some("period"));
        assert_eq!(message, "period must be a string");
    }
}

#[test]
fn merge_rejects_a_non_finite_cap() {
    for n in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let update = RawBudget {
            hard_cap_tokens: Some(n.into()),
            ..RawBudget::default()
        };
        let err = current().merge(&update).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidNumber, "{n}");
        assert_eq!(err.field(), Some("hardCapTokens"));
        assert_eq!(err.message(), "hardCapTokens must be a finite number");
    }
}

#[test]
fn merge_rejects_a_fractional_cap() {
    let (code, field, message) = merge_error(r#"{"softCapTokens": 10.5}"#);
    assert_eq!(code, ErrorCode::FractionalTokens);
    assert_eq!(field.as_deref(), Some("softCapTokens"));
    assert_eq!(message, "softCapTokens must be a whole number of tokens");
}

#[test]
fn merge_rejects_a_cap_above_2_pow_53_minus_1() {
    let (code, field, message) = merge_error(r#"{"hardCapTokens": 9007199254740992}"#);
    assert_eq!(code, ErrorCode::TooManyTokens);
    assert_eq!(field.as_deref(), Some("hardCapTokens"));
    assert_eq!(message, "hardCapTokens must be at most 9007199254740991");
}

#[test]
fn merge_rejects_an_unknown_period() {
    for name in ["fortnight", "Month", "", "year"] {
        let (code, field, message) = merge_error(&format!(r#"{{"period": "{name}"}}"#));
        assert_eq!(code, ErrorCode::UnknownPeriod, "{name:?}");
        assert_eq!(field.as_deref(), Some("period"));
        assert!(message.starts_with("period must be one of"), "{message}");
    }
}

// ---- merge: which error wins ------------------------------------------------

#[test]
fn merge_reports_not_an_object_before_anything_else() {
    let value = RawBudget {
        not_an_object: true,
        unknown_fields: vec!["x".into()],
        ..RawBudget::default()
    };
    assert_eq!(
        current().merge(&value).unwrap_err().code(),
        ErrorCode::InvalidType
    );
}

#[test]
fn merge_reports_an_unknown_field_before_a_wrong_type() {
    let (code, field, _) = merge_error(r#"{"enabled": "yes", "hardcap": 1}"#);
    assert_eq!(code, ErrorCode::UnknownField);
    assert_eq!(field.as_deref(), Some("hardcap"));
}

#[test]
fn merge_reports_the_first_unknown_field_in_input_order() {
    let (_, field, _) = merge_error(r#"{"zeta": 1, "alpha": 2}"#);
    assert_eq!(field.as_deref(), Some("zeta"));
}

#[test]
fn merge_reports_a_wrong_type_before_a_negative_cap() {
    let (code, field, _) = merge_error(r#"{"softCapTokens": "1", "hardCapTokens": -1}"#);
    assert_eq!(code, ErrorCode::InvalidType);
    assert_eq!(field.as_deref(), Some("softCapTokens"));
}

#[test]
fn merge_reports_a_wrongly_typed_period_before_a_negative_cap() {
    let (code, field, _) = merge_error(r#"{"hardCapTokens": -1, "period": 7}"#);
    assert_eq!(code, ErrorCode::InvalidType);
    assert_eq!(field.as_deref(), Some("period"));
}

#[test]
fn merge_reports_a_negative_cap_before_a_fractional_one() {
    // The seed rejected negative caps before anything else it checked.
    let (code, field, _) = merge_error(r#"{"softCapTokens": 1.5, "hardCapTokens": -1}"#);
    assert_eq!(code, ErrorCode::NegativeTokens);
    assert_eq!(field.as_deref(), Some("hardCapTokens"));
}

#[test]
fn merge_reports_a_negative_cap_before_a_soft_cap_above_the_hard_cap() {
    let (code, _, message) = merge_error(r#"{"softCapTokens": 10, "hardCapTokens": -1}"#);
    assert_eq!(code, ErrorCode::NegativeTokens);
    assert_eq!(message, "Token caps must be non-negative");
}

#[test]
fn merge_reports_a_negative_cap_before_an_unknown_period() {
    let (code, _, _) = merge_error(r#"{"softCapTokens": -1, "period": "year"}"#);
    assert_eq!(code, ErrorCode::NegativeTokens);
}

#[test]
fn merge_reports_a_fractional_cap_before_an_unknown_period() {
    let (code, _, _) = merge_error(r#"{"softCapTokens": 0.5, "period": "year"}"#);
    assert_eq!(code, ErrorCode::FractionalTokens);
}

#[test]
fn merge_reports_an_unknown_period_before_a_soft_cap_above_the_hard_cap() {
    let (code, _, _) =
        merge_error(r#"{"softCapTokens": 20, "hardCapTokens": 10, "period": "year"}"#);
    assert_eq!(code, ErrorCode::UnknownPeriod);
}

#[test]
fn merge_over_a_normalized_stored_value_is_the_seeds_set_ai_budget() {
    // setAiBudget read the stored value tolerantly, then merged the input.
    let stored = normalize(r#"{"enabled": "yes", "softCapTokens": 1.5, "period": "day"}"#);
    let next = stored.merge(&raw(r#"{"enabled": true, "hardCapTokens": 200000}"#));
    assert_eq!(
        next,
        Ok(Budget {
            enabled: true,
            soft_cap_tokens: DEFAULT_SOFT_CAP_TOKENS,
            hard_cap_tokens: 200_000,
            period: Period::Day,
            ..Budget::default()
        })
    );
}

#[test]
fn the_raw_form_of_a_budget_holds_every_field() {
    let value = RawBudget::from_budget(&current());
    assert_eq!(value.enabled, Some(FieldValue::Bool(true)));
    assert_eq!(value.soft_cap_tokens, Some(FieldValue::Number(2_000.0)));
    assert_eq!(value.hard_cap_tokens, Some(FieldValue::Number(3_000.0)));
    assert_eq!(value.period, Some(FieldValue::Text("week".into())));
    assert!(value.unknown_fields.is_empty());
    assert!(!value.not_an_object);
}

#[test]
fn a_raw_budget_keeps_the_type_of_each_field_it_reads() {
    let value =
        raw(r#"{"enabled": 1, "softCapTokens": "5", "hardCapTokens": null, "period": [], "x": 0}"#);
    assert_eq!(value.enabled, Some(FieldValue::Number(1.0)));
    assert_eq!(value.soft_cap_tokens, Some(FieldValue::Text("5".into())));
    assert_eq!(value.hard_cap_tokens, Some(FieldValue::Null));
    assert_eq!(value.period, Some(FieldValue::Other));
    assert_eq!(value.unknown_fields, vec!["x".to_owned()]);
}

#[test]
fn parse_reads_a_complete_budget() {
    let raw =
        raw(r#"{"enabled": true, "softCapTokens": 800, "hardCapTokens": 1000, "period": "week"}"#);
    assert_eq!(
        Budget::parse(&raw),
        Ok(Budget {
            enabled: true,
            soft_cap_tokens: 800,
            hard_cap_tokens: 1000,
            period: Period::Week,
            ..Budget::default()
        })
    );
}

#[test]
fn parse_accepts_a_soft_cap_above_the_hard_cap_that_merge_refuses() {
    let raw =
        raw(r#"{"enabled": true, "softCapTokens": 900, "hardCapTokens": 500, "period": "day"}"#);
    let budget = Budget::parse(&raw).unwrap();
    assert_eq!((budget.soft_cap_tokens, budget.hard_cap_tokens), (900, 500));
    assert_eq!(
        Budget::default().merge(&raw).unwrap_err().code(),
        ErrorCode::SoftCapAboveHardCap
    );
}

#[test]
fn parse_accepts_whatever_normalize_returns() {
    let stored = Budget::normalize(&raw(r#"{"enabled": true, "softCapTokens": 600000}"#));
    assert_eq!(Budget::parse(&RawBudget::from_budget(&stored)), Ok(stored));
}

#[test]
fn parse_names_the_first_missing_or_null_field() {
    let cases = [
        (r#"{}"#, "enabled"),
        (r#"{"enabled": false}"#, "softCapTokens"),
        (
            r#"{"enabled": false, "softCapTokens": 1, "hardCapTokens": null, "period": "day"}"#,
            "hardCapTokens",
        ),
        (
            r#"{"enabled": false, "softCapTokens": 1, "hardCapTokens": 2}"#,
            "period",
        ),
    ];
    for (json, field) in cases {
        let err = Budget::parse(&raw(json)).unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            (ErrorCode::InvalidType, Some(field)),
            "{json}"
        );
    }
}

#[test]
fn parse_checks_each_field_as_merge_does() {
    let cases = [
        (
            r#"{"enabled": "yes", "softCapTokens": 1, "hardCapTokens": 2, "period": "day"}"#,
            ErrorCode::InvalidType,
        ),
        (
            r#"{"enabled": true, "softCapTokens": -1, "hardCapTokens": 2, "period": "day"}"#,
            ErrorCode::NegativeTokens,
        ),
        (
            r#"{"enabled": true, "softCapTokens": 1.5, "hardCapTokens": 2, "period": "day"}"#,
            ErrorCode::FractionalTokens,
        ),
        (
            r#"{"enabled": true, "softCapTokens": 1, "hardCapTokens": 9007199254740992, "period": "day"}"#,
            ErrorCode::TooManyTokens,
        ),
        (
            r#"{"enabled": true, "softCapTokens": 1, "hardCapTokens": 2, "period": "year"}"#,
            ErrorCode::UnknownPeriod,
        ),
        (
            r#"{"enabled": true, "softCapTokens": 1, "hardCapTokens": 2, "period": "day", "hardCap": 5}"#,
            ErrorCode::UnknownField,
        ),
        (r#"[true, 1, 2, "day"]"#, ErrorCode::InvalidType),
    ];
    for (json, code) in cases {
        assert_eq!(
            Budget::parse(&raw(json)).unwrap_err().code(),
            code,
            "{json}"
        );
    }
}
