//! When a port's gate must next wake up, and what is due when it does: a
//! pure module, in the manner of quinn-proto's `poll_timeout` /
//! `handle_timeout`. The port's object asks [`next_wake`] where to set its
//! alarm and [`Courier`] what its delivery loop does next, and only
//! executes (D1, KV, the queue, `set_alarm`); the native simulation drives
//! the very same rules on a simulated clock.
//!
//! Every instant here is epoch milliseconds by the gate's clock (the
//! requests' clock: in tests it may run apart from the runtime's).

/// The longest wait between two delivery attempts while D1 fails.
pub const MAX_BACKOFF_MS: i64 = 60_000;
/// A delivery started right after a change is retried from the alarm this
/// long later if it never finished (the object was evicted mid-flight).
pub const BACKSTOP_MS: i64 = 5_000;
/// How often the alarm prunes what the gate no longer needs.
pub const PRUNE_EVERY_MS: i64 = 86_400_000;
/// How soon a change of holds alone (a reservation, a release) reaches the
/// port list's snapshot in D1: deliveries of such changes are batched.
pub const SNAPSHOT_DELAY_MS: i64 = 1_000;

/// How long ledger entries wait in the outbox for others to share their
/// D1 batch, at most (a whole batch goes at once). Reports read after
/// the object delivered what it had (a status with `sync`), so they never
/// wait for it.
pub const DELIVERY_DELAY_MS: i64 = 250;

/// The one backoff rule: how long to wait before the next attempt at
/// something that failed `failures` times in a row (D1, KV, the queue):
/// the backstop while nothing failed, then 1 s, 2 s, 4 s ... up to
/// [`MAX_BACKOFF_MS`].
///
/// # Example
/// ```
/// use ai_budget::gate::wake::{retry_in, BACKSTOP_MS, MAX_BACKOFF_MS};
///
/// assert_eq!(retry_in(0), BACKSTOP_MS);
/// assert_eq!(retry_in(1), 1_000);
/// assert_eq!(retry_in(3), 4_000);
/// assert_eq!(retry_in(40), MAX_BACKOFF_MS);
/// ```
pub fn retry_in(failures: u32) -> i64 {
    if failures == 0 {
        return BACKSTOP_MS;
    }
    (1000_i64 << (failures.min(16) - 1)).min(MAX_BACKOFF_MS)
}

/// True when the daily pruning is due at `now`, the last one having run
/// at `pruned_at` (never: due).
pub fn prune_due(pruned_at: Option<i64>, now: i64) -> bool {
    now - pruned_at.unwrap_or(0) >= PRUNE_EVERY_MS
}

/// What the gate's storage says is coming (read in one transaction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// When the next open hold expires.
    pub next_expiry: Option<i64>,
    /// Ledger entries on their way to D1.
    pub pending_entries: u64,
    /// A saved budget not yet written to KV.
    pub replica_pending: bool,
    /// Alert events the queue has not taken.
    pub alerts_pending: bool,
    /// When the earliest raised alert crossing's period ends.
    pub next_alert_reset: Option<i64>,
    /// When the gate was last pruned.
    pub pruned_at: Option<i64>,
    /// When the port's room next changes by itself: a raise starting or
    /// ending, a credit expiring, a period's end with rollover on.
    pub next_room_change: Option<i64>,
    /// When a port under a group next gives its unused allowance back on
    /// its own: idle for the return delay, or at its group's period end.
    pub next_allowance_return: Option<i64>,
}

/// When the gate must next wake up: a hold's expiry, an alert period's
/// end, the snapshot of a change not yet delivered, a retry (with the one
/// backoff rule) of whatever is still owed to D1, KV or the queue, an idle
/// allowance's return to the port's group, and the daily pruning; never sooner than a millisecond after `now`.
///
/// # Example
/// ```
/// use ai_budget::gate::wake::{next_wake, Courier, Facts};
///
/// let facts = Facts { next_expiry: Some(5_000), pruned_at: Some(0), ..Facts::default() };
/// assert_eq!(next_wake(&facts, &Courier::default(), 1_000), 5_000);
/// ```
pub fn next_wake(facts: &Facts, courier: &Courier, now: i64) -> i64 {
    let mut due = vec![
        facts.next_expiry,
        facts.next_alert_reset,
        facts.next_room_change,
        facts.next_allowance_return,
    ];
    if courier.dirty {
        due.push(Some(now + SNAPSHOT_DELAY_MS));
    }
    if facts.pending_entries > 0 && courier.failures == 0 {
        due.push(Some(now + DELIVERY_DELAY_MS));
    }
    if facts.pending_entries > 0 || facts.replica_pending || facts.alerts_pending {
        due.push(Some(now + retry_in(courier.failures)));
    }
    due.push(Some(facts.pruned_at.unwrap_or(now) + PRUNE_EVERY_MS));
    due.into_iter()
        .flatten()
        .min()
        .unwrap_or(i64::MAX)
        .max(now + 1)
}

/// After a change, what the object does off the request's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfterChange {
    /// Deliver the outbox now.
    pub deliver: bool,
    /// Set the alarm again (else the one already set comes soon enough).
    pub schedule: bool,
}

/// The rule after a change: ledger entries go to D1 at once when the
/// port delivered nothing in the last [`DELIVERY_DELAY_MS`] (`delivered_at`:
/// the last delivery this object began) or a whole batch
/// ([`BATCH_ENTRIES`]) waits; else by the alarm within that delay, so the
/// calls of a busy port share one D1 batch instead of one each. A change of
/// holds alone waits for the alarm, within [`SNAPSHOT_DELAY_MS`]. The alarm
/// is set again unless one already comes that soon (`alarm_at`): that one
/// sets the next from everything then (a busy port decides its next wake a
/// few times a second, not once a call).
pub fn after_change(
    pending_entries: u64,
    alarm_at: Option<i64>,
    delivered_at: Option<i64>,
    now: i64,
) -> AfterChange {
    let within = if pending_entries > 0 {
        DELIVERY_DELAY_MS
    } else {
        SNAPSHOT_DELAY_MS
    };
    let soon = alarm_at.is_some_and(|at| at <= now + within);
    let quiet = delivered_at.is_none_or(|at| now - at >= DELIVERY_DELAY_MS || at > now);
    AfterChange {
        deliver: pending_entries >= BATCH_ENTRIES as u64 || (pending_entries > 0 && quiet),
        schedule: !soon,
    }
}

/// The state of an object's deliveries to D1, kept in memory (a restart
/// forgets it: the alarm and the outbox, kept in storage, carry on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Courier {
    /// A delivery is under way.
    pub delivering: bool,
    /// Something changed since the last batch began.
    pub dirty: bool,
    /// Consecutive failed deliveries (for the backoff).
    pub failures: u32,
    /// Entries per batch: one at a time after D1 refused a batch for good,
    /// until the row at fault is found and set aside.
    pub batch: u32,
}

impl Default for Courier {
    fn default() -> Courier {
        Courier {
            delivering: false,
            dirty: false,
            failures: 0,
            batch: BATCH_ENTRIES as u32,
        }
    }
}

/// How one batch sent to D1 went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// D1 ran it; it carried this many entries.
    Stored {
        /// Entries in the batch.
        entries: usize,
    },
    /// D1 failed it with this message.
    Failed {
        /// Entries in the batch.
        entries: usize,
        /// D1's message.
        message: &'a str,
    },
}

/// What the delivery loop does after a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Go on (another batch, if anything is left).
    Continue,
    /// Set the batch's first entry aside (D1 refuses it for good), then go
    /// on.
    SetAsideFirst,
    /// Stop: D1 failed; the alarm retries after the backoff.
    Stop,
}

impl Courier {
    /// Marks the outbox changed: the next loop (or the running one) sends.
    pub fn touch(&mut self) {
        self.dirty = true;
    }

    /// Starts a delivery: false when one is already under way (it picks
    /// up what changed meanwhile). A new delivery sends full batches again.
    pub fn begin(&mut self) -> bool {
        if self.delivering {
            return false;
        }
        self.delivering = true;
        self.batch = BATCH_ENTRIES as u32;
        true
    }

    /// The size of the next batch, or `None` when nothing changed since
    /// the last one began (the delivery is over).
    pub fn next_batch(&mut self) -> Option<u32> {
        if !std::mem::replace(&mut self.dirty, false) {
            return None;
        }
        Some(self.batch)
    }

    /// Takes a batch's reply: a full batch stored means more may wait; a
    /// refusal for good narrows the batch to find the row at fault (then
    /// sets it aside); any other failure stops the loop, counted for the
    /// backoff.
    pub fn reply(&mut self, reply: Reply<'_>) -> Next {
        match reply {
            Reply::Stored { entries } => {
                self.failures = 0;
                if entries == self.batch as usize {
                    self.dirty = true;
                }
                Next::Continue
            }
            Reply::Failed { entries, message } => match on_failure(entries, message) {
                OnFailure::Backoff => {
                    self.failures += 1;
                    Next::Stop
                }
                OnFailure::SetAside => {
                    self.dirty = true;
                    Next::SetAsideFirst
                }
                OnFailure::OneAtATime => {
                    self.dirty = true;
                    self.batch = 1;
                    Next::Continue
                }
            },
        }
    }

    /// Ends a delivery (whatever stopped it).
    pub fn end(&mut self) {
        self.delivering = false;
    }
}

/// The most entries one delivery batch carries (D1 binds at most 100
/// parameters per statement: the batch's read-back names one request id
/// per parameter).
pub const BATCH_ENTRIES: usize = 50;

/// True when D1's `message` says a statement was refused for what it
/// holds (a constraint, a value too big or of the wrong type): the same
/// rows would be refused on every retry, so the delivery finds the row at
/// fault and sets it aside instead of retrying the batch forever. Every
/// other failure (unreachable, overloaded, reset) is retried as it is.
///
/// # Example
/// ```
/// use ai_budget::gate::wake::refused_for_good;
///
/// assert!(refused_for_good("D1_ERROR: CHECK constraint failed: total_tokens = input_tokens + output_tokens: SQLITE_CONSTRAINT"));
/// assert!(!refused_for_good("D1_ERROR: Network connection lost."));
/// ```
pub fn refused_for_good(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "sqlite_constraint",
        "constraint failed",
        "sqlite_toobig",
        "too big",
        "sqlite_mismatch",
        "datatype mismatch",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// D1's error as a person reads it: the first line of the database's own
/// message (`refused by ...: SQLITE_CONSTRAINT ...`), without the wrapping
/// and stack the runtime adds; at most 300 characters.
///
/// # Example
/// ```
/// use ai_budget::gate::wake::reason_of;
///
/// let raw = "D1: D1Error {\n cause: JsValue(Error: CHECK constraint failed: x: SQLITE_CONSTRAINT\n  at y)";
/// assert_eq!(reason_of(raw), "CHECK constraint failed: x: SQLITE_CONSTRAINT");
/// ```
pub fn reason_of(message: &str) -> String {
    let inner = message
        .find("Error: ")
        .filter(|_| message.contains("JsValue("))
        .map_or(message, |at| &message[at + "Error: ".len()..]);
    let line = inner.lines().next().unwrap_or("").trim();
    let line = line.strip_suffix(')').unwrap_or(line);
    line.chars().take(300).collect()
}

/// What a delivery does after a batch of `batch_len` entries failed with
/// D1's `message`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    /// Try the same entries again later, with backoff (D1 unreachable,
    /// overloaded, or an error not known to be for good).
    Backoff,
    /// One of the entries is refused for good: deliver them one at a time
    /// to find it, the others going on.
    OneAtATime,
    /// This one entry is refused for good: set it aside and go on.
    SetAside,
}

/// The rule after a failed batch (see [`refused_for_good`]).
pub fn on_failure(batch_len: usize, message: &str) -> OnFailure {
    match (refused_for_good(message), batch_len) {
        (false, _) | (true, 0) => OnFailure::Backoff,
        (true, 1) => OnFailure::SetAside,
        (true, _) => OnFailure::OneAtATime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSED: &str = "D1_ERROR: CHECK constraint failed: x: SQLITE_CONSTRAINT";
    const LOST: &str = "D1_ERROR: Network connection lost.";

    #[test]
    fn backoff_doubles_from_a_second_up_to_a_minute() {
        let waits: Vec<i64> = (0..9).map(retry_in).collect();
        assert_eq!(
            waits,
            [5_000, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        assert_eq!(retry_in(u32::MAX), MAX_BACKOFF_MS);
    }

    #[test]
    fn the_earliest_thing_due_wins() {
        let facts = Facts {
            next_expiry: Some(90_000),
            next_alert_reset: Some(70_000),
            pruned_at: Some(0),
            ..Facts::default()
        };
        let courier = Courier::default();
        assert_eq!(next_wake(&facts, &courier, 10_000), 70_000);
        let owed = Facts {
            pending_entries: 1,
            ..facts
        };
        assert_eq!(
            next_wake(&owed, &courier, 10_000),
            10_000 + DELIVERY_DELAY_MS,
            "entries wait for others to share their batch, briefly"
        );
        let failing = Courier {
            failures: 2,
            ..courier
        };
        assert_eq!(next_wake(&owed, &failing, 10_000), 12_000);
        let dirty = Courier {
            dirty: true,
            ..courier
        };
        assert_eq!(next_wake(&facts, &dirty, 10_000), 11_000);
    }

    #[test]
    fn an_idle_allowance_wakes_the_port_to_give_it_back() {
        let facts = Facts {
            next_expiry: Some(90_000),
            pruned_at: Some(0),
            next_allowance_return: Some(15_000),
            ..Facts::default()
        };
        assert_eq!(next_wake(&facts, &Courier::default(), 10_000), 15_000);
        let none = Facts {
            next_allowance_return: None,
            ..facts
        };
        assert_eq!(next_wake(&none, &Courier::default(), 10_000), 90_000);
    }

    #[test]
    fn an_alarm_is_never_in_the_past() {
        let facts = Facts {
            next_expiry: Some(1),
            ..Facts::default()
        };
        assert_eq!(next_wake(&facts, &Courier::default(), 500), 501);
    }

    #[test]
    fn pruning_comes_a_day_after_the_last() {
        let facts = Facts {
            pruned_at: Some(1_000),
            ..Facts::default()
        };
        assert_eq!(
            next_wake(&facts, &Courier::default(), 2_000),
            1_000 + PRUNE_EVERY_MS
        );
        assert!(prune_due(None, 1_750_000_000_000), "never pruned: due");
        assert!(!prune_due(Some(1_000), PRUNE_EVERY_MS));
        assert!(prune_due(Some(1_000), PRUNE_EVERY_MS + 1_000));
    }

    #[test]
    fn a_change_of_holds_alone_waits_for_a_near_alarm() {
        // The first entries after a quiet spell go at once.
        assert!(after_change(3, None, None, 10_000).deliver);
        assert!(after_change(3, None, Some(10_000 - DELIVERY_DELAY_MS), 10_000).deliver);
        // Right after a delivery a few entries wait for the alarm (set
        // within the delivery delay); a whole batch goes at once.
        let busy = Some(9_900);
        let few = after_change(3, None, busy, 10_000);
        assert!(!few.deliver && few.schedule);
        assert!(after_change(BATCH_ENTRIES as u64, Some(10_100), busy, 10_000).deliver);
        let near = after_change(3, Some(10_000 + DELIVERY_DELAY_MS), busy, 10_000);
        assert!(!near.deliver && !near.schedule, "the near alarm delivers");
        let far = after_change(3, Some(10_500), busy, 10_000);
        assert!(
            far.schedule,
            "an alarm past the delivery delay is set sooner"
        );
        let quiet = after_change(0, Some(10_500), busy, 10_000);
        assert!(!quiet.deliver && !quiet.schedule);
        assert!(after_change(0, Some(15_000), None, 10_000).schedule);
        assert!(after_change(0, None, None, 10_000).schedule);
    }

    #[test]
    fn a_delivery_runs_while_something_changed() {
        let mut c = Courier::default();
        assert!(c.begin());
        assert!(!c.begin(), "one delivery at a time");
        assert_eq!(c.next_batch(), None, "nothing changed");
        c.touch();
        assert_eq!(c.next_batch(), Some(BATCH_ENTRIES as u32));
        assert_eq!(c.reply(Reply::Stored { entries: 50 }), Next::Continue);
        assert_eq!(c.next_batch(), Some(50), "a full batch: more may wait");
        assert_eq!(c.reply(Reply::Stored { entries: 3 }), Next::Continue);
        assert_eq!(c.next_batch(), None);
        c.end();
        assert!(!c.delivering);
    }

    #[test]
    fn a_refused_batch_is_narrowed_to_the_row_at_fault() {
        let mut c = Courier::default();
        c.begin();
        c.touch();
        c.next_batch();
        let failed = Reply::Failed {
            entries: 7,
            message: REFUSED,
        };
        assert_eq!(c.reply(failed), Next::Continue);
        assert_eq!(c.next_batch(), Some(1));
        let one = Reply::Failed {
            entries: 1,
            message: REFUSED,
        };
        assert_eq!(c.reply(one), Next::SetAsideFirst);
        assert_eq!(c.next_batch(), Some(1));
        assert_eq!(
            c.failures, 0,
            "a refusal for good is not a failure to back off"
        );
    }

    #[test]
    fn an_unreachable_ledger_stops_the_loop_and_backs_off() {
        let mut c = Courier::default();
        c.begin();
        c.touch();
        c.next_batch();
        let lost = Reply::Failed {
            entries: 2,
            message: LOST,
        };
        assert_eq!(c.reply(lost), Next::Stop);
        assert_eq!(c.reply(lost), Next::Stop);
        assert_eq!(c.failures, 2);
        assert_eq!(c.reply(Reply::Stored { entries: 2 }), Next::Continue);
        assert_eq!(c.failures, 0);
    }
}
