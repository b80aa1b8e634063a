//! Caps inside a port: which apply to a call, one decision over all of
//! them (the port first, each by the core's rule), and the budget fields
//! that set them, merged and validated.

use ai_budget::caps::{decide_all, Scope, SubCap, SubCaps, MAX_FEATURE_CAPS, MAX_USER_CAPS};
use ai_budget::{Budget, ErrorCode, Period, RefusalReason};
use serde_json::json;

fn port(hard: u64) -> Budget {
    Budget {
        enabled: true,
        soft_cap_tokens: hard / 2,
        hard_cap_tokens: hard,
        period: Period::Day,
        ..Budget::default()
    }
}

fn caps(update: serde_json::Value) -> SubCaps {
    SubCaps::default()
        .merge(update.as_object().unwrap())
        .unwrap()
}

#[test]
fn a_call_is_judged_by_its_feature_and_its_user_the_default_or_their_own() {
    let c = caps(json!({
        "featureCaps": {"chat": {"hardCap": 500}},
        "userCap": {"softCap": 50, "hardCap": 100},
        "userCaps": {"vip": {"hardCap": 1000}},
    }));
    let scopes = |f: &str, u: Option<&str>| {
        c.applicable(f, u)
            .into_iter()
            .map(|(s, cap)| (s, cap.hard_cap))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        scopes("chat", Some("ann")),
        [
            (Scope::Feature("chat".into()), 500),
            (Scope::User("ann".into()), 100)
        ]
    );
    assert_eq!(
        scopes("ocr", Some("vip")),
        [(Scope::User("vip".into()), 1000)]
    );
    assert_eq!(scopes("ocr", None), []);
}

#[test]
fn the_first_cap_that_refuses_decides_and_says_which_it_is() {
    let user = SubCap {
        soft_cap: None,
        hard_cap: 100,
    };
    let feature = SubCap {
        soft_cap: None,
        hard_cap: 500,
    };
    let caps = [
        (Scope::Feature("chat".into()), feature, 450),
        (Scope::User("ann".into()), user, 90),
    ];
    assert_eq!(decide_all(&port(10_000), 1_000, &caps, 10), Ok(()));
    assert_eq!(
        decide_all(&port(10_000), 1_000, &caps, 11),
        Err((
            Scope::User("ann".into()),
            RefusalReason::EstimatedExceedsCap,
            90,
            100
        ))
    );
    assert_eq!(
        decide_all(&port(10_000), 1_000, &caps, 60),
        Err((
            Scope::Feature("chat".into()),
            RefusalReason::EstimatedExceedsCap,
            450,
            500
        ))
    );
    assert_eq!(
        decide_all(&port(1_000), 1_000, &caps, 0),
        Err((Scope::Port, RefusalReason::HardCapExceeded, 1_000, 1_000)),
        "the port first"
    );
    let disabled = Budget {
        enabled: false,
        ..port(10)
    };
    assert_eq!(
        decide_all(&disabled, 1_000, &caps, 1_000),
        Ok(()),
        "a disabled budget enforces no cap"
    );
}

#[test]
fn null_removes_a_cap_and_missing_keeps_it() {
    let c = caps(
        json!({"featureCaps": {"chat": {"hardCap": 5}, "ocr": {"hardCap": 6}}, "userCap": {"hardCap": 7}}),
    );
    let next = c
        .merge(json!({"featureCaps": {"chat": null}}).as_object().unwrap())
        .unwrap();
    assert_eq!(next.features.keys().collect::<Vec<_>>(), ["ocr"]);
    assert_eq!(
        next.user_default, c.user_default,
        "a missing field keeps its value"
    );
    let cleared = next
        .merge(
            json!({"featureCaps": null, "userCap": null})
                .as_object()
                .unwrap(),
        )
        .unwrap();
    assert!(cleared.is_empty());
}

#[test]
fn bad_caps_are_refused_with_a_code_and_the_field() {
    for (update, code, field) in [
        (
            json!({"featureCaps": {"chat": {"hardCap": -1}}}),
            ErrorCode::NegativeTokens,
            "featureCaps.chat.hardCap",
        ),
        (
            json!({"featureCaps": {"chat": {"hardCap": 1.5}}}),
            ErrorCode::FractionalTokens,
            "featureCaps.chat.hardCap",
        ),
        (
            json!({"featureCaps": {"chat": {"softCap": 10}}}),
            ErrorCode::MissingField,
            "featureCaps.chat.hardCap",
        ),
        (
            json!({"featureCaps": {"chat": {"hardCap": 10, "softCap": 11}}}),
            ErrorCode::SoftCapAboveHardCap,
            "featureCaps.chat.softCap",
        ),
        (
            json!({"featureCaps": {"chat": {"hardCap": 10, "limit": 1}}}),
            ErrorCode::UnknownField,
            "featureCaps.chat.limit",
        ),
        (
            json!({"featureCaps": {"": {"hardCap": 10}}}),
            ErrorCode::InvalidValue,
            "featureCaps.",
        ),
        (
            json!({"userCaps": {"ad\u{200B}min": {"hardCap": 10}}}),
            ErrorCode::InvalidValue,
            "userCaps.ad\u{200B}min",
        ),
        (json!({"userCap": 5}), ErrorCode::InvalidType, "userCap"),
        (
            json!({"featureCaps": [1]}),
            ErrorCode::InvalidType,
            "featureCaps",
        ),
    ] {
        let err = SubCaps::default()
            .merge(update.as_object().unwrap())
            .unwrap_err();
        assert_eq!((err.code(), err.field()), (code, Some(field)), "{update}");
    }
    let long = "x".repeat(129);
    let err = SubCaps::default()
        .merge(
            json!({"userCaps": {long.clone(): {"hardCap": 10}}})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::InvalidValue,
        "a user id is at most 128 characters"
    );
    assert!(SubCaps::default()
        .merge(
            json!({"userCaps": {long[..128].to_owned(): {"hardCap": 10}}})
                .as_object()
                .unwrap()
        )
        .is_ok());
}

#[test]
fn caps_read_back_from_their_json() {
    let c = caps(
        json!({"featureCaps": {"chat": {"softCap": 1, "hardCap": 5}}, "userCap": {"hardCap": 7}, "userCaps": {"u": {"hardCap": 9}}}),
    );
    let json = serde_json::Value::Object(c.json_fields());
    assert_eq!(
        json,
        json!({"featureCaps": {"chat": {"softCap": 1, "hardCap": 5}}, "userCap": {"hardCap": 7}, "userCaps": {"u": {"hardCap": 9}}})
    );
    assert_eq!(SubCaps::from_json(&json), c);
}

#[test]
fn a_port_has_at_most_so_many_caps_of_its_own_per_user_and_feature() {
    let many = |n: usize, field: &str| {
        let entries: serde_json::Map<String, serde_json::Value> = (0..n)
            .map(|i| (format!("id-{i}"), json!({ "hardCap": 10 })))
            .collect();
        let mut update = serde_json::Map::new();
        update.insert(field.to_owned(), serde_json::Value::Object(entries));
        SubCaps::default().merge(&update)
    };
    assert_eq!(
        many(MAX_USER_CAPS, "userCaps").unwrap().users.len(),
        MAX_USER_CAPS
    );
    let e = many(MAX_USER_CAPS + 1, "userCaps").unwrap_err();
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::InvalidValue, Some("userCaps"))
    );
    assert!(many(MAX_FEATURE_CAPS, "featureCaps").is_ok());
    let e = many(MAX_FEATURE_CAPS + 1, "featureCaps").unwrap_err();
    assert_eq!(e.field(), Some("featureCaps"));
}
