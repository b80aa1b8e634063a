//! Random sequences of usage, cap changes, threshold changes and new days
//! against the port gate's alerts over SQLite, and a reference kept in
//! memory with plain arithmetic: after every step the crossings raised and
//! not resolved are exactly the thresholds the port is past in the current
//! period, each threshold's events alternate crossed / resolved, a second
//! look raises nothing, and every event id is new.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use ai_budget::alerts::watch;
use ai_budget::gate::Gate;
use chrono::Duration;
use common::port::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Use(u64),
    Caps { soft_percent: u64, hard: u64 },
    Percents(Vec<u8>),
    NextDay,
    Disable(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u64..400).prop_map(Step::Use),
        2 => (10u64..=100, 100u64..3_000).prop_map(|(soft_percent, hard)| Step::Caps { soft_percent, hard }),
        1 => prop::collection::vec(1u8..=100, 0..4).prop_map(Step::Percents),
        1 => Just(Step::NextDay),
        1 => any::<bool>().prop_map(Step::Disable),
    ]
}

/// The thresholds past, by plain arithmetic (not the crate's).
fn past(enabled: bool, used: u64, soft: u64, hard: u64, percents: &[u8]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if !enabled {
        return out;
    }
    if used > soft {
        out.insert("\"soft\"".to_owned());
    }
    if used >= hard {
        out.insert("\"hard\"".to_owned());
    }
    for p in percents {
        if used * 100 >= u64::from(*p) * hard {
            out.insert(p.to_string());
        }
    }
    out
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let port = Port::new();
    watch::migrate(&port.db).unwrap();
    let (mut soft, mut hard, mut enabled) = (800u64, 1_000u64, true);
    capped(&port, soft, hard, "day");
    let mut percents: Vec<u8> = Vec::new();
    let mut when = now();
    let mut used = 0u64;
    let mut open: BTreeSet<String> = BTreeSet::new();
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    let mut n = 0;
    for step in steps {
        match step {
            Step::Use(tokens) => {
                n += 1;
                port.record(&format!("r{n}"), tokens, when, when);
                used += tokens;
            }
            Step::Caps {
                soft_percent,
                hard: h,
            } => {
                hard = h;
                soft = h * soft_percent / 100;
                let json = format!(r#"{{"softCapTokens":{soft},"hardCapTokens":{hard}}}"#);
                port.budget(&json, when);
            }
            Step::Percents(list) => {
                percents = port
                    .db
                    .transaction(|db| watch::set_percents(db, &list))
                    .unwrap();
            }
            Step::NextDay => {
                when += Duration::days(1);
                used = 0;
            }
            Step::Disable(off) => {
                enabled = !off;
                port.budget(&format!(r#"{{"enabled":{enabled}}}"#), when);
            }
        }
        let events = port
            .db
            .transaction(|db| Gate::open(db)?.observe_alerts(when))
            .unwrap();
        for e in events.iter().map(|e| e.body()) {
            let t = e["threshold"].to_string();
            let kind = e["type"].as_str().unwrap().to_owned();
            prop_assert!(ids.insert(e["id"].as_str().unwrap().to_owned()), "a new id");
            prop_assert_eq!(e["used"].as_u64(), Some(used));
            if kind == "threshold-crossed" {
                prop_assert!(
                    last.get(&t).is_none_or(|k| k == "threshold-resolved"),
                    "crossed twice: {t}"
                );
                open.insert(t.clone());
            } else {
                prop_assert_eq!(
                    last.get(&t).map(String::as_str),
                    Some("threshold-crossed"),
                    "resolved without a crossing: {}",
                    t
                );
                open.remove(&t);
            }
            last.insert(t, kind);
        }
        // A threshold removed is forgotten without an event.
        let watched: BTreeSet<String> = ["\"soft\"".to_owned(), "\"hard\"".to_owned()]
            .into_iter()
            .chain(percents.iter().map(u8::to_string))
            .collect();
        open.retain(|t| watched.contains(t));
        last.retain(|t, _| watched.contains(t));
        prop_assert_eq!(&open, &past(enabled, used, soft, hard, &percents));
        let again = port
            .db
            .transaction(|db| Gate::open(db)?.observe_alerts(when))
            .unwrap();
        prop_assert!(again.is_empty(), "a second look raised {:?}", again);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn raised_crossings_are_exactly_the_thresholds_past(steps in prop::collection::vec(step(), 1..40)) {
        run(steps)?;
    }
}
