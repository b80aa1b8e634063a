//! The webhook signature: `X-Budget-Signature: t=<unix seconds>,v1=<hex>`,
//! where `<hex>` is the HMAC-SHA256, keyed with the endpoint's secret, of
//! the ASCII bytes `"<t>.<body>"` (the body exactly as sent). While a
//! secret is being rotated the header carries one `v1=` per secret.
//!
//! A receiver recomputes the HMAC over the `t` it was given and the raw
//! body, compares in constant time, and refuses a `t` too far from its own
//! clock (replays); the event's `id` deduplicates redeliveries.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's name.
pub const HEADER: &str = "X-Budget-Signature";

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header's value for `body` signed with `secret` at `t` (unix seconds).
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    signature_with(&[secret], t, body)
}

/// The header's value for `body` signed at `t` with each of `secrets`, in
/// order: `t=<t>,v1=<first>,v1=<second>...` (a secret being rotated: the
/// new one, then the retiring one). A receiver that checks any `v1`
/// against its secret verifies it.
pub fn signature_with(secrets: &[&str], t: i64, body: &[u8]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        let tag = mac(secret, t, body).finalize().into_bytes();
        header.push_str(",v1=");
        header.push_str(&hex(&tag));
    }
    header
}

/// Why a signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The header is not `t=<digits>,v1=<64 hex>`.
    Malformed,
    /// `t` is further than the tolerance from the receiver's clock.
    Stale,
    /// No `v1` matches the body under this secret.
    Mismatch,
}

/// Verifies a header value against `body` and `secret`, accepting `t`
/// within `tolerance_seconds` of `now_seconds`. Several `v1=` parts may be
/// given (a secret being rotated): any match verifies.
///
/// # Errors
/// [`Rejected`], saying why.
pub fn verify(
    header: &str,
    body: &[u8],
    secret: &str,
    now_seconds: i64,
    tolerance_seconds: i64,
) -> Result<i64, Rejected> {
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                t = v.parse::<i64>().ok();
            }
            Some(("v1", v)) => tags.push(v),
            _ => {}
        }
    }
    let Some(t) = t else {
        return Err(Rejected::Malformed);
    };
    if tags.is_empty() {
        return Err(Rejected::Malformed);
    }
    if (now_seconds - t).abs() > tolerance_seconds {
        return Err(Rejected::Stale);
    }
    for tag in tags {
        let Some(bytes) = unhex(tag) else { continue };
        if mac(secret, t, body).verify_slice(&bytes).is_ok() {
            return Ok(t);
        }
    }
    Err(Rejected::Mismatch)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}
