//! A group's alerts, as for a port's: its soft and hard caps' crossings are
//! judged on what its children consumed in its period (not on what they
//! hold or what is lent), each raises one event per period, a crossing no
//! longer standing (a raised cap, a new period) resolves, and an event
//! stays in the outbox until the queue takes it.

mod common;

use ai_budget::allowance::{Report, DEFAULT_SIZING};
use ai_budget::group::GroupState;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

fn now() -> DateTime<Utc> {
    common::test_now(Utc.with_ymd_and_hms(2026, 3, 11, 12, 0, 0).unwrap())
}

/// A group `org` with a soft cap of 800 and a hard cap of 1000 tokens a day.
fn org() -> GroupState {
    let mut group = GroupState::default();
    let budget =
        json!({ "enabled": true, "softCapTokens": 800, "hardCapTokens": 1000, "period": "day" });
    group.save("org", &budget, "admin", now()).unwrap();
    group
}

/// Port `a` reports `consumed` (a running total) with report number `seq`.
fn consume(group: &mut GroupState, seq: u64, consumed: u64, at: DateTime<Utc>) {
    let report = Report {
        seq,
        consumed,
        ..Report::default()
    };
    group.report("port:a", &report, &DEFAULT_SIZING, at);
}

fn bodies(group: &GroupState) -> Vec<Value> {
    group
        .alerts
        .outbox
        .iter()
        .map(|e| serde_json::from_str(&e.body).unwrap())
        .collect()
}

#[test]
fn each_cap_crossed_raises_one_event_per_period_naming_the_group() {
    let mut group = org();
    consume(&mut group, 1, 700, now());
    assert_eq!(group.observe(now()), 0, "under the soft cap");
    consume(&mut group, 2, 850, now());
    assert_eq!(group.observe(now()), 1, "the soft cap crossed");
    assert_eq!(
        group.observe(now()),
        0,
        "raised once, however often observed"
    );
    consume(&mut group, 3, 900, now());
    assert_eq!(
        group.observe(now()),
        0,
        "still past the soft cap: nothing new"
    );
    consume(&mut group, 4, 1000, now());
    assert_eq!(group.observe(now()), 1, "the hard cap reached");
    let events = bodies(&group);
    let kinds: Vec<(&str, &Value)> = events
        .iter()
        .map(|b| (b["type"].as_str().unwrap(), &b["threshold"]))
        .collect();
    assert_eq!(
        kinds,
        [
            ("threshold-crossed", &json!("soft")),
            ("threshold-crossed", &json!("hard"))
        ]
    );
    assert_eq!(events[0]["group"], "org");
    assert!(
        events[0].get("port").is_none(),
        "a group's event names no port"
    );
    assert_eq!(events[0]["used"], 850);
    assert_eq!(events[0]["cap"], 800);
    assert_eq!(events[1]["cap"], 1000);
    assert_ne!(group.alerts.outbox[0].id, group.alerts.outbox[1].id);
    let status = group.status(now());
    assert_eq!(status["overSoftCap"], true);
    assert_eq!(status["alertsRaised"], json!(["soft", "hard"]));
}

#[test]
fn what_is_held_or_lent_raises_nothing() {
    let mut group = org();
    let report = Report {
        seq: 1,
        need: 950,
        held: 950,
        ..Report::default()
    };
    group.report("port:a", &report, &DEFAULT_SIZING, now());
    assert!(group.lender.lent() >= 950, "the need was lent");
    assert_eq!(group.observe(now()), 0);
    assert_eq!(group.status(now())["overSoftCap"], false);
}

#[test]
fn a_raised_cap_or_a_new_period_resolves_and_the_next_crossing_raises_again() {
    let mut group = org();
    consume(&mut group, 1, 900, now());
    assert_eq!(group.observe(now()), 1);
    let raised = json!({ "softCapTokens": 950, "hardCapTokens": 2000 });
    group.save("org", &raised, "admin", now()).unwrap();
    assert_eq!(group.observe(now()), 1, "the soft crossing resolved");
    let last = bodies(&group).pop().unwrap();
    assert_eq!(
        (last["type"].as_str(), &last["threshold"]),
        (Some("threshold-resolved"), &json!("soft"))
    );
    consume(&mut group, 2, 960, now());
    assert_eq!(
        group.observe(now()),
        1,
        "crossed again above the new soft cap"
    );
    let next_day = group.budget().window(now()).end + Duration::hours(1);
    assert_eq!(group.observe(next_day), 1, "a new period resolves it");
    consume(&mut group, 3, 1_920, next_day);
    assert_eq!(
        group.observe(next_day),
        1,
        "and the new period's crossing raises"
    );
    assert_eq!(group.alerts.events, 5);
}

#[test]
fn an_event_stays_in_the_outbox_until_the_queue_takes_it() {
    let mut group = org();
    consume(&mut group, 1, 1_000, now());
    assert_eq!(group.observe(now()), 2);
    let first = group.alerts.outbox[0].id.clone();
    group.alerts_sent(std::slice::from_ref(&first));
    assert_eq!(group.alerts.outbox.len(), 1);
    assert_ne!(group.alerts.outbox[0].id, first);
    let state: GroupState = serde_json::from_str(&serde_json::to_string(&group).unwrap()).unwrap();
    assert_eq!(state.alerts, group.alerts, "kept across a restart");
}

#[test]
fn a_groups_grants_name_it_while_over_its_soft_cap_and_pass_on_an_ancestors_flag() {
    use ai_budget::allowance::{Borrower, Grant};
    let mut group = org();
    let sent = |group: &GroupState| group.stamped(Grant::default(), now()).over_soft;
    assert_eq!(sent(&group), None, "under its soft cap");
    consume(&mut group, 1, 850, now());
    assert_eq!(sent(&group).as_deref(), Some("org"), "over it: named");
    // The next day the group is under it again.
    assert_eq!(
        group
            .stamped(Grant::default(), now() + Duration::days(1))
            .over_soft,
        None
    );
    // A group under its own soft cap passes on what its parent's last grant said.
    let mut child = GroupState::default();
    let budget = json!({ "enabled": true, "softCapTokens": 800, "hardCapTokens": 1000, "period": "day", "parent": "org" });
    child.save("team", &budget, "admin", now()).unwrap();
    let from_parent = Grant {
        seq: 1,
        over_soft: Some("org".into()),
        ..Grant::default()
    };
    child.on_grant(&from_parent, now());
    assert_eq!(sent(&child).as_deref(), Some("org"));
    // A port (a borrower) keeps the newest grant's word, not an older one's.
    let mut port = Borrower::default();
    port.on_grant(&from_parent, 0, 0);
    assert_eq!(port.over_soft.as_deref(), Some("org"));
    let older = Grant {
        seq: 1,
        ..Grant::default()
    };
    port.on_grant(&older, 0, 0);
    assert_eq!(
        port.over_soft.as_deref(),
        Some("org"),
        "an older grant changes nothing"
    );
    let newer = Grant {
        seq: 2,
        ..Grant::default()
    };
    port.on_grant(&newer, 0, 0);
    assert_eq!(port.over_soft, None);
}

#[test]
fn a_groups_percents_are_watched_as_its_caps_are_once_per_period() {
    let mut group = org();
    group.alerts.percents = vec![50, 90];
    consume(&mut group, 1, 400, now());
    assert_eq!(group.observe(now()), 0, "under 50 % of 1000");
    consume(&mut group, 2, 500, now());
    assert_eq!(group.observe(now()), 1, "50 % reached");
    consume(&mut group, 3, 950, now());
    assert_eq!(group.observe(now()), 2, "the soft cap (800) and 90 %");
    assert_eq!(group.observe(now()), 0, "once");
    let thresholds: Vec<String> = bodies(&group)
        .iter()
        .map(|b| b["threshold"].to_string())
        .collect();
    assert_eq!(thresholds, ["50", "\"soft\"", "90"]);
}
