//! Token counts: whole, non-negative numbers a JS number holds exactly.

use ai_budget::{
    add_tokens, token_count, tokens_from_f64, tokens_from_i64, Error, ErrorCode, MAX_TOKENS,
};

fn code_of(result: Result<u64, Error>) -> ErrorCode {
    result.expect_err("expected an error").code()
}

#[test]
fn the_largest_token_count_is_javascripts_max_safe_integer() {
    assert_eq!(MAX_TOKENS, 9_007_199_254_740_991);
}

#[test]
fn a_whole_number_reads_as_that_many_tokens() {
    assert_eq!(tokens_from_f64(0.0, "estimatedTokens"), Ok(0));
    assert_eq!(tokens_from_f64(1_200.0, "estimatedTokens"), Ok(1_200));
    assert_eq!(
        tokens_from_f64(MAX_TOKENS as f64, "estimatedTokens"),
        Ok(MAX_TOKENS)
    );
}

#[test]
fn negative_zero_reads_as_zero_tokens() {
    assert_eq!(tokens_from_f64(-0.0, "estimatedTokens"), Ok(0));
}

#[test]
fn a_negative_estimate_is_an_error_naming_the_field() {
    let err = tokens_from_f64(-1.0, "estimatedTokens").unwrap_err();
    assert_eq!(err.code(), ErrorCode::NegativeTokens);
    assert_eq!(err.field(), Some("estimatedTokens"));
    assert_eq!(err.message(), "estimatedTokens must be non-negative");
}

#[test]
fn a_negative_cap_keeps_the_seeds_message() {
    for field in ["softCapTokens", "hardCapTokens"] {
        let err = tokens_from_f64(-3.0, field).unwrap_err();
        assert_eq!(err.message(), "Token caps must be non-negative");
        assert_eq!(err.field(), Some(field));
    }
}

#[test]
fn a_fractional_estimate_is_an_error() {
    for n in [0.5, 1.000_001, 1e15 + 0.5] {
        let err = tokens_from_f64(n, "estimatedTokens").unwrap_err();
        assert_eq!(err.code(), ErrorCode::FractionalTokens, "{n}");
        assert_eq!(
            err.message(),
            "estimatedTokens must be a whole number of tokens"
        );
    }
}

#[test]
fn a_non_finite_estimate_is_an_error() {
    for n in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = tokens_from_f64(n, "estimatedTokens").unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidNumber, "{n}");
        assert_eq!(err.message(), "estimatedTokens must be a finite number");
    }
}

#[test]
fn an_estimate_above_2_pow_53_minus_1_is_an_error() {
    let err = tokens_from_f64(9_007_199_254_740_992.0, "estimatedTokens").unwrap_err();
    assert_eq!(err.code(), ErrorCode::TooManyTokens);
    assert_eq!(
        err.message(),
        "estimatedTokens must be at most 9007199254740991"
    );
    assert_eq!(
        code_of(tokens_from_f64(1e300, "x")),
        ErrorCode::TooManyTokens
    );
}

#[test]
fn a_negative_fraction_is_reported_as_negative() {
    assert_eq!(
        code_of(tokens_from_f64(-0.5, "x")),
        ErrorCode::NegativeTokens
    );
}

#[test]
fn an_integer_in_range_reads_as_that_many_tokens() {
    assert_eq!(tokens_from_i64(0, "inputTokens"), Ok(0));
    assert_eq!(tokens_from_i64(42, "inputTokens"), Ok(42));
    assert_eq!(
        tokens_from_i64(MAX_TOKENS as i64, "inputTokens"),
        Ok(MAX_TOKENS)
    );
}

#[test]
fn a_negative_integer_is_an_error_naming_the_field() {
    let err = tokens_from_i64(-1, "inputTokens").unwrap_err();
    assert_eq!(err.code(), ErrorCode::NegativeTokens);
    assert_eq!(err.field(), Some("inputTokens"));
    assert_eq!(
        code_of(tokens_from_i64(i64::MIN, "x")),
        ErrorCode::NegativeTokens
    );
}

#[test]
fn an_integer_above_2_pow_53_minus_1_is_an_error() {
    for n in [MAX_TOKENS as i64 + 1, MAX_TOKENS as i64 + 2, i64::MAX] {
        assert_eq!(
            code_of(tokens_from_i64(n, "x")),
            ErrorCode::TooManyTokens,
            "{n}"
        );
    }
}

#[test]
fn adding_token_counts_stops_at_the_largest_count() {
    assert_eq!(add_tokens(2, 3), 5);
    assert_eq!(add_tokens(MAX_TOKENS, 1), MAX_TOKENS);
    assert_eq!(add_tokens(u64::MAX, u64::MAX), MAX_TOKENS);
}

#[test]
fn error_codes_keep_their_public_names() {
    let names = [
        (ErrorCode::InvalidType, "invalid-type"),
        (ErrorCode::InvalidNumber, "invalid-number"),
        (ErrorCode::NegativeTokens, "negative-tokens"),
        (ErrorCode::FractionalTokens, "fractional-tokens"),
        (ErrorCode::TooManyTokens, "too-many-tokens"),
        (ErrorCode::SoftCapAboveHardCap, "soft-cap-above-hard-cap"),
        (ErrorCode::UnknownPeriod, "unknown-period"),
        (ErrorCode::UnknownField, "unknown-field"),
        (ErrorCode::InvalidInstant, "invalid-instant"),
    ];
    for (code, name) in names {
        assert_eq!(code.as_str(), name);
        assert_eq!(code.to_string(), name);
    }
}

#[test]
fn an_error_displays_as_its_message() {
    let err = tokens_from_f64(0.5, "estimatedTokens").unwrap_err();
    assert_eq!(err.to_string(), err.message());
    assert!(err.is_field_error());
}

#[test]
fn token_count_accepts_exactly_what_tokens_from_f64_accepts() {
    let max = MAX_TOKENS as f64;
    let mut values = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1e-300,
        f64::MIN_POSITIVE,
        max,
        max - 1.0,
        max + 1.0,
        max + 2.0,
        2f64.powi(60),
        f64::MAX,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        4_503_599_627_370_495.5,
    ];
    // A spread of magnitudes, whole and fractional, on both sides of 0.
    let mut x = 0.37_f64;
    for _ in 0..2000 {
        x = (x * 7.919 + 0.123).fract();
        let magnitude = 10f64.powi((x * 18.0) as i32);
        values.extend([
            x * magnitude,
            (x * magnitude).trunc(),
            -(x * magnitude).trunc(),
        ]);
    }
    for n in values {
        assert_eq!(token_count(n), tokens_from_f64(n, "n").ok(), "{n:?}");
    }
}
