//! The Worker's side of settlements carried by another request's trip
//! ([`crate::gate::carried`]): the isolate's book of settlements waiting
//! for a trip, and a commit that waits in it. (The object runs what a
//! request carries in `object`.)

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::gate::carried::{Book, Ride, RideState};
use crate::worker::clock::Clock;

/// How long a gated call's commit waits, after the call's answer, for a
/// trip of this isolate to its port's object to carry it before it is
/// sent on its own (ms). The hold it settles stays held meanwhile, so the
/// wait can only make the port's room smaller, never larger.
pub const CARRY_WAIT_MS: u64 = 10;
/// How soon the owner of a settlement on a trip first looks again for its
/// answer; each look after waits twice as long, up to [`RIDING_POLL_MAX`]
/// (a trip can wait seconds on a group's lender).
const RIDING_POLL: Duration = Duration::from_millis(2);
/// The longest the owner of a settlement on a trip waits between looks.
const RIDING_POLL_MAX: Duration = Duration::from_millis(100);
/// How long a settlement may ride one trip before its owner sends it on its
/// own all the same (ms): longer than any trip the gate answers (a hold
/// waits at most 10 s for its lender), short of the runtime's limit on
/// work after an answer (30 s). Sent again, it is answered as a retry.
const RIDING_AT_MOST_MS: f64 = 15_000.0;

thread_local! {
    /// The isolate's settlements waiting for a trip.
    static BOOK: RefCell<Book> = RefCell::default();
}

/// Takes what waits for `object` for a trip there (nothing when nothing
/// waits anywhere, without naming the object).
pub(super) fn board(object: impl FnOnce() -> String) -> Vec<Rc<Ride>> {
    BOOK.with(|book| {
        let mut book = book.borrow_mut();
        if book.is_empty() {
            return Vec::new();
        }
        book.board(&object())
    })
}

/// What became of a settlement that waited for a trip.
pub(super) enum Waited {
    /// A trip carried it; the object's answer.
    Answered(String),
    /// No trip carried it, or the one that did failed: its owner sends it
    /// (its JSON).
    SendAlone(String),
}

/// Waits for a trip of this isolate to `object` to carry the settlement
/// `body` (stamped `clock`'s instant under the test seams), at most
/// `wait` before it is sent alone. Every wake-up is this request's own
/// timer: whatever the owner sends, it sends from its own request.
pub(super) async fn wait_for_trip(
    object: &str,
    body: String,
    clock: &Clock,
    wait: Duration,
) -> Waited {
    let ride = BOOK.with(|book| book.borrow_mut().wait(object, body, clock.header_value()));
    let (mut delay, mut poll) = (wait, RIDING_POLL);
    let mut riding_since = None;
    loop {
        worker::Delay::from(delay).await;
        match ride.state() {
            RideState::Answered(text) => return Waited::Answered(text),
            RideState::Riding => {
                let now = crate::worker::clock::system_ms();
                let since = *riding_since.get_or_insert(now);
                if now - since > RIDING_AT_MOST_MS {
                    return Waited::SendAlone(ride.body().to_owned());
                }
                delay = poll;
                poll = (poll * 2).min(RIDING_POLL_MAX);
            }
            RideState::Failed => return Waited::SendAlone(ride.body().to_owned()),
            RideState::Waiting => {
                BOOK.with(|book| book.borrow_mut().leave(object, &ride));
                return Waited::SendAlone(ride.body().to_owned());
            }
        }
    }
}
