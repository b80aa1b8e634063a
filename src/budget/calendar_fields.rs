//! A budget's calendar fields (`timeZone`, `weekStart`, `monthStartDay`)
//! and the calendar change it may have in progress (`calendarChange`, read
//! only): read strictly from updates, tolerantly from stored values, and
//! written only when they differ from the default calendar, so a budget
//! without them keeps the shape it always had.

use chrono::{DateTime, Utc, Weekday};
use serde::ser::SerializeMap;

use super::raw::{FieldValue, RawBudget};
use super::Budget;
use crate::calendar::{month_start_day, week_day, week_day_name};
use crate::{Calendar, CalendarChange, Error, Period, PeriodWindow, Zone};

/// The calendar fields an update names (each `None` when absent or `null`).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CalendarFields {
    zone: Option<Zone>,
    week_start: Option<Weekday>,
    month_start_day: Option<u8>,
}

impl CalendarFields {
    /// Reads and checks the fields of an update.
    pub(super) fn read(raw: &RawBudget) -> Result<CalendarFields, Error> {
        let zone = match &raw.time_zone {
            None | Some(FieldValue::Null) => None,
            Some(FieldValue::Text(s)) => Some(s),
            Some(_) => return Err(Error::invalid_type("timeZone", "a string")),
        };
        let week = match &raw.week_start {
            None | Some(FieldValue::Null) => None,
            Some(FieldValue::Text(s)) => Some(s),
            Some(_) => return Err(Error::invalid_type("weekStart", "a string")),
        };
        let day = match &raw.month_start_day {
            None | Some(FieldValue::Null) => None,
            Some(FieldValue::Number(n)) => Some(month_start_day(*n)?),
            Some(_) => return Err(Error::invalid_type("monthStartDay", "a number")),
        };
        Ok(CalendarFields {
            zone: zone.map(|z| Zone::named(z)).transpose()?,
            week_start: week.map(|w| week_day(w)).transpose()?,
            month_start_day: day,
        })
    }

    /// `base` with the fields named here.
    pub(super) fn over(&self, base: Calendar) -> Calendar {
        Calendar {
            zone: self.zone.unwrap_or(base.zone),
            week_start: self.week_start.unwrap_or(base.week_start),
            month_start_day: self.month_start_day.unwrap_or(base.month_start_day),
        }
    }
}

/// A stored budget's calendar: each field that is missing or invalid
/// takes its default.
pub(super) fn normalize(raw: &RawBudget) -> Calendar {
    let mut fields = CalendarFields::default();
    if let Some(FieldValue::Text(z)) = &raw.time_zone {
        fields.zone = Zone::named(z).ok();
    }
    if let Some(FieldValue::Text(w)) = &raw.week_start {
        fields.week_start = week_day(w).ok();
    }
    if let Some(FieldValue::Number(n)) = &raw.month_start_day {
        fields.month_start_day = month_start_day(*n).ok();
    }
    fields.over(Calendar::UTC)
}

/// A stored budget's calendar change, if it has a valid one.
pub(super) fn change(raw: &RawBudget) -> Option<CalendarChange> {
    let value = raw.calendar_change.as_ref()?;
    let text = |k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_str())
            .map(|s| FieldValue::Text(s.into()))
    };
    let nested = RawBudget {
        time_zone: text("timeZone"),
        week_start: text("weekStart"),
        month_start_day: value
            .get("monthStartDay")
            .and_then(|v| v.as_f64())
            .map(FieldValue::Number),
        ..RawBudget::default()
    };
    let until = value.get("until")?.as_str()?;
    let until = crate::time::parse_rfc3339(until)?;
    Some(CalendarChange {
        previous: normalize(&nested),
        until,
    })
}

/// Writes a calendar's fields into a map (nothing for the default
/// calendar).
pub(super) fn write<M: SerializeMap>(map: &mut M, calendar: &Calendar) -> Result<(), M::Error> {
    if calendar.is_default() {
        return Ok(());
    }
    map.serialize_entry("timeZone", calendar.zone.name())?;
    map.serialize_entry("weekStart", week_day_name(calendar.week_start))?;
    map.serialize_entry("monthStartDay", &calendar.month_start_day)
}

/// Writes a calendar change in progress (`calendarChange`: the previous
/// calendar's fields and `until`).
pub(super) fn write_change<M: SerializeMap>(
    map: &mut M,
    change: &Option<CalendarChange>,
) -> Result<(), M::Error> {
    let Some(change) = change else {
        return Ok(());
    };
    let previous = change.previous;
    let value = serde_json::json!({
        "timeZone": previous.zone.name(),
        "weekStart": week_day_name(previous.week_start),
        "monthStartDay": previous.month_start_day,
        "until": crate::time::iso(change.until),
    });
    map.serialize_entry("calendarChange", &value)
}

/// The calendar change a save makes: none when the calendar stays, when
/// the port had no saved budget (nothing was counted under the old one) or
/// when it returns to the previous calendar before the change took over;
/// else the current period keeps the end it had, and the new calendar
/// takes over from there. A change stays recorded until the next one (late
/// commits of holds taken before it land in the periods they happened in);
/// only the last change is kept.
pub(super) fn change_on_save(
    old: &super::Budget,
    next: Calendar,
    saved_before: bool,
    now: DateTime<Utc>,
) -> Option<CalendarChange> {
    if !saved_before {
        return None;
    }
    match old.calendar_change {
        Some(c) if now < c.until => (next != c.previous).then_some(c),
        _ if next == old.calendar => old.calendar_change,
        _ => Some(CalendarChange {
            previous: old.calendar,
            until: old.window(now).end,
        }),
    }
}

impl Budget {
    /// The window of the budget's period containing `at`, in its calendar.
    pub fn window(&self, at: chrono::DateTime<chrono::Utc>) -> PeriodWindow {
        self.window_of(self.period, at)
    }

    /// The window of `period` containing `at`, in the budget's calendar
    /// (the previous one before a change in progress takes over).
    pub fn window_of(&self, period: Period, at: chrono::DateTime<chrono::Utc>) -> PeriodWindow {
        match &self.calendar_change {
            Some(change) => change.window(&self.calendar, period, at),
            None => self.calendar.window(period, at),
        }
    }

    /// The starts (epoch ms) of the day, week and month containing `at`
    /// (epoch ms), in the budget's calendar: the keys its counters go
    /// under.
    pub fn period_starts(&self, at: i64) -> [i64; 3] {
        let at = crate::time::instant(at);
        Period::ALL.map(|p| crate::time::ms(self.window_of(p, at).start))
    }

    /// This budget as saved over `old` at `now`: its calendar change set by
    /// the rule of a calendar change (the current period keeps the end the
    /// old calendar gave it; the new calendar takes over from there).
    /// `saved_before` is false for a port that never had a budget: its new
    /// calendar applies at once.
    pub fn calendar_changed(
        mut self,
        old: &Budget,
        saved_before: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Budget {
        self.calendar_change = change_on_save(old, self.calendar, saved_before, now);
        self
    }
}
