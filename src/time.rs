//! Instants as the crate passes them around: epoch milliseconds in storage
//! and on the wire between the Worker and the ports' objects, ISO 8601 with
//! milliseconds in the API, RFC 3339 where callers give one. Pure
//! conversions; nothing here reads a clock.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, Utc};

/// Epoch milliseconds of an instant.
pub fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The instant of epoch milliseconds (the epoch for one out of range).
pub fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// ISO 8601 with milliseconds, as the API writes instants
/// (`2026-11-28T17:00:00.000Z`).
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An RFC 3339 instant (`2026-11-28T17:00:00Z`, `2026-11-28t18:00:00.5+01:00`)
/// in UTC, or `None` when the text is not one.
///
/// The syntax chrono's `DateTime::parse_from_rfc3339` reads, written out
/// here because chrono's reader costs the browser package kilobytes: `T`,
/// `t` or a space between date and time, second 60 as a leap second, any
/// number of fraction digits (nanoseconds kept, the rest skipped), `Z`, `z`
/// or `+HH:MM`/`-HH:MM` (or U+2212 MINUS SIGN) within a day.
pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let number = |at: usize, len: usize| {
        b.get(at..at + len)?.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let is = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));
    if !(is(4, b"-") && is(7, b"-") && is(10, b"Tt ") && is(13, b":") && is(16, b":")) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 2)?, number(8, 2)?)?;
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    let (second, mut nano) = if second == 60 {
        (59, 1_000_000_000)
    } else {
        (second, 0)
    };
    let mut at = 19;
    if is(at, b".") {
        let digits = b[at + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        let kept = digits.min(9);
        nano += number(at + 1, kept)? * 10u32.pow(9 - kept as u32);
        at += 1 + digits;
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nano)?;
    let rest = &text[at..];
    let offset = if rest == "Z" || rest == "z" {
        0
    } else {
        let (negative, hh_mm) = if let Some(r) = rest.strip_prefix('+') {
            (false, r)
        } else if let Some(r) = rest
            .strip_prefix('-')
            .or_else(|| rest.strip_prefix('\u{2212}'))
        {
            (true, r)
        } else {
            return None;
        };
        let hm = hh_mm.as_bytes();
        if hm.len() != 5 || hm[2] != b':' || !hm[3].is_ascii_digit() || hm[3] > b'5' {
            return None;
        }
        let digit = |i: usize| hm[i].is_ascii_digit().then(|| i32::from(hm[i] - b'0'));
        let seconds = (digit(0)? * 10 + digit(1)?) * 3600 + (digit(3)? * 10 + digit(4)?) * 60;
        if negative {
            -seconds
        } else {
            seconds
        }
    };
    let offset = FixedOffset::east_opt(offset)?;
    Some(date.and_time(time).checked_sub_offset(offset)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339;
    use chrono::{DateTime, Utc};

    #[test]
    fn rfc3339_reads_what_chrono_reads() {
        let texts = [
            "2026-11-28T17:00:00Z",
            "2026-11-28t17:00:00z",
            "2026-11-28 17:00:00Z",
            "2026-11-28T17:00:00.123Z",
            "2026-11-28T17:00:00.1234567891234Z",
            "2026-11-28T17:00:00.Z",
            "2026-11-28T18:30:00+01:30",
            "2026-11-28T12:00:00-05:00",
            "2026-11-28T12:00:00\u{2212}05:00",
            "2026-11-28T12:00:00+23:59",
            "2026-11-28T12:00:00+24:00",
            "2026-11-28T12:00:00+05:60",
            "2026-11-28T12:00:00+0500",
            "2026-11-28T12:00:00+05:00:00",
            "2026-11-28T12:00:00",
            "2026-11-28T12:00:00Zjunk",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:58:60Z",
            "2026-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T17:00:61Z",
            "0000-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "+2026-11-28T17:00:00Z",
            "2026-1-28T17:00:00Z",
            "2026-11-28",
            "",
            "2026-11-28T17:00:00.5é",
        ];
        for text in texts {
            let chrono = DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|d| d.with_timezone(&Utc));
            assert_eq!(parse_rfc3339(text), chrono, "{text}");
        }
        assert!(parse_rfc3339("2026-11-28T17:00:00Z").is_some());
    }
}
