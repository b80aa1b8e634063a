//! Settlements carried to a port's object by another request's trip.
//!
//! A gated call's commit runs after its answer, off the call's path. It
//! need not cost a round trip of its own: the isolate keeps it waiting a
//! few milliseconds ([`Book::wait`]), and the next request this isolate
//! sends to the same object (the port's next hold, a check, a status)
//! carries it ([`Book::board`]). The object runs what a request carries
//! first, each operation as if sent alone (its own transaction, at its own
//! instant), then the request's own operation, and answers each
//! ([`frame_answers`]). A settlement nothing carried within its wait is
//! sent on its own, carrying whatever else waits for the same object.
//!
//! What a carried settlement keeps:
//! - **exactly once**: it is the same request as when sent alone (the
//!   same hold id, body and write id), so when a trip's answer is lost,
//!   or the trip is refused before its answer (its own key revoked, its
//!   object unavailable), the settlement is sent again on its own and the
//!   gate answers it as a retry;
//! - **nothing lost**: the settlement's owner (the request whose call it
//!   settles) waits for its answer, and sends it itself when no trip took
//!   it or a trip failed;
//! - **the next call bound by it**: a settlement carried by the port's
//!   next hold is applied before that hold is decided.
//!
//! The wire: a request carrying `n` settlements says so in
//! [`CARRIED_HEADER`]; its body is `n` lines, each the settlement's
//! instant under the test seams (empty otherwise), a tab and its JSON,
//! then the request's own JSON. The answer carries the same header; its
//! body is `n` lines, each the settlement's status, a tab and its answer,
//! then the request's own answer. JSON texts hold no raw line breaks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The header of a request that carries settlements, and of its answer:
/// how many.
pub const CARRIED_HEADER: &str = "x-carried";
/// The most settlements one trip carries.
pub const MAX_CARRIED: usize = 32;

/// Where a waiting settlement is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RideState {
    /// Waiting for a trip to its object.
    Waiting,
    /// On a trip, not answered yet.
    Riding,
    /// Answered by its object (the answer's JSON).
    Answered(String),
    /// The trip that carried it failed or was refused: its owner sends it
    /// again on its own.
    Failed,
}

/// One settlement waiting for (or on) a trip.
#[derive(Debug)]
pub struct Ride {
    /// The operation's JSON.
    body: String,
    /// Its instant under the test seams (the `x-now` value), if any.
    stamp: Option<String>,
    state: RefCell<RideState>,
}

impl Ride {
    /// Where it is now.
    #[must_use]
    pub fn state(&self) -> RideState {
        self.state.borrow().clone()
    }

    /// The operation's JSON.
    #[must_use]
    pub fn body(&self) -> &str {
        &self.body
    }

    fn set(&self, state: RideState) {
        *self.state.borrow_mut() = state;
    }
}

/// The settlements of one isolate waiting for a trip, by the name of the
/// object they are for.
#[derive(Debug, Default)]
pub struct Book {
    waiting: HashMap<String, Vec<Rc<Ride>>>,
}

impl Book {
    /// Puts a settlement (`body`, at `stamp` under the test seams) on the
    /// list of `object`; answers its ride, which its owner watches.
    pub fn wait(&mut self, object: &str, body: String, stamp: Option<String>) -> Rc<Ride> {
        let ride = Rc::new(Ride {
            body,
            stamp,
            state: RefCell::new(RideState::Waiting),
        });
        self.waiting
            .entry(object.to_owned())
            .or_default()
            .push(ride.clone());
        ride
    }

    /// True when nothing waits for any object.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Takes up to [`MAX_CARRIED`] settlements waiting for `object`, the
    /// oldest first, for a trip there: they are riding from now on.
    pub fn board(&mut self, object: &str) -> Vec<Rc<Ride>> {
        let Some(list) = self.waiting.get_mut(object) else {
            return Vec::new();
        };
        let taken: Vec<Rc<Ride>> = list.drain(..list.len().min(MAX_CARRIED)).collect();
        if list.is_empty() {
            self.waiting.remove(object);
        }
        for ride in &taken {
            ride.set(RideState::Riding);
        }
        taken
    }

    /// Takes `ride` off the list of `object` when it is still waiting
    /// there (its owner sends it on its own); false when a trip took it.
    pub fn leave(&mut self, object: &str, ride: &Rc<Ride>) -> bool {
        let Some(list) = self.waiting.get_mut(object) else {
            return false;
        };
        let Some(at) = list.iter().position(|r| Rc::ptr_eq(r, ride)) else {
            return false;
        };
        list.remove(at);
        if list.is_empty() {
            self.waiting.remove(object);
        }
        true
    }
}

/// The body of a request carrying `riders` before its own JSON `own`.
#[must_use]
pub fn frame(riders: &[Rc<Ride>], own: &str) -> String {
    let size = riders
        .iter()
        .map(|r| r.body.len() + r.stamp.as_ref().map_or(0, String::len) + 2)
        .sum::<usize>()
        + own.len();
    let mut body = String::with_capacity(size);
    for ride in riders {
        body.push_str(ride.stamp.as_deref().unwrap_or(""));
        body.push('\t');
        body.push_str(&ride.body);
        body.push('\n');
    }
    body.push_str(own);
    body
}

/// What the object answered a trip carrying `riders`: each rider's answer
/// is set (a line not `200` fails it), and the request's own answer is
/// given back. `answer` is `None` when the trip failed or was refused
/// (every rider failed), and `carried` the count the answer's
/// [`CARRIED_HEADER`] says. A count that does not match fails every rider
/// and answers `None` too: the answer cannot be read, and the request is
/// sent again (the gate answers it as a retry).
pub fn arrive<'a>(riders: &[Rc<Ride>], answer: Option<&'a str>, carried: usize) -> Option<&'a str> {
    let Some(text) = answer else {
        fail_all(riders);
        return None;
    };
    if riders.is_empty() {
        return Some(text);
    }
    if carried != riders.len() {
        fail_all(riders);
        return None;
    }
    let mut lines = text.splitn(riders.len() + 1, '\n');
    for ride in riders {
        let state = match lines.next().and_then(|line| line.split_once('\t')) {
            Some(("200", json)) => RideState::Answered(json.to_owned()),
            _ => RideState::Failed,
        };
        ride.set(state);
    }
    Some(lines.next().unwrap_or(""))
}

/// Fails every rider of a trip that brought no answer for them.
pub fn fail_all(riders: &[Rc<Ride>]) {
    for ride in riders {
        ride.set(RideState::Failed);
    }
}

/// The riders of one trip while it is under way: whatever is still riding
/// when the trip ends without answering them (its future dropped, say
/// because its request was cancelled) is failed, so its owner sends it
/// again instead of waiting for an answer that never comes.
#[derive(Debug)]
pub struct Boarded(pub Vec<Rc<Ride>>);

impl Drop for Boarded {
    fn drop(&mut self) {
        for ride in &self.0 {
            if ride.state() == RideState::Riding {
                ride.set(RideState::Failed);
            }
        }
    }
}

/// A carried settlement as the object reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Carried<'a> {
    /// Its instant under the test seams, if given.
    pub stamp: Option<&'a str>,
    /// Its JSON.
    pub json: &'a str,
}

/// Splits a request's body that carries `count` settlements into them and
/// the request's own JSON.
///
/// # Errors
/// When the body has fewer lines than it says it carries, or a line has
/// no tab.
pub fn split_request(body: &str, count: usize) -> Result<(Vec<Carried<'_>>, &str), String> {
    if count > MAX_CARRIED {
        return Err(format!(
            "a request carries at most {MAX_CARRIED} settlements"
        ));
    }
    let mut lines = body.splitn(count + 1, '\n');
    let mut carried = Vec::with_capacity(count);
    for _ in 0..count {
        let line = lines.next().unwrap_or("");
        let Some((stamp, json)) = line.split_once('\t') else {
            return Err("a carried settlement is not a stamp, a tab and its JSON".to_owned());
        };
        carried.push(Carried {
            stamp: Some(stamp).filter(|s| !s.is_empty()),
            json,
        });
    }
    match lines.next() {
        Some(own) => Ok((carried, own)),
        None => Err("the request carries settlements but has none of its own".to_owned()),
    }
}

/// The answer to a request that carried settlements: each one's status
/// and answer (`answers`), then the request's own answer.
#[must_use]
pub fn frame_answers(answers: &[(u16, String)], own: &str) -> String {
    let mut body =
        String::with_capacity(answers.iter().map(|(_, a)| a.len() + 5).sum::<usize>() + own.len());
    for (status, answer) in answers {
        body.push_str(&status.to_string());
        body.push('\t');
        // One line each: a failure's message could hold a line break.
        body.extend(answer.chars().map(|c| match c {
            '\n' | '\r' => ' ',
            c => c,
        }));
        body.push('\n');
    }
    body.push_str(own);
    body
}
