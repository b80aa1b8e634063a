// A port's calendar in the budget editor: the zone picker, the week start
// and the month start day, and instants shown in the port's time and the
// viewer's. The zones are the package's time-zone part: the same database
// the Worker's gate reads.
import { h, instant, relative } from "./dom.js";

const WEEK_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/** The calendar of a stored budget, defaults filled in. */
export function savedCalendar(b) {
  return { timeZone: b.timeZone ?? "UTC", weekStart: b.weekStart ?? "monday", monthStartDay: b.monthStartDay ?? 1 };
}

/** The three inputs, for the editor's `fields`. */
export function calendarInputs(saved, zoneNames) {
  return {
    timeZone: h("input", {
      id: "timeZone", name: "timeZone", list: "time-zones", autocomplete: "off", spellcheck: "false",
      value: saved.timeZone, "aria-describedby": "timeZone-help timeZone-error",
    }),
    zoneList: h("datalist", { id: "time-zones" }, ["UTC", ...zoneNames].map((z) => h("option", { value: z }))),
    weekStart: h(
      "select",
      { id: "weekStart", name: "weekStart", "aria-describedby": "weekStart-help weekStart-error" },
      WEEK_DAYS.map((d) => h("option", { value: d, selected: d === saved.weekStart }, d)),
    ),
    monthStartDay: h("input", {
      type: "number", id: "monthStartDay", name: "monthStartDay", inputmode: "numeric", step: 1, min: 1, max: 31,
      value: saved.monthStartDay, "aria-describedby": "monthStartDay-help monthStartDay-error",
    }),
  };
}

/** Adds the changed calendar fields to `update`; a non-number day goes to `local`. */
export function readCalendar(fields, saved, update, local) {
  const zone = fields.timeZone.value.trim();
  if (zone !== saved.timeZone) update.timeZone = zone;
  if (fields.weekStart.value !== saved.weekStart) update.weekStart = fields.weekStart.value;
  const day = fields.monthStartDay;
  if (day.validity.badInput || day.value.trim() === "") local.push(["monthStartDay", "Enter a day of the month, 1 to 31"]);
  else if (Number(day.value) !== saved.monthStartDay) update.monthStartDay = Number(day.value);
}

const formats = new Map();
/** An instant in the zone `zone` (`Mar 15, 2027, 12:00 AM America/Los_Angeles`). */
export function inZone(value, zone) {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: zone });
    formats.set(zone, f);
  }
  return `${f.format(new Date(value))} ${zone}`;
}

/** A reset shown in the port's time and the viewer's (and how far away). */
export function resetTime(value, zone, { className } = {}) {
  const iso = new Date(value).toISOString();
  const viewer = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const port = zone === "UTC" ? instant(value) : inZone(value, zone);
  return h(
    "time",
    { datetime: iso, title: iso, class: className },
    port,
    h("span", { class: "muted" }, ` (yours: ${inZone(value, viewer)}; ${relative(value)})`),
  );
}

/** The calendar's fields in the form. */
export function calendarView(fields, errors, zoneList) {
  const field = (name, label, help, ...extra) =>
    h("div", { class: "field" }, h("label", { for: name }, label), fields[name], ...extra, h("p", { class: "help", id: `${name}-help` }, help), errors[name]);
  return [
    field("timeZone", "Time zone", "An IANA zone: days start at its local midnight.", zoneList),
    field("weekStart", "Week starts on", "The first day of a weekly period."),
    field("monthStartDay", "Month starts on day", "1 to 31; a shorter month starts on its last day."),
  ];
}
