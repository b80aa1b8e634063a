//! The port gate in a port's own calendar: refusals reset at local
//! midnight, holds settle into local periods across clock changes, late
//! records stay in the local day they happened in, and a calendar change
//! keeps the current period and hands over at its end.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::gate::*;
use ai_budget::Period;
use chrono::{DateTime, Utc};
use common::port::*;

fn at(iso: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .with_timezone(&Utc)
}

fn saved(port: &Port, json: &str, when: DateTime<Utc>) {
    let outcome = port.budget(json, when);
    assert!(matches!(outcome, SaveOutcome::Saved { .. }), "{outcome:?}");
}

const LA_DAY: &str = r#"{"enabled":true,"softCapTokens":100,"hardCapTokens":100,"period":"day","timeZone":"America/Los_Angeles"}"#;

#[test]
fn a_port_in_los_angeles_refuses_until_local_midnight_then_grants() {
    let port = Port::new();
    saved(&port, LA_DAY, at("2027-03-14T08:00:00Z"));
    // 2027-03-14 is a 23-hour day there; 23:59 PDT is 06:59Z the next day.
    port.record(
        "used",
        100,
        at("2027-03-14T20:00:00Z"),
        at("2027-03-14T20:00:00Z"),
    );
    let ReserveOutcome::Refused { refusal, .. } = port.reserve(1, at("2027-03-15T06:59:00Z"))
    else {
        panic!("refused at 23:59 local");
    };
    assert_eq!(
        refusal.resets_at,
        at("2027-03-15T07:00:00Z").timestamp_millis()
    );
    assert_eq!(
        refusal.period_start,
        at("2027-03-14T08:00:00Z").timestamp_millis()
    );
    // Midnight local: the day is new.
    assert!(matches!(
        port.reserve(100, at("2027-03-15T07:00:00Z")),
        ReserveOutcome::Held { .. }
    ));
}

#[test]
fn a_hold_taken_before_clocks_go_back_commits_into_the_local_day_after_it() {
    let port = Port::new();
    saved(&port, LA_DAY, at("2027-11-07T00:00:00Z"));
    // 01:55 PDT, then clocks go back at 02:00 PDT (09:00Z); commit at 01:05 PST.
    let hold = port.held(50, at("2027-11-07T08:55:00Z"));
    assert!(matches!(
        port.commit(&hold.id, 30, 10, at("2027-11-07T09:05:00Z")),
        CommitOutcome::Committed { .. }
    ));
    // Still 7 November at 23:30 PST (07:30Z the next UTC day): counted.
    assert_eq!(
        port.load(Period::Day, at("2027-11-08T07:30:00Z"))
            .used_tokens,
        40
    );
    // 8 November starts at 08:00Z: nothing yet.
    assert_eq!(
        port.load(Period::Day, at("2027-11-08T08:00:00Z"))
            .used_tokens,
        0
    );
}

#[test]
fn a_late_record_stays_in_the_local_day_it_happened_in() {
    let port = Port::new();
    saved(&port, LA_DAY, at("2027-06-01T00:00:00Z"));
    // Happened at 23:50 PDT on 1 June (06:50Z on 2 June), recorded at 00:10.
    port.record(
        "late",
        25,
        at("2027-06-02T06:50:00Z"),
        at("2027-06-02T07:10:00Z"),
    );
    assert_eq!(
        port.load(Period::Day, at("2027-06-02T06:59:00Z"))
            .used_tokens,
        25
    );
    assert_eq!(
        port.load(Period::Day, at("2027-06-02T07:10:00Z"))
            .used_tokens,
        0
    );
}

#[test]
fn a_calendar_change_keeps_the_period_counted_and_hands_over_at_its_end() {
    let port = Port::new();
    capped(&port, 1_000, 1_000, "day");
    port.record("before", 60, at(&now_iso()), now());
    let day = Period::Day.window(now());
    saved(&port, r#"{"timeZone":"Asia/Tokyo"}"#, now());
    // The current UTC day keeps its usage and its end.
    let load = port.load(Period::Day, now());
    assert_eq!(load.used_tokens, 60);
    let ReserveOutcome::Held { .. } = port.reserve(1, now()) else {
        panic!("held");
    };
    let stored = port.run(|g| g.budget());
    assert_eq!(stored.budget.window(now()).end, day.end);
    // From the UTC reset: a first period to the next Tokyo midnight
    // (15:00Z), then Tokyo days; nothing counted twice.
    let first = stored.budget.window(day.end);
    assert_eq!(first.start, day.end);
    assert_eq!(first.end.format("%H:%M").to_string(), "15:00");
    assert_eq!(port.load(Period::Day, day.end).used_tokens, 0);
}

fn now_iso() -> String {
    ai_budget::time::iso(now())
}
