//! What each object of a hot port carries, from a simulation of its gates
//! natively: the port's own object and its shards, each a real gate over
//! SQLite, driven as the Worker's objects drive them
//! (`src/worker/gate/object.rs`): a reservation short of allowance asks
//! the port's object, a shard tells the port what it used at most every
//! 200 ms after its calls, and asks ahead for 32 calls (`SHARD_SIZING`).
//!
//! `cargo bench --bench shards` prints, for 1 and 8 shards, calls arriving
//! at a steady rate over simulated seconds (each reserved, then committed),
//! the operations per second each object handles: the deciding objects'
//! reservations and commits, and the lending object's reports and asks.
//! In production each object runs on its own thread, so the busiest one
//! bounds a port's calls per second.
//!
//! `RATE` (calls a second, 2000 by default) and `SIM_SECONDS` (10) change
//! the load.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use ai_budget::allowance::shards::shard_of;
use ai_budget::allowance::{DEFAULT_SIZING, SHARD_SIZING};
use ai_budget::gate::*;
use chrono::Duration;
use common::port::{now, Port};

/// How often a shard reports its use after calls, at most (ms): the
/// Worker's `SHARD_REPORT_MS`.
const REPORT_MS: i64 = 200;

#[derive(Default)]
struct Counts {
    /// Reservations and commits decided here.
    decided: u64,
    /// Reports and asks received (the lending object).
    reports: u64,
}

fn run(shards: u32, rate: u64, seconds: u64) -> BTreeMap<String, Counts> {
    let port = Port::new();
    let _ = port.budget(
        r#"{"enabled":true,"softCapTokens":1000000000000,"hardCapTokens":1000000000000,"period":"month"}"#,
        now(),
    );
    let _ = port.budget(&format!(r#"{{"shards":{shards}}}"#), now());
    let objects: Vec<Port> = (0..shards)
        .map(|k| {
            let shard = Port::new();
            shard.run(|g| g.open_shard("p", k));
            shard
        })
        .collect();
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut reported_at = vec![i64::MIN / 2; shards as usize];
    let calls = rate * seconds;
    for i in 0..calls {
        let at = now() + Duration::microseconds((i * 1_000_000 / rate) as i64);
        let id = format!("call-{i}");
        let mut request = port.hold_request(500, Some(&id));
        if shards == 1 {
            counts.entry("port".into()).or_default().decided += 2;
            let ReserveOutcome::Held { hold, .. } = port.run(|g| g.reserve(&request, at)) else {
                panic!("held")
            };
            port.commit(&hold.id, 300, 100, at);
            continue;
        }
        let k = shard_of(&id, shards);
        let shard = &objects[k as usize];
        request.hold_id = format!("rsv_s{k}_{i:020}");
        let name = format!("shard {k}");
        let hold = loop {
            match shard.run(|g| g.reserve(&request, at)) {
                ReserveOutcome::Held { hold, .. } => break hold,
                ReserveOutcome::Short { need, .. } => {
                    let report = shard
                        .run(|g| g.allowance_report(need, &SHARD_SIZING, at))
                        .expect("a shard borrows")
                        .report;
                    counts.entry("port (lends)".into()).or_default().reports += 1;
                    let before = port.run(|g| {
                        g.shard_report(k, &report, &DEFAULT_SIZING, at)?;
                        g.shard_granted(k)
                    });
                    let (grant, refusal) = port.run(|g| g.shard_settle(k, before, at));
                    assert!(refusal.is_none(), "the cap is far");
                    let budget = port.run(|g| g.budget());
                    shard.run(|g| {
                        g.take_port_budget(&budget)?;
                        g.allowance_grant(&grant, at)
                    });
                }
                other => panic!("{other:?}"),
            }
        };
        shard.commit(&hold.id, 300, 100, at);
        counts.entry(name).or_default().decided += 2;
        let ms = at.timestamp_millis();
        if ms - reported_at[k as usize] >= REPORT_MS {
            reported_at[k as usize] = ms;
            let report = shard
                .run(|g| g.allowance_report(0, &SHARD_SIZING, at))
                .expect("a shard borrows")
                .report;
            port.run(|g| g.shard_report(k, &report, &DEFAULT_SIZING, at));
            counts.entry("port (lends)".into()).or_default().reports += 1;
        }
    }
    counts
}

fn main() {
    let rate: u64 = std::env::var("RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let seconds: u64 = std::env::var("SIM_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    println!("| one hot port, {rate} calls/s for {seconds} s | object | operations/s |");
    println!("|---|---|---:|");
    for shards in [1, 8] {
        let counts = run(shards, rate, seconds);
        let busiest = counts
            .iter()
            .filter(|(name, _)| name.starts_with("shard"))
            .map(|(_, c)| c.decided)
            .max();
        for (name, c) in &counts {
            if name.starts_with("shard") && Some(c.decided) != busiest {
                continue;
            }
            let ops = (c.decided + c.reports) as f64 / seconds as f64;
            let label = if name.starts_with("shard") {
                "the busiest shard (reserve, commit)".to_owned()
            } else if c.reports > 0 {
                "the port's own object (reports and asks)".to_owned()
            } else {
                "the port's own object (reserve, commit)".to_owned()
            };
            println!(
                "| {shards} shard{} | {label} | {ops:.0} |",
                if shards == 1 { "" } else { "s" }
            );
        }
    }
}
