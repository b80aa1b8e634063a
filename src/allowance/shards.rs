//! Shards of a hot port: which of a port's shard objects a request id
//! reaches. (The allowances between the port's own object, the lender, and
//! its shards, the borrowers, are the same escrow as a group's.)
//!
//! A request id always reaches the same shard under one shard count: the
//! shard is a jump consistent hash (Lamping and Veach) of the id's FNV-1a
//! hash, so a retry, a commit and a release find the shard that holds the
//! reservation. When the count changes, an id moves only to a shard that
//! is new (growing) or from one that is gone (shrinking). The Worker
//! places a new request with [`placement`] and reaches a reservation by
//! the shard its id names ([`shard_of_hold`]), so a change of count never
//! needs another shard tried; [`candidates`] answers where an id may have
//! been placed under the counts still in force.
//!
//! Pure: no clock, no I/O. The hash must never change: a reservation
//! taken under one version is settled under the next.

/// The most shards a port may have.
pub const MAX_SHARDS: u32 = 32;

/// FNV-1a, 64 bits, of `text`.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The shard (`0..shards`) of `request_id` under `shards` shards (taken as
/// 1 when 0, and as [`MAX_SHARDS`] above it).
///
/// # Example
/// ```
/// use ai_budget::allowance::shards::shard_of;
///
/// assert_eq!(shard_of("req-1", 1), 0);
/// let s = shard_of("req-1", 8);
/// assert!(s < 8);
/// assert_eq!(shard_of("req-1", 8), s, "the same id, the same shard");
/// ```
pub fn shard_of(request_id: &str, shards: u32) -> u32 {
    let buckets = i64::from(shards.clamp(1, MAX_SHARDS));
    let mut key = fnv1a(request_id);
    let (mut b, mut j) = (-1_i64, 0_i64);
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = (((b + 1) as f64) * ((1_u64 << 31) as f64 / (((key >> 33) + 1) as f64))) as i64;
    }
    b as u32
}

/// The shards `request_id` may be held in, to try in this order: its shard
/// under each shard count in force since the oldest reservation still open
/// (`counts`, newest first), without repeats. The first shard that knows
/// the id answers for it; one that knows none of them takes a new
/// reservation in the first (the current count's).
pub fn candidates(request_id: &str, counts: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for count in counts {
        let shard = shard_of(request_id, *count);
        if !out.contains(&shard) {
            out.push(shard);
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

/// The name of the gate object that holds `request_id`'s reservation
/// under `count` shards: the port's own object for one shard (no extra
/// hop: a port without shards is reached as always), else its shard
/// object `PORT#shard-K` (a port id never holds `#`, so no port's object
/// has that name).
///
/// # Example
/// ```
/// use ai_budget::allowance::shards::{object_of, shard_of};
///
/// assert_eq!(object_of("chat", "req-1", 1), "chat");
/// let k = shard_of("req-1", 8);
/// assert_eq!(object_of("chat", "req-1", 8), format!("chat#shard-{k}"));
/// ```
pub fn object_of(port: &str, request_id: &str, count: u32) -> String {
    if count <= 1 {
        port.to_owned()
    } else {
        format!("{port}#shard-{}", shard_of(request_id, count))
    }
}

/// The gate objects `request_id` may be held in under the shard counts
/// in force (`counts`, newest first), to try in this order, without
/// repeats: the first names where a new reservation is taken.
pub fn objects_to_try(port: &str, request_id: &str, counts: &[u32]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for count in counts {
        let object = object_of(port, request_id, *count);
        if !out.contains(&object) {
            out.push(object);
        }
    }
    if out.is_empty() {
        out.push(port.to_owned());
    }
    out
}

/// The port and shard a gate object's name stands for: `("chat", None)`
/// for the port's own object, `("chat", Some(3))` for `chat#shard-3`.
pub fn port_of_object(name: &str) -> (&str, Option<u32>) {
    match name.split_once("#shard-") {
        Some((port, shard)) => match shard.parse::<u32>() {
            Ok(k) if k < MAX_SHARDS => (port, Some(k)),
            _ => (name, None),
        },
        None => (name, None),
    }
}

/// The first ledger number of shard `shard`'s entries. Each of a port's
/// objects numbers its own entries, and the ledger of record keeps one
/// number per port (`UNIQUE(port_id, seq)`): the port's own object numbers
/// from 1, shard K from `(K + 1) * 2^40`, so no two ever meet (2^40
/// entries per object, and every number stays below 2^53).
///
/// # Example
/// ```
/// use ai_budget::allowance::shards::first_seq;
///
/// assert_eq!(first_seq(0), 1 << 40);
/// assert!(first_seq(31) + (1 << 40) < 1 << 53);
/// ```
pub fn first_seq(shard: u32) -> u64 {
    (u64::from(shard.min(MAX_SHARDS - 1)) + 1) << 40
}

/// The ledger numbers the port's own object gives are below this (the
/// first of shard 0's): the import of a port's object reads its last
/// number below it.
pub const OWN_SEQ_END: u64 = 1 << 40;

/// The prefix of a reservation id taken in shard `shard` (`rsv_s3_`), or
/// in the port's own object (`rsv_`): a commit or a release reaches the
/// object that holds it straight from the id, whatever the shard count
/// is by then.
pub fn hold_prefix(shard: Option<u32>) -> String {
    match shard {
        Some(k) => format!("rsv_s{k}_"),
        None => "rsv_".to_owned(),
    }
}

/// The shard a reservation id was taken in ([`hold_prefix`]): `None` for
/// the port's own object (every id without a shard's prefix).
///
/// # Example
/// ```
/// use ai_budget::allowance::shards::{hold_prefix, shard_of_hold};
///
/// assert_eq!(shard_of_hold(&format!("{}00ab", hold_prefix(Some(7)))), Some(7));
/// assert_eq!(shard_of_hold("rsv_00ab"), None);
/// assert_eq!(shard_of_hold("rsv_s99_00ab"), None, "no such shard");
/// ```
pub fn shard_of_hold(id: &str) -> Option<u32> {
    let rest = id.strip_prefix("rsv_s")?;
    let (digits, _) = rest.split_once('_')?;
    let shard: u32 = digits.parse().ok()?;
    (shard < MAX_SHARDS && digits.len() <= 2).then_some(shard)
}

/// Where a new reservation (or a usage write) of `request_id` goes under
/// `shards` shards: the port's own object (`None`) for one shard, else
/// its shard ([`shard_of`]).
pub fn placement(request_id: &str, shards: u32) -> Option<u32> {
    (shards > 1).then(|| shard_of(request_id, shards))
}

/// The name of the gate object of `port`'s shard `shard` (`None`: the
/// port's own object, named by the port).
pub fn object_name(port: &str, shard: Option<u32>) -> String {
    match shard {
        Some(k) => format!("{port}#shard-{k}"),
        None => port.to_owned(),
    }
}

/// Reads a budget update's `shards`: a whole number 1 to [`MAX_SHARDS`].
/// Answers `None` when the update does not name it.
///
/// # Errors
/// [`ErrorCode::InvalidType`](crate::ErrorCode::InvalidType) for a value
/// that is not a number, [`ErrorCode::InvalidValue`](crate::ErrorCode::InvalidValue)
/// for a number that is not a whole number in range (0, 33, 2.5; `8.0`
/// is 8).
pub fn shards_update(update: &serde_json::Value) -> Result<Option<u32>, crate::Error> {
    use crate::{Error, ErrorCode};
    let Some(value) = update.get("shards") else {
        return Ok(None);
    };
    let Some(number) = value.as_f64() else {
        return Err(Error::new(
            ErrorCode::InvalidType,
            Some("shards"),
            "shards must be a number",
        ));
    };
    if number.fract() == 0.0 && (1.0..=f64::from(MAX_SHARDS)).contains(&number) {
        return Ok(Some(number as u32));
    }
    Err(Error::new(
        ErrorCode::InvalidValue,
        Some("shards"),
        "shards must be a whole number, 1 to 32",
    ))
}

/// How long a shard count is kept after a newer one replaced it: a
/// reservation taken under it may still be committed or released until
/// then (a day, far past the longest hold's life; an entry counted late
/// arrives within it too).
pub const COUNT_KEPT_MS: i64 = 86_400_000;

/// The most counts kept at once (the newest first); older ones are dropped
/// even within [`COUNT_KEPT_MS`], so a commit tries at most this many
/// shard counts.
pub const MAX_COUNTS_KEPT: usize = 8;

/// One shard count and the instant it took effect (epoch ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CountChange {
    /// The shard count.
    pub count: u32,
    /// When it took effect (epoch ms).
    pub since: i64,
}

/// The shard counts a port had, newest first: what [`candidates`] tries for
/// a request id taken under an earlier count. Kept with the port's budget
/// (its `shardCounts`, shown once the count ever changed), so a port that
/// never had shards reads nothing more.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CountHistory {
    /// The changes, newest first (empty: one shard since ever).
    pub changes: Vec<CountChange>,
}

impl CountHistory {
    /// The count changed from `old` to `new` at `now` (epoch ms): `new`
    /// goes first, and counts replaced more than [`COUNT_KEPT_MS`] before
    /// `now` (or past [`MAX_COUNTS_KEPT`]) are dropped.
    pub fn changed(&mut self, old: u32, new: u32, now: i64) {
        if self.changes.is_empty() {
            // The count before the first change was in force since ever.
            // (Its start is never read: 0 stands for "since ever".)
            self.changes.push(CountChange {
                count: old,
                since: 0,
            });
        }
        self.changes.insert(
            0,
            CountChange {
                count: new,
                since: now,
            },
        );
        // An entry is in force until the one before it in the list started.
        let mut kept = 1;
        while kept < self.changes.len()
            && kept < MAX_COUNTS_KEPT
            && now.saturating_sub(self.changes[kept - 1].since) <= COUNT_KEPT_MS
        {
            kept += 1;
        }
        self.changes.truncate(kept);
    }

    /// The counts in force at `now` (epoch ms), newest first, for
    /// [`candidates`]: `current` alone when no earlier count is still kept.
    pub fn in_force(&self, current: u32, now: i64) -> Vec<u32> {
        let mut counts = vec![current];
        for pair in self.changes.windows(2) {
            let (newer, older) = (pair[0], pair[1]);
            if now.saturating_sub(newer.since) > COUNT_KEPT_MS {
                break;
            }
            if !counts.contains(&older.count) {
                counts.push(older.count);
            }
        }
        counts
    }
}
