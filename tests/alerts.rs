//! Alerts, natively: which thresholds a port is past, crossings raised once
//! per period and resolved when usage falls back (a raised cap, a new
//! period), stable event ids, the webhook signature, and which URLs pass.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::alerts::endpoint::{check, Environment};
use ai_budget::alerts::sign::{signature, verify, Rejected};
use ai_budget::alerts::threshold::{percent_of_json, Raised};
use ai_budget::alerts::{retry, transitions, watch, Standing, Threshold, Transition};
use ai_budget::gate::Gate;
use ai_budget::{cap_status, Budget, Period};
use chrono::Duration;
use common::port::*;
use serde_json::Value;

fn standing(soft: u64, hard: u64, used: u64) -> Standing {
    let budget = Budget {
        enabled: true,
        soft_cap_tokens: soft,
        hard_cap_tokens: hard,
        period: Period::Day,
        ..Budget::default()
    };
    Standing::of_status(&cap_status(&budget, used, now()))
}

/// A port's gate with the alert tables, as the object makes them first.
fn alerting() -> Port {
    let port = Port::new();
    watch::migrate(&port.db).unwrap();
    port
}

/// Observes the port's gate in its own transaction, as the object does
/// after each change; answers the events' bodies.
fn observe(port: &Port, when: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
    port.db
        .transaction(|db| {
            let gate = Gate::open(db)?;
            gate.observe_alerts(when)
        })
        .unwrap()
        .iter()
        .map(|e| e.body())
        .collect()
}

fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["threshold"].to_string(),
            )
        })
        .collect()
}

#[test]
fn soft_is_past_above_the_soft_cap_hard_and_percents_at_their_value() {
    let s = standing(800, 1_000, 800);
    assert!(
        !s.is_past(Threshold::Soft),
        "the soft flag is strictly above"
    );
    assert!(s.is_past(Threshold::Percent(80)));
    assert!(!s.is_past(Threshold::Percent(81)));
    assert!(!s.is_past(Threshold::Hard));
    let s = standing(800, 1_000, 1_000);
    assert!(
        s.is_past(Threshold::Soft)
            && s.is_past(Threshold::Hard)
            && s.is_past(Threshold::Percent(100))
    );
    // A disabled budget is past nothing.
    let disabled = Standing {
        enabled: false,
        ..s
    };
    assert!(!disabled.is_past(Threshold::Hard));
    // Exact at the largest caps: no float rounding.
    let max = ai_budget::MAX_TOKENS;
    let s = standing(max, max, max / 2 + 1);
    assert!(s.is_past(Threshold::Percent(50)));
    assert!(!standing(max, max, max / 2).is_past(Threshold::Percent(50)));
}

#[test]
fn a_crossing_remembered_for_the_period_raises_nothing_again() {
    let all = [Threshold::Soft, Threshold::Hard, Threshold::Percent(50)];
    let s = standing(800, 1_000, 600);
    let first = transitions(&all, &[], &s);
    assert_eq!(first, vec![Transition::Crossed(Threshold::Percent(50))]);
    let raised = [Raised {
        threshold: Threshold::Percent(50),
        period_start: s.window.start.timestamp_millis(),
    }];
    assert!(transitions(&all, &raised, &standing(800, 1_000, 700)).is_empty());
    // Under it again (a raised cap): resolved.
    assert_eq!(
        transitions(&all, &raised, &standing(800, 2_000, 700)),
        vec![Transition::Resolved(Threshold::Percent(50))]
    );
    // A threshold removed: forgotten, no event.
    assert_eq!(
        transitions(&all[..2], &raised, &s),
        vec![Transition::Forgotten(Threshold::Percent(50))]
    );
    // Raised in an earlier period: resolved, and crossed anew if past.
    let old = [Raised {
        period_start: raised[0].period_start - 86_400_000,
        ..raised[0]
    }];
    assert_eq!(
        transitions(&all, &old, &s),
        vec![
            Transition::Resolved(Threshold::Percent(50)),
            Transition::Crossed(Threshold::Percent(50))
        ]
    );
}

#[test]
fn the_gate_raises_each_crossing_once_and_resolves_it_when_the_cap_is_raised() {
    let port = alerting();
    capped(&port, 800, 1_000, "day");
    port.db
        .transaction(|db| watch::set_percents(db, &[95, 50, 50]))
        .unwrap();
    assert_eq!(port.db.transaction(watch::percents).unwrap(), vec![50, 95]);
    assert!(observe(&port, now()).is_empty());
    port.record("a", 600, now(), now());
    let events = observe(&port, now());
    assert_eq!(
        kinds(&events),
        vec![("threshold-crossed".into(), "50".into())]
    );
    let e = &events[0];
    assert_eq!(e["port"], ""); // this gate was never told its port
    assert_eq!(
        (e["used"].as_u64(), e["cap"].as_u64(), e["unit"].as_str()),
        (Some(600), Some(1_000), Some("tokens"))
    );
    assert_eq!(e["period"], "day");
    assert_eq!(e["resetsAt"], ai_budget::time::iso(Period::Day.end(now())));
    // The same standing again, and again: nothing new.
    assert!(observe(&port, now()).is_empty());
    assert!(observe(&port, now()).is_empty());
    port.record("b", 400, now(), now());
    assert_eq!(
        kinds(&observe(&port, now())),
        vec![
            ("threshold-crossed".into(), "\"soft\"".into()),
            ("threshold-crossed".into(), "\"hard\"".into()),
            ("threshold-crossed".into(), "95".into()),
        ]
    );
    // Raise the cap: usage 1000 of 10000 is under all of them.
    capped(&port, 8_000, 10_000, "day");
    let resolved = observe(&port, now());
    assert_eq!(resolved.len(), 4);
    assert!(resolved.iter().all(|e| e["type"] == "threshold-resolved"));
    assert_eq!(resolved[0]["cap"], 10_000);
    assert!(observe(&port, now()).is_empty());
    // Every event went to the outbox once, with distinct ids, in order.
    let pending = port.db.transaction(|db| watch::pending(db, 100)).unwrap();
    assert_eq!(pending.len(), 8);
    let mut ids: Vec<&str> = pending.iter().map(|p| p.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    let body: Value = serde_json::from_str(&pending[0].body).unwrap();
    assert_eq!(body["id"], pending[0].id);
}

#[test]
fn a_new_period_resolves_the_last_ones_crossings_and_the_reset_is_due() {
    let port = alerting();
    capped(&port, 100, 200, "day");
    port.record("a", 150, now(), now());
    assert_eq!(
        kinds(&observe(&port, now())),
        vec![("threshold-crossed".into(), "\"soft\"".into())]
    );
    let reset = Period::Day.end(now());
    assert_eq!(
        port.db.transaction(watch::next_reset).unwrap(),
        Some(reset.timestamp_millis())
    );
    let next_day = reset + Duration::milliseconds(1);
    let events = observe(&port, next_day);
    assert_eq!(
        kinds(&events),
        vec![("threshold-resolved".into(), "\"soft\"".into())]
    );
    assert_eq!(events[0]["used"], 0);
    assert_eq!(events[0]["periodStart"], ai_budget::time::iso(reset));
    assert_eq!(port.db.transaction(watch::next_reset).unwrap(), None);
}

#[test]
fn an_observation_that_fails_keeps_nothing() {
    let port = alerting();
    capped(&port, 100, 200, "day");
    port.record("a", 150, now(), now());
    let failed: Result<(), ai_budget::gate::GateError> = port.db.transaction(|db| {
        let gate = Gate::open(db)?;
        assert_eq!(gate.observe_alerts(now())?.len(), 1);
        Err(ai_budget::gate::GateError("the change failed later".into()))
    });
    assert!(failed.is_err());
    // Rolled back with the change: raised again, once.
    assert_eq!(observe(&port, now()).len(), 1);
    assert_eq!(
        port.db
            .transaction(|db| watch::pending(db, 10))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn sent_events_leave_the_outbox() {
    let port = alerting();
    capped(&port, 100, 200, "day");
    port.record("a", 250, now(), now());
    assert_eq!(observe(&port, now()).len(), 2);
    let pending = port.db.transaction(|db| watch::pending(db, 1)).unwrap();
    assert_eq!(pending.len(), 1);
    port.db
        .transaction(|db| watch::mark_sent(db, &[pending[0].seq], 5))
        .unwrap();
    let left = port.db.transaction(|db| watch::pending(db, 10)).unwrap();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].id, pending[0].id);
    port.db.transaction(|db| watch::prune(db, 6)).unwrap();
    assert_eq!(
        port.db
            .transaction(|db| watch::pending(db, 10))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn event_ids_are_stable_and_distinct_across_ports_and_events() {
    use ai_budget::alerts::event::event_id;
    assert_eq!(event_id("acme", 1), event_id("acme", 1));
    assert_ne!(event_id("acme", 1), event_id("acme", 2));
    assert_ne!(event_id("acme", 1), event_id("acme2", 1));
    assert!(event_id("acme", 1).starts_with("evt_"));
    assert_eq!(event_id("acme", 1).len(), 36);
}

#[test]
fn percents_are_whole_numbers_from_1_to_100() {
    for ok in ["1", "50", "80.0", "8e1", "100"] {
        let v: Value = serde_json::from_str(ok).unwrap();
        assert!(percent_of_json(&v).is_some(), "{ok}");
    }
    for bad in ["0", "101", "50.5", "-5", "\"50\"", "null", "1e3"] {
        let v: Value = serde_json::from_str(bad).unwrap();
        assert_eq!(percent_of_json(&v), None, "{bad}");
    }
    assert_eq!(Threshold::parse("050"), None);
    assert_eq!(Threshold::parse("95"), Some(Threshold::Percent(95)));
}

#[test]
fn the_signature_is_hmac_sha256_of_t_dot_body_in_hex() {
    // The expected tag was computed with another implementation (Node's
    // crypto.createHmac("sha256", "whsec_test").update('1700000000.{"a":1}')).
    let header = signature("whsec_test", 1_700_000_000, br#"{"a":1}"#);
    assert_eq!(
        header,
        "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    );
}

#[test]
fn a_signature_verifies_with_its_secret_only_and_within_the_tolerance() {
    let body = br#"{"id":"evt_1","type":"threshold-crossed"}"#;
    let header = signature("whsec_one", 1_000, body);
    assert_eq!(verify(&header, body, "whsec_one", 1_100, 300), Ok(1_000));
    assert_eq!(
        verify(&header, body, "whsec_two", 1_100, 300),
        Err(Rejected::Mismatch)
    );
    assert_eq!(
        verify(&header, b"{}", "whsec_one", 1_100, 300),
        Err(Rejected::Mismatch)
    );
    assert_eq!(
        verify(&header, body, "whsec_one", 2_000, 300),
        Err(Rejected::Stale)
    );
    assert_eq!(
        verify("v1=00", body, "whsec_one", 1_000, 300),
        Err(Rejected::Malformed)
    );
    // A rotated secret: any v1 may match.
    let old = signature("whsec_old", 1_000, body);
    let both = format!("{header},v1={}", old.split("v1=").nth(1).unwrap());
    assert_eq!(verify(&both, body, "whsec_old", 1_000, 300), Ok(1_000));
}

#[test]
fn a_header_outside_the_documented_form_is_malformed_even_when_a_v1_would_match() {
    let body = br#"{"id":"evt_1","type":"threshold-crossed"}"#;
    let header = signature("whsec_one", 1_000, body);
    let tag = header.split_once(",v1=").unwrap().1.to_owned();
    let other = signature("whsec_two", 1_000, body)
        .split_once(",v1=")
        .unwrap()
        .1
        .to_owned();
    // The documented form verifies: one v1, or several with any matching.
    assert_eq!(verify(&header, body, "whsec_one", 1_000, 0), Ok(1_000));
    assert_eq!(
        verify(
            &format!("t=1000,v1={other},v1={tag}"),
            body,
            "whsec_one",
            1_000,
            300
        ),
        Ok(1_000)
    );
    let zero = signature("whsec_one", 0, body);
    assert_eq!(zero.split_once(',').unwrap().0, "t=0");
    assert_eq!(verify(&zero, body, "whsec_one", 0, 300), Ok(0));
    let upper = tag.to_uppercase();
    let malformed = [
        format!("t=1000=x,v1={tag}"),
        format!("t=1000,v1={tag}=x"),
        format!("t==1000,v1={tag}"),
        String::new(),
        "t=1000".to_owned(),
        format!("v1={tag}"),
        format!("v1={tag},t=1000"),
        format!("t=1000,t=1000,v1={tag}"),
        format!("t=1000,,v1={tag}"),
        format!("t=1000,v1={tag},"),
        format!(",t=1000,v1={tag}"),
        format!("t=1000,v1={tag},v0={tag}"),
        format!("k=1,t=1000,v1={tag}"),
        format!("t=1000,v1={tag},v1"),
        format!("t=1000,v1={tag},v1="),
        format!("t=,v1={tag}"),
        format!("T=1000,v1={tag}"),
        format!("t=1000,V1={tag}"),
        format!("t=1000, v1={tag}"),
        format!("t=1000 ,v1={tag}"),
        format!(" t=1000,v1={tag}"),
        format!("t=1000,v1={tag} "),
        format!("t=1000,v1={tag}\n"),
        format!("t = 1000,v1 = {tag}"),
        format!("t=1000;v1={tag}"),
        format!("t=+1000,v1={tag}"),
        format!("t=-1000,v1={tag}"),
        format!("t=01000,v1={tag}"),
        format!("t=1000.0,v1={tag}"),
        format!("t=1e3,v1={tag}"),
        format!("t=99999999999999999999,v1={tag}"),
        format!("t=1000,v1={}", &tag[1..]),
        format!("t=1000,v1={tag}0"),
        format!("t=1000,v1={upper}"),
        format!("t=1000,v1={upper},v1={tag}"),
        format!("t=1000,v1={tag},v1=00"),
        format!("t=1000,v1={}g", &tag[..63]),
    ];
    for bad in &malformed {
        assert_eq!(
            verify(bad, body, "whsec_one", 1_000, 300),
            Err(Rejected::Malformed),
            "{bad:?}"
        );
    }
}

#[test]
fn the_time_check_is_never_skipped() {
    let body = b"{}";
    let header = signature("whsec_one", 1_000, body);
    assert_eq!(
        verify(&header, body, "whsec_one", 1_000, -1),
        Err(Rejected::Stale),
        "a negative tolerance accepts no t"
    );
    assert_eq!(
        verify(&header, body, "whsec_one", 1_000 + 300, 300),
        Ok(1_000)
    );
    assert_eq!(
        verify(&header, body, "whsec_one", 1_000 - 301, 300),
        Err(Rejected::Stale)
    );
    // Far from t: no overflow on the way.
    let late = signature("whsec_one", i64::MAX, body);
    assert_eq!(
        verify(&late, body, "whsec_one", i64::MIN, i64::MAX),
        Err(Rejected::Stale)
    );
    assert_eq!(
        verify(&late, body, "whsec_one", -1, i64::MAX),
        Err(Rejected::Stale)
    );
    assert_eq!(verify(&late, body, "whsec_one", 0, i64::MAX), Ok(i64::MAX));
}

#[test]
fn production_takes_https_to_public_hosts_only() {
    let prod = Environment::Production;
    assert!(check("https://hooks.example.com/budget?x=1", prod).is_ok());
    assert!(check("https://hooks.example.com:8443/a", prod).is_ok());
    assert!(check("https://203.0.114.7/a", prod).is_ok());
    let code = |url: &str| check(url, prod).unwrap_err().code;
    assert_eq!(code("http://hooks.example.com/"), "insecure-webhook-url");
    assert_eq!(code("http://localhost:9000/"), "insecure-webhook-url");
    for private in [
        "https://localhost/",
        "https://127.0.0.1/",
        "https://10.1.2.3/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://printer.local/",
        "https://db.internal/",
        "https://intranet/",
    ] {
        assert_eq!(code(private), "private-webhook-url", "{private}");
    }
    for invalid in [
        "",
        "ftp://example.com/",
        "hooks.example.com",
        "https://user:pw@example.com/",
        "https://exa mple.com/",
        "https://2130706433/",
        "https://0x7f.0.0.1/",
        "https://127.000.0.1/",
        "https://example.com:0/",
        "https://example.com:99999/",
        "https://[::1/",
        "https:///path",
    ] {
        assert_eq!(code(invalid), "invalid-webhook-url", "{invalid:?}");
    }
    assert_eq!(
        code(&format!("https://example.com/{}", "a".repeat(2_100))),
        "invalid-webhook-url"
    );
}

#[test]
fn development_also_takes_http_to_localhost_and_private_targets() {
    let dev = Environment::Development;
    for ok in [
        "http://localhost:9000/hook",
        "http://127.0.0.1:9000/",
        "http://[::1]:9000/",
        "https://10.0.0.2/",
    ] {
        assert!(check(ok, dev).is_ok(), "{ok}");
    }
    assert_eq!(
        check("http://10.0.0.2/", dev).unwrap_err().code,
        "insecure-webhook-url"
    );
    assert_eq!(
        check("http://example.com/", dev).unwrap_err().code,
        "insecure-webhook-url"
    );
    assert_eq!(Environment::of_var(Some("development")), dev);
    assert_eq!(
        Environment::of_var(Some("production")),
        Environment::Production
    );
    assert_eq!(Environment::of_var(None), Environment::Production);
}

#[test]
fn retries_back_off_doubling_up_to_an_hour() {
    assert_eq!(
        (1..=5)
            .map(|a| retry::delay_seconds(10, a))
            .collect::<Vec<_>>(),
        vec![10, 20, 40, 80, 160]
    );
    assert_eq!(retry::delay_seconds(10, 30), retry::MAX_DELAY_SECONDS);
    assert_eq!(retry::delay_seconds(0, 4), 0);
    assert!(retry::delivered(204) && !retry::delivered(302) && !retry::delivered(500));
}

#[test]
fn delivery_records_count_tries_keep_dead_and_restart_on_a_resend() {
    use ai_budget::alerts::records::{self, Status, Subject};
    let db = common::sqlite::Sqlite::with_d1_schema();
    let body = r#"{"id":"evt_1","type":"threshold-crossed","threshold":80}"#;
    let s = Subject {
        port: "acme",
        event_id: "evt_1",
        endpoint: "https://h.example.com/",
        body,
    };
    db.batch(&[records::start(&s, Status::Pending, 1_000)])
        .unwrap();
    for (i, code) in [500u16, 502].iter().enumerate() {
        let rows = db.batch(&[records::attempt(&s, 2_000 + i as i64)]).unwrap();
        assert_eq!(records::attempts_of(&rows[0]), i as u32 + 1);
        db.batch(&[records::finish(
            "acme",
            "evt_1",
            s.endpoint,
            Status::Failed,
            Some(*code),
            Some("no"),
            3_000,
        )])
        .unwrap();
    }
    db.batch(&[records::dead("acme", "evt_1", s.endpoint, 4_000)])
        .unwrap();
    // A late finish of a dead delivery leaves it dead.
    db.batch(&[records::finish(
        "acme",
        "evt_1",
        s.endpoint,
        Status::Failed,
        Some(503),
        None,
        5_000,
    )])
    .unwrap();
    let listed = db.batch(&[records::recent("acme", 10)]).unwrap();
    let row = records::row_json(&listed[0][0]);
    assert_eq!(row["status"], "dead");
    assert_eq!(row["attempts"], 2);
    assert_eq!(row["responseCode"], 502);
    assert_eq!(row["threshold"], 80);
    assert_eq!(row["type"], "threshold-crossed");
    assert_eq!(row["event"]["id"], "evt_1");
    // Another port never sees it.
    assert!(db.batch(&[records::recent("other", 10)]).unwrap()[0].is_empty());
    assert!(db.batch(&[records::body_of("other", "evt_1")]).unwrap()[0].is_empty());
    // A resend starts over: pending, no tries, the same body.
    db.batch(&[records::start(&s, Status::Pending, 6_000)])
        .unwrap();
    let row = records::row_json(&db.batch(&[records::recent("acme", 10)]).unwrap()[0][0]);
    assert_eq!(
        (row["status"].as_str(), row["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
    assert_eq!(row["responseCode"], Value::Null);
    let bodies = db.batch(&[records::body_of("acme", "evt_1")]).unwrap();
    assert_eq!(bodies[0][0].text("body").as_deref(), Some(body));
}

#[test]
fn a_budget_in_dollars_is_watched_in_dollars_and_its_events_say_so() {
    let port = alerting();
    assert!(matches!(
        port.budget(
            r#"{"enabled":true,"unit":"usd","softCapUsd":0.5,"hardCapUsd":1,"period":"month","softCapTokens":10,"hardCapTokens":20}"#,
            now()
        ),
        ai_budget::gate::SaveOutcome::Saved { .. }
    ));
    port.db
        .transaction(|db| watch::set_percents(db, &[50]))
        .unwrap();
    // 10 000 tokens (past both token caps) costing $0.40: under the
    // dollar caps, so nothing is crossed.
    let priced = |cost_micros: u64, id: &str| {
        let usage = ai_budget::gate::CallUsage {
            cost_usd: Some(cost_micros),
            ..usage(10_000, 0)
        };
        let write = port.write_id();
        port.run(|g| {
            g.record(
                &usage,
                id,
                &format!("priced-{cost_micros}"),
                &write,
                now(),
                now(),
            )
        })
    };
    priced(400_000, "a");
    assert!(observe(&port, now()).is_empty());
    priced(150_000, "b");
    let events = observe(&port, now());
    assert_eq!(
        kinds(&events),
        vec![
            ("threshold-crossed".into(), "\"soft\"".into()),
            ("threshold-crossed".into(), "50".into()),
        ]
    );
    let soft = &events[0];
    assert_eq!(soft["unit"], "usd");
    assert_eq!(soft["used"].as_f64(), Some(0.55));
    assert_eq!(soft["cap"].as_f64(), Some(0.5));
    assert_eq!(events[1]["cap"].as_f64(), Some(1.0));
}

/// An instant in April 2027 (30 days): the projected threshold's tests run
/// at named instants, since a forecast depends on how far the period is.
fn april(day: u32, hour: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2027, 4, day, hour, 0, 0)
        .unwrap()
}

#[test]
fn projected_is_past_when_the_average_rate_reaches_the_hard_cap_before_the_reset() {
    let budget = Budget {
        enabled: true,
        soft_cap_tokens: 6_000,
        hard_cap_tokens: 6_000,
        period: Period::Month,
        ..Budget::default()
    };
    // Ten days in: 2,400 used runs out on the 26th; 1,900 would end at 5,700.
    let at = april(11, 0);
    assert!(Standing::of_budget(&budget, 2_400, at).is_past(Threshold::Projected));
    assert!(!Standing::of_budget(&budget, 1_900, at).is_past(Threshold::Projected));
    // At the hard cap the `hard` threshold speaks, not the forecast.
    assert!(!Standing::of_budget(&budget, 6_000, at).is_past(Threshold::Projected));
    // In the period's first hour no rate is taken.
    assert!(!Standing::of_budget(&budget, 5_000, april(1, 0)).is_past(Threshold::Projected));
    // Disabled: nothing.
    let off = Budget {
        enabled: false,
        ..budget
    };
    assert!(!Standing::of_budget(&off, 2_400, at).is_past(Threshold::Projected));
    assert_eq!(Threshold::parse("projected"), Some(Threshold::Projected));
    assert_eq!(Threshold::Projected.json(), "projected");
}

#[test]
fn the_projected_threshold_is_raised_once_per_period_with_the_forecast_and_only_when_set() {
    let port = alerting();
    let json = r#"{"enabled":true,"softCapTokens":6000,"hardCapTokens":6000,"period":"month"}"#;
    assert!(matches!(
        port.budget(json, april(1, 0)),
        ai_budget::gate::SaveOutcome::Saved { .. }
    ));
    port.record("a", 2_400, april(10, 0), april(10, 0));
    // Off until set: the same standing raises nothing.
    assert!(observe(&port, april(11, 0)).is_empty());

    port.db
        .transaction(|db| watch::set_projected(db, true))
        .unwrap();
    let events = observe(&port, april(11, 0));
    assert_eq!(
        kinds(&events),
        vec![("threshold-crossed".into(), "\"projected\"".into())]
    );
    let e = &events[0];
    assert_eq!(e["used"], 2_400);
    assert_eq!(e["cap"], 6_000);
    assert_eq!(e["projectedUsed"], 7_200);
    assert_eq!(e["runOutAt"], "2027-04-26T00:00:00.000Z");

    // Once per period: a slower average later in the month (2,400 over 20
    // days ends at 3,600) does not resolve it, and nothing is raised again.
    assert!(observe(&port, april(21, 0)).is_empty());
    port.record("b", 100, april(21, 0), april(21, 0));
    assert!(observe(&port, april(21, 1)).is_empty());

    // A new period resolves it.
    let may = april(30, 0) + Duration::days(1) + Duration::hours(12);
    assert_eq!(
        kinds(&observe(&port, may)),
        vec![("threshold-resolved".into(), "\"projected\"".into())]
    );

    // Turned off: forgotten without an event.
    port.record("c", 5_000, may, may);
    let events = observe(&port, may + Duration::hours(1));
    assert!(kinds(&events).contains(&("threshold-crossed".into(), "\"projected\"".into())));
    port.db
        .transaction(|db| watch::set_projected(db, false))
        .unwrap();
    assert!(observe(&port, may + Duration::hours(2)).is_empty());
    assert!(!port.db.transaction(watch::projected).unwrap());
}
