//! How long a failed webhook delivery waits before its next try.

/// The longest wait between two tries (seconds).
pub const MAX_DELAY_SECONDS: u32 = 3_600;

/// The wait after the `attempt`-th failed try (1 for the first): `base`
/// seconds doubling with each try, at most [`MAX_DELAY_SECONDS`]. A `base`
/// of 0 retries at once (the tests' setting).
pub fn delay_seconds(base: u32, attempt: u32) -> u32 {
    let doublings = attempt.saturating_sub(1).min(20);
    base.saturating_mul(1 << doublings).min(MAX_DELAY_SECONDS)
}

/// True when a receiver's answer counts as delivered: any 2xx.
pub const fn delivered(status: u16) -> bool {
    matches!(status, 200..=299)
}
