//! A port's gate over a real SQLite, as the native gate tests drive it:
//! one operation per transaction, as the port's object runs them.

use ai_budget::gate::*;
use ai_budget::Period;
use ai_budget::TokenCounts;
use chrono::{DateTime, Utc};

use super::sqlite::Sqlite;

/// A Wednesday morning in mid-June, unless TEST_NOW says otherwise.
pub fn now() -> DateTime<Utc> {
    super::test_now(chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 6, 17, 9, 30, 0).unwrap())
}

/// One port's gate over an in-process SQLite, and the test's counter of
/// requests (each call here is another request).
pub struct Port {
    /// The port's storage.
    pub db: Sqlite,
    n: std::cell::Cell<u32>,
    /// False until a new instance's first operation checked the schema.
    opened: std::cell::Cell<bool>,
}

impl Port {
    pub fn new() -> Port {
        let db = Sqlite::remembering();
        Gate::open(&db).unwrap();
        Port {
            db,
            n: std::cell::Cell::new(0),
            opened: std::cell::Cell::new(true),
        }
    }

    /// As a new instance of the object starts on the same storage: its
    /// first operation brings the schema up to date, and it remembers no
    /// reads.
    pub fn restart(&self) {
        self.opened.set(false);
        self.db.forget_reads();
    }

    /// Runs one gate operation as one transaction, as the object does (the
    /// schema checked by an instance's first operation only).
    pub fn run<T>(&self, f: impl FnOnce(&Gate<'_, Sqlite>) -> Result<T, GateError>) -> T {
        let opened = self.opened.get();
        let out = self
            .db
            .transaction(|db| match opened {
                true => f(&Gate::over(db)),
                false => f(&Gate::open(db)?),
            })
            .expect("the gate's storage works");
        self.opened.set(true);
        out
    }

    pub fn budget(&self, json: &str, when: DateTime<Utc>) -> SaveOutcome {
        let update: serde_json::Value = serde_json::from_str(json).unwrap();
        self.run(|g| g.save_budget(&update, None, "admin", when))
    }

    pub fn hold_request(&self, estimate: u64, request_id: Option<&str>) -> HoldRequest {
        let n = self.n.get() + 1;
        self.n.set(n);
        HoldRequest {
            estimated_tokens: estimate,
            feature: "chat".into(),
            user_id: None,
            request_id: request_id.map_or_else(|| format!("req-{n}"), str::to_owned),
            ttl_seconds: 300,
            body_hash: format!("hash-{estimate}"),
            hold_id: format!("rsv_{n:024}"),
            estimated_usd: None,
            unpriced_estimate: None,
        }
    }

    /// A fresh request's id (every call here is another request).
    pub fn write_id(&self) -> String {
        let n = self.n.get() + 1;
        self.n.set(n);
        format!("w{n}")
    }

    pub fn reserve(&self, estimate: u64, when: DateTime<Utc>) -> ReserveOutcome {
        let req = self.hold_request(estimate, None);
        self.run(|g| g.reserve(&req, when))
    }

    pub fn held(&self, estimate: u64, when: DateTime<Utc>) -> Hold {
        match self.reserve(estimate, when) {
            ReserveOutcome::Held { hold, .. } => hold,
            other => panic!("expected a hold, got {other:?}"),
        }
    }

    pub fn commit(&self, id: &str, input: u64, output: u64, when: DateTime<Utc>) -> CommitOutcome {
        let usage = usage(input, output);
        let hash = format!("commit-{input}-{output}");
        let write = self.write_id();
        self.run(|g| g.commit(id, &usage, &hash, &write, when))
    }

    pub fn record(
        &self,
        request_id: &str,
        tokens: u64,
        occurred: DateTime<Utc>,
        when: DateTime<Utc>,
    ) -> RecordOutcome {
        let usage = CallUsage {
            feature: Some("ocr".into()),
            ..usage(tokens, 0)
        };
        let hash = format!("record-{tokens}");
        let write = self.write_id();
        self.run(|g| g.record(&usage, request_id, &hash, &write, occurred, when))
    }

    pub fn load(&self, period: Period, when: DateTime<Utc>) -> PortLoad {
        self.run(|g| g.load(period, None, when))
    }
}

pub fn usage(input: u64, output: u64) -> CallUsage {
    CallUsage {
        user_id: None,
        feature: None,
        provider: "openai".into(),
        model: "gpt".into(),
        tokens: TokenCounts::new(input, output),
        cost_usd: None,
        price_version: None,
        price_source: None,
    }
}

pub fn capped(port: &Port, soft: u64, hard: u64, period: &str) {
    let json = format!(
        r#"{{"enabled":true,"softCapTokens":{soft},"hardCapTokens":{hard},"period":"{period}"}}"#
    );
    assert!(matches!(
        port.budget(&json, now()),
        SaveOutcome::Saved { .. }
    ));
}

/// A port with caps 1000 / 10000 tokens a day and the feature `chat`
/// capped at 100 / 1000 inside it.
pub fn port_with_a_feature_cap() -> Port {
    let port = Port::new();
    let saved = port.budget(
        r#"{"enabled":true,"softCapTokens":1000,"hardCapTokens":10000,"period":"day",
            "featureCaps":{"chat":{"softCap":100,"hardCap":1000}}}"#,
        now(),
    );
    assert!(matches!(saved, SaveOutcome::Saved { .. }));
    port
}
