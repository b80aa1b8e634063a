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
    /// The header is not exactly `t=<digits>` then one or more
    /// `,v1=<64 lowercase hex>` (see [`verify`]).
    Malformed,
    /// `t` is further than the tolerance from the receiver's clock (a
    /// negative tolerance accepts no `t`).
    Stale,
    /// No `v1` matches the body under this secret.
    Mismatch,
}

/// The parts of a header value, or `None` when it is not exactly the
/// documented form: `t=` and the unix seconds in decimal (ASCII digits, no
/// sign, no leading zero, within `i64`), then one or more `,v1=` each with
/// 64 lowercase hex digits (one per secret while a secret is being
/// rotated). No spaces, no empty, repeated `t` or other parts.
fn parse(header: &str) -> Option<(i64, Vec<[u8; 32]>)> {
    let mut parts = header.split(',');
    let t = parts.next()?.strip_prefix("t=")?;
    let digits = t.as_bytes();
    let leading_zero = digits.len() > 1 && digits[0] == b'0';
    if digits.is_empty() || leading_zero || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let t = t.parse::<i64>().ok()?;
    let tags = parts
        .map(|part| unhex(part.strip_prefix("v1=")?))
        .collect::<Option<Vec<_>>>()?;
    if tags.is_empty() {
        return None;
    }
    Some((t, tags))
}

/// Verifies a header value against `body` and `secret`, accepting `t`
/// within `tolerance_seconds` of `now_seconds`. Several `v1=` parts may be
/// given (a secret being rotated): any match verifies.
///
/// The header must be exactly the documented form: `t=` and the unix
/// seconds in decimal (ASCII digits, no sign, no leading zero, within
/// `i64`), then one or more `,v1=` each with 64 lowercase hex digits; no
/// spaces, no empty, repeated `t` or other parts. Anything else is
/// [`Rejected::Malformed`] as a whole, even when one of its `v1` would match.
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
    let (t, tags) = parse(header).ok_or(Rejected::Malformed)?;
    let fresh = u64::try_from(tolerance_seconds)
        .is_ok_and(|tolerance| now_seconds.abs_diff(t) <= tolerance);
    if !fresh {
        return Err(Rejected::Stale);
    }
    for tag in tags {
        if mac(secret, t, body).verify_slice(&tag).is_ok() {
            return Ok(t);
        }
    }
    Err(Rejected::Mismatch)
}

/// The 32 bytes of 64 lowercase hex digits (what [`hex`] writes), or `None`.
fn unhex(text: &str) -> Option<[u8; 32]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}
