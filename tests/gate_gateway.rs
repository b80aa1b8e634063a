//! A port's gateway settings in its gate: saved whole over `If-Match`,
//! bound to the next hold (a hold prepared under older settings is sent
//! back with the new ones), and the actions at the caps judged in the
//! hold's own turn: a downgrade, a refusal at the soft cap, and a throttle
//! that lets exactly n calls a minute through.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;

use ai_budget::actions::{Acted, ActionTaken, Cap, CapAction, CapActions};
use ai_budget::gate::gateway::*;
use ai_budget::gate::*;
use ai_budget::llm::port_settings::PortSettings;
use chrono::{DateTime, Duration, Utc};
use common::port::*;

fn gateway_hold(port: &Port, estimate: u64, actions: &CapActions, seen: i64) -> GatewayHold {
    GatewayHold {
        hold: port.hold_request(estimate, None),
        model: "gpt-4.1".into(),
        seen: Some(seen),
        actions: actions.clone(),
        downgraded: false,
    }
}

fn reserve(port: &Port, req: &GatewayHold, when: DateTime<Utc>) -> GatewayReserveOutcome {
    port.run(|g| g.gateway_reserve(req, when))
}

fn save(port: &Port, settings: &PortSettings, if_match: Option<&str>) -> GatewaySaveOutcome {
    port.run(|g| g.save_gateway_settings(settings, if_match, "admin", now()))
}

#[test]
fn settings_are_saved_whole_over_if_match_and_versions_grow() {
    let port = Port::new();
    let none = port.run(|g| g.gateway_settings());
    assert_eq!((none.version, none.updated_at.clone()), (0, None));
    let first = PortSettings {
        strict: Some(false),
        ..PortSettings::default()
    };
    let GatewaySaveOutcome::Saved { saved, .. } = save(&port, &first, None) else {
        panic!("saved")
    };
    assert_eq!(saved.settings, first);
    assert_eq!(saved.updated_by.as_deref(), Some("admin"));
    let etag = format!("\"{}\"", saved.updated_at.clone().unwrap());
    let second = PortSettings {
        default_max_tokens: Some(64),
        ..PortSettings::default()
    };
    // The same instant still makes a newer version.
    let GatewaySaveOutcome::Saved { saved: next, .. } = save(&port, &second, Some(&etag)) else {
        panic!("saved over its ETag")
    };
    assert_eq!(next.version, saved.version + 1);
    assert_eq!(next.settings, second, "a save replaces the settings whole");
    // The old ETag names a version no longer in force: nothing saved.
    let GatewaySaveOutcome::PreconditionFailed { saved: current } =
        save(&port, &first, Some(&etag))
    else {
        panic!("412")
    };
    assert_eq!(current, next);
    assert_eq!(port.run(|g| g.gateway_settings()), next);
}

#[test]
fn a_hold_prepared_under_other_settings_gets_the_new_ones_and_holds_nothing() {
    let port = Port::new();
    capped(&port, 1_000, 2_000, "day");
    let actions = CapActions::default();
    let GatewayReserveOutcome::Reserve { version: 0, .. } =
        reserve(&port, &gateway_hold(&port, 10, &actions, 0), now())
    else {
        panic!("held under no saved settings")
    };
    let GatewaySaveOutcome::Saved { saved, .. } = save(&port, &PortSettings::default(), None)
    else {
        panic!("saved")
    };
    let stale = reserve(&port, &gateway_hold(&port, 10, &actions, 0), now());
    assert_eq!(
        stale,
        GatewayReserveOutcome::Settings {
            saved: saved.clone()
        }
    );
    assert_eq!(port.load(ai_budget::Period::Day, now()).held_tokens, 10);
    let GatewayReserveOutcome::Reserve {
        outcome: ReserveOutcome::Held { .. },
        ..
    } = reserve(
        &port,
        &gateway_hold(&port, 10, &actions, saved.version),
        now(),
    )
    else {
        panic!("held under the settings in force")
    };
}

#[test]
fn above_the_soft_cap_a_downgrade_asks_for_the_cheaper_model_and_holds_nothing() {
    let port = Port::new();
    capped(&port, 100, 1_000, "day");
    port.held(150, now());
    let actions = CapActions {
        on_soft_cap: Some(CapAction::Downgrade {
            models: BTreeMap::from([("gpt-4.1".to_owned(), "gpt-4.1-mini".to_owned())]),
        }),
        ..CapActions::default()
    };
    let req = gateway_hold(&port, 10, &actions, 0);
    assert_eq!(
        reserve(&port, &req, now()),
        GatewayReserveOutcome::Downgrade {
            model: "gpt-4.1-mini".into(),
            cap: Cap::Soft
        }
    );
    assert_eq!(port.load(ai_budget::Period::Day, now()).held_tokens, 150);
    let again = GatewayHold {
        model: "gpt-4.1-mini".into(),
        downgraded: true,
        ..req
    };
    let GatewayReserveOutcome::Reserve {
        outcome: ReserveOutcome::Held { .. },
        acted,
        ..
    } = reserve(&port, &again, now())
    else {
        panic!("the cheaper call is held")
    };
    assert_eq!(
        acted,
        Some(Acted {
            cap: Cap::Soft,
            action: ActionTaken::Passed
        })
    );
}

#[test]
fn at_the_hard_cap_a_downgrade_that_still_does_not_fit_is_refused_naming_the_hard_cap() {
    let port = Port::new();
    capped(&port, 100, 200, "day");
    port.held(150, now());
    let actions = CapActions {
        on_hard_cap: Some(CapAction::Downgrade {
            models: BTreeMap::from([("gpt-*".to_owned(), "gpt-4.1-nano".to_owned())]),
        }),
        ..CapActions::default()
    };
    let req = gateway_hold(&port, 80, &actions, 0);
    assert!(matches!(
        reserve(&port, &req, now()),
        GatewayReserveOutcome::Downgrade { cap: Cap::Hard, .. }
    ));
    let again = GatewayHold {
        model: "gpt-4.1-nano".into(),
        downgraded: true,
        ..req
    };
    let GatewayReserveOutcome::Reserve {
        outcome: ReserveOutcome::Refused { .. },
        acted,
        ..
    } = reserve(&port, &again, now())
    else {
        panic!("still refused")
    };
    assert_eq!(
        acted,
        Some(Acted {
            cap: Cap::Hard,
            action: ActionTaken::Refused
        })
    );
}

#[test]
fn refuse_at_the_soft_cap_refuses_only_above_it() {
    let port = Port::new();
    capped(&port, 100, 1_000, "day");
    let actions = CapActions {
        on_soft_cap: Some(CapAction::Refuse),
        ..CapActions::default()
    };
    let GatewayReserveOutcome::Reserve {
        outcome: ReserveOutcome::Held { .. },
        acted: None,
        ..
    } = reserve(&port, &gateway_hold(&port, 150, &actions, 0), now())
    else {
        panic!("under the soft cap it is held")
    };
    assert_eq!(
        reserve(&port, &gateway_hold(&port, 1, &actions, 0), now()),
        GatewayReserveOutcome::Refused { cap: Cap::Soft }
    );
}

#[test]
fn a_throttle_lets_exactly_n_calls_a_minute_through_above_the_soft_cap() {
    let port = Port::new();
    capped(&port, 100, 1_000_000, "month");
    port.held(150, now());
    let actions = CapActions {
        on_soft_cap: Some(CapAction::Throttle {
            calls_per_minute: 7,
        }),
        ..CapActions::default()
    };
    let minute_start = now() - Duration::milliseconds(now().timestamp_millis().rem_euclid(60_000));
    let at = minute_start + Duration::seconds(20);
    let outcomes: Vec<_> = (0..50)
        .map(|_| reserve(&port, &gateway_hold(&port, 1, &actions, 0), at))
        .collect();
    let held = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                GatewayReserveOutcome::Reserve {
                    outcome: ReserveOutcome::Held { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(held, 7);
    assert!(outcomes[7..]
        .iter()
        .all(|o| *o == GatewayReserveOutcome::Throttled { retry_after: 40 }));
    // The next minute has its own slots.
    let next = minute_start + Duration::seconds(60);
    let again: Vec<_> = (0..10)
        .map(|_| reserve(&port, &gateway_hold(&port, 1, &actions, 0), next))
        .collect();
    let held = again
        .iter()
        .filter(|o| {
            matches!(
                o,
                GatewayReserveOutcome::Reserve {
                    outcome: ReserveOutcome::Held { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(held, 7);
    // A hold the budget refuses takes no slot.
    let refused_port = Port::new();
    capped(&refused_port, 10, 100, "day");
    refused_port.held(15, now());
    let big = gateway_hold(&refused_port, 1_000, &actions, 0);
    assert!(matches!(
        reserve(&refused_port, &big, at),
        GatewayReserveOutcome::Reserve {
            outcome: ReserveOutcome::Refused { .. },
            ..
        }
    ));
    let passed = (0..10)
        .filter(|_| {
            matches!(
                reserve(
                    &refused_port,
                    &gateway_hold(&refused_port, 1, &actions, 0),
                    at
                ),
                GatewayReserveOutcome::Reserve {
                    outcome: ReserveOutcome::Held { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(passed, 7, "the refused call took none of the 7 slots");
}

#[test]
fn without_actions_the_soft_cap_passes_silently_and_the_hard_cap_refusal_names_itself() {
    let port = Port::new();
    capped(&port, 100, 200, "day");
    port.held(150, now());
    let none = CapActions::default();
    let GatewayReserveOutcome::Reserve {
        outcome: ReserveOutcome::Held { .. },
        acted: None,
        ..
    } = reserve(&port, &gateway_hold(&port, 10, &none, 0), now())
    else {
        panic!("held above the soft cap, no action named")
    };
    let GatewayReserveOutcome::Reserve {
        outcome: ReserveOutcome::Refused { .. },
        acted,
        ..
    } = reserve(&port, &gateway_hold(&port, 100, &none, 0), now())
    else {
        panic!("refused past the hard cap")
    };
    assert_eq!(
        acted,
        Some(Acted {
            cap: Cap::Hard,
            action: ActionTaken::Refused
        })
    );
}
