//! The metrics' text: the exposition format's shape (one HELP and TYPE per
//! family, samples grouped under it, label values escaped) and what a
//! port's standing shows, in tokens and in dollars, checked line by line.

use ai_budget::gate::{PortLoad, RefusalCount};
use ai_budget::metrics::{escape_label, port_samples, refusal_samples, Exposition, Kind};
use ai_budget::{Budget, Period, Unit};
use chrono::{TimeZone, Utc};

#[test]
fn samples_are_grouped_under_one_help_and_type_per_family_in_first_use_order() {
    let mut out = Exposition::new();
    out.sample("b_total", Kind::Counter, "Bees.", &[("port", "x")], 1.0);
    out.sample("a", Kind::Gauge, "Ays.", &[], 0.5);
    out.sample("b_total", Kind::Counter, "Bees.", &[("port", "y")], 2.0);
    assert_eq!(
        out.finish(),
        "# HELP b_total Bees.\n# TYPE b_total counter\nb_total{port=\"x\"} 1\nb_total{port=\"y\"} 2\n\
         # HELP a Ays.\n# TYPE a gauge\na 0.5\n"
    );
}

#[test]
fn label_values_escape_backslashes_quotes_and_newlines() {
    assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
    assert_eq!(escape_label("two\nlines"), "two\\nlines");
    let mut out = Exposition::new();
    out.sample("m", Kind::Gauge, "M.", &[("port", "q\"x")], f64::INFINITY);
    out.sample("m", Kind::Gauge, "M.", &[("port", "n")], f64::NAN);
    let text = out.finish();
    assert!(text.contains("m{port=\"q\\\"x\"} +Inf\n"), "{text}");
    assert!(text.contains("m{port=\"n\"} NaN\n"), "{text}");
}

/// The lines of `text` that are samples of `name` (with their labels).
fn lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .collect()
}

#[test]
fn a_token_port_shows_its_period_caps_state_and_forecast() {
    let budget = Budget {
        enabled: true,
        soft_cap_tokens: 5_000,
        hard_cap_tokens: 6_000,
        period: Period::Month,
        ..Budget::default()
    };
    let load = PortLoad {
        used_tokens: 2_400,
        calls: 12,
        held_tokens: 100,
        used_usd: 1_250_000,
        ..PortLoad::default()
    };
    // Ten days into April 2027: 2,400 runs out on the 26th (tests/forecast.rs).
    let now = Utc.with_ymd_and_hms(2027, 4, 11, 0, 0, 0).unwrap();
    let mut out = Exposition::new();
    port_samples(&mut out, "acme", &budget, &load, now);
    let text = out.finish();
    let expect = [
        (
            "ai_budget_port_used_tokens",
            vec![r#"ai_budget_port_used_tokens{port="acme"} 2400"#],
        ),
        (
            "ai_budget_port_held_tokens",
            vec![r#"ai_budget_port_held_tokens{port="acme"} 100"#],
        ),
        (
            "ai_budget_port_cost_usd",
            vec![r#"ai_budget_port_cost_usd{port="acme"} 1.25"#],
        ),
        (
            "ai_budget_port_calls",
            vec![r#"ai_budget_port_calls{port="acme"} 12"#],
        ),
        (
            "ai_budget_port_used",
            vec![r#"ai_budget_port_used{port="acme",unit="tokens"} 2500"#],
        ),
        (
            "ai_budget_port_soft_cap",
            vec![r#"ai_budget_port_soft_cap{port="acme",unit="tokens"} 5000"#],
        ),
        (
            "ai_budget_port_hard_cap",
            vec![r#"ai_budget_port_hard_cap{port="acme",unit="tokens"} 6000"#],
        ),
        (
            "ai_budget_port_remaining",
            vec![r#"ai_budget_port_remaining{port="acme",unit="tokens"} 3500"#],
        ),
        // 2027-05-01T00:00:00Z.
        (
            "ai_budget_port_period_end_seconds",
            vec![r#"ai_budget_port_period_end_seconds{port="acme"} 1809129600"#],
        ),
        (
            "ai_budget_port_state",
            vec![
                r#"ai_budget_port_state{port="acme",state="disabled"} 0"#,
                r#"ai_budget_port_state{port="acme",state="ok"} 1"#,
                r#"ai_budget_port_state{port="acme",state="soft"} 0"#,
                r#"ai_budget_port_state{port="acme",state="hard"} 0"#,
            ],
        ),
        (
            "ai_budget_port_projected_used",
            vec![r#"ai_budget_port_projected_used{port="acme",unit="tokens"} 7200"#],
        ),
        (
            "ai_budget_port_runs_out_before_reset",
            vec![r#"ai_budget_port_runs_out_before_reset{port="acme"} 1"#],
        ),
        // 2027-04-26T00:00:00Z.
        (
            "ai_budget_port_run_out_seconds",
            vec![r#"ai_budget_port_run_out_seconds{port="acme"} 1808697600"#],
        ),
    ];
    for (name, want) in expect {
        assert_eq!(lines(&text, name), want, "{name}");
        assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{name}");
    }
}

#[test]
fn a_dollar_port_shows_its_caps_in_dollars_and_a_disabled_one_no_remaining_nor_forecast() {
    let now = Utc.with_ymd_and_hms(2027, 4, 11, 0, 0, 0).unwrap();
    let usd = Budget {
        enabled: true,
        unit: Unit::Usd,
        soft_cap_usd: Some(8_000_000),
        hard_cap_usd: Some(10_000_000),
        period: Period::Month,
        ..Budget::default()
    };
    let load = PortLoad {
        used_usd: 2_500_000,
        held_usd: 500_000,
        ..PortLoad::default()
    };
    let mut out = Exposition::new();
    port_samples(&mut out, "dollars", &usd, &load, now);
    let off = Budget {
        enabled: false,
        ..Budget::default()
    };
    port_samples(&mut out, "off", &off, &PortLoad::default(), now);
    let text = out.finish();
    assert_eq!(
        lines(&text, "ai_budget_port_hard_cap"),
        vec![
            r#"ai_budget_port_hard_cap{port="dollars",unit="usd"} 10"#,
            r#"ai_budget_port_hard_cap{port="off",unit="tokens"} 500000"#,
        ]
    );
    assert_eq!(
        lines(&text, "ai_budget_port_used"),
        vec![
            r#"ai_budget_port_used{port="dollars",unit="usd"} 3"#,
            r#"ai_budget_port_used{port="off",unit="tokens"} 0"#,
        ]
    );
    assert_eq!(
        lines(&text, "ai_budget_port_remaining"),
        vec![r#"ai_budget_port_remaining{port="dollars",unit="usd"} 7"#]
    );
    assert_eq!(
        lines(&text, "ai_budget_port_projected_used"),
        vec![r#"ai_budget_port_projected_used{port="dollars",unit="usd"} 7.5"#]
    );
    assert!(lines(&text, "ai_budget_port_state")
        .contains(&r#"ai_budget_port_state{port="off",state="disabled"} 1"#));
    assert!(!text.contains(r#"ai_budget_port_runs_out_before_reset{port="off"}"#));
    // Each family is declared once, however many ports it has.
    assert_eq!(text.matches("# TYPE ai_budget_port_hard_cap ").count(), 1);
}

#[test]
fn refusals_are_one_gauge_per_port_reason_and_scope_and_none_without_refusals() {
    let refusal = |reason: &str, scope: &str, count: u64| RefusalCount {
        reason: reason.into(),
        scope: scope.into(),
        count,
    };
    let mut out = Exposition::new();
    refusal_samples(
        &mut out,
        "acme",
        &[
            refusal("estimated-exceeds-cap", "user", 3),
            refusal("hard-cap-exceeded", "port", 1),
        ],
    );
    refusal_samples(&mut out, "quiet", &[]);
    let text = out.finish();
    assert!(
        text.contains("# TYPE ai_budget_port_refusals gauge\n"),
        "{text}"
    );
    assert_eq!(
        lines(&text, "ai_budget_port_refusals"),
        [
            "ai_budget_port_refusals{port=\"acme\",reason=\"estimated-exceeds-cap\",scope=\"user\"} 3",
            "ai_budget_port_refusals{port=\"acme\",reason=\"hard-cap-exceeded\",scope=\"port\"} 1",
        ]
    );
}

#[test]
fn a_group_shows_its_childrens_use_its_lending_caps_band_and_period_end() {
    use ai_budget::allowance::{Report, DEFAULT_SIZING};
    use ai_budget::group::GroupState;
    use ai_budget::metrics::{group_samples, GroupLine};

    let now = Utc.with_ymd_and_hms(2026, 3, 11, 12, 0, 0).unwrap();
    let mut group = GroupState::default();
    let budget = serde_json::json!({
        "enabled": true, "softCapTokens": 800, "hardCapTokens": 1000, "period": "day",
    });
    group.save("org", &budget, "admin", now).unwrap();
    let report = Report {
        seq: 1,
        consumed: 850,
        ..Report::default()
    };
    group.report("port:a", &report, &DEFAULT_SIZING, now);
    let status = group.status(now);
    let line: GroupLine =
        serde_json::from_value(status.clone()).expect("a group's status reads as a line");
    let mut out = Exposition::new();
    group_samples(&mut out, &line);
    let text = out.finish();
    let one = |name: &str| lines(&text, name).join("\n");
    assert_eq!(
        one("ai_budget_group_used"),
        "ai_budget_group_used{group=\"org\",unit=\"tokens\"} 850"
    );
    assert_eq!(
        one("ai_budget_group_soft_cap"),
        "ai_budget_group_soft_cap{group=\"org\",unit=\"tokens\"} 800"
    );
    assert_eq!(
        one("ai_budget_group_hard_cap"),
        "ai_budget_group_hard_cap{group=\"org\",unit=\"tokens\"} 1000"
    );
    assert_eq!(
        one("ai_budget_group_lent"),
        format!(
            "ai_budget_group_lent{{group=\"org\",unit=\"tokens\"}} {}",
            status["lent"]
        )
    );
    assert_eq!(
        one("ai_budget_group_lent_unused"),
        format!(
            "ai_budget_group_lent_unused{{group=\"org\",unit=\"tokens\"}} {}",
            status["unused"]
        )
    );
    // Midnight UTC after 2026-03-11: the day's end.
    assert_eq!(
        one("ai_budget_group_period_end_seconds"),
        "ai_budget_group_period_end_seconds{group=\"org\"} 1773273600"
    );
    assert_eq!(
        lines(&text, "ai_budget_group_state"),
        [
            "ai_budget_group_state{group=\"org\",state=\"disabled\"} 0",
            "ai_budget_group_state{group=\"org\",state=\"ok\"} 0",
            "ai_budget_group_state{group=\"org\",state=\"soft\"} 1",
            "ai_budget_group_state{group=\"org\",state=\"hard\"} 0",
        ]
    );
}
