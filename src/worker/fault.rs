//! Fault injection: a seam in the storage layer that makes a named D1 or KV
//! call fail, so tests can show that nothing is lost or half-written.
//!
//! It is off unless the Worker's `FAULT_INJECTION` variable is `on` (set by
//! the tests through Miniflare bindings, never in `wrangler.toml`). Then the
//! `x-fault` request header lists faults, comma-separated, each
//! `<point>` or `<point>:<mode>`:
//! - `<point>` (mode `before`): every attempt fails before the call runs;
//! - `<point>:after`: every attempt runs the call, then reports a failure
//!   (a reply lost on the way back: the write happened);
//! - `<point>:after-once`: the first attempt runs the call, then reports a
//!   transient failure (its write landed, its reply was lost); the store's
//!   retry then succeeds;
//! - `<point>:once`: the first attempt fails before running, with a
//!   transient error that the store retries;
//! - `<point>:overloaded`: the first attempt fails with D1's "overloaded",
//!   which the store must not retry hot (it answers 503 at once).
//!
//! Points: `kv.read`, `kv.write` (the Worker's KV reads and writes),
//! `d1.read` (the reports' D1 reads), `d1.import` (a port's object reading
//! D1 at its first start), `d1.deliver` (an object delivering its ledger),
//! `gate.restart` (the port's object aborts before the operation; with
//! `:after`, after it was stored and before its answer).
//!
//! Sticky switches, kept by the port's object until switched back:
//! `d1:down` (every D1 call of the object fails: its first-start import and
//! its deliveries) and `d1:up`.

use std::cell::{Cell, RefCell};

use super::gate::tally::{finished, Counts, Work};

/// When an injected fault strikes relative to the real call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Before,
    After,
    AfterOnce,
    Once,
    Overloaded,
}

/// The faults one request asked for (empty in production), and the tally
/// of the work it caused (shown under the test seams only).
#[derive(Debug, Default)]
pub struct Faults {
    faults: Vec<(String, Mode, Cell<u32>)>,
    /// Every `point:mode` as written, for sticky switches.
    written: Vec<(String, String)>,
    /// The work the request caused.
    pub work: Counts,
    /// The label its tally is kept under when the request is done (with
    /// everything it left for after its answer), if any.
    label: RefCell<Option<String>>,
}

impl Faults {
    /// Counts one piece of the request's work.
    pub fn count(&self, work: Work) {
        self.work.add(work, 1);
    }

    /// Keeps the request's tally under `label` once it is done (test
    /// seams: [`crate::worker::gate::tally::finished_tally`]).
    pub fn label(&self, label: &str) {
        self.label.replace(Some(label.to_owned()));
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        if let Some(label) = self.label.take() {
            finished(label, self.work.tally());
        }
    }
}

/// The message of an injected transient failure: one of D1's retryable ones.
pub const INJECTED_TRANSIENT: &str = "Network connection lost (injected fault)";
/// The message of an injected load-shedding failure.
pub const INJECTED_OVERLOADED: &str = "D1 DB is overloaded (injected fault)";

impl Faults {
    /// No faults.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Parses the `x-fault` header; `enabled` is the `FAULT_INJECTION` switch.
    pub fn from_header(enabled: bool, header: Option<String>) -> Faults {
        let Some(header) = header.filter(|_| enabled) else {
            return Faults::none();
        };
        let specs: Vec<&str> = header
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let written = specs
            .iter()
            .map(|spec| match spec.split_once(':') {
                Some((point, mode)) => (point.to_owned(), mode.to_owned()),
                None => ((*spec).to_owned(), String::new()),
            })
            .collect();
        let faults = specs
            .into_iter()
            .map(|spec| {
                let (point, mode) = match spec.split_once(':') {
                    Some((point, "after")) => (point, Mode::After),
                    Some((point, "after-once")) => (point, Mode::AfterOnce),
                    Some((point, "once")) => (point, Mode::Once),
                    Some((point, "overloaded")) => (point, Mode::Overloaded),
                    Some((point, _)) => (point, Mode::Before),
                    None => (spec, Mode::Before),
                };
                (point.to_owned(), mode, Cell::new(0))
            })
            .collect();
        Faults {
            faults,
            written,
            work: Counts::default(),
            label: RefCell::new(None),
        }
    }

    /// The mode a sticky switch was set to (`outbox:down` gives `down`).
    pub fn sticky(&self, point: &str) -> Option<&str> {
        self.written
            .iter()
            .find(|(p, _)| p == point)
            .map(|(_, mode)| mode.as_str())
    }

    fn strike(&self, point: &str, after: bool) -> Option<String> {
        for (name, mode, count) in &self.faults {
            if name != point {
                continue;
            }
            let hits = count.get();
            let fails = match mode {
                Mode::Before => !after,
                Mode::After => after,
                Mode::AfterOnce => after && hits == 0,
                Mode::Once | Mode::Overloaded => !after && hits == 0,
            };
            if fails {
                count.set(hits + 1);
                let message = if *mode == Mode::Overloaded {
                    INJECTED_OVERLOADED
                } else {
                    INJECTED_TRANSIENT
                };
                return Some(message.to_owned());
            }
        }
        None
    }

    /// An injected failure to report before `point` runs, if any.
    pub fn before(&self, point: &str) -> Option<String> {
        self.strike(point, false)
    }

    /// An injected failure to report after `point` ran, if any.
    pub fn after(&self, point: &str) -> Option<String> {
        self.strike(point, true)
    }
}
