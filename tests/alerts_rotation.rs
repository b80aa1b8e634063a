//! Rolling a webhook endpoint's secret: deliveries during the overlap are
//! signed with the new and the old secret (either verifies), after its end
//! with the new one only; the end is judged on the `now` given.

use ai_budget::alerts::rotation::{
    overlap_end, retire, signing_secrets, Retiring, DEFAULT_OVERLAP_HOURS, MAX_OVERLAP_HOURS,
};
use ai_budget::alerts::sign::{signature, signature_with, verify, Rejected};
use chrono::{DateTime, Duration, Utc};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

const BODY: &[u8] = br#"{"id":"evt_1","type":"threshold-crossed"}"#;

#[test]
fn a_header_signed_with_two_secrets_carries_one_v1_each_newest_first() {
    let header = signature_with(&["whsec_new", "whsec_old"], 1_700_000_000, BODY);
    let new_only = signature("whsec_new", 1_700_000_000, BODY);
    let old_only = signature("whsec_old", 1_700_000_000, BODY);
    let tag = |h: &str| h.split_once(",v1=").unwrap().1.to_owned();
    assert_eq!(
        header,
        format!("t=1700000000,v1={},v1={}", tag(&new_only), tag(&old_only))
    );
    assert_ne!(tag(&new_only), tag(&old_only));
    // One secret: exactly the single-secret contract.
    assert_eq!(
        signature_with(&["whsec_new"], 5, BODY),
        signature("whsec_new", 5, BODY)
    );
}

#[test]
fn a_header_with_two_signatures_verifies_with_either_secret_and_no_other() {
    let header = signature_with(&["whsec_new", "whsec_old"], 1_000, BODY);
    assert_eq!(verify(&header, BODY, "whsec_new", 1_000, 300), Ok(1_000));
    assert_eq!(verify(&header, BODY, "whsec_old", 1_000, 300), Ok(1_000));
    assert_eq!(
        verify(&header, BODY, "whsec_other", 1_000, 300),
        Err(Rejected::Mismatch)
    );
    assert_eq!(
        verify(&header, b"{}", "whsec_old", 1_000, 300),
        Err(Rejected::Mismatch),
        "the second tag covers the same body"
    );
}

#[test]
fn the_old_secret_signs_until_the_overlap_ends_and_not_from_that_instant() {
    let rotated = at("2026-12-01T12:00:00Z");
    let ends = overlap_end(rotated, DEFAULT_OVERLAP_HOURS);
    assert_eq!(ends, at("2026-12-02T12:00:00Z"));
    let retiring = Some(Retiring {
        secret: "whsec_old",
        expires_at: ends,
    });
    assert_eq!(
        signing_secrets("whsec_new", retiring, rotated),
        ["whsec_new", "whsec_old"]
    );
    assert_eq!(
        signing_secrets("whsec_new", retiring, ends - Duration::milliseconds(1)),
        ["whsec_new", "whsec_old"],
        "the last millisecond of the overlap"
    );
    assert_eq!(
        signing_secrets("whsec_new", retiring, ends),
        ["whsec_new"],
        "the end is exclusive"
    );
    assert_eq!(
        signing_secrets("whsec_new", retiring, ends + Duration::days(30)),
        ["whsec_new"]
    );
    assert_eq!(signing_secrets("whsec_new", None, rotated), ["whsec_new"]);
    // The header after the end verifies with the new secret only.
    let t = ends.timestamp();
    let header = signature_with(&signing_secrets("whsec_new", retiring, ends), t, BODY);
    assert_eq!(verify(&header, BODY, "whsec_new", t, 300), Ok(t));
    assert_eq!(
        verify(&header, BODY, "whsec_old", t, 300),
        Err(Rejected::Mismatch)
    );
}

#[test]
fn a_rotation_keeps_only_the_secret_it_replaces_and_none_for_a_zero_overlap() {
    let now = at("2026-12-01T00:00:00Z");
    assert_eq!(
        retire("whsec_b", now, 1),
        Some(("whsec_b".to_owned(), at("2026-12-01T01:00:00Z")))
    );
    assert_eq!(retire("whsec_b", now, 0), None);
    // A longer overlap than allowed is cut to the longest.
    assert_eq!(
        overlap_end(now, MAX_OVERLAP_HOURS + 100),
        now + Duration::hours(MAX_OVERLAP_HOURS as i64)
    );
    // A retiring secret equal to the current one is never signed twice.
    let same = Some(Retiring {
        secret: "whsec_a",
        expires_at: now + Duration::hours(1),
    });
    assert_eq!(signing_secrets("whsec_a", same, now), ["whsec_a"]);
}
