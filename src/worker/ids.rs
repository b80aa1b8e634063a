//! Identifiers the Worker makes, and fingerprints of request bodies.

use sha2::{Digest, Sha256};

/// A fresh random identifier: `prefix` then 24 hex digits.
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    // getrandom only fails without a random source, which workerd always has.
    getrandom::getrandom(&mut bytes).expect("workerd provides crypto.getRandomValues");
    format!("{prefix}{}", hex::encode(bytes))
}

/// SHA-256 (hex) of a canonical JSON value: the fingerprint of a request
/// body, so a replay with another body is told apart from a retry.
pub fn fingerprint(value: &serde_json::Value) -> String {
    // serde_json's map is ordered by key: the text is canonical.
    super::gate::tally::count(super::gate::tally::Work::Digest);
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}
