//! The seed-behaviour table (`tests/seed-cases.json`), run against the core.
//!
//! The same table runs through the packed npm package in Node
//! (`tests/pkg/seed-cases.test.mjs`), so both faces are pinned to the seed's
//! results. Each test reports every failing case by name, not just the first.

use ai_budget::{
    evaluate, summarize_usage, tokens_from_f64, Budget, Decision, Error, ErrorCode, Period,
    RawBudget, UsageRow,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

fn table(section: &str) -> Vec<Value> {
    let text = include_str!("seed-cases.json");
    let table: Value = serde_json::from_str(text).expect("seed-cases.json parses");
    let cases = table[section]
        .as_array()
        .expect("section is an array")
        .clone();
    assert!(!cases.is_empty(), "{section} has cases");
    cases
}

fn name(case: &Value) -> &str {
    case["name"].as_str().expect("every case has a name")
}

fn instant(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().expect("instants are strings");
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn raw(value: &Value) -> RawBudget {
    serde_json::from_value(value.clone()).expect("raw budgets deserialize")
}

/// A complete budget, strictly: every field present, then the core's merge
/// validation (the way the npm package reads a budget argument).
fn budget(value: &Value) -> Budget {
    Budget::default()
        .merge(&raw(value))
        .expect("case budgets are valid")
}

/// A token count as the edges read it from JSON: a number goes through the
/// core's reader; any other JSON type is the edges' `invalid-type`.
fn tokens(value: &Value, field: &str) -> Result<u64, Error> {
    match value.as_f64() {
        Some(n) => tokens_from_f64(n, field),
        None => Err(Error::new(
            ErrorCode::InvalidType,
            Some(field),
            format!("{field} must be a number"),
        )),
    }
}

fn budget_json(budget: &Budget) -> Value {
    serde_json::to_value(budget).expect("budgets serialize")
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Checks an error against the case's `error`: its code, and its message
/// when the case gives one (the seed's words).
fn check_error(case: &Value, err: &Error) -> Option<String> {
    let expected = &case["error"];
    let code_ok = expected["code"].as_str() == Some(err.code().as_str());
    let message_ok = expected["message"]
        .as_str()
        .is_none_or(|message| message == err.message());
    (!(code_ok && message_ok)).then(|| format!("{}: got error {err:?}", name(case)))
}

fn assert_no_failures(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

#[test]
fn read_budget_cases_match_the_seed() {
    let failures = table("readBudget")
        .iter()
        .filter_map(|case| {
            let got = budget_json(&Budget::normalize(&raw(&case["stored"])));
            (got != case["expected"]).then(|| format!("{}: got {got}", name(case)))
        })
        .collect();
    assert_no_failures(failures);
}

#[test]
fn set_ai_budget_cases_match_the_seed() {
    let failures = table("setAiBudget")
        .iter()
        .filter_map(|case| {
            let current = budget(&case["current"]);
            match (current.merge(&raw(&case["input"])), case.get("error")) {
                (Ok(got), None) => {
                    let got = budget_json(&got);
                    (got != case["expected"]).then(|| format!("{}: got {got}", name(case)))
                }
                (Err(err), Some(_)) => check_error(case, &err),
                (got, _) => Some(format!("{}: got {got:?}", name(case))),
            }
        })
        .collect();
    assert_no_failures(failures);
}

#[test]
fn period_start_cases_match_the_seed() {
    let failures = table("periodStart")
        .iter()
        .filter_map(|case| {
            let period: Period = case["period"].as_str().unwrap().parse().unwrap();
            let now = instant(&case["now"]);
            let (start, end) = (period.start(now), period.end(now));
            (start != instant(&case["start"]) || end != instant(&case["end"]))
                .then(|| format!("{}: got {} .. {}", name(case), rfc3339(start), rfc3339(end)))
        })
        .collect();
    assert_no_failures(failures);
}

fn decision_json(decision: &Decision) -> Value {
    match *decision {
        Decision::Allowed {
            remaining,
            used,
            soft_cap,
            window,
        } => json!({
            "ok": true,
            "remaining": remaining.map_or(json!("Infinity"), |n| json!(n)),
            "usedTokens": used,
            "softCap": soft_cap,
            "resetsAt": rfc3339(window.end),
        }),
        Decision::Refused {
            reason,
            used,
            cap,
            window,
        } => json!({
            "ok": false,
            "reason": reason.as_str(),
            "usedTokens": used,
            "capTokens": cap,
            "resetsAt": rfc3339(window.end),
        }),
    }
}

/// `resetsAt` compared as an instant, everything else as JSON.
fn same_decision(got: &Value, expected: &Value) -> bool {
    let (mut got, mut expected) = (got.clone(), expected.clone());
    let got_reset = instant(&got["resetsAt"].take());
    let expected_reset = instant(&expected["resetsAt"].take());
    got == expected && got_reset == expected_reset
}

#[test]
fn check_budget_cases_match_the_seed() {
    let failures = table("checkBudget")
        .iter()
        .filter_map(|case| {
            let budget = budget(&case["budget"]);
            let counts = tokens(&case["usedTokens"], "usedTokens")
                .and_then(|used| Ok((used, tokens(&case["estimatedTokens"], "estimatedTokens")?)));
            match (counts, case.get("error")) {
                (Ok((used, estimated)), None) => {
                    let got =
                        decision_json(&evaluate(&budget, used, estimated, instant(&case["now"])));
                    (!same_decision(&got, &case["expected"]))
                        .then(|| format!("{}: got {got}", name(case)))
                }
                (Err(err), Some(_)) => check_error(case, &err),
                (got, _) => Some(format!("{}: got {got:?}", name(case))),
            }
        })
        .collect();
    assert_no_failures(failures);
}

#[test]
fn period_breakdown_cases_match_the_seed() {
    let failures = table("periodBreakdown")
        .iter()
        .filter_map(|case| {
            let rows: Vec<UsageRow> = case["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| UsageRow {
                    feature: row["feature"].as_str().unwrap().to_owned(),
                    input_tokens: tokens(&row["inputTokens"], "inputTokens").unwrap(),
                    output_tokens: tokens(&row["outputTokens"], "outputTokens").unwrap(),
                    created_at: instant(&row["createdAt"]),
                })
                .collect();
            let period: Period = case["period"].as_str().unwrap().parse().unwrap();
            let summary = summarize_usage(period, &rows, instant(&case["now"]));
            let got = json!({
                "usedTokens": summary.used_tokens,
                "calls": summary.calls,
                "breakdown": summary.breakdown,
            });
            (got != case["expected"]).then(|| format!("{}: got {got}", name(case)))
        })
        .collect();
    assert_no_failures(failures);
}

#[test]
fn every_deliberate_difference_says_why_and_what_the_seed_gave() {
    let sections = [
        "readBudget",
        "setAiBudget",
        "periodStart",
        "checkBudget",
        "periodBreakdown",
    ];
    for section in sections {
        for case in table(section) {
            if case.get("differs").is_some() {
                assert!(
                    case.get("seed").is_some(),
                    "{}: no seed result",
                    name(&case)
                );
                assert_ne!(
                    case.get("seed"),
                    case.get("expected"),
                    "{}: marked as differing but gives the seed's result",
                    name(&case)
                );
            }
        }
    }
}
