//! A port's gateway settings in its gate: saved whole over `If-Match`,
//! bound to the next hold (a hold prepared under older settings is sent
//! back with the new ones), and the actions at the caps judged in the
//! hold's own turn: a downgrade, a refusal at the soft cap, and a throttle
//! that lets exactly n calls a minute through; a feature's own actions
//! when its cap is the one crossed, its throttle counting its own minutes.
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
        feature_actions: CapActions::default(),
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
            cap: Cap::Soft,
            feature: false
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
            action: ActionTaken::Passed,
            feature: false
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
            action: ActionTaken::Refused,
            feature: false
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
        GatewayReserveOutcome::Refused {
            cap: Cap::Soft,
            feature: false
        }
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
    assert!(outcomes[7..].iter().all(|o| *o
        == GatewayReserveOutcome::Throttled {
            retry_after: 40,
            feature: false
        }));
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
            action: ActionTaken::Refused,
            feature: false
        })
    );
}

/// A gateway hold of `estimate` tokens for `feature`, under the port's
/// `actions` and the feature's own.
fn feature_hold(
    port: &Port,
    feature: &str,
    estimate: u64,
    actions: &CapActions,
    feature_actions: &CapActions,
) -> GatewayHold {
    let mut req = gateway_hold(port, estimate, actions, 0);
    req.hold.feature = feature.into();
    req.feature_actions = feature_actions.clone();
    req
}

fn held_acted(outcome: &GatewayReserveOutcome) -> Option<Option<Acted>> {
    match outcome {
        GatewayReserveOutcome::Reserve {
            outcome: ReserveOutcome::Held { .. },
            acted,
            ..
        } => Some(*acted),
        _ => None,
    }
}

fn throttle(n: u64) -> CapActions {
    CapActions {
        on_soft_cap: Some(CapAction::Throttle {
            calls_per_minute: n,
        }),
        ..CapActions::default()
    }
}

#[test]
fn a_features_downgrade_judges_its_calls_above_its_cap_while_the_port_throttles_its_own() {
    let port = port_with_a_feature_cap();
    let port_actions = throttle(1);
    let chat = CapActions {
        on_soft_cap: Some(CapAction::Downgrade {
            models: BTreeMap::from([("gpt-4.1".to_owned(), "gpt-4.1-mini".to_owned())]),
        }),
        ..CapActions::default()
    };
    // Under both caps: nothing acts.
    let first = reserve(
        &port,
        &feature_hold(&port, "chat", 150, &port_actions, &chat),
        now(),
    );
    assert_eq!(held_acted(&first), Some(None));
    // `chat` is above its soft cap, the port under its own: chat's action.
    let req = feature_hold(&port, "chat", 10, &port_actions, &chat);
    assert_eq!(
        reserve(&port, &req, now()),
        GatewayReserveOutcome::Downgrade {
            model: "gpt-4.1-mini".into(),
            cap: Cap::Soft,
            feature: true
        }
    );
    let again = GatewayHold {
        model: "gpt-4.1-mini".into(),
        downgraded: true,
        ..req
    };
    assert_eq!(
        held_acted(&reserve(&port, &again, now())),
        Some(Some(Acted {
            cap: Cap::Soft,
            action: ActionTaken::Passed,
            feature: true
        })),
        "the cheaper call is held, the feature's cap named"
    );
    // Another feature of the port has no cap of its own: nothing acts.
    let search = feature_hold(&port, "search", 10, &port_actions, &CapActions::default());
    assert_eq!(held_acted(&reserve(&port, &search, now())), Some(None));
    // The port above its soft cap too: the port's cap is crossed as far
    // as chat's, and the port's throttle judges chat's calls.
    assert!(held_acted(&reserve(
        &port,
        &feature_hold(&port, "search", 900, &port_actions, &CapActions::default()),
        now()
    ))
    .is_some());
    let passed = reserve(
        &port,
        &feature_hold(&port, "chat", 10, &port_actions, &chat),
        now(),
    );
    assert_eq!(
        held_acted(&passed),
        Some(Some(Acted {
            cap: Cap::Soft,
            action: ActionTaken::Passed,
            feature: false
        }))
    );
    assert!(matches!(
        reserve(
            &port,
            &feature_hold(&port, "chat", 10, &port_actions, &chat),
            now()
        ),
        GatewayReserveOutcome::Throttled { feature: false, .. }
    ));
}

#[test]
fn a_features_throttle_counts_its_own_minutes_apart_from_the_ports() {
    let port = port_with_a_feature_cap();
    let port_actions = throttle(5);
    let chat = throttle(2);
    let minute_start = now() - Duration::milliseconds(now().timestamp_millis().rem_euclid(60_000));
    let at = minute_start + Duration::seconds(45);
    assert!(held_acted(&reserve(
        &port,
        &feature_hold(&port, "chat", 150, &port_actions, &chat),
        at
    ))
    .is_some());
    // Above chat's soft cap, under the port's: chat's 2 a minute.
    let outcomes: Vec<_> = (0..6)
        .map(|_| {
            reserve(
                &port,
                &feature_hold(&port, "chat", 1, &port_actions, &chat),
                at,
            )
        })
        .collect();
    let passed = outcomes.iter().filter(|o| held_acted(o).is_some()).count();
    assert_eq!(passed, 2);
    assert!(outcomes[2..].iter().all(|o| *o
        == GatewayReserveOutcome::Throttled {
            retry_after: 15,
            feature: true
        }));
    // The port above its soft cap: its own throttle judges, its minute
    // untouched by chat's 2 calls: 5 more pass.
    assert!(held_acted(&reserve(
        &port,
        &feature_hold(
            &port,
            "search",
            900,
            &CapActions::default(),
            &CapActions::default()
        ),
        at
    ))
    .is_some());
    let passed = (0..8)
        .filter(|_| {
            held_acted(&reserve(
                &port,
                &feature_hold(&port, "chat", 1, &port_actions, &chat),
                at,
            ))
            .is_some()
        })
        .count();
    assert_eq!(passed, 5);
    // The next minute, the port still above its soft cap: the port's 5.
    let next = minute_start + Duration::seconds(61);
    let passed = (0..8)
        .filter(|_| {
            held_acted(&reserve(
                &port,
                &feature_hold(&port, "chat", 1, &port_actions, &chat),
                next,
            ))
            .is_some()
        })
        .count();
    assert_eq!(passed, 5);
}

#[test]
fn past_a_features_hard_cap_its_downgrade_then_its_refusal_name_the_features_cap() {
    let port = port_with_a_feature_cap();
    let chat = CapActions {
        on_hard_cap: Some(CapAction::Downgrade {
            models: BTreeMap::from([("gpt-*".to_owned(), "gpt-4.1-nano".to_owned())]),
        }),
        on_soft_cap: Some(CapAction::Refuse),
    };
    let none = CapActions::default();
    port.held(950, now());
    // 950 of chat's 1000 held: 80 more would not fit chat's hard cap (the
    // port's 10000 are far).
    let req = feature_hold(&port, "chat", 80, &none, &chat);
    assert_eq!(
        reserve(&port, &req, now()),
        GatewayReserveOutcome::Downgrade {
            model: "gpt-4.1-nano".into(),
            cap: Cap::Hard,
            feature: true
        }
    );
    let again = GatewayHold {
        model: "gpt-4.1-nano".into(),
        downgraded: true,
        ..req
    };
    let GatewayReserveOutcome::Reserve {
        outcome: ReserveOutcome::Refused { refusal, .. },
        acted,
        ..
    } = reserve(&port, &again, now())
    else {
        panic!("still refused by chat's cap")
    };
    assert_eq!(
        (refusal.scope.as_str(), refusal.scope_id.as_deref()),
        ("feature", Some("chat"))
    );
    assert_eq!(
        acted,
        Some(Acted {
            cap: Cap::Hard,
            action: ActionTaken::Refused,
            feature: true
        })
    );
    // A call that fits chat's hard cap but is above its soft one: chat's
    // refusal at its soft cap, nothing held.
    assert_eq!(
        reserve(&port, &feature_hold(&port, "chat", 10, &none, &chat), now()),
        GatewayReserveOutcome::Refused {
            cap: Cap::Soft,
            feature: true
        }
    );
    assert_eq!(port.load(ai_budget::Period::Day, now()).held_tokens, 950);
}

#[test]
fn a_throttle_stays_exact_for_holds_that_must_ask_the_ports_group_first() {
    let port = Port::new();
    capped(&port, 100, 1_000_000, "month");
    port.held(150, now());
    // Under a group, with no allowance yet: every hold is short of it.
    let _ = port.budget(r#"{"parent":"org"}"#, now());
    let actions = throttle(2);
    let minute_start = now() - Duration::milliseconds(now().timestamp_millis().rem_euclid(60_000));
    let at = minute_start + Duration::seconds(20);
    let slot_of = |o: &GatewayReserveOutcome| match o {
        GatewayReserveOutcome::Reserve {
            outcome: ReserveOutcome::Short { .. },
            slot,
            ..
        } => slot.clone(),
        other => panic!("a hold short of its allowance, not {other:?}"),
    };
    // Two holds take the minute's two slots while their group is asked.
    let first = slot_of(&reserve(&port, &gateway_hold(&port, 1, &actions, 0), at))
        .expect("a slot taken while the group is asked");
    let second = slot_of(&reserve(&port, &gateway_hold(&port, 1, &actions, 0), at));
    assert!(second.is_some());
    assert_eq!(first.feature, None, "the port's throttle");
    // A third is throttled meanwhile: no more than 2 can pass.
    assert!(matches!(
        reserve(&port, &gateway_hold(&port, 1, &actions, 0), at),
        GatewayReserveOutcome::Throttled { .. }
    ));
    // The group refused the first: its slot comes back for the next call.
    port.run(|g| g.return_throttle_slot(&first));
    assert!(slot_of(&reserve(&port, &gateway_hold(&port, 1, &actions, 0), at)).is_some());
    assert!(matches!(
        reserve(&port, &gateway_hold(&port, 1, &actions, 0), at),
        GatewayReserveOutcome::Throttled { .. }
    ));
}
