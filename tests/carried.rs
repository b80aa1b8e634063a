//! Settlements carried by another request's trip to the same object: the
//! isolate's book of waiting settlements and the wire both sides speak.
//! (That a settlement sent again after a lost answer is answered as a
//! retry, and counted once, is the gate's own promise: `tests/gate.rs`.)

use ai_budget::gate::carried::*;

const COMMIT: &str =
    r#"{"op":"commit","id":"rsv_1","usage":{"tokens":{"input":3}},"bodyHash":"h","writeId":"w1"}"#;
const HOLD: &str = r#"{"op":"gatewayReserve","hold":{"n":1}}"#;

#[test]
fn a_trip_takes_what_waits_for_its_own_object_the_oldest_first_and_nothing_else() {
    let mut book = Book::default();
    let first = book.wait("port-a", "1".into(), None);
    let other = book.wait("port-b", "2".into(), None);
    let second = book.wait("port-a", "3".into(), None);
    assert!(!book.is_empty());

    let riders = book.board("port-a");
    assert_eq!(riders.len(), 2);
    assert!(std::rc::Rc::ptr_eq(&riders[0], &first));
    assert!(std::rc::Rc::ptr_eq(&riders[1], &second));
    assert_eq!(first.state(), RideState::Riding);
    assert_eq!(other.state(), RideState::Waiting);
    assert!(book.board("port-a").is_empty(), "taken once");
    assert!(
        book.board("port-a#shard-0").is_empty(),
        "a shard is another object"
    );

    assert!(
        !book.leave("port-a", &first),
        "a trip took it: its owner waits for the answer"
    );
    assert!(
        book.leave("port-b", &other),
        "still waiting: its owner sends it"
    );
    assert!(book.is_empty());
    assert!(!book.leave("port-b", &other), "left once");
}

#[test]
fn one_trip_carries_at_most_its_share_and_the_rest_waits_for_the_next() {
    let mut book = Book::default();
    let rides: Vec<_> = (0..MAX_CARRIED + 3)
        .map(|i| book.wait("p", i.to_string(), None))
        .collect();
    assert_eq!(book.board("p").len(), MAX_CARRIED);
    assert_eq!(rides[MAX_CARRIED].state(), RideState::Waiting);
    assert_eq!(book.board("p").len(), 3);
    assert!(book.is_empty());
}

#[test]
fn the_object_reads_each_carried_settlement_with_its_instant_and_the_requests_own() {
    let mut book = Book::default();
    book.wait("p", COMMIT.into(), Some("2026-03-14T23:59:59.900Z".into()));
    book.wait("p", COMMIT.replace("rsv_1", "rsv_2"), None);
    let riders = book.board("p");
    let body = frame(&riders, HOLD);

    let (carried, own) = split_request(&body, 2).unwrap();
    assert_eq!(own, HOLD);
    assert_eq!(carried.len(), 2);
    assert_eq!(carried[0].stamp, Some("2026-03-14T23:59:59.900Z"));
    assert_eq!(carried[0].json, COMMIT);
    assert_eq!(carried[1].stamp, None, "no instant: the object's clock");
    assert!(carried[1].json.contains("rsv_2"));

    assert_eq!(
        split_request(HOLD, 0).unwrap(),
        (vec![], HOLD),
        "carrying nothing"
    );
}

#[test]
fn a_request_that_does_not_hold_what_it_says_it_carries_is_refused() {
    assert!(split_request(HOLD, 1).is_err(), "no line of its own");
    assert!(
        split_request(&format!("{COMMIT}\n{HOLD}"), 1).is_err(),
        "no tab"
    );
    assert!(
        split_request(HOLD, MAX_CARRIED + 1).is_err(),
        "more than a trip carries"
    );
}

#[test]
fn each_rider_gets_its_own_answer_and_a_failed_one_is_sent_again_by_its_owner() {
    let mut book = Book::default();
    let committed = book.wait("p", COMMIT.into(), None);
    let refused = book.wait("p", COMMIT.into(), None);
    let riders = book.board("p");

    let answers = vec![
        (200, r#"{"result":{"committed":true}}"#.to_owned()),
        (503, "{\"message\":\"storage\nfailed\"}".to_owned()),
    ];
    let text = frame_answers(&answers, r#"{"own":1}"#);
    assert_eq!(
        text.lines().count(),
        3,
        "a message's line break does not split it"
    );

    let own = arrive(&riders, Some(&text), 2);
    assert_eq!(own, Some(r#"{"own":1}"#));
    assert_eq!(
        committed.state(),
        RideState::Answered(r#"{"result":{"committed":true}}"#.into())
    );
    assert_eq!(refused.state(), RideState::Failed);
}

#[test]
fn a_trip_that_brought_no_answer_for_its_riders_fails_them_all_and_cannot_be_read() {
    for (answer, carried) in [
        (None, 0),
        (Some(r#"{"own":1}"#), 0),
        (Some("200\t{}\n{}"), 2),
    ] {
        let mut book = Book::default();
        let ride = book.wait("p", COMMIT.into(), None);
        let riders = book.board("p");
        let own = arrive(&riders, answer, carried);
        assert_eq!(
            ride.state(),
            RideState::Failed,
            "{answer:?} carrying {carried}"
        );
        assert_eq!(
            own, None,
            "not the request's own answer either: it is sent again"
        );
    }
}

#[test]
fn riders_still_riding_when_their_trip_is_dropped_are_failed_and_answered_ones_kept() {
    let mut book = Book::default();
    let answered = book.wait("p", COMMIT.into(), None);
    let stranded = book.wait("p", COMMIT.into(), None);
    let riders = book.board("p");
    {
        let boarded = Boarded(riders);
        let text = frame_answers(&[(200, "{}".into())], "{}");
        // Only the first rider's answer came back (as if the trip stopped
        // half way); then the trip is dropped.
        arrive(&boarded.0[..1], Some(&text), 1);
    }
    assert_eq!(answered.state(), RideState::Answered("{}".into()));
    assert_eq!(
        stranded.state(),
        RideState::Failed,
        "its owner sends it again"
    );
}

#[test]
fn a_trip_carrying_nothing_is_the_request_alone() {
    assert_eq!(frame(&[], HOLD), HOLD);
    assert_eq!(arrive(&[], Some(HOLD), 0), Some(HOLD));
}
