//! The rule a TZif file gives for instants after its last transition: a
//! POSIX `TZ` string such as `EST5EDT,M3.2.0,M11.1.0` (RFC 8536 section
//! 3.3, with its version 3 extensions: rule times from -167 to 167 hours).

use chrono::{Datelike, NaiveDate, Weekday};

/// A parsed POSIX `TZ` string: a standard offset and, when the zone keeps
/// daylight saving time, the rules that switch to it and back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PosixRule {
    /// Seconds east of UTC in standard time.
    standard: i32,
    daylight: Option<Daylight>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Daylight {
    /// Seconds east of UTC in daylight saving time.
    offset: i32,
    /// When it starts, in local standard time.
    start: Switch,
    /// When it ends, in local daylight time.
    end: Switch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Switch {
    date: SwitchDate,
    /// Seconds after the local midnight starting `date` (may be negative or
    /// more than a day).
    time: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SwitchDate {
    /// `Jn`: day 1 to 365, February 29 never counted.
    NoLeap(u16),
    /// `n`: day 0 to 365, February 29 counted.
    Leap(u16),
    /// `Mm.w.d`: the `w`-th (5: last) week day `d` (0: Sunday) of month `m`.
    Month { month: u8, week: u8, day: u8 },
}

impl PosixRule {
    /// Parses a `TZ` string; `None` when it is not one.
    pub fn parse(text: &[u8]) -> Option<PosixRule> {
        let mut p = Cursor { s: text, i: 0 };
        p.name()?;
        let standard = -p.offset(24)?;
        if p.done() {
            return Some(PosixRule {
                standard,
                daylight: None,
            });
        }
        p.name()?;
        let offset = if p.done() || p.peek() == Some(b',') {
            standard + 3600
        } else {
            -p.offset(24)?
        };
        p.expect(b',')?;
        let start = p.switch()?;
        p.expect(b',')?;
        let end = p.switch()?;
        p.done().then_some(PosixRule {
            standard,
            daylight: Some(Daylight { offset, start, end }),
        })
    }

    /// Seconds east of UTC at `t` (seconds since the epoch).
    pub fn offset_at(&self, t: i64) -> i32 {
        let Some(d) = &self.daylight else {
            return self.standard;
        };
        let Some(year) = crate::calendar::civil(t + i64::from(self.standard)).map(|dt| dt.year())
        else {
            return self.standard;
        };
        let Some((start, end)) = self.switches(year) else {
            return self.standard;
        };
        let daylight = if start < end {
            start <= t && t < end
        } else {
            !(end <= t && t < start)
        };
        if daylight {
            d.offset
        } else {
            self.standard
        }
    }

    /// The instants daylight saving time starts and ends in `year` (`None`
    /// for a zone without it).
    fn switches(&self, year: i32) -> Option<(i64, i64)> {
        let d = self.daylight.as_ref()?;
        let start = d.start.local_seconds(year)? - i64::from(self.standard);
        let end = d.end.local_seconds(year)? - i64::from(d.offset);
        Some((start, end))
    }

    /// The rule's clock changes in `year`, in order: each instant with the
    /// offset from then on (none for a zone without daylight saving time).
    pub fn changes_in(&self, year: i32) -> Vec<(i64, i32)> {
        let (Some(d), Some((start, end))) = (&self.daylight, self.switches(year)) else {
            return Vec::new();
        };
        let mut changes = vec![(start, d.offset), (end, self.standard)];
        changes.sort_unstable();
        changes
    }
}

impl Switch {
    /// The switch in `year` as local seconds since the epoch.
    fn local_seconds(&self, year: i32) -> Option<i64> {
        let date = match self.date {
            SwitchDate::NoLeap(n) => {
                let leap = NaiveDate::from_ymd_opt(year, 2, 29).is_some();
                let skip = u16::from(leap && n >= 60);
                NaiveDate::from_yo_opt(year, u32::from(n + skip))?
            }
            SwitchDate::Leap(n) => NaiveDate::from_yo_opt(year, u32::from(n) + 1)?,
            SwitchDate::Month { month, week, day } => {
                let want = Weekday::try_from((day + 6) % 7).ok()?; // 0: Sunday
                let first = NaiveDate::from_ymd_opt(year, u32::from(month), 1)?;
                let lead =
                    (7 + want.num_days_from_monday() - first.weekday().num_days_from_monday()) % 7;
                let mut date = first + chrono::Days::new(u64::from(lead) + 7 * u64::from(week - 1));
                while date.month() != u32::from(month) {
                    date = date - chrono::Days::new(7);
                }
                date
            }
        };
        let days = i64::from(date.num_days_from_ce() - 719_163);
        Some(days * 86_400 + i64::from(self.time))
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn done(&self) -> bool {
        self.i == self.s.len()
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.i += 1)
    }

    /// A zone abbreviation: three or more letters, or `<...>` quoted.
    fn name(&mut self) -> Option<()> {
        let from = self.i;
        if self.expect(b'<').is_some() {
            while self.peek()? != b'>' {
                self.i += 1;
            }
            self.i += 1;
            return Some(());
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        (self.i - from >= 3).then_some(())
    }

    fn number(&mut self) -> Option<i32> {
        let from = self.i;
        let mut n: i32 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            n = n.checked_mul(10)?.checked_add(i32::from(c - b'0'))?;
            self.i += 1;
        }
        (self.i > from).then_some(n)
    }

    /// `[+-]hh[:mm[:ss]]` as seconds, hours at most `max_hours`.
    fn offset(&mut self, max_hours: i32) -> Option<i32> {
        let sign = match self.peek() {
            Some(b'-') => {
                self.i += 1;
                -1
            }
            Some(b'+') => {
                self.i += 1;
                1
            }
            _ => 1,
        };
        let hours = self.number().filter(|h| *h <= max_hours)?;
        let mut seconds = hours * 3600;
        for scale in [60, 1] {
            if self.expect(b':').is_none() {
                break;
            }
            seconds += self.number().filter(|n| *n < 60)? * scale;
        }
        Some(sign * seconds)
    }

    fn switch(&mut self) -> Option<Switch> {
        let date = match self.peek()? {
            b'J' => {
                self.i += 1;
                SwitchDate::NoLeap(
                    u16::try_from(self.number()?)
                        .ok()
                        .filter(|n| (1..=365).contains(n))?,
                )
            }
            b'M' => {
                self.i += 1;
                let month = self.number().filter(|m| (1..=12).contains(m))?;
                self.expect(b'.')?;
                let week = self.number().filter(|w| (1..=5).contains(w))?;
                self.expect(b'.')?;
                let day = self.number().filter(|d| (0..=6).contains(d))?;
                SwitchDate::Month {
                    month: month as u8,
                    week: week as u8,
                    day: day as u8,
                }
            }
            _ => SwitchDate::Leap(u16::try_from(self.number()?).ok().filter(|n| *n <= 365)?),
        };
        let time = if self.expect(b'/').is_some() {
            self.offset(167)?
        } else {
            7200
        };
        Some(Switch { date, time })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rules_of_new_york_and_of_a_zone_without_daylight_time() {
        let ny = PosixRule::parse(b"EST5EDT,M3.2.0,M11.1.0").unwrap();
        // 2030-03-10 06:59:59Z is 01:59:59 EST; a second later it is 03:00 EDT.
        assert_eq!(ny.offset_at(1_899_356_399), -5 * 3600);
        assert_eq!(ny.offset_at(1_899_356_400), -4 * 3600);
        let kathmandu = PosixRule::parse(b"<+0545>-5:45").unwrap();
        assert_eq!(kathmandu.offset_at(0), 5 * 3600 + 45 * 60);
        assert_eq!(PosixRule::parse(b"EST5EDT,M3.2.0"), None);
        assert_eq!(PosixRule::parse(b"E5"), None);
    }
}
