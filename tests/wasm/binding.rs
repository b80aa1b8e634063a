//! Tests of the JS binding, compiled to wasm and run by wasm-bindgen-test:
//! shared by `tests/web_node.rs` (Node) and `tests/web_browser.rs`
//! (headless Chromium), so both runtimes are held to the same behaviour.

use ai_budget::web::{
    cap_status_js, decide, decide_many, evaluate_budget, is_ai_budget_error, merge_budget,
    normalize_budget, period_end, period_start, summarize_usage_js, FastDecisionCode,
};
use js_sys::{Array, Date, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &key.into()).expect("readable")
}

fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let out = Object::new();
    for (key, value) in entries {
        Reflect::set(&out, &(*key).into(), value).unwrap();
    }
    out.into()
}

fn budget(enabled: bool, soft: f64, hard: f64, period: &str) -> JsValue {
    object(&[
        ("enabled", enabled.into()),
        ("softCapTokens", soft.into()),
        ("hardCapTokens", hard.into()),
        ("period", period.into()),
    ])
}

fn millis(date: &JsValue) -> f64 {
    date.dyn_ref::<Date>().expect("a Date").get_time()
}

fn iso(text: &str) -> f64 {
    Date::parse(text)
}

/// The `code` of the error a call threw.
fn error_code(result: Result<JsValue, JsValue>) -> String {
    let err = result.expect_err("expected a throw");
    assert!(err.is_instance_of::<js_sys::Error>(), "a real Error");
    assert!(is_ai_budget_error(err.clone()));
    get(&err, "code").as_string().expect("a code")
}

#[wasm_bindgen_test]
fn an_allowed_call_is_an_object_with_a_date_reset() {
    let result = evaluate_budget(
        budget(true, 800.0, 1000.0, "day"),
        900.0.into(),
        100.0.into(),
        Some("2026-11-28T12:00:00Z".into()),
    )
    .unwrap();
    assert_eq!(get(&result, "ok"), JsValue::TRUE);
    assert_eq!(get(&result, "remaining").as_f64(), Some(100.0));
    assert_eq!(get(&result, "softCap"), JsValue::TRUE);
    assert_eq!(
        millis(&get(&result, "resetsAt")),
        iso("2026-11-29T00:00:00Z")
    );
}

#[wasm_bindgen_test]
fn a_refusal_names_its_reason_and_cap() {
    let result = evaluate_budget(
        budget(true, 800.0, 1000.0, "day"),
        1000.0.into(),
        0.0.into(),
        Some(0.0.into()),
    )
    .unwrap();
    assert_eq!(get(&result, "ok"), JsValue::FALSE);
    assert_eq!(
        get(&result, "reason").as_string().unwrap(),
        "hard-cap-exceeded"
    );
    assert_eq!(get(&result, "capTokens").as_f64(), Some(1000.0));
}

#[wasm_bindgen_test]
fn a_disabled_budget_has_infinite_remaining() {
    let result = evaluate_budget(
        budget(false, 1.0, 2.0, "day"),
        50.0.into(),
        50.0.into(),
        None,
    )
    .unwrap();
    assert_eq!(get(&result, "remaining").as_f64(), Some(f64::INFINITY));
    assert_eq!(get(&result, "usedTokens").as_f64(), Some(50.0));
}

#[wasm_bindgen_test]
fn instants_may_be_dates_numbers_or_strings() {
    let at = "2024-03-10T23:59:59.999Z";
    let monday = iso("2024-03-04T00:00:00Z");
    for now in [
        JsValue::from(Date::new(&at.into())),
        JsValue::from(iso(at)),
        JsValue::from(at),
    ] {
        assert_eq!(
            millis(&period_start("week".into(), Some(now)).unwrap()),
            monday
        );
    }
}

#[wasm_bindgen_test]
fn an_omitted_now_reads_the_clock() {
    let before = Date::now();
    let end = millis(&period_end("day".into(), None).unwrap());
    assert!(end > before && end - before <= 86_400_000.0);
}

#[wasm_bindgen_test]
fn bad_input_throws_errors_with_codes() {
    let valid = || budget(true, 800.0, 1000.0, "day");
    let check = |est: JsValue| evaluate_budget(valid(), 0.0.into(), est, None);
    assert_eq!(error_code(check((-1.0).into())), "negative-tokens");
    assert_eq!(error_code(check(0.5.into())), "fractional-tokens");
    assert_eq!(error_code(check(f64::NAN.into())), "invalid-number");
    assert_eq!(
        error_code(check(9_007_199_254_740_992.0.into())),
        "too-many-tokens"
    );
    assert_eq!(error_code(check("5".into())), "invalid-type");
    assert_eq!(
        error_code(period_start("year".into(), None)),
        "unknown-period"
    );
    assert_eq!(
        error_code(period_start("day".into(), Some("tomorrow".into()))),
        "invalid-instant"
    );
    assert_eq!(
        error_code(cap_status_js(
            budget(true, -2.0, 1.0, "day"),
            0.0.into(),
            None
        )),
        "negative-tokens"
    );
    assert_eq!(
        error_code(merge_budget(budget(true, 2.0, 1.0, "day"), object(&[]))),
        "soft-cap-above-hard-cap"
    );
    assert_eq!(
        error_code(merge_budget(
            valid(),
            object(&[("softCapTokens", (-1.0).into())])
        )),
        "negative-tokens"
    );
}

#[wasm_bindgen_test]
fn the_seed_messages_reach_js_unchanged() {
    let err = merge_budget(
        budget(false, 100_000.0, 500_000.0, "month"),
        object(&[("hardCapTokens", 50_000.0.into())]),
    )
    .unwrap_err();
    let err: js_sys::Error = err.dyn_into().unwrap();
    assert_eq!(
        String::from(err.message()),
        "softCapTokens cannot exceed hardCapTokens"
    );
    assert_eq!(String::from(err.name()), "AiBudgetError");
}

#[wasm_bindgen_test]
fn normalize_budget_defaults_what_it_cannot_read() {
    let budget = normalize_budget(object(&[("softCapTokens", "x".into())]));
    assert_eq!(get(&budget, "softCapTokens").as_f64(), Some(100_000.0));
    assert_eq!(get(&budget, "period").as_string().unwrap(), "month");
}

#[wasm_bindgen_test]
fn usage_is_summed_per_feature_with_any_feature_name() {
    let rows = Array::new();
    for (feature, tokens) in [("__proto__", 3.0), ("ocr", 10.0), ("ocr", 5.0)] {
        rows.push(&object(&[
            ("feature", feature.into()),
            ("inputTokens", tokens.into()),
            ("outputTokens", 0.0.into()),
            ("createdAt", "2026-11-28T01:00:00Z".into()),
        ]));
    }
    let summary = summarize_usage_js(
        budget(true, 1.0, 2.0, "day"),
        rows.into(),
        Some("2026-11-28T12:00:00Z".into()),
    )
    .unwrap();
    assert_eq!(get(&summary, "usedTokens").as_f64(), Some(18.0));
    let by_feature = get(&summary, "byFeature");
    let proto = Reflect::get_own_property_descriptor::<Object>(
        by_feature.unchecked_ref(),
        &"__proto__".into(),
    )
    .unwrap();
    assert_eq!(get(&proto, "value").as_f64(), Some(3.0));
    assert_eq!(get(&by_feature, "ocr").as_f64(), Some(15.0));
}

#[wasm_bindgen_test]
fn the_fast_path_gives_the_cores_codes() {
    assert_eq!(
        decide(true, 800.0, 1000.0, 900.0, 100.0),
        FastDecisionCode::AllowedOverSoftCap
    );
    assert_eq!(
        decide(true, 800.0, 1000.0, 900.0, 101.0),
        FastDecisionCode::EstimatedExceedsCap
    );
    assert_eq!(
        decide(true, 800.0, 1000.0, 1000.0, 0.0),
        FastDecisionCode::HardCapExceeded
    );
    assert_eq!(
        decide(false, 800.0, 1000.0, 5000.0, 5.0),
        FastDecisionCode::Allowed
    );
    assert_eq!(
        decide(true, 800.0, 1000.0, 0.0, -1.0),
        FastDecisionCode::InvalidInput
    );
    let mut out = [9u8; 2];
    decide_many(
        &[1, 1],
        &[800.0; 2],
        &[1000.0; 2],
        &[0.0, 1000.0],
        &[5.0, 0.0],
        &mut out,
    )
    .unwrap();
    assert_eq!(out, [0, 2]);
    assert!(decide_many(
        &[1],
        &[800.0; 2],
        &[1000.0; 2],
        &[0.0; 2],
        &[0.0; 2],
        &mut out
    )
    .is_err());
}
