//! Decisions per second of the pre-flight gate, natively.
//!
//! `cargo bench --bench decisions` prints, for `decide` (plain numbers in, a
//! code out) and `evaluate` (the full answer with the period's window), the
//! median over several samples of a fixed, realistic mix of inputs: mostly
//! enabled budgets of every period, usage from empty to past the hard cap,
//! estimates from tiny to larger than the cap, instants over a decade.
//!
//! Dependency-free on purpose: `std::time::Instant` and `std::hint::black_box`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ai_budget::{decide, evaluate, Budget, DecisionCode, Period, MAX_TOKENS};
use chrono::{DateTime, TimeZone, Utc};

/// Distinct inputs cycled through: enough to defeat branch prediction on a
/// repeating pattern, small enough to stay in cache like a hot loop would.
const CASES: usize = 4_096;
/// Samples per function; the median is reported.
const SAMPLES: usize = 9;
/// Minimum wall time of one sample.
const SAMPLE_TIME: Duration = Duration::from_millis(250);

/// One pass over every case, returning how many were allowed (so the work
/// cannot be optimized away).
type Round = fn(&[Case]) -> u64;

/// One call to the gate.
#[derive(Clone)]
struct Case {
    budget: Budget,
    used_tokens: u64,
    estimated_tokens: u64,
    now: DateTime<Utc>,
}

/// A small deterministic generator (xorshift64*), so every run measures the
/// same mix.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn cases() -> Vec<Case> {
    let mut mix = Mix(0x9e37_79b9_7f4a_7c15);
    let decade_start = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let decade_ms = 10 * 365 * 86_400_000;
    (0..CASES)
        .map(|_| {
            let hard = match mix.below(8) {
                0 => 0,
                1 => 10_000,
                2 | 3 => 500_000,
                4 => 2_000_000,
                5 => 100_000_000,
                _ => 1 + mix.below(MAX_TOKENS / 1_000),
            };
            let soft = hard / 10 * mix.below(11);
            // Usage from nothing to 20% past the hard cap.
            let used = if hard == 0 {
                mix.below(100)
            } else {
                mix.below(hard + hard / 5 + 1)
            };
            // Most calls are small; some ask for more than any cap allows.
            let estimated = match mix.below(10) {
                0 => 0,
                1 => mix.below(MAX_TOKENS),
                _ => mix.below(16_000),
            };
            let period = Period::ALL[mix.below(3) as usize];
            Case {
                budget: Budget {
                    enabled: mix.below(10) < 8,
                    soft_cap_tokens: soft,
                    hard_cap_tokens: hard,
                    period,
                    ..Budget::default()
                },
                used_tokens: used,
                estimated_tokens: estimated,
                now: decade_start + chrono::Duration::milliseconds(mix.below(decade_ms) as i64),
            }
        })
        .collect()
}

/// Runs `round` (one pass over every case) until a sample lasts long enough;
/// returns the median nanoseconds per decision.
fn measure(cases: &[Case], round: Round) -> f64 {
    // Warm up caches and branch predictors; also size a sample.
    let start = Instant::now();
    let mut rounds_per_sample = 0u64;
    while start.elapsed() < SAMPLE_TIME {
        black_box(round(black_box(cases)));
        rounds_per_sample += 1;
    }
    let mut per_decision: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..rounds_per_sample {
                black_box(round(black_box(cases)));
            }
            let elapsed = start.elapsed().as_nanos() as f64;
            elapsed / (rounds_per_sample as f64 * cases.len() as f64)
        })
        .collect();
    per_decision.sort_by(f64::total_cmp);
    per_decision[SAMPLES / 2]
}

fn decide_round(cases: &[Case]) -> u64 {
    let mut allowed = 0;
    for case in cases {
        let code = decide(
            black_box(&case.budget),
            black_box(case.used_tokens),
            black_box(case.estimated_tokens),
        );
        allowed += u64::from(black_box(code).is_allowed());
    }
    allowed
}

fn evaluate_round(cases: &[Case]) -> u64 {
    let mut allowed = 0;
    for case in cases {
        let decision = evaluate(
            black_box(&case.budget),
            black_box(case.used_tokens),
            black_box(case.estimated_tokens),
            black_box(case.now),
        );
        allowed += u64::from(black_box(decision).is_allowed());
    }
    allowed
}

fn main() {
    let cases = cases();
    let codes: Vec<DecisionCode> = cases
        .iter()
        .map(|c| decide(&c.budget, c.used_tokens, c.estimated_tokens))
        .collect();
    let share = |code| codes.iter().filter(|c| **c == code).count() * 100 / CASES;
    println!(
        "ai-budget native decisions: {CASES} mixed inputs, median of {SAMPLES} samples \
         ({}% allowed, {}% over soft cap, {}% hard cap exceeded, {}% estimate exceeds cap)",
        share(DecisionCode::Allowed),
        share(DecisionCode::AllowedOverSoftCap),
        share(DecisionCode::HardCapExceeded),
        share(DecisionCode::EstimatedExceedsCap),
    );
    println!();
    println!(
        "{:<10} {:>16} {:>13}",
        "function", "decisions/s", "ns/decision"
    );
    let functions: [(&str, Round); 2] = [("decide", decide_round), ("evaluate", evaluate_round)];
    for (name, round) in functions {
        let ns = measure(&cases, round);
        println!(
            "{:<10} {:>16} {:>13.2}",
            name,
            group_thousands((1e9 / ns) as u64),
            ns
        );
    }
    // The same inputs in a port calendar with daylight saving time: the
    // cost of local periods against UTC's.
    let zone = ai_budget::Zone::named("America/Los_Angeles").expect("the zone");
    let zoned: Vec<Case> = cases
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.budget.calendar.zone = zone;
            c
        })
        .collect();
    let ns = measure(&zoned, evaluate_round);
    println!(
        "{:<10} {:>16} {:>13.2}   (budgets in America/Los_Angeles)",
        "evaluate",
        group_thousands((1e9 / ns) as u64),
        ns
    );
}

/// `1234567` as `1 234 567`, for a table people read.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    grouped
}
